"""Documentation of the response cache's shared entry store (prefork/cache/_store.pyx).

One anonymous MAP_SHARED mapping holds a header (robust process-shared
mutex, counters, free lists, LRU ends), fill markers, entry slots, block
chains, hash buckets and the fixed-size blocks holding entry bytes. Its C API
(allocate, write, publish, read, equals, remove, touch, begin_fill,
fill_under_way, end_fill, lock, unlock) is used by prefork/cache/_lookup.pyx
only; see _store.pxd.

A fill marker is FILLING while one process produces its key's response
(begin_fill answers FILL_BUSY to the others, who wait) and PASSING for a
while after a fill ended unstored (FILL_PASS: call the app, do not wait).
Each fill has a seq of its own, so a fill that outlived its marker never
ends a newer one.

Groups (``group_slots``, the app store's) count the entries of one
bounded namespace across every process: a ``@shared_lru_cache`` function's
maxsize holds for all the workers together.

A process that dies holding the lock makes the next locker drop every entry
and fill marker (``recoveries`` counts it): nothing half written survives,
and nobody waits forever.
"""
from typing import Dict

class SharedStore:
    def __init__(self, size_bytes: int, max_entry_bytes: int, block_size: int = 1024,
                 fill_slots: int = 64, lru_interval: float = 1.0,
                 group_slots: int = 0) -> None: ...
    capacity: int
    """Bytes entries may occupy (nblocks * block_size)."""
    block_size: int
    map_size: int
    """Bytes mapped; never more than size_bytes."""
    def counters(self) -> Dict[str, int]:
        """A consistent snapshot of the shared counters."""
    def check(self) -> None:
        """Walk every structure; AssertionError on an inconsistency (tests)."""
    def _lock_for_test(self) -> None:
        """Take the lock and keep it: tests kill the holder to check recovery."""
