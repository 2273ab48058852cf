"""Helpers for the master-process tests: the processes under a master, a
bounded wait, one-shot requests and a keep-alive load generator."""
import http.client
import os
import threading
import time


def children(pid):
    """Pids of a process's children (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode().strip()


def workers(pid):
    """The master's worker processes (children titled as workers)."""
    found = []
    for child in children(pid):
        try:
            if "worker" in cmdline(child):
                found.append(child)
        except OSError:
            pass
    return found


def serving_workers(pid):
    """The master's workers that have booted and serve (their title shows
    no state: not booting, not stopping)."""
    found = []
    for child in workers(pid):
        try:
            if not cmdline(child).endswith(")"):
                found.append(child)
        except OSError:
            pass
    return found


def wait_for(predicate, timeout=10.0, interval=0.05, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def get(port, path="/", timeout=5.0, host="127.0.0.1"):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


class Load:
    """``clients`` threads, each sending GETs over one keep-alive connection
    until stopped, reconnecting when the server closes it.

    A request that fails on a *reused* connection before any byte of the
    response arrived is retried once on a new connection, as RFC 9112
    section 9.3.1 allows for idempotent requests (the server may close an
    idle connection just as the client sends on it); every other error,
    and every non-2xx status, counts as a failure."""

    def __init__(self, port, path="/", clients=4, host="127.0.0.1"):
        self.port, self.path, self.host = port, path, host
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.retried = 0
        self.failures = []
        self.bodies = {}
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(clients)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.stop_flag.set()
        for thread in self.threads:
            thread.join(10)

    def client(self):
        conn, reused = None, False
        while not self.stop_flag.is_set():
            if conn is None:
                conn, reused = http.client.HTTPConnection(self.host, self.port, timeout=10), False
            try:
                conn.request("GET", self.path)
                response = conn.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                conn = None
                if reused:
                    with self.lock:
                        self.retried += 1
                    continue
                self.record_failure(repr(exc))
                continue
            except Exception as exc:
                conn.close()
                conn = None
                self.record_failure(repr(exc))
                continue
            self.record(response.status, body)
            reused = True
            if response.will_close:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def record(self, status, body):
        with self.lock:
            if 200 <= status < 300:
                self.ok += 1
                self.bodies[body] = self.bodies.get(body, 0) + 1
            else:
                self.failures.append(f"status {status}")

    def record_failure(self, what):
        with self.lock:
            self.failures.append(what)


def ask(server, path):
    """GET ``path`` on a new connection; the JSON body of its 200 response."""
    import json
    status, body = get(server.port, path, host=server.host)
    assert status == 200, (status, body)
    return json.loads(body)


def every_worker(server, path, count, timeout=15.0):
    """{pid: reply} of ``ask(server, path)`` once ``count`` workers have answered."""
    seen = {}
    deadline = time.monotonic() + timeout
    while len(seen) < count and time.monotonic() < deadline:
        reply = ask(server, path)
        seen[reply["pid"]] = reply
    assert len(seen) == count, f"only {len(seen)} workers answered {path}"
    return seen
