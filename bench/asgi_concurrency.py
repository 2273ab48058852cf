"""Thousands of ASGI requests in flight on one worker, side by side.

    python -m bench.asgi_concurrency [--count 10000] [--servers prefork-asgi,uvicorn,granian-asgi]

Each server runs one worker of bench/apps/asgi.py:sleepy (every request
awaits asyncio.sleep(1)). The client opens ``--count`` connections first
(untimed), sends every request at once, and reports how long the last
answer took from the first request, how many were answered, and the
server's resident memory per request in flight: its processes' RSS at the
peak minus before, divided by the count.
"""
import argparse
import asyncio
import resource
import tempfile
import threading
import time
from pathlib import Path

from bench import procstat
from bench.apps import AppSpec
from bench.runner import RunningServer, free_port
from bench.servers import SERVERS, Launch

SLEEPY = AppSpec("sleepy", None, "bench.apps.asgi:sleepy", b"slept", "text/plain")


async def _many_requests(port, count):
    streams = []
    for first in range(0, count, 500):     # in steps, so the backlog keeps up
        opened = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port)
                                        for _ in range(first, min(count, first + 500))),
                                      return_exceptions=True)
        streams += [s for s in opened if not isinstance(s, BaseException)]
    started = time.monotonic()
    for _, writer in streams:
        writer.write(b"GET /?s=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

    async def answer(reader, writer):
        try:
            data = await asyncio.wait_for(reader.read(), 30)
        except (asyncio.TimeoutError, OSError):
            return False
        finally:
            writer.close()
        return data.startswith(b"HTTP/1.1 200") and data.endswith(b"slept")

    results = await asyncio.gather(*(answer(r, w) for r, w in streams))
    return results.count(True), time.monotonic() - started


def _rss(sessions):
    return sum(p.rss_bytes for p in procstat.session_processes(sessions))


def measure(name, count):
    server = SERVERS[name]
    reason = server.needs()
    if reason:
        return {"server": name, "error": reason}
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        launch = Launch(SLEEPY, port, 1, 4096, Path(tmp), free_port)
        processes = server.build(launch)
        if name == "prefork-asgi":       # room for every connection
            processes = [type(p)(p.argv + ["--max-connections", str(count + 2000)], p.port)
                         for p in processes]
        with RunningServer(processes, tmp, pin=False) as running:
            asyncio.run(_many_requests(port, 10))              # warm: the app imported
            time.sleep(0.5)
            idle = _rss(running.sessions)
            peak = [idle]
            done = threading.Event()

            def watch():
                while not done.is_set():
                    peak[0] = max(peak[0], _rss(running.sessions))
                    time.sleep(0.02)

            watcher = threading.Thread(target=watch)
            watcher.start()
            try:
                answered, took = asyncio.run(_many_requests(port, count))
            finally:
                done.set()
                watcher.join()
    return {"server": name, "answered": answered, "seconds": took,
            "bytes_per_request": (peak[0] - idle) / count}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--servers", default="prefork-asgi,uvicorn,granian-asgi,hypercorn")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"{args.count} requests awaiting asyncio.sleep(1), one worker each")
    print("| server | answered | last answer after (s) | KiB per request in flight |")
    print("|---|---|---|---|")
    for name in args.servers.split(","):
        r = measure(name, args.count)
        if "error" in r:
            print(f"| {name} | – | – | – ({r['error']}) |")
        else:
            print(f"| {name} | {r['answered']} | {r['seconds']:.2f} | "
                  f"{r['bytes_per_request'] / 1024:.1f} |", flush=True)


if __name__ == "__main__":
    main()
