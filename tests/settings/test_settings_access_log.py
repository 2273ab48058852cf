"""Access log formats: Apache combined by default, common, JSON (valid,
one line, escaped), and {field} templates; to a file or stdout."""
import json
import logging
import re

import pytest

from prefork import config
from prefork.log import AccessFormatter
from procs import get, wait_for

FIELDS = {"remote": "10.0.0.1", "time": "01/Jan/2030:00:00:00 +0000", "method": "GET",
          "target": '/a"b\\c\x1b[31m\r\nfake line', "version": "HTTP/1.1", "status": 200,
          "bytes": 5, "referer": "", "user_agent": "curl/8 \u00e9", "duration_ms": 1.5}


def record(access=None, args=()):
    rec = logging.LogRecord("prefork.access", logging.INFO, __file__, 1, "%s", args, None)
    if access is not None:
        rec.access = access
    return rec


def test_combined_escapes_quotes_backslashes_and_control_bytes():
    line = AccessFormatter("combined").format(record(FIELDS))
    assert line == ('10.0.0.1 - - [01/Jan/2030:00:00:00 +0000] '
                    '"GET /a\\"b\\\\c\\x1b[31m\\x0d\\x0afake line HTTP/1.1" 200 5 "-" "curl/8 \\xe9"')


def test_json_is_one_valid_line_with_every_field():
    line = AccessFormatter("json").format(record(FIELDS))
    assert "\n" not in line and "\r" not in line
    parsed = json.loads(line)
    assert parsed["target"] == FIELDS["target"] and parsed["user_agent"] == FIELDS["user_agent"]
    assert parsed["status"] == 200 and parsed["referer"] == ""


def test_template_names_fields_and_positional_records_still_format():
    positional = ("1.2.3.4", "t", "POST", "/x", "HTTP/1.0", 404, 0)
    assert AccessFormatter("{method} {target} {status} {bytes}").format(
        record(args=positional)) == "POST /x 404 -"


@pytest.mark.parametrize("bad", ["{nope}", "no fields", "{status"])
def test_template_with_unknown_fields_is_refused(bad):
    with pytest.raises(ValueError):
        config.access_format(bad)


def test_server_writes_combined_lines_to_a_file(server_factory, tmp_path):
    path = tmp_path / "access.log"
    server = server_factory("hello:app", "--workers", "2", "--access-log", str(path))
    for _ in range(5):
        get(server.port, "/x?y=1")
    lines = wait_for(lambda: len(path.read_text().splitlines()) == 5 and path.read_text().splitlines())
    pattern = re.compile(r'^127\.0\.0\.1 - - \[[^\]]+\] "GET /x\?y=1 HTTP/1\.1" 200 13 "[^"]*" "[^"]*"$')
    assert all(pattern.match(line) for line in lines), lines


def test_server_writes_json_lines_to_stdout(server_factory):
    server = server_factory("hello:app", "--workers", "1", "--access-log", "-",
                            "--access-log-format", "json")
    get(server.port, "/json")
    line = wait_for(lambda: [l for l in server.output().splitlines() if l.startswith("{")])[0]
    parsed = json.loads(line)
    assert (parsed["method"], parsed["target"], parsed["status"]) == ("GET", "/json", 200)
