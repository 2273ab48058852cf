"""Invalidations across hosts through Redis (--cache-redis): a real
redis-server on loopback and two prefork servers standing for two hosts of
one site (same Host field, same channel). What one host invalidates is
gone from the other within milliseconds; a host that loses Redis keeps
serving, says so once, and drops its caches when it gets back."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import free_port, run_cli
from procs import alive, ask, children, wait_for

APP = "shared_app:app"
HOST = "shop.example"

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server is not installed (.ci/run installs it)")


class RedisServer:
    """redis-server on loopback, no persistence, stopped by the test."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(self.ping, timeout=10, message="redis-server to answer PING")

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


def fetch(server, path, method="GET", headers=None):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request(method, path, headers=dict({"Host": HOST}, **(headers or {})))
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def x_cache(server, path):
    return fetch(server, path)[1]["x-cache"]


def fill(server, *paths):
    for path in paths:
        fetch(server, path)
        assert x_cache(server, path) == "HIT", path


def dropped(server, path, timeout=2.0):
    """Within ``timeout``, the entry of ``path`` is gone (the first miss proves it)."""
    return wait_for(lambda: x_cache(server, path) == "MISS", timeout=timeout, interval=0.01,
                    message=f"{path} dropped")


def start_hosts(server_factory, redis_server, *flags):
    flags = ("--workers", "2", "--cache-size", "8MB", "--cache-x-header",
             "--cache-redis", redis_server.url) + flags
    a, b = server_factory(APP, *flags), server_factory(APP, *flags)
    for host in (a, b):
        wait_for(lambda: "cache invalidations go through Redis" in host.output(), timeout=10,
                 message="the relay subscribed")
    return a, b


def test_a_post_on_one_host_drops_the_entry_on_the_other(server_factory, redis_server):
    a, b = start_hosts(server_factory, redis_server)
    fill(b, "/tagged/post-1")
    fill(a, "/tagged/post-1")
    assert fetch(a, "/tagged/post-1", "POST")[0] == 200
    assert x_cache(a, "/tagged/post-1") == "MISS"          # dropped here at once
    dropped(b, "/tagged/post-1")


def test_purges_tag_purges_and_app_writes_reach_the_other_host(server_factory, redis_server):
    a, b = start_hosts(server_factory, redis_server)
    fill(b, "/tagged/uri-1", "/tagged/t-1?tags=product-42", "/tagged/t-2?tags=product-43")
    assert fetch(a, "/tagged/uri-1", "PURGE")[0] == 404     # A had no entry: B drops it still
    dropped(b, "/tagged/uri-1")
    assert json.loads(fetch(a, "/", "PURGE", {"Cache-Tag": "product-42"})[2]) == {"purged": 0}
    dropped(b, "/tagged/t-1?tags=product-42")
    assert x_cache(b, "/tagged/t-2?tags=product-43") == "HIT"

    ask(b, "/set?key=k1&value=v")
    ask(a, "/delete?key=k1")
    wait_for(lambda: ask(b, "/get?key=k1")["value"] is None, timeout=2, interval=0.01,
             message="k1 deleted on B")
    ask(b, "/set?key=k2&value=v")
    ask(a, "/set?key=k2&value=w")                        # a write elsewhere drops it here
    wait_for(lambda: ask(b, "/get?key=k2")["value"] is None, timeout=2, interval=0.01,
             message="k2 dropped on B")
    ask(b, "/square?n=3")
    assert ask(b, "/square-info")["info"][3] == 1
    ask(a, "/square-clear")
    wait_for(lambda: ask(b, "/square-info")["info"][3] == 0, timeout=2, interval=0.01,
             message="square cleared on B")


def relay_pid(server):
    found = [pid for pid in children(server.pid) if "cache relay" in open(f"/proc/{pid}/cmdline").read()]
    return found[0] if found else None


def test_a_host_that_loses_redis_keeps_serving_and_drops_its_caches_on_return(
        server_factory, redis_server):
    a, b = start_hosts(server_factory, redis_server)
    fill(b, "/tagged/kept-1")
    ask(b, "/set?key=kept&value=v")
    redis_server.stop()
    wait_for(lambda: "cannot reach Redis" in b.output(), timeout=5, message="the loss logged")
    assert x_cache(b, "/tagged/kept-1") == "HIT"           # still serving from its cache
    assert fetch(a, "/tagged/other", "POST")[0] == 200      # A serves its writes too
    time.sleep(1.5)                                         # several reconnection attempts
    assert b.output().count("cannot reach Redis") == 1
    redis_server.start()
    wait_for(lambda: "reconnected to Redis" in b.output(), timeout=10, message="the reconnection")
    assert "dropped this host's caches" in b.output()
    assert x_cache(b, "/tagged/kept-1") == "MISS"
    assert ask(b, "/get?key=kept")["value"] is None
    wait_for(lambda: "reconnected to Redis" in a.output(), timeout=10, message="A reconnected")
    fill(b, "/tagged/after-1")                              # and invalidations flow again
    fetch(a, "/tagged/after-1", "POST")
    dropped(b, "/tagged/after-1")


def test_a_relay_that_dies_is_restarted(server_factory, redis_server):
    a, b = start_hosts(server_factory, redis_server)
    first = wait_for(lambda: relay_pid(b), message="B's relay")
    subscribed = b.output().count("cache invalidations go through Redis")
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: relay_pid(b) not in (None, first), timeout=10, message="a new relay")
    wait_for(lambda: "reconnected to Redis" in b.output(), timeout=10, message="it subscribed")
    assert subscribed == 1 and not alive(first)
    fill(b, "/tagged/relay-1")
    fetch(a, "/tagged/relay-1", "POST")
    dropped(b, "/tagged/relay-1")


def test_a_bad_redis_url_is_a_one_line_error():
    out = run_cli("hello:app", "--cache-redis", "127.0.0.1:6379", "--check-config")
    assert out.returncode == 2 and "--cache-redis" in out.stderr and "redis://" in out.stderr
    assert out.stderr.strip().count("\n") == 0
