"""How to start each server under test: one declaration per server.

A server is described by the command lines that start it for a given app,
port and worker count; the runner owns starting, pinning, timing and stopping.
Peers come from bench/.venv (bench/install_peers.sh); prefork is the
``prefork-serve`` of the environment that runs the harness, so the benchmark
always measures the working tree the lead is editing.
"""
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

from bench.apps import APPS, AppSpec

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
VENV_BIN = BENCH_DIR / ".venv" / "bin"
HOST = "127.0.0.1"
GTHREAD_THREADS = 4     # gunicorn gthread and waitress: threads per process
GRANIAN_MIN_BACKLOG = 128


@dataclass(frozen=True)
class Launch:
    """What one server needs for one run: processes, started in order."""
    app: AppSpec
    port: int
    workers: int
    backlog: Optional[int]
    tmpdir: Path
    free_port: Callable[[], int]


@dataclass(frozen=True)
class Process:
    argv: list
    port: int           # the runner waits for this port before the next process
    role: str = "server"
    source: Optional[Path] = None   # a checkout imported before this one


@dataclass(frozen=True)
class Server:
    name: str
    build: Callable[[Launch], list]          # Launch -> [Process, ...]
    needs: Callable[[], Optional[str]]       # None when runnable, else the reason
    apps: Optional[frozenset] = None         # None: every app
    notes: str = ""
    single_process: bool = False             # ignores --workers (threads only)
    honours_backlog: bool = True
    asgi: bool = False                       # serves each app's ASGI twin

    def serves(self, app_name):
        app = APPS[app_name]
        if (app.asgi if self.asgi else app.wsgi) is None:
            return False
        return self.apps is None or app_name in self.apps


def venv_tool(name):
    return VENV_BIN / name


def _needs_venv(*tools, module=None):
    def check():
        for tool in tools:
            if not venv_tool(tool).exists():
                return f"{tool} not in bench/.venv (run bench/install_peers.sh)"
        if module and _venv_import_error(module):
            return f"python module {module} not importable in bench/.venv: {_venv_import_error(module)}"
        return None
    return check


@lru_cache(maxsize=None)
def _venv_import_error(module):
    python = venv_tool("python")
    if not python.exists():
        return "bench/.venv missing"
    done = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, text=True)
    return done.stderr.strip().splitlines()[-1] if done.returncode else ""


def _needs_system(*tools):
    def check():
        missing = [tool for tool in tools if not shutil.which(tool)]
        return f"{', '.join(missing)} not installed (apt-get install -y nginx-light)" if missing else None
    return check


# -- prefork ---------------------------------------------------------------

def prefork_argv0():
    """The venv's console script (the same interpreter as the peers, so
    memory compares like for like), else the one beside this interpreter,
    else the one on PATH (a pyenv shim is only the fallback)."""
    return (shutil.which("prefork-serve", path=str(VENV_BIN))
            or shutil.which("prefork-serve", path=str(Path(sys.executable).parent))
            or shutil.which("prefork-serve"))


@lru_cache(maxsize=None)
def prefork_flags():
    """The flags the installed prefork-serve documents in --help."""
    argv0 = prefork_argv0()
    if not argv0:
        return ""
    done = subprocess.run([argv0, "--help"], capture_output=True, text=True, timeout=30)
    return done.stdout + done.stderr


def _prefork_needs():
    if not prefork_argv0():
        return "prefork-serve not on PATH (cd /work/main && pip install -e .)"
    help_text = prefork_flags()
    if "--bind" not in help_text:
        return f"prefork-serve --help does not work yet: {help_text.strip()[-200:]}"
    return None


def _prefork(launch, source=None):
    argv = [prefork_argv0(), launch.app.wsgi, "--bind", f"{HOST}:{launch.port}",
            "--workers", str(launch.workers)]
    if launch.backlog and "--backlog" in prefork_flags():
        argv += ["--backlog", str(launch.backlog)]
    return [Process(argv, launch.port, source=source)]


# An A/B against another checkout of prefork (an older commit, built in
# place): PREFORK_BENCH_BASE=/path/to/checkout adds the server prefork-base.
BASE_DIR = Path(os.environ["PREFORK_BENCH_BASE"]) if os.environ.get("PREFORK_BENCH_BASE") else None


def _prefork_base(launch):
    return _prefork(launch, source=BASE_DIR)


