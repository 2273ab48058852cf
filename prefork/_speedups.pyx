"""Strict, incremental HTTP/1.1 request parser (RFC 9112, RFC 9110).

Contract (see _speedups.pxd for the C interface, _speedups.pyi for docs):
- RequestParser.execute(data, length) is given the caller's unconsumed bytes,
  returns how many it consumed and leaves exactly one event in .event.
- While a head is incomplete nothing is consumed; the head is scanned once
  (offsets into data are remembered, so byte-by-byte feeding stays linear).
- Every loop is bounded by a limit; any malformed byte raises HTTPError and
  the parser stays failed until reset().
- No Python call happens per byte: byte classes come from C lookup tables.
"""
cimport cython
from cpython.bytearray cimport PyByteArray_AS_STRING
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcmp, memcpy

# RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the
# request line; we ignore a few and refuse a stream of them.
cdef enum: MAX_LEADING_EMPTY_LINES = 4
# RFC 9112 §7.1: chunk-size is unbounded in the grammar; 16 hex digits cover
# any 64-bit size, more can only be an attack on integer parsing.
cdef enum: MAX_CHUNK_SIZE_DIGITS = 16
# RFC 9112 §7.1.1: a server ought to limit the total length of chunk extensions;
# this bounds the bytes between chunk-size and CRLF.
cdef enum: MAX_CHUNK_EXT = 4096
# RFC 9110 §5.6.1: a recipient MUST parse and ignore "a reasonable number of
# empty list elements". Reasonable here: up to 8 in one field line, which
# covers any list joined from empty or comma-ended lines by an intermediary;
# more is padding meant to confuse a parser, refused with 400.
cdef enum: MAX_EMPTY_LIST_ELEMENTS = 8
# Content-Length: 18 decimal digits always fit a signed 64-bit integer.
cdef enum: MAX_CONTENT_LENGTH_DIGITS = 18

cdef enum: S_HEAD = 0      # expecting (the rest of) a request head
cdef enum: S_BODY = 1      # Content-Length body (possibly empty): _left bytes to go
cdef enum: S_CHUNK_SIZE = 2
cdef enum: S_CHUNK_DATA = 3
cdef enum: S_CHUNK_CRLF = 4
cdef enum: S_TRAILER = 5
cdef enum: S_FAILED = 6

cdef enum: CR = 13
cdef enum: LF = 10
cdef enum: SP = 32
cdef enum: HTAB = 9

cdef enum: TE_CHUNKED = 1

# Byte classes, one bit each, in a single table.
cdef enum: C_TCHAR = 1     # RFC 9110 §5.6.2 tchar
cdef enum: C_TARGET = 2    # VCHAR except "#" (RFC 9112 §3.2: no fragment, no CTL/SP)
cdef enum: C_VALUE = 4     # RFC 9110 §5.5 field-vchar / obs-text / SP / HTAB
cdef enum: C_HEX = 8       # HEXDIG
cdef enum: C_REGNAME = 16  # RFC 3986 §3.2.2 unreserved / sub-delims (reg-name, minus pct)
cdef enum: C_QDTEXT = 32   # RFC 9110 §5.6.4 qdtext: HTAB / SP / VCHAR but DQUOTE and "\" / obs-text
cdef enum: C_DIGIT = 64

cdef unsigned char CLASS[256]
cdef unsigned char HEXVAL[256]


cdef void _init_tables():
    cdef int c
    tchar = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    regname = b"-._~!$&'()*+,;=0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for c in range(256):
        CLASS[c] = 0
        HEXVAL[c] = 0xFF
    for c in tchar:
        CLASS[c] |= C_TCHAR
    for c in regname:
        CLASS[c] |= C_REGNAME
    for c in range(0x21, 0x7F):
        CLASS[c] |= C_VALUE
        if c != 0x23:
            CLASS[c] |= C_TARGET
        if c != 0x22 and c != 0x5C:
            CLASS[c] |= C_QDTEXT
    for c in range(0x80, 0x100):
        CLASS[c] |= C_VALUE | C_QDTEXT
    for c in (SP, HTAB):
        CLASS[c] |= C_VALUE | C_QDTEXT
    for c in range(10):
        CLASS[48 + c] |= C_HEX | C_DIGIT
        HEXVAL[48 + c] = c
    for c in range(6):
        CLASS[65 + c] |= C_HEX
        CLASS[97 + c] |= C_HEX
        HEXVAL[65 + c] = 10 + c
        HEXVAL[97 + c] = 10 + c

_init_tables()

