"""One worker process: load the app, serve the inherited listeners on an
event loop, drain on SIGTERM, exit with a named code.

A worker is started by the master right after fork() and never returns
into the master's stack: the master calls ``os._exit(Worker(...).run())``.
Signals: TERM stops gracefully, the way the master asks in the worker's
slot (``STOP_*`` in prefork/master/heartbeat.py; a TERM from anyone else
is a retirement): every response from then on says ``Connection: close``,
idle connections linger briefly then close, in-flight and already received
requests are answered, and the worker exits as soon as it holds no
connection and accepts no more. INT and QUIT stop at once; USR1 reopens the
log files; SIGALRM (with --request-timeout, inline WSGI) interrupts an app
call past its deadline (prefork/worker/_deadline.pyx); SIGABRT (sent by the master when the heartbeat stops) dumps
every thread's stack to the error log and kills the process.

Liveness: the loop writes a heartbeat into the worker's shared-memory slot
at the end of each iteration, at most a few times per ``--timeout``
(prefork/worker/_loop.pyx), so a worker stuck anywhere, in the app or in a
loop of its own, falls silent; the slot also holds the ready flag and the
request being served.
"""
import faulthandler
import gc
import logging
import os
import signal

from prefork import exitcodes, hooks
from prefork.http._connection import Connection
from prefork.worker._service import HTTPService
from prefork.worker._loop import EventLoop
from prefork.importer import AppImportError, app_interface, asgi2_to_asgi3, import_app
from prefork.log import reopen_logs
from prefork.master.heartbeat import STOP_KEEPALIVE, STOP_NONE, STOP_SERVER
from prefork.master.proctitle import set_title
from prefork.master.sockets import (close_door, listener_roles, queued_connections,
                                    reuse_port_copy, shut_listener)



