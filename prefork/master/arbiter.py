"""The master process: bind, fork workers that inherit the listeners, reap
and replace them, reload on HUP, and stop them on TERM (graceful) or
INT/QUIT (quick).

Signal handlers only record the signal and wake the loop; the loop then
acts in a fixed order: wait, reap, act on signals, check the workers
(heartbeats, deadlines, memory), keep the worker count.

A graceful stop (TERM): with ``--shutdown-delay`` the workers first keep
serving, every response saying ``Connection: close``, for that long. Then
each worker drains (prefork/worker/process.py) while it keeps accepting;
once every worker has acknowledged the drain (a worker busy in an app call
does so when the call returns), the master shuts the listening sockets
down, so the kernel refuses new connections at once instead of queueing
them where nobody accepts. Workers exit when they hold no connection.
Sockets the master does not own alone (systemd's, or shared with the other
master of a USR2 upgrade) are never shut down: the workers just stop
accepting from them.

Invariants: ``children`` holds every live worker by pid; a worker is
"serving" when it belongs to the current generation, is not stopping and
has not asked to be replaced. A worker that is replaced (reload,
max-requests, memory) is stopped only once a replacement for every
number 1..workers of the current generation accepts connections.
"""
import logging
import os
import select
import signal
import time

from prefork import exitcodes, hooks
from prefork.master import pidfile, reload, upgrade
from prefork.cache.lifecycle import open_app_store, open_shared_cache
from prefork.cache.redis_bus import Relay, open_bus
from prefork.master.children import describe_exit, fork_worker, rss_bytes
from prefork.master.heartbeat import STOP_KEEPALIVE, STOP_RETIRE, STOP_SERVER
from prefork.master.scoreboard import Scoreboard
from prefork.importer import AppImportError
from prefork.log import reopen_logs
from prefork.master.privileges import drop_privileges
from prefork.master.reporting import Reporter
from prefork.master.proctitle import set_title
from prefork.master.sockets import (BindError, close_door, close_listener, describe,
                                    listener_roles,
                                    queued_connections, shut_listener)

ABORT_GRACE = 1.0       # seconds between SIGABRT (stack dump) and SIGKILL
QUICK_STOP = 2.0        # how long INT/QUIT wait before SIGKILL
HANDSHAKE_GRACE = 0.2   # after the door closes, for handshakes under way to complete
RESPAWN_BACKOFF = 1.0   # after a worker died before it was ready


