# C interface of the per-request deadline (prefork/worker/_deadline.pyx).
from prefork.worker._loop cimport EventLoop


cdef class DeadlineNode:
    """A connection's place in the list of running requests (one per
    connection: it serves one request at a time)."""
    cdef DeadlineNode prev, next
    cdef readonly double when       # monotonic time the request's deadline passes
    cdef readonly double started    # monotonic time the app was called
    cdef bint linked
    cdef object owner               # the connection; its on_deadline() is called


cdef class Deadlines:
    """--request-timeout for one worker: the running requests in deadline
    order, the loop timer for the first, and (inline WSGI) the timer signal
    that interrupts the app."""
    cdef readonly double timeout
    cdef EventLoop loop
    cdef DeadlineNode head, tail
    cdef object timer               # the loop's TimerHandle for head, or None
    cdef double app_deadline        # the app code running now must end by then (0: none)
    cdef bint interrupts            # the timer signal is set up (inline WSGI)
    cdef object log
    # Counters (exported by the metrics): requests that ran past the
    # deadline; app threads left running (--threads), in total and now.
    cdef readonly long long timed_out
    cdef readonly long long abandoned
    cdef readonly long long abandoned_running
    cdef set abandoned_calls

    cdef int start(self, DeadlineNode node) except -1
    cdef void stop(self, DeadlineNode node) noexcept
    cdef int enter_app(self, double when) except -1
    cdef void leave_app(self) noexcept
    cdef int abandon(self, object call) except -1
    cdef bint finished_abandoned(self, object call) except -1
