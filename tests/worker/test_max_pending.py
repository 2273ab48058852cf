"""--max-pending: with --threads, a request that would be one more than N
waiting for an app thread is answered 503 with Retry-After at once, counted
and logged; the requests admitted are all answered. Without --threads (the
inline default, ASGI) there is no queue to bound: the setting is reported
as having no effect and nothing is refused."""
import http.client
import threading
import time

import pytest

from conftest import run_cli
from edge_modes import start


def burst(server, path, clients):
    """``clients`` simultaneous GETs: [(status, Retry-After, seconds)] in
    the order they finished."""
    results, lock, go = [], threading.Lock(), threading.Event()

    def one():
        conn = http.client.HTTPConnection(server.host, server.port, timeout=15)
        conn.connect()
        go.wait()
        started = time.monotonic()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        with lock:
            results.append((response.status, response.getheader("Retry-After"),
                            time.monotonic() - started))
        conn.close()

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)             # every client connected
    go.set()
    for thread in threads:
        thread.join()
    return results


def test_beyond_max_pending_requests_get_503_with_retry_after_at_once(server_factory):
    server = start(server_factory, "threads", "--threads", "2", "--max-pending", "2")
    results = burst(server, "/sleep?s=1", 7)
    served = [r for r in results if r[0] == 200]
    shed = [r for r in results if r[0] == 503]
    # Two run, two wait for a thread; the other three are refused.
    assert len(served) == 4 and len(shed) == 3, results
    assert all(retry == "1" and took < 0.5 for _, retry, took in shed), results
    assert max(took for _, _, took in served) >= 1.9       # the waiting ones ran after
    output = server.output()
    assert "answered 503 to GET /sleep?s=1 from 127.0.0.1: 2 requests wait for an app thread " \
           "(--max-pending 2)" in output


def test_without_max_pending_every_request_waits_its_turn(server_factory):
    server = start(server_factory, "threads", "--threads", "2")
    results = burst(server, "/sleep?s=0.5", 6)
    assert [status for status, _, _ in results] == [200] * 6


@pytest.mark.parametrize("mode", ["inline", "asgi"])
def test_without_threads_it_has_no_effect(server_factory, mode):
    server = start(server_factory, mode, "--max-pending", "1")
    results = burst(server, "/sleep?s=0.3", 4)
    assert [status for status, _, _ in results] == [200] * 4
    assert "--max-pending applies with --threads (WSGI); it has no effect here" in server.output()


def test_a_bad_value_stops_the_server():
    result = run_cli("hello:app", "--max-pending", "-1", "--check-config")
    assert result.returncode == 2
    line, = result.stderr.strip().splitlines()
    assert "--max-pending" in line and "-1" in line
