"""Every lifecycle path, in every mode, under traffic of every kind.

Each test starts the real server in one of the modes (``mode``: inline, the
default, ``--threads``, and an ASGI app), runs clients of every kind against it (keep-
alive, a new connection per request and pipelined; on routes that block,
burn CPU or answer at once; more connections than workers: tests/
traffic.py), signals it, and asserts what the clients saw: every request
sent got its response, and no client saw an empty reply on a reused
connection. A server that stays up (reload, scaling, recycling, upgrade)
refuses no connection either; one that stops refuses new connections at
once once it has closed its listeners.
"""
import os
import signal
import threading
import time

import pytest

from conftest import MODES, TLS_MODE, tls_mode
from procs import alive, get, serving_workers, wait_for, workers
from traffic import Traffic
from wire import read_response

# The server's modes for these tests: the WSGI ones, and an ASGI app.
LIFECYCLE_MODES = {name: ("work:app", flags) for name, flags in MODES.items()}
LIFECYCLE_MODES["asgi"] = ("work:asgi_app", [])


# A representative set also runs behind TLS (keep-alive, fresh and
# pipelined clients through TERM, HUP and the drain).
WITH_TLS = [*LIFECYCLE_MODES, TLS_MODE]


@pytest.fixture(scope="module", params=list(LIFECYCLE_MODES))
def mode(request):
    return request.param


def start(server_factory, mode, *flags, workers=2, **kwargs):
    """The server, once every worker serves (a request sent while the others
    still boot would all go to the first)."""
    if mode == TLS_MODE:
        (app, mode_flags), (tls_flags, kwargs["tls"]) = LIFECYCLE_MODES["inline"], tls_mode()
        mode_flags = [*mode_flags, *tls_flags]
    else:
        app, mode_flags = LIFECYCLE_MODES[mode]
    server = server_factory(app, "--workers", str(workers), "--graceful-timeout", "10",
                            *mode_flags, *flags, **kwargs)
    wait_for(lambda: len(serving_workers(server.pid)) == workers, timeout=20,
             message=f"{workers} workers serving")
    return server


def assert_every_request_answered(traffic, refusals_allowed=False):
    assert traffic.failures == {}, traffic.report()
    assert traffic.empty_replies_on_reused() == 0, traffic.report()
    assert traffic.ok > 30, traffic.report()
    if not refusals_allowed:
        assert traffic.refused == 0, traffic.report()


def count(server, n):
    return lambda: len(workers(server.pid)) == n


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_get(port, path="/fast", timeout=5.0):
    started = time.monotonic()
    status, body = get(port, path, timeout=timeout)
    return status, time.monotonic() - started


# -- 0. after an app call or a batch of any length, the loop serves at once --

@pytest.mark.parametrize("seconds", [1.5, 5.0])
def test_a_slow_call_leaves_the_worker_serving_and_idle(server_factory, mode, seconds):
    server = start(server_factory, mode, workers=1)
    worker = wait_for(lambda: workers(server.pid))[0]
    assert get(server, f"/sleep?s={seconds}", timeout=seconds + 5)[0] == 200
    for _ in range(3):
        status, took = timed_get(server)
        assert status == 200 and took < 0.5
    before = cpu_seconds(worker)
    time.sleep(1.0)
    assert cpu_seconds(worker) - before < 0.2, "the worker spins after the slow call"
    assert workers(server.pid) == [worker]


