"""Turn run records into the Markdown table, the JSON file and the PNG chart.

Every figure is a median over the repeats of one (config, app, server), with
req/s also given as min-max. matplotlib is imported only inside write_png: the
main environment may lack it, in which case the chart is drawn by the bench
venv's interpreter (``python -m bench.report RESULTS.json CHART.png``).
"""
import json
import statistics
import subprocess
import sys
from pathlib import Path

BASELINE, CEILING = "gunicorn-sync", "nginx"
MEDIAN_FIELDS = ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "rss_mib_per_worker",
                 "uss_mib_per_worker", "other_cpu_pct")
SUM_FIELDS = ("socket_errors", "connect_errors", "read_errors", "write_errors",
              "timeout_errors", "non_2xx_3xx", "requests")


def _median(values):
    values = [v for v in values if v is not None and v == v]   # drop None and NaN
    return statistics.median(values) if values else None


def summarize(records):
    """One row per (config, app, server), in the order the runs happened."""
    groups = {}
    for r in records:
        groups.setdefault((r["config"], r["app"], r["server"]), []).append(r)
    rows = []
    for (config, app, server), runs in groups.items():
        good = [r for r in runs if r["ok"]]
        row = {"config": config, "app": app, "server": server, "runs": len(good),
               "errors": sorted({r["error"] for r in runs if not r["ok"]})}
        if good:
            row.update({f: _median([r.get(f) for r in good]) for f in MEDIAN_FIELDS})
            row.update({f: sum(r.get(f, 0) for r in good) for f in SUM_FIELDS})
            row["rps_min"] = min(r["rps"] for r in good)
            row["rps_max"] = max(r["rps"] for r in good)
            if any("survived" in r for r in good):
                row["survived"] = all(r.get("survived") for r in good)
        rows.append(row)
    _add_ratios(rows)
    return rows


def _add_ratios(rows):
    by_group = {}
    for row in rows:
        by_group.setdefault((row["config"], row["app"]), {})[row["server"]] = row
    for peers in by_group.values():
        for row in peers.values():
            for key, name in (("vs_gunicorn_sync", BASELINE), ("vs_nginx", CEILING)):
                ref = peers.get(name, {}).get("rps")
                row[key] = row["rps"] / ref if ref and row.get("rps") else None


def _fmt(value, spec, missing="–"):
    return missing if value is None else format(value, spec)


def _table(rows, with_survival):
    head = ["server", "req/s", "min – max", "× gunicorn sync", "× nginx", "p50 ms", "p99 ms",
            "CPU µs/req", "RSS MiB/worker", "USS MiB/worker", "socket errors", "non-2xx/3xx", "other CPU %"]
    head += ["survived"] if with_survival else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in sorted(rows, key=lambda r: -(r.get("rps") or -1)):
        if not row["runs"]:
            cells = [row["server"], "failed", row["errors"][0][:90].replace("|", "/")]
            cells += [""] * (len(head) - len(cells))
        else:
            cells = [row["server"], _fmt(row["rps"], ",.0f"),
                     f"{row['rps_min']:,.0f} – {row['rps_max']:,.0f}",
                     _fmt(row["vs_gunicorn_sync"], ".2f"), _fmt(row["vs_nginx"], ".2f"),
                     _fmt(row["p50_ms"], ".2f"), _fmt(row["p99_ms"], ".2f"),
                     _fmt(row["cpu_us_per_req"], ".1f"), _fmt(row["rss_mib_per_worker"], ".1f"),
                     _fmt(row.get("uss_mib_per_worker"), ".1f"), str(row["socket_errors"]), str(row["non_2xx_3xx"]), _fmt(row["other_cpu_pct"], ".0f")]
            if with_survival:
                cells.append({True: "yes", False: "**no**"}.get(row.get("survived"), "–"))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(rows, meta):
    out = [f"# prefork load benchmark — {meta['started']}", "",
           f"{meta['machine']}. wrk {meta['duration_s']} s per run after a "
           f"{meta['warmup_s']} s warm-up, {meta['repeats']} interleaved repeat(s); "
           "medians, req/s also as min – max over the repeats. "
           "CPU µs/req = user+system CPU of all the server's processes during the run / responses. "
           "Socket errors and non-2xx/3xx are summed over the repeats. "
           "Other CPU % = user+system CPU of everything but the server and wrk during the run "
           "(100 = one core; irq/softirq left out): above ~10 the run was disturbed and its "
           "req/s and latency are not to be trusted; CPU µs/req suffers much less.", ""]
    for config in meta["configs"]:
        for app in meta["apps"]:
            group = [r for r in rows if r["config"] == config["name"] and r["app"] == app]
            if not group:
                continue
            out += [f"## {config['name']} / {app}", "", f"_{config['description']}_", ""]
            out += _table(group, config["check_survival"]) + [""]
    out += ["## Servers", ""]
    out += [f"- **{name}** {info}" for name, info in meta["servers"].items()]
    failures = [(r, e) for r in rows for e in r["errors"]]
    if failures:
        out += ["", "## Failed runs", ""]
        out += [f"- {r['config']} / {r['app']} / **{r['server']}**: {e[:600]}" for r, e in failures]
    if meta["skipped"]:
        out += ["", "## Skipped", ""]
        out += [f"- **{name}**: {why}" for name, why in meta["skipped"].items()]
    return "\n".join(out) + "\n"


def write_png(json_path, png_path):
    """Bar chart of median req/s, one panel per config, servers side by side."""
    try:
        import matplotlib
    except ImportError:
        from bench.servers import venv_tool
        if not venv_tool("python").exists():
            return "chart not drawn: no matplotlib here and no bench/.venv (bench/install_peers.sh)"
        done = subprocess.run([str(venv_tool("python")), "-m", "bench.report", str(json_path), str(png_path)],
                              capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
        return None if done.returncode == 0 else f"chart not drawn: {done.stderr.strip()[-300:]}"
    matplotlib.use("Agg")
    from bench.chart import draw
    draw(json.loads(Path(json_path).read_text())["summary"], png_path)
    return None


if __name__ == "__main__":
    sys.exit(write_png(sys.argv[1], sys.argv[2]))
