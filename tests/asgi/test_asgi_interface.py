"""--interface: auto tells WSGI from ASGI 3; a wrong choice is a clear error
at start (exit 4); ASGI 2 apps are served with --interface asgi2."""
from conftest import run_cli
from procs import get


def test_auto_serves_an_asgi_app(server_factory):
    server = server_factory("asgi_probe:app", "--workers", "1")
    assert get(server.port, "/hello")[1] == b"hello"


def test_auto_serves_a_wsgi_app(server_factory):
    server = server_factory("asgi_probe:wsgi_app", "--workers", "1")
    assert get(server.port, "/")[1] == b"wsgi"


def test_asgi_interface_refuses_a_wsgi_app():
    result = run_cli("asgi_probe:wsgi_app", "--interface", "asgi", "--bind", "127.0.0.1:0")
    assert result.returncode == 4
    assert "is not an ASGI 3 application" in result.stderr + result.stdout


def test_wsgi_interface_refuses_an_asgi_app():
    result = run_cli("asgi_probe:app", "--interface", "wsgi", "--bind", "127.0.0.1:0")
    assert result.returncode == 4
    assert "is an ASGI application" in result.stderr + result.stdout


def test_asgi2_interface_serves_an_asgi2_app(server_factory):
    server = server_factory("asgi_probe:ASGI2", "--workers", "1", "--interface", "asgi2")
    assert get(server.port, "/")[1] == b"asgi2"


def test_a_bad_interface_value_is_a_one_line_error():
    result = run_cli("asgi_probe:app", "--interface", "grpc")
    assert result.returncode == 2
    assert "interface" in result.stderr and "grpc" in result.stderr
