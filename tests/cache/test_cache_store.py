"""The shared-memory store behind the response cache: bounds, eviction,
sharing across forked processes, stampede markers, and survival of processes
killed with SIGKILL in the middle of writing. Real processes, no mocks."""
import hashlib
import os
import random
import signal
import time

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from prefork.cache._lookup import BUSY, HIT, MISS, STALE, SharedCache
from prefork.cache.policy import Decision

HOST = b"example.com"
NOW = 1000.0
FOREVER = Decision(True, ttl=1e9)


def store(cache, target, body, request_headers=(), decision=FOREVER, now=NOW):
    return cache.store(HOST, target, list(request_headers), decision, "200 OK",
                       [("Content-Type", "application/octet-stream")], body, now=now)


def body_of(response):
    return None if response is None else response.split(b"\r\n\r\n", 1)[1]


def fetch(cache, target, now=NOW):
    return body_of(cache.lookup(b"GET", HOST, target, [], now=now))


def sealed(payload):
    """A body that proves its own integrity: sha256(payload) + payload."""
    return hashlib.sha256(payload).digest() + payload


def intact(body):
    return hashlib.sha256(body[32:]).digest() == body[:32]


def run_in_child(fn, timeout=20.0):
    """Run fn() in a forked child; its exit code (0 when fn returns), or
    fail if it has not finished within `timeout` (a deadlock)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fn()
            code = 0
        except BaseException:   # the child must never return into pytest
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"child {pid} still running after {timeout}s: the cache lock is stuck")


# -- one process ---------------------------------------------------------------

def test_store_then_lookup_returns_the_body():
    cache = SharedCache(1 << 20, 1 << 18)
    assert fetch(cache, b"/a") is None
    assert store(cache, b"/a", b"x" * 5000)
    assert fetch(cache, b"/a") == b"x" * 5000
    assert cache.status == HIT


def test_storing_again_replaces_the_entry():
    cache = SharedCache(1 << 20, 1 << 18)
    store(cache, b"/a", b"old")
    store(cache, b"/a", b"new")
    assert fetch(cache, b"/a") == b"new"
    assert cache.stats()["entries"] == 1


def test_entry_over_max_entry_bytes_is_refused():
    cache = SharedCache(1 << 20, 4096)
    assert not store(cache, b"/big", b"x" * 5000)
    assert fetch(cache, b"/big") is None
    assert cache.stats()["store_rejects"] == 1


def test_least_recently_used_entry_is_evicted_first():
    cache = SharedCache(8 * 1400, 1024, lru_interval=0)
    capacity = cache.stats()["capacity"] // 1024
    targets = [b"/%d" % k for k in range(capacity)]
    for target in targets:
        store(cache, target, b"v")
    fetch(cache, targets[0])                # now the most recently used
    store(cache, b"/new", b"v")
    assert fetch(cache, targets[0]) == b"v"
    assert fetch(cache, targets[1]) is None
    assert cache.stats()["evictions"] == 1


def test_lru_moves_at_most_once_per_interval():
    cache = SharedCache(8 * 1400, 1024, lru_interval=60)
    capacity = cache.stats()["capacity"] // 1024
    for k in range(capacity):
        store(cache, b"/%d" % k, b"v")
    fetch(cache, b"/0", now=NOW + 1)        # within the interval: stays the oldest
    store(cache, b"/new", b"v")
    assert fetch(cache, b"/0") is None


def test_byte_bound_holds_under_a_random_workload():
    cache = SharedCache(64 * 1024, 16 * 1024, block_size=256, lru_interval=0)
    rng = random.Random(4)
    stats = cache.stats()
    assert stats["map_size"] <= 64 * 1024
    for _ in range(3000):
        target = b"/%d" % rng.randrange(200)
        op = rng.random()
        if op < 0.6:
            store(cache, target, rng.randbytes(int(rng.expovariate(1 / 2000)) % 20000))
        elif op < 0.9:
            fetch(cache, target)
        else:
            cache.invalidate(HOST, target)
        assert cache.stats()["bytes_used"] <= stats["capacity"]
    cache.check()
    assert cache.stats()["evictions"] > 0


def test_invalidate_and_purge_drop_every_variant():
    cache = SharedCache(1 << 20, 1 << 16)
    vary = Decision(True, ttl=1e9, vary=("accept-language",))
    for lang in (b"en", b"fr", b"de"):
        store(cache, b"/doc", lang, [(b"Accept-Language", lang)], decision=vary)
    store(cache, b"/other", b"o")
    assert cache.invalidate(HOST, b"/doc") == 3
    assert cache.lookup(b"GET", HOST, b"/doc", [(b"Accept-Language", b"en")], now=NOW) is None
    assert fetch(cache, b"/other") == b"o"
    assert cache.purge(HOST, b"/other") == 1
    stats = cache.stats()
    assert (stats["invalidations"], stats["purges"], stats["entries"]) == (3, 1, 0)


def test_counters():
    cache = SharedCache(1 << 20, 1 << 16)
    fetch(cache, b"/a")
    store(cache, b"/a", b"12345")
    fetch(cache, b"/a")
    fetch(cache, b"/a")
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["stores"], stats["entries"]) == (2, 1, 1, 1)
    assert stats["bytes_used"] == 1024 and 5 < stats["bytes_stored"] <= 1024


def test_expired_entry_is_dropped():
    cache = SharedCache(1 << 20, 1 << 16)
    store(cache, b"/a", b"v", decision=Decision(True, ttl=10))
    assert fetch(cache, b"/a", now=NOW + 11) is None
    assert cache.stats()["expirations"] == 1 and cache.stats()["entries"] == 0


# -- stampede control ----------------------------------------------------------

def test_first_miss_fills_and_the_next_waits():
    cache = SharedCache(1 << 20, 1 << 16)
    fetch(cache, b"/a")
    assert (cache.status, cache.fill_won) == (MISS, True)
    fetch(cache, b"/a")
    assert (cache.status, cache.fill_won) == (BUSY, False)
    cache.end_fill(cache.key(HOST, b"/a"))
    fetch(cache, b"/a")
    assert (cache.status, cache.fill_won) == (MISS, True)


def test_fill_marker_expires():
    cache = SharedCache(1 << 20, 1 << 16, fill_timeout=5)
    key = cache.key(HOST, b"/a")
    assert cache.begin_fill(key, now=NOW)
    assert not cache.begin_fill(key, now=NOW + 4.9)
    assert cache.begin_fill(key, now=NOW + 5.1)


def test_a_stored_fill_frees_its_marker_for_the_next_fill():
    cache = SharedCache(1 << 20, 1 << 16)
    fetch(cache, b"/a")
    first = cache.fill_seq
    cache.end_fill(cache.key(HOST, b"/a"), stored=True, seq=first)
    fetch(cache, b"/a")
    assert (cache.status, cache.fill_won) == (MISS, True) and cache.fill_seq > first


def test_a_fill_that_ends_unstored_lets_misses_through_unwaited_for_a_while():
    """Varnish's hit-for-miss: waiting behind fills that are not stored
    either would only delay every request."""
    cache = SharedCache(1 << 20, 1 << 16, pass_time=10)
    key = cache.key(HOST, b"/a")
    fetch(cache, b"/a")
    cache.end_fill(key, stored=False, seq=cache.fill_seq)
    for _ in range(3):
        fetch(cache, b"/a", now=time.monotonic())
        assert (cache.status, cache.fill_won, cache.fill_seq) == (MISS, True, 0)
    assert cache.stats()["fill_busy"] == 0
    fetch(cache, b"/a", now=time.monotonic() + 11)      # passing is over: one fills again
    assert cache.fill_won and cache.fill_seq
    fetch(cache, b"/a", now=time.monotonic() + 11)
    assert cache.status == BUSY


def test_a_stale_entry_is_not_refreshed_while_its_last_refresh_passes():
    cache = SharedCache(1 << 20, 1 << 16, pass_time=10)
    store(cache, b"/a", b"old", decision=Decision(True, ttl=1, stale_while_revalidate=60), now=NOW)
    assert fetch(cache, b"/a", now=NOW + 2) == b"old"
    assert cache.status == STALE and cache.fill_won
    cache.end_fill(cache.key(HOST, b"/a"), stored=False, seq=cache.fill_seq)
    assert fetch(cache, b"/a", now=NOW + 3) == b"old"
    assert cache.status == STALE and not cache.fill_won


def test_a_filler_that_outlived_its_marker_does_not_end_the_next_fill():
    cache = SharedCache(1 << 20, 1 << 16, fill_timeout=5)
    key = cache.key(HOST, b"/a")
    fetch(cache, b"/a", now=NOW)
    slow = cache.fill_seq
    fetch(cache, b"/a", now=NOW + 6)        # the lock timed out: one more fill
    assert cache.fill_won and cache.fill_seq != slow
    cache.end_fill(key, stored=False, seq=slow)
    fetch(cache, b"/a", now=NOW + 6.5)
    assert cache.status == BUSY             # the second fill still holds the key


def test_a_waiting_request_waits_for_a_slow_fill_that_a_new_request_takes_over():
    """Past the lock timeout a new request may fill again (nginx's
    proxy_cache_lock_age); one already waiting keeps to its own timeout."""
    cache = SharedCache(1 << 20, 1 << 16, fill_timeout=5)
    fetch(cache, b"/a", now=NOW)
    cache.lookup(b"GET", HOST, b"/a", [], now=NOW + 6, recheck=True)
    assert (cache.status, cache.fill_won) == (BUSY, False)
    fetch(cache, b"/a", now=NOW + 6)
    assert (cache.status, cache.fill_won) == (MISS, True)


def test_a_waiting_request_looking_again_is_not_another_miss():
    cache = SharedCache(1 << 20, 1 << 16)
    fetch(cache, b"/a")
    for _ in range(3):
        cache.lookup(b"GET", HOST, b"/a", [], now=NOW, recheck=True)
        assert cache.status == BUSY
    assert (cache.stats()["misses"], cache.stats()["fill_busy"]) == (1, 0)
    cache.store(HOST, b"/a", [], FOREVER, "200 OK", [], b"filled", now=NOW)
    assert body_of(cache.lookup(b"GET", HOST, b"/a", [], now=NOW, recheck=True)) == b"filled"


def test_fill_marker_of_a_dead_process_is_void():
    cache = SharedCache(1 << 20, 1 << 16, fill_timeout=60)
    key = cache.key(HOST, b"/a")
    assert run_in_child(lambda: os._exit(0 if cache.begin_fill(key) else 1)) == 0
    assert cache.begin_fill(key)        # the filler exited without end_fill()


def test_fill_marker_is_seen_by_other_processes():
    cache = SharedCache(1 << 20, 1 << 16, fill_timeout=60)
    key = cache.key(HOST, b"/a")
    assert cache.begin_fill(key)
    assert run_in_child(lambda: os._exit(0 if not cache.begin_fill(key) else 1)) == 0
    cache.end_fill(key)
    assert run_in_child(lambda: os._exit(0 if cache.begin_fill(key) else 1)) == 0


def store_fill(cache, target, body, generation, seq=0):
    """store() as the winner of the key's fill ``seq`` (0: unmarked), which
    began at ``generation``."""
    return cache.store(HOST, target, [], FOREVER, "200 OK", [("Content-Type", "text/plain")],
                       body, fill_generation=generation, fill_seq=seq, now=NOW)


def test_a_fill_overtaken_by_an_invalidation_of_its_key_is_not_stored():
    cache = SharedCache(1 << 20, 1 << 16)
    fetch(cache, b"/a")
    assert cache.fill_won
    generation, seq = cache.fill_generation, cache.fill_seq
    # An unsafe request changes /a while the app is producing the old body.
    assert run_in_child(lambda: os._exit(cache.invalidate(HOST, b"/a"))) == 0
    assert not store_fill(cache, b"/a", b"old", generation, seq)
    cache.end_fill(cache.key(HOST, b"/a"), stored=False)
    assert fetch(cache, b"/a") is None and cache.stats()["fills_voided"] == 1
    # The next fill is not affected (a voided fill lets the next one fill at once).
    assert cache.fill_won and cache.fill_seq
    assert store_fill(cache, b"/a", b"new", cache.fill_generation, cache.fill_seq)
    assert fetch(cache, b"/a") == b"new"


def test_an_invalidation_of_another_key_leaves_a_fill_alone():
    cache = SharedCache(1 << 20, 1 << 16)
    fetch(cache, b"/a")
    generation, seq = cache.fill_generation, cache.fill_seq
    cache.invalidate(HOST, b"/b")
    assert store_fill(cache, b"/a", b"body", generation, seq)
    assert fetch(cache, b"/a") == b"body"


def test_a_fill_without_a_marker_is_voided_by_any_invalidation():
    # With every fill marker taken, the fill is unmarked and only the store's
    # drop generation can tell whether anything was invalidated meanwhile.
    cache = SharedCache(1 << 20, 1 << 16, fill_slots=1)
    fetch(cache, b"/other")
    fetch(cache, b"/a")
    assert cache.fill_won
    generation = cache.fill_generation
    cache.invalidate(HOST, b"/b")
    assert not store_fill(cache, b"/a", b"body", generation)
    fetch(cache, b"/a")
    assert cache.fill_won
    assert store_fill(cache, b"/a", b"body", cache.fill_generation)


def test_clear_voids_the_fills_under_way():
    cache = SharedCache(1 << 20, 1 << 16)
    fetch(cache, b"/a")
    generation, seq = cache.fill_generation, cache.fill_seq
    cache.clear()
    assert not store_fill(cache, b"/a", b"body", generation, seq)


# -- across processes ------------------------------------------------------------

def test_entry_stored_by_one_child_is_found_by_another():
    cache = SharedCache(1 << 20, 1 << 16)
    assert run_in_child(lambda: os._exit(0 if store(cache, b"/shared", b"from child") else 1)) == 0
    assert run_in_child(lambda: os._exit(0 if fetch(cache, b"/shared") == b"from child" else 1)) == 0
    assert fetch(cache, b"/shared") == b"from child"
    assert cache.stats()["hits"] == 2


def test_invalidate_is_seen_by_every_process():
    cache = SharedCache(1 << 20, 1 << 16)
    store(cache, b"/doc", b"v1")
    assert run_in_child(lambda: os._exit(0 if cache.invalidate(HOST, b"/doc") == 1 else 1)) == 0
    assert fetch(cache, b"/doc") is None
    assert run_in_child(lambda: os._exit(0 if fetch(cache, b"/doc") is None else 1)) == 0


def test_process_killed_holding_the_lock_does_not_deadlock():
    cache = SharedCache(1 << 20, 1 << 16)
    store(cache, b"/before", b"v")

    def die_holding_lock():
        cache.shm._lock_for_test()
        os.kill(os.getpid(), signal.SIGKILL)

    assert run_in_child(die_holding_lock) == -signal.SIGKILL

    def use_cache():
        assert fetch(cache, b"/before") is None     # everything half-written is dropped
        assert store(cache, b"/after", b"w") and fetch(cache, b"/after") == b"w"
        cache.check()

    assert run_in_child(use_cache) == 0
    assert cache.stats()["recoveries"] == 1
    assert fetch(cache, b"/after") == b"w"


def hammer(cache, seed):
    """Store, read and invalidate sealed bodies forever (until killed)."""
    rng = random.Random(seed)
    while True:
        target = b"/k%d" % rng.randrange(48)
        op = rng.random()
        if op < 0.5:
            store(cache, target, sealed(rng.randbytes(rng.randrange(0, 24000))))
        elif op < 0.95:
            body = fetch(cache, target)
            if body is not None and not intact(body):
                os._exit(3)
        else:
            cache.invalidate(HOST, target)


@pytest.mark.parametrize("round_", range(6))
def test_writers_killed_mid_write_leave_no_torn_entry(round_):
    cache = SharedCache(256 * 1024, 32 * 1024, block_size=512, verify_reads=False)
    rng = random.Random(round_)
    children = []
    for k in range(3):
        pid = os.fork()
        if pid == 0:
            try:
                hammer(cache, round_ * 10 + k)
            finally:
                os._exit(2)
        children.append(pid)
    time.sleep(rng.uniform(0.05, 0.3))
    for pid in children:
        time.sleep(rng.uniform(0, 0.02))
        os.kill(pid, signal.SIGKILL)
    for pid in children:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == -signal.SIGKILL, "a reader saw a torn body"

    def verify_everything():
        served = 0
        for k in range(48):
            body = fetch(cache, b"/k%d" % k)
            if body is not None:
                assert intact(body), f"/k{k} is torn"
                served += 1
        cache.check()
        assert store(cache, b"/k0", sealed(b"again")) and intact(fetch(cache, b"/k0"))

    assert run_in_child(verify_everything) == 0
    stats = cache.stats()
    assert stats["stores"] > 0 and stats["bytes_used"] <= stats["capacity"]


# -- the store against a model -------------------------------------------------------

class StoreAgainstModel(RuleBasedStateMachine):
    """A hit returns exactly the last value stored for its key, never one of
    another key; anything may be evicted (approximate LRU); the byte bound
    holds throughout."""

    def __init__(self):
        super().__init__()
        self.cache = SharedCache(12 * 1024, 2048, block_size=128, lru_interval=0)
        self.model = {}
        self.serial = 0

    keys = st.sampled_from([b"/a", b"/b", b"/c", b"/d", b"/e", b"/f?x=1", b"/f?x=2"])

    @rule(path=keys, size=st.integers(0, 2500))
    def put(self, path, size):
        self.serial += 1
        body = (b"%s#%d:" % (path, self.serial)).ljust(size, b".")
        if store(self.cache, path, body):
            self.model[path] = body
        else:
            self.model.pop(path, None)    # the old entry was replaced by nothing

    @rule(path=keys)
    def get(self, path):
        body = fetch(self.cache, path)
        if body is not None:
            assert body == self.model.get(path)

    @rule(path=keys)
    def invalidate(self, path):
        self.cache.invalidate(HOST, path)
        self.model.pop(path, None)

    @precondition(lambda self: self.serial % 7 == 0)
    @rule()
    def check_structure(self):
        self.cache.check()

    @invariant()
    def bytes_bounded(self):
        stats = self.cache.stats()
        assert stats["bytes_used"] <= stats["capacity"] and stats["map_size"] <= 12 * 1024


StoreAgainstModel.TestCase.settings = settings(max_examples=60, stateful_step_count=60, deadline=None)
test_store_against_model = StoreAgainstModel.TestCase
