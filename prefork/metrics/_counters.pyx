"""The per-worker counter block (the slots are declared in _counters.pxd, the
``Counter`` enum, once) and the labels the master gives its slot ranges.

Python sees ``Counter`` as an IntEnum; the compiled hot path uses the same
members as C constants, through the inline helpers of the .pxd (a plain
increment guarded by one NULL test: nothing is counted, and nothing is
paid but that test, when ``--metrics-bind`` is off).
"""

BLOCK_SLOTS = SLOTS
BLOCK_BYTES = SLOTS * 8
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other")
STATUSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
# Upper bounds of the duration histogram's buckets, in seconds (the last, +Inf, is implied).
DURATION_BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PARSE_ERROR_LABELS = ("bad_request", "body_too_large", "target_too_long", "head_too_large",
                      "not_implemented", "version", "expectation", "other")

assert N_COUNTERS <= SLOTS, "Counter outgrew the block: raise SLOTS in _counters.pxd"
assert len(METHODS) == METHOD_CLASSES and len(STATUSES) == STATUS_CLASSES
assert len(DURATION_BOUNDS) + 1 == DURATION_BUCKETS and len(PARSE_ERROR_LABELS) == PARSE_ERROR_KINDS
assert C_REQUESTS + METHOD_CLASSES * STATUS_CLASSES <= C_DURATION_BUCKETS
assert C_DURATION_BUCKETS + DURATION_BUCKETS <= C_DURATION_SUM_US
assert C_PARSE_ERRORS + PARSE_ERROR_KINDS <= C_READ_TIMEOUTS
