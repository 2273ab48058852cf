"""The heartbeat word in shared memory: never read half-written, and a
reading that cannot be a beat of this host's clock is "unknown", which the
master never takes for silence."""
import os
import time

from prefork.master.heartbeat import Slot


def test_a_reader_in_another_process_never_sees_a_torn_beat():
    slot = Slot()
    pid = os.fork()
    if pid == 0:                        # the writer: beat as fast as it can for 1.5 s
        try:
            end = time.monotonic() + 1.5
            while time.monotonic() < end:
                for _ in range(1000):
                    slot.beat()
        finally:
            os._exit(0)
    try:
        reads = bad = 0
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            for _ in range(1000):
                silence = slot.silence()
                if silence is None or not 0.0 <= silence < 0.5:
                    bad += 1
            reads += 1000
    finally:
        os.waitpid(pid, 0)
    assert reads > 200_000
    assert bad == 0, f"{bad} impossible readings in {reads}"


def test_a_fresh_slot_has_just_beaten():
    silence = Slot().silence()
    assert silence is not None and silence < 0.1


def test_an_impossible_reading_is_unknown_not_silence():
    slot = Slot()
    slot.heartbeat.store(0)                                   # never written
    assert slot.silence() is None
    slot.heartbeat.store(time.monotonic_ns() + 60 * 10**9)    # later than now
    assert slot.silence() is None
    slot.heartbeat.store(2**64 - 1)
    assert slot.silence() is None
    slot.heartbeat.store(time.monotonic_ns() - 5 * 10**9)     # a real, old beat
    assert 4.9 < slot.silence() < 6.0
