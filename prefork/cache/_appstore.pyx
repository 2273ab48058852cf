"""The app store: the shared memory behind prefork.shared and
@shared_lru_cache, a SharedStore of its own (prefork/cache/_store.pyx), so
app data never evicts responses and responses never evict app data.

The master maps it before it forks (``open()``, ``--app-cache-size``), so
every worker of every generation sees the same entries. A process that uses
it without that (a test, a management command, a development server, or
``--app-cache-size 0``) maps a store of its own on first use and says so
once in the log.

An entry's bytes are its key then its value; its Slot holds the rest:
``flags`` the value's kind (ValueKind), ``group`` the @shared_lru_cache
function it belongs to (0 for the plain API), ``stored_at`` and ``ttl``
(monotonic seconds; ttl < 0: no expiry). The whole operation, key hash,
lookup and the copy of the value, runs in C under the store's lock; only
pickling happens outside it.

Invariants:
- at most one live entry per (key, group): every write removes the old one
  under the same lock;
- an expired entry is never returned: the lookup that finds it removes it;
- a computation (memo_lookup -> MEMO_FILL) is stored only if no delete or
  clear of its key came while it ran (its fill marker was not voided), and
  its marker is ended exactly once (memo_store or memo_release).
"""
import logging
import os

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_AsUTF8String, PyUnicode_DecodeUTF8
from libc.stdint cimport INT64_MAX, INT64_MIN, int32_t, int64_t, uint32_t, uint64_t
from libc.string cimport memcpy
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from prefork.cache._store cimport (FILL_BUSY, FILL_PASS, FILL_UNMARKED, FILL_WON, MARK_FILLING,
                                   SLOT_LIVE, Group, SharedStore, Slot)

from prefork.cache._store import SharedStore as _SharedStore

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object unicode, Py_ssize_t *size) except NULL

# The default of --app-cache-size (prefork/config.py), and the size of a
# store a process maps for itself.
DEFAULT_SIZE = 16 << 20
# Entries are small values more often than responses are: a 512-byte block
# wastes less on them, for a Slot (about 140 bytes) per block.
BLOCK_SIZE = 512
GROUPS = 256            # @shared_lru_cache functions with a maxsize of their own
HIT, FILL, WAIT = MEMO_HIT, MEMO_FILL, MEMO_WAIT


cdef inline double monotonic() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef inline const unsigned char *key_bytes(object key, Py_ssize_t *n) except NULL:
    """The key's bytes without a copy: a str's cached UTF-8 form, or the bytes."""
    if type(key) is str:
        return <const unsigned char *>PyUnicode_AsUTF8AndSize(key, n)
    if type(key) is bytes:
        n[0] = PyBytes_GET_SIZE(key)
        return <const unsigned char *>PyBytes_AS_STRING(key)
    raise TypeError(f"a key is a str or bytes, not {type(key).__name__}: {key!r}")


cdef inline bytes key_object(object key):
    return key.encode("utf-8") if type(key) is str else key


cdef double ttl_seconds(object ttl) except? -2:
    """-1 for None (no expiry), 0 for "expired at once" (ttl <= 0), else seconds."""
    cdef double t
    if ttl is None:
        return -1
    t = ttl
    if t != t:
        raise ValueError(f"ttl must be a number of seconds or None, not {ttl!r}")
    return t if t > 0 else 0


