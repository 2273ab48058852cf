"""A response no client waits for, from an ASGI app: the background refresh
of a cache entry under stale-while-revalidate (RFC 5861 §3), the ASGI
counterpart of prefork.wsgi._bridge.collect_response."""

# Request fields a refresh does not pass on: its response must be a
# complete 200, not a 304 or a 206 for one client's copy (RFC 9110 §13.1).
REFRESH_DROPS = frozenset([b"if-none-match", b"if-modified-since", b"if-match",
                           b"if-unmodified-since", b"if-range", b"range"])


def refresh_scope(scope):
    """The scope of the client's request, as a GET without preconditions."""
    scope["method"] = "GET"
    scope["headers"] = [(n, v) for n, v in scope["headers"] if n not in REFRESH_DROPS]
    return scope


async def collect(app, scope, limit):
    """Run the app; (status, headers, body) as the cache gate takes them
    (WSGI strings), the body None past ``limit`` bytes or for a file."""
    started, chunks, size = [], [], 0
    done = False

    async def receive():
        nonlocal done
        if not done:
            done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal chunks, size
        kind = message["type"]
        if kind == "http.response.start":
            started.append(message)
        elif kind == "http.response.body" and chunks is not None:
            body = bytes(message.get("body", b""))
            chunks.append(body)
            size += len(body)
            if size > limit:
                chunks = None
        elif kind == "http.response.pathsend":
            chunks = None

    await app(scope, receive, send)
    if not started:
        raise RuntimeError("the ASGI app returned without a response")
    start = started[0]
    from prefork.asgi._connection import status_string
    headers = [(bytes(n).decode("latin-1"), bytes(v).decode("latin-1"))
               for n, v in start.get("headers", ())]
    return status_string(start["status"]), headers, None if chunks is None else b"".join(chunks)
