"""A minimal Django project in one module, configured in code."""
import json

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="test-only-secret",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.middleware.common.CommonMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware"],
    INSTALLED_APPS=[],
    DATABASES={},
)

from django.core.wsgi import get_wsgi_application  # noqa: E402  (needs settings first)
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


def index(request):
    return HttpResponse("django index")


@csrf_exempt
def form(request):
    return JsonResponse({"method": request.method, "name": request.POST.get("name"),
                         "items": request.POST.getlist("item")})


def api(request, n):
    return JsonResponse({"n": n, "q": request.GET.get("q"), "path": request.path,
                         "script": request.META["SCRIPT_NAME"]})


def guarded(request):
    return HttpResponse("never without a CSRF token")


def raw_body(request):
    return HttpResponse(json.dumps({"length": len(request.body)}), content_type="application/json")


urlpatterns = [
    path("", index),
    path("form", form),
    path("api/<int:n>", api),
    path("guarded", guarded),
    path("raw", csrf_exempt(raw_body)),
]

application = get_wsgi_application()
