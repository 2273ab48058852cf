"""systemd's notify protocol (Type=notify, Type=notify-reload), against a
fake NOTIFY_SOCKET: a unix datagram socket the test binds and records.

READY=1 once the first generation accepts, RELOADING=1 with MONOTONIC_USEC
on HUP and READY=1 once the new generation is up (or the reload failed),
STOPPING=1 on TERM, STATUS= lines with the worker count and generation,
and WATCHDOG=1 every half WATCHDOG_USEC.
"""
import os
import signal
import socket
import time

import pytest

from conftest import MODES
from procs import get, wait_for, workers

NOTIFY_MODES = {name: ("work:app", flags) for name, flags in MODES.items()}
NOTIFY_MODES["asgi"] = ("work:asgi_app", [])


@pytest.fixture(scope="module", params=list(NOTIFY_MODES))
def mode(request):
    return request.param


class FakeSystemd:
    """Records the datagrams sent to NOTIFY_SOCKET, as systemd would get them."""

    def __init__(self, path, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"prefork-test-{os.getpid()}-{time.monotonic_ns()}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.sock.bind(path)
            self.address = path
        self.sock.settimeout(0.05)
        self.messages = []          # [(monotonic time received, {field: value})]

    def collect(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except (TimeoutError, BlockingIOError):
                return self.messages
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
            self.messages.append((time.monotonic(), fields))

    def wait_for(self, predicate, timeout=15.0, message="a notification"):
        return wait_for(lambda: [m for _, m in self.collect() if predicate(m)], timeout=timeout,
                        message=message)

    def close(self):
        self.sock.close()


@pytest.fixture
def systemd(tmp_path):
    fake = FakeSystemd(str(tmp_path / "notify"))
    yield fake
    fake.close()


def start(server_factory, mode, systemd, *flags, env=None, workers=2):
    app, mode_flags = NOTIFY_MODES[mode]
    return server_factory(app, "--workers", str(workers), *mode_flags, *flags,
                          env={"NOTIFY_SOCKET": systemd.address, **(env or {})})


def test_ready_reloading_and_stopping(server_factory, mode, systemd):
    server = start(server_factory, mode, systemd)
    ready = systemd.wait_for(lambda m: m.get("READY") == "1", message="READY=1")
    assert len(ready) == 1 and ready[0]["MAINPID"] == str(server.pid)
    assert ready[0]["STATUS"] == "2 workers, generation 1"
    assert len(workers(server.pid)) == 2      # every worker was up when it came
    assert get(server.port, "/fast")[0] == 200

    server.signal(signal.SIGHUP)
    systemd.wait_for(lambda m: m.get("READY") == "1" and "generation 2" in m.get("STATUS", ""),
                     message="READY=1 after the reload")
    fields = [m for _, m in systemd.messages]
    reloading = [m for m in fields if m.get("RELOADING") == "1"]
    assert len(reloading) == 1
    usec = int(reloading[0]["MONOTONIC_USEC"])
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert 0 < now - usec < 15_000_000      # CLOCK_MONOTONIC, as systemd reads it
    assert fields.index(reloading[0]) < len(fields) - 1     # READY came after it

    server.signal(signal.SIGTERM)
    assert server.proc.wait(15) == 0
    stopping = [m for _, m in systemd.collect() if m.get("STOPPING") == "1"]
    assert len(stopping) == 1 and "stopping" in stopping[0]["STATUS"]


def test_a_failed_reload_still_says_ready(server_factory, mode, systemd, tmp_path):
    """Type=notify-reload waits for READY=1 after RELOADING=1: a reload
    that fails (here: a config file that no longer parses) must send it too."""
    config = tmp_path / "prefork.conf.py"
    config.write_text("workers = 2\n")
    server = start(server_factory, mode, systemd, "-c", str(config))
    systemd.wait_for(lambda m: m.get("READY") == "1", message="READY=1")
    config.write_text("workers = 'many'\n")
    server.signal(signal.SIGHUP)
    failed = systemd.wait_for(lambda m: m.get("READY") == "1" and "failed" in m.get("STATUS", ""),
                              message="READY=1 after the failed reload")
    assert failed[0]["STATUS"] == "reload failed; 2 workers, generation 1 keep serving"
    assert get(server.port, "/fast")[0] == 200


def test_status_follows_the_worker_count(server_factory, systemd):
    server = start(server_factory, "inline", systemd)
    systemd.wait_for(lambda m: m.get("READY") == "1", message="READY=1")
    server.signal(signal.SIGTTIN)
    systemd.wait_for(lambda m: m.get("STATUS") == "3 workers, generation 1", message="STATUS")


def test_watchdog_pings_at_half_the_interval(server_factory, mode, systemd):
    server = start(server_factory, mode, systemd, env={"WATCHDOG_USEC": "400000"}, workers=1)
    systemd.wait_for(lambda m: m.get("READY") == "1", message="READY=1")
    began = time.monotonic()
    while time.monotonic() < began + 1.5:
        systemd.collect()               # times each datagram within 50 ms
    pings = [t for t, m in systemd.messages if m.get("WATCHDOG") == "1" and t >= began]
    assert len(pings) >= 5, pings
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    assert max(gaps) < 0.4, gaps            # never as late as the interval itself
    assert get(server.port, "/fast")[0] == 200


def test_watchdog_meant_for_another_process_is_ignored(server_factory, systemd):
    start(server_factory, "inline", systemd, env={"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"},
          workers=1)
    systemd.wait_for(lambda m: m.get("READY") == "1", message="READY=1")
    time.sleep(0.6)
    assert not [m for _, m in systemd.collect() if "WATCHDOG" in m]


def test_abstract_notify_socket(server_factory):
    fake = FakeSystemd(None, abstract=True)
    try:
        start(server_factory, "inline", fake, workers=1)
        fake.wait_for(lambda m: m.get("READY") == "1", message="READY=1 on @socket")
    finally:
        fake.close()


def test_no_notify_socket_by_default(server_factory):
    """Without NOTIFY_SOCKET nothing is sent and nothing breaks."""
    server = server_factory("work:app", "--workers", "1", env={"NOTIFY_SOCKET": ""})
    assert get(server.port, "/fast")[0] == 200
    server.signal(signal.SIGHUP)
    time.sleep(0.5)
    assert get(server.port, "/fast")[0] == 200
