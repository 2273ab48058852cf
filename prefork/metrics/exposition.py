"""The Prometheus text format (version 0.0.4) of the server's metrics.

FAMILIES declares what each slot of a worker's counter block means
(prefork/metrics/_counters.pxd declares the slots): one row per metric
family, naming its first slot and, for a range of slots, its labels in slot
order (the last label varies fastest). A new counter is one member of the
``Counter`` enum and one row here; tests/metrics/test_metrics_table.py fails
when a member has no row.

The master's own counters (worker starts and exits, reloads), the response
cache's (its shared header) and the build are rendered after the rows.
"""
import itertools
import platform

from prefork import __version__
from prefork.metrics._counters import (DURATION_BOUNDS, METHODS, PARSE_ERROR_LABELS, STATUSES,
                                       Counter)


class Family:
    """One metric family read from the workers' blocks."""

    __slots__ = ("name", "kind", "help", "slot", "labels")

    def __init__(self, name, kind, help, slot, labels=()):
        self.name = name
        self.kind = kind            # counter or gauge (the histogram is rendered apart)
        self.help = help
        self.slot = slot            # its first Counter slot
        self.labels = labels        # ((label, (value, ...)), ...), in slot order

    def width(self):
        n = 1
        for _, values in self.labels:
            n *= len(values)
        return n

    def samples(self, totals):
        names = [label for label, _ in self.labels]
        combos = itertools.product(*(values for _, values in self.labels))
        for offset, values in enumerate(combos):
            yield self.name + _labels(zip(names, values)), totals[self.slot + offset]


FAMILIES = [
    Family("prefork_requests_total", "counter",
           "Responses sent, by request method class and status class.", Counter.C_REQUESTS,
           (("method", METHODS), ("status", STATUSES))),
    Family("prefork_requests_in_flight", "gauge",
           "Requests received and not yet answered.", Counter.C_IN_FLIGHT),
    Family("prefork_connections_open", "gauge",
           "Client connections open in the workers.", Counter.C_CONNECTIONS_OPEN),
    Family("prefork_connections_accepted_total", "counter",
           "Client connections accepted.", Counter.C_CONNECTIONS_ACCEPTED),
    Family("prefork_keepalive_reused_total", "counter",
           "Requests that came on a connection which had served one before.",
           Counter.C_KEEPALIVE_REUSED),
    Family("prefork_received_bytes_total", "counter",
           "Bytes read from clients.", Counter.C_BYTES_IN),
    Family("prefork_sent_bytes_total", "counter",
           "Bytes written to clients (heads and bodies).", Counter.C_BYTES_OUT),
    Family("prefork_parse_errors_total", "counter",
           "Requests refused before the app: malformed or over a limit, by kind.",
           Counter.C_PARSE_ERRORS, (("kind", PARSE_ERROR_LABELS),)),
    Family("prefork_read_timeouts_total", "counter",
           "Requests answered 408: the head or body arrived too slowly.", Counter.C_READ_TIMEOUTS),
    Family("prefork_request_timeouts_total", "counter",
           "Requests still running at --request-timeout (answered 504, or cut).",
           Counter.C_REQUEST_TIMEOUTS),
    Family("prefork_abandoned_threads_total", "counter",
           "App threads left to finish a request past --request-timeout (--threads).",
           Counter.C_THREADS_ABANDONED),
    Family("prefork_requests_shed_total", "counter",
           "Requests answered 503 because --max-pending requests waited for an app thread.",
           Counter.C_REQUESTS_SHED),
]
# Slots a row does not name: the histogram's, rendered by _duration().
HISTOGRAM_SLOTS = {Counter.C_DURATION_BUCKETS, Counter.C_DURATION_SUM_US}

WORKER_EXIT_CAUSES = ("recycled", "reload", "scaled_down", "heartbeat", "crashed", "shutdown")
RELOAD_OUTCOMES = ("success", "failure")


def _labels(pairs):
    inner = ",".join(f'{name}="{_escape(value)}"' for name, value in pairs)
    return "{" + inner + "}" if inner else ""


