"""The master process: fork workers that inherit the listeners, reap and
replace them, and stop them on TERM (graceful) or INT/QUIT (quick).

Signal handlers only record the signal and wake the loop; the loop then
acts in a fixed order: wait, reap, act on signals, keep the worker count.
"""
import logging
import os
import random
import select
import signal
import sys
import time

from prefork import exitcodes
from prefork.worker import Worker

try:
    from setproctitle import setproctitle
except ImportError:  # pragma: no cover - setproctitle is a runtime dependency
    def setproctitle(title):
        pass

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGCHLD)


class Arbiter:
    def __init__(self, app_spec, settings, listeners):
        self.app_spec = app_spec
        self.settings = settings
        self.listeners = listeners
        self.workers = {}           # pid -> worker number
        self.log = logging.getLogger("prefork.error")
        self.signals = []
        self.stopping = False
        self.exit_code = exitcodes.OK

    def run(self):
        setproctitle(f"prefork-serve: master [{self.app_spec}]")
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        for signum in HANDLED:
            signal.signal(signum, self.record_signal)
        from prefork.sockets import describe
        for sock in self.listeners:
            self.log.info("listening on %s", describe(sock))
        self.spawn_workers()
        while True:
            self.wait(1.0)
            self.reap_workers()
            self.handle_signals()
            if self.stopping:
                return self.stop_workers()
            self.spawn_workers()

    def record_signal(self, signum, frame):
        self.signals.append(signum)

    def wait(self, timeout):
        try:
            select.select([self.wake_r], [], [], timeout)
            while os.read(self.wake_r, 512):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def handle_signals(self):
        while self.signals:
            signum = self.signals.pop(0)
            if signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
                self.stopping = signum
                self.log.info("received %s; shutting down", signal.Signals(signum).name)

    def spawn_workers(self):
        numbers = set(self.workers.values())
        for number in range(1, self.settings.workers + 1):
            if number not in numbers:
                self.spawn_worker(number)

    def spawn_worker(self, number):
        pid = os.fork()
        if pid:
            self.workers[pid] = number
            return
        # In the child: never return into the master's stack.
        code = exitcodes.FAILURE
        try:
            for signum in HANDLED:
                signal.signal(signum, signal.SIG_DFL)
            signal.set_wakeup_fd(-1)
            os.close(self.wake_r)
            os.close(self.wake_w)
            random.seed()
            setproctitle(f"prefork-serve: worker {number} [{self.app_spec}]")
            worker = Worker(number, self.app_spec, self.settings, self.listeners,
                            multiprocess=self.settings.workers > 1)
            code = worker.run()
        except BaseException:
            self.log.exception("worker %d failed", number)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def reap_workers(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            number = self.workers.pop(pid, None)
            if number is None:
                continue
            if os.WIFSIGNALED(status):
                how = f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
            else:
                code = os.WEXITSTATUS(status)
                how = f"exited with code {code}"
                if code == exitcodes.APP_LOAD and not self.stopping:
                    self.log.error("worker %d could not load the app %r; stopping the server",
                                   number, self.app_spec)
                    self.exit_code = exitcodes.APP_LOAD
                    self.stopping = signal.SIGINT
            if not self.stopping:
                self.log.warning("worker %d (pid %d) %s; replacing it", number, pid, how)
            else:
                self.log.info("worker %d (pid %d) %s", number, pid, how)

    def stop_workers(self):
        """TERM: graceful, escalating to SIGKILL after graceful_timeout.
        INT/QUIT: quick."""
        graceful = self.stopping == signal.SIGTERM
        sig = signal.SIGTERM if graceful else signal.SIGQUIT
        self.kill_workers(sig)
        deadline = time.monotonic() + (self.settings.graceful_timeout if graceful else 5.0)
        while self.workers and time.monotonic() < deadline:
            self.wait(0.1)
            self.reap_workers()
        if self.workers:
            self.log.warning("killing %d workers still running after the deadline", len(self.workers))
            self.kill_workers(signal.SIGKILL)
            while self.workers:
                self.wait(0.1)
                self.reap_workers()
        for sock in self.listeners:
            if sock.family == getattr(__import__("socket"), "AF_UNIX"):
                try:
                    os.unlink(sock.getsockname())
                except OSError:
                    pass
            sock.close()
        self.log.info("shut down")
        return self.exit_code

    def kill_workers(self, sig):
        for pid in list(self.workers):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
