"""What the master tells the world about itself: systemd's notify socket
(prefork/master/systemd.py Notifier), the server state --ready-path probes
read in the scoreboard, and the metrics it serves (prefork/metrics/).

The arbiter calls one method per event, in its loop: the first generation
accepts (``ready``), a HUP reload begins and ends, a stop begins, a worker
starts or is reaped. Each method does all three jobs, so the arbiter's
steps stay short.
"""
import time

from prefork.master.scoreboard import SERVER_READY, SERVER_STOPPING
from prefork.master.systemd import Notifier
from prefork.metrics.exposition import WORKER_EXIT_CAUSES


class Reporter:
    def __init__(self, settings):
        self.notifier = Notifier()
        self.metrics = None
        if settings.metrics_bind:
            from prefork.metrics.master import Metrics
            self.metrics = Metrics(settings.metrics_bind)

    def open(self, arbiter):
        """Bind the metrics listener (BindError if it cannot be)."""
        self.arbiter = arbiter
        if self.metrics is not None:
            self.metrics.attach(arbiter)
            self.metrics.listener.open()

    def close(self):
        if self.metrics is not None:
            self.metrics.listener.close()
        self.notifier.close()

    def close_in_child(self):
        if self.metrics is not None:
            self.metrics.listener.close_in_child()
        self.notifier.close()

    def status(self):
        arbiter = self.arbiter
        return f"{arbiter.settings.workers} workers, generation {arbiter.generation}"

    # -- the master's loop -----------------------------------------------

    def readers(self):
        return self.metrics.listener.readers() if self.metrics is not None else []

    def writers(self):
        return self.metrics.listener.writers() if self.metrics is not None else []

    def handle(self, readable, writable):
        if self.metrics is not None:
            self.metrics.listener.handle(readable, writable)

    def tick(self):
        """The watchdog ping, when due; seconds until the next (or None)."""
        return self.notifier.ping(time.monotonic())

    # -- events ------------------------------------------------------------

    def ready(self):
        self.arbiter.scoreboard.set_state(SERVER_READY)
        self.notifier.ready(self.status())

    def reloading(self):
        self.notifier.reloading()

    def reload_finished(self, ok):
        if self.metrics is not None:
            self.metrics.events.reloads["success" if ok else "failure"] += 1
        # READY=1 either way: with Type=notify-reload systemd waits for it.
        self.notifier.ready(self.status() if ok else
                            f"reload failed; {self.status()} keep serving")

    def stopping(self, how):
        self.arbiter.scoreboard.set_state(SERVER_STOPPING)
        self.notifier.stopping(f"stopping ({how})")

    def workers_changed(self):
        self.notifier.status(self.status())

    def worker_started(self):
        if self.metrics is not None:
            self.metrics.events.starts += 1

    def worker_reaped(self, child, status, cause):
        """Before the scoreboard entry is freed: keep the worker's counters."""
        if self.metrics is not None:
            assert cause in WORKER_EXIT_CAUSES
            self.metrics.events.exits[cause] += 1
            self.metrics.retire(self.arbiter.scoreboard, child.board_index)
