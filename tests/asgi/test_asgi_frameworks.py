"""Real ASGI frameworks served end to end: Starlette, FastAPI (a pydantic
model, a dependency, a sync route on anyio's thread pool, a streaming and
a file response), Django's ASGI handler and Quart."""
import json

import pytest

from wire import request


@pytest.fixture(scope="module")
def starlette(module_server_factory):
    return module_server_factory("starlette_app:starlette_app", "--workers", "1")


@pytest.fixture(scope="module")
def fastapi(module_server_factory):
    return module_server_factory("starlette_app:fastapi_app", "--workers", "1")


def test_starlette_get(starlette):
    resp, body = request(starlette, "GET", "/")
    assert resp.status == 200 and body == b"starlette index"


def test_starlette_json_body(starlette):
    resp, body = request(starlette, "POST", "/echo", body=json.dumps({"a": [1, 2]}),
                         headers={"Content-Type": "application/json"})
    assert json.loads(body) == {"got": {"a": [1, 2]}, "path": "/echo", "root_path": ""}


def test_starlette_awaiting_route(starlette):
    assert request(starlette, "GET", "/slow")[1] == b"slow"


def test_fastapi_model_and_dependency(fastapi):
    resp, body = request(fastapi, "POST", "/items?skip=5",
                         body=json.dumps({"name": "pen", "price": 1.5}),
                         headers={"Content-Type": "application/json"})
    assert resp.status == 200
    assert json.loads(body) == {"item": {"name": "pen", "price": 1.5, "tags": []},
                                "page": {"skip": 5, "limit": 10}, "total": 3.0}


def test_fastapi_validation_error_is_422(fastapi):
    resp, body = request(fastapi, "POST", "/items", body=json.dumps({"name": "pen"}),
                         headers={"Content-Type": "application/json"})
    assert resp.status == 422 and b"price" in body


def test_fastapi_sync_route_runs_on_the_thread_pool(fastapi):
    assert json.loads(request(fastapi, "GET", "/sync")[1]) == {"sync": True}


def test_fastapi_streaming_response(fastapi):
    resp, body = request(fastapi, "GET", "/stream")
    assert resp.getheader("Transfer-Encoding") == "chunked" and body == b"0\n1\n2\n3\n4\n"


def test_fastapi_file_response(fastapi):
    resp, body = request(fastapi, "GET", "/file")
    assert resp.status == 200 and body == bytes(range(256)) * 4096


def test_django_asgi_handler(module_server_factory):
    server = module_server_factory("django_asgi_app", "--workers", "1")
    resp, data = request(server, "GET", "/api/42?q=x%20y")
    assert resp.status == 200
    assert json.loads(data) == {"n": 42, "q": "x y", "path": "/api/42", "script": ""}
    resp, _ = request(server, "POST", "/guarded", body="a=1",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 403


def test_quart(module_server_factory):
    server = module_server_factory("quart_app:app", "--workers", "1")
    assert request(server, "GET", "/")[1] == b"quart index"
    resp, body = request(server, "POST", "/echo", body=json.dumps({"q": 1}),
                         headers={"Content-Type": "application/json"})
    assert json.loads(body) == {"q": 1}
