"""Error and access logs. Each record is written with one write() call so
lines from several workers never interleave; USR1 reopens the files (after
logrotate has renamed them).

Access lines come from ``logging.getLogger("prefork.access")``. A record
carries its fields either as ``extra={"access": {field: value}}`` (the
complete form) or as the positional args (remote, time, method, target,
version, status, bytes). ``--access-log-format`` picks combined (Apache's
combined log format), common, json, or a template of ``{field}`` names.
"""
import logging
import os
import string
import sys

FIELDS = ("remote", "time", "method", "target", "version", "status", "bytes",
          "referer", "user_agent", "duration_ms", "cache", "pid")
_POSITIONAL = FIELDS[:7]
TEMPLATES = {
    "common": '{remote} - - [{time}] "{method} {target} {version}" {status} {bytes}',
    "combined": '{remote} - - [{time}] "{method} {target} {version}" {status} {bytes} '
                '"{referer}" "{user_agent}"',
}
# Apache's rule: a quote, a backslash and every byte outside printable ASCII
# are escaped, so a request line cannot forge a second log line or field.
_ESCAPES = {c: f"\\x{c:02x}" for c in list(range(0x20)) + list(range(0x7f, 0x100))}
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\"})


def check_access_format(text):
    """combined, common, json, or a template naming only known fields."""
    if text in TEMPLATES or text == "json":
        return text
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError:
        raise ValueError(text) from None
    if not names or any(name not in FIELDS for name in names):
        raise ValueError(text)
    return text


class AccessFormatter(logging.Formatter):
    def __init__(self, access_format):
        super().__init__()
        self.json = access_format == "json"
        if self.json:
            import json     # loaded only by the processes that log JSON
            self.dumps = json.dumps
        self.template = TEMPLATES.get(access_format, access_format)

    def fields(self, record):
        given = getattr(record, "access", None)
        if given is None:
            args = record.args if isinstance(record.args, tuple) else ()
            given = dict(zip(_POSITIONAL, args))
        values = {name: given.get(name) for name in FIELDS}
        values["pid"] = record.process
        return values

    def format(self, record):
        values = self.fields(record)
        if self.json:
            return self.dumps(values, ensure_ascii=True, separators=(",", ":"))
        shown = {}
        for name, value in values.items():
            if value is None or value == "" or (name == "bytes" and value == 0):
                shown[name] = "-"
            else:
                shown[name] = str(value).translate(_ESCAPES)
        return self.template.format(**shown)


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
        return os.open(self.target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def reopen(self):
        """Open the path again (it may have been renamed) and switch to it."""
        if self.target in ("-", "stderr", "stdout"):
            return
        fd = self._open()
        # dup2 keeps the descriptor number, so nothing holding it goes stale.
        os.dup2(fd, self.fd, inheritable=False)
        os.close(fd)

    def emit(self, record):
        try:
            line = (self.format(record) + "\n").encode("utf-8", "replace")
            os.write(self.fd, line)
        except Exception:
            self.handleError(record)


def setup_logging(settings):
    error = logging.getLogger("prefork.error")
    _close_handlers(error)
    handler = LineHandler(settings.error_log)
    handler.setFormatter(logging.Formatter(
        "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s", "%Y-%m-%d %H:%M:%S %z"))
    error.addHandler(handler)
    error.setLevel(settings.log_level.upper())
    error.propagate = False
    access = logging.getLogger("prefork.access")
    _close_handlers(access)
    access.propagate = False
    if settings.access_log:
        target = "stdout" if settings.access_log == "-" else settings.access_log
        access_handler = LineHandler(target)
        access_handler.setFormatter(AccessFormatter(settings.access_log_format))
        access.addHandler(access_handler)
        access.setLevel(logging.INFO)
    return error


def _close_handlers(logger):
    for handler in logger.handlers:
        if isinstance(handler, LineHandler) and handler.fd > 2:
            os.close(handler.fd)
    logger.handlers[:] = []


def reopen_logs():
    for name in ("prefork.error", "prefork.access"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, LineHandler):
                handler.reopen()
