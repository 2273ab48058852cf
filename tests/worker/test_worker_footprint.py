"""What a worker carries: every module the master loads is in each forked
worker's resident set, so the server keeps heavy modules it does not need
out of both processes (each of these costs 0.1 to 1 MiB per worker)."""
import os
import site
import sys

import pytest

import prefork
from conftest import APPS
from procs import get

# Module -> the server code that used to load it, and what replaced that.
NOT_LOADED = {
    "dataclasses": "settings and child records are plain classes",
    "inspect": "loaded by dataclasses",
    "typing": "no annotations evaluated at run time",
    "shutil": "argparse's formatter is sized with os.get_terminal_size",
    "bz2": "loaded by shutil",
    "lzma": "loaded by shutil",
    "tempfile": "imported only when a body is spooled",
    "random": "max_requests jitter comes from os.urandom",
    "sysconfig": "imported on the first reload with --preload",
    "encodings.idna": "getaddrinfo is given an ASCII host as bytes",
    "json": "imported only for JSON access logs and cache stats",
    "concurrent.futures": "imported only with --threads > 1",
}


@pytest.fixture(scope="module")
def worker_modules(module_server_factory):
    # ``python -S``: the interpreter's site hooks (.pth files) may load
    # modules of their own, which would hide what the server loads. The
    # same paths are given without them.
    paths = [APPS, os.path.dirname(os.path.dirname(prefork.__file__)), *site.getsitepackages()]
    server = module_server_factory("modules:app", "--workers", "1",
                                   command=[sys.executable, "-S", "-m", "prefork"],
                                   env={"PYTHONPATH": os.pathsep.join(paths)})
    status, body = get(server.port)
    assert status == 200
    return set(body.decode().split())


def test_the_worker_is_running_prefork(worker_modules):
    # The probe is real: the list does come from a prefork worker.
    assert {"prefork.http._connection", "prefork.worker.process", "modules"} <= worker_modules


@pytest.mark.parametrize("module", sorted(NOT_LOADED))
def test_a_worker_does_not_load(worker_modules, module):
    assert module not in worker_modules, f"{module} is loaded; it should not be: {NOT_LOADED[module]}"
