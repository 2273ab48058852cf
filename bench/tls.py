"""TLS side by side: keep-alive requests/s and new handshakes/s of prefork
against gunicorn, uvicorn, granian and nginx, every server with the same
ECDSA P-256 certificate (made here with openssl), one worker, pinned to
CPU 0 and wrk to CPU 1 (taskset), on the plaintext app.

    python -m bench.tls [--duration 8] [--connections 50] [--clients 8] [--runs 2]
                        [--servers a,b]

- keep-alive: ``wrk -t1 -cN https://...``: requests over established TLS
  connections (the record layer and the server's loop);
- new handshakes: ``openssl s_time -new -www /`` in --clients parallel
  processes: each connection a full handshake (no session reused: ECDHE
  and an ECDSA P-256 signature on the server) and one HTTP/1.0 GET;
- reconnects: wrk with ``Connection: close``: a new connection per
  request, on which wrk resumes its TLS session from a ticket (against a
  TLS 1.2-only nginx, $ssl_session_reused said "r" for all but the
  first), so these are abbreviated handshakes (with TLS 1.3, still an
  ECDHE exchange, but no certificate and no signature).

Every server is offered TLS 1.2 and 1.3 (nginx 1.22 needs ``ssl_protocols``
for 1.3, granian ``--ssl-protocol-min tls1.2``); the TLS column is what an
OpenSSL client negotiates.

Peers come from bench/.venv, or from $BENCH_VENV (bench/install_peers.sh);
prefork is the prefork-serve beside this interpreter. The best of --runs
runs is kept (the machine is shared); ratios are to prefork in the same run.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import procstat

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
VENV_BIN = Path(os.environ.get("BENCH_VENV", BENCH_DIR / ".venv")) / "bin"
HOST = "127.0.0.1"
SERVER_CPU, CLIENT_CPU = "0", "1"
BODY = b"Hello, World!"


def free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def make_certificate(directory):
    """An ECDSA P-256 certificate for 127.0.0.1 and its PKCS#8 key."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def prefork_argv0():
    return shutil.which("prefork-serve", path=str(Path(sys.executable).parent)) \
        or shutil.which("prefork-serve")


def nginx_conf(tmp, port, cert, key):
    return f"""
daemon off;
master_process on;
user root;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    server {{
        listen {HOST}:{port} ssl;
        ssl_protocols TLSv1.2 TLSv1.3;     # 1.22's default has no TLS 1.3
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{
            default_type text/plain;
            return 200 '{BODY.decode()}';
        }}
    }}
}}
"""


