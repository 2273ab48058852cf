# C interface of the PROXY protocol header reader (prefork/http/_proxy.pyx).

# What one read of the header came to.
cdef enum:
    PROXY_WANT = 0              # incomplete: wait for the socket
    PROXY_DONE = 1              # read and valid; the socket holds only what follows it
    PROXY_FAILED = 2            # invalid, too long or cut short (``error`` says why)

cdef enum:
    # HAProxy's limit for a version 1 line, CRLF included ("PROXY UNKNOWN"
    # with two IPv6 addresses and two ports).
    PROXY_V1_LIMIT = 107
    # Ours for a whole version 2 header (16 bytes, the addresses, the TLVs):
    # the protocol allows 16 + 65535; a load balancer's TLVs (an AWS VPC
    # endpoint, a unique id of at most 128 bytes, a TLS client's CN) fit
    # in far less.
    PROXY_V2_LIMIT = 4096


cdef class ProxyHeader:
    cdef unsigned char buf[PROXY_V2_LIMIT]
    cdef Py_ssize_t have            # bytes of the header read so far
    cdef readonly int version       # 1 or 2 once the signature is seen, else 0
    cdef readonly str client_addr   # the client the header names, or None: keep the socket's peer
    cdef readonly int client_port
    cdef readonly str error         # why the header was refused, for the log

    cdef int read(self, int fd) except -1
    cdef bint check_signature(self) except -1
    cdef int parse_v1(self) except -1
    cdef int parse_v2(self) except -1
    cdef int check_tlvs(self, Py_ssize_t start, Py_ssize_t end) except -1
    cdef int fail(self, str why) except -1
