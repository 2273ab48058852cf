"""The applications every server is measured on, one record per app.

Each app exists as a WSGI callable and, where a fair ASGI twin can be written,
as an ASGI callable; ``body`` and ``headers`` are what a correct response
carries, so the harness can check a server before timing it and nginx can
serve the very same bytes as the ceiling.
"""
from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class AppSpec:
    name: str
    wsgi: Optional[str]          # "module:attr" for WSGI servers, None if ASGI only
    asgi: Optional[str]          # "module:attr" for ASGI servers, None if no twin
    body: bytes
    content_type: str
    headers: tuple = field(default_factory=tuple)   # extra (name, value) pairs


HELLO = b"Hello, World!"
JSON_BODY = b'{"message":"Hello, World!"}'
CACHE_CONTROL = ("Cache-Control", "public, max-age=60")

APPS = {
    "plaintext": AppSpec("plaintext", "bench.apps.wsgi:plaintext", "bench.apps.asgi:plaintext",
                         HELLO, "text/plain"),
    "json": AppSpec("json", "bench.apps.wsgi:json_app", "bench.apps.asgi:json_app",
                    JSON_BODY, "application/json"),
    "flask": AppSpec("flask", "bench.apps.flask_app:app", None, HELLO, "text/plain"),
    "cacheable": AppSpec("cacheable", "bench.apps.wsgi:cacheable", "bench.apps.asgi:cacheable",
                         HELLO, "text/plain", (CACHE_CONTROL,)),
    "fastapi": AppSpec("fastapi", None, "bench.apps.fastapi_app:app", JSON_BODY,
                       "application/json"),
}
