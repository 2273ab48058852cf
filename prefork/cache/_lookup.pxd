# C interface of the response cache (prefork/cache/_lookup.pyx): keys, Vary,
# freshness, conditional requests and the bytes of a hit. The connection
# cimports it; the policy (what may be stored) is prefork/cache/policy.py.
from libc.stdint cimport int32_t, uint64_t
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from prefork.cache._store cimport SharedStore
from prefork._speedups cimport Request


cdef inline double monotonic() noexcept nogil:
    """CLOCK_MONOTONIC in seconds, the clock of every cache time."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


# SharedCache.status after a lookup.
cdef enum LookupStatus:
    CACHE_BYPASS = 0    # not answerable from the cache: call the app, store nothing
    CACHE_MISS = 1      # nothing usable: call the app; store it if fill_won
    CACHE_BUSY = 2      # nothing usable and another process is filling it
    CACHE_HIT = 3       # the result is a fresh response (200, ... or a 304)
    CACHE_STALE = 4     # the result is a stale response; refresh it if fill_won


# What a lookup is for (lookup_bytes' mode).
cdef enum LookupMode:
    LOOKUP_REQUEST = 0      # a request arrived: count it; on a miss claim the fill
    LOOKUP_FOR_ERROR = 1    # the app failed: a stale-if-error answer or None; claims nothing
    LOOKUP_RECHECK = 2      # a request waiting for another's fill looks again (counted once already)


# Shared counters the gate moves (SharedCache.count()).
cdef enum CacheEvent:
    EVENT_WAIT = 0          # fill_waits
    EVENT_WAIT_TIMEOUT = 1  # fill_wait_timeouts
    EVENT_WAIT_CANCEL = 2   # fill_wait_cancels
    EVENT_REFRESH = 3       # refreshes


# Slot.flags
cdef enum:
    ENTRY_AUTH_OK = 1       # may answer requests with Authorization (RFC 9111 §3.5)
    ENTRY_VALIDATORS = 2    # may answer conditional requests with 304


cdef struct Scratch:
    unsigned char *data
    Py_ssize_t size


cdef class SharedCache:
    cdef readonly SharedStore shm
    cdef readonly bint x_cache          # add X-Cache: HIT / STALE to hits
    cdef readonly bint verify_reads     # check an entry's checksum before serving it
    cdef public double fill_timeout     # the lock timeout: a fill marker is void after it
    cdef readonly double pass_time      # a fill that ended unstored lets misses by unwaited this long
    cdef public bytes server_line       # b"Server: name\r\n" or b"", added to hits
    cdef public str tag_name            # the tag field's name, lowercase (--cache-tag-header)
    cdef public bint keep_tags          # store (and send) the tag field (--cache-tag-keep)
    cdef public object bus              # prefork.cache.bus.InvalidationBus (--cache-redis), or None
    cdef list codings                   # content codings Accept-Encoding is reduced to, sorted
    cdef long date_second
    cdef bytes date_line
    cdef Scratch key_buf                # the last key built
    cdef Scratch value_buf              # a request header's normalized value
    cdef Scratch meta_buf               # an entry's vary spec or etag, copied out

    # Results of the last lookup (the cdef ones and the def wrapper).
    cdef public int status              # a LookupStatus
    cdef public bint fill_won           # this caller should fill the key (and release_fill it)
    cdef readonly uint64_t key_hash     # hash of the key looked up (for release_fill)
    cdef readonly uint64_t fill_seq     # the marker of the fill won, 0 when unmarked
    cdef readonly uint64_t fill_generation  # the store's drop_generation when the fill was won

    # (a) request complete. Returns the response bytes to send (status
    # CACHE_HIT or CACHE_STALE) or None. `now` is monotonic (loop.now);
    # `mode` a LookupMode.
    cdef object lookup_request(self, Request req, bint keep_alive, double now, int mode)
    cdef object lookup_bytes(self, bytes method, bytes host, bytes target, list headers,
                             int minor, bint keep_alive, double now, int mode)
    # (b) response complete: store what prefork.cache.policy.decide() allowed.
    # Returns 1 if stored, 0 if not (decision says no, too large, bad header,
    # or, for a fill, its key was invalidated while the app ran).
    cdef int put_request(self, Request req, object decision, object status, list headers,
                         bytes body, double now, uint64_t fill_seq,
                         uint64_t fill_generation) except -1
    cdef int put(self, bytes host, bytes target, list request_headers, object decision,
                 object status, list headers, bytes body, double now,
                 bint fill, uint64_t fill_seq, uint64_t fill_generation) except -1
    # (c) unsafe method succeeded / PURGE: drop every variant; returns how many.
    cdef int drop(self, bytes host, bytes target, bint purge) except -1
    # Stampede control by key hash (key_hash, fill_seq after a lookup). A
    # claim is a FILL_* answer of prefork/cache/_store.pxd.
    cdef int claim_fill(self, uint64_t h, double now) except -1
    cdef int release_fill(self, uint64_t h, uint64_t seq, bint stored) except -1
    cdef int count(self, int event) except -1
    cdef int release_own_fills(self, uint64_t h, bint stored) except -1

    # --- private ---
    cdef Py_ssize_t make_key(self, bytes host, bytes target) except -2
    cdef int32_t find(self, uint64_t h, Py_ssize_t klen, list headers) except -2
    cdef bint vary_matches(self, int32_t i, list headers) except -1
    cdef Py_ssize_t request_value(self, list headers, const unsigned char *name,
                                  Py_ssize_t nlen) except -2
    cdef Py_ssize_t accept_encoding(self, list headers) except -2
    cdef bint not_modified(self, int32_t i, list headers) except -1
    cdef bint etag_listed(self, int32_t i, bytes value) except -1
    cdef bytes build(self, int32_t i, bint head_only, int minor, bint keep_alive,
                     double age, bint stale, list headers)
    cdef bytes date(self)
    cdef bytes vary_spec(self, object names, list request_headers)
