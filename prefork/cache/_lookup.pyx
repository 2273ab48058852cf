"""The response cache's hot path: keys, Vary, freshness, conditional
requests and the bytes of a hit, over the shared store of _store.

A hit runs no Python-level code: the key is built and hashed in C, the
request's headers are read from the parser's list through the C API, and the
entry is copied straight into the result bytes under the store's lock.
What may be stored, and for how long, is decided in prefork/cache/policy.py.

Invariants:
- the primary key is "host\\ntarget" (RFC 9111 §4): the host lowercased
  (RFC 3986 §6.2.2.1), an absolute-form target reduced to its path and query
  so both forms share an entry; HEAD is looked up as GET (RFC 9110 §9.3.2);
- an entry answers a request only if, for every header name its response
  varied on, the request's normalized value equals the stored one
  (RFC 9111 §4.1); an absent header matches only an absent header;
- a stored head never carries Date, Age, Connection or framing other than
  its Content-Length: those are made fresh for every hit, nor the tag field
  (``--cache-tag-header``) unless ``--cache-tag-keep``;
- an entry's bytes are key | vary spec | etag | tags | head | head304 |
  body; its tags and their bloom are prefork/cache/_tags.pyx's.
"""
import time

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport int32_t, uint32_t, uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcmp, memcpy
from libc.time cimport gmtime, strftime, time as c_time, time_t, tm
from posix.unistd cimport getpid

from prefork.cache._store cimport (FILL_BUSY, FILL_UNMARKED, FILL_WON, MARK_FILLING, SLOT_LIVE,
                                   SharedStore, Slot)
from prefork.cache._tags cimport bloom_of, drop_tagged, encode_tags, tags_in
from prefork.http._fields cimport is_ows, lc, lower_is, next_element, parse_http_date, q_is_zero
from prefork._speedups cimport Request

from prefork.cache._store import SharedStore as _SharedStore
from prefork.cache._tags import split_tags


# Re-exported for Python callers (the cdef enum is the C-level name).
BYPASS, MISS, BUSY, HIT, STALE = CACHE_BYPASS, CACHE_MISS, CACHE_BUSY, CACHE_HIT, CACHE_STALE

cdef enum:
    ABSENT = 0xffff         # vary spec: the request did not send the header
    MAX_VALUE = 0xfffe

# Stored heads drop these (lowercase): hop-by-hop fields (RFC 9110 §7.6.1)
# and the fields every hit makes fresh.
cdef frozenset UNSTORED = frozenset([
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
    "upgrade", "date", "age", "content-length", "x-cache",
])
# A 304 carries these of the stored fields (RFC 9110 §15.4.5), plus Date.
cdef frozenset KEPT_BY_304 = frozenset([
    "cache-control", "content-location", "etag", "expires", "vary", "last-modified",
])
# -- small C helpers ----------------------------------------------------------

cdef int reserve(Scratch *s, Py_ssize_t n) except -1:
    cdef unsigned char *grown
    if n <= s.size:
        return 0
    grown = <unsigned char *>realloc(s.data, n + 256)
    if grown == NULL:
        raise MemoryError()
    s.data = grown
    s.size = n + 256
    return 0


cdef inline bint name_is(object name, const char *lower, Py_ssize_t m):
    return lower_is(<const unsigned char *>PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name), lower, m)


cdef bint has_header(list headers, const char *lower, Py_ssize_t m):
    for item in headers:
        if name_is((<tuple>item)[0], lower, m):
            return True
    return False


cdef inline void opaque_tag(const unsigned char *s, Py_ssize_t n, Py_ssize_t *start, Py_ssize_t *end) noexcept nogil:
    # The weak comparison (RFC 9110 §8.8.3.2) ignores the W/ prefix.
    start[0] = 2 if n >= 2 and s[0] == 87 and s[1] == 47 else 0
    end[0] = n


cdef Py_ssize_t write_age(unsigned char *p, double age) noexcept nogil:
    """b"Age: N\\r\\n" at p; returns its length. RFC 9111 §5.1: whole seconds."""
    cdef unsigned long long v = <unsigned long long>age if age > 0 else 0
    cdef unsigned char digits[24]
    cdef int k = 0, j
    memcpy(p, b"Age: ", 5)
    while True:
        digits[k] = 48 + v % 10
        k += 1
        v //= 10
        if v == 0:
            break
    for j in range(k):
        p[5 + j] = digits[k - 1 - j]
    p[5 + k] = 13
    p[6 + k] = 10
    return 7 + k



