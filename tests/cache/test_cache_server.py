"""The shared response cache end to end: the real prefork-serve, real
clients over loopback, and tests/apps/cacheable.py, which counts its calls
per URI and per process, so "the app was not called" is observed, not
assumed.

Every test runs in every server mode (``mode``: inline, the default, and
``--threads``). Every test uses its own URIs, so the tests that share the
module's server (one worker) never see each other's entries; tests that
need other flags, several workers, reloads or kills start their own.
(A fill overtaken by an unsafe request needs two app calls at once:
tests/cache/test_cache_fills.py, with two workers.)
"""
import hashlib
import http.client
import json
import os
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import MODES
from procs import wait_for, workers

APP = "cacheable:app"
CACHE = ["--cache-size", "16MB", "--cache-x-header"]
LAST_MODIFIED = "Sat, 01 Jan 2022 00:00:00 GMT"     # what cacheable.py sends


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    @property
    def x_cache(self):
        return self.header("x-cache")

    def __repr__(self):
        return f"Reply({self.status}, {self.headers!r}, {self.body[:80]!r})"


def exchange(conn, path, method="GET", headers=None, body=None):
    """One request on an open http.client connection."""
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)


def request(server, path, method="GET", headers=None, body=None, timeout=5.0):
    """One request on a new connection."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        return exchange(conn, path, method, headers, body)
    finally:
        conn.close()


def count_reply(server):
    return json.loads(request(server, "/count").body)


def calls(server, key):
    """How often the (single) worker's app was called for `key`."""
    return count_reply(server)["calls"].get(key, 0)


def calls_by_worker(server, key, nworkers=2, timeout=10.0):
    """{pid: calls of `key`} of every worker, asking /count over new
    connections until each worker has answered."""
    seen = {}
    deadline = time.monotonic() + timeout
    while len(seen) < nworkers and time.monotonic() < deadline:
        reply = count_reply(server)
        seen[reply["pid"]] = reply["calls"].get(key, 0)
    assert len(seen) == nworkers, f"only workers {sorted(seen)} answered /count within {timeout}s"
    return seen


def stats(server):
    reply = request(server, "/_stats")
    assert reply.status == 200, reply
    assert reply.header("content-type") == "application/json"
    return json.loads(reply.body)


def logged_lines(server, target, count):
    """The access log's lines for ``target``, once there are ``count``."""
    def lines():
        found = [line for line in access_lines(server.access_log) if line["target"] == target]
        return found if len(found) == count else None
    return wait_for(lines, timeout=5, message=f"{count} access log lines for {target}")


