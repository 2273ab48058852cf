"""The PROXY protocol (HAProxy's spec, versions 1 and 2) against the real
server: headers built by hand here, sent over raw sockets (and before a
TLS handshake), in each mode (WSGI inline and --threads, ASGI).
"""
import ipaddress
import json
import socket
import ssl
import struct
import time

import pytest

from conftest import MODES, free_port
from wire import read_response

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
PROXY_MODES = {name: ("probe:app", flags) for name, flags in MODES.items()}
PROXY_MODES["asgi"] = ("asgi_probe:app", [])


def crc32c(data):
    """CRC-32C, written out here independently of the server's."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def test_crc32c_helper_matches_the_rfc_check_value():
    assert crc32c(b"123456789") == 0xE3069283      # RFC 3720 B.4 / the CRC catalogue


def tlv(kind, value):
    return struct.pack("!BH", kind, len(value)) + value


def v2(command=1, family=1, protocol=1, src=("203.0.113.7", 51000), dst=("192.0.2.1", 443),
       tlvs=b"", crc=False, version=2):
    """A version 2 header: family 1 IPv4, 2 IPv6, 3 unix, 0 unspec."""
    if family == 1:
        block = (ipaddress.IPv4Address(src[0]).packed + ipaddress.IPv4Address(dst[0]).packed
                 + struct.pack("!HH", src[1], dst[1]))
    elif family == 2:
        block = (ipaddress.IPv6Address(src[0]).packed + ipaddress.IPv6Address(dst[0]).packed
                 + struct.pack("!HH", src[1], dst[1]))
    elif family == 3:
        block = b"/run/client.sock".ljust(108, b"\0") + b"/run/server.sock".ljust(108, b"\0")
    else:
        block = b""
    body = block + tlvs
    if crc:
        body += tlv(0x03, b"\0\0\0\0")
    head = V2_SIGNATURE + bytes([version << 4 | command, family << 4 | protocol])
    header = head + struct.pack("!H", len(body)) + body
    if crc:
        value = crc32c(header) if crc is True else crc
        header = header[:-4] + struct.pack("!I", value)
    return header


GET_ENVIRON = b"GET /environ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
GET_SCOPE = b"GET /scope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


@pytest.fixture(scope="module", params=list(PROXY_MODES))
def mode(request):
    return request.param


@pytest.fixture(scope="module")
def server(module_server_factory, mode):
    app, flags = PROXY_MODES[mode]
    return module_server_factory(app, "--workers", "1", "--proxy-protocol",
                                 "--proxy-protocol-timeout", "1", *flags)


def client_of(server, mode, header, split=False):
    """(REMOTE_ADDR, REMOTE_PORT) the app saw for a request after ``header``."""
    request = GET_SCOPE if mode == "asgi" else GET_ENVIRON
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        if split:
            for i in range(len(header)):
                sock.sendall(header[i:i + 1])
                time.sleep(0.002)
            sock.sendall(request)
        else:
            sock.sendall(header + request)      # at once, as a load balancer does
        response = read_response(sock.makefile("rb"))
    assert response.status == 200
    seen = json.loads(response.body)
    if mode == "asgi":
        return tuple(seen["client"])
    return seen["REMOTE_ADDR"], int(seen["REMOTE_PORT"])


def refused(server, data):
    """The server closed the connection without answering."""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(data)
        started = time.monotonic()
        try:
            got = sock.recv(100)
        except ConnectionResetError:
            got = b""
        return got == b"" and time.monotonic() - started < 0.9


# -- version 1 -------------------------------------------------------------------

def test_v1_tcp4_sets_the_client_address(server, mode):
    header = b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\n"
    assert client_of(server, mode, header) == ("203.0.113.7", 51000)


def test_v1_tcp6_gives_the_address_in_canonical_form(server, mode):
    header = b"PROXY TCP6 2001:DB8:0:0:0:0:0:7 2001:db8::1 51000 443\r\n"
    assert client_of(server, mode, header) == ("2001:db8::7", 51000)


def test_v1_unknown_keeps_the_socket_peer(server, mode):
    assert client_of(server, mode, b"PROXY UNKNOWN\r\n")[0] == "127.0.0.1"
    worst = b"PROXY UNKNOWN ffff:f::f:ffff ffff:f::f:ffff 65535 65535\r\n"
    assert client_of(server, mode, worst)[0] == "127.0.0.1"


def test_v1_sent_a_byte_at_a_time_is_read_whole(server, mode):
    header = b"PROXY TCP4 198.51.100.9 192.0.2.1 4242 443\r\n"
    assert client_of(server, mode, header, split=True) == ("198.51.100.9", 4242)


@pytest.mark.parametrize("line", [
    b"PROXY TCP4 203.0.113.07 192.0.2.1 51000 443\r\n",     # a leading zero (octal?)
    b"PROXY TCP4 203.0.113.7 192.0.2.1 051000 443\r\n",
    b"PROXY TCP4 203.0.113.7 192.0.2.1 65536 443\r\n",
    b"PROXY TCP4 2001:db8::7 192.0.2.1 51000 443\r\n",      # the family does not match
    b"PROXY TCP4 203.0.113.7  192.0.2.1 51000 443\r\n",     # two spaces
    b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\n",        # a bare LF
    b"PROXY TCP4 203.0.113.7 192.0.2.1 51000\r\n",
    b"PROXY UDP4 203.0.113.7 192.0.2.1 51000 443\r\n",
    b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 443 extra\r\n",
    b"PROXY " + b"x" * 120 + b"\r\n",                        # no CRLF in 107 bytes
    b"proxy TCP4 203.0.113.7 192.0.2.1 51000 443\r\n",
], ids=["leading-zero-address", "leading-zero-port", "port-range", "family", "two-spaces",
        "bare-lf", "missing-port", "udp", "extra-field", "too-long", "lowercase"])
def test_a_malformed_v1_line_closes_the_connection(server, line):
    assert refused(server, line + GET_ENVIRON)


# -- version 2 -------------------------------------------------------------------

def test_v2_ipv4_sets_the_client_address(server, mode):
    assert client_of(server, mode, v2()) == ("203.0.113.7", 51000)


def test_v2_ipv6_sets_the_client_address(server, mode):
    header = v2(family=2, src=("2001:db8::7", 6000), dst=("2001:db8::1", 443))
    assert client_of(server, mode, header) == ("2001:db8::7", 6000)


def test_v2_local_keeps_the_socket_peer(server, mode):
    # A health check: LOCAL, even with an address block, uses the real peer.
    assert client_of(server, mode, v2(command=0, family=0, protocol=0))[0] == "127.0.0.1"
    assert client_of(server, mode, v2(command=0))[0] == "127.0.0.1"


def test_v2_unspec_and_unix_families_keep_the_socket_peer(server, mode):
    assert client_of(server, mode, v2(family=0, protocol=0))[0] == "127.0.0.1"
    assert client_of(server, mode, v2(family=3))[0] == "127.0.0.1"


def test_v2_tlvs_are_skipped(server, mode):
    tlvs = (tlv(0x01, b"http/1.1") + tlv(0x02, b"example.com") + tlv(0x04, b"\0" * 5)
            + tlv(0x05, b"id-1234") + tlv(0x20, b"\x01\0\0\0\0" + tlv(0x21, b"TLSv1.3"))
            + tlv(0xEA, b"\x01vpce-0123") + tlv(0x04, b""))
    assert client_of(server, mode, v2(tlvs=tlvs)) == ("203.0.113.7", 51000)


def test_v2_with_a_correct_crc32c_is_accepted(server, mode):
    header = v2(tlvs=tlv(0x02, b"example.com"), crc=True)
    assert client_of(server, mode, header) == ("203.0.113.7", 51000)


def test_v2_sent_a_byte_at_a_time_is_read_whole(server, mode):
    assert client_of(server, mode, v2(tlvs=tlv(0x04, b"pad")), split=True) == ("203.0.113.7", 51000)


@pytest.mark.parametrize("header", [
    v2(crc=0x12345678),
    v2(version=1),
    v2(command=2),
    v2(family=4),
    v2(protocol=3),
    v2(tlvs=b"\x04\x00\x10abc"),                                # a TLV past the end
    v2(tlvs=b"\x04\x00"),                                       # a truncated TLV
    V2_SIGNATURE + b"\x21\x11\x00\x04" + b"\0" * 4,            # a block too short for IPv4
    V2_SIGNATURE + b"\x21\x11\x10\x00" + b"\0" * 4096,         # over the 4096-byte limit
], ids=["crc", "version", "command", "family", "protocol", "tlv-overrun", "tlv-truncated",
        "short-block", "too-long"])
def test_an_invalid_v2_header_closes_the_connection(server, header):
    assert refused(server, header + GET_ENVIRON)


# -- no header -----------------------------------------------------------------------

def test_a_request_without_a_header_is_closed_without_an_answer(server):
    assert refused(server, GET_ENVIRON)
    assert "PROXY protocol header from 127.0.0.1 refused: no PROXY protocol signature" \
        in server.output()


def test_a_header_that_never_comes_is_timed_out(server, mode):
    silent = socket.create_connection((server.host, server.port), timeout=5)
    partial = socket.create_connection((server.host, server.port), timeout=5)
    partial.sendall(b"PROXY TCP4 203.0.")
    started = time.monotonic()
    # Meanwhile the worker serves others.
    assert client_of(server, mode, b"PROXY UNKNOWN\r\n")[0] == "127.0.0.1"
    for sock in (silent, partial):
        with sock:
            assert sock.recv(100) == b""
    took = time.monotonic() - started
    assert 0.7 < took < 3.0, f"closed after {took:.1f}s"
    assert "PROXY protocol header from 127.0.0.1 timed out" in server.output()


def test_keep_alive_requests_after_the_header_keep_its_client(server, mode):
    path = b"/scope" if mode == "asgi" else b"/environ"
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"PROXY TCP4 203.0.113.8 192.0.2.1 40000 80\r\n")
        reader = sock.makefile("rb")
        for _ in range(3):
            sock.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path)
            seen = json.loads(read_response(reader).body)
            assert (seen["client"][0] if mode == "asgi" else seen["REMOTE_ADDR"]) == "203.0.113.8"


# -- the access log, per-bind listeners, TLS --------------------------------------------

def test_the_access_log_shows_the_client_from_the_header(server_factory, tmp_path):
    log = tmp_path / "access.log"
    server = server_factory("probe:app", "--workers", "1", "--proxy-protocol",
                            "--access-log", str(log))
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(v2(src=("198.51.100.23", 1234)) + b"GET /hello HTTP/1.1\r\nHost: t\r\n"
                     b"Connection: close\r\n\r\n")
        assert read_response(sock.makefile("rb")).status == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "GET /hello" not in log.read_text():
        time.sleep(0.05)
    assert log.read_text().startswith("198.51.100.23 ")


def test_proxy_plus_asks_for_the_header_on_that_listener_only(server_factory):
    proxied = free_port()
    server = server_factory("probe:app", "--workers", "1", "--bind", f"proxy+127.0.0.1:{proxied}")
    with server.connect() as sock:          # the plain --bind: no header expected
        sock.sendall(GET_ENVIRON)
        assert json.loads(read_response(sock.makefile("rb")).body)["REMOTE_ADDR"] == "127.0.0.1"
    with socket.create_connection(("127.0.0.1", proxied), timeout=5) as sock:
        sock.sendall(b"PROXY TCP4 203.0.113.9 192.0.2.1 5 80\r\n" + GET_ENVIRON)
        assert json.loads(read_response(sock.makefile("rb")).body)["REMOTE_ADDR"] == "203.0.113.9"
    assert f"listening on proxy+127.0.0.1:{proxied}" in server.output()


@pytest.mark.parametrize("header", [b"PROXY TCP4 203.0.113.10 192.0.2.1 7000 443\r\n",
                                    v2(src=("203.0.113.10", 7000), crc=True)], ids=["v1", "v2"])
def test_the_header_comes_before_the_tls_handshake(server_factory, certs, header):
    port = free_port()
    server = server_factory("probe:app", "--workers", "1", *certs.flags(),
                            "--bind", f"proxy+https://127.0.0.1:{port}")
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    raw.sendall(header)
    with certs.client_context().wrap_socket(raw, server_hostname="localhost") as sock:
        sock.sendall(GET_ENVIRON)
        environ = json.loads(read_response(sock.makefile("rb")).body)
    assert environ["REMOTE_ADDR"] == "203.0.113.10" and environ["REMOTE_PORT"] == "7000"
    assert environ["wsgi.url_scheme"] == "https"
    # A TLS ClientHello where the header should be is refused.
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:
            certs.client_context().wrap_socket(plain, server_hostname="localhost")


def test_a_bad_proxy_protocol_timeout_is_refused():
    from conftest import run_cli
    result = run_cli("probe:app", "--proxy-protocol-timeout", "0")
    assert result.returncode != 0
    assert "--proxy-protocol-timeout" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_unix_socket_listener_takes_the_header_too(server_factory, tmp_path):
    path = tmp_path / "app.sock"
    server = server_factory("asgi_probe:app", "--workers", "1", "--bind", f"proxy+unix:{path}")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall(v2(src=("203.0.113.11", 8080)) + GET_SCOPE)
        scope = json.loads(read_response(sock.makefile("rb")).body)
    assert scope["client"] == ["203.0.113.11", 8080]
    assert f"listening on proxy+unix:{path}" in server.output()
