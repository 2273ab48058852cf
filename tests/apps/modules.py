"""A WSGI app that answers with the names of the modules its worker has
loaded, one per line: what the server itself brought into the process."""
import sys


def app(environ, start_response):
    body = "\n".join(sorted(sys.modules)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
