"""@shared_lru_cache: lru_cache's interface, entries shared by every
process, one computation per key at a time. In this process and forked
ones on real stores, then through the real prefork-serve with four workers."""
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from prefork.cache._appstore import AppStore
from prefork.shared import shared_lru_cache
from procs import ask, every_worker
from test_shared_api import APP, forked


@pytest.fixture
def store():
    return AppStore(4 << 20)


def counted(store, **options):
    calls = []

    @shared_lru_cache(store=store, **options)
    def double(x, y=1):
        calls.append(x)
        return x * 2 * y
    return double, calls


def test_results_are_remembered_and_cache_info_counts(store):
    double, calls = counted(store, maxsize=8)
    assert [double(3), double(3), double(3, y=2), double(3, y=2)] == [6, 6, 12, 12]
    assert calls == [3, 3]
    assert double.cache_info() == (2, 2, 8, 2)
    assert double.__wrapped__(5) == 10 and double.__name__ == "double"
    assert double.cache_parameters() == {"maxsize": 8, "typed": False, "ttl": None}


def test_bare_decorator_and_none_results(store):
    calls = []

    @shared_lru_cache
    def nothing():
        calls.append(1)

    assert nothing() is None and nothing() is None
    assert calls == [1]
    assert nothing.cache_info().maxsize == 128


def test_typed_tells_int_and_float_apart(store):
    loose, loose_calls = counted(store, typed=False)
    strict, strict_calls = counted(store, typed=True)
    loose(1), loose(1.0), loose(True)
    strict(1), strict(1.0), strict(True)
    assert len(loose_calls) == 1 and len(strict_calls) == 3


def test_maxsize_bounds_the_entries_of_every_process_together(store):
    double, _ = counted(store, maxsize=5)
    for n in range(3):                  # one process after another
        assert forked(1, lambda _: [double(n * 100 + k) for k in range(20)] and 0) == [0]
    assert double.cache_info().currsize == 5
    store.check()
    for k in range(16, 20):             # the most recently stored are kept
        assert double(200 + k) == (200 + k) * 2
    assert double.cache_info().hits == 4


def test_maxsize_zero_remembers_nothing(store):
    double, calls = counted(store, maxsize=0)
    double(1), double(1)
    assert calls == [1, 1] and double.cache_info() == (0, 2, 0, 0)


def test_ttl_expires_entries(store):
    double, calls = counted(store, ttl=0.05)
    double(1)
    time.sleep(0.08)
    double(1)
    assert calls == [1, 1]


def test_cache_clear_reaches_every_process(store):
    double, calls = counted(store)
    double(1)
    assert forked(1, lambda n: double.cache_clear() or 0) == [0]
    assert double.cache_info().currsize == 0
    double(1)
    assert calls == [1, 1]


def test_exceptions_are_not_remembered(store):
    calls = []

    @shared_lru_cache(store=store)
    def fails(x):
        calls.append(x)
        raise ValueError(x)

    for _ in range(2):
        with pytest.raises(ValueError):
            fails(1)
    assert calls == [1, 1]


def test_unpicklable_arguments_are_a_type_error(store):
    double, _ = counted(store)
    with pytest.raises(TypeError, match="cannot be pickled"):
        double(lambda: 1)


def test_one_computation_per_key_across_processes(store, tmp_path):
    log = tmp_path / "calls"

    @shared_lru_cache(store=store)
    def slow(x):
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(0.3)
        return x

    assert forked(6, lambda n: 0 if slow(7) == 7 else 1) == [0] * 6
    assert len(log.read_text().split()) == 1
    assert store.stats()["fill_busy"] == 5


def test_waiters_compute_for_themselves_when_the_computation_fails(store, tmp_path):
    log = tmp_path / "calls"

    @shared_lru_cache(store=store)
    def flaky(x):
        with open(log, "a") as f:
            f.write("call\n")
        time.sleep(0.2)
        raise RuntimeError("down")

    def call(n):
        try:
            flaky(1)
        except RuntimeError:
            return 0
        return 1
    assert forked(3, call) == [0, 0, 0]
    assert len(log.read_text().split()) == 3


def test_a_waiter_gives_up_after_lock_timeout(store, tmp_path):
    log = tmp_path / "calls"

    @shared_lru_cache(store=store, lock_timeout=0.1)
    def slow(x):
        with open(log, "a") as f:
            f.write("call\n")
        time.sleep(0.5)
        return x

    started = time.monotonic()
    assert forked(2, lambda n: time.sleep(0.05 * n) or (0 if slow(1) == 1 else 1)) == [0, 0]
    assert len(log.read_text().split()) == 2
    assert time.monotonic() - started < 1.0     # the second did not wait for the first


def test_a_delete_during_the_computation_keeps_its_result_out(store):
    @shared_lru_cache(store=store)
    def cleared_meanwhile(x):
        cleared_meanwhile.cache_clear()
        return x

    cleared_meanwhile(1)
    assert cleared_meanwhile.cache_info().currsize == 0
    assert store.stats()["fills_voided"] == 1


# -- through the server --------------------------------------------------------

@pytest.fixture(scope="module")
def four(module_server_factory):
    return module_server_factory(APP, "--workers", "4", "--threads", "4")


def total_calls(server, n):
    return sum(r["calls"].get(str(n), 0) for r in every_worker(server, "/calls", 4).values())


def test_four_workers_compute_each_key_once(four):
    with ThreadPoolExecutor(32) as pool:
        replies = list(pool.map(lambda k: ask(four, f"/square?n={k % 4}"), range(64)))
    assert {r["value"]["square"] for r in replies} == {0, 1, 4, 9}
    assert len({r["pid"] for r in replies}) > 1
    assert [total_calls(four, n) for n in range(4)] == [1, 1, 1, 1]


def test_cache_clear_in_one_worker_empties_it_for_all(four):
    ask(four, "/square?n=10")
    assert ask(four, "/square-info")["info"][3] >= 1
    ask(four, "/square-clear")
    assert {r["info"][3] for r in every_worker(four, "/square-info", 4).values()} == {0}
    ask(four, "/square?n=10")
    assert total_calls(four, 10) == 2
