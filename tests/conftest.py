"""Fixtures that run the real ``prefork-serve`` as a subprocess.

Each server a test starts runs in its own session (process group), listens
on a free loopback port, and is stopped by the test: SIGTERM to its pid, then
SIGKILL to the group if it lingers.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

APPS = os.path.join(os.path.dirname(__file__), "apps")

# The modes the server runs in, as flags. Every protocol and lifecycle test
# runs in each (the ``mode`` fixture), the default first.
MODES = {
    "inline": [],                       # the default: the app runs in the loop
    "threads": ["--threads", "4"],      # the app runs on a thread pool
}


# TLS as a mode: the default (inline) server behind TLS with the test
# certificates; a module that runs in it starts the server with
# ``tls_mode()``'s flags and client context, and its clients go through
# ``server.tls`` (Server.connect, procs.get, traffic.Traffic do).
TLS_MODE = "tls"
_CERTS = []


def shared_certs():
    """The session's test certificates (tests/certs.py), made once."""
    if not _CERTS:
        import tempfile
        from certs import Certs
        if shutil.which("openssl") is None:
            pytest.fail("the openssl command is missing: apt-get install openssl")
        directory = tempfile.mkdtemp(prefix="prefork-certs-")
        _CERTS.append(Certs(directory))
    return _CERTS[0]


def tls_mode():
    """(server flags, client ssl context) of the TLS mode."""
    certs = shared_certs()
    return certs.flags(), certs.client_context()


@pytest.fixture(scope="module", params=list(MODES))
def mode(request):
    """The name of a server mode; pass ``*MODES[mode]`` to the server."""
    return request.param


def free_port(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def serve_command():
    exe = shutil.which("prefork-serve")
    if exe is None:
        pytest.fail("prefork-serve is not on PATH: install the package with `pip install -e .[test]`")
    return [exe]


class Server:
    """A running prefork-serve; ``stop()`` ends it by its own pid."""

    def __init__(self, app, *flags, env=None, host="127.0.0.1", port=None, wait=True, cwd=APPS,
                 command=None, tls=None):
        self.host = host
        self.tls = tls          # a client ssl.SSLContext: connect() speaks TLS
        self.port = port or free_port(host)
        bind = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self.args = (command or serve_command()) + [app, "--bind", bind, *flags]
        full_env = dict(os.environ, PYTHONPATH=APPS + os.pathsep + os.environ.get("PYTHONPATH", ""),
                        PYTHONUNBUFFERED="1")
        full_env.update(env or {})
        self.log_path = os.path.join(
            os.environ.get("PYTEST_TMPDIR", "/tmp"), f"prefork-test-{os.getpid()}-{self.port}.log")
        self.log_file = open(self.log_path, "w+b")
        self.proc = subprocess.Popen(self.args, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     env=full_env, cwd=cwd, start_new_session=True)
        self.pid = self.proc.pid
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not listen within {timeout}s:\n{self.output()}")

    def output(self):
        self.log_file.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def connect(self, timeout=5.0):
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        if self.tls is None:
            return sock
        try:
            return self.tls.wrap_socket(sock, server_hostname="localhost")
        except BaseException:
            sock.close()
            raise

    def signal(self, signum):
        os.kill(self.pid, signum)

    def stop(self, timeout=10.0):
        """SIGTERM, wait; SIGKILL the whole group if it does not exit."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.proc.poll() is None:
            self.proc.wait(5)
        self.log_file.close()
        try:
            os.unlink(self.log_path)
        except OSError:
            pass
        return self.proc.returncode


def _serving():
    """Yield ``start(app, *flags, **kw)`` -> Server; then stop every server it started."""
    started = []

    def start(app, *flags, **kwargs):
        server = Server(app, *flags, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server_factory():
    """``start(app, *flags, **kw)`` -> Server; every server is stopped at teardown."""
    yield from _serving()


@pytest.fixture(scope="session")
def certs():
    """Test certificates made with the openssl command (tests/certs.py)."""
    certs = shared_certs()
    yield certs
    shutil.rmtree(certs.dir, ignore_errors=True)


def run_cli(*args, env=None, timeout=20):
    """Run prefork-serve to completion (for error paths); returns CompletedProcess."""
    full_env = dict(os.environ, PYTHONPATH=APPS)
    full_env.update(env or {})
    return subprocess.run(serve_command() + list(args), capture_output=True, text=True,
                          env=full_env, cwd=APPS, timeout=timeout, start_new_session=True)


@pytest.fixture(scope="module")
def module_server_factory():
    """Like ``server_factory``, for servers shared by the tests of one module
    (tests that do not change the server's state)."""
    yield from _serving()
