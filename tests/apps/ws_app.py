"""ASGI apps for the WebSocket tests (tests/websocket/)."""
import asyncio
import json

# Every message the echo app received, per connection path, for the
# "no malformed frame reaches the app" checks: GET /log answers with them.
RECEIVED = []
DISCONNECTS = []
# Echo sessions not yet ended: a test reads the log once none is left, so a
# disconnect from an earlier test's connection never lands in its own.
OPEN = [0]

PAGE = b"""<!doctype html>
<html><head><title>ws</title></head><body><pre id="result">pending</pre>
<script>
const out = document.getElementById("result");
const ws = new WebSocket(`ws://${location.host}/echo`);
ws.binaryType = "arraybuffer";
const results = [];
ws.onopen = () => {
  ws.send("hello from the browser \\u00e9\\u4e2d\\ud83d\\ude00");
  ws.send(new Uint8Array([0, 1, 2, 255]).buffer);
  ws.send("x".repeat(100000));
};
ws.onmessage = (ev) => {
  if (typeof ev.data === "string") results.push("text:" + ev.data.length + ":" + ev.data.slice(0, 40));
  else results.push("binary:" + Array.from(new Uint8Array(ev.data)).join(","));
  if (results.length === 3) {
    ws.close(4001, "done");
  }
};
ws.onclose = (ev) => {
  const report = JSON.stringify({results, code: ev.code, reason: ev.reason,
                                 extensions: ws.extensions, protocol: ws.protocol});
  fetch("/report", {method: "POST", body: report}).then(() => { out.textContent = report; });
};
</script></body></html>
"""

REPORTS = []


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        await http(scope, receive, send)
        return
    path = scope["path"]
    handler = ROUTES.get(path, echo)
    await handler(scope, receive, send)


async def http(scope, receive, send):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/":
        data, kind = PAGE, b"text/html; charset=utf-8"
    elif scope["path"] == "/report":
        REPORTS.append(body.decode())
        data, kind = b"ok", b"text/plain"
    elif scope["path"] == "/reports":
        data, kind = json.dumps(REPORTS).encode(), b"application/json"
    elif scope["path"] == "/log":
        data, kind = json.dumps({"received": RECEIVED, "disconnects": DISCONNECTS,
                                "open": OPEN[0]}).encode(), \
            b"application/json"
    elif scope["path"] == "/scope":
        data, kind = b"plain http", b"text/plain"
    else:
        data, kind = b"not found", b"text/plain"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", kind)]})
    await send({"type": "http.response.body", "body": data})


async def echo(scope, receive, send):
    """Echo every message back; record what arrived and how it ended."""
    assert (await receive())["type"] == "websocket.connect"
    subprotocol = scope["subprotocols"][0] if scope["subprotocols"] else None
    await send({"type": "websocket.accept", "subprotocol": subprotocol,
                "headers": [(b"x-echo", b"1")]})
    OPEN[0] += 1
    try:
        await echo_messages(receive, send)
    finally:
        OPEN[0] -= 1


async def echo_messages(receive, send):
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            DISCONNECTS.append([message["code"], message.get("reason", "")])
            return
        text, data = message.get("text"), message.get("bytes")
        RECEIVED.append(["text", len(text)] if text is not None else ["bytes", len(data)])
        if text == "close-me":
            await send({"type": "websocket.close", "code": 4000, "reason": "asked to"})
            continue
        if text == "raise":
            raise RuntimeError("the app fails on purpose")
        if text == "return":
            return
        await send({"type": "websocket.send", "text": text} if text is not None
                   else {"type": "websocket.send", "bytes": data})


async def show_scope(scope, receive, send):
    await receive()
    await send({"type": "websocket.accept"})
    shown = {key: value for key, value in scope.items() if key != "state"}
    shown["headers"] = [[n.decode(), v.decode()] for n, v in scope["headers"]]
    shown["has_state"] = "state" in scope
    await send({"type": "websocket.send", "text": json.dumps(shown, default=str)})
    await send({"type": "websocket.close"})


async def deny(scope, receive, send):
    await receive()
    await send({"type": "websocket.close"})


async def deny_with_response(scope, receive, send):
    await receive()
    await send({"type": "websocket.http.response.start", "status": 401,
                "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")]})
    await send({"type": "websocket.http.response.body", "body": b"who are ", "more_body": True})
    await send({"type": "websocket.http.response.body", "body": b"you?"})


async def raise_before_accept(scope, receive, send):
    await receive()
    raise RuntimeError("the app fails before accepting")


async def return_before_accept(scope, receive, send):
    await receive()


async def slow_reader(scope, receive, send):
    """Accept, then read nothing for a while (receive back-pressure)."""
    await receive()
    await send({"type": "websocket.accept"})
    await asyncio.sleep(2.0)
    count = 0
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        count += 1
        if message.get("text") == "end":
            await send({"type": "websocket.send", "text": str(count)})


async def flood(scope, receive, send):
    """Send 64 MiB as fast as send() lets it (send back-pressure)."""
    await receive()
    await send({"type": "websocket.accept"})
    chunk = b"x" * (1 << 20)
    for _ in range(64):
        await send({"type": "websocket.send", "bytes": chunk})
    await send({"type": "websocket.send", "text": "done"})
    await receive()


async def hold(scope, receive, send):
    """Accept and wait for the disconnect (drain tests); report it at /log."""
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": "ready"})
    message = await receive()
    DISCONNECTS.append([message.get("code"), message.get("reason", "")])
    with open(scope["query_string"].decode() or "/dev/null", "w") as f:
        f.write(json.dumps(message))


async def block_after_leaving(scope, receive, send):
    """Never answer the handshake; once the client has left, block the loop
    (the worker's status slot must then name no request)."""
    import time
    await receive()
    with open(scope["query_string"].decode(), "w") as f:
        f.write("connected")        # the test leaves once the app has the connect
    assert (await receive())["type"] == "websocket.disconnect"
    time.sleep(20)


ROUTES = {
    "/block-after-leaving": block_after_leaving,
    "/scope": show_scope,
    "/deny": deny,
    "/deny-response": deny_with_response,
    "/raise": raise_before_accept,
    "/return": return_before_accept,
    "/slow": slow_reader,
    "/flood": flood,
    "/hold": hold,
}
