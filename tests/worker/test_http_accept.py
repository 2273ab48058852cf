"""Accepting: connections are shared fairly between workers, a worker never
takes a connection just before an app call that would hold it, and a worker
whose app calls are slow still lets a burst of new connections in within a
few of its loop iterations.

The last test is counted in responses, not seconds.
Counted in responses, not seconds. BUSY keep-alive clients keep the worker
busy, sending requests back to back to a slow route; then LATE clients
connect at once and do the same. The test counts the responses the worker
sent between the burst and each late client's first response. Accepting
only once per loop iteration (an iteration serves every busy connection),
the last late client would wait for about BUSY + (BUSY+1) + ... + (BUSY+LATE)
= 588 responses; with an accept per slow app call it waits for a few
iterations' worth."""
import collections
import socket
import threading
import time

import pytest

from conftest import MODES
from procs import serving_workers, wait_for
from wire import read_response

BUSY = 12
LATE = 24
REQUEST = b"GET /sleep?s=0.003 HTTP/1.1\r\nHost: x\r\n\r\n"


def open_at_once(server, count):
    """``count`` connections whose handshakes all complete in one burst."""
    socks = [socket.socket() for _ in range(count)]
    for sock in socks:
        sock.setblocking(False)
        try:
            sock.connect((server.host, server.port))
        except BlockingIOError:
            pass
    for sock in socks:
        sock.setblocking(True)
        sock.settimeout(10)
    return socks


@pytest.mark.parametrize("trial", range(3))
def test_a_burst_of_keepalive_connections_is_shared_between_workers(server_factory, mode, trial):
    # EPOLLEXCLUSIVE wakes one worker for the whole burst; it passes the
    # rest on to idle siblings (the accept kick and the scoreboard).
    server = server_factory("work:app", "--workers", "2", *MODES[mode])
    wait_for(lambda: len(serving_workers(server.pid)) == 2)
    time.sleep(0.3)
    socks = open_at_once(server, 40)
    time.sleep(0.3)
    served_by = collections.Counter()
    for sock in socks:
        sock.sendall(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        served_by[read_response(sock.makefile("rb")).body] += 1
    for sock in socks:
        sock.close()
    assert len(served_by) == 2 and min(served_by.values()) >= 15, served_by


def test_simultaneous_slow_requests_never_queue_behind_each_other(server_factory, mode):
    # Three requests at once on four idle workers: each gets a worker of its
    # own, in every trial (a worker accepts at the end of its batch, and a
    # wake-up that came with work is passed on to an idle sibling).
    server = server_factory("work:app", "--workers", "4", *MODES[mode])
    wait_for(lambda: len(serving_workers(server.pid)) == 4)
    time.sleep(0.3)

    def one(took):
        started = time.monotonic()
        with socket.create_connection((server.host, server.port), timeout=10) as sock:
            sock.sendall(b"GET /sleep?s=0.5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert read_response(sock.makefile("rb")).status == 200
        took.append(time.monotonic() - started)

    for _ in range(15):
        took = []
        threads = [threading.Thread(target=one, args=(took,)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        # Queued behind another, one would take twice the sleep.
        assert len(took) == 3 and max(took) < 0.9, took
        time.sleep(0.05)


def test_a_burst_of_connections_gets_in_while_the_app_is_slow(server_factory):
    server = server_factory("probe:app", "--workers", "1")
    lock = threading.Lock()
    served = [0]
    first_seen = {}             # late client -> responses sent since the burst
    burst_at = [None]
    done = threading.Event()

    def client(sock, late):
        reader = sock.makefile("rb")
        deadline = time.monotonic() + 30
        while not done.is_set() and time.monotonic() < deadline:
            sock.sendall(REQUEST)
            assert read_response(reader).status == 200
            with lock:
                served[0] += 1
                if late is not None and late not in first_seen:
                    first_seen[late] = served[0] - burst_at[0]
                    if len(first_seen) == LATE:
                        done.set()

    def start(sock, late=None):
        thread = threading.Thread(target=client, args=(sock, late), daemon=True)
        thread.start()
        return thread

    sockets, threads = [], []
    try:
        for _ in range(BUSY):
            sockets.append(socket.create_connection((server.host, server.port), timeout=10))
            threads.append(start(sockets[-1]))
        wait_for(lambda: served[0] >= 3 * BUSY, message="the busy clients' load")
        with lock:
            burst_at[0] = served[0]
        late = [socket.create_connection((server.host, server.port), timeout=10) for _ in range(LATE)]
        sockets += late
        threads += [start(sock, n) for n, sock in enumerate(late)]
        done.wait(30)
    finally:
        done.set()
        for thread in threads:
            thread.join(10)
        for sock in sockets:
            sock.close()
    assert len(first_seen) == LATE
    # Measured: about 110 with an accept per slow app call, 576 without.
    assert max(first_seen.values()) < 300, sorted(first_seen.values())
