"""The opening handshake (RFC 6455 §4.2) against the real server: what is a
handshake, what is refused and how, the 101 answer, the websocket scope,
the app's ways to say no (asgiref spec: 403 for a close before accept,
the websocket.http.response extension), and the permessage-deflate
negotiation (RFC 7692)."""
import base64
import hashlib
import json
import socket

import pytest

from prefork.websocket.deflate import negotiate
from rawws import RawWebSocket, frame, handshake_request, read_head

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


@pytest.fixture(scope="module")
def server(module_server_factory):
    return module_server_factory("ws_app:app", "--workers", "1")


def exchange(port, request, timeout=5.0):
    """(status, fields, body) of the answer to a raw request."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        status, fields, rest = read_head(sock)
        if status == 101:
            return status, fields, rest
        length = int(fields.get("content-length", 0))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return status, fields, rest


def test_accepts_with_the_rfc_example_key(server):
    status, fields, _ = exchange(server.port, handshake_request(key=KEY))
    assert status == 101
    # §1.3's worked example: this key gives this accept value.
    assert fields["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert fields["upgrade"].lower() == "websocket"
    assert fields["connection"].lower() == "upgrade"
    assert fields["x-echo"] == "1"          # the app's headers in websocket.accept
    expected = base64.b64encode(hashlib.sha1((KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                                             .encode()).digest()).decode()
    assert fields["sec-websocket-accept"] == expected


@pytest.mark.parametrize("request_kw, status", [
    ({"version": "8"}, 426),
    ({"version": None}, 426),
    ({"key": ""}, 400),
    ({"key": base64.b64encode(b"x" * 15).decode()}, 400),
    ({"key": "not base64 at all!!!!!!!"}, 400),
    ({"method": "POST"}, 400),
    ({"connection": "keep-alive"}, 400),
    ({"connection": None}, 400),
], ids=["version 8", "no version", "no key", "15-byte key", "key not base64", "POST",
        "Connection without upgrade", "no Connection"])
def test_refuses_a_broken_handshake(server, request_kw, status):
    got, fields, body = exchange(server.port, handshake_request(**request_kw))
    assert got == status
    assert fields["connection"] == "close"
    assert body.startswith(f"{status} ".encode())
    if status == 426:
        assert fields["sec-websocket-version"] == "13"      # §4.4


@pytest.mark.parametrize("request_kw", [
    {"http": "HTTP/1.0"},           # RFC 9110 §7.8: Upgrade is ignored in HTTP/1.0
    {"upgrade": "h2c"},             # not a WebSocket upgrade
], ids=["HTTP/1.0", "Upgrade: h2c"])
def test_other_upgrades_are_plain_http(server, request_kw):
    status, _, body = exchange(server.port, handshake_request(path="/scope", **request_kw))
    assert (status, body) == (200, b"plain http")


def test_ws_off_serves_handshakes_as_plain_http(server_factory):
    server = server_factory("ws_app:app", "--workers", "1", "--ws", "off")
    status, _, body = exchange(server.port, handshake_request(path="/scope"))
    assert (status, body) == (200, b"plain http")


def test_the_websocket_scope(server):
    ws = RawWebSocket(server.port, path="/scope?a=1",
                      extra=["Sec-WebSocket-Protocol: chat, superchat", "Origin: http://example.com"])
    fin, rsv, opcode, payload = ws.recv_frame()
    scope = json.loads(payload)
    assert scope["type"] == "websocket"
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/scope"
    assert scope["raw_path"] == "b'/scope'"
    assert scope["query_string"] == "b'a=1'"
    assert scope["root_path"] == ""
    assert scope["http_version"] == "1.1"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["subprotocols"] == ["chat", "superchat"]
    assert ["origin", "http://example.com"] in scope["headers"]
    assert scope["client"][0] == "127.0.0.1" and isinstance(scope["client"][1], int)
    assert scope["server"] == ["127.0.0.1", server.port]
    assert "websocket.http.response" in scope["extensions"]
    assert "method" not in scope
    assert scope["has_state"] is True       # the lifespan state, as for HTTP
    ws.close()


def test_the_websocket_scope_behind_a_trusted_proxy(server):
    # 127.0.0.1 is trusted by default (--forwarded-allow-ips): the proxy's
    # X-Forwarded-* name the client and its scheme, as for HTTP.
    ws = RawWebSocket(server.port, path="/scope",
                      extra=["X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https",
                             "X-Forwarded-Host: example.com"])
    fin, rsv, opcode, payload = ws.recv_frame()
    scope = json.loads(payload)
    assert scope["client"][0] == "203.0.113.7"
    assert scope["scheme"] == "wss"
    assert scope["server"][0] == "example.com"
    assert ["host", "example.com"] in scope["headers"]
    ws.close()


def test_forwarded_fields_from_an_untrusted_peer_are_ignored(server_factory):
    server = server_factory("ws_app:app", "--workers", "1", "--forwarded-allow-ips", "")
    ws = RawWebSocket(server.port, path="/scope",
                      extra=["X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https"])
    fin, rsv, opcode, payload = ws.recv_frame()
    scope = json.loads(payload)
    assert scope["client"][0] == "127.0.0.1"
    assert scope["scheme"] == "ws"
    ws.close()


def test_chosen_subprotocol_is_answered(server):
    ws = RawWebSocket(server.port, extra=["Sec-WebSocket-Protocol: chat, superchat"])
    assert ws.fields["sec-websocket-protocol"] == "chat"
    ws.close()


def test_close_before_accept_is_403(server):
    status, fields, body = exchange(server.port, handshake_request(path="/deny"))
    assert status == 403 and fields["connection"] == "close"


def test_app_returning_before_accept_is_403(server):
    assert exchange(server.port, handshake_request(path="/return"))[0] == 403


def test_app_raising_before_accept_is_500(server):
    status, _, body = exchange(server.port, handshake_request(path="/raise"))
    assert status == 500 and body == b"500 Internal Server Error\n"


def test_denial_response_extension(server):
    status, fields, body = exchange(server.port, handshake_request(path="/deny-response"))
    assert status == 401
    assert fields["www-authenticate"] == "Bearer"
    assert body == b"who are you?"
    assert fields["connection"] == "close"


@pytest.mark.parametrize("offer, answer", [
    (["permessage-deflate"], "permessage-deflate"),
    (["permessage-deflate; client_max_window_bits"], "permessage-deflate"),
    (["permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    (["permessage-deflate; server_max_window_bits=10"],
     "permessage-deflate; server_max_window_bits=10"),
    (['permessage-deflate; server_max_window_bits="11"'],
     "permessage-deflate; server_max_window_bits=11"),
    # declined offers, then the next one
    (["permessage-deflate; server_max_window_bits=8, permessage-deflate"], "permessage-deflate"),
    (["permessage-deflate; unknown_param", "permessage-deflate; client_no_context_takeover"],
     "permessage-deflate; client_no_context_takeover"),
    (["x-webkit-deflate-frame, permessage-deflate"], "permessage-deflate"),
    # nothing acceptable
    (["permessage-deflate; server_max_window_bits=16"], None),
    (["permessage-deflate; server_max_window_bits=09"], None),
    (["permessage-deflate; client_max_window_bits=7"], None),
    (["permessage-deflate; server_no_context_takeover; server_no_context_takeover"], None),
    (["permessage-deflate; server_no_context_takeover=1"], None),
    (["foo"], None),
    ([], None),
])
def test_permessage_deflate_negotiation(offer, answer):
    assert negotiate(offer)[0] == answer


def test_compression_is_negotiated_by_default_and_off_by_setting(server, server_factory):
    offer = ["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]
    on = RawWebSocket(server.port, extra=offer)
    assert on.fields["sec-websocket-extensions"] == "permessage-deflate"
    on.close()
    off_server = server_factory("ws_app:app", "--workers", "1", "--ws-per-message-deflate", "off")
    off = RawWebSocket(off_server.port, extra=offer)
    assert off.status == 101 and "sec-websocket-extensions" not in off.fields
    off.send(frame(1, "plain"))
    assert off.recv_frame()[3] == b"plain"
    off.close()
