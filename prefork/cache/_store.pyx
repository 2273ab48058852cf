"""The response cache's entry store: one anonymous shared mapping, created
by the master before it forks, used by every worker.

Layout of the mapping (offsets fixed at creation):
    StoreHeader | FillMarker[nfills] | Group[ngroups] | Slot[nslots] | block_next[nblocks]
    | buckets[nbuckets] | blocks (nblocks x block_size bytes)

An entry is one Slot (its metadata) and a chain of fixed-size blocks (its
bytes), like a file system without fragmentation to manage. Lookup is a hash
table of slot chains; eviction takes the least recently used entry from a
doubly linked list, moving an entry to the front at most once per
`lru_interval` (Varnish's lru_interval) so that hits rarely write.

Invariants:
- every field of the mapping is read or written only under the robust,
  process-shared mutex;
- an entry is reachable (bucket chain, LRU list) only once all its bytes are
  written and its checksum set (state LIVE); a WRITING slot is never read;
- nslots == nblocks, so a free block always has a free slot to go with it;
- bytes_used (blocks held) never exceeds nblocks * block_size, which with the
  tables fits in size_bytes;
- a fill marker is FILLING while one process produces its key's response
  (requests that miss meanwhile wait for it) and PASSING for a while after a
  fill ended unstored; every fill has its own seq, so a filler that outlived
  its marker never ends or voids a newer fill's;
- a Group's entries count the LIVE slots naming it (publish adds, unlink
  takes away), so every way an entry goes (remove, evict, reset) keeps it;
- a process that dies holding the lock leaves the mutex "owner dead": the
  next locker drops every entry (a cache may always forget) and keeps the
  counters, so neither a deadlock nor a torn entry can follow.
"""
import os

from libc.errno cimport EBUSY, EPERM, errno
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy, memset
from posix.mman cimport MAP_ANONYMOUS, MAP_FAILED, MAP_SHARED, PROT_READ, PROT_WRITE, mmap, munmap
from posix.signal cimport kill
from posix.unistd cimport getpid

cdef extern from "<errno.h>":
    enum:
        EOWNERDEAD

cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_mutexattr_t:
        pass
    int pthread_mutexattr_init(pthread_mutexattr_t *attr)
    int pthread_mutexattr_destroy(pthread_mutexattr_t *attr)
    int pthread_mutexattr_setpshared(pthread_mutexattr_t *attr, int pshared)
    int pthread_mutexattr_setrobust(pthread_mutexattr_t *attr, int robust)
    int pthread_mutex_init(pthread_mutex_t *mutex, const pthread_mutexattr_t *attr)
    int pthread_mutex_lock(pthread_mutex_t *mutex)
    int pthread_mutex_trylock(pthread_mutex_t *mutex)
    int pthread_mutex_unlock(pthread_mutex_t *mutex)
    int pthread_mutex_consistent(pthread_mutex_t *mutex)
    enum:
        PTHREAD_PROCESS_SHARED
        PTHREAD_MUTEX_ROBUST

cdef uint64_t MAGIC = 0x70726566636163ULL     # "prefcac"

# What SharedStore.walk() does with an entry's bytes.
cdef enum:
    WALK_READ = 0
    WALK_WRITE = 1
    WALK_COMPARE = 2


cdef inline uint64_t mix64(uint64_t x) noexcept nogil:
    # The 64-bit finalizer of MurmurHash3: every input bit reaches every output bit.
    x ^= x >> 33
    x *= 0xff51afd7ed558ccdULL
    x ^= x >> 33
    x *= 0xc4ceb9fe1a85ec53ULL
    x ^= x >> 33
    return x


cdef uint64_t hash_bytes(const unsigned char *p, Py_ssize_t n, uint64_t seed) noexcept nogil:
    """Seeded 64-bit hash, eight bytes per step (keys and checksums)."""
    cdef uint64_t h = seed ^ (<uint64_t>n * 0x9e3779b97f4a7c15ULL)
    cdef uint64_t w
    while n >= 8:
        memcpy(&w, p, 8)
        h = mix64(h ^ w) * 0x9e3779b97f4a7c15ULL
        p += 8
        n -= 8
    w = 0
    memcpy(&w, p, n)
    return mix64(h ^ w ^ (<uint64_t>n << 56))