# PERF: field names clients send on nearly every request, spelled as they
# send them, are shared objects instead of a new bytes per field (30-header
# request: ~3.1 -> ~2.3 us). A slot holds one name; a colliding or unknown
# name is simply allocated.
cdef tuple _COMMON_FIELD_NAMES = (
    b"Host", b"User-Agent", b"Accept", b"Accept-Encoding", b"Accept-Language", b"Accept-Charset",
    b"Connection", b"Content-Length", b"Content-Type", b"Cookie", b"Referer", b"Origin",
    b"Authorization", b"Cache-Control", b"Pragma", b"Upgrade-Insecure-Requests", b"Upgrade",
    b"Sec-Fetch-Dest", b"Sec-Fetch-Mode", b"Sec-Fetch-Site", b"Sec-Fetch-User", b"Sec-Ch-Ua",
    b"Sec-Ch-Ua-Mobile", b"Sec-Ch-Ua-Platform", b"Priority", b"Transfer-Encoding", b"Expect",
    b"If-None-Match", b"If-Modified-Since", b"Range", b"DNT", b"TE", b"X-Forwarded-For",
    b"X-Forwarded-Proto", b"X-Forwarded-Host", b"X-Real-IP", b"X-Request-ID", b"X-Requested-With",
    b"Forwarded", b"Via", b"Keep-Alive",
    b"host", b"user-agent", b"accept", b"accept-encoding", b"accept-language", b"connection",
    b"content-length", b"content-type", b"cookie", b"referer", b"origin", b"authorization",
    b"cache-control", b"transfer-encoding", b"x-forwarded-for", b"x-forwarded-proto",
    b"x-real-ip", b"x-request-id", b"expect",
)
cdef PyObject *NAME_SLOTS[256]


cdef inline unsigned int _name_slot(const unsigned char *s, Py_ssize_t n) noexcept nogil:
    return <unsigned int>(n * 14 + s[0] * 3 + s[n - 1] * 19 + s[n >> 1] * 11) & 255


cdef void _init_name_slots():
    cdef bytes name
    cdef unsigned int slot
    for name in _COMMON_FIELD_NAMES:
        slot = _name_slot(<const unsigned char *>PyBytes_AS_STRING(name), len(name))
        if NAME_SLOTS[slot] == NULL:
            NAME_SLOTS[slot] = <PyObject *>name  # kept alive by _COMMON_FIELD_NAMES

_init_name_slots()


cdef bytes field_name(const unsigned char *s, Py_ssize_t n):
    return _field_name(s, n)


cdef inline bytes _field_name(const unsigned char *s, Py_ssize_t n):
    cdef PyObject *known = NAME_SLOTS[_name_slot(s, n)]
    if (known != NULL and PyBytes_GET_SIZE(<object>known) == n
            and memcmp(PyBytes_AS_STRING(<object>known), s, n) == 0):
        return <bytes>known
    return PyBytes_FromStringAndSize(<const char *>s, n)

_g = globals()
_g["EV_NEED_MORE"] = <int>EV_NEED_MORE
_g["EV_HEAD"] = <int>EV_HEAD
_g["EV_BODY"] = <int>EV_BODY
_g["EV_DONE"] = <int>EV_DONE
del _g


class HTTPError(Exception):
    """A request the server refuses: .status to answer with, .reason for the log."""

    def __init__(self, status, reason):
        super().__init__(status, reason)
        self.status = status
        self.reason = reason


cdef inline bint _is_ows(unsigned char c) noexcept nogil:
    return c == SP or c == HTAB


cdef inline bint _ci_equal(const unsigned char *s, Py_ssize_t n, const char *lower) noexcept nogil:
    # Case-insensitive compare with a lowercase literal of letters, digits and
    # "-". `c | 0x20` is exact here: s holds only validated token/value bytes,
    # and no such byte other than the uppercase letter maps onto a lowercase one.
    cdef Py_ssize_t i
    for i in range(n):
        if lower[i] == 0 or (s[i] | 0x20) != <unsigned char>lower[i]:
            return False
    return lower[n] == 0


cdef bint _valid_ipv4(const unsigned char *s, Py_ssize_t n) noexcept nogil:
    # RFC 3986 §3.2.2 IPv4address = dec-octet "." dec-octet "." dec-octet "." dec-octet
    cdef Py_ssize_t i = 0, start
    cdef int octets = 0, value
    while True:
        start = i
        value = 0
        while i < n and i - start < 4 and CLASS[s[i]] & C_DIGIT:
            value = value * 10 + (s[i] - 48)
            i += 1
        if i == start or i - start > 3 or value > 255 or (s[start] == 48 and i - start > 1):
            return False
        octets += 1
        if octets == 4:
            return i == n
        if i >= n or s[i] != 46:
            return False
        i += 1


cdef bint _valid_ip_literal(const unsigned char *s, Py_ssize_t n) noexcept nogil:
    # RFC 3986 §3.2.2 IP-literal = "[" ( IPv6address / IPvFuture ) "]" (brackets stripped)
    cdef Py_ssize_t i = 0, j
    cdef int groups = 0
    cdef bint elided = False
    if n == 0:
        return False
    if s[0] == 118 or s[0] == 86:  # IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
        i = 1
        while i < n and CLASS[s[i]] & C_HEX:
            i += 1
        if i == 1 or i >= n - 1 or s[i] != 46:
            return False
        for j in range(i + 1, n):
            if not (CLASS[s[j]] & C_REGNAME or s[j] == 58):
                return False
        return True
    if s[0] == 58:
        if n < 2 or s[1] != 58:
            return False
        elided = True
        i = 2
    while i < n:
        j = i
        while j < n and j - i < 5 and CLASS[s[j]] & C_HEX:
            j += 1
        if j < n and s[j] == 46:  # ls32 may end in an IPv4address
            if not _valid_ipv4(s + i, n - i):
                return False
            groups += 2
            break
        if j == i or j - i > 4:
            return False
        groups += 1
        if j == n:
            break
        if s[j] != 58:
            return False
        if j + 1 < n and s[j + 1] == 58:
            if elided:
                return False
            elided = True
            i = j + 2
        else:
            i = j + 1
            if i == n:
                return False
    return groups <= 7 if elided else groups == 8


