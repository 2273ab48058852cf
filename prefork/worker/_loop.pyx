"""The worker's event loop: epoll readiness, timers and thread-safe callbacks.

It knows nothing of HTTP. Handlers are cdef objects keyed by fd, so a
readiness event is dispatched without a Python-level call. The GIL is
released while waiting, so app threads (``--threads``) run meanwhile.
One iteration: wait, dispatch the batch of events, run the ready callbacks,
call the ``batch_hook`` (work postponed to the batch's end, such as the
HTTP service's writes), then the due timers.

Invariants: a handler is in ``handlers`` exactly while its fd is in the
epoll set; callbacks added from other threads only touch ``pending`` under
``lock`` and wake the loop through an eventfd.
"""
import heapq
import logging
import threading

from cpython.exc cimport PyErr_CheckSignals
from libc.errno cimport EINTR, errno
from libc.stdint cimport uint32_t, uint64_t
from posix.unistd cimport close, read, write

cdef extern from "sys/epoll.h" nogil:
    ctypedef union epoll_data_t:
        void *ptr
        int fd
        uint32_t u32
        uint64_t u64
    struct epoll_event:
        uint32_t events
        epoll_data_t data
    int epoll_create1(int flags)
    int epoll_ctl(int epfd, int op, int fd, epoll_event *event)
    int epoll_wait(int epfd, epoll_event *events, int maxevents, int timeout)
    enum:
        EPOLL_CLOEXEC
        EPOLL_CTL_ADD
        EPOLL_CTL_MOD
        EPOLL_CTL_DEL
        EPOLLIN
        EPOLLOUT
        EPOLLERR
        EPOLLHUP
        EPOLLEXCLUSIVE

cdef extern from "sys/eventfd.h" nogil:
    int eventfd(unsigned int initval, int flags)
    enum:
        EFD_NONBLOCK
        EFD_CLOEXEC

# Exported for the Python side (worker/process.py) and the connection module.
READABLE = EPOLLIN
WRITABLE = EPOLLOUT
EXCLUSIVE = EPOLLEXCLUSIVE

cdef enum:
    MAX_EVENTS = 256


cdef class Handler:
    def __cinit__(self):
        self.fd = -1

    cdef int on_events(self, uint32_t events) except -1:
        return 0

    cdef void abort(self):
        pass


cdef class _CallbackHandler(Handler):
    """Adapts a Python callable to a Handler (for the worker's few
    Python-level fds, such as the signal wake-up pipe)."""
    cdef object callback

    def __init__(self, int fd, callback):
        self.fd = fd
        self.callback = callback

    cdef int on_events(self, uint32_t events) except -1:
        self.callback()
        return 0


cdef class _WakeHandler(Handler):
    """Drains the eventfd that other threads write to wake the loop."""
    cdef EventLoop loop

    def __init__(self, EventLoop loop):
        self.loop = loop
        self.fd = loop.wakefd

    cdef int on_events(self, uint32_t events) except -1:
        cdef uint64_t value
        read(self.fd, &value, 8)
        with self.loop.lock:
            self.loop.ready.extend(self.loop.pending)
            self.loop.pending.clear()
        return 0


cdef class BatchHook:
    cdef int end_batch(self) except -1:
        return 0


