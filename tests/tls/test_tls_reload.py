"""Certificate rotation: HUP reads the certificate and key again (as after
certbot renews them), new connections get the new certificate while
connections already open finish on the old one, and a certificate that
does not load keeps the old one serving, with the reason in the log.
"""
import shutil
import signal
import threading
import time

import pytest

from certs import SERIAL_FIRST, SERIAL_SECOND, served_serial, tls_connect
from procs import get, serving_workers, wait_for, workers
from wire import read_response


@pytest.fixture
def live_certs(certs, tmp_path):
    """Copies of the first certificate and key where a reload reads them."""
    cert, key = tmp_path / "live.pem", tmp_path / "live.key"
    shutil.copy(certs.cert, cert)
    shutil.copy(certs.key, key)
    return cert, key


def start(server_factory, certs, live_certs, *flags):
    """The server, once both workers serve (the tests compare them before
    and after a reload)."""
    cert, key = live_certs
    server = server_factory("probe:app", "--workers", "2", "--certfile", str(cert),
                            "--keyfile", str(key), *flags, tls=certs.client_context())
    wait_for(lambda: len(serving_workers(server.pid)) == 2, message="2 workers serving")
    return server


def reloaded(server, times):
    return lambda: server.output().count("reload complete") == times


def test_hup_serves_the_renewed_certificate_without_dropping_connections(
        server_factory, certs, live_certs):
    server = start(server_factory, certs, live_certs)
    context = certs.client_context()
    assert served_serial(server.port, context) == SERIAL_FIRST
    old_workers = set(workers(server.pid))
    # A request in flight and a kept-alive connection, on the old certificate.
    results = []
    slow = threading.Thread(target=lambda: results.append(get(server, "/sleep?s=1.5", timeout=10)))
    slow.start()
    kept = tls_connect(server.port, context)
    reader = kept.makefile("rb")
    kept.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
    assert read_response(reader).status == 200
    time.sleep(0.3)
    shutil.copy(certs.cert2, live_certs[0])
    shutil.copy(certs.key2, live_certs[1])
    server.signal(signal.SIGHUP)
    wait_for(reloaded(server, 1), message="the reload")
    assert served_serial(server.port, context) == SERIAL_SECOND
    # The connection opened before it is still served (its worker drains).
    kept.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
    assert read_response(reader).status == 200
    kept.close()
    slow.join(10)
    assert results and results[0][0] == 200
    wait_for(lambda: not old_workers & set(workers(server.pid)), message="the old workers gone")


@pytest.mark.parametrize("damage", ["broken-certificate", "wrong-key", "missing-key"])
def test_a_bad_certificate_on_hup_keeps_the_old_one_serving(server_factory, certs, live_certs,
                                                             damage):
    server = start(server_factory, certs, live_certs)
    context = certs.client_context()
    before = set(workers(server.pid))
    cert, key = live_certs
    if damage == "broken-certificate":
        shutil.copy(certs.broken, cert)
    elif damage == "wrong-key":
        shutil.copy(certs.cert2, cert)          # the new certificate, the old key
    else:
        key.unlink()
    server.signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in server.output(), message="the failed reload")
    log = server.output()
    line = next(line for line in log.splitlines() if "reload failed" in line)
    assert ("--certfile" in line or "--keyfile" in line) and "old workers keep serving" in line
    assert set(workers(server.pid)) == before
    assert served_serial(server.port, context) == SERIAL_FIRST
    # Fixed, the next HUP takes the new certificate.
    shutil.copy(certs.cert2, cert)
    shutil.copy(certs.key2, key)
    server.signal(signal.SIGHUP)
    wait_for(reloaded(server, 1), message="the reload")
    assert served_serial(server.port, context) == SERIAL_SECOND
