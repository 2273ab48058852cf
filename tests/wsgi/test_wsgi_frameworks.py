"""Real frameworks served end to end: Flask and Django, in every server
mode (``mode``: inline, the default, and ``--threads``)."""
import json
from urllib.parse import urlencode

import pytest

from conftest import MODES
from wire import request

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def flask_server(module_server_factory, mode):
    return module_server_factory("flask_app:app", "--workers", "1", *MODES[mode])


@pytest.fixture(scope="module")
def django_server(module_server_factory, mode):
    return module_server_factory("django_app", "--workers", "1", *MODES[mode])


def test_flask_get(flask_server):
    resp, body = request(flask_server, "GET", "/")
    assert resp.status == 200 and body == b"flask index"


def test_flask_json_with_query(flask_server):
    resp, body = request(flask_server, "GET", "/json/7?a=b")
    assert resp.getheader("Content-Type") == "application/json"
    assert json.loads(body) == {"n": 7, "args": {"a": "b"}, "path": "/json/7"}


def test_flask_form_post(flask_server):
    resp, body = request(flask_server, "POST", "/form", body=urlencode({"name": "ada"}), headers=FORM)
    assert json.loads(body) == {"name": "ada", "files": []}


def test_flask_multipart_upload(flask_server):
    boundary = "XyZ"
    payload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nbob\r\n"
               f"--{boundary}\r\nContent-Disposition: form-data; name=\"up\"; filename=\"a.bin\"\r\n"
               f"Content-Type: application/octet-stream\r\n\r\n{'z' * 200000}\r\n--{boundary}--\r\n")
    resp, body = request(flask_server, "POST", "/form", body=payload.encode(),
                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert json.loads(body) == {"name": "bob", "files": ["up"]}


def test_flask_streamed_response(flask_server):
    resp, body = request(flask_server, "GET", "/stream")
    assert resp.getheader("Transfer-Encoding") == "chunked"
    assert body == b"line 0\nline 1\nline 2\n"


def test_flask_404(flask_server):
    assert request(flask_server, "GET", "/missing")[0].status == 404


def test_django_get(django_server):
    resp, body = request(django_server, "GET", "/")
    assert resp.status == 200 and body == b"django index"


def test_django_csrf_exempt_form_post(django_server):
    body = urlencode([("name", "grace"), ("item", "1"), ("item", "2")])
    resp, data = request(django_server, "POST", "/form", body=body, headers=FORM)
    assert resp.status == 200
    assert json.loads(data) == {"method": "POST", "name": "grace", "items": ["1", "2"]}


def test_django_json_response(django_server):
    resp, data = request(django_server, "GET", "/api/42?q=x%20y")
    assert resp.getheader("Content-Type") == "application/json"
    assert json.loads(data) == {"n": 42, "q": "x y", "path": "/api/42", "script": ""}


def test_django_csrf_protection_still_applies(django_server):
    resp, _ = request(django_server, "POST", "/guarded", body="a=1", headers=FORM)
    assert resp.status == 403


def test_django_reads_a_chunked_body(django_server):
    # http.client sends an iterable body without a length as chunked.
    resp, data = request(django_server, "POST", "/raw", body=iter([b"abc", b"defg"]))
    assert json.loads(data) == {"length": 7}


def test_django_under_root_path(server_factory, mode):
    server = server_factory("django_app", "--workers", "1", "--root-path", "/site", *MODES[mode])
    resp, data = request(server, "GET", "/site/api/3")
    assert json.loads(data) == {"n": 3, "q": None, "path": "/site/api/3", "script": "/site"}
