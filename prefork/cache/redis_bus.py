"""Invalidations across hosts through Redis (``--cache-redis``).

Each host's master forks one more child, the relay, beside its workers. A
worker that invalidates something (prefork/cache/bus.py: an unsafe
request's URIs, PURGE, tag purges, prefork.shared's set/add/delete/clear,
cache_clear()) drops it from its own host's shared stores, writes a record
into the bus pipe and goes on: no request ever waits on Redis. The relay
publishes the records on a Redis channel, and applies the records the
other hosts publish to this host's shared stores, usually within a
millisecond of their PURGE or POST (bench/bench_shared.py measures it).

Why a process: the Redis client (and what it imports) stays out of the
master, whose memory every worker inherits, and the master never forks
while a thread of it holds a lock; a blocked or broken connection stalls
nothing but the relay. The master restarts it if it dies.

When Redis cannot be reached, the host keeps serving from its local caches;
the relay logs it once, retries with back-off (0.1 s doubling to 5 s), keeps
what this host invalidated meanwhile (up to 10,000 records, else "drop
everything") to publish once back, and on reconnecting drops both of this
host's caches: invalidations the others published meanwhile were missed, and
dropping everything is the only answer that is never stale. A relay that
the master restarts does the same (it may have missed some as well).

Records carry the publishing host's random id, so a relay skips its own.
"""
import logging
import os
import signal
import threading
import time

from prefork.cache.bus import InvalidationBus
from prefork.master.proctitle import set_title

log = logging.getLogger("prefork.error")

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0
PENDING_MAX = 10000         # records kept while Redis is away; past it, "drop everything"
RESPAWN_AFTER = 1.0
DROP_EVERYTHING = [b"C", b"X"]


def open_bus(settings, cache, app_store):
    """In the master, before any fork: the pipe the workers hand their
    invalidations to, attached to both stores; None without --cache-redis."""
    if not settings.cache_redis:
        return None
    bus = InvalidationBus()
    if cache is not None:
        cache.bus = bus
    app_store.bus = bus
    return bus


class Relay:
    """The master's record of its relay process."""

    def __init__(self, arbiter, bus):
        self.arbiter, self.bus = arbiter, bus
        self.pid = None
        self.spawned = 0
        self.respawn_at = 0.0

    def spawn(self):
        pid = os.fork()
        if pid:
            self.pid = pid
            self.spawned += 1
            return
        code = 1
        try:
            code = run_relay(self.arbiter, self.bus, first=self.spawned == 0)
        except BaseException:
            log.exception("cache relay failed")
        finally:
            os._exit(code)

    def reap(self, pid, status, describe):
        """The master reaped ``pid``: True if it was the relay (restarted soon)."""
        if pid != self.pid or pid is None:
            return False
        self.pid = None
        self.respawn_at = time.monotonic() + RESPAWN_AFTER
        log.warning("cache relay (pid %d) %s; restarting it", pid, describe(status))
        return True

    def check(self, stopping):
        if self.pid is None and not stopping and time.monotonic() >= self.respawn_at:
            self.spawn()

    def stop(self, timeout=3.0):
        """After the workers: the relay publishes what they left in the pipe, then exits."""
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def run_relay(arbiter, bus, first):
    """The relay process: returns its exit code."""
    reset_after_fork(arbiter)
    set_title("cache relay", arbiter.app_spec)
    os.close(bus.write_fd)      # EOF on the pipe once the master and workers are gone
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, lambda *_: stop.set())
    settings = arbiter.settings
    link = RedisLink(settings.cache_redis, settings.cache_redis_channel, arbiter.cache,
                     arbiter.app_store, first)
    threading.Thread(target=link.subscribe, args=(stop,), name="subscriber", daemon=True).start()
    link.publish_from(bus, stop)
    return 0


