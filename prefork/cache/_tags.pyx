"""Tags of the response cache's entries (Varnish xkey, CDN surrogate keys):
what a response names in its tag field (``--cache-tag-header``), how an
entry keeps them, and the purge that drops every entry carrying a tag.

The design: the tags are stored with the entry (its bytes hold them after
the etag, each a 2-byte length and the tag) and two bits per tag are set in
the slot's 64-bit ``tag_bloom``; a purge is one pass over the slot table
under the lock, reading an entry's tag list only when its bloom has the
bits of a purged tag. There is no tag -> entries index to keep up on every
store, eviction and expiry (nor to repair after a crash); the price is a
purge in O(slots): 0.5 ms for the 56,000 slots of a full 64 MB cache
(bench/bench_shared.py). With three tags an entry, a bloom lets through
about 1 % of the entries that lack the tag, to be compared exactly.

Invariants: an entry's tag_bloom has every bit of every tag it stores (so
a purge misses none); the store's hash makes the bits, so they agree in
every process of the host.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport int32_t, uint16_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp, memcpy

from prefork.cache._store cimport MARK_FILLING, SLOT_LIVE, SharedStore, Slot

MAX_TAG = 1024          # longer tags are ignored


def split_tags(value):
    """The tags of one field value: separated by commas or whitespace
    (Cloudflare's Cache-Tag uses commas, Varnish xkey and Fastly's
    Surrogate-Key spaces); tags over MAX_TAG bytes are ignored."""
    if isinstance(value, str):
        value = value.encode("latin-1")
    return [tag for tag in bytes(value).replace(b",", b" ").split() if len(tag) <= MAX_TAG]


cdef list tags_in(list headers, str name):
    """The tags a response names in its ``name`` fields, without repeats."""
    cdef list tags = []
    if name is None:
        return tags
    for field, value in headers:
        field = field.decode("latin-1") if type(field) is bytes else field
        if (<str>field).lower() == name:
            for tag in split_tags(value):
                if tag not in tags:
                    tags.append(tag)
    return tags


cdef bytes encode_tags(list tags):
    """Each tag as a 2-byte little-endian length and its bytes."""
    return b"".join([len(tag).to_bytes(2, "little") + tag for tag in tags])


cdef inline uint64_t tag_bits(SharedStore shm, bytes tag) noexcept:
    cdef uint64_t h = shm.hash(<const unsigned char *>PyBytes_AS_STRING(tag), PyBytes_GET_SIZE(tag))
    return (<uint64_t>1 << (h & 63)) | (<uint64_t>1 << ((h >> 6) & 63))


cdef uint64_t bloom_of(SharedStore shm, list tags) except? 0:
    cdef uint64_t bloom = 0
    for tag in tags:
        bloom |= tag_bits(shm, tag)
    return bloom


cdef bint lists_one_of(const unsigned char *stored, Py_ssize_t n, list tags):
    """Does an entry's encoded tag list name one of ``tags``?"""
    cdef Py_ssize_t p = 0
    cdef uint16_t length
    while p + 2 <= n:
        memcpy(&length, stored + p, 2)
        p += 2
        for tag in tags:
            if PyBytes_GET_SIZE(tag) == length and \
                    not memcmp(PyBytes_AS_STRING(tag), stored + p, length):
                return True
        p += length
    return False


cdef int drop_tagged(SharedStore shm, list tags) except -1:
    """Drop every entry tagged with one of ``tags`` (bytes); how many. Fills
    under way store nothing: their responses may carry a purged tag."""
    cdef Py_ssize_t n = len(tags), k, size = 0
    cdef uint64_t *bits = <uint64_t *>malloc((n + 1) * sizeof(uint64_t))
    cdef unsigned char *stored = NULL
    cdef unsigned char *grown
    cdef int32_t i
    cdef int dropped = 0
    cdef Slot *s
    if bits == NULL:
        raise MemoryError()
    for k in range(n):
        bits[k] = tag_bits(shm, tags[k])
    shm.lock()
    try:
        shm.hdr.drop_generation += 1
        for k in range(shm.hdr.nfills):
            if shm.fills[k].state == MARK_FILLING:
                shm.fills[k].voided = 1
        for i in range(shm.hdr.nslots):
            s = &shm.slots[i]
            if s.state != SLOT_LIVE or s.tags_len == 0:
                continue
            for k in range(n):
                if s.tag_bloom & bits[k] == bits[k]:
                    if s.tags_len > size:
                        grown = <unsigned char *>realloc(stored, s.tags_len)
                        if grown == NULL:
                            raise MemoryError()
                        stored, size = grown, s.tags_len
                    shm.read(i, s.key_len + s.vary_len + s.etag_len, stored, s.tags_len)
                    if lists_one_of(stored, s.tags_len, tags):
                        shm.remove(i)
                        dropped += 1
                    break
        shm.hdr.counters.purges += dropped
    finally:
        shm.unlock()
        free(bits)
        free(stored)
    return dropped
