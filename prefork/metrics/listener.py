"""The master's metrics endpoint: a listener of its own (``--metrics-bind``),
served from the master's loop without threads, so scrapes see the master's
sums and cost the workers nothing.

Every socket is non-blocking and watched by the master's select() beside
its wake-up pipe: a scrape is read until its head ends, answered (GET or
HEAD /metrics; 404 for another path, 405 for another method) and closed.
A client that is slow, or one too many, never holds the loop: at most
MAX_CLIENTS at once, each for at most CLIENT_TIMEOUT seconds.

The TCP socket has SO_REUSEPORT, so that during a binary upgrade (USR2)
the new master binds the same address beside the old one (each then
answers for its own workers, until the old one exits).
"""
import logging
import os
import socket
import time

from prefork.master.sockets import BindError, parse_address

MAX_CLIENTS = 16
CLIENT_TIMEOUT = 5.0
MAX_HEAD = 8192
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"

log = logging.getLogger("prefork.error")


def bind_metrics(text):
    """The listening socket for --metrics-bind (BindError if it cannot be had)."""
    family, address = parse_address(text)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family == socket.AF_UNIX:
            try:
                os.unlink(address)
            except FileNotFoundError:
                pass
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise BindError(f"--metrics-bind: cannot listen on {text}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


class _Client:
    __slots__ = ("sock", "inbox", "outbox", "deadline")

    def __init__(self, sock):
        self.sock = sock
        self.inbox = b""
        self.outbox = None          # bytes left to send once answered
        self.deadline = time.monotonic() + CLIENT_TIMEOUT


class MetricsListener:
    def __init__(self, address, scrape):
        self.address = address
        self.scrape = scrape        # () -> the text of /metrics
        self.sock = None
        self.clients = {}           # fd -> _Client

    def open(self):
        self.sock = bind_metrics(self.address)
        log.info("metrics on %s (GET /metrics)", self.address)

    def close(self):
        for client in list(self.clients.values()):
            self.drop(client)
        if self.sock is not None:
            if self.sock.family == socket.AF_UNIX:
                try:
                    os.unlink(self.sock.getsockname())
                except OSError:
                    pass
            self.sock.close()
            self.sock = None

    def close_in_child(self):
        """A forked worker lets go of the master's sockets (without unlinking)."""
        for client in self.clients.values():
            client.sock.close()
        self.clients = {}
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    # -- the master's select() ----------------------------------------------

    def readers(self):
        fds = [c.sock for c in self.clients.values() if c.outbox is None]
        return fds + [self.sock] if self.sock is not None else fds

    def writers(self):
        return [c.sock for c in self.clients.values() if c.outbox is not None]

    def handle(self, readable, writable):
        for sock in readable:
            if sock is self.sock:
                self.accept()
            elif isinstance(sock, socket.socket) and sock.fileno() in self.clients:
                self.read(self.clients[sock.fileno()])
        for sock in writable:
            client = self.clients.get(sock.fileno()) if isinstance(sock, socket.socket) else None
            if client is not None:
                self.write(client)
        now = time.monotonic()
        for client in list(self.clients.values()):
            if now >= client.deadline:
                self.drop(client)

    def accept(self):
        while True:
            try:
                sock, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("metrics: accept failed: %s", exc)
                return
            if len(self.clients) >= MAX_CLIENTS:
                sock.close()
                continue
            sock.setblocking(False)
            self.clients[sock.fileno()] = _Client(sock)

    def read(self, client):
        try:
            data = client.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            return self.drop(client)
        client.inbox += data
        if b"\r\n\r\n" in client.inbox or b"\n\n" in client.inbox:
            client.outbox = self.answer(client.inbox)
            self.write(client)
        elif len(client.inbox) > MAX_HEAD:
            client.outbox = _response(b"431 Request Header Fields Too Large", b"too large\n")
            self.write(client)

    def answer(self, head):
        line = head.split(b"\n", 1)[0].rstrip(b"\r").split(b" ")
        if len(line) != 3 or not line[2].startswith(b"HTTP/1."):
            return _response(b"400 Bad Request", b"bad request\n")
        method, target = line[0], line[1]
        if target.split(b"?", 1)[0] != b"/metrics":
            return _response(b"404 Not Found", b"not found; try /metrics\n")
        if method not in (b"GET", b"HEAD"):
            return _response(b"405 Method Not Allowed", b"GET or HEAD\n", b"Allow: GET, HEAD\r\n")
        try:
            body = self.scrape().encode("utf-8")
        except Exception:
            log.exception("metrics: rendering failed")
            return _response(b"500 Internal Server Error", b"error\n")
        return _response(b"200 OK", body, content_type=CONTENT_TYPE, head_only=method == b"HEAD")

    def write(self, client):
        try:
            sent = client.sock.send(client.outbox)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return self.drop(client)
        client.outbox = client.outbox[sent:]
        if not client.outbox:
            self.drop(client)

    def drop(self, client):
        self.clients.pop(client.sock.fileno(), None)
        client.sock.close()


def _response(status, body, extra=b"", content_type=b"text/plain; charset=utf-8", head_only=False):
    head = (b"HTTP/1.1 " + status + b"\r\nContent-Type: " + content_type
            + b"\r\nContent-Length: %d\r\nConnection: close\r\n" % len(body) + extra + b"\r\n")
    return head if head_only else head + body
