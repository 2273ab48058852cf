"""Documentation of the compiled PEP 3333 pieces (prefork/wsgi/_bridge.pyx)."""
from typing import Any, Callable, Dict, List, Optional, Tuple

from prefork._speedups import Request

class EnvironBuilder:
    """Builds each request's environ from a per-worker template: the wsgi.*
    keys, SCRIPT_NAME from ``settings.root_path``, SERVER_SOFTWARE."""
    def __init__(self, settings: Any, multiprocess: bool) -> None: ...
    def environ_for(self, req: Request, remote_addr: str = "127.0.0.1", remote_port: int = 0,
                    body: Any = None, body_size: int = 0,
                    server: Optional[Tuple[str, str]] = None) -> Dict[str, Any]:
        """The environ of one parsed request (for tests and benchmarks).
        ``server``: (SERVER_NAME fallback, SERVER_PORT) of the listener, from
        listener_address(); ("localhost", "80") when None. SERVER_NAME is the
        host part of req.host (Host field or absolute-form authority) when
        there is one; an absolute-form target's authority is also HTTP_HOST."""

def listener_address(sockname: Any) -> Tuple[str, str]:
    """(SERVER_NAME fallback, SERVER_PORT) for connections accepted on a
    socket with this getsockname(): ("127.0.0.1", "8000"), ("[::1]", "8000");
    a unix socket gives ("localhost", "80")."""

def collect_response(app: Callable[..., Any], environ: Dict[str, Any],
                     limit: int) -> Tuple[Any, List[Tuple[str, str]], Optional[bytes]]:
    """Call the app for a response no client waits for (a cache entry's
    background refresh): (status, headers, body); body None past ``limit``
    bytes or for a sendfile()-able file_wrapper. close() is called; the
    app's exception propagates. (EnvironBuilder.build_refresh, a cdef
    method, makes its environ: the client's request as a GET without
    If-* or Range fields.)"""

class WSGICall:
    """start_response for one app call (callable as PEP 3333 says), with
    the write() callable and the exc_info rules."""
    def __call__(self, status: str, headers: List[Tuple[str, str]],
                 exc_info: Optional[tuple] = None) -> Callable[[bytes], None]: ...
    def write(self, data: bytes) -> None: ...

def run_in_thread(post: Callable[..., None], on_done: Callable[..., None], call: WSGICall,
                  app: Callable[..., Any], environ: Dict[str, Any]) -> None:
    """On an app thread: call the app and hand its body to the loop: a list
    whole, a sendfile-able file_wrapper unread, any other iterable as
    ``(result, iterator, first block)``."""

def pull_block(post: Callable[..., None], on_block: Callable[..., None], call: WSGICall,
               blocks: Any) -> None:
    """On an app thread: the next non-empty block of a streamed body (None
    at its end), posted to ``on_block``; asked for by the loop only when
    the connection has room, so no app thread ever waits on a client."""

def close_body(result: Any) -> None:
    """The result's close() (PEP 3333), logged if it raises."""
