"""A FastAPI JSON route: the framework's routing, validation and JSON
encoding on every request (the ASGI counterpart of the Flask route)."""
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


class Message(BaseModel):
    message: str


@app.get("/", response_model=Message)
async def hello():
    return Message(message="Hello, World!")
