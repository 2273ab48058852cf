"""--forwarded-allow-ips: a trusted peer's X-Forwarded-* and Forwarded
fields set the client address, scheme, host and port the app sees (WSGI
environ, ASGI scope) and the access log shows; any other peer's are plain
headers. Every test runs in each mode (inline, --threads, ASGI) against the
real server, with http.client from 127.0.0.1 (trusted by default) and from
127.0.0.2 (another loopback address, untrusted by default)."""
import json

import pytest

from conftest import run_cli
from edge_modes import EDGE_MODES, connection, seen, start
from procs import wait_for

ALL_FIELDS = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
              "X-Forwarded-Host": "shop.example", "X-Forwarded-Port": "8443"}


@pytest.fixture(scope="module", params=list(EDGE_MODES))
def mode(request):
    return request.param


@pytest.fixture(scope="module")
def server(module_server_factory, mode, tmp_path_factory):
    """The default settings, with an access log and a unix listener too."""
    where = tmp_path_factory.mktemp("forwarded")
    server = start(module_server_factory, mode, "--access-log", str(where / "access.log"),
                   "--bind", f"unix:{where / 'app.sock'}")
    server.access_log = where / "access.log"
    server.unix = str(where / "app.sock")
    return server


def as_sent(server):
    return {"scheme": "http", "host": f"127.0.0.1:{server.port}", "port": str(server.port)}


def test_a_trusted_peer_sets_client_scheme_host_and_port(server, mode):
    got = seen(server, mode, ALL_FIELDS)
    assert got == {"client": "203.0.113.7", "scheme": "https", "host": "shop.example",
                   "port": "8443", "xff": "203.0.113.7"}


def test_a_request_without_the_fields_is_unchanged(server, mode):
    got = seen(server, mode, {})
    assert got == {"client": "127.0.0.1", "xff": None, **as_sent(server)}


def test_an_untrusted_peer_sets_nothing(server, mode):
    got = seen(server, mode, {**ALL_FIELDS, "Forwarded": "for=198.51.100.1;proto=https"},
               source="127.0.0.2")
    # Left as a header for the app to see, never believed.
    assert got == {"client": "127.0.0.2", "xff": "203.0.113.7", **as_sent(server)}


def test_the_scheme_alone_gives_its_default_port(server, mode):
    got = seen(server, mode, {"X-Forwarded-Proto": "https"})
    assert (got["client"], got["scheme"], got["port"]) == ("127.0.0.1", "https", "443")


def test_a_forwarded_host_port_is_the_server_port(server, mode):
    got = seen(server, mode, {"X-Forwarded-Host": "shop.example:8080"})
    assert (got["host"], got["port"]) == ("shop.example:8080", "8080")


@pytest.mark.parametrize("hops, client", [
    ("198.51.100.1, 203.0.113.7, 127.0.0.1", "203.0.113.7"),  # the rightmost untrusted hop
    ("127.0.0.1, ::1", "127.0.0.1"),                           # all trusted: the leftmost
    ("203.0.113.7:4711", "203.0.113.7"),                       # a hop with its port
    ("[2001:db8::7]:4711", "2001:db8::7"),
    ("2001:db8:0:0::7", "2001:db8::7"),                        # canonical text
    ("unknown", "127.0.0.1"),                                  # not an address: the peer's
])
def test_x_forwarded_for_hops(server, mode, hops, client):
    assert seen(server, mode, {"X-Forwarded-For": hops})["client"] == client


def test_x_forwarded_for_sent_twice_is_one_list(server, mode):
    conn = connection(server)
    conn.putrequest("GET", "/env")
    conn.putheader("X-Forwarded-For", "198.51.100.1")
    conn.putheader("X-Forwarded-For", "203.0.113.7")
    conn.endheaders()
    body = json.loads(conn.getresponse().read())
    conn.close()
    client = body["client"][0] if mode == "asgi" else body["REMOTE_ADDR"]
    assert client == "203.0.113.7"


@pytest.mark.parametrize("value, expected", [
    ('for=198.51.100.17;proto=https;host=api.example, for=127.0.0.1',
     {"client": "198.51.100.17", "scheme": "https", "host": "api.example", "port": "443"}),
    ('for="[2001:db8:cafe::17]:4711";proto=http',
     {"client": "2001:db8:cafe::17", "scheme": "http", "port": "80"}),
    ('For=198.51.100.17;PROTO=HTTPS', {"client": "198.51.100.17", "scheme": "https"}),
    ('for=unknown;proto=https', {"client": "127.0.0.1", "scheme": "https"}),
])
def test_rfc7239_forwarded(server, mode, value, expected):
    got = seen(server, mode, {"Forwarded": value})
    assert {key: got[key] for key in expected} == expected


