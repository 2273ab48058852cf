"""One ASGI worker holds 10,000 requests at once, each awaiting
asyncio.sleep(1), and answers them all within 2 s.

The 10,000 connections are opened first, untimed (a Python client opens
them at a few thousand a second); then every request is sent at once, and
the clock runs from the first request to the last response."""
import asyncio
import resource
import time

from procs import wait_for, workers
from children_memory import rss_kib

COUNT = 10_000


async def many_requests(port, count):
    """(answered, seconds from the first request sent to the last answer)."""
    streams = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port)
                                     for _ in range(count)))
    started = time.monotonic()
    for _, writer in streams:
        writer.write(b"GET /sleep?s=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

    async def answer(reader, writer):
        data = await reader.read()
        writer.close()
        return data.startswith(b"HTTP/1.1 200") and data.endswith(b"slept")

    results = await asyncio.gather(*(answer(reader, writer) for reader, writer in streams))
    return results.count(True), time.monotonic() - started


def test_one_worker_answers_10000_concurrent_waiting_requests_within_2s(server_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = server_factory("asgi_probe:app", "--workers", "1", "--max-connections", "12000",
                            "--backlog", "4096", "--log-level", "warning")
    worker = wait_for(lambda: workers(server.pid))[0]
    idle_kib = rss_kib(worker)
    peak = [idle_kib]

    def watch():
        while not done:
            peak[0] = max(peak[0], rss_kib(worker))
            time.sleep(0.05)

    import threading
    done = False
    watcher = threading.Thread(target=watch)
    watcher.start()
    answered, took = asyncio.run(many_requests(server.port, COUNT))
    done = True
    watcher.join()
    assert answered == COUNT
    assert took < 2.0, f"{took:.2f}s"
    per_request = (peak[0] - idle_kib) * 1024 / COUNT
    print(f"\n{COUNT} requests in {took:.2f}s; {per_request:.0f} bytes per request in flight")
    assert per_request < 16 * 1024
