"""The environ the app receives (PEP 3333 "environ Variables"), in every
server mode (``mode``: inline, the default, and ``--threads``)."""
import json
import socket

import pytest

from conftest import MODES, free_port
from wire import read_response


@pytest.fixture(scope="module")
def server(module_server_factory, mode):
    return module_server_factory("probe:app", "--workers", "1", *MODES[mode])


@pytest.fixture(scope="module")
def mounted(module_server_factory, mode):
    return module_server_factory("probe:app", "--workers", "1", "--root-path", "/api", *MODES[mode])


def environ_of(server, raw):
    with server.connect() as sock:
        sock.sendall(raw)
        resp = read_response(sock.makefile("rb"))
    assert resp.status == 200, resp
    return json.loads(resp.body)


def get_environ(server, target=b"/environ", headers=b"", method=b"GET", body=b""):
    return environ_of(server, b"%s %s HTTP/1.1\r\nHost: example.org:8080\r\n%s\r\n%s"
                      % (method, target, headers, body))


def test_request_line_variables(server):
    env = get_environ(server, b"/environ/x?a=1&b=%20z", method=b"DELETE")
    assert env["REQUEST_METHOD"] == "DELETE"
    assert env["PATH_INFO"] == "/environ/x"
    assert env["QUERY_STRING"] == "a=1&b=%20z"
    assert env["SCRIPT_NAME"] == ""
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"


def test_path_info_is_percent_decoded_as_latin1(server):
    env = get_environ(server, b"/environ/caf%C3%A9/a%2Fb")
    assert env["PATH_INFO"] == "/environ/caf\u00c3\u00a9/a/b"
    assert env["PATH_INFO"].encode("latin-1").decode("utf-8") == "/environ/caf\u00e9/a/b"


def test_query_string_stays_raw(server):
    env = get_environ(server, b"/environ?q=caf%C3%A9+x&r=%2F")
    assert env["QUERY_STRING"] == "q=caf%C3%A9+x&r=%2F"


def test_http10_server_protocol(server):
    env = environ_of(server, b"GET /environ HTTP/1.0\r\n\r\n")
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_higher_minor_version_is_served_as_http11(server):
    # RFC 9110 §2.5, §6.2: HTTP/1.2 is processed and answered as HTTP/1.1:
    # a persistent connection, a chunked response of unknown length.
    with server.connect() as sock:
        sock.sendall(b"GET /environ HTTP/1.2\r\nHost: x\r\n\r\n"
                     b"GET /stream?n=2&size=3 HTTP/1.2\r\nHost: x\r\nConnection: close\r\n\r\n")
        reader = sock.makefile("rb")
        first = read_response(reader)
        assert (first.version, first.status, first.closes) == ("HTTP/1.1", 200, False)
        assert json.loads(first.body)["SERVER_PROTOCOL"] == "HTTP/1.1"
        streamed = read_response(reader)
        assert (streamed.version, streamed.status) == ("HTTP/1.1", 200)
        assert streamed.header("transfer-encoding") == "chunked"
        assert streamed.body == b"aaabbb" and streamed.closes
        assert reader.read() == b""


def test_root_path_sets_script_name_and_strips_path_info(mounted):
    env = get_environ(mounted, b"/api/environ/x?y=1")
    assert env["SCRIPT_NAME"] == "/api"
    assert env["PATH_INFO"] == "/environ/x"
    assert env["QUERY_STRING"] == "y=1"


def test_root_path_is_not_stripped_from_a_mere_prefix(mounted):
    env = get_environ(mounted, b"/apiary/environ")
    assert env["PATH_INFO"] == "/apiary/environ"


def test_content_type_and_length_have_no_http_prefix(server):
    env = get_environ(server, headers=b"Content-Type: text/plain\r\nContent-Length: 3\r\n",
                      method=b"POST", body=b"abc")
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "3"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env


def test_headers_become_http_variables(server):
    env = get_environ(server, headers=b"X-Custom-Thing: v1\r\nAccept: text/html\r\n")
    assert env["HTTP_X_CUSTOM_THING"] == "v1"
    assert env["HTTP_ACCEPT"] == "text/html"
    assert env["HTTP_HOST"] == "example.org:8080"


def test_duplicate_headers_are_comma_joined(server):
    env = get_environ(server, headers=b"X-Dup: a\r\nX-Dup: b\r\nAccept: x\r\nAccept: y\r\n")
    assert env["HTTP_X_DUP"] == "a,b"
    assert env["HTTP_ACCEPT"] == "x,y"


def test_duplicate_cookies_are_joined_with_semicolons(server):
    env = get_environ(server, headers=b"Cookie: a=1\r\nCookie: b=2\r\n")
    assert env["HTTP_COOKIE"] == "a=1; b=2"


