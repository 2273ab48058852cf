"""``--threads``: a slow app call does not hold up other connections, and
one connection's responses stay in request order."""
import threading
import time

import pytest

from wire import read_response, request


@pytest.fixture(scope="module")
def server(module_server_factory):
    return module_server_factory("probe:app", "--workers", "1", "--threads", "4")


def test_slow_request_does_not_block_a_fast_one(server):
    done = {}

    def slow():
        request(server, "GET", "/sleep?s=1")
        done["slow"] = time.monotonic()

    started = time.monotonic()
    worker = threading.Thread(target=slow)
    worker.start()
    time.sleep(0.1)
    resp, body = request(server, "GET", "/hello")
    fast = time.monotonic()
    worker.join(5)
    assert body == b"hello"
    assert fast - started < 0.6, "the fast request waited for the slow one"
    assert done["slow"] - started >= 1.0


def test_pipelined_responses_stay_in_order_under_threads(server):
    paths = ["/sleep?s=0.3", "/hello", "/sleep?s=0.1", "/stream?n=3&size=2", "/hello"]
    with server.connect() as sock:
        sock.sendall(b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode() for p in paths))
        reader = sock.makefile("rb")
        bodies = [read_response(reader).body for _ in paths]
    assert bodies == [b"slept", b"hello", b"slept", b"aabbcc", b"hello"]


def test_concurrent_slow_requests_run_in_parallel(server):
    started = time.monotonic()
    threads = [threading.Thread(target=request, args=(server, "GET", "/sleep?s=0.5")) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert time.monotonic() - started < 1.4
