"""An ASGI 3 app with one route per behaviour the ASGI tests probe.

Run it with ``--workers 1``: ``/stats`` reports this process's counters
(app calls, disconnects the app heard, lifespan events).
"""
import asyncio
import json
import os
from urllib.parse import parse_qs

_stats = {"calls": 0, "disconnects": 0, "startup": 0, "shutdown": 0, "cancelled": 0}
_events = []


def _arg(scope, name, default):
    values = parse_qs(scope["query_string"].decode()).get(name)
    return type(default)(values[0]) if values else default


async def _respond(send, body, status=200, content_type=b"text/plain", extra=()):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), *extra]})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive):
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            _stats["disconnects"] += 1
            return None
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _stats["startup"] += 1
            scope["state"]["greeting"] = "hello from startup"
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            _stats["shutdown"] += 1
            path = os.environ.get("LIFESPAN_LOG")
            if path:
                with open(path, "a") as f:
                    f.write(f"shutdown {os.getpid()}\n")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def hello(scope, receive, send):
    await _respond(send, b"hello")


async def scope_dump(scope, receive, send):
    dump = {key: value for key, value in scope.items() if key not in ("headers", "state")}
    dump["raw_path"] = scope["raw_path"].decode("latin-1")
    dump["query_string"] = scope["query_string"].decode("latin-1")
    dump["headers"] = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]]
    dump["state"] = scope.get("state")
    await _respond(send, json.dumps(dump).encode(), content_type=b"application/json")


async def echo(scope, receive, send):
    body = await _read_body(receive)
    if body is not None:
        await _respond(send, body, content_type=b"application/octet-stream")


async def echo_chunks(scope, receive, send):
    """Answers the sizes of the body messages as they came."""
    sizes = []
    while True:
        message = await receive()
        sizes.append(len(message.get("body", b"")))
        if not message.get("more_body"):
            break
    await _respond(send, json.dumps(sizes).encode(), content_type=b"application/json")


async def no_read(scope, receive, send):
    """Answers without reading the request body."""
    await _respond(send, b"did not read")


async def stream(scope, receive, send):
    n, size, pause = _arg(scope, "n", 5), _arg(scope, "size", 10), _arg(scope, "pause", 0.0)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")]})
    for i in range(n):
        if pause:
            await asyncio.sleep(pause)
        await send({"type": "http.response.body", "body": bytes([97 + i % 26]) * size,
                    "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def big(scope, receive, send):
    """``mb`` MiB in 64 KiB messages; records whether send() ever waited
    (back-pressure) in /stats as ``waited``."""
    mb = _arg(scope, "mb", 16)
    block = b"x" * 65536
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")]})
    loop = asyncio.get_running_loop()
    waited = 0
    for _ in range(mb * 16):
        started = loop.time()
        try:
            await send({"type": "http.response.body", "body": block, "more_body": True})
        except OSError:
            _stats["disconnects"] += 1
            return
        if loop.time() - started > 0.05:
            waited += 1
    _stats["waited"] = waited
    await send({"type": "http.response.body", "body": b""})


async def sleep(scope, receive, send):
    """Sleeps ``s`` seconds; /stats has how many sleep now and the most that
    ever slept at once (``sleeping``, ``sleeping_max``)."""
    _stats["sleeping"] = _stats.get("sleeping", 0) + 1
    _stats["sleeping_max"] = max(_stats.get("sleeping_max", 0), _stats["sleeping"])
    try:
        await asyncio.sleep(_arg(scope, "s", 1.0))
    finally:
        _stats["sleeping"] -= 1
    await _respond(send, b"slept")


async def wait_disconnect(scope, receive, send):
    """Waits until the client goes, then counts it."""
    await _read_body(receive)
    message = await receive()
    if message["type"] == "http.disconnect":
        _stats["disconnects"] += 1


async def forever(scope, receive, send):
    """Never answers; counts its cancellation (graceful timeout)."""
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        _stats["cancelled"] += 1
        raise


async def raise_before(scope, receive, send):
    raise RuntimeError("boom before http.response.start")


async def raise_after(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    raise RuntimeError("boom after the response started")


async def no_response(scope, receive, send):
    return None


async def status(scope, receive, send):
    await _respond(send, b"this body must never be sent", status=_arg(scope, "code", 200))


async def declared(scope, receive, send):
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"12", "more_body": True})
    await send({"type": "http.response.body", "body": b"345"})


async def pathsend(scope, receive, send):
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")]})
    await send({"type": "http.response.pathsend", "path": _arg(scope, "path", "")})


async def context(scope, receive, send):
    """current_task, contextvars and asyncio.timeout inside a handler."""
    import contextvars
    var = contextvars.ContextVar("v", default="unset")
    var.set("set")
    task = asyncio.current_task()
    async with asyncio.timeout(5):
        await asyncio.sleep(0)
    try:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)
        timed_out = False
    except TimeoutError:
        timed_out = True
    body = {"task": task is not None and task is asyncio.current_task(), "var": var.get(),
            "timed_out": timed_out}
    await _respond(send, json.dumps(body).encode(), content_type=b"application/json")


async def cached(scope, receive, send):
    """A response any shared cache may keep for ``age`` seconds, with
    stale-while-revalidate when ``swr`` is given; the body counts calls."""
    _stats["cached"] = _stats.get("cached", 0) + 1
    control = f"max-age={_arg(scope, 'age', 60)}"
    if _arg(scope, "swr", 0):
        control += f", stale-while-revalidate={_arg(scope, 'swr', 0)}"
    await asyncio.sleep(_arg(scope, "delay", 0.0))
    await _respond(send, b"call %d" % _stats["cached"],
                   extra=[(b"cache-control", control.encode())])


async def stats(scope, receive, send):
    await _respond(send, json.dumps(_stats).encode(), content_type=b"application/json")


ROUTES = {
    "/hello": hello, "/scope": scope_dump, "/echo": echo, "/echo-chunks": echo_chunks,
    "/no-read": no_read, "/stream": stream, "/big": big, "/sleep": sleep,
    "/wait-disconnect": wait_disconnect, "/forever": forever, "/raise": raise_before,
    "/raise-after": raise_after, "/no-response": no_response, "/status": status,
    "/declared": declared, "/pathsend": pathsend, "/context": context, "/stats": stats,
    "/cached": cached,
}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    if scope["path"] != "/stats":
        _stats["calls"] += 1
    handler = ROUTES.get(scope["path"])
    if handler is None and scope["path"].endswith("/scope"):
        handler = scope_dump
    if handler is None:
        await _respond(send, b"not found", status=404)
        return
    await handler(scope, receive, send)


async def no_lifespan_app(scope, receive, send):
    """An app that does not speak lifespan (it asserts the scope type)."""
    assert scope["type"] == "http"
    await _respond(send, b"served without lifespan")


async def failing_startup_app(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})
        return
    await _respond(send, b"never")


def wsgi_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi"]


class ASGI2:
    """An ASGI 2 app: a class called with the scope, its instance with (receive, send)."""

    def __init__(self, scope):
        self.scope = scope

    async def __call__(self, receive, send):
        await _respond(send, b"asgi2")
