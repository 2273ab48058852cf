"""Documentation of the compiled HTTP/1.1 request parser (prefork/_speedups.pyx).

The parser is strict per RFC 9112 and RFC 9110: anything malformed or
ambiguous raises HTTPError carrying the status the server answers with.
It is incremental: input may be split at any byte, and feeding a head one
byte at a time costs time linear in its size.

Chunk extensions are validated (token names; token or quoted-string values;
BWS only before ";" and around "=") and then ignored.

List fields the parser reads (Transfer-Encoding, Connection) ignore empty
list elements (RFC 9110 §5.6.1): "Transfer-Encoding: , chunked" is chunked,
"Connection: close," is a close; more than 8 in one field line is a 400.

Statuses: 400 malformed or ambiguous (bare CR or LF, obs-fold, whitespace
before a colon, invalid Host, duplicate Host/Content-Length/Transfer-Encoding,
Transfer-Encoding with Content-Length or in HTTP/1.0, bad chunk framing, a
chunk extension outside RFC 9112 §7.1.1's grammar or over 4096 bytes, more
than 4 empty lines before a request line, more than 8 empty list elements in
a Transfer-Encoding or Connection field line); 413 body over max_body_size; 414
request line over max_request_line; 417 an Expect other than 100-continue;
431 a field, the head (plus trailers) or the field count over its limit; 501
a transfer coding other than chunked applied before chunked; 505 a
well-formed HTTP version whose major is not 1 (HTTP/0.9, HTTP/2.0, ...).
HTTP/1.2 to HTTP/1.9 are processed as HTTP/1.1 (RFC 9110 §2.5, §6.2).
"""
from typing import List, Optional, Tuple, Union

EV_NEED_MORE: int
EV_HEAD: int
EV_BODY: int
EV_DONE: int

class HTTPError(Exception):
    """A request the server refuses. ``status`` is the HTTP status to answer
    with (400, 413, 414, 417, 431, 501, 505); ``reason`` a short English
    sentence for the log. ``args == (status, reason)``."""
    status: int
    reason: str
    def __init__(self, status: int, reason: str) -> None: ...

class Request:
    """A parsed request head (attributes are read-only)."""
    method: bytes
    target: bytes
    """The request-target exactly as received."""
    path: bytes
    """Origin-form: up to the first "?". Absolute-form: after the authority,
    b"/" when empty. Asterisk-form: b"*". Authority-form (CONNECT): b""."""
    query: bytes
    """Raw bytes after the first "?"; b"" when absent."""
    http_version: bytes
    """The version as sent: b"HTTP/1.1", b"HTTP/1.0", or a higher HTTP/1
    minor version such as b"HTTP/1.2"."""
    minor: int
    """0 for HTTP/1.0; 1 for HTTP/1.1 and for any higher minor version, which
    is processed (framing, persistence, Host) and answered as HTTP/1.1."""
    headers: List[Tuple[bytes, bytes]]
    """[(name, value)] as received, in order; built on first access from
    ``raw`` (the parser itself keeps only each field's span)."""
    raw: bytes
    """The head's bytes, from the request line through the blank line."""
    nfields: int
    """Names as received, values with surrounding whitespace removed, in order."""
    trailers: List[Tuple[bytes, bytes]]
    """Fields of a chunked body's trailer section; filled by the "done" event."""
    host: Optional[bytes]
    """The target's authority for absolute-form, else the Host value (maybe
    b""); None for HTTP/1.0 without Host."""
    content_length: int
    """Declared length; 0 without a body; -1 when chunked."""
    chunked: bool
    keep_alive: bool
    """HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "keep-alive"."""
    expect_continue: bool
    """"Expect: 100-continue" on an HTTP/1.1 request."""

Event = Union[Tuple[str, Request], Tuple[str, bytes], Tuple[str, None]]

class RequestParser:
    """Parses a stream of pipelined HTTP/1.x requests.

    Limits: ``max_request_line`` (longer -> 414), ``max_field_size`` (one
    header line -> 431), ``max_header_size`` (the whole head -> 431),
    ``max_header_count`` (-> 431), ``max_body_size`` (declared or received
    body larger -> 413; 0 means no limit).
    """
    event: int
    request: Optional[Request]
    max_request_line: int
    max_field_size: int
    max_header_size: int
    max_header_count: int
    max_body_size: int
    def __init__(
        self,
        max_request_line: int = 8190,
        max_field_size: int = 8190,
        max_header_size: int = 65536,
        max_header_count: int = 100,
        max_body_size: int = 1073741824,
    ) -> None: ...
    def feed(self, data: Union[bytes, bytearray, memoryview]) -> List[Event]:
        """Python-level driver: append ``data`` to an internal buffer and
        return the events it completes, in order: ``("head", Request)``,
        ``("body", bytes)`` (possibly several), ``("done", Request)``; then
        the next pipelined request. Raises HTTPError, and again on every
        later call until reset()."""
    def reset(self) -> None:
        """Forget any partial message (used after an error or a new connection)."""