def _escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _head(lines, name, kind, help):
    lines.append(f"# HELP {name} {help}")
    lines.append(f"# TYPE {name} {kind}")


def _duration(lines, totals):
    name = "prefork_request_duration_seconds"
    _head(lines, name, "histogram",
          "Time from a complete request to its response queued whole.")
    cumulative = 0
    first = Counter.C_DURATION_BUCKETS
    for i, bound in enumerate(DURATION_BOUNDS + (float("inf"),)):
        cumulative += totals[first + i]
        le = "+Inf" if bound == float("inf") else repr(bound)
        lines.append(f'{name}_bucket{{le="{le}"}} {cumulative}')
    lines.append(f"{name}_sum {totals[Counter.C_DURATION_SUM_US] / 1e6!r}")
    lines.append(f"{name}_count {cumulative}")


def render(totals, events, cache_stats=None):
    """The text of GET /metrics. ``totals``: the summed blocks; ``events``:
    the master's counters (prefork/metrics/master.py MasterEvents);
    ``cache_stats``: the response cache's counters, or None when it is off."""
    lines = []
    for family in FAMILIES:
        _head(lines, family.name, family.kind, family.help)
        for sample, value in family.samples(totals):
            lines.append(f"{sample} {value}")
    _duration(lines, totals)
    _master(lines, events)
    if cache_stats is not None:
        _cache(lines, cache_stats)
    _head(lines, "prefork_build_info", "gauge", "The running prefork and Python versions.")
    lines.append("prefork_build_info" + _labels([("version", __version__),
                                                 ("python", platform.python_version())]) + " 1")
    return "\n".join(lines) + "\n"


def _master(lines, events):
    _head(lines, "prefork_workers", "gauge", "Worker processes alive (every generation).")
    lines.append(f"prefork_workers {events.workers}")
    _head(lines, "prefork_generation", "gauge", "The current generation (1, plus one per reload).")
    lines.append(f"prefork_generation {events.generation}")
    _head(lines, "prefork_worker_starts_total", "counter", "Worker processes forked.")
    lines.append(f"prefork_worker_starts_total {events.starts}")
    _head(lines, "prefork_worker_exits_total", "counter",
          "Worker processes that exited, by cause: recycled (max-requests, memory), reload "
          "(an old generation), scaled_down (TTOU, WINCH), heartbeat (killed: its loop was "
          "stuck), crashed (ended on its own), shutdown.")
    for cause in WORKER_EXIT_CAUSES:
        lines.append(f'prefork_worker_exits_total{{cause="{cause}"}} {events.exits[cause]}')
    _head(lines, "prefork_reloads_total", "counter", "HUP reloads, by outcome.")
    for outcome in RELOAD_OUTCOMES:
        lines.append(f'prefork_reloads_total{{outcome="{outcome}"}} {events.reloads[outcome]}')


CACHE_COUNTERS = (
    ("prefork_cache_hits_total", "Responses answered from the cache, fresh.", "hits"),
    ("prefork_cache_stale_hits_total", "Responses answered from the cache, stale "
     "(stale-while-revalidate, stale-if-error).", "stale_hits"),
    ("prefork_cache_misses_total", "Lookups that found nothing usable.", "misses"),
    ("prefork_cache_stores_total", "Responses stored.", "stores"),
    ("prefork_cache_evictions_total", "Entries dropped to make room.", "evictions"),
    ("prefork_cache_coalesced_waits_total",
     "Requests that waited for another request's fill of their key.", "fill_waits"),
)
CACHE_GAUGES = (
    ("prefork_cache_bytes_used", "Bytes of the cache held by entries.", "bytes_used"),
    ("prefork_cache_entries", "Entries in the cache.", "entries"),
)


def _cache(lines, stats):
    for name, help, key in CACHE_COUNTERS:
        _head(lines, name, "counter", help)
        lines.append(f"{name} {stats[key]}")
    for name, help, key in CACHE_GAUGES:
        _head(lines, name, "gauge", help)
        lines.append(f"{name} {stats[key]}")
