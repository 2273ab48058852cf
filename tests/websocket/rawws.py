"""A WebSocket client over a raw socket, for what well-behaved clients never
send: frames built by hand (masked or not, any opcode, RSV bits, lengths),
and the server's frames read back as they are on the wire."""
import base64
import json
import os
import socket
import struct
import time


def handshake_request(path="/echo", host="127.0.0.1", extra=(), key=None, version="13",
                      method="GET", http="HTTP/1.1", upgrade="websocket", connection="Upgrade"):
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    lines = [f"{method} {path} {http}", f"Host: {host}"]
    if upgrade is not None:
        lines.append(f"Upgrade: {upgrade}")
    if connection is not None:
        lines.append(f"Connection: {connection}")
    if key:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    lines.extend(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_head(sock, timeout=5.0):
    """The response head (status, {lowercased name: value}) and any bytes after it."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a full head: {data!r}")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return status, fields, rest


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None, key=None):
    """One client frame; ``length`` forces the length field, ``rsv`` is
    RSV1-3 as a 3-bit number."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = key if key is not None else os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def close_frame(code=None, reason=b"", **kw):
    payload = b"" if code is None else struct.pack("!H", code) + reason
    return frame(0x8, payload, **kw)


class RawWebSocket:
    """An open WebSocket on a plain socket."""

    def __init__(self, port, path="/echo", extra=(), timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.sendall(handshake_request(path, extra=extra))
        self.status, self.fields, self.buffer = read_head(self.sock, timeout)
        self.sock.settimeout(timeout)

    def send(self, data):
        self.sock.sendall(data)

    def recv_exact(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def recv_frame(self):
        """(fin, rsv, opcode, payload) of the next server frame."""
        b0, b1 = self.recv_exact(2)
        assert not b1 & 0x80, "server frames are never masked (RFC 6455 §5.1)"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.recv_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.recv_exact(8))[0]
        return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, self.recv_exact(n)

    def recv_close(self):
        """Read frames until a close; its (code, reason), code None if empty."""
        while True:
            _, _, opcode, payload = self.recv_frame()
            if opcode == 0x8:
                if not payload:
                    return None, ""
                return struct.unpack("!H", payload[:2])[0], payload[2:].decode()

    def eof(self, timeout=5.0):
        """True once the server closed its side (what remains is dropped)."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
        except (ConnectionResetError, socket.timeout):
            return False
        return True

    def close(self):
        self.sock.close()


def app_log(port):
    """What the echo app received and how its connections ended (ws_app /log)."""
    from procs import get
    return json.loads(get(port, "/log")[1])


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()
