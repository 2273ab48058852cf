"""The shared cache for application code (prefork.shared, issue 14), measured.

    python -m bench.bench_shared            # everything below, ~1 minute; a Markdown report
    python -m bench.bench_shared --only get # or lru, redis, tags

1. ``get`` of a present 1 KB value from Python, per call: prefork.shared and
   its Django backend against Django's LocMemCache, RedisCache (a local
   redis-server) and PyMemcacheCache (a local memcached), when installed.
2. ``@shared_lru_cache`` against ``functools.lru_cache`` with 4 workers and
   a uniform key set: computations (each key once, against N times) and the
   memory the results take (the workers' proportional set size, PSS, grown
   during the run, plus the shared store's bytes).
3. Invalidation across hosts through Redis: two prefork servers and a
   redis-server on loopback; a PURGE sent to one, then the other polled
   until its entry is gone, 1,000 times: p50 / p99 / max.
4. A tag purge over a full 64 MB response cache (one pass over its slots).

Under pytest (``python -m pytest bench/bench_shared.py``) only the in-process
``get`` measurements run, once and untimed unless ``--benchmark-enable``;
nothing here needs redis-server then.
"""
import argparse
import functools
import http.client
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
import timeit
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "tests" / "apps"
VALUE = b"v" * 1024
DICT_VALUE = {"title": "t" * 900, "price": 42, "tags": ["a", "b", "c"]}    # ~1 KB pickled


def prefork_store():
    from prefork.cache._appstore import AppStore
    store = AppStore(16 << 20)
    store.set("key", VALUE)
    store.set("dict", DICT_VALUE)
    return store


# -- pytest: the in-process numbers, no servers ------------------------------------

def test_prefork_shared_get_1kb(benchmark):
    store = prefork_store()
    assert benchmark(store.get, "key") == VALUE


def test_prefork_django_backend_get_1kb(benchmark):
    from prefork.contrib.django import PreforkCache
    cache = PreforkCache("", {})
    cache.set("key", VALUE)
    assert benchmark(cache.get, "key") == VALUE


def test_django_locmem_get_1kb(benchmark):
    from django.core.cache.backends.locmem import LocMemCache
    cache = LocMemCache("bench", {})
    cache.set("key", VALUE)
    assert benchmark(cache.get, "key") == VALUE


# -- helpers ---------------------------------------------------------------------------

def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Daemon:
    """A helper process (redis-server, memcached, prefork-serve) on loopback,
    in its own session, stopped by stop()."""

    def __init__(self, args, port, env=None, cwd=None):
        self.port = port
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=env, cwd=cwd, start_new_session=True)
        wait_port(port)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


