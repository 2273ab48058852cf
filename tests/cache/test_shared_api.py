"""prefork.shared: the app store's API, on real stores in this process and
in forked processes, then through the real prefork-serve with several
workers (tests/apps/shared_app.py)."""
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import run_cli
from procs import ask, every_worker, wait_for, workers
from prefork.cache._appstore import AppStore
from prefork.cache._lookup import SharedCache
from prefork.cache.policy import decide

APP = "shared_app:app"


@pytest.fixture
def store():
    return AppStore(1 << 20)


# -- the store, in this process --------------------------------------------

@pytest.mark.parametrize("value", [b"\x00raw bytes\xff", "text é", 42, -7, 2 ** 70, None, True,
                                   3.5, [1, {"a": (2, 3)}], {"k": b"v"}],
                         ids=repr)
def test_values_read_back_equal_and_of_their_type(store, value):
    assert store.set("k", value) is True
    got = store.get("k", "default")
    assert got == value and type(got) is type(value)


def test_get_of_an_absent_key_is_the_default(store):
    assert store.get("absent") is None
    assert store.get("absent", 5) == 5
    store.set("none", None)
    assert store.get("none", 5) is None


def test_str_and_bytes_keys_name_the_same_entry(store):
    store.set("clé", b"v")
    assert store.get("clé".encode()) == b"v"
    with pytest.raises(TypeError, match="a key is a str or bytes"):
        store.get(42)


def test_ttl_expires_and_zero_deletes(store):
    store.set("short", b"v", ttl=0.05)
    store.set("forever", b"v", ttl=None)
    assert store.get("short") == b"v"
    time.sleep(0.08)
    assert store.get("short") is None and not store.has("short")
    assert store.get("forever") == b"v"
    assert store.set("forever", b"w", ttl=0) is True
    assert not store.has("forever")
    assert store.add("zero", b"v", ttl=0) is True and not store.has("zero")


def test_touch_gives_a_new_ttl(store):
    store.set("k", b"v", ttl=0.05)
    assert store.touch("k", ttl=None) is True
    time.sleep(0.08)
    assert store.get("k") == b"v"
    assert store.touch("k", ttl=0) is True and not store.has("k")
    assert store.touch("k") is False


def test_add_stores_only_when_absent(store):
    assert store.add("k", 1) is True
    assert store.add("k", 2) is False
    assert store.get("k") == 1
    assert store.delete("k") is True and store.delete("k") is False
    assert store.add("k", 3) is True and store.get("k") == 3


def test_incr_missing_non_int_and_overflow(store):
    assert store.incr("new") == 1
    assert store.incr("new", 41) == 42
    assert store.incr("new", -50) == -8
    with pytest.raises(KeyError):
        store.incr("absent", create=False)
    assert not store.has("absent")
    store.set("text", "7")
    with pytest.raises(TypeError, match="not an int"):
        store.incr("text")
    assert store.get("text") == "7"
    store.set("max", 2 ** 63 - 1)
    with pytest.raises(OverflowError):
        store.incr("max")
    assert store.get("max") == 2 ** 63 - 1
    store.check()


def test_a_value_over_an_eighth_of_the_store_is_refused(store):
    store.set("big", b"old")
    assert store.set("big", b"x" * (store.stats()["max_entry"] + 1)) is False
    assert store.get("big") is None        # never the value it replaced


def test_old_entries_make_room_for_new_ones(store):
    for n in range(5000):
        assert store.set(f"k{n}", b"x" * 400)
    stats = store.stats()
    assert stats["evictions"] > 0 and stats["bytes_used"] <= stats["capacity"]
    assert store.get("k4999") == b"x" * 400 and store.get("k0") is None
    store.check()


