"""Starlette and FastAPI WebSocket routes for tests/websocket/test_ws_frameworks.py."""
from fastapi import FastAPI, Query, WebSocket as FastAPIWebSocket, WebSocketDisconnect
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

CLOSED = []


async def starlette_json(websocket: WebSocket):
    await websocket.accept(subprotocol="json.v1" if "json.v1" in websocket.scope["subprotocols"]
                           else None)
    try:
        while True:
            data = await websocket.receive_json()
            if data.get("bye"):
                await websocket.close(code=4002, reason="as you wish")
                return
            await websocket.send_json({"echo": data, "path": websocket.url.path})
    except WebSocketDisconnect as exc:
        CLOSED.append(exc.code)


async def starlette_denied(websocket: WebSocket):
    await websocket.send_denial_response(PlainTextResponse("members only", status_code=401))


async def closed_codes(request):
    return JSONResponse({"closed": CLOSED})


starlette_app = Starlette(routes=[WebSocketRoute("/json", starlette_json),
                                  WebSocketRoute("/denied", starlette_denied),
                                  Route("/closed", closed_codes)])

fastapi_app = FastAPI()


@fastapi_app.websocket("/rooms/{room}")
async def room(websocket: FastAPIWebSocket, room: str, token: str = Query(...)):
    if token != "secret":
        await websocket.close(code=1008)
        return
    await websocket.accept()
    try:
        async for text in websocket.iter_text():
            await websocket.send_text(f"{room}: {text}")
        # iter_text ends on a disconnect
    except WebSocketDisconnect:
        pass


@fastapi_app.websocket("/bytes")
async def raw_bytes(websocket: FastAPIWebSocket):
    await websocket.accept()
    data = await websocket.receive_bytes()
    await websocket.send_bytes(data[::-1])
    await websocket.close()

