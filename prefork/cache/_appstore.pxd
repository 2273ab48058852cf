# C interface of the app store (prefork/cache/_appstore.pyx): the shared
# store of prefork.shared and @shared_lru_cache, a SharedStore of its own.
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

from prefork.cache._store cimport SharedStore


# Slot.flags of an app entry: how its value bytes read back.
cdef enum ValueKind:
    KIND_BYTES = 0      # bytes, as given
    KIND_STR = 1        # str, UTF-8
    KIND_INT = 2        # int, 8 bytes little-endian (what incr() works on)
    KIND_PICKLE = 3     # anything else, pickled


# memo_lookup() answers (prefork.shared.shared_lru_cache acts on them).
cdef enum MemoStatus:
    MEMO_HIT = 0        # the value is stored: here it is
    MEMO_FILL = 1       # compute it and memo_store() it (with the seq given)
    MEMO_WAIT = 2       # another caller, in some process, computes it: look again


cdef class AppStore:
    cdef SharedStore shm            # None until open() or the first use
    cdef public object bus          # prefork.cache.bus.InvalidationBus, or None
    cdef public object response_cache   # the master's SharedCache (purge_tag), or None
    cdef public str off_reason      # why this process has no shared store, for the log
    cdef public double pass_time    # a computation that failed lets callers by unwaited this long
    cdef object loads, dumps        # pickle's, imported on first use

    cdef SharedStore ready(self)
    cdef int32_t find(self, uint64_t h, const unsigned char *k, Py_ssize_t kn, uint32_t group,
                      double now) noexcept
    cdef int32_t write_entry(self, uint64_t h, const unsigned char *k, Py_ssize_t kn,
                             uint32_t group, uint32_t kind, bytes data, double ttl,
                             double now) noexcept
    cdef object read_value(self, int32_t i, uint32_t *kind, int64_t *number)
    cdef bytes encode(self, object value, uint32_t *kind)
    cdef object decode(self, uint32_t kind, object data, int64_t number)
    cdef void shrink_group(self, uint32_t group) noexcept
    cdef int announce(self, bytes op, object payload) except -1
