"""Apps that break PEP 3333 get a 500 (nothing had been sent), and the
worker keeps serving; in every server mode (``mode``: inline, the default,
and ``--threads``)."""
import pytest

from conftest import MODES
from wire import read_response


@pytest.fixture(scope="module")
def server(module_server_factory, mode):
    return module_server_factory("misbehaving:app", "--workers", "1", *MODES[mode])


@pytest.mark.parametrize("path", ["/str", "/none", "/no-start", "/yield-str"])
def test_invalid_app_result_gives_500(server, path):
    with server.connect() as sock:
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
        reader = sock.makefile("rb")
        resp = read_response(reader)
        assert resp.status == 500 and resp.closes
        assert reader.read() == b""
    assert "Traceback" in server.output()
