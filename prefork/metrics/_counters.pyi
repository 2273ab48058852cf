"""The per-worker counter block: slot indices and the labels of slot ranges."""
import enum

class Counter(enum.IntEnum):
    """Slots of a worker's block (declared in _counters.pxd)."""
    C_REQUESTS: int
    C_DURATION_BUCKETS: int
    C_DURATION_SUM_US: int
    C_IN_FLIGHT: int
    C_CONNECTIONS_OPEN: int
    C_CONNECTIONS_ACCEPTED: int
    C_KEEPALIVE_REUSED: int
    C_BYTES_IN: int
    C_BYTES_OUT: int
    C_PARSE_ERRORS: int
    C_READ_TIMEOUTS: int
    N_COUNTERS: int

BLOCK_SLOTS: int        # uint64 slots per worker block
BLOCK_BYTES: int
METHODS: tuple[str, ...]            # method classes, in slot order
STATUSES: tuple[str, ...]           # status classes, in slot order
DURATION_BOUNDS: tuple[float, ...]  # histogram bucket upper bounds (seconds); +Inf implied
PARSE_ERROR_LABELS: tuple[str, ...]
