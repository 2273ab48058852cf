"""Clients that hold connections without using them (an idle flood,
slowloris heads, slow bodies, slow readers) cost a normal client nothing, in
every mode: a full worker evicts the connection idle the longest (or a head
or body trickling in), a body must keep a minimum rate, and with --threads
no app thread ever waits on a client.

The figure is a normal client's: every one of its requests, each on a new
connection, is answered within a few seconds while the attack runs.
"""
import socket
import threading
import time

import pytest

from conftest import MODES
from wire import read_response

MAX_CONNECTIONS = 100


def start(server_factory, mode, *flags):
    return server_factory("probe:app", "--workers", "1", "--max-connections", str(MAX_CONNECTIONS),
                          *MODES[mode], *flags)


def open_many(server, count):
    socks = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        try:
            sock.connect((server.host, server.port))
        except BlockingIOError:
            pass
        socks.append(sock)
    time.sleep(0.2)
    for sock in socks:
        sock.setblocking(True)
    return socks


def normal_client_availability(server, requests=10, timeout=5.0):
    """The share of ``requests`` (each on a new connection) answered 200
    within ``timeout`` seconds."""
    answered = 0
    for _ in range(requests):
        try:
            with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
                sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                if read_response(sock.makefile("rb")).status == 200:
                    answered += 1
        except OSError:
            pass
    return answered / requests


class Trickle(threading.Thread):
    """Sends ``data`` to each socket a byte at a time, ``interval`` apart."""

    def __init__(self, socks, data, interval):
        super().__init__(daemon=True)
        self.socks, self.data, self.interval = socks, data, interval
        self.stop = threading.Event()

    def run(self):
        for i in range(len(self.data)):
            for sock in self.socks:
                try:
                    sock.send(self.data[i:i + 1])
                except OSError:
                    pass
            if self.stop.wait(self.interval):
                return


def close_all(socks):
    for sock in socks:
        sock.close()


def test_an_idle_flood_does_not_lock_a_normal_client_out(server_factory, mode):
    server = start(server_factory, mode)
    flood = open_many(server, 3 * MAX_CONNECTIONS)      # connect and send nothing
    try:
        assert normal_client_availability(server) == 1.0
    finally:
        close_all(flood)


def test_slowloris_heads_do_not_lock_a_normal_client_out(server_factory, mode):
    server = start(server_factory, mode)
    attackers = open_many(server, 2 * MAX_CONNECTIONS)
    trickle = Trickle(attackers, b"GET / HTTP/1.1\r\nX-a: " + b"b" * 200, 0.3)
    trickle.start()
    try:
        time.sleep(1.5)                 # the heads have been trickling for a while
        assert normal_client_availability(server) == 1.0
    finally:
        trickle.stop.set()
        close_all(attackers)


def test_slow_bodies_do_not_lock_a_normal_client_out(server_factory, mode):
    server = start(server_factory, mode)
    attackers = open_many(server, 2 * MAX_CONNECTIONS)
    for sock in attackers:
        try:
            sock.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        except OSError:
            pass
    trickle = Trickle(attackers, b"x" * 1000, 0.3)
    trickle.start()
    try:
        time.sleep(1.5)
        assert normal_client_availability(server) == 1.0
    finally:
        trickle.stop.set()
        close_all(attackers)


def test_slow_readers_do_not_hold_the_app_threads(server_factory, mode):
    # Each asks for a long streamed body and reads none of it: with
    # --threads, the blocks are produced on the pool only when the
    # connection has room, so four threads serve everyone else meanwhile.
    server = start(server_factory, mode)
    readers = []
    for _ in range(20):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((server.host, server.port))
        sock.sendall(b"GET /big?mb=64&mode=gen HTTP/1.1\r\nHost: x\r\n\r\n")
        readers.append(sock)
    try:
        time.sleep(0.5)
        started = time.monotonic()
        assert normal_client_availability(server, timeout=2.0) == 1.0
        assert time.monotonic() - started < 5.0
    finally:
        close_all(readers)


@pytest.mark.parametrize("rate", [100])
def test_a_body_below_the_minimum_rate_is_answered_408(server_factory, mode, rate):
    server = start(server_factory, mode, "--body-timeout", "1", "--body-min-rate", str(rate))
    with server.connect(timeout=10) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n")
        started = time.monotonic()
        trickle = Trickle([sock], b"x" * 100, 0.1)      # 10 bytes a second
        trickle.start()
        response = read_response(sock.makefile("rb"))
        trickle.stop.set()
    # Allowed: 1 s of grace plus 1 s per 100 bytes received; swept once a second.
    assert response.status == 408
    assert time.monotonic() - started < 4.0


def test_a_body_at_the_minimum_rate_is_read(server_factory, mode):
    server = start(server_factory, mode, "--body-timeout", "1", "--body-min-rate", "100")
    with server.connect(timeout=10) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 600\r\n\r\n")
        for _ in range(6):                              # 300 bytes a second
            sock.sendall(b"y" * 100)
            time.sleep(0.33)
        response = read_response(sock.makefile("rb"))
    assert response.status == 200 and response.body == b"y" * 600