cdef class AppStore:
    """The app store (see the module docstring and _appstore.pyi)."""

    def __init__(self, Py_ssize_t size_bytes=0, *, double pass_time=1.0):
        self.pass_time = pass_time
        if size_bytes:
            self.open(size_bytes)

    def open(self, Py_ssize_t size_bytes):
        """Map a store of ``size_bytes``; processes forked after this share it.
        One value may take an eighth of it (a larger one is not stored)."""
        if self.shm is not None:
            raise RuntimeError("the app store is open already")
        self.shm = _SharedStore(size_bytes, max(size_bytes // 8, BLOCK_SIZE), BLOCK_SIZE, 64, 1.0,
                                GROUPS)

    @property
    def is_open(self):
        return self.shm is not None

    cdef SharedStore ready(self):
        if self.shm is None:
            logging.getLogger("prefork.shared").warning(
                "prefork.shared: %s; using a store of %d MB local to process %d",
                self.off_reason or "not running under prefork-serve", DEFAULT_SIZE >> 20,
                os.getpid())
            self.open(DEFAULT_SIZE)
        return self.shm

    # -- under the lock --------------------------------------------------

    cdef int32_t find(self, uint64_t h, const unsigned char *k, Py_ssize_t kn, uint32_t group,
                      double now) noexcept:
        """The live entry of (key, group), or -1. With ``now`` >= 0 an expired
        one is removed and not found."""
        cdef SharedStore shm = self.shm
        cdef int32_t i = shm.first_in_bucket(h)
        cdef Slot *s
        while i >= 0:
            s = &shm.slots[i]
            if s.hash == h and s.key_len == kn and s.group == group and shm.equals(i, 0, k, <uint32_t>kn):
                if now >= 0 and s.ttl >= 0 and now - s.stored_at >= s.ttl:
                    shm.remove(i)
                    shm.hdr.counters.expirations += 1
                    return -1
                return i
            i = s.bucket_next
        return -1

    cdef int32_t write_entry(self, uint64_t h, const unsigned char *k, Py_ssize_t kn,
                             uint32_t group, uint32_t kind, bytes data, double ttl,
                             double now) noexcept:
        """Store a new entry (the old one is gone already); -1 if it cannot fit."""
        cdef SharedStore shm = self.shm
        cdef Py_ssize_t vn = PyBytes_GET_SIZE(data)
        cdef int32_t i = shm.allocate(h, kn + vn)
        cdef Slot *s
        if i < 0:
            return -1
        shm.write(i, 0, k, <uint32_t>kn)
        shm.write(i, <uint32_t>kn, <const unsigned char *>PyBytes_AS_STRING(data), <uint32_t>vn)
        s = &shm.slots[i]
        s.key_len = <uint32_t>kn
        s.flags = kind
        s.group = group
        s.stored_at = now
        s.ttl = ttl
        shm.publish(i, now)
        return i

    cdef object read_value(self, int32_t i, uint32_t *kind, int64_t *number):
        """Copy entry i's value out: the bytes, or None with *number set for an int."""
        cdef Slot *s = &self.shm.slots[i]
        cdef uint32_t n = s.length - s.key_len
        kind[0] = s.flags
        if s.flags == KIND_INT:
            self.shm.read(i, s.key_len, <unsigned char *>number, 8)
            return None
        data = PyBytes_FromStringAndSize(NULL, n)
        self.shm.read(i, s.key_len, <unsigned char *>PyBytes_AS_STRING(data), n)
        return data

    cdef void shrink_group(self, uint32_t group) noexcept:
        """Make room for one more entry of a group at its maxsize: drop its
        least recently used entries (walking the LRU list from its tail)."""
        cdef SharedStore shm = self.shm
        cdef Group *g = &shm.groups[group - 1]
        cdef int32_t i = shm.hdr.lru_tail, before
        while g.maxsize > 0 and g.entries >= g.maxsize and i >= 0:
            before = shm.slots[i].lru_prev
            if shm.slots[i].group == group:
                shm.remove(i)
                shm.hdr.counters.evictions += 1
            i = before

    # -- values ----------------------------------------------------------

    cdef bytes encode(self, object value, uint32_t *kind):
        cdef int64_t number
        if type(value) is bytes:
            kind[0] = KIND_BYTES
            return value
        if type(value) is str:
            try:
                kind[0] = KIND_STR
                return PyUnicode_AsUTF8String(value)
            except UnicodeEncodeError:
                pass        # lone surrogates: pickle keeps them
        elif type(value) is int:
            try:
                number = value
            except OverflowError:
                pass        # beyond 64 bits: pickled (and not incr()-able)
            else:
                kind[0] = KIND_INT
                return PyBytes_FromStringAndSize(<char *>&number, 8)
        if self.dumps is None:
            import pickle
            self.dumps, self.loads = pickle.dumps, pickle.loads
        kind[0] = KIND_PICKLE
        return self.dumps(value, -1)

    cdef object decode(self, uint32_t kind, object data, int64_t number):
        if kind == KIND_BYTES:
            return data
        if kind == KIND_INT:
            return number
        if kind == KIND_STR:
            return PyUnicode_DecodeUTF8(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), NULL)
        if self.loads is None:
            import pickle
            self.dumps, self.loads = pickle.dumps, pickle.loads
        return self.loads(data)

    cdef int announce(self, bytes op, object payload) except -1:
        """Tell the other hosts (--cache-redis): never waits (prefork/cache/bus.py)."""
        if self.bus is not None:
            self.bus.send(op, payload)
        return 0

    # -- the API (prefork.shared) --------------------------------------------

    def get(self, key, default=None):
        """The value stored under ``key``, or ``default``."""
        cdef SharedStore shm = self.ready()
        cdef Py_ssize_t kn
        cdef const unsigned char *k = key_bytes(key, &kn)
        cdef uint64_t h = shm.hash(k, kn)
        cdef double now = monotonic()
        cdef int32_t i
        cdef uint32_t kind = 0
        cdef int64_t number = 0
        shm.lock()
        try:
            i = self.find(h, k, kn, 0, now)
            if i < 0:
                shm.hdr.counters.misses += 1
                return default
            data = self.read_value(i, &kind, &number)
            shm.touch(i, now)
            shm.hdr.counters.hits += 1
        finally:
            shm.unlock()
        return self.decode(kind, data, number)

    def has(self, key):
        """Whether a live entry is stored under ``key``."""
        cdef SharedStore shm = self.ready()
        cdef Py_ssize_t kn
        cdef const unsigned char *k = key_bytes(key, &kn)
        cdef uint64_t h = shm.hash(k, kn)
        cdef int32_t i
        shm.lock()
        i = self.find(h, k, kn, 0, monotonic())
        shm.unlock()
        return i >= 0

    def set(self, key, value, ttl=None):
        """Store ``value`` for ``ttl`` seconds (None: no expiry; <= 0: the key
        is deleted). False if it is too large to store (the key is then absent)."""
        cdef SharedStore shm = self.ready()
        cdef uint32_t kind
        cdef bytes data = self.encode(value, &kind)
        cdef double t = ttl_seconds(ttl)
        cdef Py_ssize_t kn
        cdef const unsigned char *k = key_bytes(key, &kn)
        cdef uint64_t h = shm.hash(k, kn)
        cdef double now = monotonic()
        cdef int32_t i
        shm.lock()
        try:
            i = self.find(h, k, kn, 0, -1)
            if i >= 0:
                shm.remove(i)
            i = self.write_entry(h, k, kn, 0, kind, data, t, now) if t != 0 else 0
        finally:
            shm.unlock()
        self.announce(b"D", key_object(key))
        return i >= 0

    def add(self, key, value, ttl=None):
        """Store ``value`` only if ``key`` has no live entry, atomically for
        every process: True if it did (a ttl <= 0 stores nothing, and says True)."""
        cdef SharedStore shm = self.ready()
        cdef uint32_t kind
        cdef bytes data = self.encode(value, &kind)
        cdef double t = ttl_seconds(ttl)
        cdef Py_ssize_t kn
        cdef const unsigned char *k = key_bytes(key, &kn)
        cdef uint64_t h = shm.hash(k, kn)
        cdef double now = monotonic()
        cdef int32_t i
        shm.lock()
        try:
            if self.find(h, k, kn, 0, now) >= 0:
                return False
            i = self.write_entry(h, k, kn, 0, kind, data, t, now) if t != 0 else 0
        finally:
            shm.unlock()
        if i >= 0:
            self.announce(b"D", key_object(key))
        return i >= 0

    def delete(self, key):
        """Drop ``key``; True if it had a live entry."""
        cdef SharedStore shm = self.ready()
        cdef Py_ssize_t kn
        cdef const unsigned char *k = key_bytes(key, &kn)
        cdef uint64_t h = shm.hash(k, kn)
        cdef int32_t i
        shm.lock()
        i = self.find(h, k, kn, 0, monotonic())
        if i >= 0:
            shm.remove(i)
        shm.unlock()
        self.announce(b"D", key_object(key))
        return i >= 0

    def touch(self, key, ttl=None):
        """Give ``key`` a new ttl from now (None: no expiry; <= 0: delete it);
        True if it had a live entry."""
        cdef SharedStore shm = self.ready()
        cdef double t = ttl_seconds(ttl)
        cdef Py_ssize_t kn
        cdef const unsigned char *k = key_bytes(key, &kn)
        cdef uint64_t h = shm.hash(k, kn)
        cdef double now = monotonic()
        cdef int32_t i
        shm.lock()
        i = self.find(h, k, kn, 0, now)
        if i >= 0 and t == 0:
            shm.remove(i)
        elif i >= 0:
            shm.slots[i].stored_at = now
            shm.slots[i].ttl = t
        shm.unlock()
        return i >= 0

    def incr(self, key, delta=1, *, bint create=True):
        """Add ``delta`` to the integer stored under ``key``, atomically for
        every process; returns the new value. A missing key starts from 0
        (with no expiry), or raises KeyError with ``create=False``; a value
        that is not an int (or that the sum would take past 64 bits) raises
        TypeError (OverflowError) and stays as it was."""
        cdef SharedStore shm = self.ready()
        cdef int64_t d = delta, number = 0
        cdef Py_ssize_t kn
        cdef const unsigned char *k = key_bytes(key, &kn)
        cdef uint64_t h = shm.hash(k, kn)
        cdef double now = monotonic()
        cdef int32_t i
        cdef Slot *s
        shm.lock()
        try:
            i = self.find(h, k, kn, 0, now)
            if i < 0:
                if not create:
                    raise KeyError(key)
                if self.write_entry(h, k, kn, 0, KIND_INT, PyBytes_FromStringAndSize(<char *>&d, 8),
                                    -1, now) < 0:
                    raise MemoryError("the app store cannot hold one more entry")
                return d
            s = &shm.slots[i]
            if s.flags != KIND_INT:
                raise TypeError(f"the value stored under {key!r} is not an int")
            shm.read(i, s.key_len, <unsigned char *>&number, 8)
            if (d > 0 and number > INT64_MAX - d) or (d < 0 and number < INT64_MIN - d):
                raise OverflowError(f"{number} + {d} does not fit in 64 bits")
            number += d
            shm.write(i, s.key_len, <unsigned char *>&number, 8)
            s.checksum = shm.checksum(i)
            shm.touch(i, now)
        finally:
            shm.unlock()
        return number

    def clear(self):
        """Drop every entry (the plain API's and every @shared_lru_cache's)."""
        cdef SharedStore shm = self.ready()
        shm.lock()
        shm.reset()
        shm.unlock()
        self.announce(b"X", b"")

    def stats(self):
        """The store's counters, sizes and entries, as a dict."""
        cdef SharedStore shm = self.ready()
        stats = shm.counters()
        stats.update(capacity=shm.capacity, block_size=shm.block_size, map_size=shm.map_size,
                     max_entry=shm.hdr.max_entry_bytes)
        return stats

    def check(self):
        self.ready().check()

    # -- @shared_lru_cache -------------------------------------------------

    def group(self, uint64_t name, int64_t maxsize):
        """The group number of a function (``name``: a hash of its qualified
        name, the same in every process and on every host); 0 when every
        group is taken (its entries are then bounded by the store only)."""
        cdef SharedStore shm = self.ready()
        cdef int32_t k, free = -1
        name = name or 1
        shm.lock()
        try:
            for k in range(shm.hdr.ngroups):
                if shm.groups[k].name == name:
                    shm.groups[k].maxsize = maxsize
                    return k + 1
                if free < 0 and shm.groups[k].name == 0:
                    free = k
            if free < 0:
                return 0
            shm.groups[free].name = name
            shm.groups[free].maxsize = maxsize
            shm.groups[free].entries = 0
            return free + 1
        finally:
            shm.unlock()

    def group_entries(self, uint32_t group):
        cdef SharedStore shm = self.ready()
        cdef int64_t n
        if group == 0 or group > <uint32_t>shm.hdr.ngroups:
            return 0
        shm.lock()
        n = shm.groups[group - 1].entries
        shm.unlock()
        return n

    def clear_group(self, uint64_t name):
        """Drop every entry of the group named ``name``, in one pass over the
        slots; computations under way store nothing. Returns how many."""
        cdef SharedStore shm = self.ready()
        cdef int32_t k, i, group = 0, dropped = 0
        name = name or 1
        shm.lock()
        try:
            for k in range(shm.hdr.ngroups):
                if shm.groups[k].name == name:
                    group = k + 1
            if group:
                for i in range(shm.hdr.nslots):
                    if shm.slots[i].state == SLOT_LIVE and shm.slots[i].group == <uint32_t>group:
                        shm.remove(i)
                        dropped += 1
                shm.hdr.drop_generation += 1
                for k in range(shm.hdr.nfills):
                    if shm.fills[k].state == MARK_FILLING:
                        shm.fills[k].voided = 1
        finally:
            shm.unlock()
        self.announce(b"G", name.to_bytes(8, "little"))
        return dropped

    def memo_lookup(self, bytes key, uint32_t group, double lock_timeout, bint first):
        """(status, value, seq, generation): MEMO_HIT with the value, or
        MEMO_FILL (compute it, then memo_store with seq and generation), or
        MEMO_WAIT (another caller computes it). ``first``: the caller's first
        look (a marker older than lock_timeout may then be taken over)."""
        cdef SharedStore shm = self.ready()
        cdef const unsigned char *k = <const unsigned char *>PyBytes_AS_STRING(key)
        cdef Py_ssize_t kn = PyBytes_GET_SIZE(key)
        cdef uint64_t h = shm.hash(k, kn), seq = 0, generation
        cdef double now = monotonic()
        cdef int32_t i
        cdef int claim = FILL_UNMARKED
        cdef uint32_t kind = 0
        cdef int64_t number = 0
        shm.lock()
        try:
            i = self.find(h, k, kn, group, now)
            if i >= 0:
                data = self.read_value(i, &kind, &number)
                shm.touch(i, now)
                shm.hdr.counters.hits += 1
            else:
                if first:
                    shm.hdr.counters.misses += 1
                if lock_timeout > 0:
                    claim = shm.begin_fill(h, now, lock_timeout, &seq, first)
                    if claim == FILL_BUSY and first:
                        shm.hdr.counters.fill_busy += 1
            generation = shm.hdr.drop_generation
        finally:
            shm.unlock()
        if i >= 0:
            return MEMO_HIT, self.decode(kind, data, number), 0, 0
        if claim == FILL_BUSY:
            return MEMO_WAIT, None, 0, 0
        # FILL_PASS: the last computation failed; this one runs unwaited.
        return MEMO_FILL, None, seq, generation

    def memo_store(self, bytes key, uint32_t group, value, ttl, uint64_t seq, uint64_t generation):
        """Store a computed value and end its fill; False if a delete or clear
        came while it was computed (or it does not fit): it is then not stored."""
        cdef SharedStore shm = self.ready()
        cdef uint32_t kind
        cdef bytes data
        cdef double t = ttl_seconds(ttl)
        cdef const unsigned char *k = <const unsigned char *>PyBytes_AS_STRING(key)
        cdef Py_ssize_t kn = PyBytes_GET_SIZE(key)
        cdef uint64_t h = shm.hash(k, kn)
        cdef double now = monotonic()
        cdef int32_t i = -1
        try:
            data = self.encode(value, &kind)
        except BaseException:
            self.memo_release(key, seq)
            raise
        shm.lock()
        try:
            if not shm.fill_still_valid(h, seq, generation):
                shm.hdr.counters.fills_voided += 1
            elif t != 0:
                i = self.find(h, k, kn, group, -1)
                if i >= 0:
                    shm.remove(i)
                if group:
                    self.shrink_group(group)
                i = self.write_entry(h, k, kn, group, kind, data, t, now)
            shm.end_fill(h, seq, i >= 0, now, self.pass_time)
        finally:
            shm.unlock()
        return i >= 0

    def memo_release(self, bytes key, uint64_t seq):
        """End a fill that stores nothing (the function raised): its waiters
        compute for themselves, and so do callers for ``pass_time``."""
        cdef SharedStore shm = self.ready()
        cdef uint64_t h = shm.hash(<const unsigned char *>PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key))
        if seq == 0:
            return
        shm.lock()
        shm.end_fill(h, seq, False, monotonic(), self.pass_time)
        shm.unlock()


# The process's store: prefork.shared's functions are its bound methods.
default = AppStore()
