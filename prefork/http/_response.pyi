"""Documentation of the compiled response head serializer (prefork/http/_response.pyx)."""
from typing import List, Optional, Tuple

class ResponseError(ValueError):
    """The app's status or headers cannot be sent as given (answered with 500)."""

class HeadBuilder:
    """Builds response heads; caches the Date line per second and adds an
    optional Server header."""
    def __init__(self, server_name: Optional[str] = None) -> None: ...
    def build_head(
        self,
        minor: int,
        status: str,
        headers: List[Tuple[str, str]],
        known_length: int = -1,
        keep_alive: bool = True,
        head_request: bool = False,
    ) -> Tuple[bytes, bool, bool, bool, int]:
        """Return (head, keep_alive, chunked, send_body, content_length)."""
