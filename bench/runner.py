"""Run the servers one at a time under wrk and record what each run cost.

Invariants:
- a server is started fresh for every run, in its own session, and stopped
  by its process group before the next one starts: nothing leaks between runs;
- the CPU and RSS figures cover exactly the processes of that session (see
  bench/procstat.py), sampled right before and right after the timed wrk run;
- runs are interleaved A B C A B C so a slow drift of the machine spreads
  over every server instead of landing on one;
- a server that cannot start is recorded as a failed run, never raised.
"""
import http.client
import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from bench import procstat
from bench.servers import HOST, REPO_DIR, Launch, server_env
from bench.wrk import parse_wrk, wrk_argv

SERVER_CPU, WRK_CPU = "0", "1"
START_TIMEOUT_S = 20
STOP_GRACE_S = 5
OVERLOAD_BACKLOG = 128


@dataclass(frozen=True)
class BenchConfig:
    name: str
    description: str
    workers: int
    pin: bool
    connections: int
    wrk_threads: int = 1
    pipeline: int = 0
    backlog: Optional[int] = None
    apps: Optional[frozenset] = None      # None: every app
    check_survival: bool = False


def bench_configs(cores=None):
    cores = cores or os.cpu_count() or 1
    plaintext = frozenset({"plaintext"})
    return {c.name: c for c in [
        BenchConfig("pinned", "1 worker on CPU 0, wrk -t1 -c50 on CPU 1", 1, True, 50),
        BenchConfig("cores", f"{cores} workers unpinned, wrk -t1 -c100", cores, False, 100),
        BenchConfig("pipeline", "1 worker on CPU 0, wrk -c50 with 16 requests per write on CPU 1",
                    1, True, 50, pipeline=16, apps=plaintext),
        BenchConfig("latency", "1 worker on CPU 0, wrk -c1 on CPU 1", 1, True, 1, apps=plaintext),
        BenchConfig("overload", f"1 worker on CPU 0, backlog {OVERLOAD_BACKLOG}, wrk -c2000 on CPU 1",
                    1, True, 2000, backlog=OVERLOAD_BACKLOG, apps=plaintext, check_survival=True),
    ]}


class ServerFailed(Exception):
    pass


def raise_open_files_limit(wanted=65536):
    """wrk -c2000 and the servers behind it need more than the usual 1024 fds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), max(hard, wanted)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def fetch(port, timeout=5.0):
    """(status, headers, body) of one GET / on a fresh connection."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


