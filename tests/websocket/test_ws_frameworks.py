"""WebSocket routes of real frameworks served end to end: Starlette
(receive_json/send_json, a subprotocol, a close with a code, the denial
response through the websocket.http.response extension) and FastAPI (path
and query parameters, a close before accept, bytes)."""
import asyncio
import json

import pytest
import websockets
from websockets.asyncio.client import connect

from procs import get, wait_for


@pytest.fixture(scope="module")
def starlette(module_server_factory):
    return module_server_factory("ws_frameworks:starlette_app", "--workers", "1")


@pytest.fixture(scope="module")
def fastapi(module_server_factory):
    return module_server_factory("ws_frameworks:fastapi_app", "--workers", "1")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_starlette_json_route_with_a_subprotocol(starlette):
    async def main():
        async with connect(f"ws://127.0.0.1:{starlette.port}/json",
                           subprotocols=["json.v1"]) as ws:
            assert ws.subprotocol == "json.v1"
            await ws.send(json.dumps({"n": 1, "é": "✓"}))
            assert json.loads(await ws.recv()) == {"echo": {"n": 1, "é": "✓"}, "path": "/json"}
            await ws.send(json.dumps({"bye": True}))
            with pytest.raises(websockets.ConnectionClosed) as info:
                await ws.recv()
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (4002, "as you wish")
    run(main())


def test_starlette_hears_the_client_close_code(starlette):
    async def main():
        ws = await connect(f"ws://127.0.0.1:{starlette.port}/json")
        await ws.close(4321)
    run(main())
    closed = wait_for(lambda: json.loads(get(starlette.port, "/closed")[1])["closed"] or None,
                      message="Starlette's WebSocketDisconnect")
    assert closed == [4321]


def test_starlette_denial_response(starlette):
    async def main():
        with pytest.raises(websockets.InvalidStatus) as info:
            await connect(f"ws://127.0.0.1:{starlette.port}/denied")
        assert info.value.response.status_code == 401
        assert info.value.response.body == b"members only"
    run(main())


def test_fastapi_path_and_query_parameters(fastapi):
    async def main():
        async with connect(f"ws://127.0.0.1:{fastapi.port}/rooms/lobby?token=secret") as ws:
            await ws.send("hello")
            assert await ws.recv() == "lobby: hello"
            await ws.send("again")
            assert await ws.recv() == "lobby: again"
    run(main())


def test_fastapi_close_before_accept_is_403(fastapi):
    async def main():
        with pytest.raises(websockets.InvalidStatus) as info:
            await connect(f"ws://127.0.0.1:{fastapi.port}/rooms/lobby?token=wrong")
        assert info.value.response.status_code == 403
    run(main())


def test_fastapi_bytes_and_server_close(fastapi):
    async def main():
        async with connect(f"ws://127.0.0.1:{fastapi.port}/bytes") as ws:
            await ws.send(b"\x01\x02\x03")
            assert await ws.recv() == b"\x03\x02\x01"
            with pytest.raises(websockets.ConnectionClosedOK):
                await ws.recv()
            assert ws.close_code == 1000
    run(main())
