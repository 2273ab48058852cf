"""WSGI apps (PEP 3333) written against nothing but the standard library."""
import json

from bench.apps import CACHE_CONTROL, HELLO
from bench.apps.burn import burn_cpu


def _respond(start_response, body, content_type, extra=()):
    start_response("200 OK", [("Content-Type", content_type),
                              ("Content-Length", str(len(body))), *extra])
    return [body]


def plaintext(environ, start_response):
    """TechEmpower plaintext: a fixed body with an explicit length."""
    return _respond(start_response, HELLO, "text/plain")


def json_app(environ, start_response):
    """TechEmpower JSON: the object is serialized on every request."""
    body = json.dumps({"message": "Hello, World!"}, separators=(",", ":")).encode()
    return _respond(start_response, body, "application/json")


def cacheable(environ, start_response):
    """An expensive page that any shared cache may keep for a minute."""
    burn_cpu()
    return _respond(start_response, HELLO, "text/plain", (CACHE_CONTROL,))
