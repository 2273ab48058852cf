"""The master's side of the metrics: the totals of workers that exited,
its own counters, and the sum it serves.

Invariant: a worker's counters are counted exactly once, either in its
live block of the scoreboard or, from the moment the master reaps it (and
before it frees the entry), in ``retired``; the master does both in its
single-threaded loop, so a sum it renders never goes backwards. Gauges
(requests in flight, connections open) are summed over live workers only.
"""
from prefork.metrics._counters import BLOCK_SLOTS, Counter
from prefork.metrics.exposition import RELOAD_OUTCOMES, WORKER_EXIT_CAUSES, render
from prefork.metrics.listener import MetricsListener

GAUGES = (Counter.C_IN_FLIGHT, Counter.C_CONNECTIONS_OPEN)


class MasterEvents:
    """What only the master sees: worker starts and exits, reloads."""

    def __init__(self):
        self.starts = 0
        self.exits = dict.fromkeys(WORKER_EXIT_CAUSES, 0)
        self.reloads = dict.fromkeys(RELOAD_OUTCOMES, 0)
        self.workers = 0
        self.generation = 1


class Metrics:
    """--metrics-bind: the listener, the retired totals and the events."""

    def __init__(self, address):
        self.listener = MetricsListener(address, self.scrape)
        self.retired = [0] * BLOCK_SLOTS
        self.events = MasterEvents()
        self.arbiter = None

    def attach(self, arbiter):
        self.arbiter = arbiter

    def retire(self, scoreboard, index):
        """A worker was reaped: keep its counters (not its gauges)."""
        block = scoreboard.counters(index)
        retired = self.retired
        for slot, value in enumerate(block):
            retired[slot] += value
        for slot in GAUGES:
            retired[slot] -= block[slot]

    def totals(self):
        board = self.arbiter.scoreboard
        totals = list(self.retired)
        for index in range(board.used()):
            for slot, value in enumerate(board.counters(index)):
                if value:
                    totals[slot] += value
        return totals

    def scrape(self):
        arbiter = self.arbiter
        self.events.workers = len(arbiter.children)
        self.events.generation = arbiter.generation
        stats = arbiter.cache.stats() if arbiter.cache is not None else None
        return render(self.totals(), self.events, stats)
