"""Documentation of the compiled ASGI WebSocket session (prefork/asgi/_websocket.pyx)."""
from typing import Any, Awaitable, Dict

class WebSockets:
    """The worker's WebSocket settings (--ws-*); called with an ASGI
    connection whose head has an Upgrade field: True if it took the request
    (a session started, or the handshake was refused with 400/426)."""
    def __init__(self, settings: Any) -> None: ...
    def __call__(self, conn: Any) -> bool: ...

class WebSocketSession:
    """One WebSocket's ASGI side: receive() and send() for the app, the
    close handshake, pings, back-pressure both ways."""
    state: int              # 0 connecting, 1 open, 2 closing, 3 closed, 4 denied
    def receive(self) -> Awaitable[Dict[str, Any]]: ...
    def send(self, message: Dict[str, Any]) -> Awaitable[None]: ...
    def going_away(self) -> None:
        """The worker drains: close with 1001, and tell the app."""
    def cancel(self) -> None:
        """Cancel the app's task (the graceful timeout passed)."""
