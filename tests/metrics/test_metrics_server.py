"""GET /metrics on --metrics-bind: the master's sum of every worker's
counters, across workers, exits and reloads, in every mode; parsed with
prometheus_client's text parser (the format Prometheus scrapes)."""
import http.client
import os
import signal
import socket
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import MODES, free_port, run_cli
from procs import get, wait_for, workers

# The modes: the WSGI ones and an ASGI app (tests/apps/work.py serves both).
METRICS_MODES = {name: ("work:app", flags) for name, flags in MODES.items()}
METRICS_MODES["asgi"] = ("work:asgi_app", [])


@pytest.fixture(scope="module", params=list(METRICS_MODES))
def mode(request):
    return request.param


def start(server_factory, mode, *flags, workers=2):
    app, mode_flags = METRICS_MODES[mode]
    port = free_port()
    server = server_factory(app, "--workers", str(workers), "--metrics-bind", f"127.0.0.1:{port}",
                            *mode_flags, *flags)
    server.metrics_port = port
    wait_for(lambda: len(workers_of(server)) == workers, message="workers")
    return server


def workers_of(server):
    return workers(server.pid)


def scrape(server):
    """{(name, frozenset(labels.items())): value} of every sample."""
    conn = http.client.HTTPConnection("127.0.0.1", server.metrics_port, timeout=5)
    conn.request("GET", "/metrics")
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    assert response.status == 200, body
    assert response.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def requests_ok(samples, method="GET"):
    return value(samples, "prefork_requests_total", method=method, status="2xx")


