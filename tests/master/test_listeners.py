"""Listeners: repeated --bind, IPv6, unix sockets with a mode, fd://N,
systemd socket activation, and --reuse-port.

Serving on several listeners and on a socket per worker (--reuse-port) runs
in every server mode (``mode``: inline, the default, and ``--threads``); how
the master comes by its sockets (fd://, systemd, the unix socket's mode) is
the same in each."""
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

from conftest import APPS, MODES, free_port
from procs import get, wait_for, workers


def unix_get(path, target="/"):
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


ACTIVATE = '''
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
'''


@pytest.fixture
def launch():
    """Start prefork-serve with inherited descriptors; stopped at teardown."""
    started = []

    def start(args, pass_fds=(), env=None, activate_fd=None):
        full_env = dict(os.environ, PYTHONPATH=APPS)
        full_env.update(env or {})
        command = [shutil.which("prefork-serve"), *args]
        if activate_fd is not None:       # as systemd does: the socket at fd 3, LISTEN_PID = us
            command = [sys.executable, "-c", ACTIVATE, str(activate_fd), *command]
        proc = subprocess.Popen(command, pass_fds=pass_fds, env=full_env, cwd=APPS,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


def listening_socket():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


def wait_serving(port):
    return wait_for(lambda: _answers(port), message=f"an answer on port {port}")


def _answers(port):
    try:
        return get(port, timeout=1)[0] == 200
    except OSError:
        return False


def test_bind_is_repeatable_and_serves_ipv6_and_unix(server_factory, mode, tmp_path):
    path = str(tmp_path / "app.sock")
    v6_port = free_port("::1")
    server = server_factory("hello:app", "--workers", "1", "--bind", f"[::1]:{v6_port}",
                            "--bind", f"unix:{path}", *MODES[mode])
    assert get(server.port)[1] == b"Hello, World!"
    assert get(v6_port, host="::1")[1] == b"Hello, World!"
    assert unix_get(path).endswith(b"Hello, World!")
    assert server.stop() == 0
    assert not os.path.exists(path)             # the master removes its socket file


def test_unix_socket_mode_sets_the_permissions(server_factory, tmp_path):
    path = str(tmp_path / "app.sock")
    server_factory("hello:app", "--workers", "1", "--bind", f"unix:{path}",
                   "--unix-socket-mode", "600")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert unix_get(path).endswith(b"Hello, World!")


def test_fd_bind_serves_an_inherited_socket(launch):
    sock = listening_socket()
    port, fd = sock.getsockname()[1], sock.fileno()
    proc = launch(["hello:app", "--workers", "1", "--bind", f"fd://{fd}"], pass_fds=[fd])
    sock.close()                                # the server holds its own copy now
    wait_serving(port)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert f"listening on 127.0.0.1:{port}" in proc.stdout.read().decode()


def test_fd_bind_refuses_a_descriptor_that_is_not_a_listening_socket(launch):
    proc = launch(["hello:app", "--bind", "fd://0"])
    assert proc.wait(10) == 3
    assert b"cannot use fd://0" in proc.stdout.read()


def test_systemd_socket_activation(launch):
    sock = listening_socket()
    port, fd = sock.getsockname()[1], sock.fileno()
    other_port = free_port()
    proc = launch(["hello:app", "--workers", "2", "--bind", f"127.0.0.1:{other_port}"],
                  pass_fds=[fd], env={"LISTEN_FDS": "1"},
                  activate_fd=fd)
    sock.close()
    wait_serving(port)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", other_port), timeout=1).close()
    wait_for(lambda: len(workers(proc.pid)) == 2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert b"using 1 sockets from systemd" in proc.stdout.read()


def test_systemd_sockets_a_stop_during_a_worker_boot_ends_it(launch):
    # systemd's sockets are never shut down: a worker stops by itself once
    # drained. One that had nothing to drain when the TERM reached it during
    # its boot stopped before its loop ran, and used to run on forever.
    sock = listening_socket()
    fd = sock.fileno()
    proc = launch(["slow_import:app", "--workers", "1"], pass_fds=[fd],
                  env={"LISTEN_FDS": "1", "IMPORT_DELAY": "1"}, activate_fd=fd)
    sock.close()
    wait_for(lambda: len(workers(proc.pid)) == 1)
    time.sleep(0.3)                 # the worker imports the app
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_reuse_port_gives_each_worker_its_own_socket(server_factory, mode):
    server = server_factory("pids:app", "--workers", "2", "--reuse-port", *MODES[mode])
    pids = wait_for(lambda: len(workers(server.pid)) == 2 and workers(server.pid))
    seen = set()
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:
        seen.add(int(get(server.port)[1].split()[0]))   # a new connection each time
    assert seen == set(pids)
    for pid in pids:
        listening = [line for line in open(f"/proc/{pid}/net/tcp").read().splitlines()[1:]
                     if line.split()[3] == "0A" and line.split()[1].endswith(f":{server.port:04X}")]
        assert len(listening) >= 2          # one socket per worker in the namespace
