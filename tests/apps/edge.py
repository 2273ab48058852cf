"""The app of the production-edge tests (real client address, request
deadlines, load shedding), as WSGI (``app``) and ASGI (``asgi_app``).

/env             what the app sees of its client, scheme and host (JSON)
/sleep?s=1       time.sleep (an interruptible system call)
/spin?s=1        a pure-Python loop
/cblock?s=1      one C call that does not return to the interpreter
                 (hashlib.pbkdf2_hmac, sized to last about s seconds)
/catch?s=1       time.sleep inside ``except Exception`` (which must not
                 swallow the deadline)
/stream?n=5&pause=0.3   a streamed body, a pause before each block
/stats           this worker's counters: calls started and finished
"""
import hashlib
import json
import threading
import time
from urllib.parse import parse_qs

_lock = threading.Lock()
_stats = {"started": 0, "finished": 0}
_ROUNDS_PER_SECOND = []


def _count(key):
    with _lock:
        _stats[key] += 1


def _arg(query, name, default):
    values = parse_qs(query).get(name)
    return type(default)(values[0]) if values else default


def _c_call(seconds):
    """One pbkdf2_hmac call of about ``seconds``: it runs in C from start to
    end, so a signal is only acted on once it returns."""
    if not _ROUNDS_PER_SECOND:
        # The fastest of a few runs: on a busy machine a slow one would make
        # the call shorter than asked; the call may only run longer.
        fastest = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            hashlib.pbkdf2_hmac("sha256", b"x", b"y", 20000)
            fastest = min(fastest, time.perf_counter() - started)
        _ROUNDS_PER_SECOND.append(20000 / fastest)
    hashlib.pbkdf2_hmac("sha256", b"x", b"y", max(1, int(_ROUNDS_PER_SECOND[0] * seconds)))


def _work(path, query):
    """The blocking routes, shared by both interfaces."""
    seconds = _arg(query, "s", 1.0)
    if path == "/sleep":
        time.sleep(seconds)
    elif path == "/spin":
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
    elif path == "/cblock":
        _c_call(seconds)
    elif path == "/catch":
        try:
            time.sleep(seconds)
        except Exception:
            return b"swallowed"
    return b"done"


def app(environ, start_response):
    path, query = environ["PATH_INFO"], environ["QUERY_STRING"]
    if path == "/env":
        keys = ("REMOTE_ADDR", "REMOTE_PORT", "wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME",
                "SERVER_PORT", "HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED")
        body = json.dumps({key: environ.get(key) for key in keys}).encode()
    elif path == "/stats":
        with _lock:
            body = json.dumps(_stats).encode()
    elif path == "/stream":
        n, pause = _arg(query, "n", 5), _arg(query, "pause", 0.3)
        start_response("200 OK", [("Content-Type", "text/plain")])

        def blocks():
            for i in range(n):
                time.sleep(pause)
                yield b"block %d\n" % i
        return blocks()
    else:
        _count("started")
        body = _work(path, query)
        _count("finished")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


async def asgi_app(scope, receive, send):
    import asyncio
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path, query = scope["path"], scope["query_string"].decode()
    start = {"type": "http.response.start", "status": 200,
             "headers": [(b"content-type", b"text/plain")]}
    if path == "/env":
        headers = dict(scope["headers"])
        body = json.dumps({"client": scope["client"], "scheme": scope["scheme"],
                           "server": scope["server"],
                           "host": headers.get(b"host", b"").decode("latin-1"),
                           "x-forwarded-for": headers.get(b"x-forwarded-for", b"").decode()}).encode()
    elif path == "/stats":
        body = json.dumps(_stats).encode()
    elif path == "/sleep":
        _count("started")
        await asyncio.sleep(_arg(query, "s", 1.0))
        _count("finished")
        body = b"done"
    elif path == "/stream":
        n, pause = _arg(query, "n", 5), _arg(query, "pause", 0.3)
        await send(start)
        for i in range(n):
            await asyncio.sleep(pause)
            await send({"type": "http.response.body", "body": b"block %d\n" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    else:
        body = b"done"
    await send(start)
    await send({"type": "http.response.body", "body": body})
