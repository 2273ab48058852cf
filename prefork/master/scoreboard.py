"""The scoreboard: one shared-memory table with an entry per worker, made by
the master before its first fork, so every worker of every generation sees
every other (Apache httpd's name for the same idea).

Layout: a 64-byte header, then 64-byte entries (one cache line each, so a
worker's stores do not slow its siblings' reads):
  header  0  uint32  entries in use: no entry at or past this index is live
  entry   0  uint32  pid of the worker (0: a free entry)
          4  uint32  connections it holds open
          8  double  monotonic time its loop began its current batch of
                     events, 0 while it waits for events (prefork/worker/
                     _service.pyx, on_batch_start / end_batch)
         16  uint8   1 while it accepts connections
The master claims and frees entries; each worker writes only its own.
Workers read their siblings' entries to share a burst of connections
fairly (prefork/worker/_service.pyx, Acceptor.fair_share).
"""
import mmap
import struct

HEADER = 64
ENTRY = 64
CAPACITY = 1024                 # workers alive at once, all generations together

_USED = struct.Struct("I")
_PID = struct.Struct("I")
_PID_CONNECTIONS = struct.Struct("II")


class Scoreboard:
    def __init__(self, capacity=CAPACITY):
        self.capacity = capacity
        self.mem = mmap.mmap(-1, HEADER + ENTRY * capacity)    # anonymous, MAP_SHARED

    def claim(self, pid):
        """A free entry for a worker about to be forked (``pid``: the
        master's until set_pid()); returns its index."""
        for index in range(self.capacity):
            offset = HEADER + ENTRY * index
            if _PID_CONNECTIONS.unpack_from(self.mem, offset)[0] == 0:
                self.mem[offset:offset + ENTRY] = bytes(ENTRY)
                _PID_CONNECTIONS.pack_into(self.mem, offset, pid, 0)
                used = _USED.unpack_from(self.mem, 0)[0]
                if index >= used:
                    _USED.pack_into(self.mem, 0, index + 1)
                return index
        raise RuntimeError(f"more than {self.capacity} workers at once")

    def set_pid(self, index, pid):
        _PID.pack_into(self.mem, HEADER + ENTRY * index, pid)

    def free(self, index):
        offset = HEADER + ENTRY * index
        self.mem[offset:offset + ENTRY] = bytes(ENTRY)

    def connections(self, index):
        return _PID_CONNECTIONS.unpack_from(self.mem, HEADER + ENTRY * index)[1]

    def buffer(self):
        """The whole table, for HTTPService.set_scoreboard()."""
        return memoryview(self.mem)
