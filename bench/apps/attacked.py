"""The app behind bench/slow_clients.py: "/" answers a short body, "/big"
streams 1 MiB in 64 KiB blocks from a generator (so with --threads its
blocks are produced on the thread pool)."""

BLOCK = b"x" * 65536


def app(environ, start_response):
    if environ["PATH_INFO"] == "/big":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (BLOCK for _ in range(16))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