class Arbiter:
    HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGCHLD, signal.SIGHUP,
               signal.SIGTTIN, signal.SIGTTOU, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH)

    def __init__(self, app_spec, settings, reload_settings=None, argv=()):
        self.app_spec = app_spec
        self.settings = settings
        self.reload_settings = reload_settings   # () -> new Settings (HUP); ConfigError if bad
        self.argv = list(argv)
        self.start_dir = os.getcwd()   # where a USR2 successor starts
        self.listeners = []
        self.fixed_listeners = False    # systemd's or inherited ones are never rebound on HUP
        self.app = None                 # the preloaded app, if --preload
        self.cache = None               # the shared response cache, if --cache-size
        self.app_store = None           # prefork.shared's store (--app-cache-size)
        self.relay = None               # the process relaying invalidations (--cache-redis)
        self.children = {}              # pid -> Child
        self.generation = 1
        self.log = logging.getLogger("prefork.error")
        self.signals = []
        self.stopping = None            # None, "graceful" or "quick"
        self.stop_after = None          # --shutdown-delay: when the drain starts
        self.door_closed_at = None      # when new connections stopped being taken
        self.listeners_shut = False     # shut down: new connections are refused
        self.predecessor = None         # the old master's pid, when started by its USR2
        self.idle = False               # WINCH: no workers until HUP
        self.reloading = None           # a reload.Pending while a HUP reload is under way
        self.upgrade_pid = None         # the new master started by USR2
        self.announced = False          # when_ready has run
        self.spawn_after = 0.0
        self.exit_code = exitcodes.OK
        self.report = Reporter(settings)    # systemd notify, readiness, metrics

    # -- the loop ----------------------------------------------------------

    def run(self):
        code = self.start()
        if code is not None:
            return code
        self.manage_workers()
        while not (self.stopping and not self.children):
            self.wait(self.wait_timeout())
            self.reap_workers()
            self.handle_signals()
            self.check_workers()
            self.check_stop()
            self.manage_workers()
        return self.finish()

    def start(self):
        """Bind, preload, drop privileges; None when ready to fork, else an exit code."""
        self.pid = os.getpid()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        for signum in self.HANDLED:
            signal.signal(signum, self.record_signal)
        hooks.call(self.settings, "on_starting", self)
        if self.settings.chdir:
            os.chdir(self.settings.chdir)
        code = reload.open_initial_listeners(self)
        if code is not None:
            return code
        pidfile.write(self.settings.pid)
        # Before any fork: every worker, of every generation, shares this mapping
        # and the pipe a worker uses to pass a burst of connections on to a
        # sibling (prefork/worker/_service.pyx, AcceptKick).
        self.cache = open_shared_cache(self.settings)
        self.app_store = open_app_store(self.settings, self.cache)
        bus = open_bus(self.settings, self.cache, self.app_store)
        self.accept_kick = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.scoreboard = Scoreboard()
        try:
            self.report.open(self)
        except BindError as exc:
            self.log.error("%s", exc)
            self.close_listeners()
            pidfile.remove(self.settings.pid, self.pid)
            return exitcodes.BIND
        drop_privileges(self.settings)          # before any app code runs
        if bus is not None:
            self.relay = Relay(self, bus)
            self.relay.spawn()
        if self.settings.preload:
            code = self.preload_app()
            if code is not None:
                pidfile.remove(self.settings.pid, self.pid)
                return code
        self.set_title()
        for sock, (tls, proxy) in zip(self.listeners, listener_roles(self.settings, self.listeners)):
            self.log.info("listening on %s", describe(sock, tls, proxy))
        self.log.info("master (pid %d) starting %d workers", self.pid, self.settings.workers)
        return None

    def preload_app(self):
        try:
            self.app = reload.import_app_fresh(self, first=True)
        except AppImportError as exc:
            self.log.error("%s", exc)
            if exc.__cause__ is not None:
                self.log.error("import error", exc_info=exc.__cause__)
            self.close_listeners()
            return exitcodes.APP_LOAD
        return None

    def record_signal(self, signum, frame):
        self.signals.append(signum)

    def wait(self, timeout):
        watchdog = self.report.tick()
        if watchdog is not None:
            timeout = min(timeout, watchdog)
        try:
            readable, writable, _ = select.select([self.wake_r] + self.report.readers(),
                                                  self.report.writers(), [], timeout)
        except InterruptedError:
            return
        self.report.handle(readable, writable)
        try:
            while os.read(self.wake_r, 512):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def wait_timeout(self):
        if self.door_closed_at is not None and not self.listeners_shut:
            return 0.02
        if self.stopping or self.stop_after or any(c.kill_at for c in self.children.values()):
            return 0.1
        return min(1.0, self.settings.timeout / 4)

    def set_title(self, state=""):
        if not state:
            state = "reloading" if self.reloading else ("old" if self.upgrade_pid else "")
        set_title("master", self.app_spec, state)

    # -- signals -----------------------------------------------------------

    def handle_signals(self):
        while self.signals:
            signum = self.signals.pop(0)
            if signum != signal.SIGCHLD:
                self.log.info("received %s", signal.Signals(signum).name)
            handler = getattr(self, "handle_" + signal.Signals(signum).name[3:].lower())
            handler()

    def handle_chld(self):
        pass                    # reap_workers runs on every turn of the loop

    def handle_term(self):
        self.begin_stop("graceful")

    def handle_int(self):
        self.begin_stop("quick")

    handle_quit = handle_int

    def handle_hup(self):
        if self.stopping or self.stop_after:
            return
        if self.reloading:
            self.log.warning("a reload is already under way; HUP ignored")
            return
        self.idle = False
        self.report.reloading()
        reload.begin_reload(self)
        if not self.reloading:
            self.report.reload_finished(False)      # refused at once (config, bind, import)
        self.set_title()

    def handle_ttin(self):
        self.settings.workers += 1
        self.log.info("workers: %d", self.settings.workers)
        self.report.workers_changed()

    def handle_ttou(self):
        if self.settings.workers > 1:
            self.settings.workers -= 1
        self.log.info("workers: %d", self.settings.workers)
        self.report.workers_changed()

    def handle_usr1(self):
        reopen_logs()
        self.signal_workers(signal.SIGUSR1)

    def handle_usr2(self):
        if self.upgrade_pid is not None or self.stopping:
            self.log.warning("USR2 ignored: an upgrade is under way or the server is stopping")
            return
        self.upgrade_pid = upgrade.spawn_new_master(self)
        self.set_title()

    def handle_winch(self):
        if self.upgrade_pid is None:
            self.log.info("WINCH ignored: it stops the workers only after USR2 started a new master")
            return
        self.idle = True
        for child in list(self.children.values()):
            self.stop_worker(child, graceful=True)

    # -- supervision ---------------------------------------------------------

    def reap_workers(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.upgrade_pid:
                upgrade.new_master_exited(self, describe_exit(status))
                continue
            if self.relay is not None and self.relay.reap(pid, status, describe_exit):
                continue
            child = self.children.pop(pid, None)
            if child is not None:
                self.report.worker_reaped(child, status, self.exit_cause(child))
                self.worker_exited(child, status)
                child.slot.close()
                self.scoreboard.free(child.board_index)

    def worker_exited(self, child, status):
        how = describe_exit(status)
        name = f"worker {child.number} (pid {child.pid})"
        if self.stopping or child.stopping or self.stop_pending():
            self.log.info("%s %s", name, how)
            return
        if child.ready():
            self.log.warning("%s %s; replacing it", name, how)
        elif self.reloading and child.generation == self.generation:
            reload.revert_reload(self, f"new {name} {how} before it was ready")
        elif os.WIFEXITED(status) and os.WEXITSTATUS(status) == exitcodes.APP_LOAD \
                and not any(c.ready() for c in self.children.values()):
            self.log.error("%s could not load the app %r; stopping the server",
                           name, self.app_spec)
            self.exit_code = exitcodes.APP_LOAD
            self.begin_stop("quick")
        else:
            # Died before it was ready: wait a moment, not a respawn loop.
            self.log.warning("%s %s before it was ready; replacing it in %.0fs",
                             name, how, RESPAWN_BACKOFF)
            self.spawn_after = time.monotonic() + RESPAWN_BACKOFF

    def exit_cause(self, child):
        """Why a reaped worker ended, for the metrics (WORKER_EXIT_CAUSES)."""
        if child.aborted:
            return "heartbeat"
        if self.stopping or self.stop_pending():
            return "shutdown"
        if not child.stopping:
            return "crashed"
        if child.replace or child.slot.retiring:
            return "recycled"
        return "reload" if child.generation != self.generation else "scaled_down"

    def stop_pending(self):
        """A stop signal not acted on yet (a TERM sent to the whole process
        group reaches the workers as the master reads it)."""
        return any(signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT) for signum in self.signals)

    def check_workers(self):
        """Deadlines, heartbeats and memory of every worker."""
        now = time.monotonic()
        if self.relay is not None:
            self.relay.check(self.stopping)
        for child in list(self.children.values()):
            if child.kill_at is not None and now >= child.kill_at:
                self.log.warning("worker %d (pid %d) still running; sending SIGKILL",
                                 child.number, child.pid)
                self.send(child, signal.SIGKILL)
                child.kill_at = None
            elif not child.stopping and not child.aborted \
                    and (child.slot.silence() or 0.0) > self.settings.timeout:
                self.abort_worker(child, now)
            elif self.settings.max_worker_memory and child.ready() and not child.replace \
                    and not child.stopping:
                self.check_memory(child)

    def abort_worker(self, child, now):
        serving = child.slot.status()
        self.log.error("worker %d (pid %d) timed out: no heartbeat for %.1fs (limit %ss) "
                       "while %s; sending SIGABRT", child.number, child.pid,
                       child.slot.silence() or 0.0, self.settings.timeout,
                       f"serving {serving!r}" if serving else "not serving a request")
        child.aborted = True
        self.send(child, signal.SIGABRT)
        child.kill_at = now + ABORT_GRACE

    def check_memory(self, child):
        rss = rss_bytes(child.pid)
        if rss > self.settings.max_worker_memory:
            self.log.warning("worker %d (pid %d) uses %d bytes (limit %d); replacing it",
                             child.number, child.pid, rss, self.settings.max_worker_memory)
            child.replace = True

    def manage_workers(self):
        """Keep the worker count: spawn missing numbers, stop surplus and
        replaced workers once their replacements accept."""
        if self.stopping or self.idle:
            return
        serving = [c for c in self.children.values()
                   if not c.stopping and not c.retiring(self.generation)]
        numbers = {c.number for c in serving}
        if time.monotonic() >= self.spawn_after:
            for number in range(1, self.settings.workers + 1):
                if number not in numbers:
                    self.spawn_worker(number)
        for child in serving:
            if child.number > self.settings.workers:
                self.stop_worker(child, graceful=True)
        if self.all_ready(serving):
            self.stop_replaced()

    def all_ready(self, serving):
        ready = {c.number for c in serving if c.ready()}
        return all(n in ready for n in range(1, self.settings.workers + 1))

    def stop_replaced(self):
        for child in list(self.children.values()):
            if not child.stopping and child.retiring(self.generation):
                self.stop_worker(child, graceful=True)
        if self.reloading:
            reload.commit_reload(self)
        if not self.announced:
            self.announced = True
            self.log.info("ready: %d workers accepting", self.settings.workers)
            self.report.ready()
            hooks.call(self.settings, "when_ready", self)

    def spawn_worker(self, number):
        child = fork_worker(self, number, STOP_KEEPALIVE if self.stop_after else None)
        self.children[child.pid] = child
        self.report.worker_started()
        self.log.debug("worker %d (pid %d) started, generation %d",
                       number, child.pid, child.generation)

    def stop_worker(self, child, graceful, mode=STOP_RETIRE):
        """TERM (graceful, drained the way ``mode`` says) or QUIT (at once)."""
        if child.stopping and graceful and child.slot.stop_mode >= mode:
            return
        child.stopping = True
        if graceful:
            child.slot.ask_to_stop(mode)
        self.send(child, signal.SIGTERM if graceful else signal.SIGQUIT)
        deadline = self.settings.graceful_timeout if graceful else QUICK_STOP
        child.kill_at = min(child.kill_at or float("inf"), time.monotonic() + deadline)

    def send(self, child, signum):
        try:
            os.kill(child.pid, signum)
        except ProcessLookupError:
            pass

    def signal_workers(self, signum):
        for child in list(self.children.values()):
            self.send(child, signum)

    # -- stopping ------------------------------------------------------------

    def begin_stop(self, how):
        """TERM: graceful, SIGKILL after graceful_timeout. INT/QUIT: quick."""
        if self.stopping == "quick" or self.stopping == how:
            return
        if how == "graceful" and self.settings.shutdown_delay and self.stop_after is None \
                and not self.stopping:
            self.delay_stop()
            return
        self.stop_after = None          # a second TERM ends the delay early
        self.stopping = how
        self.report.stopping(how)
        self.set_title("stopping")
        self.log.info("shutting down (%s)", how)
        self.reloading = None           # every generation stops alike
        mode = STOP_SERVER if self.owns_listeners() else STOP_RETIRE
        for child in list(self.children.values()):
            self.stop_worker(child, graceful=(how == "graceful"), mode=mode)
        if how == "quick":
            self.shut_listeners()

    def delay_stop(self):
        """--shutdown-delay: keep serving, every response saying
        Connection: close, so clients leave while a load balancer stops
        sending new ones; the drain starts when the delay ends."""
        self.stop_after = time.monotonic() + self.settings.shutdown_delay
        self.set_title("stopping")
        self.report.stopping("graceful, after the shutdown delay")
        self.log.info("shutting down in %.1fs: serving with Connection: close until then",
                      self.settings.shutdown_delay)
        for child in list(self.children.values()):
            child.slot.ask_to_stop(STOP_KEEPALIVE)
            self.send(child, signal.SIGTERM)

    def check_stop(self):
        """End the shutdown delay. Once every worker drains (a worker busy
        in an app call acknowledges when it returns), close the door, and
        shut the listeners down once what they queued is accepted."""
        now = time.monotonic()
        if self.stop_after is not None and now >= self.stop_after:
            self.begin_stop("graceful")
        if self.stopping != "graceful" or self.listeners_shut or not self.owns_listeners():
            return
        if self.door_closed_at is None:
            if all(child.slot.stop_acknowledged for child in self.children.values()):
                self.door_closed_at = now
                for sock in self.listeners:
                    if not close_door(sock):
                        shut_listener(sock)     # unix: keeps its queue for the workers
        elif now - self.door_closed_at >= HANDSHAKE_GRACE and (
                not self.children or now - self.door_closed_at >= self.settings.graceful_timeout
                or not any(queued_connections(sock) for sock in self.listeners)):
            self.shut_listeners()

    def owns_listeners(self):
        """True when no other process serves these sockets after this
        master: not systemd's, not shared with another master (USR2)."""
        if self.fixed_listeners or self.upgrade_pid is not None:
            return False
        return self.predecessor is None or os.getppid() != self.predecessor

    def shut_listeners(self):
        """shutdown() the listening sockets: every process sharing one sees
        it at once; the kernel refuses new connections from now on."""
        if self.listeners_shut or not self.owns_listeners():
            return
        self.listeners_shut = True
        for sock in self.listeners:
            shut_listener(sock)
        self.log.info("listeners shut down: new connections are refused")

    def finish(self):
        if self.relay is not None:
            self.relay.stop()           # after the workers: it publishes what they left
        hooks.call(self.settings, "on_exit", self)
        self.close_listeners()
        self.report.close()
        pidfile.remove(self.settings.pid, self.pid)
        self.log.info("shut down")
        return self.exit_code

    def close_listeners(self):
        # After USR2 the new master serves the same sockets: leave unix files alone.
        for sock in self.listeners:
            close_listener(sock, unlink=self.upgrade_pid is None)
        self.listeners = []
