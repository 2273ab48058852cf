"""Worker liveness in shared memory: one anonymous shared mmap per worker,
created by the master before fork, so both processes see the same page.

Layout of a slot (offsets in bytes):
  0   uint64   last heartbeat: CLOCK_MONOTONIC in nanoseconds (one clock for
               every process on the host), written by the worker's loop at
               the end of an iteration and read by the master, each as one
               aligned 8-byte word (prefork/worker/_loop.pyx, Heartbeat), so
               a reading is never half old, half new
  8   byte     1 once the worker has loaded the app and accepts connections
  9   byte     1 when the worker asks to be replaced (max-requests)
  10  byte     how the master asks it to stop (STOP_*), written before the
               SIGTERM that tells the worker to read it
  11  byte     the STOP_* value the worker last acted on (its answer)
  64  char[]   "METHOD target" of the request the app is running, NUL-terminated
               (written by HTTPService.set_status_slot); empty between requests
After fork, the master writes only the stop mode; the worker writes the rest.
"""
import mmap

from prefork.worker._loop import Heartbeat

READY, RETIRE, STOP_MODE, STOP_ACK = 8, 9, 10, 11

# How a worker stops, from the mildest (prefork/worker/process.py acts on it):
STOP_NONE = 0           # serve normally
STOP_KEEPALIVE = 1      # --shutdown-delay: keep accepting and serving, with Connection: close
STOP_RETIRE = 2         # drain and leave the listeners to the others (reload, scale-down)
STOP_SERVER = 3         # drain, accepting until the master shuts the listeners down
STATUS_START, STATUS_END = 64, 576
SIZE = mmap.PAGESIZE


class Slot:
    def __init__(self):
        self.mem = mmap.mmap(-1, SIZE)      # anonymous, MAP_SHARED
        self.heartbeat = Heartbeat(memoryview(self.mem)[0:8])
        self.heartbeat.beat()               # a worker's boot counts from its fork

    # -- written by the worker -------------------------------------------

    def beat(self):
        self.heartbeat.beat()

    def mark_ready(self):
        self.mem[READY] = 1

    def ask_to_retire(self):
        self.mem[RETIRE] = 1

    def acknowledge_stop(self, mode):
        self.mem[STOP_ACK] = mode

    @property
    def stop_mode(self):
        return self.mem[STOP_MODE]

    def status_buffer(self):
        """The writable window given to HTTPService.set_status_slot()."""
        return memoryview(self.mem)[STATUS_START:STATUS_END]

    # -- used by the master ------------------------------------------------

    def ask_to_stop(self, mode):
        """Record how the worker is to stop (never milder than asked before);
        the master then sends SIGTERM."""
        self.mem[STOP_MODE] = max(mode, self.mem[STOP_MODE])

    @property
    def stop_acknowledged(self):
        """The worker acts on the stop mode it was last asked for."""
        return self.mem[STOP_ACK] == self.mem[STOP_MODE]

    def silence(self):
        """Seconds since the last heartbeat, or None when the reading is
        impossible (the master then knows nothing, which is not silence)."""
        return self.heartbeat.silence()

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
        self.heartbeat = None           # releases its view of the mapping
        self.mem.close()
