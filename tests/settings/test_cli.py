"""``prefork-serve`` error paths: a precise one-line reason and a named exit
code (prefork/exitcodes.py) for a bad app, a bad flag or a busy port."""
import socket

import pytest

from conftest import run_cli

APP_LOAD = 4
USAGE = 2


def error_lines(result):
    return [line for line in (result.stdout + result.stderr).splitlines() if "ERROR" in line
            or "error:" in line]


@pytest.mark.parametrize("spec,message", [
    ("nosuchmodule:app", "module 'nosuchmodule' not found (from 'nosuchmodule:app')"),
    ("probe:nosuch", "module 'probe' has no attribute 'nosuch' (from 'probe:nosuch')"),
    ("probe:_stats", "'probe:_stats' is not callable (it is a dict)"),
    ("probe:", "module 'probe' has no attribute 'application'"),
    ("bad spec:x", "invalid app 'bad spec:x'; expected MODULE:ATTRIBUTE"),
    ("broken_import:app", "importing 'broken_import' failed: ModuleNotFoundError"),
])
def test_app_that_cannot_be_loaded_exits_4_with_a_precise_message(spec, message):
    result = run_cli(spec, "--workers", "1", "--bind", "127.0.0.1:0")
    assert result.returncode == APP_LOAD, result.stderr
    assert message in result.stderr


def test_missing_dependency_is_named_not_the_app_module():
    result = run_cli("broken_import:app", "--workers", "1", "--bind", "127.0.0.1:0")
    assert "no_such_dependency_xyz" in result.stderr
    assert "module 'broken_import' not found" not in result.stderr


@pytest.mark.parametrize("flag,value", [
    ("--threads", "x"), ("--limit-request-body", "1XB"), ("--workers", "0"),
    ("--keepalive-timeout", "-1"), ("--log-level", "loud"),
])
def test_bad_flag_value_exits_2_with_one_line_naming_the_flag(flag, value):
    result = run_cli("hello:app", flag, value)
    assert result.returncode == USAGE
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert flag in lines[0] and repr(value) in lines[0]
    assert "expected" in lines[0]


def test_unknown_flag_exits_2_with_one_line():
    result = run_cli("hello:app", "--no-such-flag")
    assert result.returncode == USAGE
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--no-such-flag" in result.stderr


def test_port_in_use_exits_non_zero_naming_the_address():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = "127.0.0.1:%d" % busy.getsockname()[1]
        result = run_cli("hello:app", "--bind", address)
    assert result.returncode != 0
    assert f"cannot listen on {address}" in result.stderr
    assert "in use" in result.stderr
