"""systemd: socket activation (sd_listen_fds(3)): the service manager binds
the sockets and passes them from fd 3 on, with LISTEN_PID naming the process
they are meant for and LISTEN_FDS their count; and the notify protocol
(sd_notify(3), Notifier)."""
import os

FIRST_FD = 3


def listen_fds(environ=os.environ):
    """The descriptors systemd passed to this process; the variables are
    removed so workers and re-executed masters do not take them again."""
    try:
        pid = int(environ.get("LISTEN_PID", ""))
        count = int(environ.get("LISTEN_FDS", ""))
    except ValueError:
        return []
    if pid != os.getpid() or count < 1:
        return []
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        environ.pop(name, None)
    return list(range(FIRST_FD, FIRST_FD + count))


class Notifier:
    """sd_notify(3) for Type=notify and Type=notify-reload: datagrams to the
    unix socket named by NOTIFY_SOCKET (a path, or "@name" for the abstract
    namespace). Without NOTIFY_SOCKET every method does nothing.

    The master sends: READY=1 once the first generation accepts, RELOADING=1
    with MONOTONIC_USEC on HUP and READY=1 when the reload ends (either way,
    so systemd never waits on it), STOPPING=1 on TERM, INT or QUIT, STATUS=
    lines with the worker count and generation, and WATCHDOG=1 every half
    WATCHDOG_USEC (when set for this process: WATCHDOG_PID, if given, is its
    pid). The variables stay in the environment: a master started by USR2
    notifies too (systemd takes its MAINPID message with NotifyAccess=all).
    """

    def __init__(self, environ=os.environ):
        import socket
        self.sock = None
        self.address = None
        self.watchdog_interval = 0.0
        self.next_ping = 0.0
        path = environ.get("NOTIFY_SOCKET", "")
        if path:
            self.address = "\0" + path[1:] if path.startswith("@") else path
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        pid = environ.get("WATCHDOG_PID", "")
        usec = environ.get("WATCHDOG_USEC", "")
        if self.sock is not None and usec.isdigit() and int(usec) > 0 \
                and (not pid or pid == str(os.getpid())):
            self.watchdog_interval = int(usec) / 2e6

    def send(self, *lines):
        if self.sock is None:
            return
        try:
            self.sock.sendto("\n".join(lines).encode("utf-8"), self.address)
        except OSError:
            pass                    # systemd gone or its queue full: nothing to do

    def ready(self, status):
        self.send("READY=1", f"MAINPID={os.getpid()}", f"STATUS={status}")

    def reloading(self):
        import time
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading")

    def stopping(self, status):
        self.send("STOPPING=1", f"STATUS={status}")

    def status(self, status):
        self.send(f"STATUS={status}")

    def ping(self, now):
        """WATCHDOG=1 when due; returns seconds until the next one (or None)."""
        if not self.watchdog_interval:
            return None
        if now >= self.next_ping:
            self.send("WATCHDOG=1")
            self.next_ping = now + self.watchdog_interval
        return self.next_ping - now

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
