"""Streamed responses: chunked framing, PEP 3333's no-delay rule,
wsgi.file_wrapper (sendfile), and responses that carry no body, in every
server mode (``mode``: inline, the default, and ``--threads``)."""
import os
import time

import pytest

from conftest import MODES
from wire import read_head, read_response


@pytest.fixture(scope="module")
def server(module_server_factory, mode):
    return module_server_factory("probe:app", "--workers", "1", *MODES[mode])


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("files") / "data.bin"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 123))
    return path


@pytest.mark.parametrize("n,size", [(1, 1), (5, 10), (40, 70000)])
def test_generator_body_is_chunked_with_one_chunk_per_yield(server, n, size):
    with server.connect() as sock:
        sock.sendall(b"GET /stream?n=%d&size=%d HTTP/1.1\r\nHost: x\r\n\r\n" % (n, size))
        resp = read_response(sock.makefile("rb"))
    assert resp.header("transfer-encoding") == "chunked"
    assert resp.header("content-length") is None
    assert resp.chunk_sizes == [size] * n
    assert resp.body == b"".join(bytes([97 + i % 26]) * size for i in range(n))


def test_empty_yields_do_not_end_the_chunked_body(server):
    with server.connect() as sock:
        sock.sendall(b"GET /stream?n=3&size=2&empty=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = sock.makefile("rb")
        resp = read_response(reader)
        assert resp.chunk_sizes == [2, 2, 2] and resp.body == b"aabbcc"
        assert read_response(reader).body == b"hello"


def test_http10_generator_body_is_close_delimited(server):
    with server.connect() as sock:
        sock.sendall(b"GET /stream?n=4&size=3 HTTP/1.0\r\n\r\n")
        resp = read_response(sock.makefile("rb"))
    assert resp.version == "HTTP/1.0"
    assert resp.header("transfer-encoding") is None and resp.closes
    assert resp.body == b"aaabbbcccddd"


def first_chunk_delay(server):
    """Seconds between the first and second chunk of /sleepy-stream."""
    with server.connect() as sock:
        sock.sendall(b"GET /sleepy-stream?pause=0.3 HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = sock.makefile("rb")
        assert read_head(reader).status == 200
        assert reader.readline() == b"5\r\n"
        first = time.monotonic()
        assert reader.read(7) == b"first\r\n"
        assert reader.readline() == b"6\r\n"
        second = time.monotonic()
        assert reader.read(8) == b"second\r\n"
        assert reader.read(5) == b"0\r\n\r\n"
    return second - first


def test_first_chunk_is_sent_before_the_next_is_produced(server):
    # PEP 3333 "Buffering and Streaming": a block may not wait for the next.
    delay = first_chunk_delay(server)
    assert delay >= 0.2, f"the first chunk was held back until the second existed ({delay:.3f}s)"


def test_file_wrapper_sends_the_whole_file_with_its_length(server, data_file):
    with server.connect(timeout=10) as sock:
        sock.sendall(b"GET /file?path=%s HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" % str(data_file).encode())
        reader = sock.makefile("rb")
        resp = read_response(reader)
        assert resp.header("content-length") == str(data_file.stat().st_size)
        assert resp.body == data_file.read_bytes()
        assert read_response(reader).body == b"hello"


def test_file_wrapper_honours_the_apps_content_length(server, data_file):
    with server.connect(timeout=10) as sock:
        sock.sendall(b"GET /file?declare=1&path=%s HTTP/1.1\r\nHost: x\r\n\r\n" % str(data_file).encode())
        resp = read_response(sock.makefile("rb"))
    assert resp.header("content-length") == str(data_file.stat().st_size)
    assert resp.body == data_file.read_bytes()


def test_file_wrapper_with_access_log_and_a_pipelined_request(server_factory, mode, data_file):
    logged = server_factory("probe:app", "--workers", "1", "--access-log", "-", *MODES[mode])
    with logged.connect(timeout=10) as sock:
        sock.sendall(b"GET /file?path=%s HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" % str(data_file).encode())
        reader = sock.makefile("rb")
        assert read_response(reader).body == data_file.read_bytes()
        assert read_response(reader).body == b"hello"
    assert "Traceback" not in logged.output()


@pytest.mark.parametrize("path", ["/hello", "/stream?n=3", "/big?mb=2", "/file?path={file}",
                                  "/closing", "/write"])
def test_head_response_has_no_body(server, data_file, path):
    target = path.format(file=data_file).encode()
    with server.connect() as sock:
        sock.sendall(b"HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" % target)
        reader = sock.makefile("rb")
        head = read_response(reader, "HEAD")
        assert head.status == 200
        # Had any body byte been sent, this would not parse as the next response.
        nxt = read_response(reader)
    assert nxt.status == 200 and nxt.body == b"hello"


def test_head_of_known_length_reports_that_length(server, data_file):
    with server.connect() as sock:
        sock.sendall(b"HEAD /file?path=%s HTTP/1.1\r\nHost: x\r\n\r\n" % str(data_file).encode())
        head = read_response(sock.makefile("rb"), "HEAD")
    assert head.header("content-length") == str(data_file.stat().st_size)


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_status_sends_no_body(server, code):
    with server.connect() as sock:
        sock.sendall(b"GET /status?code=%d HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" % code)
        reader = sock.makefile("rb")
        resp = read_response(reader)
        assert resp.status == code
        assert resp.header("transfer-encoding") is None
        if code == 204:
            assert resp.header("content-length") is None    # RFC 9110 §8.6
        assert read_response(reader).body == b"hello"
