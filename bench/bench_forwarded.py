"""Microbenchmarks of --forwarded-allow-ips on the per-request path: what a
request from a trusted peer costs when it carries no proxy field (the scan
of its field names, paid by every request from 127.0.0.1 by default), and
when a proxy sent X-Forwarded-For/-Proto or Forwarded; beside the environ
build of the same request, for scale.

Run pinned to one core:
    taskset -c 0 python -m pytest bench/bench_forwarded.py --benchmark-enable -q
"""
import io

from prefork._speedups import RequestParser
from prefork.config import Settings
from prefork.http._forwarded import TrustedPeers, normalize_allow_list
from prefork.wsgi._bridge import EnvironBuilder

from bench.bench_parser import BROWSER_GET

PROXIED_GET = BROWSER_GET.replace(
    b"\r\n\r\n", b"\r\nX-Forwarded-For: 198.51.100.1, 203.0.113.7\r\nX-Forwarded-Proto: https\r\n\r\n")
RFC7239_GET = BROWSER_GET.replace(
    b"\r\n\r\n", b'\r\nForwarded: for=203.0.113.7;proto=https;host=www.example.com\r\n\r\n')


def parsed(data):
    return RequestParser().feed(data)[0][1]


def peers():
    return TrustedPeers(normalize_allow_list("127.0.0.1,::1,10.0.0.0/8"))


def test_resolve_no_proxy_fields(benchmark):
    req = parsed(BROWSER_GET)
    assert benchmark(peers().resolve_request, req) is None


def test_resolve_x_forwarded(benchmark):
    req = parsed(PROXIED_GET)
    assert benchmark(peers().resolve_request, req).client == "203.0.113.7"


def test_resolve_rfc7239(benchmark):
    req = parsed(RFC7239_GET)
    assert benchmark(peers().resolve_request, req).scheme == "https"


def test_trusts_peer(benchmark):
    assert benchmark(peers().trusts, "127.0.0.1", True)


def test_environ_browser_get_for_scale(benchmark):
    builder = EnvironBuilder(Settings(), False)
    req = parsed(BROWSER_GET)
    benchmark(builder.environ_for, req, "127.0.0.1", 40000, io.BytesIO(), 0)
