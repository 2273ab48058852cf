"""USR2: start a new master from the current code, handing it the listening
sockets (their descriptors in PREFORK_INHERIT_FDS), while this master keeps
serving. Then WINCH stops this master's workers and TERM ends it; if the new
master dies first, this one carries on as before."""
import os
import sys

from prefork.master import pidfile
from prefork.master.reload import INHERIT_ENV


def spawn_new_master(arbiter):
    """Returns the new master's pid (None if it could not be started)."""
    fds = [sock.fileno() for sock in arbiter.listeners]
    env = dict(os.environ, **{INHERIT_ENV: ",".join(map(str, fds))})
    pidfile.rename_to_oldbin(arbiter.settings.pid)
    try:
        import subprocess       # only the master that upgrades needs it
        proc = subprocess.Popen([sys.executable, "-m", "prefork", *arbiter.argv],
                                env=env, pass_fds=fds, cwd=arbiter.start_dir)
    except OSError as exc:
        arbiter.log.error("upgrade failed: cannot start a new master: %s", exc)
        pidfile.restore_from_oldbin(arbiter.settings.pid)
        return None
    arbiter.log.info("upgrade: new master started (pid %d); WINCH stops these workers, "
                     "TERM stops this master", proc.pid)
    return proc.pid


def new_master_exited(arbiter, how):
    arbiter.log.warning("upgrade: new master (pid %d) %s; this master keeps serving",
                        arbiter.upgrade_pid, how)
    arbiter.upgrade_pid = None
    pidfile.restore_from_oldbin(arbiter.settings.pid)
    arbiter.idle = False
    arbiter.set_title()
