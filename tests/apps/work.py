"""The lifecycle tests' app: routes that block, burn CPU or answer at once,
each answering with the worker's pid (so tests see which worker served).

/fast            at once
/sleep?s=0.1     time.sleep (an app waiting on I/O)
/burn?ms=5       a CPU loop (an app computing)
/stream?n=3      a streamed body of n blocks, a short sleep between them
/grow            keeps 64 MiB alive in this worker (memory recycling)
"""
import os
import time
from urllib.parse import parse_qs

_kept = []


def _arg(environ, name, default):
    values = parse_qs(environ["QUERY_STRING"]).get(name)
    return type(default)(values[0]) if values else default


def burn(seconds):
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def app(environ, start_response):
    path = environ["PATH_INFO"]
    body = b"pid %d" % os.getpid()
    if path == "/sleep":
        time.sleep(_arg(environ, "s", 0.1))
    elif path == "/burn":
        burn(_arg(environ, "ms", 5) / 1000.0)
    elif path == "/grow":
        _kept.append(bytearray(64 << 20))
        for i in range(0, len(_kept[-1]), 4096):
            _kept[-1][i] = 1            # touch every page so it is resident
    elif path == "/stream":
        n, pause = _arg(environ, "n", 3), _arg(environ, "pause", 0.02)
        start_response("200 OK", [("Content-Type", "text/plain")])

        def blocks():
            for i in range(n):
                if i:
                    time.sleep(pause)
                yield b"block %d of %s\n" % (i, body)
        return blocks()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


async def asgi_app(scope, receive, send):
    """The same routes for an ASGI worker (/sleep awaits asyncio.sleep)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    import asyncio
    path = scope["path"]
    query = {"query_string": scope["query_string"].decode()}
    environ = {"QUERY_STRING": query["query_string"]}
    body = b"pid %d" % os.getpid()
    if path == "/sleep":
        await asyncio.sleep(_arg(environ, "s", 0.1))
    elif path == "/burn":
        burn(_arg(environ, "ms", 5) / 1000.0)
    elif path == "/grow":
        _kept.append(bytearray(64 << 20))
        for i in range(0, len(_kept[-1]), 4096):
            _kept[-1][i] = 1
    elif path == "/stream":
        n, pause = _arg(environ, "n", 3), _arg(environ, "pause", 0.02)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        for i in range(n):
            if i:
                await asyncio.sleep(pause)
            await send({"type": "http.response.body", "body": b"block %d of %s\n" % (i, body),
                        "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
