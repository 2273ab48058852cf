"""Documentation of the compiled response cache (prefork/cache/_lookup.pyx).

One ``SharedCache`` is created in the master before it forks; every worker
then shares its entries, counters and fill markers through one anonymous
shared mapping (prefork/cache/_store.pyx). What may be stored is decided by
``prefork.cache.policy.decide()``; this module keys, finds, checks and serves.

Keys: ``"host\\npath?query"`` with the host lowercased and an absolute-form
target reduced to its path; HEAD is answered from the GET entry. Variants:
an entry records the request fields its response named in Vary and their
normalized values (list OWS trimmed, lines joined; Accept-Encoding reduced to
the configured codings the client accepts, or "identity").

Hits carry the stored status line and fields, then ``Age``, ``Date``, the
server line, ``Connection`` (close, or keep-alive on HTTP/1.0), optionally
``X-Cache: HIT|STALE``, then the body (none for HEAD). A conditional GET/HEAD
(If-None-Match with weak comparison, else If-Modified-Since against
Last-Modified or Date) on a stored 200/203 gets a 304 with ETag,
Cache-Control, Content-Location, Expires, Vary, Last-Modified, Age and Date.

Fills (stampede control, request coalescing): a miss claims its key's fill
marker in shared memory (``fill_won``, ``fill_seq``); misses of the key in
any process then get BUSY and wait, looking again with ``recheck=True``
until the fill's entry is there, or the fill ended unstored (then they get
MISS with ``fill_won`` and no marker: call the app unwaited; so do misses
for ``pass_time`` after it), or ``fill_timeout`` (the lock timeout) passed.
A stale hit claims the same marker for its refresh (RFC 5861 §3).

C API for the gate (see _lookup.pxd): ``lookup_request`` (with a
LookupMode), ``put_request``/``put``, ``drop``, ``claim_fill``,
``release_fill``, ``count`` and the result fields ``status``, ``fill_won``,
``key_hash``, ``fill_seq``, ``fill_generation``.
"""
from typing import Any, Dict, Iterable, Optional, Tuple, Union

Field = Tuple[Union[bytes, str], Union[bytes, str]]

BYPASS: int
"""Not answerable from the cache (method, body, Authorization, target form):
call the app and store nothing."""
MISS: int
"""Nothing usable. If ``fill_won``, call the app, store the response if the
policy allows, then end the fill (``end_fill``, with ``fill_seq``)."""
BUSY: int
"""Nothing usable and a live process (this one included) is filling this
key: wait for it, looking again with ``lookup(..., recheck=True)``."""
HIT: int
"""The result is a fresh response (or a 304)."""
STALE: int
"""The result is stale (stale-while-revalidate, or stale-if-error when asked).
If ``fill_won``, refresh the entry and end the fill."""

