"""One connection's TLS record layer, on the standard ``ssl`` module's
non-blocking objects: an ``SSLObject`` over two ``MemoryBIO``s, so the
connection (prefork/http/_connection.pyx) still owns its socket and its
event-loop registration, and TLS sits behind its two I/O primitives: the
``recv`` of ``on_readable`` (``recv_into``) and the ``writev`` of
``write_out`` (``write_from``), plus a handshake phase before them.

Why memory BIOs rather than ``wrap_socket``: the socket stays the
connection's (no Python socket object per connection), one ``recv`` takes
every record that has arrived (OpenSSL's socket BIO reads a record's header
and its body with two calls), and the responses of a batch are encrypted
together and go out with one ``send``.

Invariants:
- ciphertext leaves in the order it was made: everything goes through
  ``cipher`` (the handshake's flights, records, alerts, close_notify);
- an item of the connection's write queue stays in the queue until all
  the ciphertext that carries it is written, so "the queue is empty" still
  means "everything is written" for the connection's logic; ciphertext the
  stream makes on its own after the handshake (a TLS 1.3 KeyUpdate answer)
  waits, if the socket is full, for the next write;
- plaintext is returned only after the handshake; the handshake is over
  only once its last flight is written (a TLS 1.2 client waits for it);
- when ``more`` is set, bytes wait in the BIOs that no epoll event will
  announce: the connection reads again (``buffered()``) without one.
"""
from cpython.buffer cimport PyBUF_READ, PyBUF_WRITE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.memoryview cimport PyMemoryView_FromMemory
from libc.errno cimport EAGAIN, ECONNRESET, EINTR, errno

cdef extern from *:
    """
    #include <errno.h>
    static inline void prefork_set_errno(int value) { errno = value; }
    """
    void prefork_set_errno(int value) nogil

cdef extern from "sys/socket.h" nogil:
    ssize_t recv(int fd, void *buf, size_t n, int flags)
    ssize_t send(int fd, const void *buf, size_t n, int flags)
    enum:
        MSG_NOSIGNAL

cdef enum:
    # Plaintext encrypted per round of write_from(), and so the most
    # ciphertext a connection holds while its client reads slowly.
    TLS_BATCH = 262144
    # Queue items up to this size are joined before encryption, so a head
    # and a small body go out as one record (TLS records carry 16 KiB).
    JOIN_LIMIT = 16384
    # Read from the socket per handshake step (a ClientHello, a client's
    # certificate flight); the handshake itself bounds what it accepts.
    HANDSHAKE_READ = 16384
    HANDSHAKE_READ_LIMIT = 65536
    TLS_HANDSHAKE_RECORD = 22   # RFC 8446 §5.1 ContentType handshake(22)


