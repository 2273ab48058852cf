"""--health-path (liveness) and --ready-path (readiness): answered by the
worker's loop without calling the app, in every mode (inline, --threads,
ASGI). Readiness is 503 while the server starts (not every worker of the
first generation accepts yet), during --shutdown-delay and while it stops."""
import http.client
import signal
import time

import pytest

from conftest import MODES, run_cli
from procs import get, wait_for, workers

PROBE_MODES = {name: ("work", flags) for name, flags in MODES.items()}
PROBE_MODES["asgi"] = ("asgi", [])


@pytest.fixture(scope="module", params=list(PROBE_MODES))
def mode(request):
    return request.param


def start(server_factory, mode, *flags, module="work", workers=1, **kwargs):
    kind, mode_flags = PROBE_MODES[mode]
    app = f"{module}:asgi_app" if kind == "asgi" else f"{module}:app"
    return server_factory(app, "--workers", str(workers), *mode_flags, *flags, **kwargs)


def request(port, path, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.getheader("Cache-Control"), response.read()
    finally:
        conn.close()


def test_probe_paths_reach_the_app_by_default(server_factory, mode):
    server = start(server_factory, mode)
    for path in ("/healthz", "/readyz"):
        status, body = get(server.port, path)
        assert status == 200 and body.startswith(b"pid "), body


def test_health_path_is_answered_without_the_app(server_factory, mode):
    server = start(server_factory, mode, "--health-path", "/healthz")
    assert request(server.port, "/healthz") == (200, "no-store", b"ok\n")
    assert request(server.port, "/healthz?probe=1") == (200, "no-store", b"ok\n")
    assert request(server.port, "/healthz", "HEAD") == (200, "no-store", b"")
    assert get(server.port, "/healthz/more")[1].startswith(b"pid ")
    assert get(server.port, "/fast")[1].startswith(b"pid ")


def test_health_path_on_a_keepalive_connection(server_factory, mode):
    server = start(server_factory, mode, "--health-path", "/healthz")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    for path in ("/healthz", "/fast", "/healthz", "/healthz"):
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200 and not response.will_close
        assert (body == b"ok\n") == (path == "/healthz"), body
    conn.close()


def test_ready_path_is_503_while_the_server_starts(server_factory, mode, tmp_path):
    server = start(server_factory, mode, "--ready-path", "/readyz", "--health-path", "/healthz",
                   module="staggered", workers=2,
                   env={"STAGGER_FILE": str(tmp_path / "first"), "STAGGER_DELAY": "4"})
    # The first worker answers at once; the second is still importing the app.
    assert request(server.port, "/readyz") == (503, "no-store", b"unavailable\n")
    assert request(server.port, "/healthz")[0] == 200
    wait_for(lambda: request(server.port, "/readyz")[0] == 200, timeout=15,
             message="ready once both workers accept")
    assert len(workers(server.pid)) == 2


def test_ready_path_is_503_from_term_through_the_shutdown_delay(server_factory, mode):
    server = start(server_factory, mode, "--ready-path", "/readyz", "--health-path", "/healthz",
                   "--shutdown-delay", "3", workers=2)
    wait_for(lambda: request(server.port, "/readyz")[0] == 200, message="ready")
    server.signal(signal.SIGTERM)
    started = time.monotonic()
    wait_for(lambda: request(server.port, "/readyz")[0] == 503, timeout=2,
             message="not ready after TERM")
    # Still inside the delay: served as before (liveness too), only not ready.
    assert time.monotonic() - started < 2.5
    assert request(server.port, "/healthz")[0] == 200
    assert get(server.port, "/fast")[1].startswith(b"pid ")
    assert request(server.port, "/readyz") == (503, "no-store", b"unavailable\n")
    assert server.proc.wait(15) == 0


def test_ready_path_stays_200_through_a_reload(server_factory, mode):
    server = start(server_factory, mode, "--ready-path", "/readyz", workers=2)
    wait_for(lambda: request(server.port, "/readyz")[0] == 200, message="ready")
    old = set(workers(server.pid))
    server.signal(signal.SIGHUP)
    statuses = set()
    deadline = time.monotonic() + 15
    while (old & set(workers(server.pid)) or len(workers(server.pid)) != 2) \
            and time.monotonic() < deadline:
        statuses.add(request(server.port, "/readyz")[0])
    assert statuses == {200}, statuses


@pytest.mark.parametrize("flag,value", [("--health-path", "healthz"), ("--ready-path", "/a b"),
                                        ("--ready-path", "/ready?x")])
def test_bad_probe_path_is_refused(flag, value):
    done = run_cli("work:app", flag, value)
    assert done.returncode == 2
    assert flag in done.stderr and repr(value) in done.stderr
