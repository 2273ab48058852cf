"""What only ``--threads`` does: app calls of several connections run at
once, so a slow call does not hold up a fast one on another connection.

Threads-only on purpose: inline, one worker runs one app call at a time, so
these expectations do not hold there. (Response order on one pipelined
connection holds in both modes: tests/http/test_http_keepalive.py.)"""
import threading
import time

import pytest

from wire import request


@pytest.fixture(scope="module")
def server(module_server_factory):
    # Four app threads: test_concurrent_slow_requests_run_in_parallel sends four.
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


def test_concurrent_slow_requests_run_in_parallel(server):
    started = time.monotonic()
    threads = [threading.Thread(target=request, args=(server, "GET", "/sleep?s=0.5")) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert time.monotonic() - started < 1.4
