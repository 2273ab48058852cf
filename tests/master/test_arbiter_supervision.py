"""The master reaps and replaces workers, stops with exit code 4 when the
app cannot be imported, and forks clean workers. Replacing a killed worker
under load runs in every server mode (``mode``: inline, the default, and
``--threads``); the rest is the master's start-up and fork, the same in each."""
import os
import signal
import time

from procs import Load, get, wait_for, workers
from conftest import MODES, run_cli


def test_killed_worker_is_replaced_within_a_second_while_others_serve(server_factory, mode):
    server = server_factory("hello:app", "--workers", "2", *MODES[mode])
    before = wait_for(lambda: len(workers(server.pid)) == 2 and workers(server.pid))
    with Load(server.port, clients=4) as load:
        time.sleep(0.3)
        os.kill(before[0], signal.SIGKILL)
        killed_at = time.monotonic()
        ok_at_kill = load.ok
        after = wait_for(lambda: before[0] not in workers(server.pid)
                         and len(workers(server.pid)) == 2 and workers(server.pid), timeout=2)
        assert time.monotonic() - killed_at < 1.0
        time.sleep(0.3)
    assert load.ok > ok_at_kill + 50
    assert len(load.failures) <= 4          # at most the connections the killed worker held
    assert before[1] in after
    wait_for(lambda: "was killed by SIGKILL; replacing it" in server.output(), message="the log")


def test_worker_that_cannot_import_the_app_stops_the_server_with_code_4():
    started = time.monotonic()
    result = run_cli("no_such_module_here:app", "--bind", "127.0.0.1:0", "--workers", "2",
                     timeout=15)
    assert result.returncode == 4
    assert time.monotonic() - started < 5
    assert "module 'no_such_module_here' not found" in result.stderr
    assert result.stderr.count("replacing it") <= 2        # no respawn loop


def test_import_error_inside_the_app_module_is_shown(tmp_path):
    (tmp_path / "broken_app.py").write_text("import missing_dependency_xyz\napp = None\n")
    result = run_cli("broken_app:app", "--bind", "127.0.0.1:0",
                     env={"PYTHONPATH": str(tmp_path)}, timeout=15)
    assert result.returncode == 4
    assert "missing_dependency_xyz" in result.stderr


def test_workers_default_to_the_number_of_cpus(server_factory):
    server = server_factory("hello:app")
    wait_for(lambda: len(workers(server.pid)) == os.cpu_count(), message="one worker per CPU")


def test_preload_imports_the_app_in_the_master(server_factory, tmp_path):
    record = tmp_path / "imported"
    server = server_factory("pids:app", "--workers", "2", "--preload",
                            env={"IMPORTED_BY": str(record)})
    assert get(server.port)[0] == 200
    assert record.read_text().split() == [str(server.pid)]


def test_workers_are_reseeded_and_do_not_keep_the_masters_handlers(server_factory):
    server = server_factory("pids:app", "--workers", "2", "--preload")
    pids = wait_for(lambda: len(workers(server.pid)) == 2 and workers(server.pid))
    first = {}
    deadline = time.monotonic() + 10
    while len(first) < 2 and time.monotonic() < deadline:
        pid, number = get(server.port)[1].split()
        first.setdefault(int(pid), number)
    assert len(set(first.values())) == 2, "both workers drew the same random numbers"
    for pid in pids:
        caught = int(open(f"/proc/{pid}/status").read().split("SigCgt:")[1].split()[0], 16)
        assert not caught & (1 << (signal.SIGCHLD - 1)), "worker still catches SIGCHLD"
        assert not caught & (1 << (signal.SIGTTIN - 1)), "worker still catches SIGTTIN"


def test_preload_import_failure_exits_4_before_forking():
    result = run_cli("no_such_module_here:app", "--bind", "127.0.0.1:0", "--preload", timeout=15)
    assert result.returncode == 4
    assert "module 'no_such_module_here' not found" in result.stderr
    assert "worker" not in result.stderr
