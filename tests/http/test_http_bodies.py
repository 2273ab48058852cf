"""Request bodies in (Content-Length, chunked, 100-continue, spooled) and
large response bodies out under back-pressure, in every server mode
(``mode``: inline, the default, and ``--threads``)."""
import hashlib
import json
import os
import socket
import time

import pytest

from conftest import MODES
from wire import app_stats, read_head, read_response, request

SPOOL = 64 * 1024


@pytest.fixture(scope="module")
def server(module_server_factory, mode):
    return module_server_factory("probe:app", "--workers", "1", "--body-spool-threshold", str(SPOOL),
                                 "--limit-request-body", "4MB", *MODES[mode])


def chunked(body, size):
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
             for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


@pytest.mark.parametrize("chunk_size", [1, 7, 1000, 65536, 200000])
def test_chunked_upload_is_decoded_and_echoed(server, chunk_size):
    body = os.urandom(100_000 if chunk_size > 1 else 3000)
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + chunked(body, chunk_size))
        resp = read_response(sock.makefile("rb"))
    assert resp.status == 200
    assert resp.body == body


def test_chunked_upload_sent_in_pieces_is_reassembled(server):
    body = b"0123456789" * 500
    wire = chunked(body, 333)
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(wire), 97):
            sock.sendall(wire[i:i + 97])
        resp = read_response(sock.makefile("rb"))
    assert resp.body == body


def test_chunked_upload_with_extensions_and_trailers(server):
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\n"
                     b"X-Checksum: abc\r\nX-Other: 1\r\n\r\n"
                     b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = sock.makefile("rb")
        assert read_response(reader).body == b"hello world"
        assert read_response(reader).body == b"hello", "trailers must not leak into the next request"


@pytest.mark.parametrize("coding", [b", chunked", b"chunked,", b"chunked , ,"])
def test_transfer_encoding_ignores_empty_list_elements(server, coding):
    # RFC 9110 §5.6.1: empty list elements are ignored; the body is chunked.
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + coding + b"\r\n\r\n"
                     b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                     b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: , close\r\n\r\n")
        reader = sock.makefile("rb")
        resp = read_response(reader)
        assert (resp.status, resp.body) == (200, b"hello world")
        last = read_response(reader)
        assert (last.status, last.body, last.closes) == (200, b"hello", True)
        assert reader.read() == b"", "Connection: , close closes the connection"


def test_chunked_upload_sets_content_length_in_environ(server):
    with server.connect() as sock:
        sock.sendall(b"POST /environ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        environ = json.loads(read_response(sock.makefile("rb")).body)
    assert environ["CONTENT_LENGTH"] == "5"
    assert "HTTP_TRANSFER_ENCODING" in environ


def test_expect_100_continue_is_sent_before_the_body(server):
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        reader = sock.makefile("rb")
        interim = read_head(reader)       # must arrive while the body is held back
        assert interim.status == 100
        sock.sendall(b"hello")
        resp = read_response(reader)
    assert resp.status == 200 and resp.body == b"hello"


def test_expect_100_continue_with_chunked_body(server):
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        reader = sock.makefile("rb")
        assert read_head(reader).status == 100
        sock.sendall(b"5\r\nhello\r\n0\r\n\r\n")
        assert read_response(reader).body == b"hello"


def test_no_100_continue_for_an_http10_client(server):
    # RFC 9110 §10.1.1: never send 100 to an HTTP/1.0 client.
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            sock.recv(100)
        sock.settimeout(5)
        sock.sendall(b"hello")
        resp = read_response(sock.makefile("rb"))
    assert resp.status == 200 and resp.body == b"hello"


def test_expect_100_continue_not_sent_when_body_already_arrived(server):
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\n\r\nhello")
        resp = read_response(sock.makefile("rb"))
    assert resp.status == 200 and resp.body == b"hello"


def test_expect_100_with_too_large_body_gets_413_without_100(server):
    before = app_stats(server)["calls"]
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        reader = sock.makefile("rb")
        resp = read_response(reader)
        assert resp.status == 413
        assert resp.closes
        assert reader.read() == b""
    assert app_stats(server)["calls"] == before


def test_unknown_expectation_gets_417(server):
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Expect: something-else\r\n\r\nhello")
        resp = read_response(sock.makefile("rb"))
    assert resp.status == 417
    assert resp.closes


def test_body_over_limit_without_expect_gets_413(server):
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n")
        resp = read_response(sock.makefile("rb"))
    assert resp.status == 413


def test_chunked_body_over_limit_gets_413(server):
    chunk = b"%x\r\n%s\r\n" % (1 << 20, b"y" * (1 << 20))
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(5):
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = read_response(sock.makefile("rb"))
    assert resp.status == 413


@pytest.mark.parametrize("size", [SPOOL - 1, SPOOL + 1, 3 << 20])
def test_body_around_spool_threshold_is_echoed_intact(server, size):
    body = os.urandom(size)
    resp, data = request(server, "POST", "/echo", body=body)
    assert resp.status == 200
    assert hashlib.sha256(data).digest() == hashlib.sha256(body).digest()


def test_chunked_body_above_spool_threshold_is_echoed_intact(server):
    body = os.urandom(SPOOL * 5 + 17)
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + chunked(body, 10000))
        resp = read_response(sock.makefile("rb"))
    assert resp.body == body


def read_slowly(sock, timeout=30.0, pause_every=4 << 20, pause=0.05):
    """Read a whole HTTP/1.0 response until the server closes, stalling
    first and now and then so the server's socket buffer fills and it must
    wait for EPOLLOUT. Returns (head bytes, body length, body sha256)."""
    deadline = time.monotonic() + timeout
    time.sleep(0.5)
    head = b""
    in_body = False
    digest = hashlib.sha256()
    length = since_pause = 0
    while time.monotonic() < deadline:
        data = sock.recv(65536)
        if not data:
            return head, length, digest.digest()
        if not in_body:
            head += data
            if b"\r\n\r\n" not in head:
                continue
            head, _, data = head.partition(b"\r\n\r\n")
            in_body = True
        digest.update(data)
        length += len(data)
        since_pause += len(data)
        if since_pause >= pause_every:
            since_pause = 0
            time.sleep(pause)
    raise AssertionError(f"response not complete within {timeout}s ({length} body bytes)")


@pytest.mark.parametrize("result", ["list", "generator"])
def test_50mb_response_reaches_a_slow_reader_whole(server, result):
    mb = 50
    with server.connect(timeout=20) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        sock.sendall(b"GET /big?mb=%d&mode=%s HTTP/1.0\r\n\r\n" % (mb, result.encode()))
        head, length, digest = read_slowly(sock)
    assert head.startswith(b"HTTP/1.0 200 ")
    if result == "list":
        assert b"\r\nContent-Length: %d" % (mb << 20) in head
    assert length == mb << 20
    assert digest == hashlib.sha256(bytes(range(256)) * 4096 * mb).digest()
