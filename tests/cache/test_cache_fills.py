"""Requests that meet a fill under way, end to end: request coalescing
(misses of one key wait for the one request that calls the app, across
workers) and stale-while-revalidate (the stale answer at once, one refresh
after it). Every test runs in both modes: the app inline in the loop (the
default) and on a thread pool (``--threads 4``), with two workers, so a
fill in one worker is waited for in the other.

The app (tests/apps/cacheable.py) counts its calls per URI in each worker,
so "one app call" is observed, not assumed.
"""
import json
import signal
import socket
import statistics
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import MODES
from procs import wait_for, workers
from wire import read_response

APP = "cacheable:app"
CACHE = ["--cache-size", "16MB", "--cache-x-header", "--cache-stats-path", "/_stats"]
FILL = 0.5          # cacheable.COALESCE_SLEEP: the app's time for /coalesce*


@pytest.fixture(scope="module")
def server(module_server_factory, mode, tmp_path_factory):
    fail_file = tmp_path_factory.mktemp(f"fills-{mode}") / "fail"
    server = module_server_factory(APP, "--workers", "2", *MODES[mode], *CACHE,
                                   env={"CACHEABLE_FAIL_FILE": str(fail_file)})
    server.fail_file = fail_file
    wait_for(lambda: len(workers(server.pid)) == 2, message="two workers")
    return server


def get(server, path, headers=b"", timeout=10.0, method="GET"):
    """One GET on a new connection: (seconds from connecting to the whole
    response, response)."""
    started = time.monotonic()
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(b"%s %s HTTP/1.1\r\nHost: example.com\r\n%s\r\n"
                     % (method.encode(), path.encode(), headers))
        resp = read_response(sock.makefile("rb"), method)
        return time.monotonic() - started, resp


def fire(server, path, n, timeout=10.0):
    """``n`` GETs of ``path``, each on its own new connection, all started
    together: [(seconds, response)]. (Connected and sent at once, so that
    a worker busy in the app leaves the later ones to the other worker.)"""
    barrier = threading.Barrier(n)

    def one(_):
        barrier.wait()
        return get(server, path, timeout=timeout)
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def after(delay, fn, *args):
    """fn(*args) on a thread, ``delay`` seconds from now; returns its future."""
    pool = ThreadPoolExecutor(1)
    future = pool.submit(lambda: (time.sleep(delay), fn(*args))[1])
    pool.shutdown(wait=False)
    return future


def stats(server):
    _, resp = get(server, "/_stats")
    assert resp.status == 200, resp
    return json.loads(resp.body)


def app_calls(server, key, nworkers=2):
    """The app's calls for ``key``, summed over the workers (each answers
    /count for itself: ask until every one has)."""
    seen = {}
    deadline = time.monotonic() + 10
    while len(seen) < nworkers and time.monotonic() < deadline:
        _, resp = get(server, "/count")
        reply = json.loads(resp.body)
        seen[reply["pid"]] = reply["calls"].get(key, 0)
    assert len(seen) == nworkers, f"only workers {sorted(seen)} answered /count"
    return sum(seen.values())


def delta(before, after_, *names):
    return {name: after_[name] - before[name] for name in names}


def latency_summary(results):
    times = sorted(seconds for seconds, _ in results)
    return {"min": round(times[0], 3), "median": round(statistics.median(times), 3),
            "max": round(times[-1], 3)}


# -- request coalescing ------------------------------------------------------

def test_concurrent_misses_of_one_key_make_one_app_call_across_workers(server, mode):
    """nginx's proxy_cache_lock: 20 requests for a cold key, on 20
    connections spread over both workers: one calls the app, the others wait
    in their loops for its response."""
    path = f"/coalesce/cold-{mode}"
    before = stats(server)
    results = fire(server, path, 20)
    summary = latency_summary(results)
    print(f"\n{mode}: 20 concurrent misses, latency {summary}")
    assert [resp.status for _, resp in results] == [200] * 20
    assert len({resp.body for _, resp in results}) == 1
    assert sorted(resp.header("x-cache") for _, resp in results) == ["HIT"] * 19 + ["MISS"]
    assert summary["max"] < 1.5, summary
    assert app_calls(server, path) == 1
    moved = delta(before, stats(server), "stores", "fill_waits", "fill_wait_timeouts",
                  "fill_wait_cancels")
    print(f"{mode}: {moved}")
    assert moved.pop("fill_waits") >= 1
    assert moved == {"stores": 1, "fill_wait_timeouts": 0, "fill_wait_cancels": 0}
    _, again = get(server, path)
    assert (again.header("x-cache"), again.body) == ("HIT", results[0][1].body)