def test_a_long_batch_of_moderate_calls_leaves_the_worker_serving(server_factory, mode):
    server = start(server_factory, mode, workers=1)
    worker = wait_for(lambda: workers(server.pid))[0]
    results = []

    def one():
        results.append(get(server, "/sleep?s=0.05", timeout=10)[0])

    threads = [threading.Thread(target=one) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert results == [200] * 30
    status, took = timed_get(server)
    assert status == 200 and took < 0.5
    before = cpu_seconds(worker)
    time.sleep(1.0)
    assert cpu_seconds(worker) - before < 0.2, "the worker spins after the batch"


# -- TERM, INT, QUIT --------------------------------------------------------

@pytest.mark.parametrize("mode", WITH_TLS)
def test_term_under_load_answers_every_request_then_exits(server_factory, mode):
    server = start(server_factory, mode)
    with Traffic(server) as traffic:
        time.sleep(1.0)
        server.signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert server.proc.wait(10) == 0
        took = time.monotonic() - signalled
    assert_every_request_answered(traffic, refusals_allowed=True)
    # In-flight requests (50 ms at most), the idle linger (1 s) and the
    # closing of the listeners (0.2 s) bound it.
    assert took < 3.0, f"{took:.1f}s to stop"
    assert "SIGKILL" not in server.output()


def test_term_with_blocking_requests_in_flight(server_factory, mode):
    server = start(server_factory, mode, workers=4)
    results, durations = {}, {}

    def slow(name):
        started = time.monotonic()
        try:
            results[name] = get(server, "/sleep?s=3", timeout=15)[0]
        except OSError as exc:
            results[name] = repr(exc)
        durations[name] = round(time.monotonic() - started, 2)

    slow_clients = [threading.Thread(target=slow, args=(i,)) for i in range(3)]
    for thread in slow_clients:
        thread.start()
    time.sleep(0.5)
    server.signal(signal.SIGTERM)
    signalled = time.monotonic()
    time.sleep(0.3)
    # A new connection in the drain window is served or refused at once.
    try:
        status, took = timed_get(server, timeout=5)
        assert status == 200 and took < 1.0
    except ConnectionRefusedError:
        assert time.monotonic() - signalled < 1.5
    for thread in slow_clients:
        thread.join(15)
    assert results == {0: 200, 1: 200, 2: 200}
    # Each on a worker of its own (not queued behind another).
    assert max(durations.values()) < 4.5, durations
    assert server.proc.wait(10) == 0
    assert time.monotonic() - signalled < 5.0
    assert "SIGKILL" not in server.output()


def test_a_new_connection_after_the_listeners_shut_is_refused_at_once(server_factory, mode):
    server = start(server_factory, mode, workers=1)
    busy = threading.Thread(target=get, args=(server, "/sleep?s=2"), kwargs={"timeout": 10})
    busy.start()
    time.sleep(0.3)
    server.signal(signal.SIGTERM)
    wait_for(lambda: "listeners shut down" in server.output(), timeout=5,
             message="the listeners shut down")
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        get(server, timeout=5)
    assert time.monotonic() - started < 0.5
    busy.join(10)
    assert server.proc.wait(10) == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGQUIT])
def test_int_and_quit_stop_at_once_under_load(server_factory, mode, signum):
    server = start(server_factory, mode, "--graceful-timeout", "30")
    pids = wait_for(lambda: len(workers(server.pid)) == 2 and workers(server.pid))
    with Traffic(server):
        time.sleep(0.5)
        server.signal(signum)
        signalled = time.monotonic()
        assert server.proc.wait(10) == 0
        assert time.monotonic() - signalled < 3.0
    assert not any(alive(pid) for pid in pids)


# -- HUP, TTIN/TTOU, recycling: the server stays up ---------------------------

@pytest.mark.parametrize("preload", [False, True], ids=["import-in-worker", "preload"])
@pytest.mark.parametrize("mode", WITH_TLS)
def test_hup_under_load_loses_nothing(server_factory, mode, preload):
    server = start(server_factory, mode, *(["--preload"] if preload else []))
    wait_for(count(server, 2))
    with Traffic(server) as traffic:
        for _ in range(4):
            time.sleep(1.2)
            server.signal(signal.SIGHUP)
        time.sleep(1.2)
    assert_every_request_answered(traffic)
    # Old generations are gone within their drain: in-flight work and the linger.
    wait_for(count(server, 2), timeout=3, message="two workers after the reloads")
    assert server.output().count("reload complete") == 4


def test_a_lone_new_connection_during_a_reload_is_answered(server_factory, mode):
    # One client, a new connection per request, nothing else: the kernel's
    # wake-up for its connection may go to an old worker that stops
    # accepting right then; no other connection comes to wake anyone.
    server = start(server_factory, mode)
    for reload in range(6):
        old = set(workers(server.pid))
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        answered = 0
        while (old & set(workers(server.pid)) or len(workers(server.pid)) != 2) \
                and time.monotonic() < deadline:
            assert get(server, "/fast", timeout=3)[0] == 200, f"reload {reload}, request {answered}"
            answered += 1
        assert not old & set(workers(server.pid)), "the old workers are gone"


