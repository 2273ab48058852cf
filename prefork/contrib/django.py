"""A Django cache backend on prefork's app store (prefork/shared.py).

    CACHES = {
        "default": {
            "BACKEND": "prefork.contrib.django.PreforkCache",
            "TIMEOUT": 300,             # Django's meaning: None never expires, 0 expires at once
            "KEY_PREFIX": "site",       # and VERSION, KEY_FUNCTION, as for any backend
        }
    }

Every worker of the server sees the same entries (unlike LocMemCache, which
keeps one cache per process), at the cost of a shared-memory copy per call
and no network round trip (unlike the Redis and memcached backends): a
``get`` is a few microseconds, most of it Django's key making. ``LOCATION``
and ``OPTIONS`` are not used: a server has one app store, sized by
``--app-cache-size``; several CACHES aliases share it, kept apart by their
KEY_PREFIX or VERSION. Values are pickled (bytes, str and int stored as
they are), so only the application's own data belongs here.

The whole Django cache API: get, set, add, delete, touch, has_key, incr and
decr (atomic across the workers; a missing key is a ValueError, a value that
is not an int a TypeError), get_many, set_many (it returns the keys too
large to store), delete_many, clear (it empties the whole app store:
@shared_lru_cache entries and other aliases too), get_or_set, versions,
and the async variants Django derives from them. With ``--cache-redis``, a
set, add, delete or clear drops the key on the other hosts too.
"""
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

from prefork.cache._appstore import default as default_store

_MISSING = object()


class PreforkCache(BaseCache):
    def __init__(self, location, params):
        super().__init__(params)
        self._store = default_store

    def _ttl(self, timeout):
        """Django's timeout -> the store's ttl: None never expires, <= 0
        expires at once, DEFAULT_TIMEOUT is the alias's TIMEOUT."""
        return self.default_timeout if timeout is DEFAULT_TIMEOUT else timeout

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        key = self.make_and_validate_key(key, version=version)
        return self._store.add(key, value, self._ttl(timeout))

    def get(self, key, default=None, version=None):
        return self._store.get(self.make_and_validate_key(key, version=version), default)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        self._store.set(self.make_and_validate_key(key, version=version), value, self._ttl(timeout))

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._store.touch(self.make_and_validate_key(key, version=version), self._ttl(timeout))

    def delete(self, key, version=None):
        return self._store.delete(self.make_and_validate_key(key, version=version))

    def has_key(self, key, version=None):
        return self._store.has(self.make_and_validate_key(key, version=version))

    def incr(self, key, delta=1, version=None):
        made = self.make_and_validate_key(key, version=version)
        try:
            return self._store.incr(made, delta, create=False)
        except KeyError:
            raise ValueError(f"Key '{made}' not found") from None

    def get_many(self, keys, version=None):
        found = {}
        for key in keys:
            value = self._store.get(self.make_and_validate_key(key, version=version), _MISSING)
            if value is not _MISSING:
                found[key] = value
        return found

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        ttl = self._ttl(timeout)
        return [key for key, value in data.items()
                if not self._store.set(self.make_and_validate_key(key, version=version), value, ttl)]

    def delete_many(self, keys, version=None):
        for key in keys:
            self._store.delete(self.make_and_validate_key(key, version=version))

    def clear(self):
        self._store.clear()
