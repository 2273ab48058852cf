"""A normal client's availability while slow clients attack.

    python -m bench.slow_clients [--seconds 30] [--modes inline,threads]

prefork runs with 2 workers and the default settings (plus ``--threads 8``
in the threads mode) on bench/apps/attacked.py. Each attack runs for
``--seconds`` while one normal client sends requests one after another, each
on a new connection with a 5 s timeout; the figure is the share of them
answered. The attacks (slowhttptest, a Debian package, and an idle flood
made here):
  idle-flood   5,000 connections that send nothing
  slowloris    slowhttptest -H: 3,000 connections sending a header line every 10 s
  slow-body    slowhttptest -B: 3,000 POSTs sending a body chunk every 10 s
  slow-read    slowhttptest -X: 1,000 connections reading a large response slowly
"""
import argparse
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

APPS = Path(__file__).resolve().parent / "apps"
MODES = {"inline": [], "threads": ["--threads", "8"]}


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


def normal_client(port, seconds, path="/"):
    """(answered, sent) for requests on new connections, 5 s each."""
    answered = sent = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sent += 1
        started = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while len(data) < 12:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if data.startswith(b"HTTP/1.1 200"):
                    answered += 1
        except OSError:
            pass
        time.sleep(max(0.0, 0.2 - (time.monotonic() - started)))
    return answered, sent


def idle_flood(port, count, stop):
    socks = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        try:
            sock.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        socks.append(sock)
    while not stop.wait(0.5):
        # Reconnect the ones the server closed: the flood stays at ``count``.
        for i, sock in enumerate(socks):
            try:
                if sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                    sock.close()
                    socks[i] = socket.socket()
                    socks[i].setblocking(False)
                    try:
                        socks[i].connect(("127.0.0.1", port))
                    except BlockingIOError:
                        pass
            except (BlockingIOError, OSError):
                pass
    for sock in socks:
        sock.close()


def slowhttptest(port, flag, seconds, extra):
    url = f"http://127.0.0.1:{port}/" + ("big" if flag == "-X" else "")
    argv = ["slowhttptest", flag, "-u", url, "-l", str(seconds + 5), "-r", "500", "-p", "5",
            "-v", "0", *extra]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


ATTACKS = {
    "idle-flood": None,
    "slowloris": ("-H", ["-c", "3000", "-i", "10"]),
    "slow-body": ("-B", ["-c", "3000", "-i", "10", "-s", "100000"]),
    "slow-read": ("-X", ["-c", "1000", "-w", "10", "-y", "20", "-n", "5", "-z", "32", "-k", "3"]),
}


def run(mode, attack, seconds):
    port = free_port()
    server = subprocess.Popen([shutil.which("prefork-serve"), "attacked:app", "--bind", f"127.0.0.1:{port}",
                               "--workers", "2", "--log-level", "error", *MODES[mode]],
                              cwd=APPS, env=dict(os.environ, PYTHONPATH=str(APPS)),
                              start_new_session=True)
    stop = threading.Event()
    attacker = None
    try:
        wait_for_port(port)
        if ATTACKS[attack] is None:
            attacker = threading.Thread(target=idle_flood, args=(port, 5000, stop), daemon=True)
            attacker.start()
        else:
            flag, extra = ATTACKS[attack]
            attacker = slowhttptest(port, flag, seconds, extra)
        time.sleep(3)                   # the attack builds up
        return normal_client(port, seconds, "/big" if attack == "slow-read" else "/")
    finally:
        stop.set()
        if isinstance(attacker, subprocess.Popen):
            os.killpg(attacker.pid, signal.SIGKILL)
            attacker.wait()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--modes", default="inline,threads")
    parser.add_argument("--attacks", default=",".join(ATTACKS))
    args = parser.parse_args(argv)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))      # the server inherits it
    if not shutil.which("slowhttptest"):
        sys.exit("slowhttptest is not installed (apt-get install slowhttptest)")
    print(f"{'attack':<12} {'mode':<8} {'answered':>9} {'sent':>5} {'availability':>12}", flush=True)
    for attack in args.attacks.split(","):
        for mode in args.modes.split(","):
            answered, sent = run(mode, attack, args.seconds)
            print(f"{attack:<12} {mode:<8} {answered:>9} {sent:>5} {answered / max(sent, 1):>11.0%}",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
