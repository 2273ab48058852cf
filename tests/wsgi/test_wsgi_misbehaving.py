"""Apps that break PEP 3333 get a 500 (nothing had been sent), and the
worker keeps serving."""
import pytest

from wire import read_response, request


@pytest.fixture(scope="module", params=["inline", "threaded"])
def server(module_server_factory, request):
    flags = ["--threads", "2"] if request.param == "threaded" else []
    return module_server_factory("misbehaving:app", "--workers", "1", *flags)


@pytest.mark.parametrize("path", ["/str", "/none", "/no-start", "/yield-str"])
def test_invalid_app_result_gives_500(server, path):
    with server.connect() as sock:
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
        reader = sock.makefile("rb")
        resp = read_response(reader)
        assert resp.status == 500 and resp.closes
        assert reader.read() == b""
    assert "Traceback" in server.output()
