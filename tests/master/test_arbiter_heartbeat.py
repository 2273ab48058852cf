"""A worker whose loop stops for --timeout seconds is killed (SIGABRT,
then SIGKILL) and replaced; the log names the request it was serving.

The heartbeat is the loop's (prefork/worker/_loop.pyx): a stopped process
is silent in every mode (``mode``), while an app call stops the heartbeat
only when it runs inline, in the loop. A loop wedged by the server's own
code, in every mode: tests/master/test_lifecycle.py."""
import http.client
import os
import signal
import threading
import time

from conftest import MODES
from procs import alive, get, wait_for, workers


def test_stopped_worker_is_killed_and_replaced_after_the_timeout(server_factory, mode):
    server = server_factory("hello:app", "--workers", "2", "--timeout", "2", *MODES[mode])
    before = wait_for(lambda: len(workers(server.pid)) == 2 and workers(server.pid))
    os.kill(before[0], signal.SIGSTOP)
    stopped_at = time.monotonic()
    wait_for(lambda: not alive(before[0]), timeout=8, message="the stopped worker killed")
    assert 2.0 <= time.monotonic() - stopped_at < 5.5
    wait_for(lambda: len(workers(server.pid)) == 2, timeout=3, message="a replacement")
    assert get(server.port)[0] == 200
    log = server.output()
    assert f"(pid {before[0]}) timed out" in log and "not serving a request" in log
    assert "SIGKILL" in log


def test_app_blocking_the_inline_loop_past_the_timeout_is_killed_and_the_request_is_logged(
        server_factory):
    # Inline only, on purpose (``--threads 1`` is the default, spelled out):
    # the app's call runs in the loop, so blocking it stops the heartbeat. On
    # a thread pool the loop keeps beating while an app thread blocks, and
    # --timeout does not apply to the call.
    server = server_factory("probe:app", "--workers", "1", "--threads", "1", "--timeout", "2")
    before = wait_for(lambda: workers(server.pid))
    outcome = []

    def blocked_request():
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
        try:
            conn.request("GET", "/sleep?s=20")
            outcome.append(conn.getresponse().status)
        except Exception as exc:
            outcome.append(exc)
        finally:
            conn.close()

    thread = threading.Thread(target=blocked_request)
    thread.start()
    wait_for(lambda: not alive(before[0]), timeout=8, message="the blocked worker killed")
    thread.join(10)
    assert outcome and not isinstance(outcome[0], int)      # the connection was cut
    wait_for(lambda: workers(server.pid) and workers(server.pid) != before, timeout=3)
    log = server.output()
    assert "timed out" in log and "serving 'GET /sleep?s=20'" in log
    assert "was killed by SIGABRT" in log
    assert "time.sleep" in log or "probe.py" in log      # faulthandler's stack dump
    assert get(server.port, "/hello")[1] == b"hello"