cdef class EventLoop:
    def __cinit__(self):
        self.epfd = -1
        self.wakefd = -1

    def __init__(self):
        self.epfd = epoll_create1(EPOLL_CLOEXEC)
        if self.epfd < 0:
            raise OSError(errno, "epoll_create1 failed")
        self.wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)
        if self.wakefd < 0:
            raise OSError(errno, "eventfd failed")
        self.handlers = {}
        self.ready = []
        self.pending = []
        self.lock = threading.Lock()
        self.timers = []
        self.timer_seq = 0
        self.running = False
        self.now = monotonic()
        self.log = logging.getLogger("prefork.error")
        self.register(_WakeHandler(self), EPOLLIN)

    def __dealloc__(self):
        if self.epfd >= 0:
            close(self.epfd)
        if self.wakefd >= 0:
            close(self.wakefd)

    cdef int register(self, Handler handler, uint32_t events) except -1:
        cdef epoll_event ev
        ev.events = events
        ev.data.u64 = 0
        ev.data.fd = handler.fd
        if epoll_ctl(self.epfd, EPOLL_CTL_ADD, handler.fd, &ev) < 0:
            raise OSError(errno, f"epoll_ctl(ADD, {handler.fd}) failed")
        self.handlers[handler.fd] = handler
        return 0

    cdef int modify(self, Handler handler, uint32_t events) except -1:
        cdef epoll_event ev
        ev.events = events
        ev.data.u64 = 0
        ev.data.fd = handler.fd
        if epoll_ctl(self.epfd, EPOLL_CTL_MOD, handler.fd, &ev) < 0:
            raise OSError(errno, f"epoll_ctl(MOD, {handler.fd}) failed")
        return 0

    cdef int unregister(self, Handler handler) except -1:
        cdef epoll_event ev
        if self.handlers.pop(handler.fd, None) is not None:
            epoll_ctl(self.epfd, EPOLL_CTL_DEL, handler.fd, &ev)
        return 0

    # Python-level API, used by worker/process.py and tests.

    def add_reader(self, int fd, callback):
        """Call ``callback()`` whenever ``fd`` is readable."""
        self.register(_CallbackHandler(fd, callback), EPOLLIN)

    def remove_reader(self, int fd):
        handler = self.handlers.get(fd)
        if handler is not None:
            self.unregister(handler)

    def call_soon(self, callback, *args):
        self.ready.append((callback, args))

    def call_soon_threadsafe(self, callback, *args):
        cdef uint64_t one = 1
        with self.lock:
            self.pending.append((callback, args))
        write(self.wakefd, &one, 8)

    def call_later(self, double delay, callback, *args):
        """Run ``callback(*args)`` after ``delay`` seconds; returns a handle
        whose ``cancel()`` stops it."""
        self.timer_seq += 1
        entry = [self.now + delay, self.timer_seq, callback, args]
        heapq.heappush(self.timers, entry)
        return TimerHandle(entry)

    def time(self):
        return monotonic()

    def stop(self):
        self.running = False

    def run(self):
        """Run until stop() is called."""
        self.running = True
        while self.running:
            self.run_once(1.0)

    cdef double next_timeout(self, double limit):
        if self.ready:
            return 0.0
        if self.timers:
            delay = self.timers[0][0] - monotonic()
            if delay < 0:
                return 0.0
            if delay < limit:
                return delay
        return limit

    cdef int run_once(self, double timeout) except -1:
        cdef epoll_event events[MAX_EVENTS]
        cdef int n, i, ms
        cdef Handler handler
        ms = <int>(self.next_timeout(timeout) * 1000.0 + 0.999)
        with nogil:
            n = epoll_wait(self.epfd, events, MAX_EVENTS, ms)
        if n < 0:
            if errno != EINTR:
                raise OSError(errno, "epoll_wait failed")
            n = 0
        # Python signal handlers run here: they only record the signal.
        PyErr_CheckSignals()
        self.now = monotonic()
        for i in range(n):
            obj = self.handlers.get(events[i].data.fd)
            if obj is None:
                continue    # closed earlier in this batch
            handler = <Handler>obj
            try:
                handler.on_events(events[i].events)
            except Exception:
                self.log.exception("error handling events on fd %d", handler.fd)
                handler.abort()
        if self.ready:
            self.run_ready()
        if self.batch_hook is not None:
            try:
                self.batch_hook.end_batch()
            except Exception:
                self.log.exception("error at the end of an event batch")
        if self.timers:
            self.run_timers()
        return 0

    cdef int run_ready(self) except -1:
        batch = self.ready
        self.ready = []
        for callback, args in batch:
            try:
                callback(*args)
            except Exception:
                self.log.exception("error in callback %r", callback)
        return 0

    cdef int run_timers(self) except -1:
        now = monotonic()
        while self.timers and self.timers[0][0] <= now:
            entry = heapq.heappop(self.timers)
            callback = entry[2]
            if callback is None:
                continue    # cancelled
            try:
                callback(*entry[3])
            except Exception:
                self.log.exception("error in timer %r", callback)
        return 0


class TimerHandle:
    """Returned by call_later; cancel() makes the timer a no-op."""
    __slots__ = ("_entry",)

    def __init__(self, entry):
        self._entry = entry

    def cancel(self):
        self._entry[2] = None