cdef bint _valid_authority(const unsigned char *s, Py_ssize_t n, bint port_required) noexcept nogil:
    # RFC 9110 §7.2 Host = uri-host [ ":" port ]; RFC 3986 §3.2.2-3.2.3:
    # uri-host = IP-literal / IPv4address / reg-name; port = *DIGIT.
    # No userinfo: RFC 9110 §4.2.4 treats it as an error in http(s) URIs.
    cdef Py_ssize_t i = 0, close
    if n == 0:
        return False
    if s[0] == 91:  # "["
        close = 1
        while close < n and s[close] != 93:
            close += 1
        if close == n or not _valid_ip_literal(s + 1, close - 1):
            return False
        i = close + 1
    else:
        while i < n and s[i] != 58:
            if s[i] == 37:  # pct-encoded = "%" HEXDIG HEXDIG
                if i + 2 >= n or not (CLASS[s[i + 1]] & CLASS[s[i + 2]] & C_HEX):
                    return False
                i += 3
            elif CLASS[s[i]] & C_REGNAME:
                i += 1
            else:
                return False
        if i == 0:
            return False  # a port without a host
    if i == n:
        return not port_required
    if s[i] != 58:
        return False
    i += 1
    if port_required and i == n:
        return False
    while i < n:
        if not (CLASS[s[i]] & C_DIGIT):
            return False
        i += 1
    return True


cdef inline Py_ssize_t _scan_list_element(const unsigned char *s, Py_ssize_t n, Py_ssize_t i,
                                          Py_ssize_t *start, Py_ssize_t *end, int *empty) noexcept nogil:
    # One element of a token list from s[i] (RFC 9110 §5.6.1):
    #   #element => [ element ] *( OWS "," OWS [ element ] )
    # that is OWS, a token (s[start:end], empty for an empty element), OWS,
    # then "," or the end. Empty elements are counted in empty[0].
    # Returns where the next element starts, n + 1 after the last one, or -1
    # for a byte that is neither token, OWS nor "," (parameters, quotes, CTLs)
    # and for more than MAX_EMPTY_LIST_ELEMENTS empty elements.
    while i < n and _is_ows(s[i]):
        i += 1
    start[0] = i
    while i < n and CLASS[s[i]] & C_TCHAR:
        i += 1
    end[0] = i
    while i < n and _is_ows(s[i]):
        i += 1
    if i < n and s[i] != 44:  # ","
        return -1
    if end[0] == start[0]:
        empty[0] += 1
        if empty[0] > MAX_EMPTY_LIST_ELEMENTS:
            return -1
    return i + 1


cdef int _transfer_coding_status(const unsigned char *s, Py_ssize_t n) noexcept nogil:
    # RFC 9112 §6.1 Transfer-Encoding = #transfer-coding, empty elements
    # ignored (RFC 9110 §5.6.1). Returns TE_CHUNKED, 501 (a coding we do not
    # implement applied before chunked) or 400.
    cdef Py_ssize_t i = 0, start, end
    cdef bint last_chunked = False
    cdef int codings = 0, empty = 0
    while i <= n:
        i = _scan_list_element(s, n, i, &start, &end, &empty)
        if i < 0:
            return 400  # parameters, garbage or a run of empty elements: be strict
        if end == start:
            continue
        if last_chunked:
            return 400  # §6.1: chunked must be the final coding, applied once
        last_chunked = _ci_equal(s + start, end - start, b"chunked")
        codings += 1
    if not last_chunked:
        return 400  # §6.3 item 4: the framing cannot be determined
    return TE_CHUNKED if codings == 1 else 501


