"""WebSocket over TLS (wss://): the websockets library and Node's ws through
prefork's TLS, and the scope an app sees on such a connection."""
import asyncio
import json
import os
import shutil
import subprocess

import pytest
from websockets.asyncio.client import connect

NODE_DIR = os.path.join(os.path.dirname(__file__), "node")


@pytest.fixture(scope="module")
def server(module_server_factory, certs):
    return module_server_factory("ws_app:app", "--workers", "1", *certs.flags(),
                                 tls=certs.client_context())


def wss(server, path, **kwargs):
    return connect(f"wss://127.0.0.1:{server.port}{path}", ssl=server.tls,
                   server_hostname="localhost", **kwargs)


def test_the_scope_of_a_websocket_over_tls(server):
    async def run():
        async with wss(server, "/scope") as ws:
            return json.loads(await ws.recv())
    scope = asyncio.run(run())
    assert scope["type"] == "websocket"
    assert scope["scheme"] == "wss"
    assert "tls" in scope["extensions"] and "websocket.http.response" in scope["extensions"]


@pytest.mark.parametrize("compression", [None, "deflate"])
@pytest.mark.parametrize("size", [0, 125, 65536, 4 * 2**20])
def test_echo_over_tls(server, compression, size):
    text = "é" * (size // 2)
    binary = os.urandom(size)

    async def run():
        async with wss(server, "/echo", compression=compression, max_size=2**25) as ws:
            await ws.send(text)
            assert await ws.recv() == text
            await ws.send(binary)
            assert await ws.recv() == binary
            await ws.ping(b"over tls")
    asyncio.run(run())


def test_a_node_client_over_tls(server, certs):
    if shutil.which("node") is None:
        pytest.fail("node is missing: apt-get install nodejs (.ci/run installs it)")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "ws")):
        pytest.fail("the ws package is missing: (cd tests/websocket/node && npm ci)")
    done = subprocess.run(
        ["node", "-e", NODE_WSS, f"wss://localhost:{server.port}/echo", certs.ca],
        cwd=NODE_DIR, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hello over tls"


# Node's ws with the test CA as its only trust anchor: one echo, printed.
NODE_WSS = """
const fs = require("fs");
const WebSocket = require("ws");
const [url, ca] = process.argv.slice(1);
const ws = new WebSocket(url, {ca: fs.readFileSync(ca)});
ws.on("open", () => ws.send("hello over tls"));
ws.on("message", (data) => { console.log(data.toString()); ws.close(); });
ws.on("error", (err) => { console.error(err.message); process.exit(1); });
"""
