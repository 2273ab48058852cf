"""Spend a fixed amount of CPU time, the stand-in for an expensive page."""
import time

BURN_NS = 2_000_000  # about 2 ms of CPU per request


def burn_cpu(ns=BURN_NS):
    # thread_time counts only this thread's CPU, so time spent descheduled
    # (another worker or wrk holding the core) does not shorten the burn.
    deadline = time.thread_time_ns() + ns
    spins = 0
    while time.thread_time_ns() < deadline:
        spins += 1
    return spins
