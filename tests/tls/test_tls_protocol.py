"""HTTP/1.1 over TLS against the real server, with real clients: Python's
ssl (http.client and raw sockets), ``curl`` and ``openssl s_client``, in
each mode (WSGI inline and --threads, ASGI). Certificates come from
tests/certs.py (the ``certs`` fixture), made at test time.
"""
import hashlib
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from certs import SERIAL_FIRST, tls_connect
from conftest import MODES
from wire import read_response

# The modes of these tests: the WSGI ones and an ASGI app, with the routes
# both probes share (/hello, /echo, /big).
TLS_MODES = {name: ("probe:app", flags) for name, flags in MODES.items()}
TLS_MODES["asgi"] = ("asgi_probe:app", [])


@pytest.fixture(scope="module", params=list(TLS_MODES))
def mode(request):
    return request.param


@pytest.fixture(scope="module")
def server(module_server_factory, mode, certs):
    app, flags = TLS_MODES[mode]
    return module_server_factory(app, "--workers", "1", "--limit-request-body", "64MB",
                                 *flags, *certs.flags(), tls=certs.client_context())


def https(server, timeout=10):
    return http.client.HTTPSConnection(server.host, server.port, timeout=timeout,
                                       context=server.tls)


def require(command):
    if shutil.which(command) is None:
        pytest.fail(f"{command} is missing: apt-get install {command} (.ci/run installs it)")


# -- clients of every kind -----------------------------------------------------

def test_keepalive_requests_share_one_tls_connection(server):
    conn = https(server)
    conn.request("GET", "/hello")
    first = conn.getresponse()
    assert first.status == 200 and first.read()
    sock = conn.sock
    for _ in range(5):
        conn.request("GET", "/hello")
        response = conn.getresponse()
        assert response.status == 200 and response.read()
    assert conn.sock is sock, "the connection was not kept alive"
    assert sock.version() in ("TLSv1.2", "TLSv1.3")
    assert sock.selected_alpn_protocol() in (None, "http/1.1")
    conn.close()


def test_curl_negotiates_http11_with_alpn_and_reuses_the_connection(server, certs):
    require("curl")
    url = f"https://127.0.0.1:{server.port}/hello"
    result = subprocess.run(["curl", "-sv", "--cacert", certs.ca, url, url],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    assert "ALPN: server accepted http/1.1" in result.stderr or \
        "ALPN, server accepted to use http/1.1" in result.stderr
    assert "Re-using existing connection" in result.stderr
    assert result.stdout == "hello" * 2


def test_openssl_s_client_verifies_the_chain_and_gets_a_response(server, certs):
    require("openssl")
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}", "-CAfile", certs.ca,
         "-servername", "localhost", "-alpn", "http/1.1", "-ign_eof"],
        input=b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        capture_output=True, timeout=20)
    out = result.stdout.decode("latin-1")
    assert "Verify return code: 0 (ok)" in out
    assert "ALPN protocol: http/1.1" in out
    assert "HTTP/1.1 200 OK" in out