def test_waiters_of_a_fill_that_is_not_storable_call_the_app_at_once(server, mode):
    """A private response cannot answer the others: they are released when
    its head is known, not after the lock timeout (5 s by default)."""
    path = f"/coalesce-private/released-{mode}"
    before = stats(server)
    filler = after(0, get, server, path)
    time.sleep(0.15)                        # the filler is in the app
    waiters = fire(server, path, 3)
    results = [filler.result()] + waiters
    assert [resp.status for _, resp in results] == [200] * 4
    assert all(resp.header("x-cache") == "MISS" for _, resp in results)
    # Each waiter waited for the fill (0.5 s), then called the app (0.5 s);
    # inline, one worker calls it for the three in turn.
    assert max(seconds for seconds, _ in waiters) < 3 * FILL + FILL + 0.8
    assert app_calls(server, path) == 4
    moved = delta(before, stats(server), "fill_waits", "fill_wait_timeouts", "stores")
    assert moved == {"fill_waits": 3, "fill_wait_timeouts": 0, "stores": 0}
    # For a while after, misses of the key do not wait (Varnish's hit-for-miss).
    alone = fire(server, path, 2)
    assert app_calls(server, path) == 6
    assert delta(before, stats(server), "fill_waits")["fill_waits"] == 3
    assert max(seconds for seconds, _ in alone) < 2 * FILL + 0.8


def test_a_head_request_waits_for_a_get_fill_and_is_answered_from_it(server, mode):
    """RFC 9110 §9.3.2: HEAD is answered from the GET entry; it never fills."""
    path = f"/coalesce/head-{mode}"
    filler = after(0, get, server, path)
    time.sleep(0.1)
    _, head = get(server, path, method="HEAD")
    _, filled = filler.result()
    assert (head.status, head.header("x-cache"), head.body) == (200, "HIT", b"")
    assert int(head.header("content-length")) == len(filled.body)
    assert app_calls(server, path) == 1


def test_waiters_give_up_after_the_lock_timeout_and_call_the_app(server_factory, mode):
    """--cache-lock-timeout 0.3 with an app that takes 0.6 s: the waiters
    call the app themselves (and store nothing) at 0.3 s."""
    server = server_factory(APP, "--workers", "2", *MODES[mode], *CACHE,
                            "--cache-lock-timeout", "0.3")
    wait_for(lambda: len(workers(server.pid)) == 2, message="two workers")
    path = f"/slow/lock-timeout-{mode}"
    before = stats(server)
    filler = after(0, get, server, path)
    time.sleep(0.1)
    waiters = fire(server, path, 3)
    assert filler.result()[1].status == 200
    assert [resp.status for _, resp in waiters] == [200] * 3
    assert all(seconds > 0.3 + 0.6 - 0.1 for seconds, _ in waiters)      # waited, then the app
    moved = delta(before, stats(server), "fill_waits", "fill_wait_timeouts", "stores")
    assert moved == {"fill_waits": 3, "fill_wait_timeouts": 3, "stores": 1}
    assert app_calls(server, path) == 4
    _, hit = get(server, path)
    assert (hit.header("x-cache"), hit.body) == ("HIT", filler.result()[1].body)


def test_a_waiter_whose_client_leaves_is_dropped(server, mode):
    path = f"/coalesce/leaver-{mode}"
    before = stats(server)
    filler = after(0, get, server, path)
    time.sleep(0.1)
    leaver = socket.create_connection((server.host, server.port), timeout=5)
    leaver.sendall(b"GET %s HTTP/1.1\r\nHost: example.com\r\n\r\n" % path.encode())
    time.sleep(0.1)                          # it waits for the fill
    # A reset, not a half-close: the client is gone for good.
    leaver.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    leaver.close()
    assert wait_for(lambda: delta(before, stats(server), "fill_wait_cancels")
                    ["fill_wait_cancels"] == 1, timeout=5)
    _, filled = filler.result()
    assert filled.status == 200
    _, hit = get(server, path)
    assert (hit.header("x-cache"), hit.body) == ("HIT", filled.body)
    assert app_calls(server, path) == 1
    assert "Traceback" not in server.output()


