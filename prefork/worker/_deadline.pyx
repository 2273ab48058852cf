"""``--request-timeout``: a deadline for each request's app, apart from the
heartbeat ``--timeout`` (which replaces a worker whose loop is stuck).

A request's deadline starts when its app is called. What happens when it
passes depends on where the app runs (the connection acts: on_deadline in
prefork/http/_connection.pyx and prefork/asgi/_connection.pyx):
- inline WSGI: a timer signal (SIGALRM, sent to the loop's thread only)
  raises RequestTimeout inside the app's code, which unwinds the app; the
  worker answers 504 and serves on. Python code and the C calls that wait
  for a signal-interruptible system call (time.sleep, socket and file
  reads, select, subprocess waits) are interrupted; a C extension that
  does not return to the interpreter is not, until it returns (then the
  heartbeat is the limit);
- --threads: a thread cannot be interrupted; the client gets its answer at
  the deadline and the thread is left to finish, counted (abandoned);
- ASGI: the request's task is cancelled.

Invariants:
- every request gets the same timeout, so the list of running requests,
  appended to as they start, is in deadline order: one loop timer, for the
  head, serves them all; finishing a request unlinks it in O(1);
- the signal only raises while app code runs (``app_deadline`` is set
  between enter_app and leave_app) and the deadline has passed: a signal
  that arrives late, after the app returned, does nothing.
"""
import logging
import signal

from prefork.worker._loop cimport EventLoop, monotonic

cdef extern from *:
    """
    #include <signal.h>
    #include <string.h>
    #include <time.h>
    #include <unistd.h>
    #include <sys/syscall.h>

    /* A CLOCK_MONOTONIC timer whose SIGALRM goes to the calling thread
       only (the loop's): a process-wide alarm may be delivered to any
       thread, and would then not interrupt the app's system call. */
    static int prefork_alarm_create(timer_t *timer) {
        struct sigevent ev;
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_THREAD_ID;
        ev.sigev_signo = SIGALRM;
        ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
        return timer_create(CLOCK_MONOTONIC, &ev, timer);
    }

    static int prefork_alarm_set(timer_t timer, double seconds) {
        struct itimerspec spec;
        memset(&spec, 0, sizeof spec);
        if (seconds > 0) {
            spec.it_value.tv_sec = (time_t)seconds;
            spec.it_value.tv_nsec = (long)((seconds - (double)spec.it_value.tv_sec) * 1e9);
            if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0)
                spec.it_value.tv_nsec = 1;
        }
        return timer_settime(timer, 0, &spec, NULL);
    }
    """
    ctypedef void *timer_t
    int prefork_alarm_create(timer_t *timer)
    int prefork_alarm_set(timer_t timer, double seconds) nogil

cdef timer_t ALARM


class RequestTimeout(BaseException):
    """Raised inside an inline app whose request ran past --request-timeout.
    A BaseException, like KeyboardInterrupt, so that an app's ``except
    Exception`` does not swallow it."""


cdef class DeadlineNode:

    def __init__(self, owner):
        self.owner = owner
        self.linked = False


cdef class Deadlines:

    def __init__(self, EventLoop loop, double timeout):
        self.loop = loop
        self.timeout = timeout
        self.timer = None
        self.app_deadline = 0
        self.interrupts = False
        self.abandoned_calls = set()
        self.log = logging.getLogger("prefork.error")

    def enable_interrupts(self):
        """Inline WSGI: set up the timer signal, from the loop's thread."""
        if prefork_alarm_create(&ALARM) != 0:
            raise OSError("timer_create failed")
        signal.signal(signal.SIGALRM, self.on_alarm)
        self.interrupts = True

    def on_alarm(self, signum, frame):
        # Python runs this on the loop's thread, between two bytecodes of
        # the app (or as its system call returns EINTR).
        if self.app_deadline and monotonic() >= self.app_deadline - 0.001:
            self.app_deadline = 0
            raise RequestTimeout()

    cdef int enter_app(self, double when) except -1:
        if self.interrupts:
            self.app_deadline = when
            prefork_alarm_set(ALARM, max(when - monotonic(), 1e-6))
        return 0

    cdef void leave_app(self) noexcept:
        if self.interrupts and self.app_deadline:
            self.app_deadline = 0
            prefork_alarm_set(ALARM, 0)
        self.app_deadline = 0

    # -- the running requests ----------------------------------------------

    cdef int start(self, DeadlineNode node) except -1:
        cdef double now = monotonic()
        if node.linked:
            self.stop(node)
        node.started = now
        node.when = now + self.timeout
        node.linked = True
        node.prev = self.tail
        node.next = None
        if self.tail is not None:
            self.tail.next = node
        else:
            self.head = node
        self.tail = node
        if self.timer is None:
            self.timer = self.loop.call_later(self.timeout, self.expire)
        return 0

    cdef void stop(self, DeadlineNode node) noexcept:
        if not node.linked:
            return
        if node.prev is not None:
            node.prev.next = node.next
        else:
            self.head = node.next
        if node.next is not None:
            node.next.prev = node.prev
        else:
            self.tail = node.prev
        node.prev = node.next = None
        node.linked = False

    def expire(self):
        """The loop timer: act on every request past its deadline, then
        wait for the next one's. (A request that finished meanwhile left the
        list; the timer then only moves on.)"""
        cdef DeadlineNode node
        cdef double now = monotonic()
        self.timer = None
        while self.head is not None and self.head.when <= now:
            node = self.head
            self.stop(node)
            try:
                node.owner.on_deadline()
            except Exception:
                self.log.exception("error ending a request past its deadline")
        if self.head is not None:
            self.timer = self.loop.call_later(max(self.head.when - now, 0.0), self.expire)

    # -- app threads left running (--threads) --------------------------------

    cdef int abandon(self, object call) except -1:
        self.abandoned += 1
        self.abandoned_running += 1
        self.abandoned_calls.add(call)
        return 0

    cdef bint finished_abandoned(self, object call) except -1:
        """An app thread came back: True if it had been abandoned."""
        if call in self.abandoned_calls:
            self.abandoned_calls.discard(call)
            self.abandoned_running -= 1
            return True
        return False