class SharedCache:
    """A response cache shared by every process forked after its creation.

    size_bytes: the whole mapping (tables and entries) stays within it.
    max_entry_bytes: larger entries (key, head and body together) are refused.
    block_size: entries occupy a chain of blocks of this size (multiple of 8, >= 64).
    fill_slots: fill markers that can be held at once (more fillers go unmarked).
    fill_timeout: the lock timeout: a fill marker is void for new requests
    after it (one more may fill), and waiters give up then.
    pass_time: after a fill that ended unstored, misses of its key call the
    app without waiting for this long.
    lru_interval: an entry moves to the LRU head at most once per interval.
    x_cache: add ``X-Cache: HIT`` / ``X-Cache: STALE`` to answers.
    verify_reads: verify an entry's checksum before every answer.
    encodings: the content codings the app may produce (for Accept-Encoding).
    server_name: adds ``Server: name`` to answers (also settable as
    ``server_line``, the whole CRLF-terminated line).

    Use one object from one thread (the worker's loop thread): its scratch
    buffers and result fields are per object. Processes share the entries.
    """
    status: int
    """The LookupStatus of the last lookup."""
    fill_won: bool
    """The last lookup should fill its key (call the app, store, end_fill)."""
    key_hash: int
    """The key hash of the last lookup."""
    fill_seq: int
    """The fill marker the last lookup claimed; 0 when it fills unmarked."""
    fill_generation: int
    """The store's drop generation when the last fill was won (for store)."""
    server_line: bytes
    max_entry_bytes: int
    """Larger entries are refused: stop collecting a body past this."""
    x_cache: bool
    verify_reads: bool
    fill_timeout: float
    """Settable: a HUP reload passes on a new --cache-lock-timeout."""
    pass_time: float

    def __init__(self, size_bytes: int, max_entry_bytes: int, *, block_size: int = 1024,
                 fill_slots: int = 64, fill_timeout: float = 5.0, pass_time: float = 10.0,
                 lru_interval: float = 1.0, x_cache: bool = False, verify_reads: bool = False,
                 encodings: Iterable[Union[str, bytes]] = ("br", "deflate", "gzip", "zstd"),
                 server_name: Optional[str] = None) -> None: ...
    def key(self, host: Optional[bytes], target: bytes) -> Optional[bytes]:
        """The primary key of (host, target); None for asterisk- or authority-form."""
    def lookup(self, method: bytes, host: Optional[bytes], target: bytes,
               headers: Iterable[Field] = (), *, minor: int = 1, keep_alive: bool = True,
               now: Optional[float] = None, for_error: bool = False,
               recheck: bool = False) -> Optional[bytes]:
        """The bytes of a hit, or None; sets ``status`` and ``fill_won``.
        ``now`` is monotonic seconds (default time.monotonic()).
        ``for_error``: for stale-if-error; claims no fill. ``recheck``: a
        request waiting for a fill looks again (not counted as another
        miss; it does not take over a fill past the lock timeout)."""
    def store(self, host: Optional[bytes], target: bytes, request_headers: Iterable[Field],
              decision: Any, status: Union[str, bytes], headers: Iterable[Field], body: bytes,
              *, now: Optional[float] = None, fill_generation: Optional[int] = None,
              fill_seq: int = 0) -> bool:
        """Store a response as ``decision`` (a prefork.cache.policy.Decision) allows,
        replacing the variants this request selects. False when not stored
        (decision says no, too large, a field with CR/LF/NUL, or, given the
        ``fill_generation`` and ``fill_seq`` of a lookup that won the key's
        fill, the key was invalidated since: the body may be older than the
        change)."""
    def invalidate(self, host: Optional[bytes], target: bytes) -> int:
        """Drop every variant of the URI (RFC 9111 §4.4); returns how many."""
    def purge(self, host: Optional[bytes], target: bytes) -> int:
        """Like invalidate, counted as a purge (the PURGE method)."""
    def begin_fill(self, key: bytes, now: Optional[float] = None) -> bool:
        """True: the caller should produce the response for ``key`` (from
        ``key()``) and then end_fill(); False: a live process claimed it less
        than fill_timeout ago."""
    def end_fill(self, key: bytes, stored: bool = True, seq: Optional[int] = None) -> None:
        """End fill ``seq`` of ``key`` (every fill of it this process holds
        when None). ``stored`` False: the next pass_time seconds of misses
        call the app unwaited."""
    def stats(self) -> Dict[str, int]:
        """hits, stale_hits, not_modified, misses, stores, store_rejects,
        evictions, expirations, invalidations, purges, fill_busy, fills_voided,
        fill_waits, fill_wait_timeouts, fill_wait_cancels, refreshes,
        recoveries, bytes_used, bytes_stored, entries, capacity, block_size,
        map_size."""
    def clear(self) -> None:
        """Drop every entry and fill marker; the counters stay."""
    def check(self) -> None:
        """Walk the store and raise AssertionError on any inconsistency (tests)."""
