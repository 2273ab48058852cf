"""Documentation of the compiled PROXY protocol header reader (prefork/http/_proxy.pyx).

``read(fd)`` is C-level (``cdef``), called by the connection before its
TLS handshake or first request: PROXY_WANT (wait for the socket),
PROXY_DONE (the socket holds exactly what follows the header) or
PROXY_FAILED (``error`` says why; the connection is closed).
"""
from typing import Optional

class ProxyHeader:
    """The PROXY protocol header (version 1 or 2) of one connection."""
    def __init__(self) -> None: ...
    version: int
    """1 or 2 once the signature is seen, else 0."""
    client_addr: Optional[str]
    """The client the header names; None to keep the socket's peer (v1
    UNKNOWN, v2 LOCAL, an UNSPEC or AF_UNIX family)."""
    client_port: int
    error: Optional[str]
    """Why the header was refused."""
