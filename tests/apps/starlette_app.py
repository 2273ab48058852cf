"""A Starlette app and a FastAPI app for the ASGI framework tests."""
import asyncio
import os
import tempfile

from fastapi import Depends, FastAPI
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

# -- Starlette ----------------------------------------------------------------


async def homepage(request):
    return PlainTextResponse("starlette index")


async def echo_json(request: Request):
    data = await request.json()
    return JSONResponse({"got": data, "path": request.url.path,
                         "root_path": request.scope.get("root_path")})


async def slow(request):
    await asyncio.sleep(0.1)
    return PlainTextResponse("slow")


starlette_app = Starlette(routes=[
    Route("/", homepage),
    Route("/echo", echo_json, methods=["POST"]),
    Route("/slow", slow),
])

# -- FastAPI --------------------------------------------------------------------

fastapi_app = FastAPI()
_DATA = os.path.join(tempfile.gettempdir(), f"prefork-fastapi-{os.getpid()}.bin")


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


def pagination(skip: int = 0, limit: int = 10):
    return {"skip": skip, "limit": limit}


@fastapi_app.post("/items")
async def create_item(item: Item, page: dict = Depends(pagination)):
    return {"item": item.model_dump(), "page": page, "total": item.price * 2}


@fastapi_app.get("/sync")
def sync_route():
    return {"sync": True}


@fastapi_app.get("/stream")
async def stream():
    async def numbers():
        for i in range(5):
            await asyncio.sleep(0.01)
            yield f"{i}\n".encode()
    return StreamingResponse(numbers(), media_type="text/plain")


@fastapi_app.get("/file")
async def file():
    if not os.path.exists(_DATA):
        with open(_DATA, "wb") as f:
            f.write(bytes(range(256)) * 4096)
    return FileResponse(_DATA)
