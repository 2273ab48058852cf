"""Microbenchmarks of the per-request WSGI work besides parsing: the
response head (status line, checked headers, framing, cached Date) and the
environ of a parsed request.

Run pinned to one core:
    taskset -c 0 python -m pytest bench/bench_wsgi.py --benchmark-enable -q
"""
import io

from prefork.http._response import HeadBuilder
from prefork._speedups import RequestParser
from prefork.wsgi._bridge import EnvironBuilder
from prefork.config import Settings

from bench.bench_parser import BROWSER_GET, SMALL_GET

PLAINTEXT_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", "13")]
TYPICAL_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "public, max-age=60"),
    ("ETag", '"5f3a2b1c"'),
    ("Vary", "Accept-Encoding"),
    ("X-Frame-Options", "DENY"),
    ("Set-Cookie", "session=8f3a2b1c9d7e6f5a; Path=/; HttpOnly"),
]


def parsed(data):
    return RequestParser().feed(data)[0][1]


def test_head_plaintext(benchmark):
    heads = HeadBuilder()
    head = benchmark(heads.build_head, 1, "200 OK", PLAINTEXT_HEADERS, 13)[0]
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")


def test_head_typical_chunked(benchmark):
    heads = HeadBuilder("prefork")
    head, keep_alive, chunked, *_ = benchmark(heads.build_head, 1, "200 OK", TYPICAL_HEADERS)
    assert chunked and keep_alive and b"Transfer-Encoding: chunked\r\n" in head


def test_environ_small_get(benchmark):
    builder = EnvironBuilder(Settings(), False)
    req = parsed(SMALL_GET)
    environ = benchmark(builder.environ_for, req, "127.0.0.1", 40000, io.BytesIO(), 0)
    assert environ["PATH_INFO"] == "/" and environ["HTTP_HOST"] == "example.com"


def test_environ_browser_get(benchmark):
    builder = EnvironBuilder(Settings(), False)
    req = parsed(BROWSER_GET)
    environ = benchmark(builder.environ_for, req, "127.0.0.1", 40000, io.BytesIO(), 0)
    assert environ["QUERY_STRING"].startswith("utm_source") and "HTTP_COOKIE" in environ
