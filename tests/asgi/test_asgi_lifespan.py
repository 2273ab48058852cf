"""The ASGI lifespan protocol in each worker: startup before accepting,
its state in every request, shutdown after the last request; a failed
startup is an app-load failure (exit 4, no respawn loop; on HUP the old
workers keep serving); an app that does not speak it is served in auto mode."""
import signal
import time

from conftest import run_cli
from procs import get, wait_for, workers


def test_startup_runs_before_accepting_and_its_state_reaches_requests(server_factory):
    server = server_factory("asgi_probe:app", "--workers", "2")
    status, body = get(server.port, "/scope")
    assert status == 200 and b'"greeting": "hello from startup"' in body


def test_shutdown_runs_after_the_last_request_in_every_worker(server_factory, tmp_path):
    log = tmp_path / "lifespan.log"
    server = server_factory("asgi_probe:app", "--workers", "2", env={"LIFESPAN_LOG": str(log)})
    pids = wait_for(lambda: len(workers(server.pid)) == 2 and workers(server.pid))
    wait_for(lambda: "ready: 2 workers" in server.output(), message="both workers started")
    assert get(server.port, "/hello")[0] == 200
    server.signal(signal.SIGTERM)
    assert server.proc.wait(10) == 0, server.output()
    assert sorted(log.read_text().split()) == sorted(["shutdown", "shutdown"] + [str(p) for p in pids]), \
        server.output()


def test_a_failed_startup_stops_the_server_with_exit_code_4():
    result = run_cli("asgi_probe:failing_startup_app", "--workers", "2",
                     "--bind", "127.0.0.1:0", timeout=20)
    assert result.returncode == 4
    assert "lifespan startup failed: no database" in result.stderr + result.stdout


def test_an_app_without_lifespan_is_served_in_auto_mode(server_factory):
    server = server_factory("asgi_probe:no_lifespan_app", "--workers", "1")
    assert get(server.port, "/")[1] == b"served without lifespan"
    assert "does not speak the lifespan protocol" in server.output()


def test_an_app_without_lifespan_fails_in_on_mode():
    result = run_cli("asgi_probe:no_lifespan_app", "--lifespan", "on", "--workers", "1",
                     "--bind", "127.0.0.1:0", timeout=20)
    assert result.returncode == 4
    assert "does not run the lifespan protocol" in result.stderr + result.stdout


def test_lifespan_off_sends_no_events(server_factory):
    server = server_factory("asgi_probe:app", "--workers", "1", "--lifespan", "off")
    status, body = get(server.port, "/scope")
    assert status == 200 and b'"state": null' in body


def test_a_reload_whose_startup_fails_keeps_the_old_workers(server_factory, tmp_path):
    app = tmp_path / "switching.py"
    app.write_text(
        "async def app(scope, receive, send):\n"
        "    if scope['type'] == 'lifespan':\n"
        "        await receive()\n"
        "        await send({'type': 'lifespan.startup.complete'})\n"
        "        await receive()\n"
        "        await send({'type': 'lifespan.shutdown.complete'})\n"
        "        return\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': b'old'})\n")
    server = server_factory("switching:app", "--workers", "1", cwd=str(tmp_path),
                            env={"PYTHONDONTWRITEBYTECODE": "1"})
    before = wait_for(lambda: workers(server.pid))
    wait_for(lambda: "ready: 1 workers" in server.output(), message="the worker started")
    app.write_text(
        "async def app(scope, receive, send):\n"
        "    await receive()\n"
        "    await send({'type': 'lifespan.startup.failed', 'message': 'broken config'})\n")
    server.signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in server.output(), timeout=10,
             message=f"the reload failing:\n{server.output()}")
    time.sleep(0.3)
    assert workers(server.pid) == before
    assert get(server.port, "/")[1] == b"old"
