"""Malformed requests over a real socket: each gets its status with
``Connection: close``, the server closes the socket, and the app is never
called (RFC 9112 §2.2, §3, §6.3; RFC 9110 §7.2, §15); in every server mode
(``mode``: inline, the default, and ``--threads``)."""
import pytest

from conftest import MODES
from wire import app_stats, read_response, recv_until_closed

CASES = {
    "bare_lf_line_ending": (b"GET /hello HTTP/1.1\nHost: x\n\n", 400),
    "transfer_encoding_with_content_length":
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400),
    "two_host_headers": (b"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "host_with_space": (b"GET /hello HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    "http11_without_host": (b"GET /hello HTTP/1.1\r\n\r\n", 400),
    "oversized_header_field": (b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000
                               + b"\r\n\r\n", 431),
    "too_many_header_fields": (b"GET /hello HTTP/1.1\r\nHost: x\r\n"
                               + b"".join(b"X-F%d: 1\r\n" % i for i in range(120)) + b"\r\n", 431),
    "long_request_line": (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "http_2_0_version": (b"GET /hello HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    "space_before_colon": (b"GET /hello HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    "invalid_content_length": (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", 400),
    "bad_chunk_size": (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"zz\r\nabc\r\n0\r\n\r\n", 400),
    # RFC 9112 §7.1.1: a chunk extension outside its grammar, in the first or the last chunk.
    "chunk_extension_name_with_space":
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"3;na me=v\r\nabc\r\n0\r\n\r\n", 400),
    "chunk_extension_unterminated_quoted_string":
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"3\r\nabc\r\n0;n=\"open\r\n\r\n", 400),
}


@pytest.fixture(scope="module")
def server(module_server_factory, mode):
    return module_server_factory("probe:app", "--workers", "1", *MODES[mode])


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_request_is_refused_and_never_reaches_the_app(server, name):
    raw, status = CASES[name]
    before = app_stats(server)["calls"]
    with server.connect() as sock:
        sock.sendall(raw)
        reader = sock.makefile("rb")
        resp = read_response(reader)
        assert resp.status == status, resp
        assert resp.closes
        assert reader.read() == b"", "the server closes the connection after refusing"
    assert app_stats(server)["calls"] == before


def test_malformed_request_after_a_good_one_on_the_same_connection(server):
    with server.connect() as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/2.0\r\nHost: x\r\n\r\n")
        reader = sock.makefile("rb")
        assert read_response(reader).body == b"hello"
        bad = read_response(reader)
        assert bad.status == 505 and bad.closes
        assert reader.read() == b""


def test_refused_head_request_gets_no_body(server):
    # RFC 9110 §9.3.2: no content in a response to HEAD, even a refusal
    # that came before the head was complete enough to parse.
    with server.connect() as sock:
        sock.sendall(b"HEAD /hello HTTP/1.1\r\nHost: x\r\nFoo bar\r\n\r\n")
        data = recv_until_closed(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert body == b""