cdef tuple serialize_heads(bytes status, int code, list headers, Py_ssize_t body_length,
                           str unstored_tag):
    """(head, head304) as stored: b"200 OK\\r\\n" and the kept field lines;
    None if a field cannot be sent as is. ``unstored_tag``: the lowercase
    tag field name when clients must not see it, else None."""
    cdef list lines = [status, b"\r\n"]
    cdef list kept = [b"304 Not Modified\r\n"]
    for name, value in headers:
        name = name.encode("latin-1") if isinstance(name, str) else bytes(name)
        value = value.encode("latin-1") if isinstance(value, str) else bytes(value)
        if not name or any(c in name + value for c in b"\r\n\0"):
            return None
        lower = name.lower().decode("latin-1")
        if lower in UNSTORED or lower == unstored_tag:
            continue
        line = name + b": " + value + b"\r\n"
        lines.append(line)
        if lower in KEPT_BY_304:
            kept.append(line)
    if code >= 200 and code != 204 and code != 304:
        lines.append(b"Content-Length: %d\r\n" % body_length)
    return b"".join(lines), b"".join(kept)


cdef bytes as_bytes(object value):
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("latin-1")
    return bytes(value)


cdef list field_list(object headers):
    """The parser's form, [(bytes, bytes)], which the C code reads unchecked."""
    if type(headers) is list:
        for item in <list>headers:
            if not (type(item) is tuple and len(<tuple>item) == 2 and type((<tuple>item)[0]) is bytes
                    and type((<tuple>item)[1]) is bytes):
                break
        else:
            return <list>headers
    return [(as_bytes(name), as_bytes(value)) for name, value in headers]


