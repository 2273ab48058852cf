"""An app that waits: /?ms=N sleeps N milliseconds (a database call, a
remote API), then answers."""
import time


def app(environ, start_response):
    query = environ.get("QUERY_STRING", "")
    ms = float(query[3:]) if query.startswith("ms=") else 2.0
    time.sleep(ms / 1000.0)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
