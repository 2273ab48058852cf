"""The worker's event loop: epoll readiness, timers and thread-safe callbacks.

It knows nothing of HTTP. Handlers are cdef objects keyed by fd, so a
readiness event is dispatched without a Python-level call. The GIL is
released while waiting, so app threads (``--threads``) run meanwhile.
One iteration: wait, dispatch the batch of events, run the ready callbacks,
call the ``batch_hook`` (work postponed to the batch's end, such as the
HTTP service's writes), run the timers that were due when the timers
started, then beat the heartbeat if it is due.

Invariants:
- a handler is in ``handlers`` exactly while its fd is in the epoll set;
- callbacks added from other threads only touch ``pending`` under ``lock``
  and wake the loop through an eventfd;
- an iteration always ends: a callback or timer added while the ready
  callbacks or the timers run waits for the next iteration, so a timer
  rescheduled from inside ``run_timers`` (even one already due) cannot keep
  the loop from waiting on epoll again;
- a deadline is computed from a fresh clock (``call_later`` reads it,
  ``now`` is refreshed before every handler), so a batch of any length
  cannot make a new timer or deadline due before it was meant to be;
- the heartbeat is written only at the end of an iteration: it proves that
  the loop serves events, not merely that some callback still runs.
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

cdef extern from *:
    """
    /* One aligned 8-byte store or load: a reader in another process never
       sees half of an old value and half of a new one. */
    static inline void prefork_store_u64(uint64_t *p, uint64_t v) {
        __atomic_store_n(p, v, __ATOMIC_RELEASE);
    }
    static inline uint64_t prefork_load_u64(const uint64_t *p) {
        return __atomic_load_n(p, __ATOMIC_ACQUIRE);
    }
    """
    void prefork_store_u64(uint64_t *p, uint64_t v) nogil
    uint64_t prefork_load_u64(const uint64_t *p) nogil

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
    cdef int begin_batch(self) except -1:
        return 0

    cdef int end_batch(self) except -1:
        return 0


cdef inline uint64_t monotonic_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <uint64_t>ts.tv_sec * 1000000000 + <uint64_t>ts.tv_nsec


cdef class Heartbeat:
    """A heartbeat in shared memory: CLOCK_MONOTONIC in nanoseconds (one
    clock for every process on the host), stored and loaded as one aligned
    8-byte word. The worker's loop beats it; the master reads it."""

    def __init__(self, buffer):
        cdef unsigned char[::1] view = buffer
        if view.shape[0] < 8 or (<size_t>&view[0]) % 8:
            raise ValueError("a heartbeat needs 8 aligned bytes")
        self.buffer = buffer            # keeps the memory alive
        self.word = <uint64_t *>&view[0]

    cpdef void beat(self):
        prefork_store_u64(self.word, monotonic_ns())

    def silence(self):
        """Seconds since the last beat; None when the stored value cannot
        be a beat of this host's clock (zero, or later than now)."""
        cdef uint64_t last = prefork_load_u64(self.word)
        cdef uint64_t now = monotonic_ns()
        if last == 0 or last > now + 1000000000:
            return None
        return (<double>now - <double>last) * 1e-9 if now > last else 0.0

    def store(self, uint64_t value):
        """Write a raw value (tests of the reader's checks)."""
        prefork_store_u64(self.word, value)


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
        self.heartbeat = None
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

    def wake(self):
        """Make the loop's epoll wait return (from any thread)."""
        cdef uint64_t one = 1
        write(self.wakefd, &one, 8)

    def call_soon_threadsafe(self, callback, *args):
        cdef uint64_t one = 1
        with self.lock:
            self.pending.append((callback, args))
        write(self.wakefd, &one, 8)

    def call_later(self, double delay, callback, *args):
        """Run ``callback(*args)`` after ``delay`` seconds; returns a handle
        whose ``cancel()`` stops it. The deadline is taken from a fresh
        clock, not ``now``: called after a long app call, ``now`` is that
        long in the past."""
        self.timer_seq += 1
        entry = [monotonic() + delay, self.timer_seq, callback, args]
        heapq.heappush(self.timers, entry)
        return TimerHandle(entry)

    def time(self):
        return monotonic()

    def set_heartbeat(self, Heartbeat heartbeat, double interval):
        """Beat ``heartbeat`` at the end of an iteration, at most once per
        ``interval`` seconds; an idle loop wakes up to beat."""
        self.heartbeat = heartbeat
        self.beat_interval = interval
        self.next_beat = 0.0

    def stop(self):
        self.running = False
        self.stop_requested = True

    def run(self):
        """Run until stop() is called, at once if it was called before (a
        worker that had nothing to drain when a stop came during its boot
        stops before its loop runs)."""
        if not self.stop_requested:
            self.running = True
            while self.running:
                self.run_once(1.0)
        self.stop_requested = False

    # Hosted in another loop (an ASGI worker runs this loop inside asyncio's,
    # prefork/asgi/loop.py): that loop watches fileno(), calls poll() when
    # it is readable and when next_wakeup() has passed.

    def fileno(self):
        return self.epfd

    def poll(self):
        """One iteration that does not wait."""
        self.run_once(0.0)

    def next_wakeup(self):
        """Seconds until a timer (or the heartbeat) is due; 0 when callbacks
        are ready to run."""
        self.now = monotonic()
        return self.next_timeout(1.0)

    @property
    def is_running(self):
        return self.running

    def start(self):
        """Mark the loop running when another loop drives it (unless stop()
        came first: the host sees it is not running and stops)."""
        self.running = not self.stop_requested
        self.stop_requested = False

    cdef double next_timeout(self, double limit):
        if self.ready:
            return 0.0
        if self.heartbeat is not None and self.next_beat - self.now < limit:
            limit = max(self.next_beat - self.now, 0.0)
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
        self.dispatching = True
        self.now = monotonic()
        self.batch_size = n
        if n and self.batch_hook is not None:
            self.batch_hook.begin_batch()
        for i in range(n):
            obj = self.handlers.get(events[i].data.fd)
            if obj is None:
                continue    # closed earlier in this batch
            handler = <Handler>obj
            if i:
                # The previous handler may have run the app for seconds:
                # deadlines set from here on start from the real time.
                self.now = monotonic()
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
        self.dispatching = False
        if self.heartbeat is not None:
            self.now = monotonic()
            if self.now >= self.next_beat:
                self.heartbeat.beat()
                self.next_beat = self.now + self.beat_interval
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
        """Run the timers due now. Those a timer adds, even already due,
        wait for the next iteration (the loop's invariant)."""
        cdef double now = monotonic()
        cdef list due = []
        self.now = now
        while self.timers and self.timers[0][0] <= now:
            due.append(heapq.heappop(self.timers))
        for entry in due:
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
