# C interface of the proxy fields (prefork/http/_forwarded.pyx).
from prefork._speedups cimport Request


cdef class Forwarded:
    """What a trusted proxy said about one request (None: not said)."""
    cdef readonly str client         # the client's address
    cdef readonly int client_port    # its port, 0 when not said
    cdef readonly str scheme         # "http" or "https"
    cdef readonly str host           # Host as the client sent it (host[:port])
    cdef readonly str port           # the port the client connected to, as a string

    cdef int apply_environ(self, dict environ) except -1
    cdef int apply_scope(self, dict scope) except -1


cdef class TrustedPeers:
    """The peers --forwarded-allow-ips names."""
    cdef readonly bint any_peer         # "*"
    cdef readonly bint unix_peers        # unix-socket peers
    cdef frozenset exact             # single addresses, as text
    cdef list networks               # (family, network as int, prefix length)
    cdef dict seen                   # address -> trusted, for the networks (bounded)

    cpdef bint trusts(self, str address, bint tcp=*)
    cdef Forwarded resolve(self, Request req)
    cdef int read_x_forwarded(self, Forwarded fwd, dict values) except -1
    cdef tuple pick_hop(self, list hops)
    cdef int read_forwarded(self, Forwarded fwd, str value) except -1
