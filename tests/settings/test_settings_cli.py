"""The settings at the command line of the real prefork-serve: --check-config,
--print-config, errors before binding, bind failures, --pid, --chdir,
--user, and the lifecycle hooks."""
import os
import pwd
import signal
import socket

import pytest

from conftest import APPS, run_cli
from procs import get, wait_for, workers


def test_check_config_exits_0_when_valid(tmp_path):
    conf = tmp_path / "c.py"
    conf.write_text("workers = 2\n")
    result = run_cli("hello:app", "-c", str(conf), "--check-config")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize("app,expected", [
    ("no_such_module:app", "module 'no_such_module' not found"),
    ("hello:no_such_app", "module 'hello' has no attribute 'no_such_app'"),
    ("broken_import:app", "importing 'broken_import' failed"),
])
def test_check_config_imports_the_app(app, expected):
    result = run_cli(app, "--check-config")
    assert result.returncode == 4, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"prefork-serve: error: {expected}"), lines


def test_check_config_imports_the_app_from_chdir(tmp_path):
    (tmp_path / "elsewhere_app.py").write_text("def app(environ, start_response):\n    return []\n")
    assert run_cli("elsewhere_app:app", "--check-config").returncode == 4
    result = run_cli("elsewhere_app:app", "--check-config", "--chdir", str(tmp_path))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize("args,env,expected", [
    (["--workers", "0"], {}, "--workers: invalid value '0'; expected an integer >= 1"),
    ([], {"PREFORK_TIMEOUT": "soon"}, "PREFORK_TIMEOUT: invalid value 'soon'; expected seconds > 0"),
    (["--bind", "localhost:http"], {}, "--bind: invalid value 'localhost:http'; expected HOST:PORT"),
])
def test_bad_values_exit_2_with_one_line_before_binding(args, env, expected):
    for extra in (["--check-config"], []):
        result = run_cli("hello:app", *args, *extra, env=env)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"prefork-serve: error: {expected}")
        assert "listening on" not in result.stderr


def test_print_config_shows_the_effective_settings(tmp_path):
    conf = tmp_path / "c.py"
    conf.write_text("workers = 2\nthreads = 3\n")
    result = run_cli("hello:app", "-c", str(conf), "--threads", "4", "--print-config")
    assert result.returncode == 0
    assert "workers = 2" in result.stdout and "threads = 4" in result.stdout


def test_bind_failure_exits_3_naming_the_address():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("hello:app", "--bind", f"127.0.0.1:{port}")
    assert result.returncode == 3
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr


def test_pid_file_names_the_master_and_is_removed_at_exit(server_factory, tmp_path):
    pid_file = tmp_path / "prefork.pid"
    server = server_factory("hello:app", "--workers", "1", "--pid", str(pid_file))
    assert pid_file.read_text().strip() == str(server.pid)
    assert server.stop() == 0
    assert not pid_file.exists()


def test_chdir_loads_the_app_from_that_directory(server_factory, tmp_path):
    server = server_factory("hello:app", "--workers", "1", "--chdir", APPS, cwd=str(tmp_path),
                            env={"PYTHONPATH": ""})
    assert get(server.port)[1] == b"Hello, World!"


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_user_and_group_are_dropped_after_binding(server_factory):
    nobody = pwd.getpwnam("nobody")
    server = server_factory("hello:app", "--workers", "1", "--user", "nobody",
                            "--group", str(nobody.pw_gid))
    for pid in [server.pid] + wait_for(lambda: workers(server.pid)):
        status = open(f"/proc/{pid}/status").read()
        assert status.split("Uid:")[1].split()[0] == str(nobody.pw_uid)
        assert status.split("Gid:")[1].split()[0] == str(nobody.pw_gid)
    assert get(server.port)[0] == 200


HOOKS = '''
import os
LOG = {log!r}

def _note(*words):
    with open(LOG, "a") as f:
        f.write(" ".join(str(w) for w in words) + "\\n")

def on_starting(arbiter): _note("on_starting", os.getpid())
def when_ready(arbiter): _note("when_ready", os.getpid())
def pre_fork(arbiter, worker): _note("pre_fork", worker.number)
def post_fork(arbiter, worker): _note("post_fork", worker.number, os.getpid())
def post_worker_init(worker): _note("post_worker_init", worker.number, os.getpid())
def worker_exit(worker): _note("worker_exit", worker.number, os.getpid())
def on_reload(arbiter): _note("on_reload")
def on_exit(arbiter): _note("on_exit", os.getpid())
'''


def test_hooks_from_the_config_file_run_at_their_points(server_factory, tmp_path):
    log = tmp_path / "hooks.log"
    conf = tmp_path / "hooks.py"
    conf.write_text(HOOKS.format(log=str(log)))
    server = server_factory("hello:app", "--workers", "1", "-c", str(conf))
    wait_for(lambda: log.exists() and "when_ready" in log.read_text(), message="when_ready")
    worker = workers(server.pid)[0]
    server.signal(signal.SIGHUP)
    wait_for(lambda: log.read_text().count("post_worker_init") == 2, message="the reload")
    wait_for(lambda: "worker_exit 1 %d" % worker in log.read_text(), message="old worker's exit")
    assert server.stop() == 0
    lines = log.read_text().splitlines()
    assert lines[0] == f"on_starting {server.pid}" and lines[-1] == f"on_exit {server.pid}"
    assert f"post_fork 1 {worker}" in lines and f"post_worker_init 1 {worker}" in lines
    assert lines.index("pre_fork 1") < lines.index(f"post_fork 1 {worker}")
    assert "on_reload" in lines and lines.count("worker_exit 1 %d" % worker) == 1
