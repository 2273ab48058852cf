"""Documentation of the compiled WebSocket frames (prefork/websocket/_frames.pyx)."""
from typing import Any, Optional, Tuple, Union

class ProtocolError(Exception):
    """The peer broke RFC 6455 or a limit: close with ``code`` (§7.4.1:
    1002 protocol error, 1007 invalid payload data, 1009 too big)."""
    code: int
    reason: str
    def __init__(self, code: int, reason: str) -> None: ...

class FrameReader:
    """Incremental reader of client frames (masked, §5.1). ``feed()`` (C)
    consumes bytes and leaves at most one event: a complete text (str) or
    binary (bytes) message, a ping or pong (bytes), or a close (code,
    reason; 1005 when the frame had no code). Raises ProtocolError."""
    event: int
    message: Any
    close_code: int
    close_reason: str
    max_message: int
    max_frame: int
    def __init__(self, max_message: int = ..., max_frame: int = ...,
                 inflater: Optional[Any] = None) -> None:
        """``inflater``: a PerMessageDeflate (prefork/websocket/deflate.py)
        when permessage-deflate was agreed; RSV1 is refused without one."""
    def feed_bytes(self, data: bytes) -> Tuple[int, int, Any]:
        """feed() from Python: (bytes used, event, message or (code, reason))."""

def encode_frame(opcode: int, payload: bytes, rsv1: bool = False) -> bytes:
    """A server frame (FIN set, unmasked)."""
def close_payload(code: int, reason: str = "") -> bytes:
    """A close frame's payload; ValueError for a code that may not be sent
    or a reason over 123 bytes."""
def is_valid_close_code(code: int) -> bool:
    """1000-1003, 1007-1011, 3000-4999."""
def is_utf8(data: Union[bytes, bytearray]) -> bool:
    """The incremental validator (RFC 3629) over one buffer."""
