"""Workers are recycled after --max-requests (with jitter) or past
--max-worker-memory; the replacement accepts before the old one drains. In
every server mode (``mode``: inline, the default, and ``--threads``)."""

from conftest import MODES
from procs import Load, get, wait_for, workers


def test_max_requests_replaces_the_worker_without_failed_requests(server_factory, mode):
    server = server_factory("hello:app", "--workers", "1", "--max-requests", "50",
                            "--max-requests-jitter", "10", *MODES[mode])
    first = wait_for(lambda: workers(server.pid))[0]
    with Load(server.port, clients=2) as load:
        wait_for(lambda: workers(server.pid) and first not in workers(server.pid), timeout=10,
                 message="the worker replaced")
    assert load.failures == []
    log = server.output()
    assert "asking to be replaced" in log and f"worker 1 (pid {first}) exited with code 0" in log


def test_worker_past_max_memory_is_replaced(server_factory, mode):
    server = server_factory("hog:app", "--workers", "1", "--max-worker-memory", "60MB",
                            *MODES[mode])
    first = wait_for(lambda: workers(server.pid))[0]
    assert get(server.port, "/grow")[1] == str(first).encode()
    wait_for(lambda: workers(server.pid) and first not in workers(server.pid), timeout=10,
             message="the worker replaced")
    assert int(get(server.port)[1]) != first
    assert f"worker 1 (pid {first}) uses" in server.output()