def test_pipelined_requests_are_answered_in_order(server):
    with server.connect() as sock:
        reader = sock.makefile("rb")
        sock.sendall(b"".join(b"GET /hello?n=%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(10)))
        responses = [read_response(reader) for _ in range(10)]
    assert [r.status for r in responses] == [200] * 10


def test_a_deep_pipeline_spanning_many_records_is_answered(server):
    # 2000 requests in one write: several TLS records, more than one read
    # buffer; bytes left in the record layer must be read without a new
    # epoll event.
    requests = b"".join(b"GET /hello?n=%05d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(2000))
    assert len(requests) > 3 * 16384
    with server.connect(timeout=20) as sock:
        reader = sock.makefile("rb")
        sock.sendall(requests)
        statuses = [read_response(reader).status for _ in range(2000)]
    assert statuses == [200] * 2000


def test_a_large_body_goes_both_ways(server):
    body = os.urandom(1 << 20) * 8          # 8 MiB
    conn = https(server, timeout=30)
    conn.request("POST", "/echo", body=body, headers={"Content-Type": "application/octet-stream"})
    response = conn.getresponse()
    echoed = response.read()
    assert response.status == 200
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(body).digest()
    conn.request("GET", "/big?mb=20")
    response = conn.getresponse()
    data = response.read()
    assert response.status == 200 and len(data) == 20 << 20
    assert data[:4096] == data[-4096:]          # the probes repeat one pattern
    conn.close()


def test_a_slow_reader_gets_a_large_response_whole(server):
    with server.connect(timeout=30) as sock:
        sock.sendall(b"GET /big?mb=8 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(1.0)             # the server's socket buffer fills; records wait
        reader = sock.makefile("rb")
        response = read_response(reader)
    assert response.status == 200 and len(response.body) == 8 << 20


def test_a_client_that_half_closes_still_gets_its_response(server, mode):
    # An ASGI app hears http.disconnect at the half-close (as over plain
    # TCP), so it gets a response made before that; a WSGI app a large one.
    path, size = (b"/hello", 5) if mode == "asgi" else (b"/big?mb=2", 2 << 20)
    with server.connect() as sock:
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path)
        with socket.socket(fileno=os.dup(sock.fileno())) as tcp:
            tcp.shutdown(socket.SHUT_WR)    # the TCP half-close, no close_notify
        response = read_response(sock.makefile("rb"))
    assert response.status == 200 and len(response.body) == size


# -- the server's side of the handshake ----------------------------------------

def test_the_served_certificate_is_the_configured_one(server, certs):
    with tls_connect(server.port, certs.client_context()) as sock:
        cert = sock.getpeercert()
    assert int(cert["serialNumber"], 16) == SERIAL_FIRST
    assert ("DNS", "localhost") in cert["subjectAltName"]


def test_sessions_resume_on_any_worker(server_factory, certs):
    # The context is built in the master before forking: every worker has
    # the same session ticket keys, so a session from one resumes on another.
    server = server_factory("pids:app", "--workers", "2", *certs.flags())
    context = certs.client_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2   # the session is there at once
    with tls_connect(server.port, context) as sock:
        session = sock.session
    pids = set()
    for _ in range(16):
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with context.wrap_socket(raw, server_hostname="localhost", session=session) as sock:
            assert sock.session_reused
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            pids.add(read_response(sock.makefile("rb")).body.split()[0])
    assert len(pids) == 2, "every connection went to one worker"


def test_a_handshake_that_never_completes_is_closed_after_the_header_timeout(server_factory, certs):
    server = server_factory("probe:app", "--workers", "1", "--header-timeout", "1",
                            *certs.flags(), tls=certs.client_context())
    silent = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    partial = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    partial.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")    # a ClientHello's start
    started = time.monotonic()
    # Meanwhile the worker serves others.
    conn = https(server)
    conn.request("GET", "/hello")
    assert conn.getresponse().status == 200
    for sock in (silent, partial):
        with sock:
            assert sock.recv(100) == b""
    took = time.monotonic() - started
    assert 0.8 < took < 3.5, f"closed after {took:.1f}s"
    assert "TLS handshake from 127.0.0.1 timed out" in server.output()


def test_plain_http_on_a_tls_port_gets_a_plain_400_and_a_close(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        reader = sock.makefile("rb")
        response = read_response(reader)
        assert reader.read() == b""                 # then the server closes
        took = time.monotonic() - started
    assert response.status == 400 and response.closes
    assert b"plain HTTP request was sent to an HTTPS port" in response.body
    assert took < 1.0


def test_bytes_that_are_neither_tls_nor_http_are_closed_at_once(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"\x00\x01\x02\x03garbage")
        assert sock.recv(100) == b""
        assert time.monotonic() - started < 1.0


def test_a_client_that_does_not_trust_the_certificate_fails_and_the_server_serves_on(server):
    untrusting = ssl.create_default_context()       # the system CAs only
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_connect(server.port, untrusting)
    conn = https(server)
    conn.request("GET", "/hello")
    assert conn.getresponse().status == 200


def test_tls_1_2_is_accepted_by_default_and_refused_with_min_version_1_3(server_factory, certs):
    old = certs.client_context()
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    server = server_factory("probe:app", "--workers", "1", *certs.flags())
    with tls_connect(server.port, old) as sock:
        assert sock.version() == "TLSv1.2"
    strict = server_factory("probe:app", "--workers", "1", *certs.flags("--ssl-min-version", "1.3"))
    with pytest.raises(ssl.SSLError):
        tls_connect(strict.port, old)
    with tls_connect(strict.port, certs.client_context()) as sock:
        assert sock.version() == "TLSv1.3"


def test_an_encrypted_key_is_read_with_the_password_file(server_factory, certs):
    server = server_factory("probe:app", "--workers", "1", "--certfile", certs.cert,
                            "--keyfile", certs.encrypted_key,
                            "--keyfile-password-file", certs.password_file,
                            tls=certs.client_context())
    conn = https(server)
    conn.request("GET", "/hello")
    assert conn.getresponse().status == 200


# -- which listeners speak TLS ---------------------------------------------------

def test_binds_choose_tls_or_plain_by_scheme(server_factory, certs):
    from conftest import free_port
    plain_port, tls_port = free_port(), free_port()
    # The server's own bind has no scheme: with --certfile it is TLS.
    server = server_factory("probe:app", "--workers", "1", *certs.flags(),
                            "--bind", f"http://127.0.0.1:{plain_port}",
                            "--bind", f"https://127.0.0.1:{tls_port}", tls=certs.client_context())
    for port in (server.port, tls_port):
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=server.tls)
        conn.request("GET", "/environ")
        assert json.loads(conn.getresponse().read())["wsgi.url_scheme"] == "https"
    conn = http.client.HTTPConnection("127.0.0.1", plain_port, timeout=5)
    conn.request("GET", "/environ")
    environ = json.loads(conn.getresponse().read())
    assert environ["wsgi.url_scheme"] == "http" and "HTTPS" not in environ
    log = server.output()
    assert f"listening on https://127.0.0.1:{server.port}" in log
    assert f"listening on 127.0.0.1:{plain_port}" in log


# -- what the app sees ---------------------------------------------------------------

def environ_over(server, context):
    with tls_connect(server.port, context) as sock:
        sock.sendall(b"GET /environ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        response = read_response(sock.makefile("rb"))
    assert response.status == 200
    return json.loads(response.body)


def scope_over(server, context):
    with tls_connect(server.port, context) as sock:
        sock.sendall(b"GET /scope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        response = read_response(sock.makefile("rb"))
    assert response.status == 200
    return json.loads(response.body)


def test_a_wsgi_app_sees_https(server_factory, certs):
    server = server_factory("probe:app", "--workers", "1", *certs.flags())
    environ = environ_over(server, certs.client_context())
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["HTTPS"] == "on"
    assert environ["SSL_PROTOCOL"] == "TLSv1.3"
    assert environ["SSL_CIPHER"].startswith("TLS_")
    assert environ["SSL_CLIENT_VERIFY"] == "NONE"
    assert "SSL_CLIENT_S_DN" not in environ
    assert environ["SERVER_PORT"] == str(server.port)


def test_an_asgi_app_sees_https_and_the_tls_extension(server_factory, certs):
    server = server_factory("asgi_probe:app", "--workers", "1", *certs.flags())
    scope = scope_over(server, certs.client_context())
    assert scope["scheme"] == "https"
    tls = scope["extensions"]["tls"]
    with open(certs.cert) as f:
        assert tls["server_cert"] == f.read()
    assert tls["client_cert_chain"] == [] and tls["client_cert_name"] is None
    assert tls["client_cert_error"] is None
    assert tls["tls_version"] == 0x0304
    assert tls["cipher_suite"] in (0x1301, 0x1302, 0x1303)
    assert "http.response.pathsend" in scope["extensions"]


# -- client certificates (mutual TLS) -----------------------------------------------

ALICE = "CN=alice,O=Example\\, Inc."        # RFC 4514: the comma escaped


def rejected(server, context):
    """The server refused the handshake: at once (TLS 1.2), or with an alert
    after the client's last flight (TLS 1.3), seen at the first read."""
    try:
        sock = tls_connect(server.port, context)
    except (ssl.SSLError, ConnectionError):
        return True
    with sock:
        try:
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            return sock.recv(100) == b""
        except (ssl.SSLError, ConnectionError):
            return True


def test_required_client_certificates(server_factory, certs):
    server = server_factory("probe:app", "--workers", "1",
                            *certs.flags("--ca-certs", certs.ca, "--client-cert", "required"))
    assert rejected(server, certs.client_context())
    assert rejected(server, certs.client_context(certs.rogue_cert, certs.rogue_key))
    environ = environ_over(server, certs.client_context(certs.client_cert, certs.client_key))
    assert environ["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert environ["SSL_CLIENT_S_DN"] == ALICE
    assert environ["SSL_CLIENT_I_DN"] == "CN=Test CA,O=prefork tests"
    assert environ["SSL_CLIENT_M_SERIAL"] == "3003"
    with open(certs.client_cert) as f:
        assert environ["SSL_CLIENT_CERT"].split() == f.read().split()
    assert "TLS handshake with 127.0.0.1 failed" in server.output()


def test_optional_client_certificates(server_factory, certs):
    server = server_factory("probe:app", "--workers", "1",
                            *certs.flags("--ca-certs", certs.ca, "--client-cert", "optional"))
    anonymous = environ_over(server, certs.client_context())
    assert anonymous["SSL_CLIENT_VERIFY"] == "NONE" and "SSL_CLIENT_S_DN" not in anonymous
    alice = environ_over(server, certs.client_context(certs.client_cert, certs.client_key))
    assert alice["SSL_CLIENT_VERIFY"] == "SUCCESS" and alice["SSL_CLIENT_S_DN"] == ALICE
    # A certificate that does not verify is refused, not treated as none.
    assert rejected(server, certs.client_context(certs.rogue_cert, certs.rogue_key))


def test_an_asgi_app_sees_the_client_certificate(server_factory, certs):
    server = server_factory("asgi_probe:app", "--workers", "1",
                            *certs.flags("--ca-certs", certs.ca, "--client-cert", "optional"))
    tls = scope_over(server, certs.client_context(certs.client_cert, certs.client_key))["extensions"]["tls"]
    assert tls["client_cert_name"] == ALICE
    with open(certs.client_cert) as f:
        assert [pem.split() for pem in tls["client_cert_chain"]] == [f.read().split()]


# -- files: no sendfile through TLS --------------------------------------------------

@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("files") / "data.bin"
    path.write_bytes(os.urandom(3 << 20) + b"end")
    return path


def test_a_file_body_goes_out_through_the_record_layer(server, mode, big_file):
    route = "/pathsend" if mode == "asgi" else "/file"
    conn = https(server, timeout=30)
    for query in ("", "&declare=1"):
        conn.request("GET", f"{route}?path={big_file}{query}")
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200
        assert body == big_file.read_bytes()
    conn.close()


def test_an_ipv6_https_bind(server_factory, certs):
    from conftest import free_port
    port = free_port("::1")
    server = server_factory("probe:app", "--workers", "1", *certs.flags(),
                            "--bind", f"https://[::1]:{port}")
    with socket.create_connection(("::1", port), timeout=5) as raw:
        with certs.client_context().wrap_socket(raw, server_hostname="localhost") as sock:
            sock.sendall(b"GET /environ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            environ = json.loads(read_response(sock.makefile("rb")).body)
    assert environ["wsgi.url_scheme"] == "https" and environ["REMOTE_ADDR"] == "::1"
    assert f"listening on https://[::1]:{port}" in server.output()