def test_ttin_then_ttou_under_load_loses_nothing(server_factory, mode):
    server = start(server_factory, mode)
    wait_for(count(server, 2))
    with Traffic(server) as traffic:
        time.sleep(0.5)
        server.signal(signal.SIGTTIN)
        wait_for(count(server, 3), message="three workers")
        time.sleep(0.5)
        for n in (2, 1):
            server.signal(signal.SIGTTOU)
            signalled = time.monotonic()
            wait_for(count(server, n), timeout=5, message=f"{n} workers")
            assert time.monotonic() - signalled < 3.0
            time.sleep(0.5)
    assert_every_request_answered(traffic)


def test_max_requests_recycling_under_load_loses_nothing(server_factory, mode):
    server = start(server_factory, mode, "--max-requests", "150", "--max-requests-jitter", "30")
    with Traffic(server) as traffic:
        wait_for(lambda: server.output().count("asking to be replaced") >= 3, timeout=20,
                 message="three recycled workers")
        time.sleep(0.5)
    assert_every_request_answered(traffic)


def test_max_worker_memory_recycling_under_load_loses_nothing(server_factory, mode):
    server = start(server_factory, mode, "--max-worker-memory", "60MB")
    with Traffic(server) as traffic:
        time.sleep(0.5)
        grown = int(get(server, "/grow")[1].split()[1])
        wait_for(lambda: not alive(grown) or grown not in workers(server.pid), timeout=10,
                 message="the grown worker replaced")
        time.sleep(0.5)
    assert_every_request_answered(traffic)
    assert f"(pid {grown}) uses" in server.output()


