"""TTIN / TTOU change the worker count by one (never below one); USR1
reopens the log files; in every server mode (``mode``: inline, the default,
and ``--threads``)."""
import os
import signal

from conftest import MODES
from procs import get, wait_for, workers


def count(server, n):
    return lambda: len(workers(server.pid)) == n


def test_ttin_adds_a_worker_and_ttou_removes_one_but_never_the_last(server_factory, mode):
    server = server_factory("hello:app", "--workers", "1", *MODES[mode])
    wait_for(count(server, 1))
    server.signal(signal.SIGTTIN)
    wait_for(count(server, 2), message="two workers")
    server.signal(signal.SIGTTIN)
    wait_for(count(server, 3), message="three workers")
    server.signal(signal.SIGTTOU)
    wait_for(count(server, 2), message="two workers again")
    server.signal(signal.SIGTTOU)
    wait_for(count(server, 1), message="one worker")
    server.signal(signal.SIGTTOU)       # (signals sent together may merge into one)
    wait_for(lambda: server.output().count("workers: 1") >= 2, message="the second TTOU")
    assert len(workers(server.pid)) == 1
    assert get(server.port)[0] == 200


def has_open(pid, path):
    """True when the process holds ``path`` open (the file, not a renamed one)."""
    fds = f"/proc/{pid}/fd"
    for fd in os.listdir(fds):
        try:
            if os.readlink(os.path.join(fds, fd)) == str(path):
                return True
        except OSError:
            pass
    return False


def test_usr1_reopens_the_access_and_error_logs(server_factory, mode, tmp_path):
    access, error = tmp_path / "access.log", tmp_path / "error.log"
    server = server_factory("hello:app", "--workers", "2", "--access-log", str(access),
                            "--error-log", str(error), *MODES[mode])
    get(server.port, "/before")
    wait_for(lambda: access.exists() and b"/before" in access.read_bytes())
    os.rename(access, tmp_path / "access.log.1")
    os.rename(error, tmp_path / "error.log.1")
    server.signal(signal.SIGUSR1)
    wait_for(lambda: error.exists(), message="a new error log")
    wait_for(lambda: access.exists(), message="a new access log")   # created by the workers
    wait_for(lambda: all(has_open(pid, access) for pid in workers(server.pid)),
             message="every worker writing to the new access log")
    for _ in range(4):
        get(server.port, "/after")
    wait_for(lambda: access.read_bytes().count(b"/after") == 4, message="lines in the new file")
    assert b"/after" not in (tmp_path / "access.log.1").read_bytes()
    server.signal(signal.SIGTTIN)
    wait_for(lambda: b"workers: 3" in error.read_bytes(), message="the master's new error log")
