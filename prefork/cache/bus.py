"""The invalidation bus: how a worker hands an invalidation to the relay
process (prefork/cache/redis_bus.py), which publishes it to the other hosts.

A worker that drops something from a shared store (an unsafe request's
invalidation, a PURGE, a tag purge, prefork.shared's set, delete and clear,
a @shared_lru_cache's cache_clear) has already dropped it here; ``send``
then writes one record into a pipe the master made before forking, and
returns. The write never blocks: the pipe is non-blocking on the workers'
side, 1 MiB deep, and a record is at most PIPE_BUF bytes, so records from
several workers never interleave (POSIX makes such writes atomic). If the
pipe is full (the relay is stuck), the record is dropped and a flag in
shared memory tells the relay to have every host drop everything instead:
an invalidation may be coarsened, never lost.

A record: 2-byte little-endian length, then an op byte and its payload:
    U host\\ntarget   an unsafe method invalidated a URI
    P host\\ntarget   PURGE of a URI
    T tag tag ...    tag purge
    C                drop the whole response cache
    D key            prefork.shared set/add/delete of a key
    X                prefork.shared clear()
    G name           @shared_lru_cache cache_clear() (8-byte name hash)
A record too long for one atomic write becomes C (response cache) or X
(app store).
"""
import mmap
import os
import select

PIPE_BUF = select.PIPE_BUF
F_SETPIPE_SZ = 1031             # fcntl.h (Linux)
PIPE_SIZE = 1 << 20
RESPONSE_OPS = frozenset(b"UPTC")


class InvalidationBus:
    def __init__(self):
        self.read_fd, self.write_fd = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(self.write_fd, False)
        try:
            import fcntl
            fcntl.fcntl(self.write_fd, F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:
            pass        # above /proc/sys/fs/pipe-max-size: the default depth
        self.overflow = mmap.mmap(-1, mmap.PAGESIZE)     # anonymous, shared with the relay
        self.pending = b""          # the relay's partial record

    def send(self, op, payload):
        """Hand one invalidation to the relay; never waits."""
        record = op + payload
        if len(record) + 2 > PIPE_BUF:
            record = b"C" if op[0] in RESPONSE_OPS else b"X"
        try:
            os.write(self.write_fd, len(record).to_bytes(2, "little") + record)
        except BlockingIOError:
            self.overflow[0] = 1

    # -- the relay's side ------------------------------------------------

    def take_overflow(self):
        """True once after the pipe overflowed: publish "drop everything"."""
        if self.overflow[0]:
            self.overflow[0] = 0
            return True
        return False

    def receive(self, timeout):
        """The complete records written so far (waits up to ``timeout``
        seconds for the first); [] on a timeout; None once every writer
        is gone (the master and its workers exited)."""
        ready, _, _ = select.select([self.read_fd], [], [], timeout)
        if not ready:
            return []
        data = os.read(self.read_fd, PIPE_SIZE)
        if not data:
            return None
        data = self.pending + data
        records, at = [], 0
        while at + 2 <= len(data):
            size = int.from_bytes(data[at:at + 2], "little")
            if at + 2 + size > len(data):
                break
            records.append(data[at + 2:at + 2 + size])
            at += 2 + size
        self.pending = data[at:]
        return records