cdef class TLSStream:
    """The TLS side of one server connection (see the module docstring)."""

    def __init__(self, config):
        import ssl      # loaded already: prefork/tls.py built ``config``
        self.config = config
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.sslobj = config.context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.read = self.sslobj.read
        self.want_read = config.want_read
        self.closed_errors = config.closed_errors
        self.ssl_error = config.error
        self.handshaking = True

    # -- the handshake -----------------------------------------------------

    cdef int handshake(self, int fd) except -1:
        """One step: take what the socket holds, let OpenSSL answer, write
        the answer. Returns a HANDSHAKE_* code."""
        cdef unsigned char raw[HANDSHAKE_READ]
        cdef ssize_t r
        cdef Py_ssize_t total = 0
        cdef bint at_eof = False
        while total < HANDSHAKE_READ_LIMIT:
            r = recv(fd, raw, HANDSHAKE_READ, 0)
            if r > 0:
                if not self.first_byte_seen:
                    self.first_byte_seen = True
                    if raw[0] != TLS_HANDSHAKE_RECORD:
                        # An HTTP method is uppercase letters (RFC 9110 §9.1):
                        # nginx's case, "plain HTTP request sent to HTTPS port".
                        self.failed = True
                        self.error = "not a TLS handshake"
                        return HANDSHAKE_PLAIN_HTTP if 65 <= raw[0] <= 90 else HANDSHAKE_FAILED
                self.incoming.write(PyMemoryView_FromMemory(<char *>raw, r, PyBUF_READ))
                total += r
            elif r == 0:
                # The client's last flight, its first request and its
                # half-close can arrive together: finish with what came.
                at_eof = True
                break
            elif errno == EINTR:
                continue
            elif errno == EAGAIN:
                break
            else:
                self.failed = True
                self.error = OSError(errno, "recv failed during the handshake")
                return HANDSHAKE_FAILED
        if not self.handshake_done:
            try:
                self.sslobj.do_handshake()
                self.handshake_done = True
            except self.want_read:
                pass
            except self.ssl_error as exc:
                self.failed = True
                self.error = exc
                self.take_output()
                self.send_pending(fd)       # the alert, if the socket takes it
                return HANDSHAKE_FAILED
        self.take_output()
        if self.send_pending(fd) < 0 or (at_eof and not self.handshake_done):
            self.failed = True
            self.error = "the client closed the connection during the handshake"
            return HANDSHAKE_FAILED
        if self.handshake_done and (self.cipher is None or at_eof):
            self.handshaking = False
            # A request may have come with the client's last flight.
            self.more = self.incoming.pending > 0 or self.sslobj.pending() > 0
            return HANDSHAKE_DONE
        return HANDSHAKE_WANT

    cdef bint want_write(self):
        """Ciphertext waits for room in the socket."""
        return self.cipher is not None

    # -- records in ----------------------------------------------------------

    cdef ssize_t recv_into(self, int fd, unsigned char *dst, size_t n) except -2:
        """recv(2) for the plaintext, into ``dst``: > 0 bytes, 0 at the end of
        the stream (close_notify, or the socket's end), -1 with errno set
        (EAGAIN: nothing decrypted yet; ECONNRESET for a broken record).
        The socket's bytes land in ``dst`` first, are copied into the BIO,
        and the plaintext is decrypted over them: no buffer of its own."""
        cdef ssize_t r
        cdef bint at_eof = False
        while True:
            if not self.more:
                r = recv(fd, dst, n, 0)
                if r > 0:
                    self.incoming.write(PyMemoryView_FromMemory(<char *>dst, r, PyBUF_READ))
                elif r == 0:
                    # The client closed its side of TCP. Not told to OpenSSL
                    # (write_eof): an end without close_notify would make the
                    # session unusable, and a client that half-closes after
                    # its request still gets the response, as over plain TCP.
                    at_eof = True
                elif errno == EINTR:
                    continue
                else:
                    return -1
            self.more = False
            try:
                r = self.read(n, PyMemoryView_FromMemory(<char *>dst, n, PyBUF_WRITE))
            except self.want_read:
                if at_eof:
                    return 0        # and a partial record never completes
                continue            # a record is not complete yet
            except self.closed_errors:
                return 0
            except self.ssl_error as exc:
                self.failed = True
                self.error = exc
                prefork_set_errno(ECONNRESET)
                return -1
            if r == 0:
                return 0            # close_notify
            # A record larger than dst leaves plaintext behind; further
            # records wait in the incoming BIO (OpenSSL reads one at a time).
            self.more = <size_t>r == n or self.incoming.pending > 0
            if self.outgoing.pending:
                self.take_output()  # a post-handshake answer (TLS 1.3 KeyUpdate)
            return r

    cdef bint buffered(self):
        return self.more

    # -- records out -----------------------------------------------------------

    cdef Py_ssize_t write_from(self, int fd, list out) except -2:
        """Encrypt the write queue ``out`` from its head and write it, until
        it is empty or the socket is full. Items leave ``out`` only once all
        their ciphertext is written. Returns the plaintext bytes delivered,
        or -1 when the client is gone."""
        cdef Py_ssize_t delivered = 0
        cdef int r
        while True:
            if self.cipher is not None:
                r = self.send_pending(fd)
                if r < 0:
                    return -1
                if r == 0:
                    return delivered
                if self.covers:
                    del out[:self.covers]
                self.item_offset = self.next_offset
                delivered += self.covers_bytes
                self.covers = self.covers_bytes = 0
            if not out:
                return delivered
            if self.encrypt_next(out) < 0:
                return -1

    cdef int encrypt_next(self, list out) except -2:
        """Encrypt up to TLS_BATCH bytes from the head of ``out``: runs of
        small items joined into one record, a large item in place (a slice
        of at most what is left of the batch). -1 when the session broke
        (an alert from the client)."""
        cdef Py_ssize_t i = 0, j, count = len(out), total = 0, run, size, end
        cdef Py_ssize_t offset = self.item_offset
        cdef bytes item
        write = self.sslobj.write
        while i < count and total < TLS_BATCH:
            item = <bytes>out[i]
            size = PyBytes_GET_SIZE(item)
            if offset == 0 and size <= JOIN_LIMIT:
                j = i + 1
                run = size
                while j < count and run + PyBytes_GET_SIZE(<bytes>out[j]) <= JOIN_LIMIT:
                    run += PyBytes_GET_SIZE(<bytes>out[j])
                    j += 1
                try:
                    write(item if j == i + 1 else b"".join(out[i:j]))
                except self.ssl_error as exc:
                    self.failed = True
                    self.error = exc
                    return -1
                total += run
                i = j
            else:
                end = min(size, offset + TLS_BATCH - total)
                try:
                    write(PyMemoryView_FromMemory(PyBytes_AS_STRING(item) + offset, end - offset,
                                                  PyBUF_READ))
                except self.ssl_error as exc:
                    self.failed = True
                    self.error = exc
                    return -1
                total += end - offset
                if end < size:
                    offset = end
                    break
                offset = 0
                i += 1
        self.covers = i
        self.covers_bytes = total
        self.next_offset = offset
        return self.take_output()

    cdef int take_output(self) except -1:
        """Move what OpenSSL wrote into the outgoing BIO behind ``cipher``."""
        if not self.outgoing.pending:
            return 0
        data = self.outgoing.read()
        if self.cipher is None:
            self.cipher = data
        else:
            self.cipher = self.cipher[self.cipher_at:] + data
        self.cipher_at = 0
        return 0

    cdef int send_pending(self, int fd) except -2:
        """Write ``cipher``: 1 when all of it is written, 0 when the socket
        is full, -1 when the client is gone."""
        cdef ssize_t n
        cdef const char *data
        cdef Py_ssize_t size
        while self.cipher is not None:
            data = PyBytes_AS_STRING(self.cipher)
            size = PyBytes_GET_SIZE(self.cipher)
            n = send(fd, data + self.cipher_at, size - self.cipher_at, MSG_NOSIGNAL)
            if n < 0:
                if errno == EINTR:
                    continue
                return 0 if errno == EAGAIN else -1
            self.cipher_at += n
            if self.cipher_at == size:
                self.cipher = None
                self.cipher_at = 0
        return 1

    cdef int close_notify(self, int fd) except -1:
        """Before a clean close (RFC 9112 §9.8: the server starts the closure
        exchange), best effort: the client need not answer, nor read it."""
        if self.handshaking or self.failed:
            return 0
        try:
            self.sslobj.unwrap()
        except self.want_read:
            pass            # its close_notify: not waited for
        except self.ssl_error:
            return 0        # the stream broke; nothing clean to say
        self.take_output()
        self.send_pending(fd)
        return 0

    # -- what the app sees ---------------------------------------------------

    cdef dict environ(self):
        """The WSGI environ keys of this connection (prefork/tls.py)."""
        if self.environ_keys is None:
            self.environ_keys = self.config.connection_environ(self.sslobj)
        return self.environ_keys

    cdef int apply_to_scope(self, dict scope) except -1:
        """An ASGI scope of this connection: scheme https (wss for a
        WebSocket) and the asgiref TLS extension."""
        base = scope.get("extensions")
        if self.scope_extensions is None or base is not self.scope_base:
            extensions = dict(base) if base is not None else {}
            extensions["tls"] = self.config.connection_scope_tls(self.sslobj)
            self.scope_base = base
            self.scope_extensions = extensions
        scope["extensions"] = self.scope_extensions
        scope["scheme"] = "wss" if scope.get("type") == "websocket" else "https"
        return 0

    # For tests and the log.
    @property
    def version(self):
        return self.sslobj.version()
