"""@shared_lru_cache: functools.lru_cache with its entries in the app store,
so a result computed by one worker serves them all.

The key is a 128-bit BLAKE2b digest of the function's qualified name
(module and ``__qualname__``) and the pickle of its arguments (keyword
arguments sorted), so it is the same in every process and on every host;
two functions of the same qualified name (closures made by one factory)
share their entries. With ``typed=False`` (lru_cache's default)
top-level arguments that lru_cache would find equal across bool, int and
float (``1``, ``1.0``, ``True``) share an entry; nested values are told
apart by their pickle. Arguments must be picklable (lru_cache needs them
hashable).

One computation per key at a time, across every worker (the response
cache's request coalescing, on the same fill markers: prefork/cache/
_store.pyx): the first caller to miss computes; the others wait, looking at
the store every 1 ms doubling to 16 ms, and return what it stored. A
waiter gives up after ``lock_timeout`` seconds and computes (storing
nothing); when the computation raises, its waiters compute for themselves.

``maxsize`` bounds the function's entries across all the workers together
(the store counts them in a group of its own; past ``maxsize`` the group's
least recently used entry goes), ``None`` leaves them bounded by the store
only. ``cache_info()`` reports this process's hits and misses (a wait that
ends with another's result is a hit) and the entries of every worker
(``currsize``); ``cache_clear()`` empties the function's entries for every
worker (and, with ``--cache-redis``, every host). A call returns a new
copy of the stored result each time (unpickled), never the object another
call got.
"""
import logging
import time
from collections import namedtuple
from functools import update_wrapper

from prefork.cache._appstore import FILL, HIT, WAIT
from prefork.cache._appstore import default as default_store

CacheInfo = namedtuple("CacheInfo", ["hits", "misses", "maxsize", "currsize"])

FIRST_POLL = 0.001      # a waiter looks again after this, doubling ...
MAX_POLL = 0.016        # ... up to this (as the response cache's waiters)


def shared_lru_cache(maxsize=128, typed=False, *, ttl=None, lock_timeout=5.0, store=None):
    """Decorate a function like ``functools.lru_cache(maxsize, typed)``,
    with entries shared by every worker. ``ttl``: seconds an entry lives
    (None: until evicted or cleared). ``lock_timeout``: how long a caller
    waits for another's computation of the same key (0: never waits).
    ``store``: an AppStore other than the process's (tests)."""
    if callable(maxsize) and isinstance(typed, bool):       # @shared_lru_cache
        return SharedLRU(maxsize, 128, typed, ttl, lock_timeout, store)
    if maxsize is not None and (not isinstance(maxsize, int) or isinstance(maxsize, bool)):
        raise TypeError(f"maxsize must be an int or None, not {maxsize!r}")
    if maxsize is not None and maxsize < 0:
        maxsize = 0
    return lambda func: SharedLRU(func, maxsize, typed, ttl, lock_timeout, store)


class SharedLRU:
    """The wrapper @shared_lru_cache returns: call it like the function."""

    def __init__(self, func, maxsize, typed, ttl, lock_timeout, store):
        import pickle
        from _blake2 import blake2b     # hashlib would load OpenSSL into every worker
        self.__wrapped__ = func
        self.maxsize, self.typed, self.ttl, self.lock_timeout = maxsize, typed, ttl, lock_timeout
        self.store = default_store if store is None else store
        self.name = f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', func)!s}"
        # typed keys differ from untyped ones: the two never share an entry.
        self.prefix = self.name.encode() + (b"\0typed\0" if typed else b"\0")
        self.name_hash = int.from_bytes(blake2b(self.prefix, digest_size=8).digest(), "little")
        self.dumps, self.blake2b = pickle.dumps, blake2b
        self.group_id = None            # the store's group, asked for on the first call
        self.hits = self.misses = 0
        self.warned = False
        update_wrapper(self, func)

    def __get__(self, instance, owner=None):
        # Decorating a method: bind it like a function would be.
        return self if instance is None else _BoundShared(self, instance)

    def key(self, args, kwargs):
        if not self.typed:
            args = tuple(plain_number(a) for a in args)
            kwargs = {k: plain_number(v) for k, v in kwargs.items()}
        try:
            data = self.dumps((args, sorted(kwargs.items())) if kwargs else args, 4)
        except Exception as exc:
            raise TypeError(f"shared_lru_cache: the arguments of {self.name} cannot be "
                            f"pickled ({exc})") from exc
        return self.blake2b(self.prefix + data, digest_size=16).digest()

    def group(self):
        if self.group_id is None:
            self.group_id = self.store.group(self.name_hash, self.maxsize or 0)
            if self.group_id == 0 and self.maxsize:
                logging.getLogger("prefork.shared").warning(
                    "shared_lru_cache: no group left for %s; its maxsize is not enforced",
                    self.name)
        return self.group_id

    def __call__(self, *args, **kwargs):
        if self.maxsize == 0:
            self.misses += 1
            return self.__wrapped__(*args, **kwargs)
        key = self.key(args, kwargs)
        group = self.group()
        status, value, seq, generation = self.store.memo_lookup(key, group, self.lock_timeout, True)
        if status == WAIT:
            status, value, seq, generation = self.wait(key, group)
        if status == HIT:
            self.hits += 1
            return value
        self.misses += 1
        try:
            result = self.__wrapped__(*args, **kwargs)
        except BaseException:
            if seq is not None:
                self.store.memo_release(key, seq)
            raise
        if seq is not None:
            self.remember(key, group, result, seq, generation)
        return result

    def wait(self, key, group):
        """Another caller computes this key: look again until it is stored,
        the computation ends unstored (then compute), or lock_timeout."""
        deadline = time.monotonic() + self.lock_timeout
        interval = FIRST_POLL
        while True:
            time.sleep(interval)
            interval = min(interval * 2, MAX_POLL)
            found = self.store.memo_lookup(key, group, self.lock_timeout, False)
            if found[0] != WAIT:
                return found
            if time.monotonic() >= deadline:
                return FILL, None, None, 0      # given up: compute, store nothing

    def remember(self, key, group, result, seq, generation):
        try:
            self.store.memo_store(key, group, result, self.ttl, seq, generation)
        except Exception as exc:        # an unpicklable result: served, not stored
            if not self.warned:
                self.warned = True
                logging.getLogger("prefork.shared").warning(
                    "shared_lru_cache: %s returned a value that cannot be stored (%r)",
                    self.name, exc)

    def cache_info(self):
        group = self.group()
        return CacheInfo(self.hits, self.misses, self.maxsize,
                         self.store.group_entries(group) if group else 0)

    def cache_clear(self):
        """Drop this function's entries for every worker (and host)."""
        self.hits = self.misses = 0
        self.store.clear_group(self.name_hash)

    def cache_parameters(self):
        return {"maxsize": self.maxsize, "typed": self.typed, "ttl": self.ttl}


class _BoundShared:
    """A @shared_lru_cache method bound to its instance (which is then part of the key)."""

    def __init__(self, memo, instance):
        self.memo, self.instance = memo, instance

    def __call__(self, *args, **kwargs):
        return self.memo(self.instance, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.memo, name)


def plain_number(value):
    """lru_cache(typed=False) finds 1 == 1.0 == True: one key for them."""
    kind = type(value)
    if kind is bool or (kind is float and value.is_integer()):
        return int(value)
    return value
