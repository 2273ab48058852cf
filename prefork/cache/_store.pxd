# C interface of the shared-memory entry store (prefork/cache/_store.pyx).
# prefork/cache/_lookup.pyx cimports it; it knows nothing of HTTP beyond the
# metadata fields it keeps beside each entry's bytes.
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t


cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_mutex_t:
        pass


# Slot states. An entry is reachable (bucket chain, LRU list) only while LIVE.
cdef enum:
    SLOT_FREE = 0
    SLOT_WRITING = 1            # allocated, bytes being copied in; not reachable
    SLOT_LIVE = 2


# Counters kept in shared memory, updated under the lock by every process.
cdef struct Counters:
    uint64_t hits               # fresh responses served (including 304s)
    uint64_t stale_hits         # stale responses served (stale-while-revalidate / -if-error)
    uint64_t not_modified       # of the hits, 304s answered from an entry
    uint64_t misses             # lookups that found nothing usable
    uint64_t stores
    uint64_t store_rejects      # entries too large for max_entry_bytes or the whole store
    uint64_t evictions          # entries dropped to make room (LRU)
    uint64_t expirations        # entries dropped because they were past every stale window
    uint64_t invalidations      # entries dropped by invalidate()
    uint64_t purges             # entries dropped by purge()
    uint64_t fill_busy          # begin_fill() answers "someone else is filling"
    uint64_t fills_voided       # fills not stored: their key was invalidated meanwhile
    uint64_t fill_waits         # requests that waited for another's fill of their key
    uint64_t fill_wait_timeouts # of them, given up after the lock timeout (they call the app)
    uint64_t fill_wait_cancels  # of them, whose client left while waiting
    uint64_t refreshes          # background refreshes begun (stale-while-revalidate)
    uint64_t recoveries         # resets after a process died holding the lock
    int64_t bytes_used          # blocks held by entries, times block_size
    int64_t bytes_stored        # entry bytes (key, vary, head, body) in those blocks
    int64_t entries


# What the cache keeps beside an entry's bytes. The bytes are, in order:
# key | vary spec | etag | head | head304 | body (lengths below).
cdef struct Slot:
    uint64_t hash               # of the primary key; bucket = hash & (nbuckets - 1)
    uint64_t checksum           # of all the entry's bytes, set by publish()
    int32_t state
    int32_t bucket_next         # next slot in the bucket chain (or the free list)
    int32_t lru_prev, lru_next  # toward the most / least recently used end
    int32_t first_block
    int32_t nblocks
    uint32_t length             # total bytes
    uint32_t key_len, vary_len, etag_len, head_len, head304_len
    uint32_t status             # HTTP status code of the stored response
    uint32_t flags              # ENTRY_* flags of _lookup.pyx, or the value kind of _appstore.pyx
    uint32_t tags_len           # bytes of the entry's tag list (after its etag)
    uint32_t group              # the Group it counts in (1-based), 0 for none
    uint64_t tag_bloom          # two bits per tag hash: a tag purge reads only the slots it hits
    double stored_at            # monotonic time of the store
    double last_used            # monotonic time of the last LRU move
    double initial_age          # Age the response already had when stored
    double ttl, swr, sie        # freshness lifetime and the two stale windows
    double last_modified        # epoch seconds; -1 when unknown
    double date                 # origin Date, epoch seconds


# FillMarker states.
cdef enum:
    MARK_FILLING = 1            # one process produces the response; misses wait for it
    MARK_PASSING = 2            # the last fill was not stored: misses call the app unwaited


# begin_fill() answers.
cdef enum:
    FILL_WON = 0                # fill it; a marker (its seq) makes the others wait
    FILL_UNMARKED = 1           # fill it without a marker (every marker is taken)
    FILL_BUSY = 2               # a live process is filling it: wait for its response
    FILL_PASS = 3               # its last fill was not stored: call the app, do not wait


