"""A small WSGI app to try prefork with: ``prefork-serve prefork.demo:app``."""
import json


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/json":
        body = json.dumps({"message": "Hello, World!"}).encode()
        content_type = "application/json"
    elif path == "/echo":
        body = environ["wsgi.input"].read()
        content_type = environ.get("CONTENT_TYPE") or "application/octet-stream"
    elif path == "/environ":
        body = "".join(f"{key}: {value!r}\n" for key, value in sorted(environ.items())).encode()
        content_type = "text/plain; charset=utf-8"
    else:
        body = b"Hello, World!"
        content_type = "text/plain"
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
