"""Latency with an app that waits, on more connections than workers.

    python -m bench.slow_app [--prefork PATH] [--seconds 10] [--flags "..."]

prefork with 2 workers serves bench/apps/slow.py, whose calls sleep 2 ms or
100 ms; wrk (one thread, 50 connections, 10 s timeout) measures p50, p99,
requests and errors, with keep-alive and with a new connection per request
(``Connection: close``). With the default inline mode a worker is busy for
the whole app call, so this shows how the server spreads connections over
workers that are busy: the figures behind the README's "Accepting while
busy". ``--prefork`` runs another build (an A/B of two checkouts).
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.wrk import parse_wrk

APPS = Path(__file__).resolve().parent / "apps"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def run(prefork, flags, ms, keepalive, seconds, connections=50):
    port = free_port()
    server = subprocess.Popen([prefork, "slow:app", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                               "--log-level", "warning", *flags],
                              cwd=APPS, env=dict(os.environ, PYTHONPATH=str(APPS)),
                              start_new_session=True)
    try:
        wait_for_port(port)
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout=10s", "--latency"]
        if not keepalive:
            argv += ["-H", "Connection: close"]
        out = subprocess.run(argv + [f"http://127.0.0.1:{port}/?ms={ms}"], capture_output=True,
                             text=True, timeout=seconds + 30).stdout
        return parse_wrk(out)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prefork", default=shutil.which("prefork-serve"))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--flags", default="", help="extra prefork flags, e.g. '--threads 4'")
    args = parser.parse_args(argv)
    print(f"{'app':>6} {'keep-alive':>10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for ms in (2, 100):
        for keepalive in (True, False):
            r = run(args.prefork, args.flags.split(), ms, keepalive, args.seconds)
            print(f"{ms:>4}ms {'yes' if keepalive else 'no':>10} {r.rps:>8.0f} {r.p50_ms or 0:>8.1f} "
                  f"{r.p99_ms or 0:>8.1f} {r.socket_errors + r.non_2xx_3xx:>7}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