def keepalive_gets(port, count, path="/fast"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for _ in range(count):
        conn.request("GET", path)
        assert conn.getresponse().read().startswith(b"pid ")
    conn.close()


def test_counts_requests_connections_and_bytes(server_factory, mode):
    server = start(server_factory, mode)
    for _ in range(5):
        assert get(server.port, "/fast")[0] == 200
    keepalive_gets(server.port, 10)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("POST", "/fast", body=b"x" * 100)
    assert conn.getresponse().read()
    conn.close()
    samples = wait_for(lambda: (lambda s: s if value(s, "prefork_connections_open") == 0 else None)(
        scrape(server)), message="connections closed")
    assert requests_ok(samples) == 15
    assert requests_ok(samples, "POST") == 1
    assert value(samples, "prefork_keepalive_reused_total") == 9
    # 7, and the one the test harness opened to see the port listening
    assert value(samples, "prefork_connections_accepted_total") == 8
    assert value(samples, "prefork_requests_in_flight") == 0
    assert value(samples, "prefork_received_bytes_total") > 16 * 30 + 100
    assert value(samples, "prefork_sent_bytes_total") > 16 * 40
    assert value(samples, "prefork_request_duration_seconds_count") == 16
    assert value(samples, "prefork_request_duration_seconds_bucket", le="+Inf") == 16
    assert value(samples, "prefork_request_duration_seconds_sum") > 0
    assert value(samples, "prefork_workers") == 2
    assert value(samples, "prefork_worker_starts_total") == 2
    assert value(samples, "prefork_build_info", version="0.1.0",
                 python=__import__("platform").python_version()) == 1


def test_a_slow_request_is_in_flight_and_in_its_bucket(server_factory, mode):
    server = start(server_factory, mode)
    sock = server.connect()
    sock.sendall(b"GET /sleep?s=1.0 HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_for(lambda: value(scrape(server), "prefork_requests_in_flight") == 1,
             message="one request in flight")
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    sock.close()
    samples = scrape(server)
    assert value(samples, "prefork_requests_in_flight") == 0
    assert value(samples, "prefork_request_duration_seconds_bucket", le="0.5") == 0
    assert value(samples, "prefork_request_duration_seconds_bucket", le="2.5") == 1


def test_counters_survive_reloads_and_exits(server_factory, mode):
    """Never backwards: a worker's counts move into the master's totals
    when it exits (HUP, a crash), so the sums only grow."""
    server = start(server_factory, mode)
    keepalive_gets(server.port, 20)
    before = requests_ok(scrape(server))
    assert before == 20
    old = set(workers_of(server))
    server.signal(signal.SIGHUP)
    wait_for(lambda: value(scrape(server), "prefork_worker_exits_total", cause="reload") == 2,
             message="the old generation's exits")
    samples = scrape(server)
    assert value(samples, "prefork_reloads_total", outcome="success") == 1
    assert value(samples, "prefork_generation") == 2
    assert requests_ok(samples) == 20
    assert not old & set(workers_of(server))
    keepalive_gets(server.port, 5)
    assert requests_ok(scrape(server)) == 25
    os.kill(workers_of(server)[0], signal.SIGKILL)
    wait_for(lambda: value(scrape(server), "prefork_worker_exits_total", cause="crashed") == 1,
             message="the crash counted")
    wait_for(lambda: len(workers_of(server)) == 2, message="the replacement")
    samples = scrape(server)
    assert requests_ok(samples) == 25
    assert value(samples, "prefork_worker_starts_total") == 5


def test_counts_refused_requests_by_kind(server_factory, mode):
    server = start(server_factory, mode, "--header-timeout", "1", "--limit-request-line", "100",
                   workers=1)
    for raw in (b"GARBAGE\r\n\r\n", b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"):
        with server.connect() as sock:
            sock.sendall(raw)
            assert sock.recv(4096)[9:10] in (b"4", b"5")
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")         # and nothing more: 408 after 1 s
        assert sock.recv(4096).startswith(b"HTTP/1.1 408")
    samples = scrape(server)
    assert value(samples, "prefork_parse_errors_total", kind="bad_request") == 1
    assert value(samples, "prefork_parse_errors_total", kind="target_too_long") == 1
    assert value(samples, "prefork_parse_errors_total", kind="not_implemented") == 1
    assert value(samples, "prefork_parse_errors_total", kind="version") == 1
    assert value(samples, "prefork_read_timeouts_total") == 1
    assert requests_ok(samples) == 0


def test_worker_exits_by_cause(server_factory, mode):
    """max-requests recycles; a stuck loop is killed by the heartbeat."""
    server = start(server_factory, mode, "--max-requests", "5", "--timeout", "1", workers=1)
    keepalive_gets(server.port, 6)
    wait_for(lambda: value(scrape(server), "prefork_worker_exits_total", cause="recycled") == 1,
             timeout=15, message="a recycled worker")
    if mode != "threads":   # with --threads the loop goes on beating while the app burns
        with server.connect(timeout=10) as sock:
            sock.sendall(b"GET /burn?ms=4000 HTTP/1.1\r\nHost: x\r\n\r\n")
            wait_for(lambda: value(scrape(server), "prefork_worker_exits_total",
                                   cause="heartbeat") == 1, timeout=15, message="a heartbeat kill")
    server.stop()


def test_endpoint_answers_only_metrics(server_factory):
    server = start(server_factory, "inline", workers=1)
    for method, path, status in (("GET", "/", 404), ("POST", "/metrics", 405),
                                 ("HEAD", "/metrics", 200), ("GET", "/metrics?x=1", 200)):
        conn = http.client.HTTPConnection("127.0.0.1", server.metrics_port, timeout=5)
        conn.request(method, path)
        response = conn.getresponse()
        body = response.read()
        assert response.status == status, (method, path)
        if method == "HEAD":
            assert body == b"" and int(response.getheader("Content-Length")) > 1000
        conn.close()
    # A client that sends nothing never holds the master: others are served meanwhile.
    idle = socket.create_connection(("127.0.0.1", server.metrics_port))
    assert value(scrape(server), "prefork_workers") == 1
    idle.close()


def test_cache_counters(server_factory):
    port = free_port()
    server = server_factory("cacheable:app", "--workers", "2", "--cache-size", "1MB",
                            "--metrics-bind", f"127.0.0.1:{port}")
    server.metrics_port = port
    for _ in range(3):
        assert get(server.port, "/public/metrics-a")[0] == 200
    samples = scrape(server)
    assert value(samples, "prefork_cache_misses_total") == 1
    assert value(samples, "prefork_cache_stores_total") == 1
    assert value(samples, "prefork_cache_hits_total") == 2
    assert value(samples, "prefork_cache_entries") == 1
    assert value(samples, "prefork_cache_bytes_used") > 0
    assert value(samples, "prefork_cache_evictions_total") == 0
    assert value(samples, "prefork_cache_coalesced_waits_total") == 0


def test_no_metrics_listener_by_default(server_factory):
    """Off unless asked: the master holds no socket but the --bind one."""
    server = server_factory("work:app", "--workers", "1")
    sockets = [os.readlink(f"/proc/{server.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{server.pid}/fd")]
    listening = [s for s in sockets if s.startswith("socket:")]
    assert len(listening) == 1, listening


@pytest.mark.parametrize("value_", ["nonsense:port", "fd://3", "[::1]"])
def test_bad_metrics_bind_is_refused(value_):
    done = run_cli("work:app", "--metrics-bind", value_)
    assert done.returncode == 2
    assert "--metrics-bind" in done.stderr and value_ in done.stderr


def test_metrics_address_in_use_exits_3():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("work:app", "--bind", f"127.0.0.1:{free_port()}",
                       "--metrics-bind", f"127.0.0.1:{port}")
    assert done.returncode == 3, done.stderr
    assert "--metrics-bind" in done.stderr


def test_promtool_accepts_the_output(server_factory):
    """Prometheus's own linter (apt package prometheus; .ci/run installs it)."""
    import shutil
    import subprocess
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed: apt-get install prometheus"
    port = free_port()
    server = server_factory("work:app", "--workers", "2", "--cache-size", "1MB",
                            "--metrics-bind", f"127.0.0.1:{port}")
    keepalive_gets(server.port, 3)
    text = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    text.request("GET", "/metrics")
    body = text.getresponse().read()
    done = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), done