cdef inline Py_ssize_t _skip_ows(const unsigned char *s, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    while i < n and _is_ows(s[i]):
        i += 1
    return i


cdef inline Py_ssize_t _skip_token(const unsigned char *s, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    while i < n and CLASS[s[i]] & C_TCHAR:
        i += 1
    return i


cdef Py_ssize_t _quoted_string_end(const unsigned char *s, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    # RFC 9110 §5.6.4, from the opening DQUOTE at s[i]:
    #   quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
    #   quoted-pair   = "\" ( HTAB / SP / VCHAR / obs-text )
    # Returns the index after the closing DQUOTE, or -1.
    i += 1
    while i < n:
        if s[i] == 34:  # DQUOTE
            return i + 1
        if s[i] == 92:  # "\"
            i += 1
            if i == n or not (CLASS[s[i]] & C_VALUE):  # C_VALUE: HTAB / SP / VCHAR / obs-text
                return -1
        elif not (CLASS[s[i]] & C_QDTEXT):
            return -1
        i += 1
    return -1


cdef bint _valid_chunk_ext(const unsigned char *s, Py_ssize_t n) noexcept nogil:
    # RFC 9112 §7.1.1, s[0:n] being every byte between chunk-size and CRLF:
    #   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
    #   chunk-ext-name = token
    #   chunk-ext-val  = token / quoted-string
    # Nothing else: no whitespace after the last extension, no empty name, no
    # "=" without a value. Extensions are ignored once valid.
    cdef Py_ssize_t i = 0, start
    while i < n:
        i = _skip_ows(s, n, i)
        if i == n or s[i] != 59:  # ";"
            return False
        start = _skip_ows(s, n, i + 1)
        i = _skip_token(s, n, start)
        if i == start:
            return False  # chunk-ext-name = token, not empty
        start = _skip_ows(s, n, i)
        if start < n and s[start] == 61:  # "="
            start = _skip_ows(s, n, start + 1)
            if start < n and s[start] == 34:  # DQUOTE
                i = _quoted_string_end(s, n, start)
                if i < 0:
                    return False
            else:
                i = _skip_token(s, n, start)
                if i == start:
                    return False  # "=" needs a value
    return True


# PERF: a Request holds only bytes, ints and lists of byte tuples, so it can
# never be part of a reference cycle; untracked, it costs the GC nothing.
@cython.no_gc
cdef class Request:
    def __dealloc__(self):
        free(self.spans)

    def __repr__(self):
        return "<Request %r %r %r>" % (self.method, self.target, self.http_version)

    @property
    def headers(self):
        """[(name, value)] bytes, names as received, in order (built on
        first use from the head's bytes)."""
        cdef Py_ssize_t i
        cdef const unsigned char *raw
        cdef FieldSpan *f
        if self._headers is None:
            headers = []
            if self.nfields:
                raw = <const unsigned char *>PyBytes_AS_STRING(self.raw)
                for i in range(self.nfields):
                    f = &self.spans[i]
                    headers.append((_field_name(raw + f.name_at, f.name_len),
                                    PyBytes_FromStringAndSize(<const char *>raw + f.value_at,
                                                              f.value_len)))
            self._headers = headers
        return self._headers


cdef class RequestParser:
    def __dealloc__(self):
        free(self._spans)

    def __init__(self, Py_ssize_t max_request_line=8190, Py_ssize_t max_field_size=8190,
                 Py_ssize_t max_header_size=65536, Py_ssize_t max_header_count=100,
                 long long max_body_size=1073741824):
        self.max_request_line = max_request_line
        self.max_field_size = max_field_size
        self.max_header_size = max_header_size
        self.max_header_count = max_header_count
        self.max_body_size = max_body_size
        self.reset()

    def reset(self):
        self._buf = bytearray()
        self._error_status = 0
        self._error_reason = None
        self.request = None
        self._start_message()

    cdef void _start_message(self):
        self._state = S_HEAD
        self.event = EV_NEED_MORE
        self.body_start = 0
        self.body_len = 0
        self._req = None
        self._pos = 0
        self._scan = 0
        self._empty_lines = 0
        self._have_request_line = False
        self._absolute_form = False
        self._field_count = 0
        self._content_length = -1
        self._te_status = 0
        self._host_seen = False
        self._host_header = None
        self._conn_close = False
        self._conn_keep_alive = False
        self._expect_continue = False
        self._expect_other = False
        self._left = 0
        self._received = 0
        self._line_scan = 0
        self._section_size = 0
        self._nspans = 0

    cdef int _fail(self, int status, str reason) except -1:
        self._state = S_FAILED
        self._error_status = status
        self._error_reason = reason
        raise HTTPError(status, reason)

    def feed(self, data):
        """Append data and return the events it completes (see the .pyi)."""
        cdef list events = []
        cdef const unsigned char *base
        cdef Py_ssize_t length, offset = 0, n
        cdef object keep
        if self._error_status:
            raise HTTPError(self._error_status, self._error_reason)
        # PERF: when nothing is buffered, parse the caller's bytes in place.
        if not self._buf and type(data) is bytes:
            keep = data
            base = <const unsigned char *>PyBytes_AS_STRING(data)
            length = len(<bytes>data)
        else:
            self._buf += data
            keep = self._buf
            base = <const unsigned char *>PyByteArray_AS_STRING(self._buf)
            length = len(self._buf)
        while True:
            n = self.execute(base + offset, length - offset)
            if self.event == EV_HEAD:
                events.append(("head", self.request))
            elif self.event == EV_BODY:
                events.append(("body", PyBytes_FromStringAndSize(
                    <const char *>base + offset + self.body_start, self.body_len)))
            elif self.event == EV_DONE:
                events.append(("done", self.request))
            offset += n
            if self.event == EV_NEED_MORE:
                break
        if keep is self._buf:
            del self._buf[:offset]
        elif offset < length:
            self._buf += (<bytes>keep)[offset:]
        return events

    cdef Py_ssize_t execute(self, const unsigned char *data, Py_ssize_t length) except -1:
        if self._state == S_HEAD:
            return self._parse_head(data, length)
        if self._state == S_BODY:
            return self._parse_length_body(length)
        if self._state == S_FAILED:
            raise HTTPError(self._error_status, self._error_reason)
        return self._parse_chunked(data, length)

    # ---- head -------------------------------------------------------------

    cdef Py_ssize_t _parse_head(self, const unsigned char *data, Py_ssize_t length) except -1:
        cdef const unsigned char *lf
        cdef Py_ssize_t start, end, eol
        while True:
            start = self._pos
            lf = <const unsigned char *>memchr(data + self._scan, LF, length - self._scan)
            if lf == NULL:
                _refuse_bare_cr(self, data, max(start, self._scan - 1), length)
                self._scan = length
                self._check_partial_line(data, length)
                self.event = EV_NEED_MORE
                return 0
            eol = lf - data
            self._scan = eol + 1
            self._pos = eol + 1
            # RFC 9112 §2.2: lines end in CRLF; a bare LF is refused, not tolerated.
            if eol == start or data[eol - 1] != CR:
                self._fail(400, "bare LF in request head")
            end = eol - 1
            # The request line's own limit comes first, so the status does not
            # depend on how the input was split (414 before 431).
            if not self._have_request_line and end - start > self.max_request_line:
                self._fail(414, "request line longer than %d bytes" % self.max_request_line)
            if eol + 1 > self.max_header_size:
                self._fail(431, "request head larger than %d bytes" % self.max_header_size)
            if not self._have_request_line:
                if end == start:
                    self._empty_lines += 1
                    if self._empty_lines > MAX_LEADING_EMPTY_LINES:
                        self._fail(400, "too many empty lines before the request line")
                    continue
                if end - start > self.max_request_line:
                    self._fail(414, "request line longer than %d bytes" % self.max_request_line)
                self._parse_request_line(data, start, end)
                self._have_request_line = True
            elif end == start:
                self._section_size = eol + 1
                self._keep_head(data, eol + 1)
                self._finish_head()
                return eol + 1
            else:
                self._parse_field_line(data, start, end, False)

    cdef int _check_partial_line(self, const unsigned char *data, Py_ssize_t length) except -1:
        # Limits hold before a line or head is complete (RFC 9112 §3, RFC 6585 §5).
        cdef Py_ssize_t start = self._pos, size = length - self._pos, i, stop
        if size > 0 and data[length - 1] == CR:
            size -= 1  # may be the first half of the CRLF
        if not self._have_request_line and size > self.max_request_line:
            self._fail(414, "request line longer than %d bytes" % self.max_request_line)
        if length > self.max_header_size:
            self._fail(431, "request head larger than %d bytes" % self.max_header_size)
        if self._have_request_line:
            if size > self.max_field_size:
                self._fail(431, "header field longer than %d bytes" % self.max_field_size)
            return 0
        # Refuse non-HTTP bytes (a TLS handshake, binary noise) early, by the method.
        i = start
        stop = min(length, start + 32)
        while i < stop and CLASS[data[i]] & C_TCHAR:
            i += 1
        if i < stop and (data[i] != SP or i == start) and not (i == start and data[i] == CR):
            self._fail(400, "invalid request method")
        return 0

    cdef int _parse_request_line(self, const unsigned char *data, Py_ssize_t start, Py_ssize_t end) except -1:
        # RFC 9112 §3: request-line = method SP request-target SP HTTP-version
        cdef Py_ssize_t i = start, target_start, target_end
        cdef Request req = Request.__new__(Request)
        cdef const unsigned char *v
        self._req = req
        while i < end and CLASS[data[i]] & C_TCHAR:  # RFC 9110 §9.1 method = token
            i += 1
        if i == start or i == end or data[i] != SP:
            self._fail(400, "invalid request method")
        req.method = _method_bytes(data + start, i - start)
        i += 1
        target_start = i
        while i < end and CLASS[data[i]] & C_TARGET:
            i += 1
        if i == target_start:
            self._fail(400, "empty request-target")
        if i == end or data[i] != SP:
            self._fail(400, "invalid byte in request-target")
        target_end = i
        i += 1
        # RFC 9112 §2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT, case-sensitive.
        v = data + i
        if (end - i != 8 or memcmp(v, b"HTTP/", 5) != 0 or not (CLASS[v[5]] & C_DIGIT)
                or v[6] != 46 or not (CLASS[v[7]] & C_DIGIT)):
            self._fail(400, "malformed HTTP-version")
        if v[5] != 49:
            self._fail(505, "HTTP version %s not supported" % (<bytes>v[:8]).decode("ascii"))
        # RFC 9110 §2.5, §6.2: a higher minor version of HTTP/1 is processed as
        # HTTP/1.1, the highest we conform to (keep-alive, Host, chunked), and
        # answered as HTTP/1.1; http_version keeps what the client sent.
        if v[7] == 48:
            req.minor = 0
            req.http_version = b"HTTP/1.0"
        else:
            req.minor = 1
            req.http_version = b"HTTP/1.1" if v[7] == 49 else PyBytes_FromStringAndSize(<const char *>v, 8)
        req.trailers = []
        self._parse_target(data, target_start, target_end)
        return 0

    cdef int _parse_target(self, const unsigned char *data, Py_ssize_t start, Py_ssize_t end) except -1:
        # RFC 9112 §3.2: origin-form / absolute-form / authority-form / asterisk-form
        cdef Request req = self._req
        cdef const unsigned char *t = data + start
        cdef Py_ssize_t n = end - start, a = 0, path_start, q
        cdef bint connect = (PyBytes_GET_SIZE(req.method) == 7
                             and memcmp(PyBytes_AS_STRING(req.method), b"CONNECT", 7) == 0)
        req.target = PyBytes_FromStringAndSize(<const char *>t, n)
        req.query = b""
        if connect:
            # §3.2.3: CONNECT takes authority-form (uri-host ":" port) and only it.
            if not _valid_authority(t, n, True):
                self._fail(400, "CONNECT needs an authority-form target host:port")
            req.path = b""
            return 0
        if t[0] == 47:  # "/" §3.2.1 origin-form = absolute-path [ "?" query ]
            path_start = 0
        elif n == 1 and t[0] == 42:  # "*" §3.2.4: asterisk-form, OPTIONS only
            if req.method != b"OPTIONS":
                self._fail(400, "asterisk-form target is only for OPTIONS")
            req.path = req.target
            return 0
        else:
            # §3.2.2 absolute-form; only the http and https schemes (RFC 9110 §4.2).
            if n > 7 and _ci_equal(t, 7, b"http://"):
                a = 7
            elif n > 8 and _ci_equal(t, 8, b"https://"):
                a = 8
            else:
                self._fail(400, "request-target is not origin-form or an http(s) URI")
            path_start = a
            while path_start < n and t[path_start] != 47 and t[path_start] != 63:
                path_start += 1
            if not _valid_authority(t + a, path_start - a, False):
                self._fail(400, "invalid authority in absolute-form target")
            # §3.2.2: the target's authority replaces the Host field.
            req.host = PyBytes_FromStringAndSize(<const char *>t + a, path_start - a)
            self._absolute_form = True
        q = path_start
        while q < n and t[q] != 63:  # "?" starts the query
            q += 1
        if q == path_start:
            req.path = b"/"  # RFC 9110 §4.2.3: an empty path is "/"
        elif path_start == 0 and q == n:
            req.path = req.target
        else:
            req.path = PyBytes_FromStringAndSize(<const char *>t + path_start, q - path_start)
        if q < n:
            req.query = PyBytes_FromStringAndSize(<const char *>t + q + 1, n - q - 1)
        return 0

    cdef int _parse_field_line(self, const unsigned char *data, Py_ssize_t start, Py_ssize_t end,
                               bint trailer) except -1:
        # RFC 9112 §5: field-line = field-name ":" OWS field-value OWS
        cdef Py_ssize_t i = start, name_end, value_start, value_end
        cdef bytes name, value
        if end - start > self.max_field_size:
            self._fail(431, "header field longer than %d bytes" % self.max_field_size)
        self._field_count += 1
        if self._field_count > self.max_header_count:
            self._fail(431, "more than %d header fields" % self.max_header_count)
        if _is_ows(data[start]):
            self._fail(400, "obsolete line folding")  # §5.2: obs-fold is refused
        while i < end and CLASS[data[i]] & C_TCHAR:
            i += 1
        if i == end or data[i] != 58:
            if i < end and _is_ows(data[i]):
                # §5.1: no whitespace between field name and colon.
                self._fail(400, "whitespace between field name and colon")
            self._fail(400, "invalid header field name")
        if i == start:
            self._fail(400, "empty header field name")
        name_end = i
        i += 1
        while i < end and _is_ows(data[i]):
            i += 1
        value_start = i
        # RFC 9110 §5.5: field-value bytes are VCHAR, obs-text, SP, HTAB.
        while i < end and CLASS[data[i]] & C_VALUE:
            i += 1
        if i != end:
            self._fail(400, "invalid byte in header field value")
        value_end = end
        while value_end > value_start and _is_ows(data[value_end - 1]):
            value_end -= 1
        if trailer:
            # Trailers are rare and parsed past the head: objects at once.
            self._req.trailers.append((
                _field_name(data + start, name_end - start),
                PyBytes_FromStringAndSize(<const char *>data + value_start, value_end - value_start)))
            return 0
        # Offsets are relative to data[0], the head's first byte (nothing is
        # consumed while a head is incomplete).
        self._add_span(start, name_end - start, value_start, value_end - value_start)
        return self._use_header(data + start, name_end - start, data + value_start,
                                value_end - value_start)

    cdef int _add_span(self, Py_ssize_t name_at, Py_ssize_t name_len, Py_ssize_t value_at,
                       Py_ssize_t value_len) except -1:
        cdef FieldSpan *grown
        if self._nspans == self._spans_cap:
            grown = <FieldSpan *>realloc(self._spans, (self._spans_cap * 2 + 16) * sizeof(FieldSpan))
            if grown == NULL:
                raise MemoryError()
            self._spans = grown
            self._spans_cap = self._spans_cap * 2 + 16
        self._spans[self._nspans] = FieldSpan(<unsigned int>name_at, <unsigned int>name_len,
                                              <unsigned int>value_at, <unsigned int>value_len)
        self._nspans += 1
        return 0

    cdef int _keep_head(self, const unsigned char *data, Py_ssize_t length) except -1:
        """The head is complete: give the request its bytes and field spans."""
        cdef Request req = self._req
        req.raw = PyBytes_FromStringAndSize(<const char *>data, length)
        req.nfields = self._nspans
        if self._nspans:
            req.spans = <FieldSpan *>malloc(self._nspans * sizeof(FieldSpan))
            if req.spans == NULL:
                raise MemoryError()
            memcpy(req.spans, self._spans, self._nspans * sizeof(FieldSpan))
        return 0

    cdef int _use_header(self, const unsigned char *name, Py_ssize_t name_len,
                         const unsigned char *value, Py_ssize_t value_len) except -1:
        cdef Py_ssize_t i
        cdef long long length = 0
        if name_len == 4 and _ci_equal(name, 4, b"host"):
            if self._host_seen:
                self._fail(400, "more than one Host field")  # RFC 9112 §3.2
            if value_len and not _valid_authority(value, value_len, False):
                self._fail(400, "invalid Host field")  # RFC 9110 §7.2
            self._host_seen = True
            self._host_header = PyBytes_FromStringAndSize(<const char *>value, value_len)
        elif name_len == 14 and _ci_equal(name, 14, b"content-length"):
            # RFC 9110 §8.6 Content-Length = 1*DIGIT; RFC 9112 §6.3 item 5: a
            # list or a second field is refused rather than reconciled.
            if self._content_length >= 0:
                self._fail(400, "more than one Content-Length field")
            if value_len == 0 or value_len > MAX_CONTENT_LENGTH_DIGITS:
                self._fail(400, "invalid Content-Length")
            for i in range(value_len):
                if not (CLASS[value[i]] & C_DIGIT):
                    self._fail(400, "invalid Content-Length")
                length = length * 10 + (value[i] - 48)
            self._content_length = length
        elif name_len == 17 and _ci_equal(name, 17, b"transfer-encoding"):
            if self._te_status:
                self._fail(400, "more than one Transfer-Encoding field")
            self._te_status = _transfer_coding_status(value, value_len)
        elif name_len == 10 and _ci_equal(name, 10, b"connection"):
            self._use_connection(value, value_len)
        elif name_len == 6 and _ci_equal(name, 6, b"expect"):
            # RFC 9110 §10.1.1: 100-continue is the only expectation defined.
            if _ci_equal(value, value_len, b"100-continue"):
                self._expect_continue = True
            else:
                self._expect_other = True
        return 0

    cdef int _use_connection(self, const unsigned char *s, Py_ssize_t n) except -1:
        # RFC 9110 §7.6.1 Connection = #connection-option (tokens, any case);
        # §5.6.1: empty list elements are ignored (up to MAX_EMPTY_LIST_ELEMENTS).
        cdef Py_ssize_t i = 0, start, end
        cdef int empty = 0
        while i <= n:
            i = _scan_list_element(s, n, i, &start, &end, &empty)
            if i < 0:
                self._fail(400, "invalid Connection field")
            if _ci_equal(s + start, end - start, b"close"):
                self._conn_close = True
            elif _ci_equal(s + start, end - start, b"keep-alive"):
                self._conn_keep_alive = True
        return 0

    cdef int _finish_head(self) except -1:
        cdef Request req = self._req
        if req.minor == 1 and not self._host_seen:
            self._fail(400, "HTTP/1.1 request without Host")  # RFC 9112 §3.2
        if not self._absolute_form:
            req.host = self._host_header
        if self._te_status:
            # RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing;
            # with Content-Length it is a smuggling vector (§6.3 item 3).
            if req.minor == 0:
                self._fail(400, "Transfer-Encoding in an HTTP/1.0 request")
            if self._content_length >= 0:
                self._fail(400, "both Transfer-Encoding and Content-Length")
            if self._te_status == 501:
                self._fail(501, "transfer coding not implemented")
            if self._te_status != TE_CHUNKED:
                self._fail(400, "invalid Transfer-Encoding")
            req.chunked = True
            req.content_length = -1
            self._state = S_CHUNK_SIZE
        else:
            req.content_length = self._content_length if self._content_length > 0 else 0
            if self.max_body_size > 0 and req.content_length > self.max_body_size:
                self._fail(413, "Content-Length larger than %d" % self.max_body_size)
            self._left = <unsigned long long>req.content_length
            self._state = S_BODY
        if self._expect_other:
            self._fail(417, "unsupported expectation")
        # RFC 9110 §10.1.1: ignore 100-continue in an HTTP/1.0 request.
        req.expect_continue = self._expect_continue and req.minor == 1
        # RFC 9112 §9.3: persistence depends on the version and Connection.
        if req.minor == 1:
            req.keep_alive = not self._conn_close
        else:
            req.keep_alive = self._conn_keep_alive and not self._conn_close
        self.request = req
        self.event = EV_HEAD
        return 0

    # ---- body -------------------------------------------------------------

    cdef Py_ssize_t _parse_length_body(self, Py_ssize_t length) except -1:
        # RFC 9112 §6.2: exactly Content-Length bytes, then the next message.
        cdef Py_ssize_t n
        if self._left == 0:
            self._start_message()
            self.event = EV_DONE
            return 0
        if length == 0:
            self.event = EV_NEED_MORE
            return 0
        n = length if <unsigned long long>length < self._left else <Py_ssize_t>self._left
        self._left -= n
        self.body_start = 0
        self.body_len = n
        self.event = EV_BODY
        return n

    cdef Py_ssize_t _parse_chunked(self, const unsigned char *data, Py_ssize_t length) except -1:
        # RFC 9112 §7.1: chunked-body = *chunk last-chunk trailer-section CRLF.
        # Framing bytes are consumed as they complete; one event per call.
        cdef Py_ssize_t pos = 0, n
        while True:
            if self._state == S_CHUNK_DATA:
                if pos == length:
                    break
                n = length - pos
                if <unsigned long long>n > self._left:
                    n = <Py_ssize_t>self._left
                self._left -= n
                if self._left == 0:
                    self._state = S_CHUNK_CRLF
                self.body_start = pos
                self.body_len = n
                self.event = EV_BODY
                return pos + n
            elif self._state == S_CHUNK_SIZE:
                n = self._parse_chunk_size(data + pos, length - pos)
                if n == 0:
                    break
                pos += n
            elif self._state == S_CHUNK_CRLF:
                # chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
                if length - pos < 2:
                    if length - pos == 1 and data[pos] != CR:
                        self._fail(400, "chunk data not followed by CRLF")
                    break
                if data[pos] != CR or data[pos + 1] != LF:
                    self._fail(400, "chunk data not followed by CRLF")
                pos += 2
                self._state = S_CHUNK_SIZE
            else:
                n = self._parse_trailer_line(data + pos, length - pos)
                if n == 0:
                    break
                pos += n
                if self._state == S_HEAD:
                    self.event = EV_DONE
                    return pos
        self.event = EV_NEED_MORE
        return pos

    cdef Py_ssize_t _parse_chunk_size(self, const unsigned char *data, Py_ssize_t length) except -1:
        # RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF;
        # chunk-size = 1*HEXDIG. Strict: no whitespace, prefixes or signs; the
        # extension (up to MAX_CHUNK_EXT bytes) must match its grammar.
        # Nothing is consumed until the line's LF arrives, so the whole line is
        # validated at once, whatever the split; an incomplete line is only
        # checked for what can already be refused (size digits, length, CR).
        cdef const unsigned char *lf
        cdef Py_ssize_t i = 0, end, eol, limit = MAX_CHUNK_SIZE_DIGITS + 2 + MAX_CHUNK_EXT
        cdef unsigned long long size = 0
        lf = <const unsigned char *>memchr(data + self._line_scan, LF, length - self._line_scan)
        if lf == NULL:
            _refuse_bare_cr(self, data, max(0, self._line_scan - 1), length)
            self._line_scan = length
            while i < length and i <= MAX_CHUNK_SIZE_DIGITS and CLASS[data[i]] & C_HEX:
                i += 1
            if (i > MAX_CHUNK_SIZE_DIGITS or length > limit
                    or (i < length and (i == 0 or (data[i] != 59 and data[i] != CR
                                                   and data[i] != 32 and data[i] != 9)))):
                self._fail(400, "invalid chunk size line")
            return 0
        eol = lf - data
        self._line_scan = 0
        if eol == 0 or data[eol - 1] != CR:
            self._fail(400, "bare LF in chunk size line")
        end = eol - 1
        while i < end and CLASS[data[i]] & C_HEX:
            if i == MAX_CHUNK_SIZE_DIGITS:
                self._fail(400, "chunk size too large")
            size = (size << 4) | HEXVAL[data[i]]
            i += 1
        if i == 0:
            self._fail(400, "invalid chunk size")
        if i < end:
            if end - i > MAX_CHUNK_EXT:
                self._fail(400, "chunk extension longer than %d bytes" % MAX_CHUNK_EXT)
            if not _valid_chunk_ext(data + i, end - i):
                self._fail(400, "invalid chunk extension")
        if self.max_body_size > 0 and (size > <unsigned long long>self.max_body_size
                                       or self._received + size > <unsigned long long>self.max_body_size):
            self._fail(413, "chunked body larger than %d" % self.max_body_size)
        self._received += size
        self._left = size
        self._state = S_CHUNK_DATA if size else S_TRAILER
        return eol + 1

    cdef Py_ssize_t _parse_trailer_line(self, const unsigned char *data, Py_ssize_t length) except -1:
        # RFC 9112 §7.1.2: trailer-section = *( field-line CRLF ), then CRLF.
        # Trailer bytes and fields count against the head's limits.
        cdef const unsigned char *lf
        cdef Py_ssize_t size = length, eol
        lf = <const unsigned char *>memchr(data + self._line_scan, LF, length - self._line_scan)
        if lf == NULL:
            _refuse_bare_cr(self, data, max(0, self._line_scan - 1), length)
            self._line_scan = length
            if size > 0 and data[length - 1] == CR:
                size -= 1
            if size > self.max_field_size:
                self._fail(431, "trailer field longer than %d bytes" % self.max_field_size)
            if self._section_size + length > self.max_header_size:
                self._fail(431, "head and trailers larger than %d bytes" % self.max_header_size)
            return 0
        eol = lf - data
        self._line_scan = 0
        if eol == 0 or data[eol - 1] != CR:
            self._fail(400, "bare LF in trailer section")
        self._section_size += eol + 1
        if self._section_size > self.max_header_size:
            self._fail(431, "head and trailers larger than %d bytes" % self.max_header_size)
        if eol == 1:
            self._start_message()
            return eol + 1
        self._parse_field_line(data, 0, eol - 1, True)
        return eol + 1


cdef int _refuse_bare_cr(RequestParser parser, const unsigned char *data, Py_ssize_t start,
                         Py_ssize_t length) except -1:
    # RFC 9112 §2.2: a CR not followed by LF is refused. data[start:length]
    # holds no LF, so any CR in it but in the last byte is bare. Callers pass
    # only the bytes not searched before, which keeps per-byte feeding linear.
    if start < length - 1 and memchr(data + start, CR, length - 1 - start) != NULL:
        parser._fail(400, "bare CR")
    return 0


cdef bytes _method_bytes(const unsigned char *s, Py_ssize_t n):
    # PERF: reuse the common method objects instead of allocating one per request.
    if n == 3 and memcmp(s, b"GET", 3) == 0:
        return b"GET"
    if n == 4 and memcmp(s, b"POST", 4) == 0:
        return b"POST"
    if n == 4 and memcmp(s, b"HEAD", 4) == 0:
        return b"HEAD"
    return PyBytes_FromStringAndSize(<const char *>s, n)