def read_pid(path):
    try:
        return int(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def test_usr2_winch_and_term_of_the_old_master_lose_nothing(server_factory, mode, tmp_path):
    pid_file = tmp_path / "prefork.pid"
    server = start(server_factory, mode, "--pid", str(pid_file))
    wait_for(count(server, 2))
    new_master = None
    try:
        with Traffic(server) as traffic:
            time.sleep(0.5)
            server.signal(signal.SIGUSR2)
            new_master = wait_for(lambda: read_pid(pid_file) not in (None, server.pid)
                                  and read_pid(pid_file), message="the new master's pid file")
            wait_for(lambda: len(workers(new_master)) == 2, message="the new master's workers")
            time.sleep(0.5)
            server.signal(signal.SIGWINCH)
            wait_for(lambda: not workers(server.pid), timeout=5, message="the old workers gone")
            time.sleep(0.5)
            server.signal(signal.SIGTERM)
            assert server.proc.wait(10) == 0
            time.sleep(0.5)
        assert_every_request_answered(traffic)
        assert alive(new_master)
    finally:
        if new_master is not None and alive(new_master):
            os.kill(new_master, signal.SIGTERM)
            wait_for(lambda: not alive(new_master), message="the new master's exit")


# -- the heartbeat ------------------------------------------------------------

WEDGE_HOOK = '''
import os

def post_worker_init(worker):
    # Wedge the loop of the first worker that starts, once: a callback that
    # never returns, as a bug in a loop of the server's own would.
    flag = os.environ["WEDGE_FLAG"]
    if not os.path.exists(flag):
        open(flag, "w").close()

        def wedge():
            while True:
                pass
        worker.loop.call_later(0.5, wedge)
'''


def test_a_wedged_loop_is_killed_and_replaced_after_the_timeout(server_factory, mode, tmp_path):
    conf = tmp_path / "wedge.conf.py"
    conf.write_text(WEDGE_HOOK)
    server = start(server_factory, mode, "-c", str(conf), "--timeout", "2", workers=1,
                   env={"WEDGE_FLAG": str(tmp_path / "wedged")})
    wedged = wait_for(lambda: workers(server.pid))[0]
    wait_for(lambda: not alive(wedged), timeout=8, message="the wedged worker killed")
    log = server.output()
    assert f"(pid {wedged}) timed out" in log and "SIGABRT" in log
    wait_for(lambda: workers(server.pid) and workers(server.pid) != [wedged], timeout=5,
             message="a replacement")
    assert get(server)[0] == 200


RESCHEDULE_HOOK = '''
def post_worker_init(worker):
    # A timer that reschedules itself, already due, forever: the loop must
    # still wait on epoll and serve between its runs.
    def again():
        worker.loop.call_later(0, again)
    worker.loop.call_later(0, again)
'''


def test_a_timer_rescheduling_itself_cannot_starve_the_loop(server_factory, mode, tmp_path):
    conf = tmp_path / "timer.conf.py"
    conf.write_text(RESCHEDULE_HOOK)
    server = start(server_factory, mode, "-c", str(conf), "--timeout", "2", workers=1)
    worker = wait_for(lambda: workers(server.pid))[0]
    for _ in range(5):
        status, took = timed_get(server)
        assert status == 200 and took < 0.5
    time.sleep(3)                       # past --timeout: the heartbeat still beats
    assert workers(server.pid) == [worker]
    assert "timed out" not in server.output()


# -- the drain window, on one connection ---------------------------------------

@pytest.mark.parametrize("mode", WITH_TLS)
def test_a_request_sent_on_an_idle_keepalive_connection_during_the_drain_is_answered(
        server_factory, mode):
    server = start(server_factory, mode, "--keepalive-timeout", "30", workers=1)
    with server.connect() as sock:
        reader = sock.makefile("rb")
        sock.sendall(b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n")
        assert not read_response(reader).closes
        busy = threading.Thread(target=get, args=(server, "/sleep?s=1"), kwargs={"timeout": 10})
        busy.start()
        time.sleep(0.2)
        server.signal(signal.SIGTERM)
        time.sleep(0.3)                 # the drain has begun; this connection is idle
        sock.sendall(b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n")
        response = read_response(reader)
        assert response.status == 200 and response.closes
        busy.join(10)
    assert server.proc.wait(10) == 0


@pytest.mark.parametrize("mode", WITH_TLS)
def test_an_idle_connection_closes_after_the_linger(server_factory, mode):
    server = start(server_factory, mode, "--keepalive-timeout", "30", workers=1)
    with server.connect() as sock:
        sock.sendall(b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(sock.makefile("rb")).status == 200
        server.signal(signal.SIGTERM)
        signalled = time.monotonic()
        sock.settimeout(5)
        assert sock.recv(1) == b""
        assert 0.8 < time.monotonic() - signalled < 2.0
    assert server.proc.wait(10) == 0


@pytest.mark.parametrize("mode", WITH_TLS)
def test_pipelined_requests_received_before_the_drain_are_all_answered(server_factory, mode):
    server = start(server_factory, mode, workers=1)
    with server.connect() as sock:
        reader = sock.makefile("rb")
        sock.sendall(b"GET /sleep?s=0.5 HTTP/1.1\r\nHost: t\r\n\r\n"
                     b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n"
                     b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.2)
        server.signal(signal.SIGTERM)
        responses = [read_response(reader) for _ in range(3)]
        assert [r.status for r in responses] == [200, 200, 200]
        # Then the connection closes: the last response says so, or (inline,
        # where the TERM is acted on after the batch that served all three)
        # it closes at the end of the linger.
        sock.settimeout(3)
        assert sock.recv(1) == b""
    assert server.proc.wait(10) == 0


# -- --shutdown-delay -----------------------------------------------------------

def test_shutdown_delay_keeps_serving_with_connection_close(server_factory, mode):
    server = start(server_factory, mode, "--shutdown-delay", "1.5")
    with Traffic(server) as traffic:
        time.sleep(0.5)
        server.signal(signal.SIGTERM)
        signalled = time.monotonic()
        time.sleep(0.5)
        with server.connect() as sock:       # still accepting, still serving
            sock.sendall(b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n")
            response = read_response(sock.makefile("rb"))
            assert response.status == 200 and response.closes
        assert server.proc.wait(10) == 0
        took = time.monotonic() - signalled
    assert_every_request_answered(traffic, refusals_allowed=True)
    assert 1.5 <= took < 4.5
