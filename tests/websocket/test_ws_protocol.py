"""RFC 6455 on the wire, against the real server with hand-built frames: every
protocol error closes with the code §7.4.1 names and the TCP connection
ends, the app hears websocket.disconnect with that code and never receives
any part of the bad message; pings are answered; the close handshake in
each direction; control frames between fragments."""
import socket
import struct
import time
import zlib

import pytest

from rawws import RawWebSocket, app_log, close_frame, frame, wait_for
from test_ws_frames import ERRORS

TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10


@pytest.fixture(scope="module")
def server(module_server_factory):
    return module_server_factory("ws_app:app", "--workers", "1")


@pytest.fixture(scope="module")
def small(module_server_factory):
    return module_server_factory("ws_app:app", "--workers", "1", "--ws-max-message-size", "1KB",
                                 "--ws-max-frame-size", "600")


def quiet_log(port):
    """The app's log once every echo session of earlier tests has ended (a
    test's "after" is then its own connection's only)."""
    def quiet():
        log = app_log(port)
        return log if log["open"] == 0 else None
    log = wait_for(quiet)
    assert log, "an echo session of an earlier test is still open"
    return log


def disconnects_after(port, before):
    return wait_for(lambda: app_log(port)["disconnects"][before:] or None)


@pytest.mark.parametrize("name", [n for n in ERRORS])
def test_protocol_error_closes_with_its_code(server, name):
    data, code = ERRORS[name]
    before = quiet_log(server.port)
    ws = RawWebSocket(server.port)
    assert ws.status == 101
    ws.send(frame(TEXT, "before"))
    assert ws.recv_frame()[3] == b"before"
    ws.send(data)
    assert ws.recv_close()[0] == code
    assert ws.eof(), "the server ends the TCP connection after a protocol error"
    ws.close()
    assert disconnects_after(server.port, len(before["disconnects"]))[0][0] == code
    received = app_log(server.port)["received"][len(before["received"]):]
    assert received == [["text", 6]], "only the valid message reached the app"


def test_oversized_message_is_1009(small):
    before = quiet_log(small.port)
    ws = RawWebSocket(small.port)
    ws.send(frame(BINARY, b"x" * 500, fin=False) + frame(0, b"x" * 525))
    assert ws.recv_close()[0] == 1009
    assert ws.eof()
    assert disconnects_after(small.port, len(before["disconnects"]))[0][0] == 1009
    assert app_log(small.port)["received"] == before["received"]


def test_oversized_frame_is_1009_before_its_payload(small):
    ws = RawWebSocket(small.port)
    ws.send(frame(BINARY, b"x" * 601)[:8])      # the head (and mask) only
    assert ws.recv_close()[0] == 1009


def test_a_message_at_the_limit_is_echoed(small):
    ws = RawWebSocket(small.port)
    ws.send(frame(BINARY, b"y" * 512, fin=False) + frame(0, b"y" * 512))
    assert ws.recv_frame()[2:] == (BINARY, b"y" * 1024)
    ws.close()


def test_ping_is_answered_with_its_payload(server):
    ws = RawWebSocket(server.port)
    ws.send(frame(PING, b"are you there"))
    assert ws.recv_frame() == (True, 0, PONG, b"are you there")
    ws.send(frame(PONG, b"unsolicited"))        # §5.5.3: ignored
    ws.send(frame(TEXT, "still open"))
    assert ws.recv_frame()[3] == b"still open"
    ws.close()


def test_control_frames_between_fragments(server):
    ws = RawWebSocket(server.port)
    ws.send(frame(TEXT, "frag", fin=False) + frame(PING, b"1") + frame(0, "men", fin=False)
            + frame(PING, b"2") + frame(0, "ted"))
    assert ws.recv_frame() == (True, 0, PONG, b"1")
    assert ws.recv_frame() == (True, 0, PONG, b"2")
    assert ws.recv_frame() == (True, 0, TEXT, b"fragmented")
    ws.close()


def test_client_close_is_echoed_and_the_server_ends_tcp(server):
    before = quiet_log(server.port)
    ws = RawWebSocket(server.port)
    ws.send(close_frame(1000, b"bye"))
    assert ws.recv_close() == (1000, "")
    assert ws.eof(), "the server closes the TCP connection first (§7.1.1)"
    assert disconnects_after(server.port, len(before["disconnects"])) == [[1000, "bye"]]


