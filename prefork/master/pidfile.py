"""The master's pid file (``--pid``). On USR2 the old master renames its
file to ``FILE.oldbin`` so the new master can write ``FILE`` (as nginx does);
if the new master dies, the old one takes the name back."""
import os


def write(path, pid=None):
    if not path:
        return
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{pid or os.getpid()}\n")
    os.replace(tmp, path)           # readers never see a half-written file


def remove(path, pid):
    """Remove the file if it still names ``pid`` (a successor may own it)."""
    for name in (path, f"{path}.oldbin") if path else ():
        try:
            with open(name) as f:
                if int(f.read().strip() or 0) != pid:
                    continue
            os.unlink(name)
        except (OSError, ValueError):
            pass


def rename_to_oldbin(path):
    if path:
        try:
            os.replace(path, f"{path}.oldbin")
        except OSError:
            pass


def restore_from_oldbin(path):
    if path:
        try:
            os.replace(f"{path}.oldbin", path)
        except OSError:
            pass
