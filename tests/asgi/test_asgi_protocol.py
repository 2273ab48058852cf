"""ASGI 3 over the real server: the scope, receive() and send() as the
asgiref "HTTP & WebSocket" spec 2.4 describes them, and HTTP framing from
the same compiled path as WSGI."""
import json
import os
import socket
import threading
import time

import pytest

from wire import app_stats, read_response, recv_until_closed


def request(server, method, path, body=None, headers=None, timeout=10.0):
    """One request on a new connection, read with the strict reader."""
    lines = [f"{method} {path} HTTP/1.1", "Host: x"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    with server.connect(timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        return read_response(sock.makefile("rb"), method=method)


@pytest.fixture(scope="module")
def server(module_server_factory):
    # /forever never answers: it is cancelled at the graceful timeout.
    return module_server_factory("asgi_probe:app", "--workers", "1", "--graceful-timeout", "2")


@pytest.fixture(scope="module")
def rooted(module_server_factory):
    return module_server_factory("asgi_probe:app", "--workers", "1", "--root-path", "/api")


def get_json(server, path, **kwargs):
    response = request(server, "GET", path, **kwargs)
    assert response.status == 200, response
    return json.loads(response.body)


# -- the scope --------------------------------------------------------------

def test_scope_has_every_key_with_its_type(rooted):
    server = rooted
    scope = get_json(server, "/api/scope?a=1&b=%20", headers={"X-Custom": "yes"})
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/api/scope"
    assert scope["raw_path"] == "/api/scope"
    assert scope["query_string"] == "a=1&b=%20"
    assert scope["root_path"] == "/api"
    assert scope["client"][0] == "127.0.0.1" and isinstance(scope["client"][1], int)
    assert scope["server"] == ["127.0.0.1", server.port]
    assert scope["state"] == {"greeting": "hello from startup"}
    assert "http.response.pathsend" in scope["extensions"]


def test_root_path_is_added_to_a_path_a_proxy_stripped(rooted):
    scope = get_json(rooted, "/scope")
    assert scope["path"] == "/api/scope" and scope["raw_path"] == "/scope"
    assert scope["root_path"] == "/api"


def test_scope_without_root_path(server):
    scope = get_json(server, "/scope")
    assert scope["path"] == "/scope" and scope["root_path"] == ""


def test_scope_headers_are_lowercase_byte_pairs_in_order(server):
    raw = (b"GET /api/scope HTTP/1.1\r\nHost: x\r\nX-B: 2\r\nx-a: 1\r\nX-B: 3\r\n\r\n")
    with server.connect() as sock:
        sock.sendall(raw.replace(b"/api/scope", b"/scope"))
        scope = json.loads(read_response(sock.makefile("rb")).body)
    assert scope["headers"] == [["host", "x"], ["x-b", "2"], ["x-a", "1"], ["x-b", "3"]]


def test_scope_path_is_percent_decoded_as_utf8_and_raw_path_is_not(server):
    scope = get_json(server, "/caf%C3%A9/scope")
    assert scope["path"] == "/café/scope"
    assert scope["raw_path"] == "/caf%C3%A9/scope"


def test_http_1_0_request_has_http_version_1_0(server):
    with server.connect() as sock:
        sock.sendall(b"GET /scope HTTP/1.0\r\n\r\n")
        scope = json.loads(read_response(sock.makefile("rb")).body)
    assert scope["http_version"] == "1.0"


def test_state_is_a_copy_per_request(server):
    first = get_json(server, "/scope")
    second = get_json(server, "/scope")
    assert first["state"] == second["state"] == {"greeting": "hello from startup"}


# -- receive(): the request body -------------------------------------------

def test_body_is_received_whole(server):
    body = os.urandom(300_000)
    response = request(server, "POST", "/echo", body=body)
    assert response.status == 200 and response.body == body


def test_chunked_body_is_received(server):
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        response = read_response(sock.makefile("rb"))
    assert response.body == b"hello world"


def test_body_streams_to_the_app_in_several_messages(server):
    with server.connect() as sock:
        sock.sendall(b"POST /echo-chunks HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\n")
        for _ in range(3):
            sock.sendall(b"x" * 10)
            time.sleep(0.1)
        sizes = json.loads(read_response(sock.makefile("rb")).body)
    assert sum(sizes) == 30 and len(sizes) >= 2


def test_100_continue_is_sent_only_when_the_app_asks_for_the_body(server):
    with server.connect() as sock:
        sock.sendall(b"POST /no-read HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        response = read_response(sock.makefile("rb"))
    assert response.status == 200 and response.body == b"did not read"
    with server.connect() as sock:
        reader = sock.makefile("rb")
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        assert read_response(reader).status == 100
        sock.sendall(b"hello")
        response = read_response(reader)
    assert response.body == b"hello"


def test_a_fast_client_cannot_fill_memory_while_the_app_does_not_read(server):
    # The app never reads its body: the server stops reading the socket, so
    # the client's sends block well before its 64 MiB are out.
    with server.connect(timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        sock.sendall(b"POST /forever HTTP/1.1\r\nHost: x\r\nContent-Length: 67108864\r\n\r\n")
        sock.settimeout(2)
        sent = 0
        try:
            while sent < 64 << 20:
                sent += sock.send(b"x" * 65536)
        except socket.timeout:
            pass
    assert sent < 8 << 20


# -- send(): the response --------------------------------------------------

def test_a_single_body_message_gets_a_content_length(server):
    response = request(server, "GET", "/hello")
    assert response.header("content-length") == "5" and response.body == b"hello"
    assert response.header("transfer-encoding") is None


def test_a_streamed_body_is_chunked(server):
    with server.connect() as sock:
        sock.sendall(b"GET /stream?n=3&size=4 HTTP/1.1\r\nHost: x\r\n\r\n")
        response = read_response(sock.makefile("rb"))
    assert response.header("transfer-encoding") == "chunked"
    assert response.body == b"aaaabbbbcccc"


def test_a_streamed_body_to_http_1_0_ends_with_the_connection(server):
    with server.connect() as sock:
        sock.sendall(b"GET /stream?n=3&size=4 HTTP/1.0\r\n\r\n")
        data = recv_until_closed(sock)
    assert data.endswith(b"aaaabbbbcccc") and b"chunked" not in data.lower()


def test_head_gets_no_body(server):
    with server.connect() as sock:
        sock.sendall(b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = sock.makefile("rb")
        head = read_response(reader, method="HEAD")
        following = read_response(reader)
    assert head.status == 200 and head.body == b""
    assert following.body == b"hello"


@pytest.mark.parametrize("code", [204, 304])
def test_bodiless_statuses_send_no_body(server, code):
    with server.connect() as sock:
        sock.sendall(f"GET /status?code={code} HTTP/1.1\r\nHost: x\r\n\r\n"
                     "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        reader = sock.makefile("rb")
        first = read_response(reader)
        second = read_response(reader)
    assert first.status == code and first.body == b""
    assert second.body == b"hello"


def test_the_apps_content_length_is_kept_over_several_messages(server):
    response = request(server, "GET", "/declared")
    assert response.header("content-length") == "5" and response.body == b"12345"


def test_pathsend_sends_the_file(server, tmp_path):
    path = tmp_path / "data.bin"
    data = os.urandom(1 << 20)
    path.write_bytes(data)
    response = request(server, "GET", f"/pathsend?path={path}")
    assert response.status == 200 and response.body == data
    assert response.header("content-length") == str(len(data))


def test_pipelined_requests_are_answered_in_order(server):
    with server.connect() as sock:
        sock.sendall(b"GET /sleep?s=0.1 HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                     b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = sock.makefile("rb")
        bodies = [read_response(reader).body for _ in range(3)]
    assert bodies == [b"slept", b"abc", b"hello"]


def test_a_slow_reader_makes_send_wait(server):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.connect((server.host, server.port))
    sock.sendall(b"GET /big?mb=8 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(1.0)                         # the app is stopped by back-pressure
    received = 0
    sock.settimeout(10)
    reader = sock.makefile("rb")
    response = read_response(reader)
    received = len(response.body)
    sock.close()
    assert received == 8 << 20
    assert app_stats(server)["waited"] > 0


def test_current_task_contextvars_and_timeout_work_in_a_handler(server):
    assert get_json(server, "/context") == {"task": True, "var": "set", "timed_out": True}


# -- errors and disconnects ---------------------------------------------------

def test_an_app_that_raises_before_starting_gets_a_500_and_the_worker_serves_on(server):
    assert request(server, "GET", "/raise").status == 500
    assert request(server, "GET", "/hello").body == b"hello"
    assert "boom before http.response.start" in server.output()


def test_an_app_that_raises_after_starting_has_its_connection_cut(server):
    with server.connect() as sock:
        sock.sendall(b"GET /raise-after HTTP/1.1\r\nHost: x\r\n\r\n")
        data = recv_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 200") and not data.endswith(b"0\r\n\r\n")
    assert request(server, "GET", "/hello").body == b"hello"


def test_an_app_that_returns_without_a_response_gets_a_500(server):
    assert request(server, "GET", "/no-response").status == 500


def test_the_app_hears_a_disconnect_mid_request(server):
    before = app_stats(server)["disconnects"]
    sock = server.connect()
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    time.sleep(0.2)
    sock.close()
    deadline = time.monotonic() + 5
    while app_stats(server)["disconnects"] == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app_stats(server)["disconnects"] == before + 1


def test_the_app_hears_a_disconnect_after_its_body(server):
    before = app_stats(server)["disconnects"]
    sock = server.connect()
    sock.sendall(b"GET /wait-disconnect HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)
    sock.close()
    deadline = time.monotonic() + 5
    while app_stats(server)["disconnects"] == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app_stats(server)["disconnects"] == before + 1


def test_send_after_a_disconnect_raises_in_the_app_and_the_worker_serves_on(server):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.connect((server.host, server.port))
    before = app_stats(server)["disconnects"]
    sock.sendall(b"GET /big?mb=64 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.5)
    sock.close()
    deadline = time.monotonic() + 5
    while app_stats(server)["disconnects"] == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app_stats(server)["disconnects"] == before + 1
    assert request(server, "GET", "/hello").body == b"hello"


def test_malformed_requests_never_reach_the_app(server):
    before = app_stats(server)["calls"]
    with server.connect() as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        response = read_response(sock.makefile("rb"))
    assert response.status == 400
    assert app_stats(server)["calls"] == before


def test_concurrent_requests_that_wait_are_served_together(server):
    results = []

    def one():
        results.append(request(server, "GET", "/sleep?s=0.5").body)

    threads = [threading.Thread(target=one) for _ in range(20)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [b"slept"] * 20
    assert time.monotonic() - started < 2.0