def test_app_data_never_evicts_responses():
    cache = SharedCache(1 << 20, 1 << 16)
    headers = [("Cache-Control", "max-age=60")]
    cache.store(b"h", b"/page", [], decide("GET", [], "200 OK", headers), "200 OK", headers, b"page")
    apps = AppStore(1 << 20)
    for n in range(20000):
        apps.set(f"k{n}", b"x" * 300)
    assert apps.stats()["evictions"] > 0
    assert cache.lookup(b"GET", b"h", b"/page").endswith(b"page")


def forked(count, body):
    """Run ``body(n)`` in ``count`` forked processes; their exit codes."""
    pids = []
    for n in range(count):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = body(n)
            finally:
                os._exit(code)
        pids.append(pid)
    return [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]


def test_add_is_atomic_across_processes(store):
    codes = forked(8, lambda n: 0 if store.add("lock", n) else 3)
    assert sorted(codes) == [0] + [3] * 7
    assert store.get("lock") in range(8)


def test_incr_is_atomic_across_processes(store):
    def bump(n):
        for _ in range(2000):
            store.incr("counter")
        return 0
    assert forked(4, bump) == [0, 0, 0, 0]
    assert store.get("counter") == 8000


def test_outside_prefork_serve_a_local_store_says_so_once():
    code = ("from prefork import shared; shared.set('a', b'1'); shared.get('a'); "
            "import logging; print(shared.get('a'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout == "b'1'\n"
    assert out.stderr.count("not running under prefork-serve") == 1, out.stderr


# -- through the server --------------------------------------------------------

@pytest.fixture(scope="module")
def four(module_server_factory):
    return module_server_factory(APP, "--workers", "4")


def test_a_value_set_in_one_worker_is_read_by_every_worker(four):
    assert ask(four, "/set?key=shared-1&value=hello")["stored"] is True
    replies = every_worker(four, "/get?key=shared-1", 4)
    assert {r["value"] for r in replies.values()} == {"hello"}


def test_incr_across_workers_never_loses_an_update(four):
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda _: ask(four, "/incr?key=hits-1"), range(200)))
    assert sorted(r["value"] for r in replies) == list(range(1, 201))
    assert len({r["pid"] for r in replies}) > 1        # several workers did add


def test_add_across_workers_lets_exactly_one_in(four):
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda n: ask(four, f"/add?key=once-1&value={n}"), range(40)))
    assert sum(r["added"] for r in replies) == 1
    assert len({r["pid"] for r in replies}) > 1        # several workers did try


def test_a_delete_in_one_worker_is_seen_by_every_worker(four):
    ask(four, "/set?key=gone-1&value=v")
    assert ask(four, "/delete?key=gone-1")["deleted"] is True
    assert {r["value"] for r in every_worker(four, "/get?key=gone-1", 4).values()} == {None}


def test_the_store_survives_a_hup_reload(server_factory):
    server = server_factory(APP, "--workers", "2")
    before = set(wait_for(lambda: len(workers(server.pid)) == 2 and workers(server.pid)))
    ask(server, "/set?key=kept&value=across-reloads")
    server.signal(signal.SIGHUP)
    wait_for(lambda: len(workers(server.pid)) == 2 and not set(workers(server.pid)) & before,
             timeout=15, message="a new generation of workers")
    assert ask(server, "/get?key=kept")["value"] == "across-reloads"


def test_app_cache_size_zero_gives_each_worker_its_own_store_and_says_so(server_factory):
    server = server_factory(APP, "--workers", "2", "--app-cache-size", "0")
    first = ask(server, "/set?key=k&value=v")["pid"]
    replies = every_worker(server, "/get?key=k", 2)
    assert replies[first]["value"] == "v"
    assert [r["value"] for pid, r in replies.items() if pid != first] == [None]
    assert "the app cache is off (--app-cache-size 0)" in server.output()


@pytest.mark.parametrize("value", ["10KB", "lots", "-1"])
def test_a_bad_app_cache_size_is_a_one_line_error(value):
    out = run_cli("hello:app", "--app-cache-size", value, "--check-config")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "--app-cache-size" in out.stderr and "at least 64KB" in out.stderr
