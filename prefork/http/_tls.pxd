# C interface of a connection's TLS record layer (prefork/http/_tls.pyx).

# What one step of the handshake came to.
cdef enum:
    HANDSHAKE_WANT = 0          # under way: wait for the socket (want_write() says which way)
    HANDSHAKE_DONE = 1          # complete, and its last flight is written
    HANDSHAKE_FAILED = 2        # refused or broken (``error`` says why); an alert went out if it could
    HANDSHAKE_PLAIN_HTTP = 3    # the client sent plain HTTP: answer it in plain text, then close


cdef class TLSStream:
    cdef object config              # prefork.tls.TLSConfig
    cdef object sslobj              # ssl.SSLObject over the two memory BIOs
    cdef object incoming            # ssl.MemoryBIO: ciphertext received, not yet decrypted
    cdef object outgoing            # ssl.MemoryBIO: ciphertext made, not yet taken
    cdef object read                # sslobj.read, looked up once
    cdef object want_read           # ssl.SSLWantReadError
    cdef object closed_errors       # (ssl.SSLZeroReturnError, ssl.SSLEOFError)
    cdef object ssl_error           # ssl.SSLError
    cdef readonly bint handshaking  # the handshake is not complete (or its last flight not written)
    cdef bint handshake_done        # do_handshake() returned
    cdef bint first_byte_seen
    cdef bint failed
    cdef bint more                  # decrypted or undecrypted bytes may be left in the BIOs
    cdef readonly object error      # why the handshake failed, for the log
    # Ciphertext not yet written: cipher[cipher_at:]. It completes the first
    # ``covers`` items of the connection's write queue (``covers_bytes``
    # plaintext bytes), and leaves ``next_offset`` bytes of the next one done.
    cdef bytes cipher
    cdef Py_ssize_t cipher_at
    cdef Py_ssize_t covers
    cdef Py_ssize_t covers_bytes
    cdef Py_ssize_t item_offset     # bytes of the queue's first item already encrypted
    cdef Py_ssize_t next_offset
    # What the app sees of the connection, made at its first request.
    cdef dict environ_keys
    cdef object scope_base          # the extensions dict scope_extensions was made from
    cdef dict scope_extensions

    cdef int handshake(self, int fd) except -1
    cdef bint want_write(self)
    cdef ssize_t recv_into(self, int fd, unsigned char *dst, size_t n) except -2
    cdef Py_ssize_t write_from(self, int fd, list out) except -2
    cdef bint buffered(self)
    cdef int close_notify(self, int fd) except -1
    cdef dict environ(self)
    cdef int apply_to_scope(self, dict scope) except -1
    cdef int take_output(self) except -1
    cdef int send_pending(self, int fd) except -2
    cdef int encrypt_next(self, list out) except -2
