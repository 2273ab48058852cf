"""The production edge's events in /metrics: requests past --request-timeout
(and the app threads left to finish them), and requests shed at
--max-pending, counted by the worker that answered them."""
import http.client
import threading
import time

import pytest

from conftest import free_port
from edge_modes import EDGE_MODES, start
from test_metrics_server import scrape, value


def edge_server(server_factory, mode, *flags):
    port = free_port()
    if mode == "threads" and "--threads" in flags:
        server = server_factory("edge:app", "--workers", "1", "--metrics-bind",
                                f"127.0.0.1:{port}", *flags)
    else:
        server = start(server_factory, mode, "--metrics-bind", f"127.0.0.1:{port}", *flags)
    server.metrics_port = port
    return server


def get_status(server, path, timeout=15):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


@pytest.mark.parametrize("mode", list(EDGE_MODES))
def test_requests_past_the_deadline_are_counted(server_factory, mode):
    server = edge_server(server_factory, mode, "--request-timeout", "0.5")
    assert get_status(server, "/sleep?s=3") == 504
    assert get_status(server, "/sleep?s=3") == 504
    assert get_status(server, "/env") == 200
    samples = scrape(server)
    assert value(samples, "prefork_request_timeouts_total") == 2
    # Inline calls are interrupted and ASGI tasks cancelled; only an app
    # thread is left running.
    expected = 2 if mode == "threads" else 0
    assert value(samples, "prefork_abandoned_threads_total") == expected


def test_requests_shed_at_max_pending_are_counted(server_factory):
    server = edge_server(server_factory, "threads", "--threads", "2", "--max-pending", "1")
    statuses = []
    connected = threading.Barrier(7)
    go = threading.Event()

    def one():
        conn = http.client.HTTPConnection(server.host, server.port, timeout=15)
        conn.connect()
        connected.wait()
        go.wait()
        conn.request("GET", "/sleep?s=1")
        response = conn.getresponse()
        response.read()
        statuses.append(response.status)
        conn.close()

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    connected.wait()
    time.sleep(0.2)             # every connection accepted
    go.set()
    for thread in threads:
        thread.join(20)
    shed = statuses.count(503)
    assert shed >= 1 and statuses.count(200) + shed == 6, statuses
    assert value(scrape(server), "prefork_requests_shed_total") == shed