class RunningServer:
    """The processes of one server for one run; a context manager."""

    def __init__(self, processes, tmpdir, pin):
        self.specs = processes
        self.tmpdir = Path(tmpdir)
        self.prefix = ["taskset", "-c", SERVER_CPU] if pin else []
        self.popens = []

    @property
    def sessions(self):
        return [p.pid for p in self.popens]

    def __enter__(self):
        try:
            for index, spec in enumerate(self.specs):
                log = open(self.tmpdir / f"{spec.role}-{index}.log", "wb")
                self.popens.append(subprocess.Popen(
                    self.prefix + [str(a) for a in spec.argv], cwd=spec.source or REPO_DIR, env=server_env(spec.source),
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True))
                log.close()
                self.wait_for_port(spec.port, self.popens[-1])
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def log_tail(self, lines=8):
        text = "".join(p.read_text(errors="replace") for p in sorted(self.tmpdir.glob("*.log")))
        return " | ".join(text.strip().splitlines()[-lines:])

    def wait_for_port(self, port, popen):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if popen.poll() is not None:
                raise ServerFailed(f"exited with {popen.returncode} before listening: {self.log_tail()}")
            try:
                socket.create_connection((HOST, port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise ServerFailed(f"not listening on port {port} after {START_TIMEOUT_S}s: {self.log_tail()}")

    def alive(self):
        return bool(self.popens) and all(p.poll() is None for p in self.popens)

    def stop(self):
        """SIGTERM each process group, newest first; SIGKILL after the grace."""
        for popen in reversed(self.popens):
            _signal_group(popen.pid, signal.SIGTERM)
            try:
                popen.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(popen.pid, signal.SIGKILL)  # stragglers in the group too
            popen.wait()


def _signal_group(pgid, signum):
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def check_response(port, app, server=None):
    """Refuse to time a server that answers the wrong thing, or nothing."""
    logs = f"; server log: {server.log_tail()}" if server else ""
    try:
        status, headers, body = fetch(port)
    except OSError as exc:
        raise ServerFailed(f"GET / failed ({type(exc).__name__}: {exc}){logs}") from exc
    if status != 200 or body != app.body:
        raise ServerFailed(f"GET / answered {status} {body[:80]!r}, expected 200 {app.body!r}{logs}")


def run_wrk(port, config, seconds, connections=None):
    argv = wrk_argv(f"http://{HOST}:{port}/", seconds, connections or config.connections,
                    config.wrk_threads, config.pipeline)
    if config.pin:
        argv = ["taskset", "-c", WRK_CPU] + argv
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise ServerFailed(f"wrk exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return parse_wrk(done.stdout)


def check_survival(server, port, wait_s=10.0):
    """After overload: are all processes up, and does a fresh GET succeed?"""
    deadline = time.monotonic() + wait_s
    last = "no attempt"
    while time.monotonic() < deadline:
        if not server.alive():
            return False, f"process exited: {server.log_tail(4)}"
        try:
            status, _, _ = fetch(port, timeout=2.0)
            if status == 200:
                return True, "answered 200 after the overload"
            last = f"answered {status}"
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.5)
    return False, f"no 200 within {wait_s:.0f}s ({last})"


def measure(server, app, config, seconds, warmup_s=1):
    """One fresh start, warm-up, timed run and stop; returns a flat record."""
    record = {"server": server.name, "app": app.name, "config": config.name, "ok": False}
    tmpdir = tempfile.mkdtemp(prefix=f"prefork-bench-{server.name}-")
    try:
        port = free_port()
        launch = Launch(app, port, config.workers, config.backlog, Path(tmpdir), free_port)
        with RunningServer(server.build(launch), tmpdir, config.pin) as running:
            check_response(port, app, running)
            if warmup_s:
                run_wrk(port, config, warmup_s, connections=min(config.connections, 50))
            before = _cpu_snapshot(running.sessions)
            result = run_wrk(port, config, seconds)
            after = _cpu_snapshot(running.sessions)
            rss, worker_count = procstat.rss_per_worker(running.sessions)
            uss = procstat.uss_per_worker(running.sessions)
            server_cpu, wrk_cpu, busy, wall = (a - b for a, b in zip(after, before, strict=True))
            record.update(result.as_dict(), ok=True, cpu_s=server_cpu,
                          other_cpu_pct=max(0.0, busy - server_cpu - wrk_cpu) / wall * 100,
                          rss_mib_per_worker=rss / 2**20, uss_mib_per_worker=uss / 2**20,
                          workers_seen=worker_count)
            record["cpu_us_per_req"] = (record["cpu_s"] / result.requests * 1e6
                                        if result.requests else None)
            if config.check_survival:
                record["survived"], record["survival_detail"] = check_survival(running, port)
    except (ServerFailed, ValueError, OSError, subprocess.TimeoutExpired) as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return record


def _cpu_snapshot(sessions):
    """(server CPU s, finished children's CPU s (wrk), machine busy s, wall s)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (procstat.cpu_seconds(sessions), children.ru_utime + children.ru_stime,
            procstat.machine_busy_seconds(), time.monotonic())


def interleaved_plan(servers, apps, configs, repeats):
    """(config, app, repeat, server) in the order A B C A B C."""
    for config in configs:
        for app in apps:
            if config.apps is not None and app.name not in config.apps:
                continue
            chosen = [s for s in servers if s.serves(app.name)]
            for repeat in range(repeats):
                for server in chosen:
                    yield config, app, repeat, server


def run_plan(plan, seconds, warmup_s, log=print):
    """Measure every step; after a failure, skip that server's other repeats."""
    records, broken = [], set()
    for config, app, repeat, server in plan:
        key = (config.name, app.name, server.name)
        if key in broken:
            continue
        record = measure(server, app, config, seconds, warmup_s)
        record["repeat"] = repeat
        records.append(record)
        broken.update([key] if not record["ok"] else [])
        log(_progress_line(record))
    return records


def _progress_line(r):
    where = f"{r['config']:9s} {r['app']:10s} {r['server']:17s} #{r['repeat']}"
    if not r["ok"]:
        return f"{where}  FAILED {r['error'][:160]}"
    p99 = f"{r['p99_ms']:8.2f}" if r["p99_ms"] is not None else "       –"
    line = (f"{where} {r['rps']:>10,.0f} req/s  p99 {p99} ms  "
            f"{r['cpu_us_per_req'] or 0:7.1f} us/req  err {r['socket_errors']} "
            f"non2xx {r['non_2xx_3xx']}  other {r['other_cpu_pct']:3.0f}%")
    if "survived" in r:
        line += "  survived" if r["survived"] else "  DIED"
    return line
