"""python -m bench.metrics_cost: what --metrics-bind costs a request, in
instructions, counted by valgrind's callgrind (deterministic where wall-clock
CPU time on a shared machine is not).

One worker serves the plaintext hello world on keep-alive connections. The
worker's instruction count after SHORT and after LONG requests differ by
LONG - SHORT requests' worth (startup cancels out); that, per request, with
and without --metrics-bind, ``--rounds`` times each (interleaved), with
PYTHONHASHSEED fixed so both import the same way. Needs valgrind
(apt-get install valgrind); a round takes about a minute.
"""
import argparse
import glob
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
SHORT, LONG = 200, 10200


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(count, flags, outdir):
    """Run the server under callgrind for ``count`` requests; the worker's Ir."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO / "tests" / "apps"), PYTHONHASHSEED="0")
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={outdir}/cg.%p",
         sys.executable, "-m", "prefork", "hello:app", "--workers", "1", "--timeout", "300",
         "--bind", f"127.0.0.1:{port}", *flags],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        sock = connect(port)
        for _ in range(count):
            sock.sendall(REQUEST)
            answer = b""
            while not answer.endswith(b"Hello, World!"):
                answer += sock.recv(4096)
        sock.close()
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(300)
    worker = [path for path in glob.glob(f"{outdir}/cg.*") if not path.endswith(f".{proc.pid}")]
    text = Path(worker[0]).read_text()
    for path in glob.glob(f"{outdir}/cg.*"):
        os.unlink(path)
    return int(re.search(r"^(?:summary|totals): (\d+)", text, re.M).group(1))


def connect(port, timeout=300):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=60)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def per_request(flags, outdir):
    return (serve(LONG, flags, outdir) - serve(SHORT, flags, outdir)) / (LONG - SHORT)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_cost", description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="prefork-cg-") as outdir:
        off, on = [], []
        for _ in range(args.rounds):
            off.append(per_request([], outdir))
            on.append(per_request(["--metrics-bind", f"127.0.0.1:{free_port()}"], outdir))
    print("instructions per request, metrics off:", ", ".join(f"{n:,.0f}" for n in off))
    print("instructions per request, metrics on: ", ", ".join(f"{n:,.0f}" for n in on))
    print(f"cost: {min(on) - min(off):+,.0f} instructions ({min(on) / min(off) - 1:+.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