cdef inline Py_ssize_t align(Py_ssize_t n, Py_ssize_t to) noexcept nogil:
    return (n + to - 1) // to * to


cdef bint process_alive(int32_t pid) noexcept nogil:
    return kill(pid, 0) == 0 or errno == EPERM


cdef class SharedStore:
    """The shared mapping and the operations on it (cdef API only; see the
    module docstring). ``SharedCache`` in prefork/cache/_lookup.pyx owns one."""

    def __cinit__(self, Py_ssize_t size_bytes, Py_ssize_t max_entry_bytes,
                  int block_size=1024, int fill_slots=64, double lru_interval=1.0,
                  int group_slots=0):
        cdef Py_ssize_t head, per_block, nblocks, nbuckets, off_slots, off_next, off_buckets, off_blocks
        cdef pthread_mutexattr_t attr
        cdef void *mem
        if block_size < 64 or block_size & 7:
            raise ValueError(f"block_size must be a multiple of 8 >= 64, got {block_size}")
        if max_entry_bytes < 1:
            raise ValueError(f"max_entry_bytes must be >= 1, got {max_entry_bytes}")
        if fill_slots < 1:
            raise ValueError(f"fill_slots must be >= 1, got {fill_slots}")
        if group_slots < 0:
            raise ValueError(f"group_slots must be >= 0, got {group_slots}")
        head = align(sizeof(StoreHeader) + fill_slots * sizeof(FillMarker)
                     + group_slots * sizeof(Group), 64)
        # Each block costs its bytes, a slot, its chain link and at most two buckets.
        per_block = block_size + sizeof(Slot) + sizeof(int32_t) * 3
        nblocks = (size_bytes - head - 128) // per_block
        if nblocks < 1:
            raise ValueError(f"size_bytes {size_bytes} is too small: at least {head + 128 + per_block} "
                             f"is needed for one {block_size}-byte block")
        if nblocks > 0x3fffffff:
            raise ValueError(f"size_bytes {size_bytes} is too large for block_size {block_size}")
        nbuckets = 1
        while nbuckets < nblocks:
            nbuckets <<= 1
        off_slots = head
        off_next = align(off_slots + nblocks * sizeof(Slot), 8)
        off_buckets = off_next + nblocks * sizeof(int32_t)
        off_blocks = align(off_buckets + nbuckets * sizeof(int32_t), 64)
        self.map_size = off_blocks + nblocks * block_size
        mem = mmap(NULL, self.map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        if mem == MAP_FAILED:
            self.hdr = NULL
            raise OSError(errno, f"mmap of {self.map_size} bytes failed: {os.strerror(errno)}")
        self.hdr = <StoreHeader *>mem
        self.fills = <FillMarker *>(<unsigned char *>mem + sizeof(StoreHeader))
        self.groups = <Group *>(<unsigned char *>self.fills + fill_slots * sizeof(FillMarker))
        self.slots = <Slot *>(<unsigned char *>mem + off_slots)
        self.block_next = <int32_t *>(<unsigned char *>mem + off_next)
        self.buckets = <int32_t *>(<unsigned char *>mem + off_buckets)
        self.blocks = <unsigned char *>mem + off_blocks

        self.hdr.magic = MAGIC
        self.hdr.seed = int.from_bytes(os.urandom(8), "little")
        self.hdr.rng = self.hdr.seed | 1
        self.hdr.size_bytes = size_bytes
        self.hdr.max_entry_bytes = max_entry_bytes
        self.hdr.block_size = block_size
        self.hdr.nblocks = <int32_t>nblocks
        self.hdr.nslots = <int32_t>nblocks
        self.hdr.nbuckets = <int32_t>nbuckets
        self.hdr.nfills = fill_slots
        self.hdr.ngroups = group_slots
        memset(self.groups, 0, group_slots * sizeof(Group))
        self.hdr.lru_interval = lru_interval
        pthread_mutexattr_init(&attr)
        pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED)
        pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST)
        rc = pthread_mutex_init(&self.hdr.mutex, &attr)
        pthread_mutexattr_destroy(&attr)
        if rc:
            raise OSError(rc, f"pthread_mutex_init: {os.strerror(rc)}")
        self.reset()

    def __dealloc__(self):
        # Each process unmaps its own view; the memory goes when the last one does.
        if self.hdr != NULL:
            munmap(self.hdr, self.map_size)
            self.hdr = NULL

    # -- locking -----------------------------------------------------------

    cdef int lock(self) except -1:
        cdef int rc = pthread_mutex_trylock(&self.hdr.mutex)
        if rc == EBUSY:
            # Wait without the GIL: the holder may be a thread of this
            # process that needs it to finish (an allocation that runs the
            # collector, whose finalizers may switch threads).
            with nogil:
                rc = pthread_mutex_lock(&self.hdr.mutex)
        if rc == EOWNERDEAD:
            # The owner died inside a critical section, so any structure may
            # be half updated: drop every entry rather than trust one.
            self.hdr.dirty = 1
            pthread_mutex_consistent(&self.hdr.mutex)
            self.hdr.counters.recoveries += 1
        elif rc:
            raise OSError(rc, f"cache lock: {os.strerror(rc)}")
        if self.hdr.dirty:
            self.reset()
        return 0

    cdef void unlock(self) noexcept nogil:
        pthread_mutex_unlock(&self.hdr.mutex)

    cdef void reset(self) noexcept nogil:
        """Forget every entry and fill marker; keep the counters."""
        cdef StoreHeader *hdr = self.hdr
        cdef int32_t k
        hdr.dirty = 1
        hdr.drop_generation += 1    # fills under way store nothing
        memset(self.slots, 0, hdr.nslots * sizeof(Slot))
        memset(self.fills, 0, hdr.nfills * sizeof(FillMarker))
        for k in range(hdr.nslots):
            self.slots[k].bucket_next = k + 1
            self.block_next[k] = k + 1
        self.slots[hdr.nslots - 1].bucket_next = -1
        self.block_next[hdr.nblocks - 1] = -1
        for k in range(hdr.nbuckets):
            self.buckets[k] = -1
        for k in range(hdr.ngroups):
            self.groups[k].entries = 0
        hdr.free_slot = 0
        hdr.free_block = 0
        hdr.nfree_blocks = hdr.nblocks
        hdr.lru_head = -1
        hdr.lru_tail = -1
        hdr.counters.bytes_used = 0
        hdr.counters.bytes_stored = 0
        hdr.counters.entries = 0
        hdr.dirty = 0

    # -- reading -----------------------------------------------------------

    cdef uint64_t hash(self, const unsigned char *data, Py_ssize_t n) noexcept nogil:
        cdef uint64_t h = hash_bytes(data, n, self.hdr.seed)
        return h if h else 1        # 0 marks a free fill marker

    cdef int32_t first_in_bucket(self, uint64_t h) noexcept nogil:
        return self.buckets[h & <uint64_t>(self.hdr.nbuckets - 1)]

    cdef inline unsigned char *block(self, int32_t b) noexcept nogil:
        return self.blocks + <Py_ssize_t>b * self.hdr.block_size

    cdef bint walk(self, int32_t i, uint32_t offset, unsigned char *mem, uint32_t n,
                   int mode) noexcept nogil:
        """Visit bytes [offset, offset + n) of entry i across its block chain:
        copy them out to mem, copy mem in, or compare them with mem (False
        on the first difference)."""
        cdef uint32_t bs = self.hdr.block_size
        cdef int32_t b = self.slots[i].first_block
        cdef uint32_t skip = offset // bs, at = offset % bs, take
        while skip:
            b = self.block_next[b]
            skip -= 1
        while n:
            take = bs - at if bs - at < n else n
            if mode == WALK_READ:
                memcpy(mem, self.block(b) + at, take)
            elif mode == WALK_WRITE:
                memcpy(self.block(b) + at, mem, take)
            elif memcmp(mem, self.block(b) + at, take):
                return False
            mem += take
            n -= take
            at = 0
            b = self.block_next[b]
        return True

    cdef void read(self, int32_t i, uint32_t offset, unsigned char *dest, uint32_t n) noexcept nogil:
        self.walk(i, offset, dest, n, WALK_READ)

    cdef bint equals(self, int32_t i, uint32_t offset, const unsigned char *src, uint32_t n) noexcept nogil:
        return self.walk(i, offset, <unsigned char *>src, n, WALK_COMPARE)

    cdef uint64_t checksum(self, int32_t i) noexcept nogil:
        cdef uint32_t bs = self.hdr.block_size
        cdef uint32_t left = self.slots[i].length, take
        cdef int32_t b = self.slots[i].first_block
        cdef uint64_t h = self.hdr.seed ^ self.slots[i].hash
        while left:
            take = bs if bs < left else left
            h = hash_bytes(self.block(b), take, h)
            left -= take
            b = self.block_next[b]
        return h

    cdef bint verify(self, int32_t i) noexcept nogil:
        return self.checksum(i) == self.slots[i].checksum

    # -- writing -----------------------------------------------------------

    cdef int32_t allocate(self, uint64_t h, Py_ssize_t length) noexcept nogil:
        """A WRITING slot with blocks for `length` bytes, evicting least
        recently used entries as needed; -1 if it can never fit."""
        cdef StoreHeader *hdr = self.hdr
        cdef Py_ssize_t nb = (length + hdr.block_size - 1) // hdr.block_size
        cdef int32_t i, b, k
        cdef Slot *s
        if nb == 0:
            nb = 1
        if length > hdr.max_entry_bytes or length > <Py_ssize_t>0xffffffffLL or nb > hdr.nblocks:
            hdr.counters.store_rejects += 1
            return -1
        while hdr.nfree_blocks < nb or hdr.free_slot < 0:
            if not self.evict_one():
                return -1
        i = hdr.free_slot
        s = &self.slots[i]
        hdr.free_slot = s.bucket_next
        memset(s, 0, sizeof(Slot))
        s.hash = h
        s.state = SLOT_WRITING
        s.length = <uint32_t>length
        s.nblocks = <int32_t>nb
        s.bucket_next = -1
        s.lru_prev = s.lru_next = -1
        s.first_block = b = hdr.free_block
        for k in range(nb - 1):
            b = self.block_next[b]
        hdr.free_block = self.block_next[b]
        self.block_next[b] = -1
        hdr.nfree_blocks -= <int32_t>nb
        return i

    cdef void write(self, int32_t i, uint32_t offset, const unsigned char *src, uint32_t n) noexcept nogil:
        self.walk(i, offset, <unsigned char *>src, n, WALK_WRITE)

    cdef void publish(self, int32_t i, double now) noexcept nogil:
        """Make a fully written slot reachable."""
        cdef StoreHeader *hdr = self.hdr
        cdef Slot *s = &self.slots[i]
        cdef int32_t *bucket = &self.buckets[s.hash & <uint64_t>(hdr.nbuckets - 1)]
        s.checksum = self.checksum(i)
        s.bucket_next = bucket[0]
        bucket[0] = i
        s.lru_prev = -1
        s.lru_next = hdr.lru_head
        if hdr.lru_head >= 0:
            self.slots[hdr.lru_head].lru_prev = i
        hdr.lru_head = i
        if hdr.lru_tail < 0:
            hdr.lru_tail = i
        s.last_used = now
        s.state = SLOT_LIVE
        if s.group:
            self.groups[s.group - 1].entries += 1
        hdr.counters.stores += 1
        hdr.counters.entries += 1
        hdr.counters.bytes_used += <int64_t>s.nblocks * hdr.block_size
        hdr.counters.bytes_stored += s.length

    cdef void unlink(self, int32_t i) noexcept nogil:
        """Take a LIVE slot off its bucket chain and the LRU list."""
        cdef StoreHeader *hdr = self.hdr
        cdef Slot *s = &self.slots[i]
        cdef int32_t *link = &self.buckets[s.hash & <uint64_t>(hdr.nbuckets - 1)]
        while link[0] != i:
            link = &self.slots[link[0]].bucket_next
        link[0] = s.bucket_next
        if s.lru_prev >= 0:
            self.slots[s.lru_prev].lru_next = s.lru_next
        else:
            hdr.lru_head = s.lru_next
        if s.lru_next >= 0:
            self.slots[s.lru_next].lru_prev = s.lru_prev
        else:
            hdr.lru_tail = s.lru_prev
        if s.group:
            self.groups[s.group - 1].entries -= 1
        hdr.counters.entries -= 1
        hdr.counters.bytes_used -= <int64_t>s.nblocks * hdr.block_size
        hdr.counters.bytes_stored -= s.length

    cdef void free_entry(self, int32_t i) noexcept nogil:
        cdef StoreHeader *hdr = self.hdr
        cdef Slot *s = &self.slots[i]
        cdef int32_t b = s.first_block
        while self.block_next[b] >= 0:
            b = self.block_next[b]
        self.block_next[b] = hdr.free_block
        hdr.free_block = s.first_block
        hdr.nfree_blocks += s.nblocks
        s.state = SLOT_FREE
        s.bucket_next = hdr.free_slot
        hdr.free_slot = i

    cdef void remove(self, int32_t i) noexcept nogil:
        """Drop an entry, LIVE or still WRITING (an abandoned store)."""
        if self.slots[i].state == SLOT_LIVE:
            self.unlink(i)
        if self.slots[i].state != SLOT_FREE:
            self.free_entry(i)

    cdef bint evict_one(self) noexcept nogil:
        cdef int32_t victim = self.hdr.lru_tail
        if victim < 0:
            return False
        self.remove(victim)
        self.hdr.counters.evictions += 1
        return True

    cdef void touch(self, int32_t i, double now) noexcept nogil:
        """Record a use: move to the LRU head unless moved within lru_interval."""
        cdef StoreHeader *hdr = self.hdr
        cdef Slot *s = &self.slots[i]
        if now - s.last_used < hdr.lru_interval or hdr.lru_head == i:
            return
        s.last_used = now
        self.slots[s.lru_prev].lru_next = s.lru_next     # not the head: lru_prev >= 0
        if s.lru_next >= 0:
            self.slots[s.lru_next].lru_prev = s.lru_prev
        else:
            hdr.lru_tail = s.lru_prev
        s.lru_prev = -1
        s.lru_next = hdr.lru_head
        self.slots[hdr.lru_head].lru_prev = i
        hdr.lru_head = i

    # -- stampede control --------------------------------------------------

    cdef int begin_fill(self, uint64_t h, double now, double timeout, uint64_t *seq,
                        bint take_over) noexcept nogil:
        """Claim the fill of key hash h (a FILL_* answer). FILL_WON sets *seq,
        to hand to end_fill() once the response is stored or refused; any
        other answer sets it to 0. A marker of a dead process is void, and
        with `take_over` one older than `timeout` (the lock timeout) too: its
        filler is too slow to wait for, so one more request may fill (nginx's
        proxy_cache_lock_age). A request already waiting does not take over:
        it waits for that fill until its own lock timeout."""
        cdef FillMarker *f
        cdef int32_t k, take = -1
        cdef int32_t me = getpid()
        seq[0] = 0
        for k in range(self.hdr.nfills):
            f = &self.fills[k]
            if f.hash == h:
                if f.deadline > now and f.state == MARK_PASSING:
                    return FILL_PASS
                if (f.deadline > now or (not take_over and f.state == MARK_FILLING)) \
                        and (f.pid == me or process_alive(f.pid)):
                    return FILL_BUSY
            if take < 0 and (f.hash == 0 or f.hash == h or f.deadline <= now):
                take = k
        if take < 0:
            return FILL_UNMARKED
        f = &self.fills[take]
        self.hdr.fill_seq += 1
        f.hash = h
        f.seq = self.hdr.fill_seq
        f.deadline = now + timeout
        f.pid = me
        f.state = MARK_FILLING
        f.voided = 0
        seq[0] = f.seq
        return FILL_WON

    cdef bint fill_under_way(self, uint64_t h, double now, bint take_over) noexcept nogil:
        """Would begin_fill() answer FILL_BUSY? (It claims nothing: for HEAD,
        which waits for a GET's fill but never fills.)"""
        cdef FillMarker *f
        cdef int32_t k
        for k in range(self.hdr.nfills):
            f = &self.fills[k]
            if f.hash == h and f.state == MARK_FILLING \
                    and (f.deadline > now or not take_over) \
                    and (f.pid == getpid() or process_alive(f.pid)):
                return True
        return False

    cdef void end_fill(self, uint64_t h, uint64_t seq, bint stored, double now,
                       double pass_time) noexcept nogil:
        """End fill `seq` of h. Stored, or voided (the next fill brings the
        changed resource): free the marker, so waiters find the entry or
        fill again. Not stored (the policy refused it, it failed, it grew
        too large): the marker turns PASSING for `pass_time`, so waiters
        and misses meanwhile call the app at once rather than queue behind
        fills that would not be stored either (Varnish's hit-for-miss)."""
        cdef FillMarker *f
        cdef int32_t k
        if seq == 0:
            return      # an unmarked fill
        for k in range(self.hdr.nfills):
            f = &self.fills[k]
            if f.seq == seq and f.hash == h:
                if stored or f.voided or pass_time <= 0:
                    f.hash = 0
                else:
                    f.state = MARK_PASSING
                    f.deadline = now + pass_time
                return

    cdef void void_fills(self, uint64_t h) noexcept nogil:
        """The key is being invalidated: a fill under way for it read the
        app before the change, so what it brings must not be stored."""
        cdef int32_t k
        self.hdr.drop_generation += 1
        for k in range(self.hdr.nfills):
            if self.fills[k].hash == h:
                self.fills[k].voided = 1

    cdef bint fill_still_valid(self, uint64_t h, uint64_t seq, uint64_t generation) noexcept nogil:
        """May fill `seq` of ``h`` be stored? ``generation``: the
        drop_generation read when the fill began, for a fill without a
        marker (none free, or taken over after the lock timeout): then any
        invalidation since voids it."""
        cdef int32_t k
        if seq:
            for k in range(self.hdr.nfills):
                if self.fills[k].seq == seq and self.fills[k].hash == h:
                    return not self.fills[k].voided
        return self.hdr.drop_generation == generation

    # -- Python-level views (tests, stats) ---------------------------------

    def counters(self):
        """The shared counters as a dict (a consistent snapshot)."""
        self.lock()
        try:
            c = dict(self.hdr.counters)
        finally:
            self.unlock()
        return c

    @property
    def capacity(self):
        """Bytes the entries may occupy: nblocks * block_size."""
        return <Py_ssize_t>self.hdr.nblocks * self.hdr.block_size

    @property
    def block_size(self):
        return self.hdr.block_size

    @property
    def map_size(self):
        return self.map_size

    def _lock_for_test(self):
        """Take the lock and keep it (tests kill the process holding it)."""
        self.lock()

    def check(self):
        """Walk every structure and raise AssertionError on an inconsistency
        (tests only: it is O(size))."""
        self.lock()
        try:
            self._check()
        finally:
            self.unlock()

    cdef _check(self):
        cdef StoreHeader *hdr = self.hdr
        cdef int32_t i, b, n, live = 0, blocks = 0
        i = hdr.lru_head
        while i >= 0:
            assert self.slots[i].state == SLOT_LIVE, f"slot {i} on the LRU list is not live"
            assert self.verify(i), f"slot {i} fails its checksum"
            n = 0
            b = self.slots[i].first_block
            while b >= 0:
                n += 1
                b = self.block_next[b]
            assert n == self.slots[i].nblocks, f"slot {i} has {n} blocks, says {self.slots[i].nblocks}"
            live += 1
            blocks += n
            i = self.slots[i].lru_next
        assert live == hdr.counters.entries, f"{live} live entries, counter says {hdr.counters.entries}"
        for b in range(hdr.ngroups):
            n = 0
            i = hdr.lru_head
            while i >= 0:
                if self.slots[i].group == <uint32_t>(b + 1):
                    n += 1
                i = self.slots[i].lru_next
            assert n == self.groups[b].entries, \
                f"group {b + 1} has {n} entries, its counter says {self.groups[b].entries}"
        assert blocks + hdr.nfree_blocks == hdr.nblocks, "blocks leaked"
        assert hdr.counters.bytes_used == <int64_t>blocks * hdr.block_size
