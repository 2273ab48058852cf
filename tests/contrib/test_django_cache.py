"""The Django cache backend (prefork.contrib.django.PreforkCache): the
behaviours of Django's own BaseCacheTests (tests/cache/tests.py in Django),
rewritten here against this backend, then the backend inside the real
prefork-serve, where every worker sees the same entries."""
import pickle
import time
import warnings

import pytest

django = pytest.importorskip("django")
from django.conf import settings  # noqa: E402

BACKEND = "prefork.contrib.django.PreforkCache"
if not settings.configured:
    settings.configure(CACHES={
        "default": {"BACKEND": BACKEND},
        "prefix": {"BACKEND": BACKEND, "KEY_PREFIX": "cacheprefix"},
        "v2": {"BACKEND": BACKEND, "VERSION": 2},
        "custom_key": {"BACKEND": BACKEND,
                       "KEY_FUNCTION": lambda key, prefix, version: f"CUSTOM-{prefix}-{version}-{key}"},
        "short": {"BACKEND": BACKEND, "TIMEOUT": 1},      # Django makes it an int
        "forever": {"BACKEND": BACKEND, "TIMEOUT": None},
    })
from django.core.cache import CacheKeyWarning, caches  # noqa: E402

from procs import ask, every_worker  # noqa: E402


class Unpicklable:
    def __getstate__(self):
        raise pickle.PickleError()


@pytest.fixture
def cache():
    default = caches["default"]
    default.clear()
    yield default
    default.clear()


def test_simple_set_get_and_default(cache):
    cache.set("key", "value")
    assert cache.get("key") == "value"
    assert cache.get("does_not_exist") is None
    assert cache.get("does_not_exist", "bang!") == "bang!"
    cache.set("none", None)
    assert cache.get("none", default="default") is None


def test_add(cache):
    assert cache.add("addkey1", "value") is True
    assert cache.add("addkey1", "newvalue") is False
    assert cache.get("addkey1") == "value"


def test_prefix_keeps_aliases_apart(cache):
    cache.set("somekey", "value")
    assert caches["prefix"].has_key("somekey") is False
    caches["prefix"].set("somekey", "value2")
    assert cache.get("somekey") == "value"
    assert caches["prefix"].get("somekey") == "value2"


def test_get_many_set_many_delete_many(cache):
    assert cache.set_many({"a": "a", "b": "b", "c": "c", "d": "d"}) == []
    assert cache.get_many(["a", "c", "d"]) == {"a": "a", "c": "c", "d": "d"}
    assert cache.get_many(iter(["a", "b", "e"])) == {"a": "a", "b": "b"}
    cache.set_many({"x": None, "y": 1})
    assert cache.get_many(["x", "y"]) == {"x": None, "y": 1}
    assert cache.delete_many(["a", "b"]) is None
    assert cache.get_many(["a", "b", "c"]) == {"c": "c"}
    assert cache.set_many({}) == []


def test_set_many_returns_the_keys_too_large_to_store(cache):
    huge = b"x" * (cache._store.stats()["max_entry"] + 1)
    assert cache.set_many({"small": b"x", "huge": huge}) == ["huge"]
    assert cache.get("small") == b"x" and cache.get("huge") is None


def test_delete_and_has_key(cache):
    cache.set_many({"key1": "spam", "key2": "eggs"})
    assert cache.delete("key1") is True
    assert cache.delete("key1") is False
    assert cache.get("key2") == "eggs"
    cache.set("null", None)
    assert cache.has_key("null") is True and "null" in cache
    assert cache.has_key("goodbye") is False and "goodbye" not in cache


def test_incr_decr(cache):
    cache.set("answer", 41)
    assert cache.incr("answer") == 42 and cache.get("answer") == 42
    assert cache.incr("answer", 10) == 52
    assert cache.incr("answer", -10) == 42
    assert cache.decr("answer", 10) == 32
    assert cache.decr("answer", -10) == 42
    with pytest.raises(ValueError):
        cache.incr("does_not_exist")
    with pytest.raises(ValueError):
        cache.decr("does_not_exist")
    assert cache.has_key("does_not_exist") is False
    cache.set("null", None)
    with pytest.raises(TypeError):
        cache.incr("null")


