"""A WSGI app with one endpoint per behaviour the integration tests probe.

Run it with ``--workers 1``: ``/stats`` reports this process's counters
(app calls, result close() calls), which tests use to prove that the app
was or was not called and that close() ran.
"""
import json
import os
import sys
import threading
import time
from urllib.parse import parse_qs
from wsgiref.validate import validator

_lock = threading.Lock()
_stats = {"calls": 0, "closes": 0}


def _count(key):
    with _lock:
        _stats[key] += 1


class Closing:
    """An iterable result whose close() is counted (PEP 3333: always called)."""

    def __init__(self, chunks):
        self.chunks = chunks

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        _count("closes")


def _arg(environ, name, default):
    values = parse_qs(environ["QUERY_STRING"]).get(name)
    return type(default)(values[0]) if values else default


def _ok(start_response, body, content_type="text/plain"):
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def stats(environ, start_response):
    with _lock:
        body = json.dumps(_stats).encode()
    return _ok(start_response, body, "application/json")


def hello(environ, start_response):
    return _ok(start_response, b"hello")


def app_close(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "close")])
    return [b"bye"]


def echo(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    return _ok(start_response, body, environ.get("CONTENT_TYPE") or "application/octet-stream")


def environ_dump(environ, start_response):
    dump = {key: value for key, value in environ.items() if isinstance(value, str)}
    dump["wsgi.version"] = list(environ["wsgi.version"])
    for key in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once", "wsgi.input_terminated"):
        dump[key] = environ.get(key)
    dump["wsgi.file_wrapper"] = environ.get("wsgi.file_wrapper") is not None
    dump["has wsgi.errors.write"] = hasattr(environ["wsgi.errors"], "write")
    dump["has wsgi.input.read"] = hasattr(environ["wsgi.input"], "read")
    return _ok(start_response, json.dumps(dump).encode("utf-8"), "application/json")


def input_methods(environ, start_response):
    """Exercise every wsgi.input method on a multi-line body."""
    stream = environ["wsgi.input"]
    first = stream.readline()
    partial = stream.read(3)
    sized = stream.readline(4)
    lines = stream.readlines()
    rest = stream.read()
    result = {"first": first.decode(), "partial": partial.decode(), "sized": sized.decode(),
              "lines": [line.decode() for line in lines], "rest": rest.decode()}
    return _ok(start_response, json.dumps(result).encode(), "application/json")


def input_iter(environ, start_response):
    lines = [line.decode() for line in environ["wsgi.input"]]
    return _ok(start_response, json.dumps(lines).encode(), "application/json")


def stream(environ, start_response):
    """``n`` chunks of ``size`` bytes from a generator (length unknown)."""
    n, size = _arg(environ, "n", 5), _arg(environ, "size", 10)
    empty = _arg(environ, "empty", 0)     # also yield b"" before every chunk
    start_response("200 OK", [("Content-Type", "application/octet-stream")])

    def chunks():
        for i in range(n):
            if empty:
                yield b""
            yield bytes([97 + i % 26]) * size
        if empty:
            yield b""
    return chunks()


def sleepy_stream(environ, start_response):
    """First chunk, a pause, second chunk: the first must not wait for the second."""
    start_response("200 OK", [("Content-Type", "text/plain")])

    def chunks():
        yield b"first"
        time.sleep(_arg(environ, "pause", 0.3))
        yield b"second"
    return chunks()


def big(environ, start_response):
    """``mb`` MiB of body, as one list (known length) or a generator."""
    mb, mode = _arg(environ, "mb", 50), _arg(environ, "mode", "list")
    block = bytes(range(256)) * 4096      # 1 MiB, a recognisable pattern
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    if mode == "list":
        return [block] * mb
    return Closing(block for _ in range(mb))


def counted_stream(environ, start_response):
    """A long streamed body whose close() is counted; for disconnect tests."""
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return Closing(b"x" * 65536 for _ in range(100000))


def closing(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Closing([b"closed ", b"later"])


def file(environ, start_response):
    path = _arg(environ, "path", "")
    f = open(path, "rb")
    headers = [("Content-Type", "application/octet-stream")]
    if _arg(environ, "declare", 0):
        headers.append(("Content-Length", str(os.fstat(f.fileno()).st_size)))
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](f, 8192)


def status(environ, start_response):
    code = _arg(environ, "code", 200)
    start_response(f"{code} Whatever", [("Content-Type", "text/plain")])
    return [b"this body must never be sent"]


def sleep(environ, start_response):
    time.sleep(_arg(environ, "s", 1.0))
    return _ok(start_response, b"slept")


def raise_before_start(environ, start_response):
    raise RuntimeError("boom before start_response")


def raise_after_start(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    raise RuntimeError("boom after start_response")


def raise_in_generator(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def chunks():
        yield b"partial"
        raise RuntimeError("boom inside the body")
    return Closing(chunks())


def bad_header(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("X-Split", "a\r\nX-Injected: yes")])
    return Closing([b"split"])


def bad_status(environ, start_response):
    start_response(_arg(environ, "value", "OK"), [("Content-Type", "text/plain")])
    return [b"bad status"]


def length_mismatch(environ, start_response):
    """Declares ``declared`` bytes, sends ``actual``."""
    declared, actual = _arg(environ, "declared", 10), _arg(environ, "actual", 5)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(declared))])

    def chunks():
        yield b"z" * actual
    return Closing(chunks())


def write_callable(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    write(bytearray(b"then "))
    return Closing([b"returned"])


def exc_info_before_headers(environ, start_response):
    """PEP 3333: start_response(..., exc_info) may replace the status while
    nothing has been sent."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("replaced")
    except ValueError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"replaced"]


def second_start_without_exc_info(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    start_response("201 Created", [("Content-Type", "text/plain")])
    return [b"unreachable"]


def exc_info_after_headers(environ, start_response):
    """PEP 3333: once headers are sent, start_response(exc_info) re-raises."""
    start_response("200 OK", [("Content-Type", "text/plain")])

    def chunks():
        yield b"sent"
        try:
            raise ValueError("too late")
        except ValueError:
            start_response("500 Oops", [("Content-Type", "text/plain")], sys.exc_info())
        yield b"must not be reached"
    return Closing(chunks())


ROUTES = {
    "/stats": stats, "/hello": hello, "/app-close": app_close, "/echo": echo, "/environ": environ_dump,
    "/input": input_methods, "/input-iter": input_iter, "/stream": stream,
    "/sleepy-stream": sleepy_stream, "/big": big, "/counted-stream": counted_stream,
    "/closing": closing, "/file": file, "/status": status, "/sleep": sleep,
    "/raise": raise_before_start, "/raise-after-start": raise_after_start,
    "/raise-in-generator": raise_in_generator, "/bad-header": bad_header,
    "/bad-status": bad_status, "/length-mismatch": length_mismatch, "/write": write_callable,
    "/exc-info": exc_info_before_headers, "/second-start": second_start_without_exc_info,
    "/exc-info-late": exc_info_after_headers,
}


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path != "/stats":
        _count("calls")
    handler = ROUTES.get(path)
    if handler is None:
        if "/environ" in path:
            return environ_dump(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
        return [b"not found"]
    return handler(environ, start_response)


validated_app = validator(app)      # wsgiref's PEP 3333 checker around the same app
