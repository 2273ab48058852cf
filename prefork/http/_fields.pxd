# C interface of the field-value helpers (prefork/http/_fields.pyx): the small
# pieces of RFC 9110 grammar the cache reads in requests and responses.

cdef inline bint is_ows(unsigned char c) noexcept nogil:
    return c == 32 or c == 9        # SP / HTAB (RFC 9110 §5.6.3)


cdef inline unsigned char lc(unsigned char c) noexcept nogil:
    return c + 32 if 65 <= c <= 90 else c


cdef inline bint lower_is(const unsigned char *s, Py_ssize_t n, const char *lower, Py_ssize_t m) noexcept nogil:
    # s (any case) equals `lower` (lowercase): field names are case-insensitive (RFC 9110 §5.1).
    cdef Py_ssize_t k
    if n != m:
        return False
    for k in range(n):
        if lc(s[k]) != <unsigned char>lower[k]:
            return False
    return True


# Epoch seconds of an HTTP-date in any of its three forms; -1 if it is not one.
cdef double parse_http_date(const unsigned char *s, Py_ssize_t n) noexcept nogil
# One element of a comma-separated list from position p: its bounds, OWS
# trimmed, quoted commas kept; returns the position after it.
cdef Py_ssize_t next_element(const unsigned char *s, Py_ssize_t n, Py_ssize_t p,
                             Py_ssize_t *start, Py_ssize_t *end) noexcept nogil
# The parameters after a list element's value hold a weight of zero (q=0).
cdef bint q_is_zero(const unsigned char *s, Py_ssize_t n) noexcept nogil
