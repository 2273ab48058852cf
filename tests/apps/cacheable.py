"""An app whose routes exercise the response cache's rules (tests/test_cache_server.py).

The first path segment picks the headers (see route_headers); the rest of the path
and the query only make distinct URIs, so each test uses its own. Every
body names the URI, the worker's pid and how many times this process was
called for it, so a test can tell a stored answer from a fresh one.

- ``/count``: this process's calls per URI, as JSON (never stored);
- ``/blob/<n>``: a cacheable body of a size derived from n that carries its
  own sha256 on the first line;
- ``/swr/...`` sleeps SWR_SLEEP seconds on every call after the first, so a
  refresh is slow enough for other requests to overlap it;
- ``/slow/...`` sleeps SLOW_SLEEP seconds on every call (a fill that an
  unsafe request can overtake);
- ``/coalesce/...`` (stored) and ``/coalesce-private/...`` (never stored)
  sleep COALESCE_SLEEP seconds on every call: fills that other requests
  wait for;
- ``/swr-fail/...`` is like ``/swr/`` but raises while the fail file exists;
- ``/sie-raise/...`` raises and ``/sie-500/...`` answers 500 while the file
  named by $CACHEABLE_FAIL_FILE exists;
- ``/kb20/...``: a cacheable body of exactly 20 KB;
- ``/file/...`` and ``/file-unsized/...``: 5000 bytes through
  wsgi.file_wrapper, with and without a Content-Length from the app;
- POST, PUT, PATCH and DELETE answer 200 (DELETE 204); the request headers
  ``X-Want-Status``, ``X-Want-Location`` and ``X-Want-Cache-Control`` set
  the status, a Location and the Cache-Control (default no-store).
"""
import hashlib
import json
import os
import tempfile
import threading
import time
from email.utils import formatdate

SWR_SLEEP = 0.5
SLOW_SLEEP = 0.6
COALESCE_SLEEP = 0.5
LAST_MODIFIED = "Sat, 01 Jan 2022 00:00:00 GMT"

calls = {}
calls_lock = threading.Lock()


def http_date(offset=0.0):
    return formatdate(time.time() + offset, usegmt=True)


def route_headers(route, environ):
    """The response headers a route sends (besides Content-Type/-Length)."""
    table = {
        "public": [("Cache-Control", "public, max-age=60")],
        "plain": [("Cache-Control", "max-age=60")],
        "short": [("Cache-Control", "max-age=1")],
        "swr": [("Cache-Control", "max-age=1, stale-while-revalidate=30")],
        "slow": [("Cache-Control", "max-age=60")],
        "coalesce": [("Cache-Control", "max-age=60")],
        "coalesce-private": [("Cache-Control", "private, max-age=60")],
        "swr-fail": [("Cache-Control", "max-age=1, stale-while-revalidate=30")],
        "sie-raise": [("Cache-Control", "max-age=1, stale-if-error=60")],
        "sie-500": [("Cache-Control", "max-age=1, stale-if-error=60")],
        "private": [("Cache-Control", "private, max-age=60")],
        "no-store": [("Cache-Control", "no-store, max-age=60")],
        "no-cache": [("Cache-Control", "no-cache, max-age=60")],
        "cookie": [("Cache-Control", "max-age=60"), ("Set-Cookie", "session=abc")],
        "vary": [("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")],
        "vary-ae": [("Cache-Control", "max-age=60"), ("Vary", "Accept-Encoding")],
        "vary-star": [("Cache-Control", "max-age=60"), ("Vary", "*")],
        "etag": [("Cache-Control", "max-age=60"), ("ETag", '"v1"'),
                 ("Last-Modified", LAST_MODIFIED)],
        "expires": [("Date", http_date()), ("Expires", http_date(60))],
        "expires-past": [("Date", http_date()), ("Expires", http_date(-60))],
        "expires-nodate": [("Expires", http_date(60))],
        "expires-invalid": [("Date", http_date()), ("Expires", "0")],
        "expires-invalid-swr": [("Cache-Control", "stale-while-revalidate=60"), ("Expires", "0")],
        "maxage-over-expires": [("Cache-Control", "max-age=60"), ("Date", http_date()),
                                ("Expires", http_date(-60))],
        "maxage0-over-expires": [("Cache-Control", "max-age=0"), ("Date", http_date()),
                                 ("Expires", http_date(60))],
        "smaxage": [("Cache-Control", "max-age=0, s-maxage=60")],
        "nofresh": [("Last-Modified", LAST_MODIFIED)],
        "blob": [("Cache-Control", "max-age=300")],
        "kb20": [("Cache-Control", "max-age=300")],
        "file": [("Cache-Control", "max-age=60")],
        "file-unsized": [("Cache-Control", "max-age=60")],
    }
    return table.get(route)


