"""Microbenchmarks: prefork's request parser against httptools (llhttp) and h11.

Run pinned to one core:
    taskset -c 0 python -m pytest bench/bench_parser.py --benchmark-only -q

Each round parses the whole input with a fresh parser. What each side does:
- prefork: RequestParser().feed(data) -> Request objects (method, target,
  path, query, host as bytes; every header field checked and kept as a span
  of the head's bytes), body bytes, the events list. The server's environ
  builder decodes values from those spans straight to str.
- prefork_headers: the same, plus the header list of (name, value) bytes
  built, as a caller of ``Request.headers`` gets it.
- httptools: HttpRequestParser with a protocol that has no callbacks, so
  llhttp only scans (no header or URL objects are built). Its lower bound.
- httptools_headers: the same, with callbacks that collect the URL and the
  headers as a server must; the like-for-like comparison with prefork.
- h11: Connection.receive_data + next_event until NEED_DATA. h11 pauses after
  each message until the response is sent, so the pipelined case gives each
  request its own Connection.
"""
import h11
import httptools
import pytest

from prefork._speedups import RequestParser

SMALL_GET = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"

BROWSER_GET = (
    b"GET /articles/2024/06/some-article-title?utm_source=news&utm_medium=web HTTP/1.1\r\n"
    b"Host: www.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Referer: https://www.example.com/articles/\r\n"
    b"Connection: keep-alive\r\n"
    b"Cookie: session=8f3a2b1c9d7e6f5a4b3c2d1e0f9a8b7c; theme=dark; consent=yes\r\n"
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"Sec-Fetch-Dest: document\r\n"
    b"Sec-Fetch-Mode: navigate\r\n"
    b"Sec-Fetch-Site: same-origin\r\n"
    b"Priority: u=0, i\r\n"
    b"\r\n"
)

THIRTY_HEADERS = (
    b"GET /api/items HTTP/1.1\r\nHost: api.example.com\r\n"
    + b"".join(b"X-Header-%02d: value-%02d-abcdefghij\r\n" % (i, i) for i in range(29))
    + b"\r\n"
)

PIPELINED_16 = SMALL_GET * 16

CHUNKED_POST = (
    b"POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/octet-stream\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
    + (b"400\r\n" + b"x" * 1024 + b"\r\n") * 4
    + b"0\r\n\r\n"
)

CASES = {
    "small_get": SMALL_GET,
    "browser_get": BROWSER_GET,
    "30_headers": THIRTY_HEADERS,
    "16_pipelined": PIPELINED_16,
    "chunked_post": CHUNKED_POST,
}


class _NoCallbacks:
    """httptools looks callbacks up once; without any, llhttp just scans."""


def parse_prefork(data):
    return RequestParser().feed(data)


def parse_prefork_headers(data):
    """prefork, then the header list asked for: the like-for-like match of
    httptools_headers (prefork keeps fields as spans until asked)."""
    events = RequestParser().feed(data)
    for kind, req in events:
        if kind == "head":
            req.headers
    return events


class _CollectHeaders:
    def __init__(self):
        self.headers = []
        self.body = []

    def on_url(self, url):
        self.url = url

    def on_header(self, name, value):
        self.headers.append((name, value))

    def on_body(self, body):
        self.body.append(body)

    def on_message_complete(self):
        pass


def parse_httptools(data):
    httptools.HttpRequestParser(_NoCallbacks()).feed_data(data)


def parse_httptools_headers(data):
    httptools.HttpRequestParser(_CollectHeaders()).feed_data(data)


def _h11_messages(data):
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(data)
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA or event is h11.PAUSED or type(event) is h11.EndOfMessage:
            return


def parse_h11(data):
    _h11_messages(data)


def parse_h11_pipelined(data):
    for _ in range(16):
        _h11_messages(SMALL_GET)


PARSERS = {
    "prefork": parse_prefork,
    "prefork_headers": parse_prefork_headers,
    "httptools": parse_httptools,
    "httptools_headers": parse_httptools_headers,
    "h11": parse_h11,
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("parser", list(PARSERS))
def test_parse(benchmark, parser, case):
    benchmark.group = case
    parse = PARSERS[parser]
    if parser == "h11" and case == "16_pipelined":
        parse = parse_h11_pipelined
    benchmark(parse, CASES[case])


def test_prefork_events_are_complete():
    """Guard the benchmark inputs: each parses to complete messages."""
    for name, data in CASES.items():
        events = RequestParser().feed(data)
        assert events[-1][0] == "done", name
    assert sum(kind == "done" for kind, _ in RequestParser().feed(PIPELINED_16)) == 16