def access_lines(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def worker_set(server, count):
    found = workers(server.pid)
    return set(found) if len(found) == count else None


@pytest.fixture(scope="module")
def shared(module_server_factory, mode, tmp_path_factory):
    """One worker, the counters at /_stats, a JSON access log, and a flag
    file that makes /sie-* routes fail."""
    directory = tmp_path_factory.mktemp(f"cache_server-{mode}")
    fail_file, access_log = directory / "fail", directory / "access.log"
    server = module_server_factory(
        APP, "--workers", "1", *MODES[mode], *CACHE, "--cache-stats-path", "/_stats",
        "--access-log", str(access_log), "--access-log-format", "json",
        env={"CACHEABLE_FAIL_FILE": str(fail_file)})
    server.fail_file, server.access_log = fail_file, access_log
    return server


# -- hits -------------------------------------------------------------------

def test_second_get_is_a_hit_with_a_growing_age(shared):
    first = request(shared, "/public/age")
    assert (first.status, first.x_cache) == (200, "MISS")
    assert first.header("age") is None
    second = request(shared, "/public/age")
    assert (second.status, second.x_cache, second.body) == (200, "HIT", first.body)
    assert int(second.header("age")) <= 1
    time.sleep(1.1)
    third = request(shared, "/public/age")
    assert (third.x_cache, third.body) == ("HIT", first.body)
    assert int(third.header("age")) >= int(second.header("age")) + 1
    assert third.header("date") is not None
    assert calls(shared, "/public/age") == 1


def test_head_is_served_from_the_get_entry(shared):
    get = request(shared, "/public/head")
    head = request(shared, "/public/head", "HEAD")
    assert (head.status, head.x_cache, head.body) == (200, "HIT", b"")
    assert int(head.header("content-length")) == len(get.body)
    assert head.header("cache-control") == get.header("cache-control")
    assert calls(shared, "/public/head") == 1


def test_head_miss_is_not_stored(shared):
    head = request(shared, "/public/head-first", "HEAD")
    assert (head.status, head.x_cache, head.body) == (200, "MISS", b"")
    assert request(shared, "/public/head-first").x_cache == "MISS"
    assert calls(shared, "/public/head-first") == 2


def test_query_strings_are_distinct_keys(shared):
    one, two = request(shared, "/public/q?a=1"), request(shared, "/public/q?a=2")
    assert (one.x_cache, two.x_cache) == ("MISS", "MISS")
    assert one.body != two.body
    assert request(shared, "/public/q?a=1").body == one.body
    assert request(shared, "/public/q?a=2").body == two.body
    assert calls(shared, "/public/q?a=1") == calls(shared, "/public/q?a=2") == 1


def test_absolute_form_target_is_keyed_by_its_authority_not_the_host_field(shared):
    """RFC 9112 §3.2.2: the target's authority replaces Host, in the key too."""
    path = "/public/absolute-form"
    fill = request(shared, "http://Origin.example" + path, headers={"Host": "other.example"})
    assert fill.x_cache == "MISS"
    same = request(shared, path, headers={"Host": "origin.example"})
    assert (same.x_cache, same.body) == ("HIT", fill.body)
    again = request(shared, "http://origin.example" + path, headers={"Host": "elsewhere.example"})
    assert (again.x_cache, again.body) == ("HIT", fill.body)
    other = request(shared, path, headers={"Host": "other.example"})
    assert other.x_cache == "MISS"
    assert calls(shared, path) == 2


# -- what is not stored, and freshness precedence ---------------------------

@pytest.mark.parametrize("route", [
    "private", "no-store", "no-cache", "cookie", "vary-star", "nofresh", "expires-past",
    "expires-invalid", "expires-invalid-swr", "maxage0-over-expires"])
def test_does_not_store_a_response_the_policy_refuses(shared, route):
    """private, no-store, no-cache, Set-Cookie, Vary: *, no explicit
    freshness, an Expires in the past, an invalid Expires (already expired,
    RFC 9111 §5.3, stale-while-revalidate or not), max-age=0 over a future
    Expires."""
    path = f"/{route}/refused"
    replies = [request(shared, path) for _ in range(3)]
    assert [r.status for r in replies] == [200, 200, 200]
    assert [r.x_cache for r in replies] == ["MISS", "MISS", "MISS"]
    assert calls(shared, path) == 3


@pytest.mark.parametrize("route", [
    "smaxage", "maxage-over-expires", "expires", "expires-nodate", "plain"], ids=[
    "s-maxage-beats-max-age-0", "max-age-beats-a-past-expires", "expires-minus-date",
    "expires-minus-the-date-sent", "max-age"])
def test_stores_a_response_with_explicit_freshness(shared, route):
    path = f"/{route}/stored"
    first, second = request(shared, path), request(shared, path)
    assert (first.x_cache, second.x_cache) == ("MISS", "HIT")
    assert second.body == first.body
    assert calls(shared, path) == 1


def test_does_not_store_post_responses(shared):
    cacheable = {"X-Want-Cache-Control": "public, max-age=60"}
    posts = [request(shared, "/public/posted", "POST", cacheable, b"x") for _ in range(2)]
    assert [(p.status, p.x_cache) for p in posts] == [(200, "BYPASS"), (200, "BYPASS")]
    get = request(shared, "/public/posted")
    assert (get.x_cache, get.body.split()[0]) == ("MISS", b"/public/posted")
    assert calls(shared, "/public/posted") == 3


def test_authorization_request_is_not_served_from_a_non_public_entry(shared):
    auth = {"Authorization": "Bearer secret"}
    request(shared, "/plain/auth")
    assert request(shared, "/plain/auth").x_cache == "HIT"
    with_auth = request(shared, "/plain/auth", headers=auth)
    assert (with_auth.status, with_auth.x_cache) == (200, "BYPASS")
    assert calls(shared, "/plain/auth") == 2
    request(shared, "/public/auth")
    assert request(shared, "/public/auth", headers=auth).x_cache == "HIT"     # public may
    assert calls(shared, "/public/auth") == 1


def test_response_to_an_authorization_request_is_not_stored_unless_public(shared):
    auth = {"Authorization": "Bearer secret"}
    assert request(shared, "/plain/auth-fill", headers=auth).x_cache == "MISS"
    assert request(shared, "/plain/auth-fill").x_cache == "MISS"
    assert request(shared, "/plain/auth-fill").x_cache == "HIT"
    assert calls(shared, "/plain/auth-fill") == 2


# -- Vary -------------------------------------------------------------------

def test_vary_separates_variants(shared):
    en, fr = {"Accept-Language": "en"}, {"Accept-Language": "fr"}
    assert request(shared, "/vary/lang", headers=en).x_cache == "MISS"
    assert request(shared, "/vary/lang", headers=fr).x_cache == "MISS"
    hit_en = request(shared, "/vary/lang", headers=en)
    hit_fr = request(shared, "/vary/lang", headers=fr)
    assert (hit_en.x_cache, hit_fr.x_cache) == ("HIT", "HIT")
    assert hit_en.body.endswith(b"lang=en\n") and hit_fr.body.endswith(b"lang=fr\n")
    # An absent header is a variant of its own, not a match for any value.
    assert request(shared, "/vary/lang").x_cache == "MISS"
    assert request(shared, "/vary/lang").body.endswith(b"lang=-\n")
    assert calls(shared, "/vary/lang") == 3


def test_accept_encoding_is_normalised_before_matching_variants(shared):
    """cache/_lookup.pyx reduces Accept-Encoding to the known codings the client
    accepts (q > 0), sorted; unknown codings and order do not matter,
    x-gzip is gzip, and nothing accepted is "identity"."""
    def x_cache(value):
        return request(shared, "/vary-ae/x", headers={"Accept-Encoding": value}).x_cache
    assert x_cache("gzip, deflate") == "MISS"
    assert x_cache("deflate, gzip") == "HIT"
    assert x_cache("x-gzip;q=0.5,deflate") == "HIT"
    assert x_cache("gzip, compress-unknown, deflate") == "HIT"
    assert x_cache("gzip") == "MISS"
    assert x_cache("deflate;q=0, gzip") == "HIT"
    assert x_cache("identity") == "MISS"
    assert x_cache("gzip;q=0") == "HIT"
    assert calls(shared, "/vary-ae/x") == 3


# -- conditional requests ---------------------------------------------------

@pytest.mark.parametrize("validator", ['"v1"', 'W/"v1"', '"other", W/"v1"', "*"],
                         ids=["strong", "weak", "listed", "star"])
def test_if_none_match_gets_a_304_from_the_cache(shared, validator):
    path = "/etag/inm-" + validator.replace('"', "").replace("/", "").replace(", ", "-")
    full = request(shared, path)
    conn = http.client.HTTPConnection(shared.host, shared.port, timeout=5)
    try:
        not_modified = exchange(conn, path, headers={"If-None-Match": validator})
        assert (not_modified.status, not_modified.body) == (304, b"")
        assert not_modified.x_cache == "HIT"
        assert not_modified.header("etag") == '"v1"'
        assert not_modified.header("content-length") is None
        # The connection still frames the next response: no stray body bytes.
        again = exchange(conn, path, headers={"If-None-Match": '"other"'})
        assert (again.status, again.body) == (200, full.body)
    finally:
        conn.close()
    assert calls(shared, path) == 1


def test_if_modified_since_gets_a_304_from_the_cache(shared):
    full = request(shared, "/etag/ims")
    conn = http.client.HTTPConnection(shared.host, shared.port, timeout=5)
    try:
        for since in (LAST_MODIFIED, "Sun, 02 Jan 2022 00:00:00 GMT"):
            reply = exchange(conn, "/etag/ims", headers={"If-Modified-Since": since})
            assert (reply.status, reply.body, reply.x_cache) == (304, b"", "HIT")
        older = exchange(conn, "/etag/ims",
                         headers={"If-Modified-Since": "Fri, 31 Dec 2021 00:00:00 GMT"})
        assert (older.status, older.body) == (200, full.body)
    finally:
        conn.close()
    assert calls(shared, "/etag/ims") == 1


# -- request Cache-Control: no-cache ----------------------------------------

def test_request_no_cache_is_ignored_by_default(shared):
    first = request(shared, "/public/nc")
    again = request(shared, "/public/nc", headers={"Cache-Control": "no-cache"})
    assert (again.x_cache, again.body) == ("HIT", first.body)
    assert calls(shared, "/public/nc") == 1


def test_request_no_cache_bypasses_with_honor_no_cache(server_factory, mode):
    server = server_factory(APP, *MODES[mode], "--workers", "1", *CACHE, "--cache-honor-no-cache")
    first = request(server, "/public/nc")
    bypass = request(server, "/public/nc", headers={"Cache-Control": "no-cache"})
    assert bypass.x_cache == "BYPASS"
    assert bypass.body != first.body
    assert calls(server, "/public/nc") == 2
    assert request(server, "/public/nc").x_cache == "HIT"


# -- invalidation (RFC 9111 §4.4) -------------------------------------------

@pytest.mark.parametrize("method,status", [("POST", 200), ("PUT", 200), ("DELETE", 204)])
def test_successful_unsafe_method_invalidates_its_uri(shared, method, status):
    path = f"/public/inv-{method.lower()}"
    request(shared, path)
    assert request(shared, path).x_cache == "HIT"
    unsafe = request(shared, path, method, body=b"data" if method != "DELETE" else None)
    assert (unsafe.status, unsafe.x_cache) == (status, "BYPASS")
    assert request(shared, path).x_cache == "MISS"
    assert request(shared, path).x_cache == "HIT"
    assert calls(shared, path) == 3         # two GETs and the unsafe request


@pytest.mark.parametrize("form", ["relative", "absolute"])
def test_same_origin_location_is_invalidated(shared, form):
    target = f"/public/loc-{form}"
    location = target if form == "relative" else f"http://{shared.host}:{shared.port}{target}"
    request(shared, target)
    assert request(shared, target).x_cache == "HIT"
    post = request(shared, "/submit/form", "POST", {"X-Want-Location": location}, b"x")
    assert post.status == 200
    assert request(shared, target).x_cache == "MISS"
    assert calls(shared, target) == 2


def test_other_origin_location_is_not_invalidated(shared):
    other = {"Host": "other.example"}
    request(shared, "/public/loc-other", headers=other)
    assert request(shared, "/public/loc-other", headers=other).x_cache == "HIT"
    post = request(shared, "/submit/form", "POST",
                   {"X-Want-Location": "http://other.example/public/loc-other"}, b"x")
    assert post.status == 200
    assert request(shared, "/public/loc-other", headers=other).x_cache == "HIT"


@pytest.mark.parametrize("status", [404, 500])
def test_failed_unsafe_method_does_not_invalidate(shared, status):
    path = f"/public/inv-failed-{status}"
    request(shared, path)
    post = request(shared, path, "POST", {"X-Want-Status": str(status)}, b"x")
    assert post.status == status
    assert request(shared, path).x_cache == "HIT"
    assert calls(shared, path) == 2


# -- PURGE --------------------------------------------------------------------

def test_purge_from_an_allowed_address_drops_the_entry(shared):
    request(shared, "/public/purged")
    assert request(shared, "/public/purged").x_cache == "HIT"
    purge = request(shared, "/public/purged", "PURGE")
    assert (purge.status, json.loads(purge.body)) == (200, {"purged": 1})
    assert request(shared, "/public/purged").x_cache == "MISS"
    missing = request(shared, "/public/never-stored", "PURGE")
    assert (missing.status, json.loads(missing.body)) == (404, {"purged": 0})
    assert calls(shared, "/public/purged") == 2


def test_purge_from_a_disallowed_address_is_forbidden(server_factory, mode):
    server = server_factory(APP, *MODES[mode], "--workers", "1", *CACHE,
                            "--cache-stats-path", "/_stats", "--cache-purge-allow", "10.9.9.9")
    request(server, "/public/kept")
    purge = request(server, "/public/kept", "PURGE")
    assert purge.status == 403
    assert request(server, "/_stats").status == 403
    assert request(server, "/public/kept").x_cache == "HIT"
    assert calls(server, "/public/kept") == 1


# -- stale answers (RFC 5861; stale-while-revalidate: test_cache_fills.py) ----

def test_stale_if_error_serves_the_stale_body_instead_of_the_error(shared):
    routes = ["/sie-raise/x", "/sie-500/x"]
    fills = {path: request(shared, path) for path in routes}
    time.sleep(1.2)                         # max-age=1 has passed; stale-if-error=60 has not
    shared.fail_file.touch()
    try:
        for path in routes:
            reply = request(shared, path)
            assert (reply.status, reply.x_cache, reply.body) == (200, "STALE", fills[path].body)
            assert int(reply.header("age")) >= 1
            assert calls(shared, path) == 2     # the app was asked, and failed
        # Without a stored answer the error goes through.
        assert request(shared, "/sie-raise/never-stored").status == 500
        assert request(shared, "/sie-500/never-stored").status == 500
    finally:
        shared.fail_file.unlink()


# -- counters and logs ------------------------------------------------------

def test_stats_counters_are_json_and_move_with_hits_misses_and_stores(shared):
    before = stats(shared)
    request(shared, "/public/counted")
    request(shared, "/public/counted")
    request(shared, "/public/counted")
    request(shared, "/nofresh/counted")
    after = stats(shared)
    delta = {k: after[k] - before[k] for k in ("hits", "misses", "stores", "entries", "stale_hits")}
    assert delta == {"hits": 2, "misses": 2, "stores": 1, "entries": 1, "stale_hits": 0}
    assert 0 < after["bytes_used"] <= after["capacity"] <= 16 << 20
    assert after["bytes_stored"] <= after["bytes_used"]


def test_access_log_records_the_cache_outcome(shared):
    request(shared, "/public/logged")
    request(shared, "/public/logged")
    request(shared, "/public/logged", "POST", body=b"x")
    lines = logged_lines(shared, "/public/logged", 3)
    assert [(line["method"], line["cache"]) for line in lines] == [
        ("GET", "MISS"), ("GET", "HIT"), ("POST", "BYPASS")]
    assert lines[1]["status"] == 200 and lines[1]["bytes"] > 0


def test_access_log_bytes_of_a_hit_count_the_body_only(shared):
    body = request(shared, "/public/logged-bytes").body
    request(shared, "/public/logged-bytes")
    lines = logged_lines(shared, "/public/logged-bytes", 2)
    assert [(line["cache"], line["bytes"]) for line in lines] == [
        ("MISS", len(body)), ("HIT", len(body))]


# -- several workers --------------------------------------------------------

def test_a_fill_in_one_worker_is_a_hit_in_the_other(server_factory, mode, tmp_path):
    log = tmp_path / "access.log"
    server = server_factory(APP, *MODES[mode], "--workers", "2", *CACHE, "--access-log", str(log),
                            "--access-log-format", "json")
    pids = wait_for(lambda: worker_set(server, 2), message="two workers")
    first = request(server, "/public/xw")
    replies = [request(server, "/public/xw") for _ in range(50)]
    assert {(r.x_cache, r.body) for r in replies} == {("HIT", first.body)}
    # Every worker answered with a HIT. One client at a time keeps waking the
    # same idle worker (EPOLLEXCLUSIVE), so send concurrent batches: while
    # one worker is busy, the other accepts.
    deadline = time.monotonic() + 10
    with ThreadPoolExecutor(8) as pool:
        while time.monotonic() < deadline:
            hit_pids = {line["pid"] for line in access_lines(log)
                        if line["target"] == "/public/xw" and line["cache"] == "HIT"}
            if hit_pids == pids:
                break
            batch = list(pool.map(lambda _: request(server, "/public/xw").x_cache, range(64)))
            assert set(batch) == {"HIT"}
    assert hit_pids == pids
    # ...and across both, the app was called once.
    by_worker = calls_by_worker(server, "/public/xw")
    assert set(by_worker) == pids
    assert sum(by_worker.values()) == 1


def test_invalidation_is_seen_by_every_worker(server_factory, mode):
    server = server_factory(APP, *MODES[mode], "--workers", "2", *CACHE)
    wait_for(lambda: worker_set(server, 2), message="two workers")
    request(server, "/public/xi")
    assert request(server, "/public/xi").x_cache == "HIT"
    assert request(server, "/public/xi", "POST", body=b"x").status == 200
    replies = [request(server, "/public/xi") for _ in range(30)]
    assert [r.x_cache for r in replies] == ["MISS"] + ["HIT"] * 29
    assert len({r.body for r in replies}) == 1
    assert sum(calls_by_worker(server, "/public/xi").values()) == 3     # GET, POST, GET


# -- reloads ----------------------------------------------------------------

def reload_workers(server, old):
    """HUP; wait until one worker runs and none of `old` does."""
    def replaced():
        now = worker_set(server, 1)
        return now if now and not now & old else None
    server.signal(signal.SIGHUP)
    return wait_for(replaced, timeout=10, message="new workers after HUP")


def test_the_cache_survives_a_hup_reload(server_factory, mode):
    server = server_factory(APP, *MODES[mode], "--workers", "1", *CACHE)
    old = wait_for(lambda: worker_set(server, 1), message="a worker")
    first = request(server, "/public/reloaded")
    new = reload_workers(server, old)
    again = request(server, "/public/reloaded")
    assert (again.x_cache, again.body) == ("HIT", first.body)      # filled by the old worker
    reply = count_reply(server)
    assert reply["pid"] in new and reply["calls"].get("/public/reloaded", 0) == 0


def test_purge_on_reload_empties_the_cache(server_factory, mode):
    server = server_factory(APP, *MODES[mode], "--workers", "1", *CACHE, "--cache-purge-on-reload")
    old = wait_for(lambda: worker_set(server, 1), message="a worker")
    request(server, "/public/reloaded")
    assert request(server, "/public/reloaded").x_cache == "HIT"
    reload_workers(server, old)
    assert request(server, "/public/reloaded").x_cache == "MISS"


def test_hits_carry_the_server_header_of_the_current_generation(server_factory, mode, tmp_path):
    conf = tmp_path / "prefork.conf.py"
    conf.write_text('server_header = "alpha"\n')
    server = server_factory(APP, *MODES[mode], "-c", str(conf), "--workers", "1", *CACHE)
    old = wait_for(lambda: worker_set(server, 1), message="a worker")
    request(server, "/public/server")
    assert request(server, "/public/server").header("server") == "alpha"
    conf.write_text('server_header = "beta"\n')
    reload_workers(server, old)
    hit, miss = request(server, "/public/server"), request(server, "/public/server-new")
    assert (hit.x_cache, miss.x_cache) == ("HIT", "MISS")
    assert (hit.header("server"), miss.header("server")) == ("beta", "beta")


# -- robustness -------------------------------------------------------------

def verified(body):
    digest, _, payload = body.partition(b"\n")
    return hashlib.sha256(payload).hexdigest().encode() == digest


def test_kill_9_of_workers_during_cache_writes_neither_deadlocks_nor_tears_bodies(
        server_factory, mode):
    server = server_factory(APP, *MODES[mode], "--workers", "2", *CACHE[2:], "--cache-size", "2MB",
                            "--cache-stats-path", "/_stats")
    wait_for(lambda: worker_set(server, 2), message="two workers")
    stop = threading.Event()
    lock = threading.Lock()
    served, torn, errors, kills = [], [], [], []

    def client(seed):
        rng = random.Random(seed)
        while not stop.is_set():
            path = f"/blob/{rng.randrange(300)}"
            try:
                reply = request(server, path, timeout=5)
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors.append(repr(exc))    # a connection of a killed worker
                continue
            with lock:
                (served if reply.status == 200 and verified(reply.body) else torn).append(path)

    def killer():
        while not stop.wait(0.15):
            for pid in workers(server.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills.append(pid)
                except ProcessLookupError:
                    pass
                break

    with ThreadPoolExecutor(7) as pool:
        futures = [pool.submit(client, seed) for seed in range(6)] + [pool.submit(killer)]
        time.sleep(4.0)
        stop.set()
        for future in futures:
            future.result(timeout=15)
    assert torn == []
    assert len(kills) >= 10 and len(served) > 200, (len(kills), len(served), errors[:5])
    # Afterwards every request completes (no lock left held) and verifies.
    wait_for(lambda: worker_set(server, 2), message="two workers again")
    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda n: request(server, f"/blob/{n}", timeout=5), range(300)))
    assert all(r.status == 200 and verified(r.body) for r in replies)
    assert all(r.x_cache in ("HIT", "MISS") for r in replies)
    counters = stats(server)
    assert counters["bytes_used"] <= counters["capacity"]


