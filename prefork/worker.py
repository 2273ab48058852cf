"""One worker process: load the app, serve the inherited listeners on an
event loop, drain on SIGTERM, exit with a named code.

A worker is started by the master right after fork() and never returns
into the master's stack: the master calls ``os._exit(Worker(...).run())``.
Signals: TERM drains gracefully (stop accepting, finish in-flight requests,
close idle keep-alive connections); INT and QUIT stop at once.
"""
import logging
import os
import signal

from prefork import exitcodes
from prefork._connection import HTTPService
from prefork._loop import EventLoop
from prefork.importer import AppImportError, import_app


class Worker:
    def __init__(self, number, app_spec, settings, listeners, multiprocess=True):
        self.number = number
        self.app_spec = app_spec
        self.settings = settings
        self.listeners = listeners
        self.multiprocess = multiprocess
        self.log = logging.getLogger("prefork.error")
        self.parent = os.getppid()
        self.loop = None
        self.service = None
        self.drain_deadline = None
        self.signals = []           # recorded by the handlers, acted on by the loop

    def run(self):
        """Serve until told to stop; returns the exit code."""
        try:
            app = import_app(self.app_spec)
        except AppImportError as exc:
            self.log.error("%s", exc)
            if exc.__cause__ is not None:
                self.log.error("import error", exc_info=exc.__cause__)
            return exitcodes.APP_LOAD
        self.loop = EventLoop()
        self.service = HTTPService(self.loop, app, self.settings, multiprocess=self.multiprocess)
        for sock in self.listeners:
            self.service.listen(sock)
        first = self.listeners[0].getsockname()
        if isinstance(first, tuple):
            self.service.set_server_address(first[0], first[1])
        self.install_signals()
        self.loop.call_later(1.0, self.tick)
        self.log.debug("worker %d (pid %d) serving", self.number, os.getpid())
        self.loop.run()
        self.service.close_all()
        return exitcodes.OK

    def install_signals(self):
        read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.wake_fds = (read_fd, write_fd)
        # The C-level handler writes to the pipe, so the loop wakes even when
        # the signal lands on an app thread.
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        self.loop.add_reader(read_fd, self.handle_wakeup)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            signal.signal(signum, self.record_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)    # reloads are the master's

    def record_signal(self, signum, frame):
        self.signals.append(signum)
        self.loop.call_soon(self.handle_signals)

    def handle_wakeup(self):
        try:
            while os.read(self.wake_fds[0], 512):
                pass
        except BlockingIOError:
            pass

    def handle_signals(self):
        while self.signals:
            signum = self.signals.pop(0)
            if signum == signal.SIGTERM:
                self.begin_drain()
            else:
                self.loop.stop()

    def begin_drain(self):
        if self.drain_deadline is None:
            self.drain_deadline = self.loop.time() + self.settings.graceful_timeout
            self.service.drain()
            self.check_drained()

    def check_drained(self):
        if self.service.active == 0 or self.loop.time() >= self.drain_deadline:
            self.loop.stop()
        else:
            self.loop.call_later(0.05, self.check_drained)

    def tick(self):
        """Once a second: timeouts, and an orphan check (the master died)."""
        self.service.sweep()
        if os.getppid() != self.parent:
            self.log.warning("master died; worker %d draining", self.number)
            self.begin_drain()
        self.loop.call_later(1.0, self.tick)
