"""A Django project whose default cache is prefork.contrib.django.PreforkCache
(tests/contrib/test_django_cache.py): /set and /get answer JSON with the pid."""
import os

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="test-only-secret",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={},
    CACHES={"default": {"BACKEND": "prefork.contrib.django.PreforkCache", "KEY_PREFIX": "t"}},
)

from django.core.cache import cache  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402


def set_view(request):
    cache.set(request.GET["key"], request.GET["value"])
    return JsonResponse({"done": True, "pid": os.getpid()})


def get_view(request):
    return JsonResponse({"value": cache.get(request.GET["key"]), "pid": os.getpid()})


urlpatterns = [path("set", set_view), path("get", get_view)]
application = get_wsgi_application()
