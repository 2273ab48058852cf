"""python -m bench: start each server fresh, load it with wrk, write the report.

    python -m bench [--servers a,b] [--apps a,b] [--configs a,b]
                    [--repeats N] [--duration S] [--quick]

Results land in bench/results/ as <stamp>.md, <stamp>.json and <stamp>.png,
plus latest.* copies of the three. See bench/README.md for how to read them.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.apps import APPS
from bench.report import markdown, summarize, write_png
from bench.runner import bench_configs, interleaved_plan, raise_open_files_limit, run_plan
from bench.servers import DEFAULT_SERVERS, SERVERS, venv_tool
from bench.wrk import wrk_path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
QUICK = {"repeats": 1, "duration": 2, "warmup": 1}


def _names(text, known, what):
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown {what} {', '.join(unknown)}; expected some of: {', '.join(known)}")
    return names


def parse_args(argv):
    configs = bench_configs()
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--servers", default=",".join(DEFAULT_SERVERS), help="comma-separated: %(default)s")
    p.add_argument("--apps", default=",".join(APPS), help="comma-separated: %(default)s")
    p.add_argument("--configs", default=",".join(configs), help="comma-separated: %(default)s")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats (default %(default)s)")
    p.add_argument("--duration", type=int, default=10, help="seconds of wrk per run (default %(default)s)")
    p.add_argument("--warmup", type=int, default=1,
                   help="seconds of wrk before each run (default %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke-size run: {QUICK['repeats']} repeat of {QUICK['duration']} s")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.duration, args.warmup = QUICK["repeats"], QUICK["duration"], QUICK["warmup"]
    args.servers = _names(args.servers, SERVERS, "server")
    args.apps = _names(args.apps, APPS, "app")
    args.configs = [configs[n] for n in _names(args.configs, configs, "config")]
    return args


def _version(argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def _machine():
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{model}, {os.cpu_count()} CPUs, Linux {platform.release()}, Python {platform.python_version()}"


def _peer_versions(names):
    python = venv_tool("python")
    code = ("import importlib.metadata as m\nfor n in %r:\n"
            "    try: print(n, m.version(n))\n    except Exception: pass") % (names,)
    found = dict(line.split(" ", 1) for line in _version_lines([str(python), "-c", code]))
    if shutil.which("prefork-serve"):
        from importlib import metadata
        try:
            found["prefork"] = metadata.version("prefork")
        except metadata.PackageNotFoundError:
            pass
    found["wrk"] = _version(["wrk", "-v"]).split(" [")[0].replace("wrk ", "")
    found["nginx"] = _version(["nginx", "-v"]).split("/")[-1]
    return found


def _version_lines(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.splitlines()
    except OSError:
        return []


def choose_servers(names):
    """(runnable servers, {name: why it was skipped})."""
    runnable, skipped = [], {}
    for name in names:
        reason = SERVERS[name].needs()
        if reason:
            skipped[name] = reason
        else:
            runnable.append(SERVERS[name])
    return runnable, skipped


def write_results(records, meta):
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(meta["started_epoch"]))
    rows = summarize(records)
    paths = {ext: RESULTS_DIR / f"{stamp}.{ext}" for ext in ("md", "json", "png")}
    paths["json"].write_text(json.dumps({"meta": meta, "summary": rows, "runs": records}, indent=1))
    problem = write_png(paths["json"], paths["png"])
    if problem:
        meta["skipped"]["chart"] = problem
    paths["md"].write_text(markdown(rows, meta))
    for ext, path in paths.items():
        if path.exists():
            shutil.copyfile(path, RESULTS_DIR / f"latest.{ext}")
    return paths


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not wrk_path() or not shutil.which("taskset"):
        raise SystemExit("wrk and taskset are needed: run bench/install_peers.sh")
    raise_open_files_limit()
    servers, skipped = choose_servers(args.servers)
    for name, why in skipped.items():
        print(f"skipping {name}: {why}")
    apps = [APPS[n] for n in args.apps]
    meta = {"started": time.strftime("%Y-%m-%d %H:%M"), "started_epoch": time.time(),
            "machine": _machine(), "duration_s": args.duration, "warmup_s": args.warmup,
            "repeats": args.repeats, "apps": args.apps, "skipped": skipped,
            "configs": [{**vars(c), "apps": sorted(c.apps) if c.apps else None} for c in args.configs],
            "versions": _peer_versions(["gunicorn", "granian", "waitress", "uvicorn", "httptools",
                                        "uvloop", "bjoern", "meinheld", "flask"])}
    meta["servers"] = {s.name: f"{meta['versions'].get(s.name.split('-')[0], '')} {s.notes}".strip()
                       for s in servers}
    plan = list(interleaved_plan(servers, apps, args.configs, args.repeats))
    print(f"{len(plan)} runs of {args.duration} s (+{args.warmup} s warm-up)")
    records = run_plan(plan, args.duration, args.warmup)
    paths = write_results(records, meta)
    print("\n".join(f"wrote {p}" for p in paths.values() if p.exists()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