def test_empty_close_is_answered_empty_and_the_app_hears_1005(server):
    before = quiet_log(server.port)
    ws = RawWebSocket(server.port)
    ws.send(close_frame())
    assert ws.recv_close() == (None, "")
    assert disconnects_after(server.port, len(before["disconnects"])) == [[1005, ""]]


def test_a_vanished_client_is_1006_to_the_app(server):
    before = quiet_log(server.port)
    ws = RawWebSocket(server.port)
    ws.send(frame(TEXT, "hi"))
    ws.recv_frame()
    ws.sock.close()
    assert disconnects_after(server.port, len(before["disconnects"])) == [[1006, ""]]


def test_app_close_reaches_the_client_and_its_answer_the_app(server):
    before = quiet_log(server.port)
    ws = RawWebSocket(server.port)
    ws.send(frame(TEXT, "close-me"))
    assert ws.recv_close() == (4000, "asked to")
    ws.send(close_frame(4000))
    assert ws.eof()
    assert disconnects_after(server.port, len(before["disconnects"])) == [[4000, ""]]


def test_app_that_raises_is_closed_with_1011_and_the_worker_serves_on(server):
    ws = RawWebSocket(server.port)
    ws.send(frame(TEXT, "raise"))
    assert ws.recv_close()[0] == 1011
    ws.close()
    again = RawWebSocket(server.port)
    again.send(frame(TEXT, "next"))
    assert again.recv_frame()[3] == b"next"
    again.close()


def test_app_that_returns_is_closed_with_1000(server):
    ws = RawWebSocket(server.port)
    ws.send(frame(TEXT, "return"))
    assert ws.recv_close()[0] == 1000
    ws.close()


def test_frames_after_the_close_never_reach_the_app(server):
    before = quiet_log(server.port)
    ws = RawWebSocket(server.port)
    ws.send(close_frame(1000) + frame(TEXT, "after the close"))
    assert ws.recv_close()[0] == 1000
    assert ws.eof()
    disconnects_after(server.port, len(before["disconnects"]))
    assert app_log(server.port)["received"] == before["received"]


def test_permessage_deflate_on_the_wire(server):
    ws = RawWebSocket(server.port, extra=["Sec-WebSocket-Extensions: permessage-deflate; "
                                          "server_no_context_takeover; client_max_window_bits"])
    assert ws.fields["sec-websocket-extensions"] == \
        "permessage-deflate; server_no_context_takeover"
    text = "squeeze me " * 100
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = (c.compress(text.encode()) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    for _ in range(2):      # no context takeover: each answer inflates on its own
        ws.send(frame(TEXT, body, rsv=4))
        fin, rsv, opcode, payload = ws.recv_frame()
        assert (fin, rsv, opcode) == (True, 4, TEXT), "a compressed answer has RSV1"
        assert len(payload) < len(text)
        assert zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff").decode() == text
    ws.send(frame(TEXT, "short"))       # uncompressed messages stay allowed (RFC 7692 §6)
    assert ws.recv_frame() == (True, 0, TEXT, b"short")
    ws.close()


def test_rsv1_is_refused_without_negotiated_deflate(module_server_factory):
    server = module_server_factory("ws_app:app", "--workers", "1", "--ws-per-message-deflate", "off")
    ws = RawWebSocket(server.port, extra=["Sec-WebSocket-Extensions: permessage-deflate"])
    assert "sec-websocket-extensions" not in ws.fields
    ws.send(frame(TEXT, b"\x00", rsv=4))
    assert ws.recv_close()[0] == 1002


def test_unanswered_pings_close_with_1011(server_factory):
    server = server_factory("ws_app:app", "--workers", "1", "--ws-ping-interval", "1",
                            "--ws-ping-timeout", "1")
    ws = RawWebSocket(server.port, timeout=10)
    fin, rsv, opcode, payload = ws.recv_frame()
    assert opcode == PING
    started = time.monotonic()
    assert ws.recv_close()[0] == 1011       # we never answer
    assert time.monotonic() - started < 4
    assert ws.eof()


def test_answered_pings_keep_the_connection(server_factory):
    server = server_factory("ws_app:app", "--workers", "1", "--ws-ping-interval", "1",
                            "--ws-ping-timeout", "1")
    ws = RawWebSocket(server.port, timeout=10)
    for _ in range(3):
        fin, rsv, opcode, payload = ws.recv_frame()
        assert opcode == PING
        ws.send(frame(PONG, payload))
    ws.send(frame(TEXT, "alive"))
    assert ws.recv_frame()[2:] == (TEXT, b"alive")
    ws.close()
