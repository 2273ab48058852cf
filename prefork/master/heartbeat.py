"""Worker liveness in shared memory: one anonymous shared mmap per worker,
created by the master before fork, so both processes see the same page.

Layout of a slot (offsets in bytes):
  0   double   last heartbeat, time.monotonic() (CLOCK_MONOTONIC is one clock
               for every process on the host)
  8   byte     1 once the worker has loaded the app and accepts connections
  9   byte     1 when the worker asks to be replaced (max-requests)
  64  char[]   "METHOD target" of the request the app is running, NUL-terminated
               (written by HTTPService.set_status_slot); empty between requests
Only the worker writes a slot after fork; the master only reads it.
"""
import mmap
import struct
import time

_BEAT = struct.Struct("d")
READY, RETIRE = 8, 9
STATUS_START, STATUS_END = 64, 576
SIZE = mmap.PAGESIZE


class Slot:
    def __init__(self):
        self.mem = mmap.mmap(-1, SIZE)      # anonymous, MAP_SHARED
        self.beat()

    # -- written by the worker -------------------------------------------

    def beat(self):
        _BEAT.pack_into(self.mem, 0, time.monotonic())

    def mark_ready(self):
        self.mem[READY] = 1

    def ask_to_retire(self):
        self.mem[RETIRE] = 1

    def status_buffer(self):
        """The writable window given to HTTPService.set_status_slot()."""
        return memoryview(self.mem)[STATUS_START:STATUS_END]

    # -- read by the master ----------------------------------------------

    def silence(self, now=None):
        """Seconds since the last heartbeat."""
        return (now if now is not None else time.monotonic()) - _BEAT.unpack_from(self.mem, 0)[0]

    @property
    def ready(self):
        return self.mem[READY] == 1

    @property
    def retiring(self):
        return self.mem[RETIRE] == 1

    def status(self):
        raw = self.mem[STATUS_START:STATUS_END]
        return raw.split(b"\0", 1)[0].decode("latin-1")

    def close(self):
        self.mem.close()
