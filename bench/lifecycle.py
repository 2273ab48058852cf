"""What clients see while the server is signalled under load.

    python -m bench.lifecycle [--modes inline,threads,asgi] [--seconds 6]

For each mode and each path (TERM, HUP x4, TTIN then TTOU x2), prefork runs
with 2 workers on tests/apps/work.py while clients of every kind (keep-alive,
a new connection per request, pipelined; on blocking and CPU-bound routes)
send requests, and the clients' account is printed: requests sent,
answered, empty replies on reused connections, other failures, and
connections refused (expected only once a stopping server shut its
listeners). The same traffic as tests/master/test_lifecycle.py, counted.
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from traffic import Traffic  # noqa: E402

MODES = {"inline": ("work:app", []), "threads": ("work:app", ["--threads", "4"]),
         "asgi": ("work:asgi_app", [])}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(mode):
    app, flags = MODES[mode]
    port = free_port()
    proc = subprocess.Popen(["prefork-serve", app, "--bind", f"127.0.0.1:{port}", "--workers", "2",
                             "--log-level", "warning", *flags],
                            cwd=TESTS / "apps", env=dict(os.environ, PYTHONPATH=str(TESTS / "apps")),
                            start_new_session=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    time.sleep(0.5)
    return proc, port


def term(proc, seconds):
    time.sleep(seconds / 2)
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


def hup(proc, seconds):
    for _ in range(4):
        time.sleep(seconds / 5)
        proc.send_signal(signal.SIGHUP)
    time.sleep(seconds / 5)


def scale(proc, seconds):
    for signum in (signal.SIGTTIN, signal.SIGTTOU, signal.SIGTTOU):
        time.sleep(seconds / 4)
        proc.send_signal(signum)
    time.sleep(seconds / 4)


PATHS = {"TERM": term, "HUP x4": hup, "TTIN, TTOU x2": scale}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args(argv)
    print(f"{'mode':<8} {'path':<14} {'sent':>6} {'answered':>9} {'empty/reused':>13} "
          f"{'other failures':>15} {'refused':>8}", flush=True)
    for mode in args.modes.split(","):
        for name, act in PATHS.items():
            proc, port = start(mode)
            try:
                with Traffic(port) as traffic:
                    act(proc, args.seconds)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(30)
            other = sum(traffic.failures.values()) - traffic.empty_replies_on_reused()
            print(f"{mode:<8} {name:<14} {traffic.sent:>6} {traffic.ok:>9} "
                  f"{traffic.empty_replies_on_reused():>13} {other:>15} {traffic.refused:>8}",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
