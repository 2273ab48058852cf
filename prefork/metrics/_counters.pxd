# The counters a worker keeps for the master (prefork/metrics/_counters.pyx):
# one block of uint64 slots per scoreboard entry, written only by its worker
# (plain increments: one process writes, the master only reads whole aligned
# words) and read by the master, which sums the blocks of live workers and
# keeps the totals of those that exited (prefork/metrics/exposition.py).
#
# TO ADD A COUNTER: add a member to Counter below (before N_COUNTERS), a row
# naming it in FAMILIES (prefork/metrics/exposition.py), and count it where it
# happens with ``count(service.counters, C_YOUR_NAME)`` (or ``add(...)``):
# the helpers do nothing when metrics are off (a NULL block). A test fails
# when a member has no row.
from libc.stdint cimport uint64_t
from libc.string cimport memcmp

cpdef enum Counter:
    # prefork_requests_total{method, status}: C_REQUESTS + method class * 5 + status class
    C_REQUESTS = 0
    # prefork_request_duration_seconds: one slot per bucket of DURATION_BOUNDS
    # (not cumulative; the last is +Inf), then the sum in microseconds
    C_DURATION_BUCKETS = 40
    C_DURATION_SUM_US = 54
    C_IN_FLIGHT = 55                # a gauge: raised and lowered by its worker
    C_CONNECTIONS_OPEN = 56         # a gauge
    C_CONNECTIONS_ACCEPTED = 57
    C_KEEPALIVE_REUSED = 58         # requests on a connection that served one before
    C_BYTES_IN = 59
    C_BYTES_OUT = 60
    # prefork_parse_errors_total{kind}: C_PARSE_ERRORS + parse_error_kind(status)
    C_PARSE_ERRORS = 61
    C_READ_TIMEOUTS = 69            # 408: a head or body arrived too slowly
    C_REQUEST_TIMEOUTS = 70         # past --request-timeout
    C_THREADS_ABANDONED = 71        # --request-timeout: an app thread left to finish
    C_REQUESTS_SHED = 72            # 503 at --max-pending
    # (new counters here)
    N_COUNTERS

cdef enum:
    SLOTS = 128                     # the block's fixed size: N_COUNTERS <= SLOTS
    METHOD_CLASSES = 8              # GET HEAD POST PUT DELETE PATCH OPTIONS other
    STATUS_CLASSES = 5              # 1xx .. 5xx
    DURATION_BUCKETS = 14
    PARSE_ERROR_KINDS = 8


cdef inline void count(uint64_t *block, int slot) noexcept nogil:
    if block != NULL:
        block[slot] += 1


cdef inline void add(uint64_t *block, int slot, long long n) noexcept nogil:
    if block != NULL and n > 0:
        block[slot] += <uint64_t>n


cdef inline void lower(uint64_t *block, int slot) noexcept nogil:
    """A gauge's decrement (its worker raised it before)."""
    if block != NULL:
        block[slot] -= 1


cdef inline int method_class(bytes method):
    """The method's class: the index of its label in METHODS."""
    cdef const char *s = method
    cdef Py_ssize_t n = len(method)
    if n == 3:
        if memcmp(s, b"GET", 3) == 0:
            return 0
        if memcmp(s, b"PUT", 3) == 0:
            return 3
    elif n == 4:
        if memcmp(s, b"HEAD", 4) == 0:
            return 1
        if memcmp(s, b"POST", 4) == 0:
            return 2
    elif n == 6 and memcmp(s, b"DELETE", 6) == 0:
        return 4
    elif n == 5 and memcmp(s, b"PATCH", 5) == 0:
        return 5
    elif n == 7 and memcmp(s, b"OPTIONS", 7) == 0:
        return 6
    return 7


cdef inline int status_class(int status) noexcept nogil:
    if status < 200:
        return 0
    if status >= 500:
        return 4
    return status // 100 - 1


cdef inline int parse_error_kind(int status) noexcept nogil:
    """The label index in PARSE_ERROR_LABELS of a refused request's status."""
    if status == 400:
        return 0
    if status == 413:
        return 1
    if status == 414:
        return 2
    if status == 431:
        return 3
    if status == 501:
        return 4
    if status == 505:
        return 5
    if status == 417:
        return 6
    return 7


cdef inline void count_request(uint64_t *block, bytes method, int status, double seconds):
    """One response: its method and status class, and its duration."""
    cdef int i = 0
    cdef uint64_t micros
    if block == NULL:
        return
    block[<int>C_REQUESTS + method_class(method) * STATUS_CLASSES + status_class(status)] += 1
    # DURATION_BOUNDS (prefork/metrics/_counters.pyx), unrolled as a chain of
    # compares so no table lookup crosses a module.
    if seconds < 0:
        seconds = 0
    if seconds <= 0.001:
        i = 0
    elif seconds <= 0.0025:
        i = 1
    elif seconds <= 0.005:
        i = 2
    elif seconds <= 0.01:
        i = 3
    elif seconds <= 0.025:
        i = 4
    elif seconds <= 0.05:
        i = 5
    elif seconds <= 0.1:
        i = 6
    elif seconds <= 0.25:
        i = 7
    elif seconds <= 0.5:
        i = 8
    elif seconds <= 1.0:
        i = 9
    elif seconds <= 2.5:
        i = 10
    elif seconds <= 5.0:
        i = 11
    elif seconds <= 10.0:
        i = 12
    else:
        i = 13
    block[<int>C_DURATION_BUCKETS + i] += 1
    micros = <uint64_t>(seconds * 1e6)
    block[<int>C_DURATION_SUM_US] += micros
