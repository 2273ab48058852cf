"""Slow and vanishing clients: trickled requests are served, stalled ones
time out, idle keep-alive connections close, disconnects never stop the
worker and the app's close() still runs. In every server mode (``mode``:
inline, the default, and ``--threads``)."""
import socket
import struct
import time

import pytest

from conftest import MODES
from wire import app_stats, closed_by_server, read_response, recv_until_closed, request, wait_for


@pytest.fixture(scope="module")
def server(module_server_factory, mode):
    return module_server_factory("probe:app", "--workers", "1", "--header-timeout", "1",
                                 "--keepalive-timeout", "1", "--body-timeout", "1", *MODES[mode])


def trickle(sock, data, pause):
    for i in range(len(data)):
        sock.sendall(data[i:i + 1])
        time.sleep(pause)


def test_head_sent_byte_by_byte_is_served(server):
    with server.connect() as sock:
        trickle(sock, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0.02)
        resp = read_response(sock.makefile("rb"))
    assert resp.status == 200 and resp.body == b"hello"


def test_body_trickled_within_the_body_timeout_is_served(server):
    body = b"0123456789" * 2
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n")
        trickle(sock, body, 0.05)
        resp = read_response(sock.makefile("rb"))
    assert resp.body == body


def test_stalled_head_gets_408_and_close(server):
    with server.connect() as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        data = recv_until_closed(sock, timeout=5)
    assert data.startswith(b"HTTP/1.1 408 ")
    assert b"\r\nConnection: close\r\n" in data
    assert time.monotonic() - started < 3.5


def test_stalled_body_gets_408_and_close(server):
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        data = recv_until_closed(sock, timeout=5)
    assert data.startswith(b"HTTP/1.1 408 ")


def test_connection_without_any_request_is_closed_silently(server):
    with server.connect() as sock:
        assert closed_by_server(sock, timeout=5)


def test_idle_keepalive_connection_is_closed(server):
    with server.connect() as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = sock.makefile("rb")
        assert read_response(reader).status == 200
        started = time.monotonic()
        assert reader.read() == b"", "an idle close sends nothing"
    assert time.monotonic() - started < 3.5


def reset(sock):
    """Close with RST instead of FIN, like a client that crashed."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.parametrize("how", ["close", "reset"])
def test_disconnect_mid_response_calls_close_and_worker_keeps_serving(server, how):
    before = app_stats(server)["closes"]
    sock = server.connect()
    sock.sendall(b"GET /counted-stream HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    if how == "reset":
        reset(sock)
    else:
        sock.close()
    assert wait_for(lambda: app_stats(server)["closes"] > before), "the result's close() was not called"
    assert request(server, "GET", "/hello")[1] == b"hello"


def test_disconnect_mid_request_body_never_calls_the_app(server):
    before = app_stats(server)["calls"]
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123")
        reset(sock)
    assert request(server, "GET", "/hello")[1] == b"hello"
    assert app_stats(server)["calls"] == before + 1     # only /hello


def test_client_gone_before_the_response_is_written(server):
    # The request is complete but the client closes at once: the app runs,
    # its close() is called, and the worker keeps serving.
    before = app_stats(server)["closes"]
    with server.connect() as sock:
        sock.sendall(b"GET /closing HTTP/1.1\r\nHost: x\r\n\r\n")
    assert wait_for(lambda: app_stats(server)["closes"] > before)
    assert request(server, "GET", "/hello")[1] == b"hello"