def _prefork_base_needs():
    if BASE_DIR is None:
        return "PREFORK_BENCH_BASE is not set (a checkout of prefork built in place)"
    if not (BASE_DIR / "prefork" / "cli.py").exists():
        return f"PREFORK_BENCH_BASE={BASE_DIR} is not a prefork checkout"
    return _prefork_needs()


def _prefork_asgi(launch):
    argv = [prefork_argv0(), launch.app.asgi, "--bind", f"{HOST}:{launch.port}",
            "--workers", str(launch.workers)]
    if launch.backlog:
        argv += ["--backlog", str(launch.backlog)]
    return [Process(argv, launch.port)]


def _prefork_cache(launch):
    """prefork with its shared-memory response cache: hits are answered
    before the app, so this measures the cache against nginx proxy_cache."""
    process = _prefork(launch)[0]
    return [Process(process.argv + ["--cache-size", "64MB"], launch.port)]


def _prefork_metrics(launch):
    """prefork counting every request for Prometheus (--metrics-bind): the
    hot path's cost of the counters, against plain ``prefork`` in the same run."""
    process = _prefork(launch)[0]
    return [Process(process.argv + ["--metrics-bind", f"{HOST}:{launch.free_port()}"], launch.port)]


def _prefork_asgi_cache(launch):
    """The same cache in front of the ASGI twin: a hit never enters the app,
    so it should cost what a WSGI hit costs."""
    process = _prefork_asgi(launch)[0]
    return [Process(process.argv + ["--cache-size", "64MB"], launch.port)]


# -- Python peers ------------------------------------------------------------

def _gunicorn_argv(launch, worker_class, port=None):
    argv = [str(venv_tool("gunicorn")), "--worker-class", worker_class,
            "--workers", str(launch.workers), "--bind", f"{HOST}:{port or launch.port}",
            "--log-level", "warning"]
    if worker_class == "gthread":
        argv += ["--threads", str(GTHREAD_THREADS)]
    if launch.backlog:
        argv += ["--backlog", str(launch.backlog)]
    return argv + [launch.app.wsgi]


def _gunicorn_sync(launch):
    return [Process(_gunicorn_argv(launch, "sync"), launch.port)]


def _gunicorn_gthread(launch):
    return [Process(_gunicorn_argv(launch, "gthread"), launch.port)]


def _granian(launch, interface="wsgi"):
    argv = [str(venv_tool("granian")), "--interface", interface, "--host", HOST,
            "--port", str(launch.port), "--workers", str(launch.workers),
            "--no-ws", "--log-level", "warning", "--no-access-log"]
    if launch.backlog:
        argv += ["--backlog", str(max(launch.backlog, GRANIAN_MIN_BACKLOG))]
    app = launch.app.wsgi if interface == "wsgi" else launch.app.asgi
    return [Process(argv + [app], launch.port)]


def _hypercorn(launch):
    argv = [str(venv_tool("hypercorn")), "--bind", f"{HOST}:{launch.port}",
            "--workers", str(launch.workers), "--log-level", "warning"]
    if launch.backlog:
        argv += ["--backlog", str(launch.backlog)]
    return [Process(argv + [launch.app.asgi], launch.port)]


def _launcher(kind):
    """bjoern and meinheld have no CLI: bench/launch.py forks their workers."""
    def build(launch):
        argv = [str(venv_tool("python")), "-m", "bench.launch", kind, launch.app.wsgi,
                str(launch.port), str(launch.workers), str(launch.backlog or 1024)]
        return [Process(argv, launch.port)]
    return build


def _waitress(launch):
    argv = [str(venv_tool("waitress-serve")), f"--listen={HOST}:{launch.port}",
            f"--threads={GTHREAD_THREADS}"]
    if launch.backlog:
        argv.append(f"--backlog={launch.backlog}")
    return [Process(argv + [launch.app.wsgi], launch.port)]


def _uvicorn(launch):
    argv = [str(venv_tool("uvicorn")), launch.app.asgi, "--host", HOST, "--port", str(launch.port),
            "--workers", str(launch.workers), "--http", "httptools", "--loop", "uvloop",
            "--no-access-log", "--log-level", "warning"]
    if launch.backlog:
        argv += ["--backlog", str(launch.backlog)]
    return [Process(argv, launch.port)]


# -- nginx -------------------------------------------------------------------