def test_the_store_stays_within_its_byte_bound(server_factory, mode):
    size = 1 << 20
    server = server_factory(APP, *MODES[mode], "--workers", "1", *CACHE[2:], "--cache-size", "1MB",
                            "--cache-stats-path", "/_stats")
    for n in range(120):
        assert request(server, f"/kb20/{n}").status == 200
    counters = stats(server)
    assert counters["bytes_used"] <= counters["capacity"] <= size
    assert counters["evictions"] > 0
    assert counters["stores"] == 120 and counters["store_rejects"] == 0
    assert counters["entries"] == 120 - counters["evictions"]
    assert request(server, "/kb20/119").x_cache == "HIT"        # the newest is kept
    assert request(server, "/kb20/0").x_cache == "MISS"         # the oldest went
    assert len(request(server, "/kb20/0").body) == 20 * 1024


def test_a_response_larger_than_max_entry_is_not_stored(server_factory, mode):
    server = server_factory(APP, *MODES[mode], "--workers", "1", *CACHE,
                            "--cache-max-entry", "10KB")
    assert [request(server, "/kb20/large").x_cache for _ in range(2)] == ["MISS", "MISS"]
    assert calls(server, "/kb20/large") == 2
    request(server, "/public/small")
    assert request(server, "/public/small").x_cache == "HIT"


def test_purge_from_ipv6_loopback_is_allowed_by_default(server_factory, mode):
    server = server_factory(APP, *MODES[mode], "--workers", "1", *CACHE, host="::1")
    request(server, "/public/v6")
    assert request(server, "/public/v6").x_cache == "HIT"
    assert request(server, "/public/v6", "PURGE").status == 200
    assert request(server, "/public/v6").x_cache == "MISS"


# -- file_wrapper bodies (sent with sendfile, never seen by the capture) ------

def test_sendfile_body_with_content_length_is_not_served_empty(shared):
    first = request(shared, "/file/sized")
    assert (first.status, len(first.body)) == (200, 5000)
    second = request(shared, "/file/sized")
    assert second.status == 200
    assert second.body == first.body, (second.x_cache, len(second.body))


def test_sendfile_body_without_content_length_is_not_served_empty(shared):
    first = request(shared, "/file-unsized/x")
    assert (first.status, len(first.body)) == (200, 5000)
    second = request(shared, "/file-unsized/x")
    assert second.status == 200
    assert second.body == first.body, (second.x_cache, len(second.body))
