"""Answers with the worker's pid and a random number; records which process
imported it (``IMPORTED_BY`` file, when set) so tests can tell --preload."""
import os
import random

if os.environ.get("IMPORTED_BY"):
    with open(os.environ["IMPORTED_BY"], "a") as f:
        f.write(f"{os.getpid()}\n")


def app(environ, start_response):
    body = f"{os.getpid()} {random.getrandbits(64)}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
