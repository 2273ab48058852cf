"""The WebSocket opening handshake (RFC 6455 §4.2): is a request one, is it
valid, and the fields of the server's 101 answer.

``check_request`` sorts a request into three kinds:
- not a WebSocket handshake (no ``websocket`` token in ``Upgrade``, or
  HTTP/1.0, whose ``Upgrade`` RFC 9110 §7.8 says to ignore): None, and the
  request is plain HTTP;
- a handshake that breaks §4.2.1: HandshakeError, answered with 400, or
  426 with ``Sec-WebSocket-Version: 13`` for another version (§4.4);
- a valid one: a Handshake with what the app and the answer need.
"""
import base64
import binascii
import hashlib

# §1.3: the GUID the Sec-WebSocket-Accept digest appends to the key.
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeError(Exception):
    """A handshake the server refuses: ``status`` with ``headers``."""

    def __init__(self, status, reason, headers=()):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = list(headers)


class Handshake:
    """A valid opening handshake's key, subprotocols and extension offers."""
    __slots__ = ("key", "subprotocols", "extensions")

    def __init__(self, key, subprotocols, extensions):
        self.key = key                  # Sec-WebSocket-Key as sent (bytes)
        self.subprotocols = subprotocols    # [str], in the client's order
        self.extensions = extensions    # [str]: the Sec-WebSocket-Extensions values

    @property
    def accept(self):
        """§4.2.2: base64(SHA-1(key + GUID))."""
        return base64.b64encode(hashlib.sha1(self.key + GUID).digest()).decode("ascii")


def tokens(values):
    """The comma-separated tokens of a field's values, lowercased."""
    return [part.strip().lower() for value in values for part in value.split(",") if part.strip()]


def field_values(headers, name):
    return [value.decode("latin-1") for key, value in headers if key == name]


def is_upgrade(headers):
    """The request asks to switch to WebSocket (RFC 9110 §7.8 Upgrade)."""
    return "websocket" in tokens(field_values(headers, b"upgrade"))


def check_request(method, minor, headers, has_body):
    """A Handshake, None (plain HTTP) or HandshakeError; ``headers`` are the
    ASGI scope's (lowercased names, bytes)."""
    if minor == 0 or not is_upgrade(headers):
        return None
    # §4.2.1: what the server must find in a client's opening handshake.
    if method != b"GET":
        raise HandshakeError(400, f"a WebSocket handshake must be a GET, not {method.decode()}")
    if has_body:
        raise HandshakeError(400, "a WebSocket handshake has no body")
    if "upgrade" not in tokens(field_values(headers, b"connection")):
        raise HandshakeError(400, "a WebSocket handshake needs Connection: Upgrade")
    versions = field_values(headers, b"sec-websocket-version")
    if [v.strip() for v in versions] != ["13"]:
        # §4.4: the versions the server speaks, with 426.
        raise HandshakeError(426, f"WebSocket version {', '.join(versions) or 'missing'}; "
                                  "this server speaks 13",
                             [("Sec-WebSocket-Version", "13"), ("Upgrade", "websocket")])
    keys = [value for key, value in headers if key == b"sec-websocket-key"]
    if len(keys) != 1 or not valid_key(keys[0].strip()):
        raise HandshakeError(400, "Sec-WebSocket-Key must be 16 bytes in base64, sent once")
    subprotocols = [p.strip() for v in field_values(headers, b"sec-websocket-protocol")
                    for p in v.split(",") if p.strip()]
    return Handshake(keys[0].strip(), subprotocols,
                     field_values(headers, b"sec-websocket-extensions"))


def valid_key(key):
    """§4.1: a nonce of 16 bytes, base64-encoded (24 characters)."""
    if len(key) != 24:
        return False
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        return False
