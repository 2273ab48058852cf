"""The Flask-Caching backend (prefork.contrib.flask.PreforkCache): cachelib's
API and timeouts through Flask-Caching itself, then inside the real
prefork-serve, where a memoized result computed by one worker serves all."""
import time

import pytest

flask_caching = pytest.importorskip("flask_caching")
from flask import Flask  # noqa: E402

from prefork.cache._appstore import AppStore  # noqa: E402
from procs import ask, every_worker  # noqa: E402


@pytest.fixture
def cache():
    app = Flask(__name__)
    cache = flask_caching.Cache(app, config={
        "CACHE_TYPE": "prefork.contrib.flask.PreforkCache", "CACHE_DEFAULT_TIMEOUT": 300,
        "CACHE_KEY_PREFIX": "test:", "CACHE_OPTIONS": {"store": AppStore(1 << 20)}})
    with app.app_context():
        yield cache


def test_the_backend_is_the_one_named_by_cache_type(cache):
    from prefork.contrib.flask import PreforkCache
    assert isinstance(cache.cache, PreforkCache) and cache.cache.key_prefix == "test:"


def test_get_set_add_delete_has(cache):
    assert cache.get("k") is None
    assert cache.set("k", {"a": 1}) is True and cache.get("k") == {"a": 1}
    assert cache.add("k", 2) is False and cache.add("k2", 2) is True
    assert cache.has("k2") is True
    assert cache.delete("k2") is True and cache.delete("k2") is False
    assert cache.cache._store.get("test:k") == {"a": 1}      # the prefix is applied


def test_many_and_dict(cache):
    assert cache.set_many({"a": 1, "b": b"2"}) == ["a", "b"]
    assert cache.get_many("a", "b", "c") == [1, b"2", None]
    assert cache.get_dict("a", "c") == {"a": 1}
    assert cache.delete_many("a", "b") == ["a", "b"]
    assert cache.get_many("a", "b") == [None, None]


def test_inc_dec_start_from_zero(cache):
    backend = cache.cache
    assert backend.inc("n") == 1 and backend.inc("n", 5) == 6 and backend.dec("n", 2) == 4


def test_timeouts_have_cachelib_meaning(cache):
    cache.set("forever", 1, timeout=0)          # 0: never expires
    cache.set("gone", 1, timeout=-1)            # negative: expired at once
    assert cache.get("forever") == 1 and cache.get("gone") is None


def test_clear(cache):
    cache.set("k", 1)
    assert cache.clear() is True and cache.get("k") is None


def test_memoize_through_the_backend(cache):
    calls = []

    @cache.memoize(timeout=60)
    def triple(n):
        calls.append(n)
        return n * 3

    assert triple(2) == 6 and triple(2) == 6 and calls == [2]
    cache.delete_memoized(triple, 2)
    assert triple(2) == 6 and calls == [2, 2]


def test_a_memoized_result_serves_every_worker(server_factory):
    server = server_factory("flask_cache_app:app", "--workers", "3")
    first = ask(server, "/slow/7")
    assert first["value"] == 21
    replies = every_worker(server, "/slow/7", 3)
    assert {r["value"] for r in replies.values()} == {21}
    counts = every_worker(server, "/calls", 3)
    assert sum(r["calls"].get("7", 0) for r in counts.values()) == 1
