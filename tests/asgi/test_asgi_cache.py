"""The shared response cache in front of an ASGI app: a hit never enters the
app, a miss fills it from the app's messages, unsafe methods invalidate, a
stale entry is refreshed in the background, concurrent misses make one call."""
import threading
import time

import pytest

from wire import app_stats, read_response


@pytest.fixture(scope="module")
def server(module_server_factory):
    return module_server_factory("asgi_probe:app", "--workers", "1", "--cache-size", "8MB",
                                 "--cache-x-header")


def get(server, path, method="GET"):
    with server.connect() as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        return read_response(sock.makefile("rb"), method=method)


def test_a_hit_does_not_enter_the_app(server):
    first = get(server, "/cached?id=1")
    calls = app_stats(server)["calls"]
    second = get(server, "/cached?id=1")
    assert first.header("x-cache") == "MISS" and second.header("x-cache") == "HIT"
    assert second.body == first.body
    assert app_stats(server)["calls"] == calls             # (/stats is not counted)
    assert int(second.header("age")) >= 0


def test_an_unsafe_method_invalidates_the_entry(server):
    get(server, "/cached?id=2")
    assert get(server, "/cached?id=2").header("x-cache") == "HIT"
    get(server, "/cached?id=2", method="POST")
    assert get(server, "/cached?id=2").header("x-cache") == "MISS"


def test_stale_while_revalidate_answers_at_once_and_refreshes_through_the_app(server):
    path = "/cached?id=3&age=1&swr=30&delay=0.5"
    first = get(server, path)
    time.sleep(1.2)
    started = time.monotonic()
    stale = get(server, path)
    assert time.monotonic() - started < 0.3
    assert stale.header("x-cache") == "STALE" and stale.body == first.body
    time.sleep(1.0)                                  # the refresh ran through the app
    fresh = get(server, path)
    assert fresh.header("x-cache") == "HIT" and fresh.body != first.body


def test_concurrent_misses_make_one_app_call(server):
    before = app_stats(server)["cached"]
    bodies = []

    def one():
        bodies.append(get(server, "/cached?id=4&delay=0.5").body)

    threads = [threading.Thread(target=one) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(bodies) == 10 and len(set(bodies)) == 1
    assert app_stats(server)["cached"] == before + 1
