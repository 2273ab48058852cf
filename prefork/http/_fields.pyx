"""Field-value grammar the response cache needs, in C: HTTP-dates, list
elements, weights. Each function quotes the rule it follows; none allocates.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE


cdef int month_number(const unsigned char *s) noexcept nogil:
    cdef const char *months = b"janfebmaraprmayjunjulaugsepoctnovdec"
    cdef int k
    for k in range(12):
        if (s[0] | 0x20) == months[3 * k] and (s[1] | 0x20) == months[3 * k + 1] \
                and (s[2] | 0x20) == months[3 * k + 2]:
            return k + 1
    return 0


cdef long long days_from_civil(long long y, int m, int d) noexcept nogil:
    # Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm).
    y -= m <= 2
    cdef long long era = (y if y >= 0 else y - 399) // 400
    cdef long long yoe = y - era * 400
    cdef long long doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    cdef long long doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef int read_int(const unsigned char *s, Py_ssize_t n, Py_ssize_t *pos, int max_digits) noexcept nogil:
    cdef int value = 0, digits = 0
    while pos[0] < n and 48 <= s[pos[0]] <= 57 and digits < max_digits:
        value = value * 10 + s[pos[0]] - 48
        pos[0] += 1
        digits += 1
    return value if digits else -1


cdef double parse_http_date(const unsigned char *s, Py_ssize_t n) noexcept nogil:
    """Epoch seconds of an HTTP-date, -1 if it is not one. RFC 9110 §5.6.7:
    IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", and the obsolete
    "Sunday, 06-Nov-94 08:49:37 GMT" and "Sun Nov  6 08:49:37 1994"."""
    cdef Py_ssize_t p = 0
    cdef int day, month, year, hh, mm, ss
    while p < n and ((s[p] | 0x20) >= 97 and (s[p] | 0x20) <= 122):
        p += 1                                  # day-name, ignored
    if p < n and s[p] == 44:
        p += 1
    while p < n and s[p] == 32:
        p += 1
    if p < n and 48 <= s[p] <= 57:              # IMF-fixdate or RFC 850
        day = read_int(s, n, &p, 2)
        if p + 5 > n:
            return -1
        month = month_number(s + p + 1)
        p += 4
        if s[p] != 32 and s[p] != 45:
            return -1
        p += 1
        year = read_int(s, n, &p, 4)
        if 0 <= year < 100:                     # RFC 850's two-digit year
            year += 2000 if year < 70 else 1900
    elif p + 3 <= n:                            # asctime
        month = month_number(s + p)
        p += 3
        while p < n and s[p] == 32:
            p += 1
        day = read_int(s, n, &p, 2)
        year = 0
    else:
        return -1
    while p < n and s[p] == 32:
        p += 1
    hh = read_int(s, n, &p, 2)
    if p >= n or s[p] != 58:
        return -1
    p += 1
    mm = read_int(s, n, &p, 2)
    if p >= n or s[p] != 58:
        return -1
    p += 1
    ss = read_int(s, n, &p, 2)
    if year == 0:
        while p < n and s[p] == 32:
            p += 1
        year = read_int(s, n, &p, 4)
    if month == 0 or not (1 <= day <= 31) or year < 1970 or hh < 0 or hh > 23 \
            or mm < 0 or mm > 59 or ss < 0 or ss > 60:
        return -1
    return <double>(days_from_civil(year, month, day) * 86400 + hh * 3600 + mm * 60 + ss)


cdef Py_ssize_t next_element(const unsigned char *s, Py_ssize_t n, Py_ssize_t p,
                             Py_ssize_t *start, Py_ssize_t *end) noexcept nogil:
    """One element of a comma-separated list (RFC 9110 §5.6.1), OWS trimmed,
    commas inside a quoted string kept. Returns the position after it."""
    cdef bint quoted = False
    while p < n and (is_ows(s[p]) or s[p] == 44):
        p += 1
    start[0] = p
    while p < n and (quoted or s[p] != 44):
        if s[p] == 34:
            quoted = not quoted
        elif s[p] == 92 and quoted and p + 1 < n:
            p += 1
        p += 1
    end[0] = p
    while end[0] > start[0] and is_ows(s[end[0] - 1]):
        end[0] -= 1
    return p


cdef bint q_is_zero(const unsigned char *s, Py_ssize_t n) noexcept nogil:
    """True if the parameters (after a coding) hold q=0, 0., 0.0, ... (RFC 9110 §12.4.2)."""
    cdef Py_ssize_t p = 0
    while p + 1 < n:
        if (s[p] | 0x20) == 113 and s[p + 1] == 61 and (p == 0 or s[p - 1] == 59 or is_ows(s[p - 1])):
            p += 2
            if p >= n or s[p] != 48:
                return False
            p += 1
            if p < n and s[p] == 46:
                p += 1
            while p < n and s[p] == 48:
                p += 1
            return p >= n or s[p] == 59 or is_ows(s[p])
        p += 1
    return False



def http_date(value):
    """Epoch seconds of an HTTP-date (bytes or str), None if it is not one.
    The policy (prefork/cache/policy.py) uses it so that it reads dates exactly as
    the compiled conditional-request check does."""
    cdef double t
    if isinstance(value, str):
        value = value.encode("latin-1", "replace")
    t = parse_http_date(<const unsigned char *>PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value))
    return None if t < 0 else t
