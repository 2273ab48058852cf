"""systemd socket activation (sd_listen_fds(3)): the service manager binds
the sockets and passes them from fd 3 on, with LISTEN_PID naming the process
they are meant for and LISTEN_FDS their count."""
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