def test_header_names_with_underscore_are_dropped(server):
    env = get_environ(server, headers=b"X_Forwarded_For: 6.6.6.6\r\nX-Forwarded-For: 1.2.3.4\r\n")
    assert env["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"


def test_remote_and_server_addresses(server):
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        local_port = sock.getsockname()[1]
        sock.sendall(b"GET /environ HTTP/1.1\r\nHost: example.org:8080\r\n\r\n")
        env = json.loads(read_response(sock.makefile("rb")).body)
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"] == str(local_port)
    # PEP 3333 / RFC 3875 §4.1.14-15: the name asked for, the port it came in on.
    assert env["SERVER_NAME"] == "example.org"
    assert env["SERVER_PORT"] == str(server.port)
    assert env["HTTP_HOST"] == "example.org:8080"


@pytest.mark.parametrize("host", [b"example.org", b"example.org:8080", b"example.org:"])
def test_server_port_is_the_listeners_whatever_the_host_says(server, host):
    env = environ_of(server, b"GET /environ HTTP/1.1\r\nHost: %s\r\n\r\n" % host)
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.org", str(server.port))


def test_server_name_of_an_ipv6_literal_host_keeps_its_brackets(server):
    env = environ_of(server, b"GET /environ HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n")
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("[2001:db8::1]", str(server.port))


def test_http10_without_host_uses_the_listening_address(server):
    env = environ_of(server, b"GET /environ HTTP/1.0\r\n\r\n")
    assert env["SERVER_NAME"] == server.host
    assert env["SERVER_PORT"] == str(server.port)
    assert "HTTP_HOST" not in env


def test_empty_host_uses_the_listening_address(server):
    env = environ_of(server, b"GET /environ HTTP/1.1\r\nHost:\r\n\r\n")
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == (server.host, str(server.port))


def test_server_port_is_the_port_of_the_listener_the_connection_came_in_on(server_factory, mode):
    second = free_port()
    two = server_factory("probe:app", "--workers", "1", "--bind", f"127.0.0.1:{second}",
                         *MODES[mode])
    for port in (two.port, second, two.port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /environ HTTP/1.0\r\n\r\n")
            env = json.loads(read_response(sock.makefile("rb")).body)
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("127.0.0.1", str(port))


def test_unix_socket_listener_is_localhost_port_80(server_factory, mode, tmp_path):
    path = str(tmp_path / "app.sock")
    server_factory("probe:app", "--workers", "1", "--bind", f"unix:{path}", *MODES[mode])
    envs = []
    for raw in (b"GET /environ HTTP/1.0\r\n\r\n",
                b"GET /environ HTTP/1.1\r\nHost: app.example:8443\r\n\r\n"):
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(path)
            sock.sendall(raw)
            envs.append(json.loads(read_response(sock.makefile("rb")).body))
    assert [(e["SERVER_NAME"], e["SERVER_PORT"]) for e in envs] == [
        ("localhost", "80"), ("app.example", "80")]


# -- absolute-form targets (RFC 9112 §3.2.2, RFC 9110 §7.2) ------------------

def test_absolute_form_authority_replaces_the_host_field(server):
    env = environ_of(server, b"GET http://origin.example:8080/environ/a?b=1 HTTP/1.1\r\n"
                             b"Host: other.example\r\n\r\n")
    assert env["HTTP_HOST"] == "origin.example:8080"
    assert env["SERVER_NAME"] == "origin.example"
    assert env["SERVER_PORT"] == str(server.port)
    assert (env["PATH_INFO"], env["QUERY_STRING"]) == ("/environ/a", "b=1")
    assert env["RAW_URI"] == "http://origin.example:8080/environ/a?b=1"


def test_absolute_form_without_a_host_field_sets_http_host(server):
    env = environ_of(server, b"GET http://origin.example/environ HTTP/1.0\r\n\r\n")
    assert (env["HTTP_HOST"], env["SERVER_NAME"]) == ("origin.example", "origin.example")
    assert env["PATH_INFO"] == "/environ"


# -- CONTENT_LENGTH (PEP 3333, RFC 3875 §4.1.2) ------------------------------

@pytest.mark.parametrize("method", [b"GET", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS"])
def test_content_length_zero_is_in_the_environ_for_every_method(server, method):
    env = get_environ(server, headers=b"Content-Length: 0\r\n", method=method)
    assert env["CONTENT_LENGTH"] == "0"


@pytest.mark.parametrize("method", [b"GET", b"POST", b"DELETE"])
def test_content_length_is_absent_without_a_body(server, method):
    assert "CONTENT_LENGTH" not in get_environ(server, method=method)


def test_content_length_of_a_chunked_body_is_its_decoded_size(server):
    env = get_environ(server, headers=b"Transfer-Encoding: chunked\r\n", method=b"POST",
                      body=b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    assert env["CONTENT_LENGTH"] == "5"
    empty = get_environ(server, headers=b"Transfer-Encoding: chunked\r\n", method=b"POST",
                        body=b"0\r\n\r\n")
    assert empty["CONTENT_LENGTH"] == "0"


def test_wsgi_keys(server, mode):
    env = get_environ(server)
    assert env["wsgi.version"] == [1, 0]
    assert env["wsgi.url_scheme"] == "http"
    # PEP 3333: wsgi.multithread says whether another thread of this process
    # may call the app at the same time, which only the pool does.
    assert env["wsgi.multithread"] is {"inline": False, "threads": True}[mode]
    assert env["wsgi.run_once"] is False
    assert isinstance(env["wsgi.multiprocess"], bool)
    assert env["wsgi.file_wrapper"] and env["has wsgi.errors.write"] and env["has wsgi.input.read"]


def test_wsgi_input_read_readline_readlines(server):
    body = b"first line\nABCdef\nsecond\nthird\nlast"
    with server.connect() as sock:
        sock.sendall(b"POST /input HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))
        got = json.loads(read_response(sock.makefile("rb")).body)
    assert got == {"first": "first line\n", "partial": "ABC", "sized": "def\n",
                   "lines": ["second\n", "third\n", "last"], "rest": ""}


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_wsgi_input_iteration(server, framing):
    body = b"a\nbb\nccc"
    if framing == "length":
        raw = b"POST /input-iter HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n" + body
    else:
        raw = (b"POST /input-iter HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3\r\na\nb\r\n5\r\nb\nccc\r\n0\r\n\r\n")
    assert environ_of(server, raw) == ["a\n", "bb\n", "ccc"]


def test_wsgi_input_is_empty_without_a_body(server):
    assert environ_of(server, b"GET /input-iter HTTP/1.1\r\nHost: x\r\n\r\n") == []
