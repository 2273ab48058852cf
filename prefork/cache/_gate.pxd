# C interface of the cache gate (prefork/cache/_gate.pyx): what a connection
# calls, at a few points of a request, to use the shared response cache.
from libc.stdint cimport uint64_t

from prefork.cache._lookup cimport SharedCache
from prefork._speedups cimport Request
from prefork.wsgi._bridge cimport EnvironBuilder


cdef class CacheTicket:
    """One connection's cache state for its current request (reused)."""
    cdef str state                  # "HIT", "STALE", "MISS", "BYPASS" or None (for logs)
    cdef bint fill                  # this request fills the key (release_fill when done)
    cdef uint64_t key_hash
    cdef uint64_t fill_seq          # its fill marker, 0 when unmarked
    cdef uint64_t fill_generation   # the store's, when the fill was won
    cdef object decision            # prefork.cache.policy.Decision while capturing
    cdef list body                  # captured body chunks, or None
    cdef Py_ssize_t size
    cdef bint capturing
    # The connection it belongs to (a background refresh's environ comes from it).
    cdef str remote_addr
    cdef int remote_port
    cdef tuple server
    # Request coalescing: set by before_app when another request is filling
    # the key; the connection then calls CacheGate.wait().
    cdef readonly bint waiting
    cdef Request request            # the request that waits
    cdef bint keep_alive
    cdef object resume              # the connection's resume(answer or None), while parked
    cdef double wait_until          # monotonic; then it gives up (--cache-lock-timeout)
    cdef double next_check          # monotonic; when it looks at the store again
    cdef double interval            # between looks (doubling, up to MAX_POLL)


cdef class Refresh:
    """A background refresh of one stale entry (stale-while-revalidate)."""
    cdef Request request
    cdef uint64_t key_hash, fill_seq, fill_generation
    cdef dict environ               # built when it began: the ticket is reused


cdef class CacheGate:
    cdef SharedCache cache
    cdef object decide              # prefork.cache.policy.decide
    cdef object invalidated_uris    # prefork.cache.policy.invalidated_uris
    cdef frozenset allow            # addresses allowed to PURGE and read counters
    cdef bytes stats_path
    cdef bint honor_no_cache
    cdef bint x_header
    cdef readonly Py_ssize_t max_entry
    cdef double lock_timeout        # --cache-lock-timeout
    cdef str tag_name               # --cache-tag-header, lowercase (None: no tags)
    cdef bytes tag_field            # the same, as request header names come
    cdef bint strip_tags            # not --cache-tag-keep: clients never see the tag field
    # What a background refresh needs: the worker's loop, app, environ
    # builder and thread pool (None: refreshes run inline, on the loop).
    cdef object loop
    cdef object app
    cdef EnvironBuilder environ
    cdef object executor
    cdef object log
    cdef list waiting               # parked CacheTickets
    cdef int timer_fd               # timerfd: wakes the loop when a waiter is due
    cdef double timer_at            # when it is set to fire; 0: disarmed

    cdef object before_app(self, CacheTicket t, Request req, str remote, bint keep_alive, double now)
    cdef int wait(self, CacheTicket t, object resume) except -1
    cdef list on_head(self, CacheTicket t, Request req, object status, list headers)
    cdef object stale_for_error(self, CacheTicket t, Request req, bint keep_alive, double now)
    cdef int capture(self, CacheTicket t, bytes data) except -1
    cdef int on_finish(self, CacheTicket t, Request req, object status, list headers,
                       bint complete, double now) except -1
    cdef int abandon(self, CacheTicket t, bint stored=*) except -1
    # --- private ---
    cdef int take_fill(self, CacheTicket t) except -1
    cdef int end_fill(self, uint64_t key_hash, uint64_t seq, bint stored) except -1
    cdef int check_waiting(self) except -1
    cdef int resume(self, CacheTicket t, object answer) except -1
    cdef int start_refresh(self, CacheTicket t, Request req) except -1
    cdef int store_refresh(self, Refresh job, object outcome) except -1
    cdef int arm(self, double at) except -1
    cdef int rearm(self) except -1
    cdef object answer_control(self, Request req, str remote, bint keep_alive)
    cdef list request_tags(self, Request req)
    cdef bytes simple(self, Request req, int code, bytes body, str content_type, bint keep_alive)
