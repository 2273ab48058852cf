"""--request-timeout: a request whose app still runs at the deadline is
answered 504 (or cut, once its response began) and logged with its method,
target and duration; the worker serves on. Inline, the app is interrupted
(a timer signal); with --threads its thread is left to finish, counted; an
ASGI app's task is cancelled. The heartbeat (--timeout) still replaces a
worker whose app never comes back to the interpreter."""
import http.client
import json
import re
import threading
import time

import pytest

from conftest import run_cli
from edge_modes import EDGE_MODES, start
from procs import wait_for, workers


@pytest.fixture(scope="module", params=list(EDGE_MODES))
def mode(request):
    return request.param


@pytest.fixture(scope="module")
def server(module_server_factory, mode):
    return start(module_server_factory, mode, "--request-timeout", "0.5")


def timed(server, path, timeout=15.0):
    """(status, headers, body, seconds) of one GET on a new connection."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    started = time.monotonic()
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        return response.status, response, body, time.monotonic() - started
    finally:
        conn.close()


def stats(server):
    return json.loads(timed(server, "/stats")[2])


def logged_timeout(server, target):
    pattern = re.compile(r"request timed out after (\d+\.\d+)s \(--request-timeout [\d.]+\): "
                         + re.escape(f"GET {target} from 127.0.0.1; ") + r"(.*)")
    match = wait_for(lambda: pattern.search(server.output()), timeout=5, message="the log line")
    return float(match.group(1)), match.group(2)


def test_off_by_default(server_factory, mode):
    server = start(server_factory, mode)
    status, _, body, took = timed(server, "/sleep?s=1.2")
    assert (status, body) == (200, b"done") and took >= 1.2


def test_a_request_within_the_deadline_is_answered(server, mode):
    assert timed(server, "/sleep?s=0.1")[:3:2] == (200, b"done")


def test_past_the_deadline_it_gets_504_and_the_worker_serves_on(server, mode):
    before = wait_for(lambda: workers(server.pid))
    counts = stats(server)
    status, response, body, took = timed(server, "/sleep?s=4")
    assert status == 504 and response.getheader("Connection") == "close"
    assert 0.45 < took < 2.0
    duration, note = logged_timeout(server, "/sleep?s=4")
    assert 0.45 < duration < 2.0
    assert note == {"inline": "the app was interrupted",
                    "threads": "its app thread is left to finish (1 such running)",
                    "asgi": "its task was cancelled"}[mode]
    # The worker serves on at once, the same process.
    assert timed(server, "/env")[0] == 200
    assert workers(server.pid) == before
    time.sleep(0.5)
    after = stats(server)
    assert after["started"] == counts["started"] + 1
    # Interrupted or cancelled: the app never got to its end. A thread
    # is still running it (it finishes later: test_an_abandoned_thread...).
    assert after["finished"] == counts["finished"]


def test_a_streamed_response_past_the_deadline_is_cut(server, mode):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.request("GET", "/stream?n=10&pause=0.2")
    response = conn.getresponse()
    assert response.status == 200          # the head went out with the first block
    with pytest.raises(http.client.IncompleteRead) as cut:
        response.read()
    conn.close()
    assert cut.value.partial.startswith(b"block 0\n") and b"block 9" not in cut.value.partial
    assert logged_timeout(server, "/stream?n=10&pause=0.2")[1] in (
        "the app was interrupted", "its response was cut short", "its task was cancelled")


def test_a_bad_value_stops_the_server():
    for value in ("-1", "soon"):
        result = run_cli("hello:app", "--request-timeout", value, "--check-config")
        assert result.returncode == 2
        line, = result.stderr.strip().splitlines()
        assert "--request-timeout" in line and value in line


# -- inline: what a timer signal interrupts ---------------------------------

@pytest.fixture(scope="module")
def inline(module_server_factory):
    return start(module_server_factory, "inline", "--request-timeout", "0.5")


@pytest.mark.parametrize("path", ["/spin?s=4", "/catch?s=4"])
def test_inline_python_code_is_interrupted(inline, path):
    # /catch sleeps inside ``except Exception``: the deadline is not an Exception.
    status, _, body, took = timed(inline, path)
    assert status == 504 and took < 2.0


def test_inline_a_c_call_is_interrupted_only_when_it_returns(inline):
    # The deadline is 0.5 s; the call runs about 2 s (calibrated on a
    # shared machine, so only "well past the deadline" is asserted).
    status, _, _, took = timed(inline, "/cblock?s=2")
    assert status == 504 and took >= 1.0
    assert timed(inline, "/env")[0] == 200


def test_the_heartbeat_still_replaces_a_worker_that_does_not_come_back(server_factory):
    server = start(server_factory, "inline", "--request-timeout", "0.3", "--timeout", "2")
    worker, = wait_for(lambda: workers(server.pid))
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        timed(server, "/cblock?s=8", timeout=10)
    wait_for(lambda: workers(server.pid) and workers(server.pid) != [worker], timeout=10,
             message="the worker replaced")
    assert "timed out: no heartbeat" in server.output()
    assert timed(server, "/env")[0] == 200


# -- --threads: a thread is left to finish -------------------------------------

@pytest.fixture(scope="module")
def threaded(module_server_factory):
    return start(module_server_factory, "threads", "--threads", "2", "--request-timeout", "0.5")


def test_an_abandoned_thread_finishes_and_the_loop_serves_meanwhile(threaded):
    counts = stats(threaded)
    status, _, _, took = timed(threaded, "/sleep?s=1.5")
    assert status == 504 and took < 1.5
    assert timed(threaded, "/env")[0] == 200           # the other thread serves
    wait_for(lambda: stats(threaded)["finished"] == counts["finished"] + 1, timeout=5,
             message="the abandoned thread to finish")


def test_a_request_still_waiting_for_a_thread_never_runs(threaded):
    counts = stats(threaded)
    results = []
    clients = [threading.Thread(target=lambda: results.append(timed(threaded, "/sleep?s=1.2")[0]))
               for _ in range(3)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    assert results == [504, 504, 504]
    assert "it waited for an app thread and never ran" in threaded.output()
    # Both threads are busy with abandoned calls until those end (a request
    # now would wait for one, past its own deadline).
    time.sleep(1.0)
    wait_for(lambda: stats(threaded)["finished"] == counts["finished"] + 2, timeout=5,
             message="the two running threads to finish")
    assert stats(threaded)["started"] == counts["started"] + 2
