"""USR2 starts a new master on the same sockets; WINCH stops the old
master's workers and TERM the old master, and the port never refuses; in
every server mode (``mode``: inline, the default, and ``--threads``)."""
import os
import signal
import threading

from conftest import MODES
from procs import Load, alive, cmdline, get, wait_for, workers


class Prober(threading.Thread):
    """Opens a new connection again and again; counts refusals."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.refused, self.answered = port, [], 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                status, _ = get(self.port, timeout=5)
                self.answered += 1
                if status != 200:
                    self.refused.append(status)
            except OSError as exc:
                self.refused.append(repr(exc))


def read_pid(path):
    """The pid in a pid file, or None while it is absent: the old master
    renames its file at once on USR2, and the new one writes it later."""
    try:
        return int(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def test_usr2_then_term_of_the_old_master_never_refuses(server_factory, mode, tmp_path):
    pid_file = tmp_path / "prefork.pid"
    server = server_factory("pids:app", "--workers", "2", "--pid", str(pid_file), *MODES[mode])
    wait_for(lambda: len(workers(server.pid)) == 2)
    prober = Prober(server.port)
    prober.start()
    with Load(server.port, clients=2) as load:
        server.signal(signal.SIGUSR2)
        new_master = wait_for(lambda: read_pid(pid_file) not in (None, server.pid) and read_pid(pid_file),
                              message="the new pid file")
        assert (tmp_path / "prefork.pid.oldbin").read_text().strip() == str(server.pid)
        new_workers = wait_for(lambda: len(workers(new_master)) == 2 and workers(new_master))
        assert cmdline(server.pid).endswith("(old)")
        server.signal(signal.SIGWINCH)
        wait_for(lambda: not workers(server.pid), message="the old workers gone")
        answers = {int(get(server.port)[1].split()[0]) for _ in range(10)}
        assert answers <= set(new_workers)
        server.signal(signal.SIGTERM)
        assert server.proc.wait(10) == 0
        before = prober.answered
        wait_for(lambda: prober.answered > before + 20, message="answers after the old master")
    prober.stop.set()
    prober.join(10)
    try:
        assert prober.refused == [] and load.failures == []
        assert alive(new_master) and not (tmp_path / "prefork.pid.oldbin").exists()
    finally:
        os.kill(new_master, signal.SIGTERM)
        wait_for(lambda: not alive(new_master), message="the new master's exit")
    assert not pid_file.exists()
