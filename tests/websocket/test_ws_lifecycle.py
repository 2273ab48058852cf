"""WebSockets through a worker's life: a drain (TERM, HUP) closes them with
1001 at its start and the app hears it; a worker never waits on a WebSocket
past --graceful-timeout; an open WebSocket is busy, never evicted as idle at
--max-connections; back-pressure both ways keeps the worker's memory flat; a
client gone before the handshake's answer leaves the worker serving nothing."""
import json
import os
import signal
import socket
import time

import pytest

from procs import alive, get, wait_for, workers
from rawws import RawWebSocket, close_frame, frame, handshake_request

TEXT, BINARY = 1, 2


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_term_closes_websockets_with_1001_and_the_app_hears_it(server_factory, tmp_path):
    server = server_factory("ws_app:app", "--workers", "1", "--graceful-timeout", "30")
    heard = tmp_path / "disconnect.json"
    ws = RawWebSocket(server.port, path=f"/hold?{heard}")
    assert ws.recv_frame()[3] == b"ready"
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    assert ws.recv_close() == (1001, "server shutting down")
    ws.send(close_frame(1001))
    assert ws.eof()
    assert server.proc.wait(10) == 0
    assert time.monotonic() - started < 5, "the drain did not wait for --graceful-timeout"
    assert json.loads(heard.read_text()) == {"type": "websocket.disconnect", "code": 1001,
                                            "reason": "server shutting down"}


def test_a_peer_that_never_answers_does_not_hold_the_worker_past_the_graceful_timeout(
        server_factory):
    server = server_factory("ws_app:app", "--workers", "1", "--graceful-timeout", "2")
    ws = RawWebSocket(server.port, path="/hold")
    assert ws.recv_frame()[3] == b"ready"
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    assert ws.recv_close()[0] == 1001
    # no close frame back, no FIN: the worker still exits by the deadline
    assert server.proc.wait(10) == 0
    assert time.monotonic() - started < 4
    ws.close()


def test_hup_moves_websocket_clients_to_the_new_workers(server_factory):
    server = server_factory("ws_app:app", "--workers", "1")
    old = workers(server.pid)
    ws = RawWebSocket(server.port, path="/hold")
    assert ws.recv_frame()[3] == b"ready"
    server.signal(signal.SIGHUP)
    assert ws.recv_close()[0] == 1001
    ws.send(close_frame(1001))
    assert ws.eof()
    wait_for(lambda: not any(alive(pid) for pid in old), message="the old worker to exit")
    again = RawWebSocket(server.port)
    again.send(frame(TEXT, "new worker"))
    assert again.recv_frame()[3] == b"new worker"
    again.close()


def test_websockets_are_busy_never_evicted_at_max_connections(server_factory):
    server = server_factory("ws_app:app", "--workers", "1", "--max-connections", "2")
    first, second = RawWebSocket(server.port), RawWebSocket(server.port)
    with socket.create_connection(("127.0.0.1", server.port), timeout=1.5) as third:
        third.sendall(b"GET /scope HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(socket.timeout):
            third.recv(100)         # waits: nothing idle to evict
        for ws in (first, second):
            ws.send(frame(TEXT, "still here"))
            assert ws.recv_frame()[3] == b"still here"
        first.send(close_frame(1000))
        first.recv_close()
        third.settimeout(5)
        assert third.recv(100).startswith(b"HTTP/1.1 200")
    second.close()


def test_a_lagging_app_stops_the_socket_being_read(server_factory):
    """receive() back-pressure: while the app sleeps, the server reads at
    most about 1 MiB ahead and the client's sends block; then every message
    arrives, in order, none lost."""
    server = server_factory("ws_app:app", "--workers", "1")
    worker = wait_for(lambda: workers(server.pid), message="a worker")[0]
    ws = RawWebSocket(server.port, path="/slow")
    before = rss_kib(worker)
    message = frame(BINARY, b"m" * 262144)
    total = 200
    ws.sock.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 1.0
    data = message * 8
    pending = b""
    while time.monotonic() < deadline and sent < total:
        if not pending:
            pending, sent = data, sent + 8
        try:
            n = ws.sock.send(pending)
            pending = pending[n:]
        except BlockingIOError:
            time.sleep(0.01)
    assert sent < total, "the server read everything while its app slept"
    assert rss_kib(worker) - before < 8 * 1024, "the worker buffered what its app did not take"
    ws.sock.setblocking(True)
    ws.sock.settimeout(20)
    ws.sock.sendall(pending + message * (total - sent) + frame(TEXT, "end"))
    assert ws.recv_frame()[3] == str(total + 1).encode()
    ws.close()


def test_a_slow_client_makes_send_wait(server_factory):
    """send() back-pressure: an app sending 64 MiB to a client that reads
    nothing holds a few hundred KiB, not the 64 MiB."""
    server = server_factory("ws_app:app", "--workers", "1")
    worker = wait_for(lambda: workers(server.pid), message="a worker")[0]
    ws = RawWebSocket(server.port, path="/flood", timeout=30)
    before = rss_kib(worker)
    time.sleep(1.0)
    assert rss_kib(worker) - before < 16 * 1024
    received = 0
    while True:
        fin, rsv, opcode, payload = ws.recv_frame()
        if opcode == TEXT:
            assert payload == b"done"
            break
        received += len(payload)
    assert received == 64 << 20
    ws.close()


def test_a_client_gone_before_the_answer_leaves_the_worker_serving_nothing(server_factory,
                                                                         tmp_path):
    # Inline (the default): the app blocks the loop after the client left an
    # unanswered handshake, so --timeout kills the worker, and the log names
    # what the worker's status slot held then: no request.
    server = server_factory("ws_app:app", "--workers", "1", "--timeout", "2")
    before = wait_for(lambda: workers(server.pid))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        connected = tmp_path / "connected"
        sock.sendall(handshake_request(f"/block-after-leaving?{connected}"))
        wait_for(connected.exists, message="the app to have the connect")
    wait_for(lambda: not alive(before[0]), timeout=10, message="the blocked worker killed")
    log = server.output()
    assert "timed out" in log and "not serving a request" in log, log
