"""Listening addresses as clients reach them, in every server mode
(``mode``: inline, the default, and ``--threads``)."""
import json
import shutil
import socket
import subprocess

import pytest

from conftest import MODES
from wire import read_response


def ipv6_available():
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_ipv6_loopback_bind_serves(server_factory, mode):
    if not ipv6_available():
        pytest.fail("::1 is not configured on this host; the IPv6 bind cannot be tested")
    server = server_factory("probe:app", "--workers", "1", *MODES[mode], host="::1")
    with socket.create_connection(("::1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /environ HTTP/1.1\r\nHost: [::1]:%d\r\n\r\n" % server.port)
        resp = read_response(sock.makefile("rb"))
    env = json.loads(resp.body)
    assert env["REMOTE_ADDR"] == "::1"
    assert env["SERVER_NAME"] == "[::1]"
    assert env["SERVER_PORT"] == str(server.port)


def test_wrk_load_gets_only_successes(server_factory, mode):
    wrk = shutil.which("wrk")
    if wrk is None:
        pytest.fail("wrk is not installed")
    server = server_factory("hello:app", "--workers", "2", *MODES[mode])
    out = subprocess.run([wrk, "-t2", "-c32", "-d1s", f"http://127.0.0.1:{server.port}/"],
                         capture_output=True, text=True, timeout=20).stdout
    assert "Non-2xx" not in out and "Socket errors" not in out, out
    assert "Requests/sec" in out
