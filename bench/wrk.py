"""Build wrk command lines and turn wrk's text report into numbers.

wrk prints latencies with a unit suffix (us, ms, s, m) and only prints the
"Socket errors" and "Non-2xx or 3xx responses" lines when they are non-zero,
so absent lines mean zero.
"""
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

PIPELINE_SCRIPT = Path(__file__).resolve().parent / "pipeline.lua"
_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_DURATION = r"([\d.]+)(us|ms|s|m|h)"


@dataclass
class WrkResult:
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: Optional[float] = None
    p99_ms: Optional[float] = None
    connect_errors: int = 0
    read_errors: int = 0
    write_errors: int = 0
    timeout_errors: int = 0
    non_2xx_3xx: int = 0

    @property
    def socket_errors(self):
        return self.connect_errors + self.read_errors + self.write_errors + self.timeout_errors

    def as_dict(self):
        return {**asdict(self), "socket_errors": self.socket_errors}


def wrk_path():
    return shutil.which("wrk")


def wrk_argv(url, seconds, connections, threads=1, pipeline=0, timeout_s=5):
    argv = [wrk_path() or "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
            f"--timeout={timeout_s}s", "--latency"]
    if pipeline:
        return argv + ["-s", str(PIPELINE_SCRIPT), url, "--", str(pipeline)]
    return argv + [url]


def _to_ms(value, unit):
    return float(value) * _UNIT_MS[unit]


def parse_wrk(text):
    """Numbers from wrk's stdout; raises ValueError if it ran no requests."""
    result = WrkResult()
    done = re.search(r"(\d+) requests in " + _DURATION, text)
    if not done:
        raise ValueError(f"wrk printed no request count:\n{text[-600:]}")
    result.requests = int(done.group(1))
    result.seconds = _to_ms(done.group(2), done.group(3)) / 1e3
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    result.rps = float(rps.group(1)) if rps else 0.0
    for pct, attr in (("50", "p50_ms"), ("99", "p99_ms")):
        found = re.search(rf"^\s+{pct}(?:\.0+)?%\s+{_DURATION}", text, re.M)
        # wrk prints 0.00us when it recorded no latency at all, which happens
        # when pipelined batches never complete (the server closed first).
        if found and float(found.group(1)) > 0:
            setattr(result, attr, _to_ms(found.group(1), found.group(2)))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if errors:
        (result.connect_errors, result.read_errors,
         result.write_errors, result.timeout_errors) = map(int, errors.groups())
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    result.non_2xx_3xx = int(bad.group(1)) if bad else 0
    return result
