"""Per-worker limits that protect the worker itself: accepting pauses while
``--max-connections`` are open, and a client that stops reading is dropped
after ``--send-timeout``."""
import socket
import time

from wire import read_response


def get(sock, path="/hello"):
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


def test_accepting_pauses_while_max_connections_are_open(server_factory):
    server = server_factory("probe:app", "--workers", "1", "--max-connections", "2",
                            "--keepalive-timeout", "30")
    first, second = server.connect(), server.connect()
    for sock in (first, second):
        get(sock)
        assert read_response(sock.makefile("rb")).status == 200
    third = server.connect(timeout=1.0)     # the kernel still completes the handshake
    get(third)
    third.settimeout(1.0)
    try:
        data = third.recv(1)
    except socket.timeout:
        data = None
    assert data is None, "a third connection was served while two were open"
    first.close()                           # a slot frees: the queued one is accepted
    third.settimeout(5.0)
    assert read_response(third.makefile("rb")).status == 200
    second.close()
    third.close()


def test_client_that_stops_reading_is_dropped_after_the_send_timeout(server_factory):
    server = server_factory("probe:app", "--workers", "1", "--send-timeout", "1")
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect((server.host, server.port))
    get(stalled, "/big?mb=64")
    time.sleep(3.5)                         # deadline 1 s, swept once a second
    # The worker kept serving others meanwhile...
    with server.connect() as other:
        get(other)
        assert read_response(other.makefile("rb")).status == 200
    # ...and the stalled connection ends long before its 64 MiB.
    stalled.settimeout(5.0)
    received = 0
    try:
        while True:
            chunk = stalled.recv(1 << 20)
            if not chunk:
                break
            received += len(chunk)
    except ConnectionResetError:
        pass
    stalled.close()
    assert received < 64 << 20