def _nginx_conf(launch, location):
    tmp = launch.tmpdir
    backlog = f" backlog={launch.backlog}" if launch.backlog else ""
    return f"""
daemon off;
master_process on;
user root;
worker_processes {launch.workers};
worker_rlimit_nofile 65536;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    proxy_cache_path {tmp}/cache levels=1 keys_zone=bench:8m;
    server {{
        listen {HOST}:{launch.port}{backlog};
        location / {{
{location}
        }}
    }}
}}
"""


def _nginx_process(launch, location):
    conf = launch.tmpdir / "nginx.conf"
    conf.write_text(_nginx_conf(launch, location))
    return Process([shutil.which("nginx"), "-p", str(launch.tmpdir), "-c", str(conf),
                    "-e", str(launch.tmpdir / "nginx-error.log")], launch.port)


def _nginx_return(launch):
    """The ceiling: nginx answering from its config, same body and headers."""
    app = launch.app
    body = app.body.decode().replace("'", "\\'")
    lines = [f"            default_type {app.content_type};"]
    lines += [f'            add_header {name} "{value}";' for name, value in app.headers]
    lines.append(f"            return 200 '{body}';")
    return [_nginx_process(launch, "\n".join(lines))]


def _nginx_cache(launch):
    """nginx proxy_cache in front of gunicorn sync: the usual way to cache."""
    backend_port = launch.free_port()
    backend = Process(_gunicorn_argv(launch, "sync", port=backend_port), backend_port, role="backend")
    location = "\n".join([
        f"            proxy_pass http://{HOST}:{backend_port};",
        "            proxy_cache bench;",
        "            proxy_cache_lock on;",
    ])
    return [backend, _nginx_process(launch, location)]


SERVERS = {server.name: server for server in [
    Server("prefork", _prefork, _prefork_needs),
    Server("prefork-base", _prefork_base, _prefork_base_needs,
           notes="the checkout in PREFORK_BENCH_BASE, for an A/B against an older commit"),
    Server("prefork-cache", _prefork_cache, _prefork_needs, apps=frozenset({"cacheable"}),
           notes="--cache-size 64MB: the built-in RFC 9111 response cache"),
    Server("prefork-metrics", _prefork_metrics, _prefork_needs,
           notes="--metrics-bind: the per-worker Prometheus counters on"),
    Server("gunicorn-sync", _gunicorn_sync, _needs_venv("gunicorn")),
    Server("gunicorn-gthread", _gunicorn_gthread, _needs_venv("gunicorn"),
           notes=f"{GTHREAD_THREADS} threads per worker"),
    Server("granian", _granian, _needs_venv("granian"),
           notes=f"WSGI interface; backlog floored at {GRANIAN_MIN_BACKLOG}"),
    Server("bjoern", _launcher("bjoern"), _needs_venv("python", module="bjoern"),
           notes="forked workers sharing one listening socket (bench/launch.py)"),
    Server("waitress", _waitress, _needs_venv("waitress-serve"), single_process=True,
           notes=f"one process, {GTHREAD_THREADS} threads, whatever the worker count"),
    Server("prefork-asgi", _prefork_asgi, _prefork_needs, asgi=True,
           notes="prefork on the ASGI twin of each app (uvloop when installed)"),
    Server("prefork-asgi-cache", _prefork_asgi_cache, _prefork_needs, asgi=True,
           apps=frozenset({"cacheable"}), notes="--cache-size 64MB in front of the ASGI twin"),
    Server("uvicorn", _uvicorn, _needs_venv("uvicorn", module="httptools"), asgi=True,
           notes="httptools + uvloop, on the ASGI twin of each app"),
    Server("granian-asgi", lambda launch: _granian(launch, "asgi"), _needs_venv("granian"),
           asgi=True, notes="ASGI interface"),
    Server("hypercorn", _hypercorn, _needs_venv("hypercorn"), asgi=True,
           notes="asyncio worker, h11"),
    Server("meinheld", _launcher("meinheld"), _needs_venv("python", module="meinheld")),
    Server("nginx", _nginx_return, _needs_system("nginx"),
           notes="`return 200` with the app's body: the ceiling, no Python"),
    Server("nginx-cache", _nginx_cache, lambda: _needs_system("nginx")() or _needs_venv("gunicorn")(),
           apps=frozenset({"cacheable"}), notes="nginx proxy_cache in front of gunicorn sync"),
]}

DEFAULT_SERVERS = [name for name in SERVERS if name != "prefork-base" or BASE_DIR]


def server_env(source=None):
    """Environment for every server: the repo (or another checkout of
    prefork, ``source``) importable first, no stray buffering."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source) if source else None,
                                                      str(REPO_DIR), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env
