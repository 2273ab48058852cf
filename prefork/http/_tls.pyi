"""Documentation of a connection's compiled TLS record layer (prefork/http/_tls.pyx).

Its methods are C-level (``cdef``), called by the connection
(prefork/http/_connection.pyx): ``handshake(fd)`` one step of the handshake
(HANDSHAKE_WANT, _DONE, _FAILED or _PLAIN_HTTP), ``recv_into(fd, dst, n)``
and ``write_from(fd, queue)`` in place of recv(2) and writev(2),
``buffered()`` (plaintext or records wait in the BIOs, unannounced by
epoll), ``close_notify(fd)``, and ``environ()``/``apply_to_scope(scope)``
for what the app sees (prefork/tls.py).
"""
from typing import Optional, Union

class TLSStream:
    """The TLS side of one server connection: an ssl.SSLObject over two
    ssl.MemoryBIOs, with the socket left to the connection."""
    def __init__(self, config: object) -> None:
        """``config``: the prefork.tls.TLSConfig of the listener."""
    handshaking: bool
    """The handshake is not complete (or its last flight not written)."""
    error: Optional[Union[str, Exception]]
    """Why the handshake or the stream failed, for the log."""
    @property
    def version(self) -> Optional[str]:
        """The negotiated protocol, "TLSv1.3" or "TLSv1.2"."""
