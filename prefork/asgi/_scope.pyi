"""Documentation of the compiled ASGI scope builder (prefork/asgi/_scope.pyx)."""
from typing import Any, Dict, Optional

from prefork._speedups import Request

class Done:
    """An awaitable already complete with ``value``: ``await Done(x)`` is
    ``x`` without suspending (receive() and send() return one when nothing
    has to wait, so a handler that awaits no I/O never leaves the stack)."""
    def __init__(self, value: Any = None) -> None: ...

class ScopeBuilder:
    """Builds each request's HTTP scope from a per-worker template."""
    state: Optional[Dict[str, Any]]
    def __init__(self, settings: Any) -> None: ...
    def scope_for(self, req: Request, remote_addr: str = "127.0.0.1", remote_port: int = 0,
                  server_address: tuple = ("127.0.0.1", "80")) -> Dict[str, Any]:
        """The scope of one parsed request (for tests and benchmarks)."""
