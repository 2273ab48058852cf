"""Persistent connections and pipelining (RFC 9112 §9.3, §9.3.2), in every
server mode (``mode``: inline, the default, and ``--threads``)."""
import http.client
import socket

import pytest

from conftest import MODES
from wire import closed_by_server, read_response


@pytest.fixture(scope="module")
def server(module_server_factory, mode):
    return module_server_factory("probe:app", "--workers", "1", "--keepalive-timeout", "5",
                                 *MODES[mode])


def test_several_requests_share_one_http11_connection(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    ports = set()
    for i in range(5):
        conn.request("POST", "/echo", body=f"body {i}".encode())
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.read() == f"body {i}".encode()
        assert not resp.will_close
        ports.add(conn.sock.getsockname()[1])
    conn.close()
    assert len(ports) == 1


def test_http10_without_keepalive_closes_after_response(server):
    with server.connect() as sock:
        sock.sendall(b"GET /hello HTTP/1.0\r\nHost: x\r\n\r\n")
        resp = read_response(sock.makefile("rb"))
        assert resp.version == "HTTP/1.0"
        assert resp.status == 200 and resp.body == b"hello"
        assert closed_by_server(sock)


def test_http10_keepalive_header_keeps_connection_open(server):
    with server.connect() as sock:
        reader = sock.makefile("rb")
        for _ in range(3):
            sock.sendall(b"GET /hello HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
            resp = read_response(reader)
            assert resp.status == 200 and resp.body == b"hello"
            assert resp.header("connection").lower() == "keep-alive"


def test_http10_keepalive_with_unknown_length_falls_back_to_close(server):
    # HTTP/1.0 has no chunked coding: a generator body is close-delimited.
    with server.connect() as sock:
        sock.sendall(b"GET /stream?n=3&size=4 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        resp = read_response(sock.makefile("rb"))
        assert resp.status == 200
        assert resp.header("transfer-encoding") is None
        assert resp.header("content-length") is None
        assert resp.body == b"aaaabbbbcccc"


def test_connection_close_request_is_honoured(server):
    with server.connect() as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                     b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = sock.makefile("rb")
        resp = read_response(reader)
        assert resp.status == 200 and resp.closes
        assert reader.read() == b"", "nothing may follow the response to Connection: close"


def test_app_connection_close_header_closes_after_the_response(server):
    with server.connect() as sock:
        sock.sendall(b"GET /app-close HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = sock.makefile("rb")
        resp = read_response(reader)
        assert resp.body == b"bye" and resp.closes
        assert reader.read() == b""


def test_pipelined_requests_are_answered_in_order(server):
    requests = b"".join(b"GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                        % (len(str(i)), str(i).encode()) for i in range(16))
    with server.connect() as sock:
        sock.sendall(requests)
        reader = sock.makefile("rb")
        bodies = [read_response(reader).body for _ in range(16)]
    assert bodies == [str(i).encode() for i in range(16)]


def test_pipelined_mixed_methods_with_bodies_stay_in_order(server):
    batch = []
    expected = []
    for i in range(16):
        if i % 3 == 0:
            batch.append(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            expected.append(("GET", b"hello"))
        elif i % 3 == 1:
            body = b"p%d-" % i * (i + 1)
            batch.append(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            expected.append(("POST", body))
        else:
            body = b"chunked %d" % i
            batch.append(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
            expected.append(("POST", body))
    batch.append(b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    expected.append(("HEAD", b""))
    with server.connect() as sock:
        sock.sendall(b"".join(batch))
        reader = sock.makefile("rb")
        got = [(method, read_response(reader, method).body) for method, _ in expected]
    assert got == expected


def test_pipelined_responses_stay_in_order_when_earlier_ones_are_slower(server):
    # Inline, the loop answers one request at a time; on a pool, the faster
    # calls behind a slow one must still not be answered before it.
    paths = ["/sleep?s=0.3", "/hello", "/sleep?s=0.1", "/stream?n=3&size=2", "/hello"]
    with server.connect() as sock:
        sock.sendall(b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode() for p in paths))
        reader = sock.makefile("rb")
        bodies = [read_response(reader).body for _ in paths]
    assert bodies == [b"slept", b"hello", b"slept", b"aabbcc", b"hello"]


def test_pipelined_request_after_streamed_response(server):
    with server.connect() as sock:
        sock.sendall(b"GET /stream?n=50&size=1000 HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = sock.makefile("rb")
        streamed = read_response(reader)
        assert streamed.header("transfer-encoding") == "chunked"
        assert len(streamed.body) == 50 * 1000
        after = read_response(reader)
        assert after.status == 200 and after.body == b"hello"


def test_pipelined_request_after_large_list_response(server):
    # The first response does not fit the socket buffer: the second request
    # waits in the read buffer until the first is fully queued.
    with server.connect() as sock:
        sock.sendall(b"GET /big?mb=8 HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = sock.makefile("rb")
        assert len(read_response(reader).body) == 8 << 20
        assert read_response(reader).body == b"hello"


def test_max_keepalive_requests_closes_after_the_limit(server_factory, mode):
    server = server_factory("probe:app", "--workers", "1", "--max-keepalive-requests", "3",
                            *MODES[mode])
    with server.connect() as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" * 4)
        reader = sock.makefile("rb")
        responses = [read_response(reader) for _ in range(3)]
        assert [r.closes for r in responses] == [False, False, True]
        assert reader.read() == b""


@pytest.mark.parametrize("path,size", [("/hello", 5), ("/big?mb=4", 4 << 20),
                                       ("/big?mb=4&mode=generator", 4 << 20)])
def test_half_closed_client_still_gets_the_response(server, path, size):
    # A client may shut down its sending side once the request is out.
    with server.connect() as sock:
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
        sock.shutdown(socket.SHUT_WR)
        reader = sock.makefile("rb")
        resp = read_response(reader)
        assert len(resp.body) == size
        assert reader.read() == b""
