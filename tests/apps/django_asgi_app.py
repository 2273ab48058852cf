"""The Django project of django_app.py served through Django's ASGI handler."""
import django_app  # noqa: F401  (configures settings and the URLs)
from django.core.asgi import get_asgi_application

application = get_asgi_application()
