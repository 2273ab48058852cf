"""A minimal, strict HTTP/1.1 response reader for raw-socket tests.

It reads exactly one response per call from a buffered socket file, using
the framing RFC 9112 §6.3 prescribes, so a test sees any extra or missing
byte the server sends. Every read is bounded by the socket's timeout.
"""
import socket
import time
from dataclasses import dataclass, field


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list                       # [(lower-case name, value)], in order
    body: bytes = b""
    trailers: list = field(default_factory=list)
    chunk_sizes: list = field(default_factory=list)

    def header(self, name, default=None):
        values = [v for n, v in self.headers if n == name.lower()]
        return ", ".join(values) if values else default

    @property
    def closes(self):
        return "close" in (self.header("connection") or "").lower()


def read_head(reader):
    status_line = reader.readline(65537)
    if not status_line:
        raise ConnectionError("connection closed before a response")
    if not status_line.endswith(b"\r\n"):
        raise AssertionError(f"status line not CRLF-terminated: {status_line!r}")
    version, status, reason = status_line[:-2].decode("latin-1").split(" ", 2)
    headers = []
    while True:
        line = reader.readline(65537)
        if line == b"\r\n":
            break
        if not line.endswith(b"\r\n"):
            raise AssertionError(f"header line not CRLF-terminated: {line!r}")
        name, _, value = line[:-2].decode("latin-1").partition(":")
        headers.append((name.lower(), value.strip()))
    return Response(version, int(status), reason, headers)


def read_response(reader, method="GET"):
    """One response from ``reader`` (``sock.makefile("rb")``); 1xx interim
    responses are returned like any other."""
    resp = read_head(reader)
    if method == "HEAD" or resp.status < 200 or resp.status in (204, 304):
        return resp
    if resp.header("transfer-encoding") == "chunked":
        read_chunked(reader, resp)
    elif resp.header("content-length") is not None:
        resp.body = read_exactly(reader, int(resp.header("content-length")))
    else:
        resp.body = reader.read()       # close-delimited (RFC 9112 §6.3 rule 8)
    return resp


def read_exactly(reader, n):
    data = reader.read(n)
    if len(data) != n:
        raise AssertionError(f"body cut short: {len(data)} of {n} bytes")
    return data


def read_chunked(reader, resp):
    parts = []
    while True:
        size_line = reader.readline(1024)
        if not size_line.endswith(b"\r\n"):
            raise AssertionError(f"bad chunk size line: {size_line!r}")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        resp.chunk_sizes.append(size)
        parts.append(read_exactly(reader, size))
        if reader.read(2) != b"\r\n":
            raise AssertionError("chunk data not followed by CRLF")
    while True:
        line = reader.readline(65537)
        if line == b"\r\n":
            break
        if not line:
            raise AssertionError("chunked body ended without its final CRLF")
        resp.trailers.append(line)
    resp.body = b"".join(parts)


def recv_until_closed(sock, timeout=5.0):
    """Everything the server sends until it closes; fails past ``timeout``."""
    deadline = time.monotonic() + timeout
    data = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"server did not close within {timeout}s; got {b''.join(data)[:200]!r}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return b"".join(data)
        except socket.timeout:
            continue
        if not chunk:
            return b"".join(data)
        data.append(chunk)


def closed_by_server(sock, timeout=5.0):
    """True if the server closes ``sock`` (EOF or reset) within ``timeout``
    and sends nothing more before it."""
    return recv_until_closed(sock, timeout) == b""


def wait_for(predicate, timeout=5.0, interval=0.05):
    """Poll ``predicate`` until it is true; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def request(server, method, path, body=None, headers=None, timeout=10.0):
    """One request on a new http.client connection -> (response, body)."""
    import http.client
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp, resp.read()
    finally:
        conn.close()


def app_stats(server):
    """The probe app's counters: {"calls": n, "closes": n}."""
    import json
    return json.loads(request(server, "GET", "/stats")[1])