class Worker:
    def __init__(self, number, app_spec, settings, listeners, slot, notify_fd=None,
                 app=None, multiprocess=True, cache=None, accept_kick=None, scoreboard=None,
                 board_index=None):
        self.number = number
        self.app_spec = app_spec
        self.settings = settings
        self.listeners = listeners
        self.slot = slot
        self.notify_fd = notify_fd      # a byte written here wakes the master
        self.app = app                  # given when the master preloaded it
        self.cache = cache              # the master's SharedCache, or None
        self.accept_kick = accept_kick  # (read fd, write fd) shared by the workers
        self.scoreboard = scoreboard    # the master's, with this worker's entry at board_index
        self.board_index = board_index
        self.multiprocess = multiprocess
        self.pid = os.getpid()
        self.log = logging.getLogger("prefork.error")
        self.parent = os.getppid()
        self.loop = None
        self.service = None
        self.drain_deadline = None
        self.stop_mode = STOP_NONE  # the last one acted on
        self.own_listeners = []     # --reuse-port: this worker's own TCP sockets
        self.door_closed_at = None  # when those stopped taking new connections
        self.signals = []           # recorded by the handlers, acted on by the loop
        self.interface = "wsgi"
        self.asgi = None            # an ASGI worker's ASGIApp (prefork/asgi/_connection.pyx)
        jitter = settings.max_requests_jitter
        # os.urandom rather than the random module, which workers need not load.
        self.max_requests = settings.max_requests + (
            int.from_bytes(os.urandom(4), "little") % (jitter + 1) if jitter else 0)

    def run(self):
        """Serve until told to stop; returns the exit code."""
        if self.app is None:
            try:
                self.app = import_app(self.app_spec)
            except AppImportError as exc:
                self.log.error("%s", exc)
                if exc.__cause__ is not None:
                    self.log.error("import error", exc_info=exc.__cause__)
                return exitcodes.APP_LOAD
        try:
            self.interface = app_interface(self.app, self.app_spec, self.settings.interface)
        except AppImportError as exc:
            self.log.error("%s", exc)
            return exitcodes.APP_LOAD
        if self.settings.interface == "asgi2":
            self.app = asgi2_to_asgi3(self.app)
        if self.interface == "asgi":
            from prefork.asgi.serve import serve_asgi    # only ASGI workers load asyncio
            return serve_asgi(self)
        self.start_serving()
        self.loop.run()
        self.service.close_all()
        hooks.call(self.settings, "worker_exit", self)
        return exitcodes.OK

    def start_serving(self, make_service=None):
        """Open the loop and the service, listen, and tell the master.
        ``make_service(loop)``: the service of an ASGI worker (prefork/asgi/
        serve.py); by default the WSGI one."""
        # PERF: everything loaded so far (the master's modules, the app)
        # lives as long as the worker; frozen, the collector never walks it
        # again (bench pinned/flask: a full collection walked ~100k objects).
        gc.freeze()
        self.loop = EventLoop()
        if make_service is None:
            self.service = HTTPService(self.loop, self.app, self.settings, Connection,
                                       multiprocess=self.multiprocess)
        else:
            self.service = make_service(self.loop)
        self.service.set_status_slot(self.slot.status_buffer())
        if self.cache is not None:
            self.service.set_cache(self.cache, self.settings)
        roles = listener_roles(self.settings, self.listeners)
        if self.settings.reuse_port:
            shared = self.listeners
            self.listeners = [reuse_port_copy(sock, self.settings.backlog) for sock in shared]
            self.own_listeners = [sock for sock in self.listeners if sock not in shared]
        for sock, (tls, proxy) in zip(self.listeners, roles):
            self.service.listen(sock, self.settings.tls if tls else None, proxy)
        if self.scoreboard is not None:
            self.service.set_scoreboard(self.scoreboard.buffer(), self.board_index)
            if self.settings.metrics_bind:
                self.service.set_counters(self.scoreboard.counter_block(self.board_index))
        if self.accept_kick is not None and not self.settings.reuse_port:
            self.service.set_accept_kick(*self.accept_kick)
        self.install_signals()
        self.set_up_request_limits()
        self.loop.set_heartbeat(self.slot.heartbeat, min(1.0, self.settings.timeout / 4))
        self.loop.call_later(1.0, self.tick)
        self.slot.beat()
        self.slot.mark_ready()
        set_title(f"worker {self.number}", self.app_spec)
        if self.slot.stop_mode != STOP_NONE:
            self.begin_stop()       # forked while the server stops (--shutdown-delay)
        self.notify_master()
        hooks.call(self.settings, "post_worker_init", self)
        self.log.debug("worker %d (pid %d) serving", self.number, self.pid)

    def set_up_request_limits(self):
        """--request-timeout interrupts an inline WSGI app with a timer
        signal (prefork/worker/_deadline.pyx); with --threads or ASGI the
        loop acts alone. --max-pending needs a thread pool."""
        deadlines = self.service.deadlines
        if deadlines is not None and not self.service.asgi and self.settings.threads == 1:
            deadlines.enable_interrupts()
        if self.settings.max_pending and self.service.max_pending == 0:
            self.log.warning("--max-pending applies with --threads (WSGI); it has no effect here")

    def notify_master(self):
        if self.notify_fd is not None:
            try:
                os.write(self.notify_fd, b"!")
            except OSError:
                pass

    def install_signals(self):
        read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.wake_fds = (read_fd, write_fd)
        # The C-level handler writes to the pipe, so the loop wakes even when
        # the signal lands on an app thread.
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        self.loop.add_reader(read_fd, self.handle_wakeup)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1):
            signal.signal(signum, self.record_signal)
        # Reloads, upgrades and scaling are the master's business.
        for signum in (signal.SIGHUP, signal.SIGUSR2, signal.SIGTTIN, signal.SIGTTOU,
                       signal.SIGWINCH):
            signal.signal(signum, signal.SIG_IGN)
        faulthandler.enable(file=logging_fd(), all_threads=True)
        # Blocked since the fork (prefork/master/children.py): a stop that came
        # while the app loaded is delivered now, to the handlers above.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, BOOT_SIGNALS)

    def record_signal(self, signum, frame):
        # Python runs signal handlers on the main thread, the loop's: the
        # callback runs at the end of the current batch, before any event
        # that came after the signal. wake() makes sure the loop wakes up,
        # also when another loop hosts it (ASGI, prefork/asgi/loop.py).
        self.signals.append(signum)
        if signum == signal.SIGTERM and self.service is not None:
            # Every way of stopping ends keep-alive: say so on the responses
            # made from now on, even those of the batch under way (an inline
            # app call the signal interrupted is followed by others).
            self.service.refuse_keepalive()
        self.loop.call_soon(self.handle_signals)
        self.loop.wake()

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
                self.begin_stop()
            elif signum == signal.SIGUSR1:
                reopen_logs()
            else:
                self.loop.stop()

    def begin_stop(self):
        """Act on the stop mode the master recorded (a TERM from anyone
        else, with no mode recorded, retires this worker)."""
        mode = self.slot.stop_mode
        if mode == STOP_KEEPALIVE:
            self.service.end_keepalive(draining=False)
        else:
            if mode == STOP_SERVER:
                self.service.accept_until_shut()
                self.close_own_doors()
            else:
                self.service.stop_accepting()
            self.begin_drain()
        self.stop_mode = mode
        self.slot.acknowledge_stop(mode)

    def begin_drain(self):
        """Every response says Connection: close from now on, idle
        connections linger then close; exit once none is left."""
        if self.drain_deadline is not None:
            return
        set_title(f"worker {self.number}", self.app_spec, "stopping")
        self.drain_deadline = self.loop.time() + self.settings.graceful_timeout
        self.service.end_keepalive()
        if self.asgi is not None:
            # Open WebSockets close with 1001 now, not at the deadline: their
            # clients reconnect to the workers that stay (README, "WebSocket").
            self.asgi.going_away()
        self.check_drained()

    def close_own_doors(self):
        """--reuse-port: this worker's own sockets are its to stop, the way
        the master stops the shared ones (prefork/master/sockets.py)."""
        if self.own_listeners and self.door_closed_at is None:
            self.door_closed_at = self.loop.time()
            for sock in self.own_listeners:
                close_door(sock)

    def shut_own_listeners(self):
        if self.door_closed_at is not None and self.own_listeners \
                and self.loop.time() - self.door_closed_at >= 0.2 \
                and not any(queued_connections(sock) for sock in self.own_listeners):
            for sock in self.own_listeners:
                shut_listener(sock)
            self.own_listeners = []

    def check_drained(self):
        self.service.sweep()            # idle connections end their linger
        self.shut_own_listeners()
        self.service.check_listeners()
        if self.service.active == 0 and not self.service.listening:
            self.loop.stop()
        elif self.loop.time() >= self.drain_deadline:
            self.log.warning("worker %d (pid %d): graceful timeout with %d connections open",
                             self.number, self.pid, self.service.active)
            if self.asgi is not None:
                self.asgi.cancel_all()
            self.loop.stop()
        else:
            self.loop.call_later(0.05, self.check_drained)

    def tick(self):
        """Once a second: timeouts, the request budget, an orphan check."""
        self.service.sweep()
        if os.getppid() != self.parent and self.drain_deadline is None:
            self.log.warning("master died; worker %d draining", self.number)
            self.service.stop_accepting()
            self.begin_drain()
        if self.max_requests and self.service.requests_served >= self.max_requests \
                and not self.slot.retiring:
            self.log.info("worker %d (pid %d) served %d requests; asking to be replaced",
                          self.number, self.pid, self.service.requests_served)
            self.slot.ask_to_retire()
            self.notify_master()
        self.loop.call_later(1.0, self.tick)


BOOT_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1}


def logging_fd():
    """The error log's descriptor (faulthandler writes there directly)."""
    for handler in logging.getLogger("prefork.error").handlers:
        fd = getattr(handler, "fd", None)
        if fd is not None:
            return fd
    return 2
