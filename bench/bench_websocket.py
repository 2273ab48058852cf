"""WebSocket echo throughput, prefork against uvicorn (websockets and wsproto),
granian and hypercorn (issue 13).

    python -m bench.bench_websocket                   # every server and load, 3 repeats, ~6 minutes
    python -m bench.bench_websocket --servers prefork,uvicorn-websockets --seconds 3

Each server runs the same ASGI echo app (bench/apps/ws_echo.py) with one
worker pinned to CPU 0 (``taskset``); the load generator, bench/wsload.c
(compiled here with gcc: one epoll loop, the masked frame built once),
runs pinned to CPU 1, so the client is never what limits a server and its
own CPU is reported beside. Loads: binary messages of 16 B and 16 KB, over
1 and 100 connections, each keeping 1 message in flight (round trips) or 16
(streamed). No compression: the client offers none. Reported per server:
messages/s, the server's CPU time per message (all its processes, from
/proc) and the client's CPU share.

The peers and uvloop come from the peers' venv that bench/servers.py uses
(bench/.venv, made by bench/install_peers.sh; ``--venv`` or $WSBENCH_VENV
for another); prefork runs from this checkout (PYTHONPATH, its extensions
built in place) with that venv's interpreter, so every server has the same
Python and uvloop.

Under pytest only the smoke test runs: prefork (the environment's own) and a
short load, to keep the harness and the load generator working.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bench import procstat

ROOT = Path(__file__).resolve().parent.parent
APP = "bench.apps.ws_echo:app"
LOADS = [(size, conns, window) for size in (16, 16384) for conns in (1, 100) for window in (1, 16)]


def commands(python, port):
    """Server name -> argv (one worker each)."""
    venv_bin = Path(python).parent
    bind = f"127.0.0.1:{port}"
    prefork = [python, "-m", "prefork", APP, "--bind", bind, "--workers", "1", "--log-level",
               "warning"]
    uvicorn = [str(venv_bin / "uvicorn"), APP, "--port", str(port), "--workers", "1",
               "--loop", "uvloop", "--http", "httptools", "--log-level", "warning",
               "--no-access-log", "--ws-max-size", str(16 << 20)]
    return {
        "prefork": prefork + ["--loop", "uvloop"],
        "prefork-asyncio": prefork + ["--loop", "asyncio"],
        "uvicorn-websockets": uvicorn + ["--ws", "websockets"],
        "uvicorn-wsproto": uvicorn + ["--ws", "wsproto"],
        "granian": [str(venv_bin / "granian"), "--interface", "asgi", "--host", "127.0.0.1",
                    "--port", str(port), "--workers", "1", "--loop", "uvloop",
                    "--log-level", "warning", APP],
        "hypercorn": [str(venv_bin / "hypercorn"), APP, "--bind", bind, "--workers", "1",
                      "--worker-class", "uvloop", "--log-level", "warning"],
    }


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port, proc, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not listen")


def build_client(workdir):
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.fail("gcc is needed to build bench/wsload.c")
    exe = Path(workdir) / "wsload"
    subprocess.run([gcc, "-O2", "-o", str(exe), str(ROOT / "bench" / "wsload.c")], check=True)
    return str(exe)


def pinned(cpu, argv):
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(cpu)] + argv if taskset else argv


def run_load(client, port, size, conns, window, seconds, warmup=0.5, server_sid=None):
    cpu_before = procstat.cpu_seconds([server_sid]) if server_sid else 0.0
    started = time.monotonic()
    out = subprocess.run(pinned(1, [client, str(port), "/", str(conns), str(size), str(window),
                                    str(seconds), str(warmup)]),
                         capture_output=True, text=True, timeout=seconds + warmup + 60)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    wall = time.monotonic() - started
    result = json.loads(out.stdout)
    if server_sid:
        # The server's CPU over the whole client run, scaled to the timed part.
        result["server_cpu"] = (procstat.cpu_seconds([server_sid]) - cpu_before) * result["seconds"] / wall
    return result


def bench_server(name, argv, client, seconds, env, warmup=0.5):
    """{load: (messages/s, server CPU s/message, server CPU share, client CPU share)}."""
    port = int(argv[argv.index("--port") + 1]) if "--port" in argv else \
        int(argv[argv.index("--bind") + 1].rsplit(":", 1)[1])
    proc = subprocess.Popen(pinned(0, argv), cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    results = {}
    try:
        wait_port(port, proc)
        time.sleep(0.5)
        for load in LOADS:
            size, conns, window = load
            try:
                r = run_load(client, port, size, conns, window, seconds, warmup, proc.pid)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(f"# {name} {load}: {exc}", file=sys.stderr)
                continue
            results[load] = (r["messages"] / r["seconds"], r["server_cpu"] / max(r["messages"], 1),
                             r["server_cpu"] / r["seconds"], r["client_cpu"] / r["seconds"])
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
    return results


def median_run(runs):
    """The run with the median rate (its CPU figures stay together)."""
    runs = sorted(runs)
    return runs[len(runs) // 2], runs[0][0], runs[-1][0]


def report(results, servers):
    """One row per load and server: the median of the repeats, and their range."""
    lines = ["| message | connections | in flight | server | messages/s (median) | range "
             "| server CPU per message | server CPU | client CPU |",
             "|---|---|---|---|---|---|---|---|---|"]
    for load in LOADS:
        size, conns, window = load
        for name in servers:
            runs = results.get(name, {}).get(load)
            size_text = f"{size} B" if size < 1024 else f"{size // 1024} KB"
            if not runs:
                lines.append(f"| {size_text} | {conns} | {window} | {name} | failed | | | | |")
                continue
            (rate, per_msg, server, client), low, high = median_run(runs)
            lines.append(f"| {size_text} | {conns} | {window} | {name} | {rate:,.0f} "
                         f"| {low:,.0f}-{high:,.0f} | {per_msg * 1e6:.1f} µs | {server:.0%} "
                         f"| {client:.0%} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", default=os.environ.get("WSBENCH_VENV", str(ROOT / "bench" / ".venv")))
    parser.add_argument("--servers", default="prefork,prefork-asyncio,uvicorn-websockets,"
                                              "uvicorn-wsproto,granian,hypercorn")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each server, interleaved A B C A B C")
    args = parser.parse_args(argv)
    python = str(Path(args.venv) / "bin" / "python")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    servers = args.servers.split(",")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        client = build_client(tmp)
        for repeat in range(args.repeats):
            for name in servers:
                port = free_port()
                argv = commands(python, port)[name]
                print(f"# run {repeat + 1}: {' '.join(argv)}", file=sys.stderr)
                for load, values in bench_server(name, argv, client, args.seconds, env).items():
                    results.setdefault(name, {}).setdefault(load, []).append(values)
    print(report(results, servers))


def test_websocket_load_generator_against_prefork(tmp_path):
    """The harness end to end: prefork (this environment's) under every
    load for a short while; every load echoes messages."""
    client = build_client(tmp_path)
    port = free_port()
    exe = shutil.which("prefork-serve")
    argv = [exe, APP, "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    results = bench_server("prefork", argv, client, 0.3, dict(os.environ, PYTHONPATH=str(ROOT)),
                           warmup=0.1)
    assert set(results) == set(LOADS)
    assert all(rate > 100 for rate, *_ in results.values()), results


if __name__ == "__main__":
    main()
