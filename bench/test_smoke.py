"""The load harness end to end on the real prefork-serve, small enough for CI.

Starts ``prefork-serve`` on the plaintext app, loads it with wrk for about
three seconds and requires that every request was answered, with no socket
error and no error status. Uses only the main environment, never bench/.venv.
"""
import shutil
import sys
import tempfile

import pytest

from bench.apps import APPS
from bench.runner import BenchConfig, RunningServer, check_response, free_port, run_wrk
from bench.servers import HOST, Process, prefork_argv0

WRK_SECONDS = 3


def prefork_command(port):
    """The console script if installed, else the same entry point by module."""
    argv0 = prefork_argv0()
    by_module = [sys.executable, "-c", "import sys; from prefork.cli import main; sys.exit(main())"]
    head = [argv0] if argv0 else by_module
    return head + [APPS["plaintext"].wsgi, "--bind", f"{HOST}:{port}", "--workers", "1"]


@pytest.fixture
def prefork_plaintext():
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="prefork-smoke-") as tmpdir:
        with RunningServer([Process(prefork_command(port), port)], tmpdir, pin=False) as server:
            yield server, port
        # leaving the block stopped the server by its process group
        assert not server.alive()


def test_prefork_serves_wrk_load_without_errors(prefork_plaintext):
    if not shutil.which("wrk"):
        pytest.skip("wrk is not installed (apt-get install -y wrk); the load smoke test needs it")
    server, port = prefork_plaintext
    check_response(port, APPS["plaintext"], server)
    config = BenchConfig("smoke", "1 worker, wrk -t1 -c20", workers=1, pin=False, connections=20)
    result = run_wrk(port, config, WRK_SECONDS)
    assert result.requests > 0
    assert result.socket_errors == 0, result.as_dict()
    assert result.non_2xx_3xx == 0, result.as_dict()
    assert server.alive(), "prefork-serve died under load"


def test_the_tls_benchmark_measures_prefork(tmp_path):
    """bench/tls.py end to end on prefork alone, one short run of each kind."""
    for tool in ("wrk", "openssl", "taskset"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing (apt-get install {tool})")
    from bench import tls
    cert, key = tls.make_certificate(tmp_path)
    args = type("Args", (), {"duration": 1, "connections": 4, "runs": 1, "clients": 2})()
    got = tls.measure("prefork", cert, key, args)
    assert got["version"] == "TLSv1.3"
    for kind in ("keepalive", "handshake", "reconnect"):
        rate, errors, cpu = got[kind]
        assert rate > 0 and not errors.strip() and cpu > 0, (kind, got[kind])
    assert "| prefork | TLSv1.3 |" in tls.table({"prefork": got})
