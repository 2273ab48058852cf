"""The scoreboard: one shared-memory table with an entry per worker, made by
the master before its first fork, so every worker of every generation sees
every other (Apache httpd's name for the same idea).

Layout: a 64-byte header, then 64-byte entries (one cache line each, so a
worker's stores do not slow its siblings' reads), then a block of counters
per entry:
  header  0  uint32  entries in use: no entry at or past this index is live
          4  uint8   the server's state (SERVER_*), written by the master:
                     what a --ready-path probe answers (prefork/worker/_service.pyx)
  entry   0  uint32  pid of the worker (0: a free entry)
          4  uint32  connections it holds open
          8  double  monotonic time its loop began its current batch of
                     events, 0 while it waits for events (prefork/worker/
                     _service.pyx, on_batch_start / end_batch)
         16  uint8   1 while it accepts connections
  counters  BLOCK_BYTES per entry: uint64 slots (prefork/metrics/_counters.pxd),
            incremented by the entry's worker when --metrics-bind is on; the
            master sums them and, before it frees an entry, keeps its totals
            (prefork/metrics/exposition.py), so a sum never goes backwards
The master claims and frees entries; each worker writes only its own.
Workers read their siblings' entries to share a burst of connections
fairly (prefork/worker/_service.pyx, Acceptor.fair_share).
"""
import mmap
import struct

from prefork.metrics._counters import BLOCK_BYTES, BLOCK_SLOTS

HEADER = 64
ENTRY = 64
CAPACITY = 1024                 # workers alive at once, all generations together

SERVER_STARTING, SERVER_READY, SERVER_STOPPING = 0, 1, 2
STATE = 4

_USED = struct.Struct("I")
_BLOCK = struct.Struct(f"{BLOCK_SLOTS}Q")
_PID = struct.Struct("I")
_PID_CONNECTIONS = struct.Struct("II")


class Scoreboard:
    def __init__(self, capacity=CAPACITY):
        self.capacity = capacity
        self.counters_at = HEADER + ENTRY * capacity
        # Anonymous, MAP_SHARED; pages of unused counter blocks are never touched.
        self.mem = mmap.mmap(-1, self.counters_at + BLOCK_BYTES * capacity)

    def claim(self, pid):
        """A free entry for a worker about to be forked (``pid``: the
        master's until set_pid()); returns its index."""
        for index in range(self.capacity):
            offset = HEADER + ENTRY * index
            if _PID_CONNECTIONS.unpack_from(self.mem, offset)[0] == 0:
                self.mem[offset:offset + ENTRY] = bytes(ENTRY)
                self.clear_counters(index)
                _PID_CONNECTIONS.pack_into(self.mem, offset, pid, 0)
                used = _USED.unpack_from(self.mem, 0)[0]
                if index >= used:
                    _USED.pack_into(self.mem, 0, index + 1)
                return index
        raise RuntimeError(f"more than {self.capacity} workers at once")

    def set_pid(self, index, pid):
        _PID.pack_into(self.mem, HEADER + ENTRY * index, pid)

    def free(self, index):
        """Forget an exited worker's entry (its counters: read them first)."""
        offset = HEADER + ENTRY * index
        self.mem[offset:offset + ENTRY] = bytes(ENTRY)
        self.clear_counters(index)

    def set_state(self, state):
        self.mem[STATE] = state

    @property
    def state(self):
        return self.mem[STATE]

    def used(self):
        return _USED.unpack_from(self.mem, 0)[0]

    def counter_block(self, index):
        """The entry's counters, writable: for HTTPService.set_counters()."""
        at = self.counters_at + BLOCK_BYTES * index
        return memoryview(self.mem)[at:at + BLOCK_BYTES]

    def counters(self, index):
        """The entry's counters as a tuple of BLOCK_SLOTS ints."""
        return _BLOCK.unpack_from(self.mem, self.counters_at + BLOCK_BYTES * index)

    def clear_counters(self, index):
        at = self.counters_at + BLOCK_BYTES * index
        self.mem[at:at + BLOCK_BYTES] = bytes(BLOCK_BYTES)

    def connections(self, index):
        return _PID_CONNECTIONS.unpack_from(self.mem, HEADER + ENTRY * index)[1]

    def buffer(self):
        """The whole table, for HTTPService.set_scoreboard()."""
        return memoryview(self.mem)
