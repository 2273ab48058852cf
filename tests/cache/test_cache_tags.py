"""Tag purges of the response cache (Varnish xkey, CDN surrogate keys): a
response names its tags in ``Cache-Tag``; PURGE with that field, or
prefork.shared.purge_tag() from the app, drops every entry carrying one of
them, for every worker. The real prefork-serve, clients over loopback."""
import http.client
import json

import pytest

from conftest import run_cli
from procs import ask, every_worker

APP = "shared_app:app"
CACHE = ["--cache-size", "16MB", "--cache-x-header"]


def fetch(server, path, method="GET", headers=None):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def x_cache(server, path):
    return fetch(server, path)[1]["x-cache"]


def fill(server, *paths):
    for path in paths:
        fetch(server, path)
        assert x_cache(server, path) == "HIT", path


@pytest.fixture(scope="module")
def two(module_server_factory):
    return module_server_factory(APP, "--workers", "2", *CACHE)


def test_the_tag_field_never_reaches_clients(two):
    path = "/tagged/strip?tags=product-1+list"
    status, miss, _ = fetch(two, path)
    status, hit, _ = fetch(two, path)
    assert (miss["x-cache"], hit["x-cache"]) == ("MISS", "HIT")
    assert "cache-tag" not in miss and "cache-tag" not in hit


def test_purge_with_the_tag_field_drops_every_entry_carrying_a_tag(two):
    a, b, c = "/tagged/a1?tags=product-42+list", "/tagged/b1?tags=product-43,list", \
        "/tagged/c1?tags=product-42"
    fill(two, a, b, c)
    status, _, body = fetch(two, "/", "PURGE", {"Cache-Tag": "product-42"})
    assert status == 200 and json.loads(body) == {"purged": 2}
    assert [x_cache(two, p) for p in (a, b, c)] == ["MISS", "HIT", "MISS"]


def test_several_tags_in_one_purge(two):
    a, b, c = "/tagged/a2?tags=t2-x", "/tagged/b2?tags=t2-y", "/tagged/c2?tags=t2-z"
    fill(two, a, b, c)
    status, _, body = fetch(two, "/anything", "PURGE", {"Cache-Tag": "t2-x, t2-z"})
    assert json.loads(body) == {"purged": 2}
    assert [x_cache(two, p) for p in (a, b, c)] == ["MISS", "HIT", "MISS"]


def test_a_tag_purge_that_matches_nothing_says_zero(two):
    fill(two, "/tagged/a3?tags=t3-kept")
    status, _, body = fetch(two, "/", "PURGE", {"Cache-Tag": "t3-other t3-kept2"})
    assert status == 200 and json.loads(body) == {"purged": 0}
    assert x_cache(two, "/tagged/a3?tags=t3-kept") == "HIT"


def test_purge_tag_from_app_code_reaches_every_worker(two):
    paths = [f"/tagged/w{n}?tags=t4-shared" for n in range(6)]
    fill(two, *paths)
    assert ask(two, "/purge-tag?tag=t4-shared")["purged"] == 6
    for reply in every_worker(two, "/purge-tag?tag=t4-shared", 2).values():
        assert reply["purged"] == 0                 # nothing left for any worker
    assert {x_cache(two, p) for p in paths} == {"MISS"}


def test_a_uri_purge_still_works_beside_tags(two):
    fill(two, "/tagged/a5?tags=t5")
    status, _, body = fetch(two, "/tagged/a5?tags=t5", "PURGE")
    assert status == 200 and json.loads(body) == {"purged": 1}


def test_tag_purge_needs_an_allowed_address(server_factory):
    server = server_factory(APP, "--workers", "1", *CACHE, "--cache-purge-allow", "192.0.2.1")
    fill(server, "/tagged/a6?tags=t6")
    assert fetch(server, "/", "PURGE", {"Cache-Tag": "t6"})[0] == 403
    assert x_cache(server, "/tagged/a6?tags=t6") == "HIT"


def test_another_header_name_and_keeping_it(server_factory):
    server = server_factory(APP, "--workers", "1", *CACHE, "--cache-tag-header", "Surrogate-Key",
                            "--cache-tag-keep", env={"TAG_HEADER": "Surrogate-Key"})
    path = "/tagged/a7?tags=t7+other"
    fetch(server, path)
    status, headers, _ = fetch(server, path)
    assert headers["x-cache"] == "HIT" and headers["surrogate-key"] == "t7 other"
    assert json.loads(fetch(server, "/", "PURGE", {"Cache-Tag": "t7"})[2]) == {"purged": 0}
    assert json.loads(fetch(server, "/", "PURGE", {"Surrogate-Key": "t7"})[2]) == {"purged": 1}


def test_a_bad_tag_header_name_is_a_one_line_error():
    out = run_cli("hello:app", "--cache-tag-header", "Cache Tag", "--check-config")
    assert out.returncode == 2 and "--cache-tag-header" in out.stderr
    assert out.stderr.strip().count("\n") == 0


def test_a_tag_purge_drops_exactly_the_tagged_entries_of_a_full_store():
    # 64-bit blooms collide often among 2000 entries of 50 tags: the exact
    # comparison behind them must keep every entry that lacks the tag.
    import random
    import time
    from prefork.cache._lookup import SharedCache
    from prefork.cache.policy import decide
    cache = SharedCache(8 << 20, 1 << 16)
    rng = random.Random(7)
    tagged = {}
    for n in range(2000):
        tags = rng.sample([f"tag-{k}" for k in range(50)], 3)
        headers = [("Cache-Control", "max-age=60"), ("Cache-Tag", " ".join(tags))]
        assert cache.store(b"h", f"/e{n}", [], decide("GET", [], "200 OK", headers), "200 OK",
                           headers, b"body")
        tagged[n] = tags
    assert cache.purge_tags(["tag-7"]) == sum("tag-7" in t for t in tagged.values())
    now = time.monotonic()
    for n, tags in tagged.items():
        found = cache.lookup(b"GET", b"h", f"/e{n}", now=now) is not None
        assert found == ("tag-7" not in tags), (n, tags)
    cache.check()