def f():
    return 42


class C:
    def m(n):
        return 24


@pytest.mark.parametrize("value", ["this is a string", 42, True, [1, 2, 3, 4], (1, 2, 3, 4),
                                   {"A": 1, "B": 2}, f, C, "Iñtërnâtiônàlizætiøn", {"x": 1}],
                         ids=repr)
def test_data_types(cache, value):
    cache.set("key", value)
    assert cache.get("key") == value
    assert cache.delete("key") is True
    assert cache.add("key", value) is True and cache.get("key") == value


def test_unicode_keys(cache):
    cache.set("Iñtërnâtiônàlizætiøn", "Iñtërnâtiônàlizætiøn2")
    assert cache.get("Iñtërnâtiônàlizætiøn") == "Iñtërnâtiônàlizætiøn2"


def test_binary_string(cache):
    from zlib import compress, decompress
    compressed = compress(b"value_to_be_compressed")
    cache.set("binary1", compressed)
    assert cache.add("binary1-add", compressed) is True
    cache.set_many({"binary1-set_many": compressed})
    for key in ("binary1", "binary1-add", "binary1-set_many"):
        assert decompress(cache.get(key)) == b"value_to_be_compressed"


def test_expiration(cache):
    cache.set("expire1", "very quickly", 0.1)
    cache.set("expire2", "very quickly", 0.1)
    cache.set("expire3", "very quickly", 0.1)
    time.sleep(0.15)
    assert cache.get("expire1") is None
    assert cache.add("expire2", "newvalue") is True and cache.get("expire2") == "newvalue"
    assert cache.has_key("expire3") is False


def test_touch(cache):
    cache.set("expire1", "very quickly", timeout=0.1)
    assert cache.touch("expire1", timeout=0.4) is True
    time.sleep(0.2)
    assert cache.has_key("expire1") is True
    time.sleep(0.3)
    assert cache.has_key("expire1") is False
    assert cache.touch("nonexistent") is False


def test_default_timeout_is_the_alias_timeout():
    short = caches["short"]
    short.set("k", "v")
    assert short.get("k") == "v"
    time.sleep(1.05)
    assert short.get("k") is None
    forever = caches["forever"]
    forever.set("k", "v")
    assert forever.touch("k") is True and forever.get("k") == "v"


def test_long_float_and_forever_timeouts(cache):
    cache.set("key1", "eggs", 60 * 60 * 24 * 30 + 1)
    assert cache.get("key1") == "eggs"
    cache.set("key2", "spam", 100.2)
    assert cache.get("key2") == "spam"
    cache.set("key3", "ham", None)
    assert cache.add("key3", "new ham", None) is False and cache.get("key3") == "ham"
    cache.set("key5", "belgian fries", timeout=0.1)
    assert cache.touch("key5", timeout=None) is True
    time.sleep(0.15)
    assert cache.get("key5") == "belgian fries"


def test_zero_timeout_expires_at_once(cache):
    cache.set("key1", "eggs", 0)
    assert cache.get("key1") is None
    assert cache.add("key2", "ham", 0) is True
    assert cache.get("key2") is None
    cache.set_many({"key3": "sausage", "key4": "lobster bisque"}, 0)
    assert cache.get_many(["key3", "key4"]) == {}
    cache.set("key5", "belgian fries", timeout=5)
    assert cache.touch("key5", timeout=0) is True
    assert cache.get("key5") is None


def test_clear(cache):
    cache.set_many({"key1": "spam", "key2": "eggs"})
    cache.clear()
    assert cache.get_many(["key1", "key2"]) == {}


