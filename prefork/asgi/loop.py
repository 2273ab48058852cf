"""The event loop of an ASGI worker: asyncio's (uvloop's when installed and
asked for), so whatever the app awaits (asyncpg, httpx, asyncio.sleep)
works, with prefork's compiled loop running inside it.

asyncio watches the descriptor of prefork's epoll set and, when it is
readable or when prefork's next timer is due, runs one iteration of
prefork's loop without waiting (``AsyncioHost.pump``): connections, the
batched writes and the heartbeat stay where they are on the WSGI path.

Each request's coroutine runs in an asyncio Task that is stepped at once,
inside the iteration that parsed its request: on Python 3.12 and later
with ``eager_start``; on 3.11 the loop runs the Task's first step from the
``call_soon`` the Task makes in its constructor (``EagerStart``). A handler
that awaits no I/O thus ends before the batch's writes go out; one that
waits continues as any asyncio Task. The Task is a real one, so
``asyncio.current_task()``, contextvars, ``asyncio.timeout`` and anyio's
cancel scopes see the same task at every step.
"""
import asyncio
import sys

_EAGER_NATIVE = sys.version_info >= (3, 12)


class _NoHandle:
    """What call_soon returns for a callback it ran at once."""
    __slots__ = ()

    def cancel(self):
        pass

    def cancelled(self):
        return False


_NO_HANDLE = _NoHandle()


class EagerStart:
    """Mixed into an event loop class: ``start_task(coro)`` creates a Task
    whose first step runs before it returns."""

    _eager = False

    def call_soon(self, callback, *args, context=None):
        if self._eager:
            # The Task constructor scheduling its first step: run it now.
            self._eager = False
            if context is None:
                callback(*args)
            else:
                context.run(callback, *args)
            return _NO_HANDLE
        return super().call_soon(callback, *args, context=context)

    def resolve_now(self, future, value):
        """``future.set_result(value)``, with the Task awaiting it stepped
        before this returns (a WebSocket message reaches the app inside
        the batch that read it, and its answer goes out with that batch)."""
        if future.done():
            return
        self._eager = True
        try:
            future.set_result(value)
        finally:
            self._eager = False

    def start_task(self, coro):
        if _EAGER_NATIVE:
            return asyncio.Task(coro, loop=self, eager_start=True)
        self._eager = True
        try:
            return asyncio.Task(coro, loop=self)
        finally:
            self._eager = False


class EagerSelectorLoop(EagerStart, asyncio.SelectorEventLoop):
    """asyncio's own loop, with eager Task starts."""


def new_event_loop(kind="auto"):
    """``auto``: uvloop if it is installed, else asyncio's loop; ``uvloop``
    or ``asyncio`` to choose. Raises ImportError for uvloop if it is absent."""
    if kind in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if kind == "uvloop":
                raise
        else:
            return type("EagerUVLoop", (EagerStart, uvloop.Loop), {})()
    return EagerSelectorLoop()


class AsyncioHost:
    """Runs prefork's EventLoop inside an asyncio loop (see the module's
    docstring); stops the asyncio loop when prefork's loop is stopped."""

    def __init__(self, loop, aloop):
        self.loop = loop
        self.aloop = aloop
        self.timer = None
        self.wake_due = False
        aloop.add_reader(loop.fileno(), self.pump)

    def pump(self):
        self.wake_due = False
        self.loop.poll()
        if not self.loop.is_running:
            self.aloop.stop()
            return
        self.arm()

    def arm(self):
        """Come back when prefork's next timer (or heartbeat) is due."""
        delay = self.loop.next_wakeup()
        if self.timer is not None:
            self.timer.cancel()
        if delay <= 0:
            self.timer = None
            self.wake()
        else:
            self.timer = self.aloop.call_later(delay, self.pump)

    def wake(self):
        """An iteration of prefork's loop soon (work queued from outside it)."""
        if not self.wake_due:
            self.wake_due = True
            self.aloop.call_soon(self.pump)

    def run(self):
        self.loop.start()
        self.arm()
        try:
            self.aloop.run_forever()
        finally:
            self.aloop.remove_reader(self.loop.fileno())
            if self.timer is not None:
                self.timer.cancel()
