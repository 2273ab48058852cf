"""Per-worker limits that protect the worker itself: at ``--max-connections``
a new connection evicts the longest idle one (or a request head trickling
in), and accepting pauses only while every connection is busy; a client
that stops reading is dropped after ``--send-timeout``. In every server
mode (``mode``: inline, the default, and ``--threads``)."""
import socket
import time

from conftest import MODES
from wire import read_response


def get(sock, path="/hello"):
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


def stalled_download(server):
    """A connection whose client asked for 64 MiB and reads none of it:
    busy (a response in progress), never idle."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((server.host, server.port))
    get(sock, "/big?mb=64")
    return sock


def answered_within(sock, seconds):
    sock.settimeout(seconds)
    try:
        return sock.recv(1) != b""
    except socket.timeout:
        return False


def test_full_worker_evicts_the_longest_idle_connection(server_factory, mode):
    server = server_factory("probe:app", "--workers", "1", "--max-connections", "2",
                            "--keepalive-timeout", "30", *MODES[mode])
    first, second = server.connect(), server.connect()
    for sock in (first, second):
        get(sock)
        assert read_response(sock.makefile("rb")).status == 200
        time.sleep(0.05)
    with server.connect() as third:
        get(third)
        assert read_response(third.makefile("rb")).status == 200
    assert first.recv(1) == b""             # idle the longest: closed to let the third in
    get(second)                             # the other one still serves
    assert read_response(second.makefile("rb")).status == 200
    first.close()
    second.close()


def test_full_worker_evicts_a_connection_that_never_sent_a_byte(server_factory, mode):
    server = server_factory("probe:app", "--workers", "1", "--max-connections", "2",
                            *MODES[mode])
    silent = [server.connect(), server.connect()]
    time.sleep(0.2)
    with server.connect() as third:
        get(third)
        assert read_response(third.makefile("rb")).status == 200
    assert silent[0].recv(1) == b""
    for sock in silent:
        sock.close()


def test_a_connection_accepted_before_its_request_arrived_is_not_evicted(server_factory, mode):
    # The first connection's request comes 50 ms after it connects; a second
    # connection in between must not cut it (it would look idle).
    server = server_factory("probe:app", "--workers", "1", "--max-connections", "1",
                            *MODES[mode])
    for _ in range(5):
        with server.connect() as first, server.connect() as second:
            time.sleep(0.05)
            get(first)
            assert read_response(first.makefile("rb")).status == 200
            # Idle between requests now, the first makes room for the second.
            get(second)
            assert read_response(second.makefile("rb")).status == 200


def test_full_worker_answers_408_to_a_head_trickling_in(server_factory, mode):
    server = server_factory("probe:app", "--workers", "1", "--max-connections", "1",
                            *MODES[mode])
    slow = server.connect()
    slow.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n")     # and nothing more
    time.sleep(1.3)                                             # past the 1 s grace
    with server.connect() as other:
        get(other)
        assert read_response(other.makefile("rb")).status == 200
    assert read_response(slow.makefile("rb")).status == 408
    slow.close()


def test_accepting_pauses_while_every_connection_is_busy(server_factory, mode):
    server = server_factory("probe:app", "--workers", "1", "--max-connections", "2",
                            "--send-timeout", "30", *MODES[mode])
    busy = [stalled_download(server), stalled_download(server)]
    time.sleep(0.3)
    third = server.connect(timeout=1.0)     # the kernel still completes the handshake
    get(third)
    assert not answered_within(third, 1.0), "a third connection was served while two were busy"
    busy[0].close()                         # a slot frees: the queued one is accepted
    assert read_response(third.makefile("rb")).status == 200
    busy[1].close()
    third.close()


def test_client_that_stops_reading_is_dropped_after_the_send_timeout(server_factory, mode):
    server = server_factory("probe:app", "--workers", "1", "--send-timeout", "1", *MODES[mode])
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