@pytest.mark.parametrize("operation, args", [
    ("add", ["key with spaces", 1]), ("get", ["key with spaces"]), ("set", ["key with spaces", 1]),
    ("touch", ["key with spaces"]), ("delete", ["key with spaces"]),
    ("get_many", [["key with spaces", "b"]]), ("set_many", [{"key with spaces": 1, "b": 2}]),
    ("delete_many", [["key with spaces", "b"]]),
])
def test_keys_memcached_would_refuse_warn(cache, operation, args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        getattr(cache, operation)(*args)
    assert any(issubclass(w.category, CacheKeyWarning) for w in caught)


def test_versioning_get_set_add_delete(cache):
    v2 = caches["v2"]
    cache.set("answer1", 42)
    assert cache.get("answer1", version=1) == 42 and cache.get("answer1", version=2) is None
    assert v2.get("answer1") is None and v2.get("answer1", version=1) == 42
    v2.set("answer3", 42)
    assert cache.get("answer3") is None and cache.get("answer3", version=2) == 42
    assert cache.add("answer4", 37, version=2) is True
    assert cache.add("answer4", 38, version=2) is False
    assert cache.add("answer4", 39, version=1) is True
    assert v2.get("answer4") == 37 and cache.get("answer4") == 39
    assert cache.has_key("answer4", version=2) is True and v2.has_key("answer1") is False
    assert v2.delete("answer4") is True
    assert cache.get("answer4", version=2) is None and cache.get("answer4") == 39


def test_versioning_incr_decr_and_many(cache):
    v2 = caches["v2"]
    cache.set("answer", 37, version=1)
    cache.set("answer", 42, version=2)
    assert cache.incr("answer") == 38 and cache.get("answer", version=2) == 42
    assert v2.decr("answer") == 41 and cache.get("answer", version=1) == 38
    cache.set_many({"ford": 37, "arthur": 42}, version=2)
    assert cache.get_many(["ford", "arthur"]) == {}
    assert v2.get_many(["ford", "arthur"]) == {"ford": 37, "arthur": 42}


def test_incr_and_decr_version(cache):
    cache.set("answer", 42, version=2)
    assert cache.incr_version("answer", version=2) == 3
    assert cache.get("answer", version=2) is None and cache.get("answer", version=3) == 42
    assert cache.decr_version("answer", version=3) == 2
    assert cache.get("answer", version=2) == 42
    with pytest.raises(ValueError):
        cache.incr_version("does_not_exist")
    cache.set("null", None)
    assert cache.incr_version("null") == 2


def test_custom_key_function(cache):
    cache.set("answer1", 42)
    assert caches["custom_key"].get("answer1") is None
    caches["custom_key"].set("answer2", 42)
    assert cache.get("answer2") is None and caches["custom_key"].get("answer2") == 42


def test_unpicklable_values_fail_loudly(cache):
    with pytest.raises(pickle.PickleError):
        cache.add("unpicklable", Unpicklable())
    with pytest.raises(pickle.PickleError):
        cache.set("unpicklable", Unpicklable())


def test_get_or_set(cache):
    assert cache.get_or_set("projector", 42) == 42 and cache.get("projector") == 42
    assert cache.get_or_set("null", None) is None
    assert cache.get_or_set("mykey", lambda: "value") == "value"
    assert cache.get_or_set("mykey", "other") == "value"
    assert cache.get_or_set("brian", 1979, version=2) == 1979
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'default'"):
        cache.get_or_set("brian")
    assert cache.get("brian", version=1) is None


def test_async_api(cache):
    import asyncio

    async def run():
        await cache.aset("akey", "avalue")
        assert await cache.aget("akey") == "avalue"
        assert await cache.aincr("acount", 1) if await cache.aadd("acount", 1) else False
        return await cache.aget("acount")
    assert asyncio.run(run()) == 2


# -- inside the server -----------------------------------------------------------

def test_every_worker_sees_the_same_django_cache(server_factory):
    server = server_factory("django_cache_app", "--workers", "3")
    assert ask(server, "/set?key=greeting&value=hello")["done"] is True
    replies = every_worker(server, "/get?key=greeting", 3)
    assert {r["value"] for r in replies.values()} == {"hello"}