def reset_after_fork(arbiter):
    """Undo the master's process state: the relay serves no socket."""
    for signum in arbiter.HANDLED:
        signal.signal(signum, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    for fd in (arbiter.wake_r, arbiter.wake_w) + tuple(getattr(arbiter, "accept_kick", ())):
        os.close(fd)
    for sock in arbiter.listeners:
        sock.close()
    for child in arbiter.children.values():
        child.slot.close()


class RedisLink:
    """The relay's two connections: a subscriber (a thread) that applies
    the other hosts' records, and the publisher (the main thread)."""

    def __init__(self, url, channel, cache, app_store, first):
        import redis
        self.redis = redis
        self.url, self.channel = url, channel
        self.host_id = os.urandom(8)
        self.cache, self.app_store = cache, app_store
        # Applying another host's record must not publish it again.
        if cache is not None:
            cache.bus = None
        app_store.bus = None
        self.client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0,
                                           health_check_interval=5)
        self.up = threading.Event()
        self.lost_at = None if first else time.monotonic()
        self.said_lost = False
        self.pending = []

    # -- the subscriber thread ----------------------------------------------

    def subscribe(self, stop):
        backoff = BACKOFF_FIRST
        while not stop.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                self.connected()
                backoff = BACKOFF_FIRST
                while not stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None and message["type"] == "message":
                        self.apply(message["data"])
            except (self.redis.RedisError, OSError) as exc:
                self.lost(exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
            finally:
                try:
                    pubsub.close()
                except Exception:
                    pass

    def connected(self):
        if self.lost_at is not None:
            dropped = self.drop_local()
            log.warning("reconnected to Redis at %s after %.1fs; dropped this host's caches "
                        "(%d responses, %d app entries): invalidations published meanwhile "
                        "may have been missed", self.url, time.monotonic() - self.lost_at, *dropped)
        else:
            log.info("cache invalidations go through Redis at %s (channel %r)",
                     self.url, self.channel)
        self.lost_at = None
        self.said_lost = False
        self.up.set()

    def lost(self, exc):
        self.up.clear()
        if self.lost_at is None:
            self.lost_at = time.monotonic()
        if not self.said_lost:
            self.said_lost = True
            log.error("cannot reach Redis at %s (%s): serving from this host's caches, "
                      "reconnecting with back-off", self.url, exc)

    def drop_local(self):
        responses = apps = 0
        if self.cache is not None:
            responses = self.cache.stats()["entries"]
            self.cache.clear()
        if self.app_store.is_open:
            apps = self.app_store.stats()["entries"]
            self.app_store.clear()
        return responses, apps

    def apply(self, data):
        """Another host's record: drop the same here."""
        if len(data) < 9 or data[:8] == self.host_id:
            return
        op, payload = data[8:9], data[9:]
        try:
            if op in b"UPTC" and self.cache is not None:
                self.apply_response(op, payload)
            elif op in b"DXG" and self.app_store.is_open:
                self.apply_app(op, payload)
        except Exception:
            log.exception("applying a cache invalidation from Redis (%r)", data[8:80])

    def apply_response(self, op, payload):
        if op == b"T":
            self.cache.purge_tags(payload.split())
        elif op == b"C":
            self.cache.clear()
        else:
            host, _, target = payload.partition(b"\n")
            self.cache.purge(host, target) if op == b"P" else self.cache.invalidate(host, target)

    def apply_app(self, op, payload):
        if op == b"D":
            self.app_store.delete(payload)
        elif op == b"X":
            self.app_store.clear()
        else:
            self.app_store.clear_group(int.from_bytes(payload, "little"))

    # -- the publisher (main thread) --------------------------------------------

    def publish_from(self, bus, stop):
        """Read the workers' records and publish them; at a stop, publish
        what the pipe still holds, then return."""
        while True:
            records = bus.receive(0.05 if stop.is_set() else 0.5)
            if records is None:
                break           # the master and every worker are gone
            if bus.take_overflow():
                records = records + DROP_EVERYTHING
            self.pending.extend(records)
            if len(self.pending) > PENDING_MAX:
                self.pending = list(DROP_EVERYTHING)
            if self.pending and self.up.is_set():
                self.flush()
            if stop.is_set() and not records:
                break

    def flush(self):
        try:
            pipe = self.client.pipeline(transaction=False)
            for record in self.pending:
                pipe.publish(self.channel, self.host_id + record)
            pipe.execute()
            self.pending = []
        except (self.redis.RedisError, OSError):
            pass        # kept; the subscriber notices the outage and says so
