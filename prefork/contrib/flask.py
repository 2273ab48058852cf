"""A Flask-Caching backend on prefork's app store (prefork/shared.py).

    cache = Cache(app, config={"CACHE_TYPE": "prefork.contrib.flask.PreforkCache",
                               "CACHE_DEFAULT_TIMEOUT": 300,
                               "CACHE_KEY_PREFIX": "site:"})

Every worker of the server sees the same entries (SimpleCache keeps one per
process). Timeouts have cachelib's meaning: None is CACHE_DEFAULT_TIMEOUT,
0 never expires, a negative one expires at once. ``inc``/``dec`` are atomic
across the workers and start a missing key from 0 (cachelib's rule);
``clear()`` empties the whole app store. Values are pickled (bytes, str and
int stored as they are): only the application's own data belongs here.
"""
from flask_caching.backends.base import BaseCache

from prefork.cache._appstore import default as default_store

_MISSING = object()


class PreforkCache(BaseCache):
    def __init__(self, default_timeout=300, key_prefix="", store=None,
                 ignore_delete_many_errors=False):
        super().__init__(default_timeout=default_timeout,
                         ignore_delete_many_errors=ignore_delete_many_errors)
        self.key_prefix = key_prefix or ""
        self._store = default_store if store is None else store

    @classmethod
    def factory(cls, app, config, args, kwargs):
        kwargs.setdefault("key_prefix", config.get("CACHE_KEY_PREFIX", ""))
        return cls(*args, **kwargs)

    def _ttl(self, timeout):
        timeout = self._normalize_timeout(timeout)
        return None if timeout == 0 else timeout        # cachelib: 0 never expires

    def get(self, key):
        return self._store.get(self.key_prefix + key)

    def set(self, key, value, timeout=None):
        return self._store.set(self.key_prefix + key, value, self._ttl(timeout))

    def add(self, key, value, timeout=None):
        return self._store.add(self.key_prefix + key, value, self._ttl(timeout))

    def delete(self, key):
        return self._store.delete(self.key_prefix + key)

    def has(self, key):
        return self._store.has(self.key_prefix + key)

    def get_many(self, *keys):
        return [self.get(key) for key in keys]

    def get_dict(self, *keys):
        found = {}
        for key in keys:
            value = self._store.get(self.key_prefix + key, _MISSING)
            if value is not _MISSING:
                found[key] = value
        return found

    def inc(self, key, delta=1):
        return self._store.incr(self.key_prefix + key, delta)

    def dec(self, key, delta=1):
        return self._store.incr(self.key_prefix + key, -delta)

    def clear(self):
        self._store.clear()
        return True
