"""Documentation of the per-request deadline (prefork/worker/_deadline.pyx):
--request-timeout."""
from typing import Any

from prefork.worker._loop import EventLoop

class RequestTimeout(BaseException):
    """Raised inside an inline WSGI app past its deadline (a BaseException,
    so ``except Exception`` in the app lets it through)."""

class DeadlineNode:
    """A connection's place in the list of running requests."""
    when: float                 # monotonic time its deadline passes
    started: float              # monotonic time its app was called
    def __init__(self, owner: Any) -> None: ...

class Deadlines:
    """One worker's running requests in deadline order, and their timer."""
    timeout: float
    timed_out: int              # requests that ran past the deadline (a counter)
    abandoned: int              # --threads: app threads left running, in total
    abandoned_running: int      # ... and still running now
    def __init__(self, loop: EventLoop, timeout: float) -> None: ...
    def enable_interrupts(self) -> None:
        """Inline WSGI: a SIGALRM timer aimed at the calling (loop) thread."""
    def on_alarm(self, signum: int, frame: Any) -> None:
        """The SIGALRM handler: raises RequestTimeout while app code runs
        past its deadline, does nothing otherwise."""
    def expire(self) -> None:
        """The loop timer: end every request past its deadline."""
