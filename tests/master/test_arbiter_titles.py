"""Process titles show the role, the app and the state (/proc/PID/cmdline)."""
import http.client
import signal
import threading
import time

from procs import cmdline, serving_workers, wait_for, workers


def test_titles_name_the_role_and_the_app(server_factory):
    server = server_factory("hello:app", "--workers", "2")
    assert cmdline(server.pid) == "prefork-serve: master [hello:app]"
    pids = wait_for(lambda: len(serving_workers(server.pid)) == 2 and workers(server.pid))
    assert sorted(cmdline(pid) for pid in pids) == [
        "prefork-serve: worker 1 [hello:app]", "prefork-serve: worker 2 [hello:app]"]


def test_titles_show_a_worker_booting_until_it_serves(server_factory):
    server = server_factory("slow_import:app", "--workers", "1", env={"IMPORT_DELAY": "1.5"},
                            wait=False)
    worker = wait_for(lambda: workers(server.pid))[0]
    assert cmdline(worker) == "prefork-serve: worker 1 [slow_import:app] (booting)"
    wait_for(lambda: cmdline(worker) == "prefork-serve: worker 1 [slow_import:app]",
             timeout=10, message="the plain title once the worker serves")


def test_titles_show_reloading_and_stopping(server_factory):
    server = server_factory("slow_import:app", "--workers", "1", "--threads", "2",
                            env={"IMPORT_DELAY": "1.5"})
    old = wait_for(lambda: workers(server.pid))[0]
    server.signal(signal.SIGHUP)
    wait_for(lambda: cmdline(server.pid) == "prefork-serve: master [slow_import:app] (reloading)",
             timeout=3, interval=0.02, message="the reloading title")
    wait_for(lambda: cmdline(server.pid) == "prefork-serve: master [slow_import:app]",
             timeout=5, message="the plain title after the reload")


def test_titles_show_stopping_while_requests_finish(server_factory):
    server = server_factory("probe:app", "--workers", "1", "--threads", "2")
    worker = wait_for(lambda: workers(server.pid))[0]

    def slow():
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/sleep?s=1.5")
        conn.getresponse().read()
        conn.close()
    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.3)                 # the request reaches the app
    server.signal(signal.SIGTERM)
    wait_for(lambda: cmdline(server.pid) == "prefork-serve: master [probe:app] (stopping)",
             timeout=3, interval=0.02, message="the master's stopping title")
    wait_for(lambda: cmdline(worker) == "prefork-serve: worker 1 [probe:app] (stopping)",
             timeout=3, interval=0.02, message="the worker's stopping title")
    thread.join(10)
    assert server.proc.wait(10) == 0
