"""HUP reloads with zero downtime: new workers with new code accept before
the old ones stop; a reload that fails keeps the old workers serving. The
reloads run in every server mode (``mode``: inline, the default, and
``--threads``); a config file the master refuses is the master's alone."""
import signal
import textwrap
import time

import pytest

from conftest import MODES
from procs import Load, get, wait_for, workers

APP = '''
VERSION = {version}


def app(environ, start_response):
    body = b"version %d" % VERSION
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''

NO_PYC = {"PYTHONDONTWRITEBYTECODE": "1"}


def write_app(directory, version, source=APP):
    (directory / "reloadable.py").write_text(textwrap.dedent(source.format(version=version)))


def serving(server, expected):
    return get(server.port)[1] == expected


@pytest.mark.parametrize("preload", [False, True], ids=["import-in-worker", "preload"])
def test_hup_under_load_serves_new_code_without_failed_requests(server_factory, mode, tmp_path,
                                                                  preload):
    write_app(tmp_path, 1)
    flags = ["--workers", "2", "--graceful-timeout", "5", *MODES[mode]]
    flags += ["--preload"] if preload else []
    server = server_factory("reloadable:app", *flags, cwd=str(tmp_path), env=NO_PYC)
    old_pids = set(wait_for(lambda: len(workers(server.pid)) == 2 and workers(server.pid)))
    with Load(server.port, clients=4) as load:
        for version in range(2, 7):
            write_app(tmp_path, version)
            server.signal(signal.SIGHUP)
            wait_for(lambda: serving(server, b"version %d" % version), timeout=10,
                     message=f"version {version} served")
            new_pids = set(wait_for(lambda: len(workers(server.pid)) == 2 and workers(server.pid)))
            assert not new_pids & old_pids
            old_pids = new_pids
            time.sleep(0.2)
    assert load.failures == []
    assert load.ok > 100
    assert {b"version %d" % v for v in range(2, 7)} <= set(load.bodies)


def test_hup_with_a_broken_app_keeps_the_old_workers(server_factory, mode, tmp_path):
    write_app(tmp_path, 1)
    server = server_factory("reloadable:app", "--workers", "2", *MODES[mode], cwd=str(tmp_path),
                            env=NO_PYC)
    before = set(wait_for(lambda: len(workers(server.pid)) == 2 and workers(server.pid)))
    (tmp_path / "reloadable.py").write_text("def app(:\n")
    server.signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in server.output(), timeout=10, message="reload failure")
    assert "SyntaxError" in server.output()
    assert get(server.port)[1] == b"version 1"
    wait_for(lambda: set(workers(server.pid)) == before, message="only the old workers")
    write_app(tmp_path, 2)            # a fixed app reloads normally afterwards
    server.signal(signal.SIGHUP)
    wait_for(lambda: serving(server, b"version 2"), message="version 2 served")


def test_hup_with_a_bad_config_file_keeps_the_old_workers(server_factory, tmp_path):
    write_app(tmp_path, 1)
    conf = tmp_path / "prefork.conf.py"
    conf.write_text("workers = 2\n")
    server = server_factory("reloadable:app", "-c", str(conf), cwd=str(tmp_path), env=NO_PYC)
    before = set(wait_for(lambda: len(workers(server.pid)) == 2 and workers(server.pid)))
    conf.write_text("workers = 'many'\n")
    server.signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in server.output(), message="reload failure")
    assert "workers: invalid value 'many'" in server.output()
    time.sleep(0.3)
    assert set(workers(server.pid)) == before
    assert get(server.port)[0] == 200
