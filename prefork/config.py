"""The settings table: every setting is declared once, here.

From each declaration come its command-line flag, its ``PREFORK_*``
environment variable and its line in the README's settings reference
(``python -m prefork.config`` prints that reference). Precedence:
defaults < environment < command line.

A bad value raises ConfigError with one line naming the setting, the value
and the expected form.
"""
import argparse
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional


class ConfigError(Exception):
    """A setting has a value of the wrong form."""


def positive_int(text):
    value = int(text)
    if value < 1:
        raise ValueError
    return value


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise ValueError
    return value


def positive_float(text):
    value = float(text)
    if not value > 0:
        raise ValueError
    return value


_SIZE = re.compile(r"^\s*(\d+)\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1 << 20, "mb": 1 << 20,
          "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}


def size(text):
    """Bytes, with an optional unit: 1048576, 64KB, 10MB, 1GB (powers of 1024)."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def log_level(text):
    level = str(text).lower()
    if level not in ("debug", "info", "warning", "error", "critical"):
        raise ValueError
    return level


@dataclass(frozen=True)
class Setting:
    name: str                       # attribute name; flag is --name-with-dashes
    default: Any
    parse: Callable[[str], Any]
    expected: str                   # the expected form, for error messages
    help: str
    section: str
    multiple: bool = False          # the flag may be repeated
    short: Optional[str] = None

    @property
    def flag(self):
        return "--" + self.name.replace("_", "-")

    @property
    def env(self):
        return "PREFORK_" + self.name.upper()


SETTINGS = [
    Setting("bind", ["127.0.0.1:8000"], str, "HOST:PORT, [IPV6]:PORT or unix:PATH",
            "Address to listen on; repeat for several.", "server", multiple=True, short="-b"),
    Setting("workers", 1, positive_int, "an integer >= 1",
            "Number of worker processes.", "server", short="-w"),
    Setting("threads", 1, positive_int, "an integer >= 1",
            "App threads per worker; 1 runs the app inline in the event loop.", "server"),
    Setting("backlog", 2048, positive_int, "an integer >= 1",
            "Listen queue length.", "server"),
    Setting("max_connections", 1000, positive_int, "an integer >= 1",
            "Open connections per worker; accepting pauses while full.", "server"),
    Setting("max_keepalive_requests", 0, non_negative_int, "an integer >= 0",
            "Requests served on one connection before it is closed (0: no limit).", "server"),
    Setting("root_path", "", str, "a path such as /api",
            "SCRIPT_NAME for the app when it is mounted below the site root.", "server"),
    Setting("server_header", "", str, "a product name, or empty for none",
            "Value of the Server response header (empty: no header).", "server"),
    Setting("graceful_timeout", 30.0, positive_float, "seconds > 0",
            "How long a graceful shutdown waits for in-flight requests.", "server"),
    Setting("keepalive_timeout", 5.0, positive_float, "seconds > 0",
            "Idle time after which a keep-alive connection is closed.", "timeouts"),
    Setting("header_timeout", 10.0, positive_float, "seconds > 0",
            "Time allowed to receive a whole request head (408 after it).", "timeouts"),
    Setting("body_timeout", 30.0, positive_float, "seconds > 0",
            "Time allowed between two reads of a request body (408 after it).", "timeouts"),
    Setting("send_timeout", 30.0, positive_float, "seconds > 0",
            "Time allowed between two writes of a response before the connection is closed.",
            "timeouts"),
    Setting("limit_request_line", 8190, positive_int, "an integer >= 1",
            "Longest request line in bytes (414 beyond).", "limits"),
    Setting("limit_request_field_size", 8190, positive_int, "an integer >= 1",
            "Longest header field line in bytes (431 beyond).", "limits"),
    Setting("limit_request_headers_size", 65536, positive_int, "an integer >= 1",
            "Largest request head in bytes (431 beyond).", "limits"),
    Setting("limit_request_fields", 100, positive_int, "an integer >= 1",
            "Most header fields in a request (431 beyond).", "limits"),
    Setting("limit_request_body", 1 << 30, size, "a size such as 10MB, or 0 for no limit",
            "Largest request body (413 beyond).", "limits"),
    Setting("body_spool_threshold", 1 << 20, size, "a size such as 1MB",
            "Request bodies larger than this wait in a temporary file.", "limits"),
    Setting("log_level", "info", log_level, "debug, info, warning, error or critical",
            "Error log level.", "logging"),
    Setting("access_log", "", str, "a file path, - for stdout, or empty for none",
            "Where to write the access log.", "logging"),
    Setting("error_log", "-", str, "a file path or - for stderr",
            "Where to write the error log.", "logging"),
]

BY_NAME = {setting.name: setting for setting in SETTINGS}


class Settings:
    """The effective settings: one attribute per declaration."""

    def __init__(self, **values):
        for setting in SETTINGS:
            default = setting.default
            setattr(self, setting.name, list(default) if isinstance(default, list) else default)
        for name, value in values.items():
            setattr(self, name, value)

    def as_dict(self):
        return {setting.name: getattr(self, setting.name) for setting in SETTINGS}


def convert(setting, raw, source):
    """Parse one raw value; ConfigError names the setting and the form."""
    try:
        return setting.parse(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: invalid value {raw!r}; expected {setting.expected}") from None


def from_environment(settings, environ=os.environ):
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        if raw is None:
            continue
        if setting.multiple:
            value = [convert(setting, part, setting.env) for part in raw.split(",") if part]
        else:
            value = convert(setting, raw, setting.env)
        setattr(settings, setting.name, value)


def add_arguments(parser):
    """Add one flag per setting to an argparse parser."""
    for setting in SETTINGS:
        names = [setting.flag] + ([setting.short] if setting.short else [])
        parser.add_argument(*names, dest=setting.name, metavar=setting.name.upper(),
                            action="append" if setting.multiple else "store",
                            default=None, help=f"{setting.help} Default: {setting.default!r}.")


def from_arguments(settings, namespace):
    for setting in SETTINGS:
        raw = getattr(namespace, setting.name, None)
        if raw is None:
            continue
        if setting.multiple:
            value = [convert(setting, item, setting.flag) for item in raw]
        else:
            value = convert(setting, raw, setting.flag)
        setattr(settings, setting.name, value)


def reference():
    """The settings reference, as Markdown (for the README)."""
    lines = ["| flag | environment | default | expected | meaning |",
             "|---|---|---|---|---|"]
    for s in SETTINGS:
        lines.append(f"| `{s.flag}` | `{s.env}` | `{s.default!r}` | {s.expected} | {s.help} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference())
