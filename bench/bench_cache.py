"""Microbenchmarks of the shared response cache's hot path (prefork/cache/_lookup.pyx).

Run pinned to one core:
    taskset -c 0 python -m pytest bench/bench_cache.py --benchmark-only -q

Each round is one lookup through the Python wrapper (the connection calls the
cdef method directly, so it pays less): key + hash, lock, bucket walk, Vary
check, freshness, and for a hit the copy of the whole response into one bytes
object with a fresh Age, Date and Connection.
"""
import time

import pytest

from prefork.cache._lookup import SharedCache
from prefork.cache.policy import decide

HOST = b"www.example.com"
TARGET = b"/articles/2024/06/some-article-title?utm_source=news"
BROWSER_HEADERS = [
    (b"Host", HOST),
    (b"User-Agent", b"Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"),
    (b"Accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    (b"Accept-Language", b"en-US,en;q=0.5"),
    (b"Accept-Encoding", b"gzip, deflate, br, zstd"),
    (b"Cookie", b"session=8f3a2b1c9d7e6f5a4b3c2d1e0f9a8b7c; theme=dark"),
]
RESPONSE_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "public, max-age=3600"),
    ("ETag", '"5f3c-article"'),
    ("Vary", "Accept-Encoding"),
]


def filled(body_size):
    cache = SharedCache(64 << 20, 8 << 20)
    decision = decide("GET", BROWSER_HEADERS, "200 OK", RESPONSE_HEADERS)
    assert cache.store(HOST, TARGET, BROWSER_HEADERS, decision, "200 OK", RESPONSE_HEADERS,
                       b"x" * body_size, now=time.monotonic())
    return cache


@pytest.mark.parametrize("body_size", [1024, 16384, 262144])
def test_hit(benchmark, body_size):
    cache = filled(body_size)
    now = time.monotonic()
    response = benchmark(cache.lookup, b"GET", HOST, TARGET, BROWSER_HEADERS, now=now)
    assert response.endswith(b"x" * body_size)


def test_hit_not_modified(benchmark):
    cache = filled(16384)
    headers = BROWSER_HEADERS + [(b"If-None-Match", b'"5f3c-article"')]
    response = benchmark(cache.lookup, b"GET", HOST, TARGET, headers, now=time.monotonic())
    assert response.startswith(b"HTTP/1.1 304 ")


def test_miss(benchmark):
    cache = filled(1024)
    result = benchmark(cache.lookup, b"GET", HOST, b"/not/stored", BROWSER_HEADERS, now=time.monotonic())
    assert result is None


def test_miss_other_variant(benchmark):
    cache = filled(1024)
    headers = [(n, b"identity" if n == b"Accept-Encoding" else v) for n, v in BROWSER_HEADERS]
    assert benchmark(cache.lookup, b"GET", HOST, TARGET, headers, now=time.monotonic()) is None


def test_store(benchmark):
    cache = SharedCache(64 << 20, 8 << 20)
    decision = decide("GET", BROWSER_HEADERS, "200 OK", RESPONSE_HEADERS)
    body = b"x" * 16384
    benchmark(cache.store, HOST, TARGET, BROWSER_HEADERS, decision, "200 OK", RESPONSE_HEADERS, body)
