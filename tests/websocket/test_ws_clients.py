"""Independent clients against the real server: the ``websockets`` library
and Node's ``ws`` package (tests/websocket/node/, installed by .ci/run with
npm). Echo of text and binary from 0 bytes to 16 MiB (the default message
limit), fragmented messages, pings, compression on and off, and every way a
connection closes."""
import asyncio
import json
import os
import shutil
import subprocess

import pytest
import websockets
from websockets.asyncio.client import connect

NODE_DIR = os.path.join(os.path.dirname(__file__), "node")
SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20]
MiB16 = 16 << 20


@pytest.fixture(scope="module")
def server(module_server_factory):
    return module_server_factory("ws_app:app", "--workers", "1")


def text_of(size):
    """Exactly ``size`` bytes of UTF-8 with 1- to 4-byte characters."""
    unit = "héllo wörld ✓ 中 😀 "
    text = unit * (size // len(unit.encode()))
    return text + "a" * (size - len(text.encode()))


def binary_of(size):
    return bytes((i * 31 + 7) & 255 for i in range(min(size, 4096))) * (size // 4096 + 1)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


# -- the websockets library ---------------------------------------------------

@pytest.mark.parametrize("compression", ["deflate", None], ids=["deflate", "no-compression"])
def test_websockets_echo_from_0_bytes_to_16_mib(server, compression):
    async def main():
        async with connect(f"ws://127.0.0.1:{server.port}/echo", compression=compression,
                           max_size=MiB16 + 1024) as ws:
            expected = "permessage-deflate" if compression else None
            assert ws.response.headers.get("Sec-WebSocket-Extensions") == expected
            for size in SIZES:
                text = text_of(size)
                await ws.send(text)
                assert await ws.recv() == text, size
                data = binary_of(size)[:size]
                await ws.send(data)
                assert await ws.recv() == data, size
    run(main())


def test_websockets_fragmented_messages(server):
    async def main():
        async with connect(f"ws://127.0.0.1:{server.port}/echo") as ws:
            await ws.send(["frag", "mented ", "✓"])
            assert await ws.recv() == "fragmented ✓"
            await ws.send([b"\x00" * 70000, b"\x01" * 3, b""])
            assert await ws.recv() == b"\x00" * 70000 + b"\x01" * 3
    run(main())


def test_websockets_ping_pong(server):
    async def main():
        async with connect(f"ws://127.0.0.1:{server.port}/echo", ping_interval=None) as ws:
            latency = await asyncio.wait_for(await ws.ping(b"payload"), 5)
            assert latency >= 0
    run(main())


def test_websockets_client_close_codes(server):
    async def main():
        for code, reason in [(1000, "done"), (1001, "leaving"), (4321, "app code ✓")]:
            ws = await connect(f"ws://127.0.0.1:{server.port}/echo")
            await ws.close(code, reason)
            # the server echoes the code (RFC 6455 §5.5.1)
            assert ws.close_code == code
            assert ws.protocol.close_rcvd.code == code
    run(main())


def test_websockets_server_close_paths(server):
    async def main():
        for message, code, reason in [("close-me", 4000, "asked to"), ("raise", 1011, ""),
                                      ("return", 1000, "")]:
            async with connect(f"ws://127.0.0.1:{server.port}/echo") as ws:
                await ws.send(message)
                with pytest.raises(websockets.ConnectionClosed) as info:
                    await ws.recv()
                assert info.value.rcvd.code == code and info.value.rcvd.reason == reason
    run(main())


def test_websockets_too_big_is_1009(server):
    async def main():
        # (no ``async with``: websockets 17 fails closing a connection
        # the server already closed after an error)
        ws = await connect(f"ws://127.0.0.1:{server.port}/echo", compression=None, max_size=None)
        await ws.send(b"x" * (MiB16 + 1))
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd.code == 1009
    run(main())


def test_websockets_denied_handshakes(server):
    async def main():
        for path, status in [("/deny", 403), ("/deny-response", 401), ("/raise", 500)]:
            with pytest.raises(websockets.InvalidStatus) as info:
                await connect(f"ws://127.0.0.1:{server.port}{path}")
            assert info.value.response.status_code == status
    run(main())


# -- Node's ws --------------------------------------------------------------------

def node_client(port, plan, path="/echo"):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: .ci/run installs Node's ws client for these tests")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "ws")):
        pytest.fail("tests/websocket/node/node_modules/ws is missing: run `npm ci` there "
                    "(.ci/run does)")
    result = subprocess.run([node, os.path.join(NODE_DIR, "client.js"),
                             f"ws://127.0.0.1:{port}{path}", json.dumps(plan)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("deflate", [True, False], ids=["deflate", "no-compression"])
def test_node_ws_echo_from_0_bytes_to_16_mib(server, deflate):
    steps = [{"send": kind, "size": size} for size in SIZES for kind in ("text", "binary")]
    out = node_client(server.port, {"deflate": deflate, "steps": steps})
    assert out["extensions"] == ("permessage-deflate" if deflate else "")
    assert out["echoes"] == [{"kind": s["send"], "size": s["size"], "ok": True} for s in steps]
    assert out["close"]["code"] == 1000


def test_node_ws_fragments_and_pings(server):
    steps = [{"send": "text", "size": 100000, "fragments": 7},
             {"send": "binary", "size": 300000, "fragments": 3},
             {"ping": "one"}, {"ping": ""}]
    out = node_client(server.port, {"steps": steps})
    assert [e["ok"] for e in out["echoes"]] == [True, True]
    assert out["pongs"] == ["one", ""]


def test_node_ws_close_paths(server):
    out = node_client(server.port, {"steps": [{"close": 4100, "reason": "node says bye"}]})
    assert out["close"] == {"code": 4100, "reason": ""}
    out = node_client(server.port, {"steps": [{"text": "close-me"}, {"wait_close": True}]})
    assert out["close"] == {"code": 4000, "reason": "asked to"}
    out = node_client(server.port, {"steps": [{"text": "raise"}, {"wait_close": True}]})
    assert out["close"]["code"] == 1011


def test_node_ws_subprotocol(server):
    out = node_client(server.port, {"protocols": ["graphql-ws", "chat"], "steps": []})
    assert out["protocol"] == "graphql-ws"
