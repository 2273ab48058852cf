"""The shared cache for application code.

Under any pre-forking server each worker has its own ``functools.lru_cache``
and its own locmem cache: with N workers the same value is computed N
times, held N times, and ``cache_clear()`` reaches one worker in N. prefork
owns a store in shared memory that every worker sees (the master maps it
before it forks and keeps it across HUP reloads); this module hands it to
the application::

    from prefork import shared

    shared.set("greeting", b"hello", ttl=60)
    shared.get("greeting")                  # b"hello", in every worker
    shared.incr("visits")                   # atomic across the workers
    shared.add("lock:report", 1, ttl=30)    # True for exactly one caller

    @shared.shared_lru_cache(maxsize=1024, ttl=300)
    def price(product_id): ...              # computed once for all workers

Keys are ``str`` (stored as UTF-8) or ``bytes``, in a namespace of their
own: the response cache is another store, with its own byte budget, so app
data never evicts responses and the reverse. Values: ``bytes`` are stored as
they are, ``str`` as UTF-8, ``int`` (64-bit) as a number that ``incr`` can
add to; anything else is pickled, so ``get`` returns a copy, and the store
must only ever hold the application's own data (unpickling bytes someone
else chose runs their code). ``ttl`` is in seconds: None never expires,
0 or less expires at once (the key is deleted).

The budget is ``--app-cache-size`` (16 MB by default); one value may take an
eighth of it (``set`` answers False for a larger one and the key is then
absent); the least recently used entries make room for new ones.

Outside ``prefork-serve`` (tests, management commands, a development
server), or with ``--app-cache-size 0``, the same API works on a store
local to the process, and the first use says so once in the log
(``prefork.shared`` logger).

With ``--cache-redis``, every ``set``, ``add``, ``delete`` and ``clear``
(and ``cache_clear()`` of a @shared_lru_cache function) drops the key on the
other hosts too; values themselves are not copied between hosts: each host
computes its own. ``incr`` stays per host.

Each call is one C function holding the store's process-shared lock for
the copy only: a 1 KB ``get`` costs well under a microsecond (bench/
bench_shared.py).
"""
from prefork.cache._appstore import default as _store
from prefork.cache.memoize import shared_lru_cache

__all__ = ["get", "set", "add", "delete", "incr", "touch", "has", "clear", "stats",
           "purge_tag", "shared_lru_cache"]

#: ``get(key, default=None)``: the value stored under ``key``, or ``default``.
get = _store.get
#: ``set(key, value, ttl=None)``: store it; False if it is too large to store.
set = _store.set
#: ``add(key, value, ttl=None)``: store it only if ``key`` has no live entry,
#: atomically across the workers; True if this call stored it.
add = _store.add
#: ``delete(key)``: True if ``key`` had a live entry.
delete = _store.delete
#: ``incr(key, delta=1)``: add ``delta`` atomically and return the new value.
#: A missing key starts from 0 (no expiry); ``incr(key, delta, create=False)``
#: raises KeyError instead. A value that is not an int raises TypeError, a sum
#: past 64 bits OverflowError; the stored value is then unchanged.
incr = _store.incr
#: ``touch(key, ttl=None)``: a new ttl from now; True if ``key`` had a live entry.
touch = _store.touch
#: ``has(key)``: whether ``key`` has a live entry.
has = _store.has
#: ``clear()``: drop every entry (@shared_lru_cache functions' too).
clear = _store.clear
#: ``stats()``: the store's counters (hits, misses, entries, bytes_used, ...).
stats = _store.stats


def purge_tag(*tags):
    """Drop every response in the response cache whose ``Cache-Tag`` (the
    ``--cache-tag-header`` field) named one of ``tags``, in every worker and,
    with ``--cache-redis``, on every host. Returns how many this host dropped
    (0 without a response cache: outside prefork-serve, or ``--cache-size 0``)."""
    cache = _store.response_cache
    if cache is None or not tags:
        return 0
    return cache.purge_tags(tags)
