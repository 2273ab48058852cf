"""CPU time and memory of a server's processes, read from /proc.

A server is every process in the sessions the runner started (each server
command is started with start_new_session, so its session id is its pid).
CPU time sums utime+stime+cutime+cstime: cutime/cstime hold the time of
workers that died and were reaped, so a worker recycled mid-run is still
counted, and a live child is never counted twice.
"""
import os
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# Processes that belong to a server but serve no requests.
HELPER_MARKERS = ("cache manager", "cache loader", "resource_tracker", "semaphore_tracker")


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    session: int
    cpu_ticks: int
    rss_bytes: int
    cmdline: str


def _read_proc(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
        with open(f"/proc/{pid}/statm") as f:
            rss_pages = int(f.read().split()[1])
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    ppid, session = int(fields[1]), int(fields[3])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ProcInfo(pid, ppid, session, utime + stime + cutime + cstime,
                    rss_pages * PAGE_SIZE, cmdline)


def session_processes(sessions):
    """Every live process whose session id is one of ``sessions``."""
    sessions = set(sessions)
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _read_proc(int(entry))
            if info and info.session in sessions:
                found.append(info)
    return found


def cpu_seconds(sessions):
    return sum(p.cpu_ticks for p in session_processes(sessions)) / CLOCK_TICKS


def workers(processes):
    """The processes that serve requests: leaves of each tree, minus helpers.

    A single-process server is its own worker; a master/worker server's
    master has children and so is left out.
    """
    parents = {p.ppid for p in processes}
    leaves = [p for p in processes if p.pid not in parents]
    return [p for p in leaves if not any(m in p.cmdline for m in HELPER_MARKERS)]


def rss_per_worker(sessions):
    """(mean RSS in bytes of the worker processes, how many there were)."""
    serving = workers(session_processes(sessions))
    if not serving:
        return 0, 0
    return sum(p.rss_bytes for p in serving) / len(serving), len(serving)


def private_bytes(pid):
    """Unique set size: the memory only this process holds (private clean +
    private dirty). RSS also counts pages a forked worker still shares with
    its master, which one more worker does not cost."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    return total


def uss_per_worker(sessions):
    """Mean unique set size in bytes of the worker processes."""
    serving = workers(session_processes(sessions))
    if not serving:
        return 0
    return sum(private_bytes(p.pid) for p in serving) / len(serving)


def machine_busy_seconds():
    """CPU seconds the whole machine spent not idle, from /proc/stat.

    With the server's and wrk's own CPU taken away, what is left is other
    load on the machine during a run: the figure that says whether a run was
    disturbed and should be repeated. irq and softirq time are left out:
    the kernel accounts loopback packet work there, to no process, so they
    grow with the benchmark's own traffic. steal (a hypervisor's other
    guests) counts, since it disturbs a run just the same.
    """
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = fields[:8]
    return (user + nice + system + steal) / CLOCK_TICKS
