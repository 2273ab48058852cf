# C interface of the worker's event loop (prefork/worker/_loop.pyx).
from libc.stdint cimport uint32_t, uint64_t
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec


cdef inline double monotonic() noexcept nogil:
    """CLOCK_MONOTONIC in seconds (a vDSO call, no syscall)."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef class Handler:
    """Something registered with the loop for readiness events on one fd."""
    cdef public int fd
    # Called with the epoll event mask. An exception is logged by the loop,
    # which then calls abort() so the handler can release its fd.
    cdef int on_events(self, uint32_t events) except -1
    cdef void abort(self)


cdef class BatchHook:
    """Work postponed to the end of the loop's current batch of events."""
    # Called when epoll_wait returned events, before they are dispatched.
    cdef int begin_batch(self) except -1
    # Called once per iteration, after the batch's events and callbacks.
    cdef int end_batch(self) except -1


cdef class Heartbeat:
    """A beat time in shared memory, written and read as one 8-byte word."""
    cdef object buffer
    cdef uint64_t *word
    cpdef void beat(self)


cdef class EventLoop:
    cdef BatchHook batch_hook       # or None
    cdef int epfd
    cdef int wakefd                 # eventfd written by call_soon_threadsafe
    cdef dict handlers              # fd -> Handler
    cdef list ready                 # [(callback, args)] to run on this iteration
    cdef list pending               # filled from other threads, under lock
    cdef object lock
    cdef list timers                # heap of [when, seq, callback, args]
    cdef long long timer_seq
    cdef bint running
    cdef bint stop_requested        # stop() came before run() or start()
    # Monotonic time, refreshed after the wait, before every handler and
    # before the timers; a connection refreshes it after an inline app call.
    cdef readonly int batch_size    # events in the batch being dispatched
    cdef readonly bint dispatching  # inside run_once (not in an outer loop's callback)
    cdef readonly double now
    cdef Heartbeat heartbeat        # or None
    cdef double beat_interval, next_beat
    cdef object log

    cdef int register(self, Handler handler, uint32_t events) except -1
    cdef int modify(self, Handler handler, uint32_t events) except -1
    cdef int unregister(self, Handler handler) except -1
    cdef int run_once(self, double timeout) except -1
    cdef double next_timeout(self, double limit)
    cdef int run_timers(self) except -1
    cdef int run_ready(self) except -1
