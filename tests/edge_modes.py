"""The modes of the production-edge tests (tests/http/test_forwarded.py,
tests/worker/test_request_timeout.py, tests/worker/test_max_pending.py):
the WSGI app inline (the default) and on threads, and the ASGI app; and
clients that read what the app saw."""
import http.client
import json
import socket

EDGE_MODES = {
    "inline": ("edge:app", []),
    "threads": ("edge:app", ["--threads", "4"]),
    "asgi": ("edge:asgi_app", []),
}


def start(factory, mode, *flags, **kwargs):
    app, mode_flags = EDGE_MODES[mode]
    return factory(app, "--workers", "1", *mode_flags, *flags, **kwargs)


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket."""

    def __init__(self, path, timeout=5.0):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def connection(server, source=None, unix=None, timeout=5.0):
    """A client of ``server``: from ``source`` (another loopback address),
    or over the unix socket ``unix``."""
    if unix is not None:
        return UnixHTTPConnection(unix, timeout)
    return http.client.HTTPConnection(server.host, server.port, timeout=timeout,
                                      source_address=(source, 0) if source else None)


def seen(server, mode, headers, source=None, unix=None):
    """What the app saw of its client, in one form for WSGI and ASGI:
    client address, scheme, Host, server port, and the X-Forwarded-For field."""
    conn = connection(server, source, unix)
    try:
        conn.request("GET", "/env", headers=headers)
        response = conn.getresponse()
        assert response.status == 200
        body = json.loads(response.read())
    finally:
        conn.close()
    if mode == "asgi":
        return {"client": body["client"][0] if body["client"] else None, "scheme": body["scheme"],
                "host": body["host"], "port": str(body["server"][1]),
                "xff": body["x-forwarded-for"] or None}
    return {"client": body["REMOTE_ADDR"], "scheme": body["wsgi.url_scheme"],
            "host": body["HTTP_HOST"], "port": body["SERVER_PORT"],
            "xff": body["HTTP_X_FORWARDED_FOR"]}