def redis_server():
    port = free_port()
    return Daemon(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no"], port)


def prefork_server(app, *flags, env=None):
    port = free_port()
    full_env = dict(os.environ, PYTHONPATH=str(APPS), **(env or {}))
    exe = shutil.which("prefork-serve") or "prefork-serve"
    server = Daemon([exe, app, "--bind", f"127.0.0.1:{port}", *flags], port, env=full_env,
                    cwd=str(APPS))
    time.sleep(0.5)         # every worker up
    return server


def per_call(func, *args, target_seconds=0.3):
    """Microseconds per call: the best of 5 rounds of ~target_seconds."""
    number = 1
    while True:
        spent = timeit.timeit(lambda: func(*args), number=number)
        if spent > 0.02:
            break
        number *= 10
    number = max(1, int(number * target_seconds / spent))
    return min(timeit.repeat(lambda: func(*args), number=number, repeat=5)) / number * 1e6


# -- 1. get of a present 1 KB value ----------------------------------------------------

def bench_get(report):
    from django.core.cache.backends.locmem import LocMemCache

    from prefork.contrib.django import PreforkCache
    store = prefork_store()
    rows = [("prefork.shared.get (bytes)", per_call(store.get, "key")),
            ("prefork.shared.get (dict, pickled)", per_call(store.get, "dict"))]
    backend = PreforkCache("", {})
    backend.set("key", VALUE)
    rows.append(("Django PreforkCache.get", per_call(backend.get, "key")))
    locmem = LocMemCache("bench", {})
    locmem.set("key", VALUE)
    rows.append(("Django LocMemCache.get", per_call(locmem.get, "key")))
    daemons = []
    try:
        if shutil.which("redis-server"):
            from django.core.cache.backends.redis import RedisCache
            daemons.append(redis_server())
            cache = RedisCache(f"redis://127.0.0.1:{daemons[-1].port}/0", {})
            cache.set("key", VALUE)
            rows.append(("Django RedisCache.get (local redis-server)",
                         per_call(cache.get, "key", target_seconds=0.5)))
        else:
            report.append("- RedisCache: skipped (no redis-server)")
        try:
            import pymemcache  # noqa: F401
            have_memcached = shutil.which("memcached") is not None
        except ImportError:
            have_memcached = False
        if have_memcached:
            from django.core.cache.backends.memcached import PyMemcacheCache
            port = free_port()
            daemons.append(Daemon(["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0",
                                   "-u", "nobody"], port))
            cache = PyMemcacheCache(f"127.0.0.1:{port}", {})
            cache.set("key", VALUE)
            rows.append(("Django PyMemcacheCache.get (local memcached)",
                         per_call(cache.get, "key", target_seconds=0.5)))
        else:
            report.append("- PyMemcacheCache: skipped (no memcached or pymemcache)")
    finally:
        for daemon in daemons:
            daemon.stop()
    base = rows[0][1]
    report += ["", "| get of a present 1 KB value | µs per call | × prefork.shared.get |",
               "|---|---|---|"]
    report += [f"| {name} | {us:.2f} | {us / base:.1f} |" for name, us in rows]
    return dict(rows)


# -- 2. @shared_lru_cache with 4 workers ------------------------------------------------

def pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def family(pid):
    """The master and its children (workers)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [pid] + [int(p) for p in f.read().split()]
    except OSError:
        return [pid]


def get_json(port, path):
    import json
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def run_lru(route, keys, requests, workers=4, value_size=10000):
    env = {"SQUARE_SLEEP": "0.005", "SQUARE_VALUE_SIZE": str(value_size), "SQUARE_MAXSIZE": "100000"}
    server = prefork_server("shared_app:app", "--workers", str(workers), env=env)
    try:
        pids = family(server.proc.pid)
        before = sum(pss(pid) for pid in pids)
        rng = random.Random(14)
        order = [rng.randrange(keys) for _ in range(requests)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: get_json(server.port, f"/{route}?n={n}"), order))
        after = sum(pss(pid) for pid in pids)
        seen, deadline = {}, time.monotonic() + 20
        while len(seen) < workers and time.monotonic() < deadline:
            reply = get_json(server.port, "/calls")
            seen[reply["pid"]] = sum(reply["calls"].values())
        stats = get_json(server.port, "/stats")["stats"]
        return sum(seen.values()), after - before, stats["bytes_stored"], len(set(order))
    finally:
        server.stop()


def bench_lru(report, keys=200, requests=4000):
    shared = run_lru("square", keys, requests)
    local = run_lru("local-square", keys, requests)
    report += ["", f"4 workers, {keys} keys drawn uniformly, {requests} requests from 8 clients, "
               "~10 KB results:", "",
               "| | computations | workers' PSS grown | shared store bytes |", "|---|---|---|---|",
               f"| @shared_lru_cache | {shared[0]} (keys used: {shared[3]}) | "
               f"{shared[1] / 2**20:.1f} MiB | {shared[2] / 2**20:.1f} MiB |",
               f"| functools.lru_cache | {local[0]} (keys used: {local[3]}) | "
               f"{local[1] / 2**20:.1f} MiB | — |"]
    return shared, local


# -- 3. invalidation across hosts --------------------------------------------------------

class Client:
    """One keep-alive connection, raw: a request costs one round trip."""

    def __init__(self, port, host="shop.example"):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")
        self.host = host

    def request(self, method, path, extra=""):
        self.sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{extra}\r\n".encode())
        status = self.reader.readline()
        headers = {}
        while True:
            line = self.reader.readline()
            if line == b"\r\n":
                break
            name, _, value = line.decode().partition(":")
            headers[name.lower()] = value.strip()
        self.reader.read(int(headers.get("content-length", "0")))
        return int(status.split()[1]), headers


def bench_redis(report, purges=1000):
    if not shutil.which("redis-server"):
        report.append("- cross-host invalidation: skipped (no redis-server)")
        return None
    redis = redis_server()
    flags = ["--workers", "1", "--cache-size", "16MB", "--cache-x-header",
             "--cache-redis", f"redis://127.0.0.1:{redis.port}/0"]
    a = prefork_server("shared_app:app", *flags)
    b = prefork_server("shared_app:app", *flags)
    try:
        time.sleep(1.0)     # both relays subscribed
        on_a, on_b = Client(a.port), Client(b.port)
        latencies, polls = [], 0
        for n in range(purges):
            path = f"/tagged/lat-{n}"
            on_b.request("GET", path)
            assert on_b.request("GET", path)[1]["x-cache"] == "HIT"
            started = time.perf_counter()
            on_a.request("PURGE", path)
            while on_b.request("GET", path)[1]["x-cache"] == "HIT":
                polls += 1
                if time.perf_counter() - started > 5:
                    raise RuntimeError(f"{path} still cached on B after 5 s")
            latencies.append((time.perf_counter() - started) * 1000)
    finally:
        for daemon in (a, b, redis):
            daemon.stop()
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99) - 1]
    report += ["", f"PURGE on host A until host B misses, {purges} times (the time includes the "
               "PURGE's own round trip and B's polling requests):", "",
               "| p50 | p99 | max | mean |", "|---|---|---|---|",
               f"| {p50:.2f} ms | {p99:.2f} ms | {latencies[-1]:.2f} ms | "
               f"{statistics.mean(latencies):.2f} ms |"]
    return p50, p99, latencies[-1]


# -- 4. tag purge over a full response cache --------------------------------------------

def bench_tags(report):
    from prefork.cache._lookup import SharedCache
    from prefork.cache.policy import decide
    cache = SharedCache(64 << 20, 1 << 20)
    n = 0
    slots = cache.stats()["capacity"] // cache.stats()["block_size"]
    while cache.stats()["entries"] < slots and n < slots:
        headers = [("Cache-Control", "max-age=600"), ("Cache-Tag", f"product-{n % 5000} list-{n % 50}")]
        cache.store(b"h", f"/p/{n}", [], decide("GET", [], "200 OK", headers), "200 OK", headers,
                    b"x" * 500)
        n += 1
    entries = cache.stats()["entries"]
    started = time.perf_counter()
    dropped = cache.purge_tags(["product-7"])
    one = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    many = cache.purge_tags(["list-3"])
    wide = (time.perf_counter() - started) * 1000
    report += ["", f"Tag purge over a 64 MB response cache ({slots} slots, {entries} entries):", "",
               "| purge | entries dropped | time |", "|---|---|---|",
               f"| one product's tag | {dropped} | {one:.2f} ms |",
               f"| a tag on 1 entry in 50 | {many} | {wide:.2f} ms |"]
    return one, wide


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["get", "lru", "redis", "tags"])
    args = parser.parse_args(argv)
    report = [f"# prefork.shared ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
              f"Python {sys.version.split()[0]})"]
    for name, bench in (("get", bench_get), ("lru", bench_lru), ("redis", bench_redis),
                        ("tags", bench_tags)):
        if args.only in (None, name):
            bench(report)
    print("\n".join(report))


if __name__ == "__main__":
    main()
