"""TERM stops gracefully (in-flight and pipelined requests finish, idle
keep-alive connections close, SIGKILL after --graceful-timeout); INT and
QUIT stop at once; in every server mode (``mode``: inline, the default,
and ``--threads``)."""
import http.client
import os
import signal
import threading
import time

import pytest

from conftest import MODES
from procs import serving_workers, wait_for, workers
from wire import recv_until_closed


def slow_request(port, seconds, results):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", f"/sleep?s={seconds}")
        response = conn.getresponse()
        results.append((response.status, response.read(), response.getheader("Connection")))
    except Exception as exc:
        results.append(exc)
    finally:
        conn.close()


def start_slow_requests(server, count, seconds):
    results = []
    threads = [threading.Thread(target=slow_request, args=(server.port, seconds, results))
               for _ in range(count)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)             # the requests reach the app
    return threads, results


def test_term_lets_in_flight_requests_finish_then_exits_0(server_factory, mode):
    server = server_factory("probe:app", "--workers", "2", *MODES[mode])
    # Both serving: requests sent while one still boots all go to the other.
    wait_for(lambda: len(serving_workers(server.pid)) == 2, message="2 workers serving")
    threads, results = start_slow_requests(server, 6, 1.0)
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    for thread in threads:
        thread.join(10)
    assert server.proc.wait(10) == 0
    assert [r[:2] if isinstance(r, tuple) else r for r in results] == [(200, b"slept")] * 6
    assert time.monotonic() - started < 5


def test_term_marks_responses_in_flight_connection_close(server_factory, mode):
    server = server_factory("probe:app", "--workers", "1", *MODES[mode])
    threads, results = start_slow_requests(server, 2, 1.0)
    server.signal(signal.SIGTERM)
    for thread in threads:
        thread.join(10)
    # In every mode: the TERM handler turns keep-alive off at once, so even
    # the response of an inline app call the signal interrupted says close.
    assert results == [(200, b"slept", "close")] * 2


def test_term_answers_pipelined_requests_already_received(server_factory, mode):
    server = server_factory("probe:app", "--workers", "1", *MODES[mode])
    with server.connect() as sock:
        sock.sendall(b"GET /sleep?s=0.5 HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        server.signal(signal.SIGTERM)
        data = recv_until_closed(sock)
    assert data.count(b"HTTP/1.1 200") == 2, data
    assert data.endswith(b"hello")
    assert server.proc.wait(10) == 0


def test_term_closes_idle_keepalive_connections(server_factory, mode):
    server = server_factory("probe:app", "--workers", "1", "--keepalive-timeout", "60",
                            *MODES[mode])
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/hello")
    assert conn.getresponse().read() == b"hello"
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    assert conn.sock.recv(1) == b""             # closed by the server, not by the timeout
    assert server.proc.wait(10) == 0
    assert time.monotonic() - started < 3
    conn.close()


def test_term_kills_requests_still_running_at_the_graceful_timeout(server_factory, mode):
    server = server_factory("probe:app", "--workers", "1", "--graceful-timeout", "1",
                            *MODES[mode])
    threads, results = start_slow_requests(server, 1, 30)
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    assert server.proc.wait(10) == 0
    assert time.monotonic() - started < 3.5
    for thread in threads:
        thread.join(5)
    assert "SIGKILL" in server.output() or "exited" in server.output()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGQUIT])
def test_int_and_quit_stop_at_once(server_factory, mode, signum):
    server = server_factory("probe:app", "--workers", "2", "--graceful-timeout", "30",
                            *MODES[mode])
    threads, results = start_slow_requests(server, 1, 30)
    started = time.monotonic()
    server.signal(signum)
    assert server.proc.wait(10) == 0
    assert time.monotonic() - started < 4
    for thread in threads:
        thread.join(5)
    assert results and not isinstance(results[0], tuple)


def test_every_worker_is_gone_after_the_master_exits(server_factory, mode):
    server = server_factory("probe:app", "--workers", "3", *MODES[mode])
    pids = wait_for(lambda: len(workers(server.pid)) == 3 and workers(server.pid))
    server.signal(signal.SIGTERM)
    assert server.proc.wait(10) == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
