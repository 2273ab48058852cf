# C interface of the cache gate (prefork/cache/_gate.pyx): what a connection
# calls, at a few points of a request, to use the shared response cache.
from libc.stdint cimport uint64_t

from prefork.cache._lookup cimport SharedCache
from prefork._speedups cimport Request


cdef class CacheTicket:
    """One connection's cache state for its current request (reused)."""
    cdef str state                  # "HIT", "STALE", "MISS", "BYPASS" or None (for logs)
    cdef bint fill                  # this request holds the key's fill marker
    cdef uint64_t key_hash
    cdef uint64_t fill_generation   # the store's, when the fill was won
    cdef object decision            # prefork.cache.policy.Decision while capturing
    cdef list body                  # captured body chunks, or None
    cdef Py_ssize_t size
    cdef bint capturing


cdef class CacheGate:
    cdef SharedCache cache
    cdef object decide              # prefork.cache.policy.decide
    cdef object invalidated_uris    # prefork.cache.policy.invalidated_uris
    cdef frozenset allow            # addresses allowed to PURGE and read counters
    cdef bytes stats_path
    cdef bint honor_no_cache
    cdef bint x_header
    cdef Py_ssize_t max_entry

    cdef object before_app(self, CacheTicket t, Request req, str remote, bint keep_alive, double now)
    cdef list on_head(self, CacheTicket t, Request req, object status, list headers)
    cdef object stale_for_error(self, CacheTicket t, Request req, bint keep_alive, double now)
    cdef int capture(self, CacheTicket t, bytes data) except -1
    cdef int on_finish(self, CacheTicket t, Request req, object status, list headers,
                       bint complete, double now) except -1
    cdef int abandon(self, CacheTicket t) except -1
    cdef object answer_control(self, Request req, str remote, bint keep_alive)
    cdef bytes simple(self, Request req, int code, bytes body, str content_type, bint keep_alive)
