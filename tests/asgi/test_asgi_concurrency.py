"""One ASGI worker holds 10,000 requests at once, each awaiting
asyncio.sleep, and answers them all.

The 10,000 connections are opened first (a Python client opens them at a
few thousand a second); then every request is sent at once. What is
asserted is the concurrency itself, not a time (the client's own speed
depends on the machine's load): the app counts how many requests sleep at
the same moment, and all 10,000 must have. The time from the first request
to the last answer, side by side with other servers, is measured in
bench/asgi_concurrency.py.
"""
import asyncio
import resource
import threading
import time

from children_memory import rss_kib
from procs import wait_for, workers
from wire import app_stats

COUNT = 10_000
# Long enough that the last request is sent before the first one wakes,
# however slowly the client writes on a loaded machine.
SLEEP = 4


async def many_requests(port, count):
    """(answered, seconds from the first request sent to the last answer)."""
    streams = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port)
                                     for _ in range(count)))
    started = time.monotonic()
    for _, writer in streams:
        writer.write(b"GET /sleep?s=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % SLEEP)

    async def answer(reader, writer):
        data = await reader.read()
        writer.close()
        return data.startswith(b"HTTP/1.1 200") and data.endswith(b"slept")

    results = await asyncio.gather(*(answer(reader, writer) for reader, writer in streams))
    return results.count(True), time.monotonic() - started


def test_one_worker_holds_10000_waiting_requests_at_once(server_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = server_factory("asgi_probe:app", "--workers", "1", "--max-connections", "12000",
                            "--backlog", "4096", "--log-level", "warning")
    worker = wait_for(lambda: workers(server.pid))[0]
    assert app_stats(server)["calls"] >= 0         # the app is imported and serving
    idle_kib = rss_kib(worker)
    peak = [idle_kib]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(worker))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        answered, took = asyncio.run(many_requests(server.port, COUNT))
    finally:
        done.set()
        watcher.join()
    assert answered == COUNT
    stats = app_stats(server)
    assert stats["sleeping_max"] == COUNT, stats      # every one asleep at the same time
    assert stats["sleeping"] == 0
    per_request = (peak[0] - idle_kib) * 1024 / COUNT
    print(f"\n{COUNT} requests in {took:.2f}s; {per_request:.0f} bytes per request in flight")
    assert per_request < 16 * 1024