def count_call(key):
    with calls_lock:
        calls[key] = calls.get(key, 0) + 1
        return calls[key]


def blob_body(n):
    """A body of 2..34 KB whose first line is the sha256 of the rest."""
    payload = hashlib.sha256(str(n).encode()).digest() * (64 + (n * 37) % 1024)
    return hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def respond(start_response, status, headers, body):
    start_response(status, [("Content-Type", "text/plain"),
                            ("Content-Length", str(len(body)))] + headers)
    return [body]


def send_file(environ, start_response, headers, key, sized):
    """A 5000-byte file through wsgi.file_wrapper (sent with sendfile),
    with or without the app's Content-Length."""
    path = os.path.join(tempfile.gettempdir(), f"cacheable-{os.getpid()}.txt")
    with open(path, "wb") as f:
        f.write(key.encode().ljust(5000, b"."))
    if sized:
        headers = headers + [("Content-Length", "5000")]
    start_response("200 OK", [("Content-Type", "text/plain")] + headers)
    body = open(path, "rb")
    os.unlink(path)
    return environ["wsgi.file_wrapper"](body)


def unsafe(environ, start_response, key):
    count_call(key)
    status = environ.get("HTTP_X_WANT_STATUS") or ("204" if environ["REQUEST_METHOD"] == "DELETE"
                                                  else "200")
    headers = [("Cache-Control", environ.get("HTTP_X_WANT_CACHE_CONTROL", "no-store"))]
    if environ.get("HTTP_X_WANT_LOCATION"):
        headers.append(("Location", environ["HTTP_X_WANT_LOCATION"]))
    body = b"" if status == "204" else f"{environ['REQUEST_METHOD']} {key}\n".encode()
    return respond(start_response, f"{status} Whatever", headers, body)


def app(environ, start_response):
    path = environ["PATH_INFO"]
    key = path + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
    route = path.split("/")[1] if path.count("/") >= 1 else ""
    if environ["REQUEST_METHOD"] in ("POST", "PUT", "PATCH", "DELETE"):
        return unsafe(environ, start_response, key)
    if route == "count":
        with calls_lock:
            body = json.dumps({"pid": os.getpid(), "calls": calls}).encode()
        return respond(start_response, "200 OK", [("Cache-Control", "no-store")], body)
    headers = route_headers(route, environ)
    if headers is None:
        return respond(start_response, "404 Not Found", [], b"no such route\n")
    n = count_call(key)
    if route in ("file", "file-unsized"):
        return send_file(environ, start_response, headers, key, route == "file")
    if route == "blob":
        return respond(start_response, "200 OK", headers, blob_body(int(path.split("/")[2])))
    if route == "kb20":
        return respond(start_response, "200 OK", headers, key.encode().ljust(20 * 1024, b"."))
    if route == "swr" and n > 1:
        time.sleep(SWR_SLEEP)
    if route == "slow":
        time.sleep(SLOW_SLEEP)
    if route.startswith("coalesce"):
        time.sleep(COALESCE_SLEEP)
    failing = os.path.exists(os.environ.get("CACHEABLE_FAIL_FILE", "/nonexistent"))
    if route == "swr-fail" and failing:
        raise RuntimeError("the origin is down (test)")
    if route.startswith("sie-") and failing:
        if route == "sie-raise":
            raise RuntimeError("the origin is down (test)")
        return respond(start_response, "500 Internal Server Error", [], b"origin down\n")
    lang = environ.get("HTTP_ACCEPT_LANGUAGE", "-")
    body = f"{key} pid={os.getpid()} call={n} lang={lang}\n".encode()
    return respond(start_response, "200 OK", headers, body)
