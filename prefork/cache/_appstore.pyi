"""Documentation of the app store (prefork/cache/_appstore.pyx): the shared
memory behind prefork.shared and @shared_lru_cache.

A SharedStore of its own (512-byte blocks, 256 groups), mapped by the master
before it forks (``open``), or by a process for itself on first use (logged
once). Keys are str (UTF-8) or bytes; values are stored by kind: bytes as
given, str as UTF-8, int (64-bit) as 8 bytes, anything else pickled. ``ttl``
is in seconds: None never expires, <= 0 expires at once.
"""
from typing import Any, Dict, Optional, Tuple, Union

Key = Union[str, bytes]
DEFAULT_SIZE: int
BLOCK_SIZE: int
GROUPS: int
HIT: int
FILL: int
WAIT: int

class AppStore:
    bus: Any
    """prefork.cache.bus.InvalidationBus (--cache-redis), or None."""
    response_cache: Any
    """The master's SharedCache, for prefork.shared.purge_tag(), or None."""
    off_reason: Optional[str]
    """Why this process maps a store of its own, for the log line."""
    pass_time: float
    is_open: bool
    def __init__(self, size_bytes: int = 0, *, pass_time: float = 1.0) -> None: ...
    def open(self, size_bytes: int) -> None:
        """Map the shared store; a value may take an eighth of it."""
    def get(self, key: Key, default: Any = None) -> Any: ...
    def has(self, key: Key) -> bool: ...
    def set(self, key: Key, value: Any, ttl: Optional[float] = None) -> bool:
        """False when the value is too large (the key is then absent)."""
    def add(self, key: Key, value: Any, ttl: Optional[float] = None) -> bool:
        """Store only if absent, atomically for every process."""
    def delete(self, key: Key) -> bool: ...
    def touch(self, key: Key, ttl: Optional[float] = None) -> bool: ...
    def incr(self, key: Key, delta: int = 1, *, create: bool = True) -> int:
        """Atomic; a missing key starts from 0 (KeyError with create=False);
        TypeError for a value that is not an int, OverflowError past 64 bits."""
    def clear(self) -> None: ...
    def stats(self) -> Dict[str, int]: ...
    def check(self) -> None: ...
    def group(self, name: int, maxsize: int) -> int:
        """The group of a @shared_lru_cache function (0: none was free)."""
    def group_entries(self, group: int) -> int: ...
    def clear_group(self, name: int) -> int: ...
    def memo_lookup(self, key: bytes, group: int, lock_timeout: float,
                    first: bool) -> Tuple[int, Any, int, int]:
        """(HIT, value, 0, 0), (FILL, None, seq, generation) or (WAIT, None, 0, 0)."""
    def memo_store(self, key: bytes, group: int, value: Any, ttl: Optional[float],
                   seq: int, generation: int) -> bool: ...
    def memo_release(self, key: bytes, seq: int) -> None: ...

default: AppStore
"""The process's store: prefork.shared's functions are its bound methods."""