cdef struct FillMarker:
    uint64_t hash               # 0: free
    uint64_t seq                # which fill (from StoreHeader.fill_seq, never 0)
    double deadline             # monotonic; FILLING: void after it; PASSING: ends then
    int32_t pid
    int32_t state               # MARK_*
    int32_t voided              # the key was invalidated during the fill: do not store it


# A bounded namespace (one @shared_lru_cache function): its entries are
# counted, so its maxsize holds across every process.
cdef struct Group:
    uint64_t name               # a hash of its name, the same on every host; 0: free
    int64_t entries             # live entries counting in it
    int64_t maxsize             # 0: bounded only by the store


cdef struct StoreHeader:
    uint64_t magic
    pthread_mutex_t mutex       # robust, process-shared
    uint32_t dirty              # a reset is under way: redo it on the next lock
    uint64_t seed               # random, shared: keys hash the same in every process
    uint64_t rng
    int64_t size_bytes, max_entry_bytes
    int32_t block_size, nblocks, nslots, nbuckets, nfills, ngroups
    int32_t free_slot, free_block, nfree_blocks
    int32_t lru_head, lru_tail  # most / least recently used
    double lru_interval         # an entry moves to the LRU head at most once per interval
    # Bumped by every invalidation, purge and reset. A fill without a marker
    # (every marker taken) stores only if it has not moved since the fill began.
    uint64_t drop_generation
    uint64_t fill_seq           # the last FillMarker.seq given out
    Counters counters


cdef class SharedStore:
    cdef StoreHeader *hdr       # start of the mapping
    cdef Py_ssize_t map_size
    cdef Slot *slots
    cdef int32_t *block_next    # chain of each entry's blocks (and the free list)
    cdef int32_t *buckets
    cdef FillMarker *fills
    cdef Group *groups
    cdef unsigned char *blocks

    # Locking. Every method below except lock() expects the lock held.
    cdef int lock(self) except -1
    cdef void unlock(self) noexcept nogil

    cdef uint64_t hash(self, const unsigned char *data, Py_ssize_t n) noexcept nogil
    cdef int32_t first_in_bucket(self, uint64_t h) noexcept nogil
    cdef bint walk(self, int32_t i, uint32_t offset, unsigned char *mem, uint32_t n,
                   int mode) noexcept nogil
    cdef void read(self, int32_t i, uint32_t offset, unsigned char *dest, uint32_t n) noexcept nogil
    cdef bint equals(self, int32_t i, uint32_t offset, const unsigned char *src, uint32_t n) noexcept nogil
    cdef bint verify(self, int32_t i) noexcept nogil

    # Writing: allocate (evicting), write the bytes, fill the Slot fields, publish.
    cdef int32_t allocate(self, uint64_t h, Py_ssize_t length) noexcept nogil
    cdef void write(self, int32_t i, uint32_t offset, const unsigned char *src, uint32_t n) noexcept nogil
    cdef void publish(self, int32_t i, double now) noexcept nogil
    cdef void remove(self, int32_t i) noexcept nogil
    cdef void touch(self, int32_t i, double now) noexcept nogil

    # Stampede control: one filler per key hash, for at most `timeout` seconds;
    # a fill that ends unstored lets misses through unwaited for `pass_time`.
    cdef int begin_fill(self, uint64_t h, double now, double timeout, uint64_t *seq,
                        bint take_over) noexcept nogil
    cdef bint fill_under_way(self, uint64_t h, double now, bint take_over) noexcept nogil
    cdef void end_fill(self, uint64_t h, uint64_t seq, bint stored, double now,
                       double pass_time) noexcept nogil
    cdef void void_fills(self, uint64_t h) noexcept nogil
    cdef bint fill_still_valid(self, uint64_t h, uint64_t seq, uint64_t generation) noexcept nogil

    # --- private ---
    cdef void reset(self) noexcept nogil
    cdef void unlink(self, int32_t i) noexcept nogil
    cdef void free_entry(self, int32_t i) noexcept nogil
    cdef bint evict_one(self) noexcept nogil
    cdef unsigned char *block(self, int32_t b) noexcept nogil
    cdef uint64_t checksum(self, int32_t i) noexcept nogil
    cdef _check(self)
