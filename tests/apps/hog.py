"""/grow keeps 64 MiB alive in this worker; every other path answers its pid."""
import os

_kept = []


def app(environ, start_response):
    if environ["PATH_INFO"] == "/grow":
        _kept.append(bytearray(64 << 20))
        for i in range(0, len(_kept[-1]), 4096):
            _kept[-1][i] = 1            # touch every page so it is resident
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