def test_x_forwarded_fields_win_over_forwarded(server, mode):
    got = seen(server, mode, {"Forwarded": "for=198.51.100.1;proto=https;host=evil.example",
                              "X-Forwarded-For": "203.0.113.7"})
    assert got == {"client": "203.0.113.7", "xff": "203.0.113.7", **as_sent(server)}


@pytest.mark.parametrize("headers", [
    {"X-Forwarded-Proto": "gopher", "X-Forwarded-Host": "bad host/x", "X-Forwarded-Port": "99999"},
    {"Forwarded": 'for="198.51.100.1;proto=https'},           # unterminated quoted-string
    {"Forwarded": "for=198.51.100.1;for=198.51.100.2"},      # a parameter twice in one element
    {"X-Forwarded-For": "not an address"},
])
def test_values_of_the_wrong_form_are_ignored(server, mode, headers):
    got = seen(server, mode, headers)
    got.pop("xff")
    assert got == {"client": "127.0.0.1", **as_sent(server)}


def test_the_access_log_shows_the_real_client(server, mode):
    seen(server, mode, {"X-Forwarded-For": "203.0.113.99"})

    def logged():
        text = server.access_log.read_text() if server.access_log.exists() else ""
        return [line for line in text.splitlines() if line.startswith("203.0.113.99 ")]
    assert wait_for(logged, timeout=5, message="the access line")[0].split()[5:7] == ['"GET', "/env"]


def test_a_unix_socket_peer_is_not_trusted_by_default(server, mode):
    got = seen(server, mode, ALL_FIELDS, unix=server.unix)
    assert got["client"] in ("", None) and got["scheme"] == "http" and got["xff"] == "203.0.113.7"


def test_unix_trusts_unix_socket_peers(server_factory, mode, tmp_path):
    path = str(tmp_path / "app.sock")
    server = start(server_factory, mode, "--bind", f"unix:{path}",
                   "--forwarded-allow-ips", "unix")
    got = seen(server, mode, ALL_FIELDS, unix=path)
    assert (got["client"], got["scheme"], got["host"]) == ("203.0.113.7", "https", "shop.example")
    # "unix" alone: 127.0.0.1 is no longer trusted.
    assert seen(server, mode, ALL_FIELDS)["client"] == "127.0.0.1"


@pytest.mark.parametrize("allow", ["127.0.0.2", "127.0.0.0/30", "*"])
def test_the_allow_list_names_the_trusted_peers(server_factory, mode, allow):
    server = start(server_factory, mode, "--forwarded-allow-ips", allow)
    assert seen(server, mode, ALL_FIELDS, source="127.0.0.2")["client"] == "203.0.113.7"
    from_localhost = seen(server, mode, ALL_FIELDS)["client"]
    assert from_localhost == ("203.0.113.7" if allow != "127.0.0.2" else "127.0.0.1")


def test_a_trusted_proxy_hop_is_skipped(server_factory, mode):
    server = start(server_factory, mode, "--forwarded-allow-ips", "127.0.0.1,10.0.0.0/8")
    got = seen(server, mode, {"X-Forwarded-For": "198.51.100.1, 203.0.113.7, 10.1.2.3"})
    assert got["client"] == "203.0.113.7"


def test_ipv6_loopback_is_trusted_by_default(server_factory, mode):
    server = start(server_factory, mode, host="::1")
    got = seen(server, mode, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert (got["client"], got["scheme"]) == ("203.0.113.7", "https")


@pytest.mark.parametrize("value", ["10.0.0.0/99", "localhost", "1.2.3.4/x", "10.0.0.300"])
def test_a_bad_allow_list_stops_the_server(value):
    result = run_cli("hello:app", "--forwarded-allow-ips", value, "--check-config")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--forwarded-allow-ips" in lines[0] and value in lines[0]


def test_the_setting_comes_from_the_environment_too(server_factory, mode):
    server = start(server_factory, mode, env={"PREFORK_FORWARDED_ALLOW_IPS": "127.0.0.2"})
    assert seen(server, mode, ALL_FIELDS, source="127.0.0.2")["client"] == "203.0.113.7"
    assert seen(server, mode, ALL_FIELDS)["client"] == "127.0.0.1"