def test_a_draining_worker_still_answers_its_waiters(server_factory, mode):
    """SIGTERM while requests wait for a fill: each still gets the fill's
    response, and the server exits cleanly."""
    server = server_factory(APP, "--workers", "2", *MODES[mode], *CACHE)
    wait_for(lambda: len(workers(server.pid)) == 2, message="two workers")
    path = f"/coalesce/draining-{mode}"
    filler = after(0, get, server, path)
    time.sleep(0.1)
    waiters = after(0, fire, server, path, 4)
    time.sleep(0.2)                          # they wait; the fill has 0.2 s to go
    server.signal(signal.SIGTERM)
    results = [filler.result()] + waiters.result()
    assert [resp.status for _, resp in results] == [200] * 5
    assert len({resp.body for _, resp in results}) == 1
    assert server.proc.wait(15) == 0


def test_a_fill_overtaken_by_an_unsafe_request_is_not_stored(server, mode):
    """RFC 9111 §4.4: the GET's app call reads the resource before the PUT
    changes it, and ends after the PUT's invalidation: what it brings must
    not be stored. (Inline, the PUT is served by the other worker while the
    GET's is in the app.)"""
    path = f"/slow/overtaken-{mode}"
    before = stats(server)
    filler = after(0, get, server, path)
    time.sleep(0.15)                        # the fill is in the app (0.6 s)
    _, put = get(server, path, method="PUT")
    assert put.status == 200
    _, slow = filler.result()
    assert (slow.header("x-cache"), slow.status) == ("MISS", 200)
    assert b"call=1" in slow.body
    assert delta(before, stats(server), "fills_voided") == {"fills_voided": 1}
    _, fresh = get(server, path)
    assert fresh.header("x-cache") == "MISS" and fresh.body != slow.body
    assert app_calls(server, path) == 3     # GET, PUT, GET
    _, hit = get(server, path)
    assert (hit.header("x-cache"), hit.body) == ("HIT", fresh.body)


# -- stale-while-revalidate (RFC 5861 §3) -------------------------------------

def test_stale_while_revalidate_answers_at_once_and_refreshes_once(server, mode):
    """max-age=1, stale-while-revalidate=30, an app that takes 0.5 s to
    refresh: the stale answer does not wait for it; the refresh runs after
    it, once; the next request gets the new body."""
    path = f"/swr/at-once-{mode}"
    _, first = get(server, path)
    assert first.header("x-cache") == "MISS"
    time.sleep(1.2)                          # max-age=1 has passed; swr=30 has not
    before = stats(server)
    seconds, stale = get(server, path)
    assert (stale.status, stale.header("x-cache"), stale.body) == (200, "STALE", first.body)
    assert int(stale.header("age")) >= 1
    assert seconds < 0.2, f"the stale answer took {seconds:.3f}s"
    time.sleep(FILL + 0.4)                   # the refresh has run
    _, fresh = get(server, path)
    assert (fresh.header("x-cache"), fresh.status) == ("HIT", 200)
    assert fresh.body != first.body and b"call=" in fresh.body
    assert app_calls(server, path) == 2
    moved = delta(before, stats(server), "refreshes", "stores")
    assert moved == {"refreshes": 1, "stores": 1}


def test_stale_answers_during_a_refresh_start_no_other(server, mode):
    path = f"/swr/one-refresh-{mode}"
    _, first = get(server, path)
    time.sleep(1.2)
    _, stale = get(server, path)             # starts the refresh
    assert stale.header("x-cache") == "STALE"
    more = fire(server, path, 6)             # during it (inline: in the other worker)
    assert all(resp.status == 200 for _, resp in more)
    assert {resp.body for _, resp in more if resp.header("x-cache") == "STALE"} <= {first.body}
    time.sleep(FILL + 0.4)
    assert app_calls(server, path) == 2


def test_a_failing_refresh_keeps_the_stale_entry_and_the_worker(server, mode):
    path = f"/swr-fail/x-{mode}"
    _, first = get(server, path)
    time.sleep(1.2)
    server.fail_file.touch()
    try:
        _, stale = get(server, path)         # answered stale; the refresh raises
        assert (stale.header("x-cache"), stale.body) == ("STALE", first.body)
        time.sleep(0.3)
        _, again = get(server, path)         # still the stale entry, still served
        assert (again.status, again.header("x-cache"), again.body) == (200, "STALE", first.body)
    finally:
        server.fail_file.unlink()
    assert app_calls(server, path) == 2
    assert "background refresh" in server.output()
