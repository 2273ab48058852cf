"""The compiled parts of prefork/asgi/loop.py, which they serve: running
prefork's loop inside asyncio's (AsyncioHost) and starting a request's
Task with its first step run at once (eager_call_soon, start_task).

PERF: in Python these cost about 1.5 us a request (the host's timer, the
call_soon override); compiled, a few hundred ns.
"""
import asyncio
import sys

from prefork.worker._loop cimport EventLoop

cdef bint EAGER_NATIVE = sys.version_info >= (3, 12)
Task = asyncio.Task


cdef class NoHandle:
    """What call_soon returns for a callback it ran at once."""

    def cancel(self):
        pass

    def cancelled(self):
        return False


cdef NoHandle NO_HANDLE = NoHandle()


def eager_call_soon(self, callback, *args, context=None):
    """The loop's call_soon (see loop.EagerStart): while ``self._eager`` is
    set, the callback (a new Task's first step) runs at once."""
    if self._eager:
        self._eager = False
        if context is None:
            callback(*args)
        else:
            context.run(callback, *args)
        return NO_HANDLE
    return self._base_call_soon(callback, *args, context=context)


def start_task(self, coro):
    """A Task whose first step has run when this returns."""
    if EAGER_NATIVE:
        return Task(coro, loop=self, eager_start=True)
    self._eager = True
    try:
        return Task(coro, loop=self)
    finally:
        self._eager = False


cdef class AsyncioHost:
    """Runs prefork's EventLoop inside an asyncio loop; stops the asyncio
    loop when prefork's loop is stopped (see loop.py)."""
    cdef EventLoop loop
    cdef object aloop
    cdef object timer
    cdef double timer_at
    cdef bint wake_due
    cdef object call_soon, call_at, time

    def __init__(self, EventLoop loop, aloop):
        self.loop = loop
        self.aloop = aloop
        self.timer = None
        self.timer_at = 0.0
        self.wake_due = False
        self.call_soon = aloop.call_soon
        self.call_at = aloop.call_at
        self.time = aloop.time
        aloop.add_reader(loop.fileno(), self.pump)

    def pump(self):
        self.wake_due = False
        self.loop.poll()
        if not self.loop.is_running:
            self.aloop.stop()
            return
        self.arm()

    cdef int arm(self) except -1:
        """Come back when prefork's next timer (or heartbeat) is due. A
        timer that fires no later than needed is kept (it re-arms when it
        fires): the next deadline is mostly the once-a-second tick."""
        cdef double delay = self.loop.next_wakeup()
        cdef double when
        if delay <= 0:
            self.wake()
            return 0
        when = self.time() + delay
        if self.timer is not None and self.timer_at <= when:
            return 0
        if self.timer is not None:
            self.timer.cancel()
        self.timer_at = when
        self.timer = self.call_at(when, self.fire)
        return 0

    def fire(self):
        self.timer = None
        self.pump()

    def wake(self):
        """An iteration of prefork's loop soon (work queued from outside it)."""
        if not self.wake_due:
            self.wake_due = True
            self.call_soon(self.pump)

    def run(self):
        self.loop.start()
        self.arm()
        try:
            self.aloop.run_forever()
        finally:
            self.aloop.remove_reader(self.loop.fileno())
            if self.timer is not None:
                self.timer.cancel()
