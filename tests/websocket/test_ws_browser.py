"""A real browser: headless Chromium loads a page prefork serves (tests/apps/
ws_app.py), whose script opens a WebSocket to the same server, exchanges
text (with 2-, 3- and 4-byte characters), binary and a 100 KB message
(compressed: Chromium offers permessage-deflate), closes with its own code
and posts what it saw back to the app, where the test reads it."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from procs import get

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--no-default-browser-check", "--disable-extensions",
         "--mute-audio"]


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("Chromium is not installed: .ci/run installs the Debian package `chromium`")


def test_chromium_exchanges_messages_over_a_websocket(server_factory, tmp_path):
    server = server_factory("ws_app:app", "--workers", "1")
    browser = subprocess.Popen(
        [chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
         f"http://127.0.0.1:{server.port}/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        reports = []
        while time.monotonic() < deadline and not reports:
            assert browser.poll() is None, browser.stderr.read().decode(errors="replace")[-2000:]
            reports = json.loads(get(server.port, "/reports")[1])
            time.sleep(0.2)
        assert reports, "the page did not report within 60 s"
    finally:
        os.killpg(browser.pid, signal.SIGKILL)
        browser.wait(10)
    report = json.loads(reports[0])
    assert report["results"] == [
        "text:27:hello from the browser é中😀",      # 27 UTF-16 units
        "binary:0,1,2,255",
        "text:100000:" + "x" * 40,
    ]
    assert report["code"] == 4001           # the browser's own code, echoed (RFC 6455 §5.5.1)
    assert report["extensions"].startswith("permessage-deflate")
