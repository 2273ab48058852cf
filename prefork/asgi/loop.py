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

The host and the eager start are compiled (``_host.pyx``); this module
declares the loop classes that use them.
"""
import asyncio

from prefork.asgi._host import AsyncioHost, eager_call_soon, start_task  # noqa: F401


class EagerStart:
    """Mixed into an event loop class: ``start_task(coro)`` creates a Task
    whose first step runs before it returns (compiled in _host.pyx)."""

    _eager = False
    call_soon = eager_call_soon
    start_task = start_task


class EagerSelectorLoop(EagerStart, asyncio.SelectorEventLoop):
    """asyncio's own loop, with eager Task starts."""
    _base_call_soon = asyncio.SelectorEventLoop.call_soon


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
            return type("EagerUVLoop", (EagerStart, uvloop.Loop),
                        {"_base_call_soon": uvloop.Loop.call_soon})()
    return EagerSelectorLoop()
