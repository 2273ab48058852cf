"""The master's view of its workers, and the fork that starts one.

A Child is the master's record of one worker process. ``fork_worker``
forks; in the child it resets what the master set up (signal handlers, the
wake-up pipe, other workers' slots) and runs the Worker, ending with
``os._exit`` so it never returns into the master. (``random`` reseeds
itself after a fork.)
"""
import logging
import os
import signal
import sys

from prefork import exitcodes, hooks
from prefork.master.heartbeat import Slot
from prefork.master.proctitle import set_title
from prefork.worker.process import Worker


class Child:
    """The master's record of one worker process."""

    __slots__ = ("number", "generation", "slot", "pid", "stopping", "replace",
                 "aborted", "kill_at", "board_index")

    def __init__(self, number, generation, slot=None):
        self.number = number
        self.generation = generation
        self.slot = Slot() if slot is None else slot
        self.pid = None
        self.stopping = False       # TERM/QUIT sent; not counted as serving
        self.replace = False        # the master wants it replaced (memory)
        self.aborted = False        # SIGABRT sent after a missed heartbeat
        self.kill_at = None         # SIGKILL it if still alive at this time
        self.board_index = None     # its entry in the master's scoreboard

    def __repr__(self):
        return f"Child(number={self.number}, generation={self.generation}, pid={self.pid})"

    def ready(self):
        return self.slot.ready

    def retiring(self, generation):
        """Waiting to be stopped once a replacement accepts."""
        return self.generation != generation or self.replace or self.slot.retiring


BOOT_BLOCKED = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1}


def fork_worker(arbiter, number, stop_mode=None):
    """Fork one worker; returns its Child record in the master. ``stop_mode``:
    the worker starts already asked to stop that way (--shutdown-delay)."""
    child = Child(number, arbiter.generation)
    if stop_mode is not None:
        child.slot.ask_to_stop(stop_mode)
    child.board_index = arbiter.scoreboard.claim(os.getpid())
    hooks.call(arbiter.settings, "pre_fork", arbiter, child)
    # The stop and reopen signals are blocked across the fork, not from the
    # child's first line: one that reached the child before that line (it
    # may wait a while to be scheduled) ran the master's handler there and
    # was lost (a USR1 that never reopened the worker's logs, a TERM it
    # never heard). Blocked, it waits for the worker's own handlers; the
    # master gets its own at once when its mask is restored.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, BOOT_BLOCKED)
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        arbiter.scoreboard.free(child.board_index)
        raise
    if pid:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        child.pid = pid
        arbiter.scoreboard.set_pid(child.board_index, pid)
        return child
    _run_in_child(arbiter, child)           # never returns


def _run_in_child(arbiter, child):
    code = exitcodes.FAILURE
    try:
        notify_fd = _reset_after_fork(arbiter, child)
        set_title(f"worker {child.number}", arbiter.app_spec, "booting")
        hooks.call(arbiter.settings, "post_fork", arbiter, child)
        worker = Worker(child.number, arbiter.app_spec, arbiter.settings, arbiter.listeners,
                        child.slot, notify_fd, app=arbiter.app, cache=arbiter.cache,
                        accept_kick=arbiter.accept_kick, scoreboard=arbiter.scoreboard,
                        board_index=child.board_index,
                        multiprocess=arbiter.settings.workers > 1)
        code = worker.run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else exitcodes.FAILURE
    except BaseException:
        logging.getLogger("prefork.error").exception("worker %d failed", child.number)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _reset_after_fork(arbiter, child):
    """Undo the master's process state; returns the descriptor that wakes
    the master (the write end of its wake-up pipe)."""
    # Stop signals wait (pending) until the worker has its handlers: one that
    # comes while the app loads (or an ASGI app starts up) is then acted on
    # as usual, instead of killing a worker whose startup ran and whose
    # shutdown would not (prefork/worker/process.py, install_signals). They
    # are blocked since before the fork (fork_worker).
    for signum in arbiter.HANDLED:
        signal.signal(signum, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    os.close(arbiter.wake_r)
    arbiter.report.close_in_child()
    for other in arbiter.children.values():
        other.slot.close()
    arbiter.children.clear()
    child.pid = os.getpid()
    return arbiter.wake_w


def describe_exit(status):
    """How a process ended, from a waitpid() status, for the log."""
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with code {os.WEXITSTATUS(status)}"


def rss_bytes(pid):
    """Resident memory of a process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0
