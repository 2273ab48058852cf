"""A Quart app for the ASGI framework tests."""
from quart import Quart, jsonify, request

app = Quart(__name__)


@app.route("/")
async def index():
    return "quart index"


@app.route("/echo", methods=["POST"])
async def echo():
    return jsonify(await request.get_json())