cdef class SharedCache:
    """A response cache shared by the processes forked after its creation.
    See prefork/cache/_lookup.pyi for the Python API and _cache.pxd for the C one.
    One object serves one thread (the worker's loop): its scratch buffers
    and result fields are per object; the shared state is under the lock."""

    def __init__(self, Py_ssize_t size_bytes, Py_ssize_t max_entry_bytes, *, int block_size=1024,
                 int fill_slots=64, double fill_timeout=5.0, double pass_time=10.0,
                 double lru_interval=1.0, bint x_cache=False, bint verify_reads=False,
                 encodings=("br", "deflate", "gzip", "zstd"), server_name=None,
                 tag_header="Cache-Tag", bint keep_tags=False):
        self.shm = _SharedStore(size_bytes, max_entry_bytes, block_size, fill_slots, lru_interval)
        self.fill_timeout = fill_timeout
        self.pass_time = pass_time
        self.x_cache = x_cache
        self.verify_reads = verify_reads
        self.codings = sorted({as_bytes(e).lower() for e in encodings})
        if len(self.codings) > 16:
            raise ValueError(f"at most 16 encodings, got {len(self.codings)}: {encodings!r}")
        self.server_line = b"Server: " + as_bytes(server_name) + b"\r\n" if server_name else b""
        self.date_second = -1
        self.date_line = b""
        self.tag_name = tag_header.lower() if tag_header else None
        self.keep_tags = keep_tags

    def __dealloc__(self):
        free(self.key_buf.data)
        free(self.value_buf.data)
        free(self.meta_buf.data)

    # -- keys and Vary -------------------------------------------------------

    cdef Py_ssize_t make_key(self, bytes host, bytes target) except -2:
        """Build "host\\npath?query" in self.key; -1 for a target that names
        no resource (asterisk-form, authority-form)."""
        cdef const unsigned char *t = <const unsigned char *>PyBytes_AS_STRING(target)
        cdef Py_ssize_t tn = PyBytes_GET_SIZE(target), p = 0, k, hn = 0
        cdef bint slash
        if tn == 0:
            return -1
        if t[0] != 47:
            # absolute-form (RFC 9112 §3.2.2): scheme "://" authority, then path
            while p + 2 < tn and not (t[p] == 58 and t[p + 1] == 47 and t[p + 2] == 47):
                p += 1
            if p + 2 >= tn:
                return -1
            p += 3
            while p < tn and t[p] != 47 and t[p] != 63:
                p += 1
        slash = p == tn or t[p] != 47
        if host is not None:
            hn = PyBytes_GET_SIZE(host)
        reserve(&self.key_buf, hn + 2 + tn - p)
        for k in range(hn):
            self.key_buf.data[k] = lc(<unsigned char>PyBytes_AS_STRING(host)[k])
        self.key_buf.data[hn] = 10
        hn += 1
        if slash:
            self.key_buf.data[hn] = 47
            hn += 1
        memcpy(self.key_buf.data + hn, t + p, tn - p)
        return hn + tn - p

    cdef Py_ssize_t request_value(self, list headers, const unsigned char *name,
                                  Py_ssize_t nlen) except -2:
        """The request's value of a field into self.value, normalized: every
        line's list elements with OWS trimmed, joined by ","; -1 if absent
        (RFC 9111 §4.1)."""
        cdef Py_ssize_t out = -1, vn, p, a, b
        cdef const unsigned char *v
        if lower_is(name, nlen, b"accept-encoding", 15):
            return self.accept_encoding(headers)
        for item in headers:
            hname = (<tuple>item)[0]
            if not lower_is(<const unsigned char *>PyBytes_AS_STRING(hname), PyBytes_GET_SIZE(hname),
                            <const char *>name, nlen):
                continue
            value = (<tuple>item)[1]
            v = <const unsigned char *>PyBytes_AS_STRING(value)
            vn = PyBytes_GET_SIZE(value)
            if out < 0:
                out = 0
            reserve(&self.value_buf, out + vn + 1)
            p = 0
            while p < vn:
                p = next_element(v, vn, p, &a, &b)
                if a == b:
                    continue
                if out > 0:
                    self.value_buf.data[out] = 44
                    out += 1
                memcpy(self.value_buf.data + out, v + a, b - a)
                out += b - a
        return out

    cdef Py_ssize_t accept_encoding(self, list headers) except -2:
        """Accept-Encoding reduced to the configured codings the client
        accepts (q > 0, "*" standing for all not refused), sorted and joined
        by ","; "identity" when none (RFC 9110 §12.5.3). The app only ever
        produces these codings, so requests with the same reduction may
        share a variant."""
        cdef unsigned int accepted = 0, refused = 0, mask, bit
        cdef bint star = False
        cdef Py_ssize_t vn, p, a, b, c, k, out = 0, ncod = len(self.codings)
        cdef const unsigned char *v
        for item in headers:
            if not name_is((<tuple>item)[0], b"accept-encoding", 15):
                continue
            value = (<tuple>item)[1]
            v = <const unsigned char *>PyBytes_AS_STRING(value)
            vn = PyBytes_GET_SIZE(value)
            p = 0
            while p < vn:
                p = next_element(v, vn, p, &a, &b)
                c = a
                while c < b and v[c] != 59 and not is_ows(v[c]):
                    c += 1
                if c == a:
                    continue
                if c - a == 1 and v[a] == 42:
                    star = not q_is_zero(v + c, b - c)
                    continue
                if c - a > 2 and lc(v[a]) == 120 and v[a + 1] == 45:
                    a += 2                      # x-gzip is gzip (RFC 9110 §8.4.1.3)
                for k in range(ncod):
                    coding = self.codings[k]
                    if lower_is(v + a, c - a, PyBytes_AS_STRING(coding), PyBytes_GET_SIZE(coding)):
                        bit = 1u << k
                        if q_is_zero(v + c, b - c):
                            refused |= bit
                        else:
                            accepted |= bit
                        break
        mask = (accepted | (((1u << ncod) - 1) if star else 0)) & ~refused
        if mask == 0:
            reserve(&self.value_buf, 8)
            memcpy(self.value_buf.data, b"identity", 8)
            return 8
        reserve(&self.value_buf, 16 * 17)
        for k in range(ncod):
            if mask & (1u << k):
                coding = self.codings[k]
                if out:
                    self.value_buf.data[out] = 44
                    out += 1
                memcpy(self.value_buf.data + out, PyBytes_AS_STRING(coding), PyBytes_GET_SIZE(coding))
                out += PyBytes_GET_SIZE(coding)
        return out

    cdef bint vary_matches(self, int32_t i, list headers) except -1:
        """Each record of the entry's vary spec, [u8 name length][name]
        [u16 value length, 0xffff: absent][value], equals the request's."""
        cdef Slot *s = &self.shm.slots[i]
        cdef Py_ssize_t p = 0, n = s.vary_len, got
        cdef unsigned int nl, vl
        cdef unsigned char *m
        reserve(&self.meta_buf, n)
        self.shm.read(i, s.key_len, self.meta_buf.data, <uint32_t>n)
        m = self.meta_buf.data
        while p < n:
            nl = m[p]
            got = self.request_value(headers, m + p + 1, nl)
            p += 1 + nl
            vl = m[p] | (m[p + 1] << 8)
            p += 2
            if vl == ABSENT:
                if got >= 0:
                    return False
                continue
            if got != vl or memcmp(self.value_buf.data, m + p, vl):
                return False
            p += vl
        return True

    cdef bytes vary_spec(self, object names, list request_headers):
        """The vary spec an entry stored for this request keeps; None when a
        name or value is too long to record."""
        cdef Py_ssize_t n
        cdef list parts = []
        seen = set()
        for name in names:
            name = as_bytes(name).lower()
            if name in seen:
                continue
            seen.add(name)
            if not 0 < len(name) <= 255:
                return None
            n = self.request_value(request_headers, name, len(name))
            if n > MAX_VALUE:
                return None
            parts.append(bytes([len(name)]) + name)
            if n < 0:
                parts.append(b"\xff\xff")
            else:
                parts.append(n.to_bytes(2, "little") + PyBytes_FromStringAndSize(<char *>self.value_buf.data, n))
        return b"".join(parts)

    cdef int32_t find(self, uint64_t h, Py_ssize_t klen, list headers) except -2:
        """The live entry for self.key that this request's headers select; -1."""
        cdef int32_t i = self.shm.first_in_bucket(h)
        cdef Slot *s
        while i >= 0:
            s = &self.shm.slots[i]
            if s.hash == h and s.key_len == klen and self.shm.equals(i, 0, self.key_buf.data, <uint32_t>klen) \
                    and (s.vary_len == 0 or self.vary_matches(i, headers)):
                return i
            i = s.bucket_next
        return -1

    # -- conditional requests -------------------------------------------------

    cdef bint etag_listed(self, int32_t i, bytes value) except -1:
        """If-None-Match `value` lists the entry's entity-tag under the weak
        comparison, or is "*" (RFC 9110 §13.1.2)."""
        cdef Slot *s = &self.shm.slots[i]
        cdef const unsigned char *v = <const unsigned char *>PyBytes_AS_STRING(value)
        cdef Py_ssize_t vn = PyBytes_GET_SIZE(value), p = 0, a, b, es, ee, ts, te
        reserve(&self.meta_buf, s.etag_len)
        self.shm.read(i, s.key_len + s.vary_len, self.meta_buf.data, s.etag_len)
        opaque_tag(self.meta_buf.data, s.etag_len, &es, &ee)
        while p < vn:
            p = next_element(v, vn, p, &a, &b)
            if a == b:
                continue
            if b - a == 1 and v[a] == 42:
                return True
            opaque_tag(v + a, b - a, &ts, &te)
            if s.etag_len and te - ts == ee - es and not memcmp(v + a + ts, self.meta_buf.data + es, ee - es):
                return True
        return False

    cdef bint not_modified(self, int32_t i, list headers) except -1:
        """The request's preconditions fail as RFC 9110 §13.2.2 evaluates
        them for GET/HEAD: answer 304 instead of the entry."""
        cdef Slot *s = &self.shm.slots[i]
        cdef bint inm = False
        cdef double modified, since
        if not (s.flags & ENTRY_VALIDATORS):
            return False
        for item in headers:
            if name_is((<tuple>item)[0], b"if-none-match", 13):
                inm = True
                if self.etag_listed(i, (<tuple>item)[1]):
                    return True
        if inm:
            return False        # §13.1.3: If-Modified-Since is ignored beside If-None-Match
        # RFC 9111 §4.3.2: without Last-Modified, the stored Date stands in.
        modified = s.last_modified if s.last_modified >= 0 else s.date
        for item in headers:
            if name_is((<tuple>item)[0], b"if-modified-since", 17):
                value = (<tuple>item)[1]
                since = parse_http_date(<const unsigned char *>PyBytes_AS_STRING(value),
                                        PyBytes_GET_SIZE(value))
                return since >= 0 and 0 <= modified <= since
        return False

    # -- building a hit ---------------------------------------------------------

    cdef bytes date(self):
        cdef time_t now = c_time(NULL)
        cdef char text[64]
        cdef size_t n
        if now != self.date_second:
            n = strftime(text, sizeof(text), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", gmtime(&now))
            self.date_line = PyBytes_FromStringAndSize(text, n)
            self.date_second = now
        return self.date_line

    cdef bytes build(self, int32_t i, bint head_only, int minor, bint keep_alive,
                     double age, bint stale, list headers):
        """Status line, stored fields, Age, Date, Server, Connection, X-Cache,
        CRLF, body: one bytes object, copied under the lock."""
        cdef Slot *s = &self.shm.slots[i]
        cdef uint32_t hoff = s.key_len + s.vary_len + s.etag_len + s.tags_len, hlen = s.head_len
        cdef uint32_t boff = hoff + s.head_len + s.head304_len, blen = s.length - boff
        cdef unsigned char age_line[32]
        cdef Py_ssize_t alen = write_age(age_line, age), total
        cdef const char *conn = b""
        cdef const char *xc = b""
        cdef Py_ssize_t clen = 0, xlen = 0
        cdef unsigned char *p
        cdef bytes date = self.date()
        cdef bytes server = self.server_line
        if self.not_modified(i, headers):
            hoff += s.head_len
            hlen = s.head304_len
            blen = 0
            self.shm.hdr.counters.not_modified += 1
        elif head_only:
            blen = 0
        if not keep_alive:
            conn, clen = b"Connection: close\r\n", 19
        elif minor == 0:
            conn, clen = b"Connection: keep-alive\r\n", 24
        if self.x_cache and stale:
            xc, xlen = b"X-Cache: STALE\r\n", 16
        elif self.x_cache:
            xc, xlen = b"X-Cache: HIT\r\n", 14
        total = 9 + hlen + alen + len(date) + len(server) + clen + xlen + 2 + blen
        result = PyBytes_FromStringAndSize(NULL, total)
        p = <unsigned char *>PyBytes_AS_STRING(result)
        memcpy(p, b"HTTP/1.1 " if minor else b"HTTP/1.0 ", 9)
        p += 9
        self.shm.read(i, hoff, p, hlen)
        p += hlen
        memcpy(p, age_line, alen)
        p += alen
        memcpy(p, PyBytes_AS_STRING(date), len(date))
        p += len(date)
        memcpy(p, PyBytes_AS_STRING(server), len(server))
        p += len(server)
        memcpy(p, conn, clen)
        p += clen
        memcpy(p, xc, xlen)
        p += xlen
        p[0] = 13
        p[1] = 10
        self.shm.read(i, boff, p + 2, blen)
        return result

    # -- the C API ----------------------------------------------------------------

    cdef object lookup_request(self, Request req, bint keep_alive, double now, int mode):
        if req.content_length != 0 or req.chunked:
            self.status = CACHE_BYPASS      # a GET with a body is not a plain read
            self.fill_won = False
            return None
        return self.lookup_bytes(req.method, req.host, req.target, req.headers, req.minor,
                                 keep_alive, now, mode)

    cdef object lookup_bytes(self, bytes method, bytes host, bytes target, list headers,
                             int minor, bint keep_alive, double now, int mode):
        cdef bint head_only, stale = False
        cdef bint for_error = mode == LOOKUP_FOR_ERROR
        cdef int claim
        cdef Py_ssize_t klen
        cdef uint64_t h
        cdef int32_t i
        cdef Slot *s
        cdef double age = 0
        self.status = CACHE_BYPASS
        self.fill_won = False
        self.fill_seq = 0
        if PyBytes_GET_SIZE(method) == 3 and not memcmp(PyBytes_AS_STRING(method), b"GET", 3):
            head_only = False
        elif PyBytes_GET_SIZE(method) == 4 and not memcmp(PyBytes_AS_STRING(method), b"HEAD", 4):
            head_only = True        # served from the GET entry (RFC 9110 §9.3.2)
        else:
            return None
        klen = self.make_key(host, target)
        if klen < 0:
            return None
        h = self.key_hash = self.shm.hash(self.key_buf.data, klen)
        self.shm.lock()
        try:
            i = self.find(h, klen, headers)
            if i >= 0:
                s = &self.shm.slots[i]
                if not (s.flags & ENTRY_AUTH_OK) and has_header(headers, b"authorization", 13):
                    return None     # RFC 9111 §3.5: stays a bypass
                age = s.initial_age + (now - s.stored_at)
                if age < 0:
                    age = 0
                if age >= s.ttl:
                    stale = True
                    if not (age < s.ttl + s.swr or (for_error and age < s.ttl + s.sie)):
                        if age >= s.ttl + (s.swr if s.swr > s.sie else s.sie):
                            self.shm.remove(i)
                            self.shm.hdr.counters.expirations += 1
                        i = -1
            if i >= 0 and self.verify_reads and not self.shm.verify(i):
                self.shm.remove(i)
                i = -1
            if i >= 0:
                result = self.build(i, head_only, minor, keep_alive, age, stale, headers)
                self.shm.touch(i, now)
                if stale:
                    self.shm.hdr.counters.stale_hits += 1
                    self.status = CACHE_STALE
                    if not for_error:
                        # RFC 5861 §3: one refresh at a time, and none while
                        # the last one's response was not storable (PASS).
                        claim = self.shm.begin_fill(h, now, self.fill_timeout, &self.fill_seq,
                                                    mode == LOOKUP_REQUEST)
                        self.fill_won = claim == FILL_WON or claim == FILL_UNMARKED
                        self.fill_generation = self.shm.hdr.drop_generation
                else:
                    self.shm.hdr.counters.hits += 1
                    self.status = CACHE_HIT
                return result
            self.status = CACHE_MISS
            if mode == LOOKUP_REQUEST:
                self.shm.hdr.counters.misses += 1
            if for_error:
                return None
            if head_only:
                # A HEAD response has no body to store: HEAD never fills, but
                # it waits for a GET's fill, whose entry answers it too.
                if self.shm.fill_under_way(h, now, mode == LOOKUP_REQUEST):
                    self.status = CACHE_BUSY
                return None
            claim = self.shm.begin_fill(h, now, self.fill_timeout, &self.fill_seq,
                                        mode == LOOKUP_REQUEST)
            self.fill_generation = self.shm.hdr.drop_generation
            if claim == FILL_BUSY:
                if mode == LOOKUP_REQUEST:
                    self.shm.hdr.counters.fill_busy += 1
                self.status = CACHE_BUSY
            else:
                # FILL_PASS too: the last fill was not storable, so this one
                # goes to the app unwaited, and is stored if it turns out storable.
                self.fill_won = True
            return None
        finally:
            self.shm.unlock()

    cdef int put_request(self, Request req, object decision, object status, list headers,
                         bytes body, double now, uint64_t fill_seq,
                         uint64_t fill_generation) except -1:
        if req.method != b"GET":
            return 0
        return self.put(req.host, req.target, req.headers, decision, status, headers, body, now,
                        True, fill_seq, fill_generation)

    cdef int put(self, bytes host, bytes target, list request_headers, object decision,
                 object status, list headers, bytes body, double now,
                 bint fill, uint64_t fill_seq, uint64_t fill_generation) except -1:
        cdef Py_ssize_t klen, total, offset
        cdef uint64_t bloom
        cdef uint64_t h
        cdef int32_t i
        cdef Slot *s
        cdef int code
        if not decision.store:
            return 0
        status_bytes = as_bytes(status)
        if len(status_bytes) < 3 or not status_bytes[:3].isdigit() or any(c in status_bytes for c in b"\r\n\0"):
            return 0
        code = int(status_bytes[:3])
        heads = serialize_heads(status_bytes, code, headers, len(body),
                                None if self.keep_tags else self.tag_name)

        vary = self.vary_spec(decision.vary, request_headers)
        klen = self.make_key(host, target)
        if heads is None or vary is None or klen < 0:
            return 0
        tag_items = tags_in(headers, self.tag_name)
        bloom = bloom_of(self.shm, tag_items)
        key = PyBytes_FromStringAndSize(<char *>self.key_buf.data, klen)
        etag = as_bytes(decision.etag) or b""
        tags = encode_tags(tag_items)
        parts = (key, vary, etag, tags, heads[0], heads[1], body)
        total = sum([len(part) for part in parts])
        h = self.shm.hash(self.key_buf.data, klen)
        self.shm.lock()
        try:
            if fill and not self.shm.fill_still_valid(h, fill_seq, fill_generation):
                # An unsafe request changed the resource while the app ran:
                # this body may predate the change (RFC 9111 §4.4).
                self.shm.hdr.counters.fills_voided += 1
                return 0
            i = self.find(h, klen, request_headers)
            while i >= 0:               # the variants this request selects are replaced
                self.shm.remove(i)
                i = self.find(h, klen, request_headers)
            i = self.shm.allocate(h, total)
            if i < 0:
                return 0
            offset = 0
            for part in parts:
                self.shm.write(i, <uint32_t>offset, <const unsigned char *>PyBytes_AS_STRING(part), len(part))
                offset += len(part)
            s = &self.shm.slots[i]
            s.key_len, s.vary_len, s.etag_len, s.tags_len = klen, len(vary), len(etag), len(tags)
            s.tag_bloom = bloom
            s.head_len, s.head304_len = len(heads[0]), len(heads[1])
            s.status = code
            s.flags = (ENTRY_AUTH_OK if decision.shared_auth else 0) | \
                      (ENTRY_VALIDATORS if code == 200 or code == 203 else 0)
            s.stored_at = now
            s.initial_age = decision.age
            s.ttl = decision.ttl
            s.swr = decision.stale_while_revalidate
            s.sie = decision.stale_if_error
            s.last_modified = -1 if decision.last_modified is None else decision.last_modified
            s.date = time.time() if decision.date is None else decision.date
            self.shm.publish(i, now)
        finally:
            self.shm.unlock()
        return 1

    cdef int drop(self, bytes host, bytes target, bint purge) except -1:
        cdef Py_ssize_t klen = self.make_key(host, target)
        cdef uint64_t h
        cdef int32_t i, following
        cdef int dropped = 0
        if klen < 0:
            return 0
        h = self.shm.hash(self.key_buf.data, klen)
        self.shm.lock()
        try:
            self.shm.void_fills(h)
            i = self.shm.first_in_bucket(h)
            while i >= 0:
                following = self.shm.slots[i].bucket_next
                if self.shm.slots[i].hash == h and self.shm.slots[i].key_len == klen \
                        and self.shm.equals(i, 0, self.key_buf.data, <uint32_t>klen):
                    self.shm.remove(i)
                    dropped += 1
                i = following
            if purge:
                self.shm.hdr.counters.purges += dropped
            else:
                self.shm.hdr.counters.invalidations += dropped
        finally:
            self.shm.unlock()
        if self.bus is not None:
            # The other hosts drop it too (--cache-redis); this never waits.
            self.bus.send(b"P" if purge else b"U", (host or b"") + b"\n" + target)
        return dropped

    cdef int claim_fill(self, uint64_t h, double now) except -1:
        cdef int claim
        self.shm.lock()
        claim = self.shm.begin_fill(h, now, self.fill_timeout, &self.fill_seq, True)
        self.fill_generation = self.shm.hdr.drop_generation
        self.shm.unlock()
        return claim

    cdef int release_fill(self, uint64_t h, uint64_t seq, bint stored) except -1:
        """End a fill (see SharedStore.end_fill); a no-op for an unmarked one."""
        if seq == 0:
            return 0
        self.shm.lock()
        self.shm.end_fill(h, seq, stored, monotonic(), self.pass_time)
        self.shm.unlock()
        return 0

    cdef int count(self, int event) except -1:
        self.shm.lock()
        if event == EVENT_WAIT:
            self.shm.hdr.counters.fill_waits += 1
        elif event == EVENT_WAIT_TIMEOUT:
            self.shm.hdr.counters.fill_wait_timeouts += 1
        elif event == EVENT_WAIT_CANCEL:
            self.shm.hdr.counters.fill_wait_cancels += 1
        elif event == EVENT_REFRESH:
            self.shm.hdr.counters.refreshes += 1
        self.shm.unlock()
        return 0

    cdef int release_own_fills(self, uint64_t h, bint stored) except -1:
        """End every fill of ``h`` this process holds (the Python API's end_fill)."""
        cdef int32_t k
        self.shm.lock()
        try:
            for k in range(self.shm.hdr.nfills):
                if self.shm.fills[k].hash == h and self.shm.fills[k].pid == getpid() \
                        and self.shm.fills[k].state == MARK_FILLING:
                    self.shm.end_fill(h, self.shm.fills[k].seq, stored, monotonic(), self.pass_time)
        finally:
            self.shm.unlock()
        return 0

    # -- the Python API (tests, benchmarks, the master) ------------------------

    def key(self, host, target):
        """The primary key bytes of (host, target), or None if the target
        names no cacheable resource."""
        cdef Py_ssize_t n = self.make_key(as_bytes(host), as_bytes(target))
        return None if n < 0 else PyBytes_FromStringAndSize(<char *>self.key_buf.data, n)

    def lookup(self, method, host, target, headers=(), *, int minor=1, bint keep_alive=True,
               now=None, bint for_error=False, bint recheck=False):
        return self.lookup_bytes(as_bytes(method), as_bytes(host), as_bytes(target),
                                 field_list(headers), minor, keep_alive,
                                 time.monotonic() if now is None else now,
                                 LOOKUP_FOR_ERROR if for_error else
                                 LOOKUP_RECHECK if recheck else LOOKUP_REQUEST)

    def store(self, host, target, request_headers, decision, status, headers, body, *,
              now=None, fill_generation=None, fill_seq=0):
        """``fill_generation`` and ``fill_seq`` (from a lookup that won the
        key's fill): the store is refused if the key was invalidated since."""
        return bool(self.put(as_bytes(host), as_bytes(target),
                             field_list(request_headers), decision,
                             status, list(headers), as_bytes(body),
                             time.monotonic() if now is None else now,
                             fill_generation is not None, fill_seq,
                             0 if fill_generation is None else fill_generation))

    def invalidate(self, host, target):
        return self.drop(as_bytes(host), as_bytes(target), False)

    def purge(self, host, target):
        return self.drop(as_bytes(host), as_bytes(target), True)

    def purge_tags(self, tags):
        """Drop every entry tagged with one of ``tags`` (str or bytes, each
        a tag or a field value listing several); the other hosts too
        (--cache-redis). Returns how many this store dropped."""
        cdef list wanted = []
        for value in tags:
            for tag in split_tags(value):
                if tag not in wanted:
                    wanted.append(tag)
        dropped = drop_tagged(self.shm, wanted) if wanted else 0
        if self.bus is not None and wanted:
            self.bus.send(b"T", b" ".join(wanted))
        return dropped

    def begin_fill(self, bytes key, now=None):
        return self.claim_fill(self.shm.hash(<const unsigned char *>PyBytes_AS_STRING(key), len(key)),
                               time.monotonic() if now is None else now) != FILL_BUSY

    def end_fill(self, bytes key, bint stored=True, seq=None):
        """End fill ``seq`` of ``key`` (fill_seq after the lookup that won it),
        or every fill of it this process holds."""
        cdef uint64_t h = self.shm.hash(<const unsigned char *>PyBytes_AS_STRING(key), len(key))
        if seq is None:
            self.release_own_fills(h, stored)
        else:
            self.release_fill(h, seq, stored)

    @property
    def max_entry_bytes(self):
        """Larger entries are refused: stop collecting a body past this."""
        return self.shm.hdr.max_entry_bytes

    def stats(self):
        stats = self.shm.counters()
        stats["capacity"] = self.shm.capacity
        stats["block_size"] = self.shm.block_size
        stats["map_size"] = self.shm.map_size
        return stats

    def check(self):
        self.shm.check()

    def clear(self):
        """Drop every entry and fill marker (``--cache-purge-on-reload``);
        the counters stay."""
        self.shm.lock()
        try:
            self.shm.reset()
        finally:
            self.shm.unlock()
