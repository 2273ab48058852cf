"""PEP 3333 from the app's side: errors become 500 (or a cut connection once
headers are out), bad statuses and headers never reach the wire, the
app's Content-Length is never exceeded, write(), exc_info, close(); in
every server mode (``mode``: inline, the default, and ``--threads``)."""
import http.client
from urllib.parse import quote

import pytest

from conftest import MODES
from wire import app_stats, read_response, recv_until_closed, request, wait_for


@pytest.fixture(scope="module")
def server(module_server_factory, mode):
    return module_server_factory("probe:app", "--workers", "1", *MODES[mode])


def exchange(server, path, method="GET"):
    """Send one request; return every byte the server sends until it closes."""
    with server.connect() as sock:
        sock.sendall(b"%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (method.encode(), path.encode()))
        return recv_until_closed(sock)


def assert_500_then_close(server, path):
    with server.connect() as sock:
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                     % path.encode())
        reader = sock.makefile("rb")
        resp = read_response(reader)
        assert resp.status == 500
        assert resp.closes
        assert reader.read() == b"", "the failed request's connection is closed"
    return resp


@pytest.mark.parametrize("path", ["/raise", "/raise-after-start"])
def test_app_exception_gives_500_and_the_worker_keeps_serving(server, path):
    assert_500_then_close(server, path)
    assert request(server, "GET", "/hello")[1] == b"hello"
    log = server.output()
    assert "RuntimeError: boom" in log
    assert "NoneType: None" not in log, "each error is logged once, with its traceback"


def test_exception_inside_generator_after_headers_cuts_the_connection(server):
    before = app_stats(server)["closes"]
    data = exchange(server, "/raise-in-generator")
    assert data.startswith(b"HTTP/1.1 200 ")
    assert b"partial" in data
    assert not data.endswith(b"0\r\n\r\n"), "a cut body must not look complete"
    assert wait_for(lambda: app_stats(server)["closes"] > before)
    assert request(server, "GET", "/hello")[1] == b"hello"


def test_header_with_crlf_gives_500_and_is_never_emitted(server):
    before = app_stats(server)["closes"]
    with server.connect() as sock:
        sock.sendall(b"GET /bad-header HTTP/1.1\r\nHost: x\r\n\r\n")
        data = recv_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 500 ")
    assert b"X-Injected" not in data and b"X-Split" not in data
    assert wait_for(lambda: "X-Split" in server.output())
    assert wait_for(lambda: app_stats(server)["closes"] > before)


@pytest.mark.parametrize("value", ["OK", "2000 OK", "20 OK", "200\r\nX: y", "099 Low", "200OK"])
def test_bad_status_gives_500(server, value):
    data = exchange(server, "/bad-status?value=" + quote(value))
    assert data.startswith(b"HTTP/1.1 500 ")
    assert b"bad status" not in data


@pytest.mark.parametrize("declared,actual", [(10, 5), (5, 10), (3, 0)])
def test_app_content_length_mismatch_closes_without_extra_bytes(server, declared, actual):
    with server.connect() as sock:
        sock.sendall(b"GET /length-mismatch?declared=%d&actual=%d HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" % (declared, actual))
        data = recv_until_closed(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Content-Length: %d" % declared in head
    assert body == b"z" * min(declared, actual), "never more than declared, nothing after"


def test_write_callable_data_precedes_the_returned_body(server):
    resp, body = request(server, "GET", "/write")
    assert resp.status == 200
    assert body == b"written then returned"


def test_start_response_with_exc_info_replaces_unsent_status(server):
    resp, body = request(server, "GET", "/exc-info")
    assert resp.status == 503
    assert body == b"replaced"


def test_second_start_response_without_exc_info_gives_500(server):
    assert_500_then_close(server, "/second-start")


def test_start_response_with_exc_info_after_headers_reraises(server):
    before = app_stats(server)["closes"]
    data = exchange(server, "/exc-info-late")
    assert data.startswith(b"HTTP/1.1 200 ")
    assert b"must not be reached" not in data
    assert not data.endswith(b"0\r\n\r\n")
    assert wait_for(lambda: app_stats(server)["closes"] > before)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_close_is_called_once_per_response(server, method):
    before = app_stats(server)["closes"]
    for _ in range(3):
        resp, _ = request(server, method, "/closing")
        assert resp.status == 200
    assert wait_for(lambda: app_stats(server)["closes"] == before + 3)
    assert app_stats(server)["closes"] == before + 3


def test_validator_sees_no_protocol_violation(server_factory, mode):
    server = server_factory("probe:validated_app", "--workers", "1", *MODES[mode])
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    for i in range(10):
        for method, path, body in [("GET", f"/hello?i={i}&x=%20y", None),
                                   ("POST", "/echo", b"data %d" % i),
                                   ("HEAD", "/hello", None),
                                   ("GET", "/stream?n=3", None),
                                   ("GET", "/closing", None),
                                   ("GET", f"/environ/{i}", None)]:
            conn.request(method, path, body=body,
                         headers={"Content-Type": "text/plain"} if body else {})
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200, (method, path, resp.status)
    conn.close()
    log = server.output()
    assert "AssertionError" not in log and "Traceback" not in log, log