def server_argv(name, port, cert, key, tmp):
    """The command line of server ``name`` with TLS on ``port``."""
    venv = lambda tool: str(VENV_BIN / tool)     # noqa: E731
    wsgi, asgi = "bench.apps.wsgi:plaintext", "bench.apps.asgi:plaintext"
    if name in ("prefork", "prefork-asgi", "prefork-plain"):
        argv = [prefork_argv0(), asgi if name == "prefork-asgi" else wsgi,
                "--bind", f"{'http' if name == 'prefork-plain' else 'https'}://{HOST}:{port}",
                "--workers", "1"]
        return argv if name == "prefork-plain" else argv + ["--certfile", str(cert),
                                                             "--keyfile", str(key)]
    if name == "gunicorn-gthread":
        return [venv("gunicorn"), "--worker-class", "gthread", "--threads", "4", "--workers", "1",
                "--bind", f"{HOST}:{port}", "--log-level", "warning", "--certfile", str(cert),
                "--keyfile", str(key), wsgi]
    if name == "uvicorn":
        return [venv("uvicorn"), asgi, "--host", HOST, "--port", str(port), "--workers", "1",
                "--http", "httptools", "--loop", "uvloop", "--no-access-log",
                "--log-level", "warning", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
    if name in ("granian", "granian-asgi"):
        interface = "asgi" if name == "granian-asgi" else "wsgi"
        return [venv("granian"), "--interface", interface, "--host", HOST, "--port", str(port),
                "--workers", "1", "--no-ws", "--log-level", "warning", "--no-access-log",
                "--ssl-certificate", str(cert), "--ssl-keyfile", str(key),
                "--ssl-protocol-min", "tls1.2", asgi if interface == "asgi" else wsgi]
    if name == "nginx":
        conf = tmp / "nginx.conf"
        conf.write_text(nginx_conf(tmp, port, cert, key))
        return [shutil.which("nginx"), "-p", str(tmp), "-c", str(conf),
                "-e", str(tmp / "nginx-error.log")]
    raise ValueError(name)


SERVERS = ["prefork", "prefork-asgi", "gunicorn-gthread", "uvicorn", "granian", "granian-asgi",
           "nginx", "prefork-plain"]


def wait_ready(port, tls, proc, timeout=20):
    """Until one GET answers with the body (over TLS when ``tls``); the
    protocol version an OpenSSL client negotiates, or "plain"."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=2) as raw:
                sock = context.wrap_socket(raw) if tls else raw
                version = sock.version() if tls else "plain"
                sock.sendall(b"GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
                if data.startswith(b"HTTP/1.1 200") and data.endswith(BODY):
                    return version
        except (OSError, ssl.SSLError):
            pass
        time.sleep(0.2)
    raise RuntimeError("did not answer")


def wrk(url, duration, connections, close):
    argv = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{connections}", f"-d{duration}s"]
    if close:
        argv += ["-H", "Connection: close"]
    done = subprocess.run(argv + [url], capture_output=True, text=True, timeout=duration + 30)
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    errors = re.search(r"Socket errors: (.*)", done.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    return (float(match.group(1)) if match else 0.0,
            (errors.group(1) if errors else "") + (f" non-2xx {non2xx.group(1)}" if non2xx else ""))


def per_op(run, sid):
    """(ops/s, notes, server CPU microseconds per op) of one run()."""
    before = procstat.cpu_seconds([sid])
    rate, notes, seconds = run()
    used = procstat.cpu_seconds([sid]) - before
    return rate, notes, (used / (rate * seconds) * 1e6) if rate else 0.0


def s_time(port, duration, clients):
    """Full handshakes per second (and one GET each) from ``clients``
    parallel openssl s_time processes on the client CPU."""
    argv = ["taskset", "-c", CLIENT_CPU, "openssl", "s_time", "-connect", f"{HOST}:{port}",
            "-new", "-www", "/", "-time", str(duration)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(clients)]
    total, notes = 0, ""
    for proc in procs:
        out = proc.communicate(timeout=duration + 30)[0]
        match = re.search(r"(\d+) connections in [\d.]+s", out)
        if match:
            total += int(match.group(1))
        else:
            notes = out.strip().splitlines()[-1] if out.strip() else "s_time failed"
    return total / duration, notes


def measure(name, cert, key, args):
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-tls-{name}-"))
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO_DIR), PYTHONUNBUFFERED="1")
    log = open(tmp / "server.log", "wb")
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, *server_argv(name, port, cert, key, tmp)],
                            cwd=REPO_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    tls = name != "prefork-plain"
    try:
        results = {"version": wait_ready(port, tls, proc)}
        url = f"{'https' if tls else 'http'}://{HOST}:{port}/"
        runs = {"keepalive": lambda: (*wrk(url, args.duration, args.connections, False),
                                      args.duration),
                "reconnect": lambda: (*wrk(url, args.duration, args.connections, True),
                                      args.duration)}
        if tls:
            runs["handshake"] = lambda: (*s_time(port, args.duration, args.clients), args.duration)
        for kind, run in runs.items():
            results[kind] = max(per_op(run, proc.pid) for _ in range(args.runs))
        return results
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)     # the group this call started
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def table(results):
    base = results.get("prefork", {})
    kinds = ("keepalive", "handshake", "reconnect")
    lines = ["| server | TLS | keep-alive req/s | vs prefork | server µs CPU/req "
             "| new handshakes/s | vs prefork | server µs CPU/handshake | handshakes/s per server core "
             "| reconnects/s (resumed) | vs prefork | server µs CPU/reconnect | errors |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, got in results.items():
        if "error" in got:
            lines.append(f"| {name} |" + " - |" * 11 + f" {got['error']} |")
            continue
        cells = [name, got["version"]]
        for kind in kinds:
            if kind not in got:
                cells += ["-"] * (4 if kind == "handshake" else 3)
                continue
            value = got[kind][0]
            ratio = value / base[kind][0] if base.get(kind) and base[kind][0] else 0
            cells += [f"{value:,.0f}", f"{ratio:.2f}", f"{got[kind][2]:.0f}"]
            if kind == "handshake":
                # The client is the bound (see RESULTS.md): what the
                # server's own CPU cost allows on one core.
                cells.append(f"{1e6 / got[kind][2]:,.0f}" if got[kind][2] else "-")
        errors = "; ".join(filter(None, (got[kind][1].strip() for kind in kinds if kind in got)))
        lines.append("| " + " | ".join(cells) + f" | {errors or '-'} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.tls", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8, help="parallel s_time processes")
    parser.add_argument("--servers", default=",".join(SERVERS))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-tls-cert-") as directory:
        cert, key = make_certificate(Path(directory))
        results = {}
        for name in args.servers.split(","):
            try:
                results[name] = measure(name, cert, key, args)
            except (RuntimeError, OSError, ValueError) as exc:
                results[name] = {"error": str(exc)}
            print(f"{name}: {results[name]}", file=sys.stderr, flush=True)
    print(f"wrk -t1 -c{args.connections} -d{args.duration}s and {args.clients} x openssl s_time "
          f"-new (best of {args.runs}), "
          f"server on CPU {SERVER_CPU}, wrk on CPU {CLIENT_CPU}, 1 worker, ECDSA P-256, "
          f"{ssl.OPENSSL_VERSION}\n")
    print(table(results))


if __name__ == "__main__":
    main()
