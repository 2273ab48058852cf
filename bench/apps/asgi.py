"""ASGI twins of bench.apps.wsgi, for uvicorn; same bytes on the wire."""
import asyncio
import json

from bench.apps import CACHE_CONTROL, HELLO
from bench.apps.burn import burn_cpu


async def _respond(send, body, content_type, extra=()):
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in extra]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def plaintext(scope, receive, send):
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    await _respond(send, HELLO, b"text/plain")


async def json_app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    body = json.dumps({"message": "Hello, World!"}, separators=(",", ":")).encode()
    await _respond(send, body, b"application/json")


async def cacheable(scope, receive, send):
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    burn_cpu()  # blocks the loop on purpose: the same work as the WSGI app
    await _respond(send, HELLO, b"text/plain", (CACHE_CONTROL,))


async def sleepy(scope, receive, send):
    """Waits ``?s=`` seconds (1 by default) in asyncio.sleep, then answers:
    bench/asgi_concurrency.py holds thousands of these at once."""
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    query = scope["query_string"].decode()
    seconds = float(query[2:]) if query.startswith("s=") else 1.0
    await asyncio.sleep(seconds)
    await _respond(send, b"slept", b"text/plain")
