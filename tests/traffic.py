"""Traffic for the lifecycle tests: clients of every kind (keep-alive,
a new connection per request, pipelined), against routes that block and
routes that burn CPU, while the server is signalled; and an exact account
of what every request got.

The account is the client's: a request is *sent* once its bytes are
written, and must get its whole response. Failures are counted by kind, and
an empty reply on a connection that already carried a response (which RFC
9112 §9.3.1 allows a server to give, but a client under steady load should
never see) is counted apart from one on a fresh connection. Connections
refused at connect() carried no request, so they are not failures; a test
of a server that stays up asserts there were none.
"""
import socket
import threading
import time
from collections import Counter

from wire import read_response

ROUTES = ("/fast", "/sleep?s=0.05", "/burn?ms=5")


class Client(threading.Thread):
    """One client: ``kind`` is "keepalive", "fresh" or "pipelined"."""

    def __init__(self, traffic, kind, path, depth=3):
        super().__init__(daemon=True)
        self.traffic, self.kind, self.path, self.depth = traffic, kind, path, depth
        self.sock = self.reader = None
        self.carried = 0            # responses received on the current connection

    def run(self):
        while not self.traffic.stopping.is_set():
            if self.sock is None and not self.connect():
                time.sleep(0.02)
                continue
            self.exchange(self.depth if self.kind == "pipelined" else 1)
            if self.kind == "fresh":
                self.drop()
        self.drop()

    def connect(self):
        try:
            self.sock = socket.create_connection((self.traffic.host, self.traffic.port), timeout=10)
            if self.traffic.tls is not None:
                self.sock = self.traffic.tls.wrap_socket(self.sock, server_hostname="localhost")
        except ConnectionRefusedError:
            self.traffic.note("refused", sent=0)
            return False
        except OSError as exc:
            self.traffic.note(f"connect: {exc!r}", sent=0)
            return False
        self.reader = self.sock.makefile("rb")
        self.carried = 0
        return True

    def drop(self):
        if self.sock is not None:
            self.reader.close()
            self.sock.close()
            self.sock = self.reader = None

    def exchange(self, count):
        request = f"GET {self.path} HTTP/1.1\r\nHost: t\r\n\r\n".encode() * count
        try:
            self.sock.sendall(request)
        except OSError as exc:
            # Nothing was surely delivered; the server may have closed an
            # idle connection (counted, so a test can assert it never happens).
            self.traffic.note(self.empty_kind("send failed"), sent=count)
            self.drop()
            return
        for i in range(count):
            try:
                response = read_response(self.reader)
            except ConnectionError as exc:
                kind = self.empty_kind("empty reply") if "before a response" in str(exc) \
                    else f"{exc!r}"
                self.traffic.note(kind, sent=count - i)
                self.drop()
                return
            except OSError as exc:
                self.traffic.note(self.empty_kind(type(exc).__name__), sent=count - i)
                self.drop()
                return
            except AssertionError as exc:
                self.traffic.note(f"broken response: {exc}", sent=count - i)
                self.drop()
                return
            self.carried += 1
            self.traffic.answered(response.status)
            if response.closes:
                if i + 1 < count:
                    # The server said it closes after this one: the rest of
                    # the pipeline was not processed, and gets no response.
                    self.traffic.note("pipelined after close", sent=count - i - 1)
                self.drop()
                return

    def empty_kind(self, what):
        return f"{what} on a reused connection" if self.carried else f"{what} on a fresh connection"


class Traffic:
    """Clients of every kind against one server until stopped; then
    ``sent``, ``ok``, ``failures`` (kind -> requests) and ``refused``."""

    def __init__(self, port, host="127.0.0.1", keepalive=4, fresh=2, pipelined=2, routes=ROUTES):
        # ``port`` may be a conftest Server: its address, and TLS if it speaks it.
        self.tls = getattr(port, "tls", None)
        if hasattr(port, "port"):
            host, port = port.host, port.port
        self.host, self.port = host, port
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.sent = self.ok = self.refused = 0
        self.statuses = Counter()
        self.failures = Counter()
        kinds = ["keepalive"] * keepalive + ["fresh"] * fresh + ["pipelined"] * pipelined
        self.clients = [Client(self, kind, routes[i % len(routes)]) for i, kind in enumerate(kinds)]

    def __enter__(self):
        for client in self.clients:
            client.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.stopping.set()
        for client in self.clients:
            client.join(15)

    def answered(self, status):
        with self.lock:
            self.sent += 1
            self.statuses[status] += 1
            if status == 200:
                self.ok += 1
            else:
                self.failures[f"status {status}"] += 1

    def note(self, kind, sent):
        with self.lock:
            if kind == "refused":
                self.refused += 1
                return
            self.sent += sent
            self.failures[kind] += sent

    def empty_replies_on_reused(self):
        return sum(n for kind, n in self.failures.items() if "reused" in kind)

    def report(self):
        return (f"sent {self.sent}, answered {self.ok}, refused connects {self.refused}, "
                f"failures {dict(self.failures)}")
