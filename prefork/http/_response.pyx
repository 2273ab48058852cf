"""Response head serialization: status line, checked headers, framing.

The framing decision (RFC 9112 §6): a Content-Length when the app gives one
or the body length is known, chunked on HTTP/1.1 otherwise, and a
close-delimited body on HTTP/1.0. No body for HEAD, 1xx, 204 and 304
(RFC 9110 §6.4.1). An app's header containing CR, LF or NUL (response
splitting), a name that is not a token, or a hop-by-hop Transfer-Encoding
(PEP 3333) raises ResponseError: the connection answers 500 instead.
"""
from http import HTTPStatus

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_Check
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy
from libc.time cimport gmtime, strftime, time, time_t, tm

cdef extern from "Python.h":
    int PyUnicode_KIND(object o)
    void *PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    int PyUnicode_1BYTE_KIND


class ResponseError(ValueError):
    """The app's status or headers cannot be sent as given."""


# RFC 9110 §5.6.2: tchar.
cdef bytes _TCHARS = (b"!#$%&'*+-.^_`|~0123456789"
                      b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
cdef unsigned char TOKEN[256]
cdef int _i
for _i in range(256):
    TOKEN[_i] = 0
for _i in range(len(_TCHARS)):
    TOKEN[_TCHARS[_i]] = 1


cdef struct Buffer:
    char *data
    Py_ssize_t length
    Py_ssize_t capacity


cdef int buf_reserve(Buffer *b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t need = b.length + extra
    cdef char *grown
    if need <= b.capacity:
        return 0
    while b.capacity < need:
        b.capacity *= 2
    grown = <char *>realloc(b.data, b.capacity)
    if grown == NULL:
        raise MemoryError()
    b.data = grown
    return 0


cdef inline int buf_add(Buffer *b, const char *src, Py_ssize_t n) except -1:
    if b.length + n > b.capacity:
        buf_reserve(b, n)
    memcpy(b.data + b.length, src, n)
    b.length += n
    return 0


cdef inline int buf_add_bytes(Buffer *b, bytes src) except -1:
    return buf_add(b, <const char *>src, len(src))


cdef const unsigned char *latin1(object text, Py_ssize_t *length, str what) except NULL:
    """Borrow the latin-1 bytes of a str (PEP 3333 native strings), or the
    bytes themselves (ASGI's byte strings)."""
    if PyBytes_Check(text):
        length[0] = PyBytes_GET_SIZE(text)
        return <const unsigned char *>PyBytes_AS_STRING(text)
    if not PyUnicode_Check(text):
        raise ResponseError(f"{what} must be str, got {type(text).__name__}: {text!r}")
    if PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND:
        raise ResponseError(f"{what} is not latin-1: {text!r}")
    length[0] = PyUnicode_GET_LENGTH(text)
    return <const unsigned char *>PyUnicode_DATA(text)


cdef bint lower_equals(const unsigned char *s, Py_ssize_t n, const char *lower):
    cdef Py_ssize_t i
    for i in range(n):
        if lower[i] == 0 or (s[i] | 0x20) != <unsigned char>lower[i]:
            return False
    return lower[n] == 0


cdef bint has_close_token(const unsigned char *s, Py_ssize_t n):
    """True if the comma-separated list contains the token "close"."""
    cdef Py_ssize_t i = 0, start, end
    while i < n:
        while i < n and (s[i] == 32 or s[i] == 9 or s[i] == 44):
            i += 1
        start = i
        while i < n and s[i] != 44:
            i += 1
        end = i
        while end > start and (s[end - 1] == 32 or s[end - 1] == 9):
            end -= 1
        if lower_equals(s + start, end - start, b"close"):
            return True
    return False


cdef long long parse_length(const unsigned char *s, Py_ssize_t n) except -2:
    cdef long long value = 0
    cdef Py_ssize_t i
    if n == 0 or n > 18:
        return -1
    for i in range(n):
        if s[i] < 48 or s[i] > 57:
            return -1
        value = value * 10 + (s[i] - 48)
    return value


cdef dict STATUS_LINES = {}


cdef str status_line(int code):
    """ "200 OK" for 200: an ASGI status is a bare int."""
    line = STATUS_LINES.get(code)
    if line is None:
        if not 100 <= code <= 999:
            raise ResponseError(f"status code out of range: {code!r}")
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = ""
        line = STATUS_LINES[code] = f"{code} {phrase}"
    return line


cdef class HeadBuilder:
    """Builds response heads for one worker; owns the cached Date line."""

    def __init__(self, server_name=None):
        self.server_line = (b"Server: " + server_name.encode("latin-1") + b"\r\n"
                            if server_name else b"")
        self.date_second = -1
        self.date_line = b""
        self.content_length = -1

    cdef bytes date(self):
        cdef time_t now = time(NULL)
        cdef char text[64]
        cdef tm *parts
        cdef size_t n
        if now != self.date_second:
            parts = gmtime(&now)
            n = strftime(text, sizeof(text), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", parts)
            self.date_line = PyBytes_FromStringAndSize(text, n)
            self.date_second = now
        return self.date_line

    cdef bytes build(self, int minor, object status, list headers,
                     long long known_length, bint keep_alive, bint head_request):
        """Serialize a head. ``known_length`` is the body length when the
        server knows it (-1 otherwise). Sets the result fields."""
        cdef Buffer b
        cdef const unsigned char *s
        cdef const unsigned char *name
        cdef const unsigned char *value
        cdef Py_ssize_t slen, nlen, vlen, i
        cdef int code
        cdef long long declared = -1
        cdef bint app_close = False

        if type(status) is int:
            status = status_line(status)
        s = latin1(status, &slen, "status")
        if slen < 3 or not (48 <= s[0] <= 57 and 48 <= s[1] <= 57 and 48 <= s[2] <= 57) \
                or (slen > 3 and s[3] != 32):
            raise ResponseError(f"status must be 'NNN Reason', got {status!r}")
        for i in range(slen):
            if s[i] < 32 and s[i] != 9 or s[i] == 127:
                raise ResponseError(f"control character in status {status!r}")
        code = (s[0] - 48) * 100 + (s[1] - 48) * 10 + (s[2] - 48)
        if code < 100:
            raise ResponseError(f"status code out of range: {status!r}")

        b.capacity = 256
        b.length = 0
        b.data = <char *>malloc(b.capacity)
        if b.data == NULL:
            raise MemoryError()
        try:
            buf_add(&b, b"HTTP/1.1 " if minor else b"HTTP/1.0 ", 9)
            buf_add(&b, <const char *>s, slen)
            buf_add(&b, b"\r\n", 2)
            for item in headers:
                if (type(item) is not tuple and type(item) is not list) or len(item) != 2:
                    raise ResponseError(f"header must be a (name, value) pair, got {item!r}")
                name = latin1(item[0], &nlen, "header name")
                value = latin1(item[1], &vlen, "header value")
                if nlen == 0:
                    raise ResponseError("empty header name")
                for i in range(nlen):
                    if not TOKEN[name[i]]:
                        raise ResponseError(f"header name is not a token: {item[0]!r}")
                for i in range(vlen):
                    # CR, LF and NUL would split the response; other CTLs
                    # (except HTAB) are invalid field content (RFC 9110 §5.5).
                    if (value[i] < 32 and value[i] != 9) or value[i] == 127:
                        raise ResponseError(f"control character in header {item[0]!r}: {item[1]!r}")
                if nlen == 14 and lower_equals(name, nlen, b"content-length"):
                    declared = parse_length(value, vlen)
                    if declared < 0:
                        raise ResponseError(f"invalid Content-Length from app: {item[1]!r}")
                elif nlen == 10 and lower_equals(name, nlen, b"connection"):
                    app_close = has_close_token(value, vlen)
                    continue    # the server writes its own Connection header
                elif nlen == 17 and lower_equals(name, nlen, b"transfer-encoding"):
                    raise ResponseError("Transfer-Encoding is hop-by-hop; the server frames the body (PEP 3333)")
                buf_reserve(&b, nlen + vlen + 4)
                buf_add(&b, <const char *>name, nlen)
                buf_add(&b, b": ", 2)
                buf_add(&b, <const char *>value, vlen)
                buf_add(&b, b"\r\n", 2)

            self.status_code = code
            self.chunked = False
            self.content_length = -1
            self.send_body = not (head_request or code < 200 or code == 204 or code == 304)
            if app_close:
                keep_alive = False
            if code < 200 or code == 204 or code == 304:
                self.content_length = declared if declared >= 0 else 0
            elif declared >= 0:
                self.content_length = declared
            elif known_length >= 0:
                self.content_length = known_length
                buf_add(&b, b"Content-Length: ", 16)
                buf_add_bytes(&b, str(known_length).encode())
                buf_add(&b, b"\r\n", 2)
            elif head_request:
                pass    # length unknown; no body follows a HEAD response anyway
            elif minor >= 1:
                self.chunked = True
                buf_add(&b, b"Transfer-Encoding: chunked\r\n", 28)
            else:
                keep_alive = False      # HTTP/1.0: the body ends when the connection closes
            self.keep_alive = keep_alive
            if not keep_alive:
                buf_add(&b, b"Connection: close\r\n", 19)
            elif minor == 0:
                buf_add(&b, b"Connection: keep-alive\r\n", 24)
            buf_add_bytes(&b, self.date())
            buf_add_bytes(&b, self.server_line)
            buf_add(&b, b"\r\n", 2)
            return PyBytes_FromStringAndSize(b.data, b.length)
        finally:
            free(b.data)

    def build_head(self, int minor, status, list headers, long long known_length=-1,
                   bint keep_alive=True, bint head_request=False):
        """Python-level build() for tests and benchmarks: returns
        (head bytes, keep_alive, chunked, send_body, content_length)."""
        head = self.build(minor, status, headers, known_length, keep_alive, head_request)
        return head, self.keep_alive, self.chunked, self.send_body, self.content_length
