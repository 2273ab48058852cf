"""Start bjoern or meinheld, which have no command line of their own.

    python -m bench.launch bjoern|meinheld MODULE:APP PORT WORKERS BACKLOG

With one worker the server runs in this process. With more, this process
binds once, forks the workers, waits for them, and stops them on SIGTERM, so
the runner can treat it like any master/worker server.
"""
import importlib
import os
import signal
import sys


def load(target):
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def listen_bjoern(app, port, backlog):
    import bjoern
    bjoern.listen(app, "127.0.0.1", port, listen_backlog=backlog)
    return bjoern.run


def listen_meinheld(app, port, backlog):
    from meinheld import server
    server.set_backlog(backlog)
    server.listen(("127.0.0.1", port))
    return lambda: server.run(app)


def supervise(children):
    def forward(signum, frame):
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for pid in children:
        while True:
            try:
                _, code = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        status = status or os.waitstatus_to_exitcode(code)
    return status


def main(argv):
    kind, target, port, workers, backlog = argv
    listen = {"bjoern": listen_bjoern, "meinheld": listen_meinheld}[kind]
    run = listen(load(target), int(port), int(backlog))
    if int(workers) == 1:
        run()
        return 0
    children = []
    for _ in range(int(workers)):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                run()
            finally:
                os._exit(0)
        children.append(pid)
    return supervise(children)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
