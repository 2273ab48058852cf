"""Error and access logs. Each record is written with one write() call so
lines from several workers never interleave."""
import logging
import os
import sys


class LineHandler(logging.Handler):
    """Writes each formatted record as one write() to a file descriptor."""

    def __init__(self, target):
        super().__init__()
        self.target = target
        self.fd = self._open()

    def _open(self):
        if self.target in ("-", "stderr"):
            return sys.stderr.fileno()
        if self.target == "stdout":
            return sys.stdout.fileno()
        return os.open(self.target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def emit(self, record):
        try:
            line = (self.format(record) + "\n").encode("utf-8", "replace")
            os.write(self.fd, line)
        except Exception:
            self.handleError(record)


def setup_logging(settings):
    error = logging.getLogger("prefork.error")
    error.handlers[:] = []
    handler = LineHandler(settings.error_log)
    handler.setFormatter(logging.Formatter(
        "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s", "%Y-%m-%d %H:%M:%S %z"))
    error.addHandler(handler)
    error.setLevel(settings.log_level.upper())
    error.propagate = False
    access = logging.getLogger("prefork.access")
    access.handlers[:] = []
    access.propagate = False
    if settings.access_log:
        target = "stdout" if settings.access_log == "-" else settings.access_log
        access_handler = LineHandler(target)
        access_handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(access_handler)
        access.setLevel(logging.INFO)
    return error
