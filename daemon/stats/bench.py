"""``hotline report-bench``: how fast every report answers on a big history, through the real HTTP API.

It makes a throwaway state directory, simulates ``--calls`` calls over ``--days`` days with the demo-data
history generator (journal, CDRs, summaries), starts a real daemon on a loopback port, and times each report
(JSON, and the CSV/XLSX exports of the biggest ones) for the whole period and for one day. The target
(``TARGET_MS``) holds for every report and export whose rows do not grow with the calls stored; the exports of
the call and abandoned lists hold every matching row, so their time grows with the rows exported: they are
timed for one day (in the target) and for the whole period (shown with rows per second, outside the target).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPORTS = ["volume", "queues", "agents", "lines", "ivr", "choices", "heatmap", "abandoned", "calls"]
TARGET_MS = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str, lines: list | None = None) -> tuple[float, int]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as r:
        body = r.read()
    if lines is not None:
        lines.append(body.count(b"\n"))
    return time.perf_counter() - t0, len(body)


def run(args: argparse.Namespace) -> int:
    """Generate, serve, measure, print."""
    hotline = str(Path(sys.executable).parent / "hotline")
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="hotline-report-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    state = root / "state"
    port = _free_port()
    env = {**os.environ, "HOTLINE_STATE_DIR": str(state), "HOTLINE_WEB_LISTEN": f"127.0.0.1:{port}"}
    config = str(Path(args.config or "etc/hotline.yaml").resolve())

    def cli(*a: str) -> str:
        return subprocess.run([hotline, "-c", config, *a], env=env, check=True, capture_output=True, text=True,
                              timeout=7200).stdout
    proc = None
    try:
        gen = None
        if not (state / "hotline.db").exists():
            cli("acd", "import", str(Path(config).parent / "queues.yaml"))
            t0 = time.monotonic()
            out = cli("demo-data", "--history-only", "--calls", str(args.calls), "--days", str(args.days),
                      "--extra-agents")
            gen = time.monotonic() - t0
            print(out.strip().splitlines()[-1])
        token = cli("user", "add", f"bench{port}", "--role", "supervisor", "--token").strip().splitlines()[-1]
        db_bytes = (state / "hotline.db").stat().st_size
        proc = subprocess.Popen([hotline, "-c", config, "run"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("report-bench: the daemon did not start")
                time.sleep(0.2)
        from ..box import localtime
        from ..box.config import load_config
        tz = load_config(config)["locale"]["timezone"]     # the box's zone: the reports' days are its days
        now = time.time()
        today = localtime.fmt(now, tz, "date")
        first = localtime.fmt(now - (args.days + 1) * 86400, tz, "date")
        one = localtime.fmt(now - 2 * 86400, tz, "date")
        cases = []
        for name in REPORTS:
            groups = ["day", "week", "month", "total"] if name in ("volume", "queues", "agents", "lines") else [None]
            for g in groups:
                q = f"from={first}&to={today}" + (f"&group={g}" if g else "")
                cases.append((f"{name}" + (f"/{g}" if g else "") + " (whole period)", f"/api/v1/reports/{name}?{q}"))
            cases.append((f"{name} (one day)", f"/api/v1/reports/{name}?from={one}&to={one}"
                          + ("&group=hour" if name in ("volume", "queues", "agents", "lines") else "")))
        for name in ("queues", "agents"):
            for fmt in ("csv", "xlsx"):
                cases.append((f"{name} {fmt} export (whole period)",
                              f"/api/v1/reports/{name}?from={first}&to={today}&group=day&format={fmt}"))
        for name in ("calls", "abandoned"):
            for fmt in ("csv", "xlsx"):
                cases.append((f"{name} {fmt} export (one day)",
                              f"/api/v1/reports/{name}?from={one}&to={one}&format={fmt}"))
        rows = []
        for label, path in cases:
            _get(base + path, token)                      # warm (first query of a kind)
            times = []
            size = 0
            for _ in range(args.repeat):
                dt, size = _get(base + path, token)
                times.append(dt)
            rows.append({"report": label, "p50_ms": round(statistics.median(times) * 1000, 1),
                         "max_ms": round(max(times) * 1000, 1), "bytes": size})
        lists = []                                        # every row of the whole period: linear in the rows
        if not args.no_full_lists:
            for name in ("calls", "abandoned"):
                lines: list[int] = []
                for fmt in ("csv", "xlsx"):
                    dt, size = _get(f"{base}/api/v1/reports/{name}?from={first}&to={today}&format={fmt}", token,
                                    lines if fmt == "csv" else None)
                    total = lines[0] - 1          # the CSV's lines less its header
                    lists.append({"report": f"{name} {fmt} export (whole period)", "rows": total,
                                  "ms": round(dt * 1000, 1), "rows_per_s": round(total / dt), "bytes": size})
        worst = max(r["max_ms"] for r in rows)
        result = {"calls": args.calls, "days": args.days, "db_mb": round(db_bytes / 1e6, 1),
                  "generate_s": round(gen, 1) if gen else None, "reports": rows, "worst_ms": worst,
                  "target_ms": TARGET_MS, "ok": worst < TARGET_MS, "full_lists": lists,
                  "load": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}
        if args.json:
            print(json.dumps(result, indent=1))
        else:
            print(f"{args.calls} calls over {args.days} days, database {result['db_mb']} MB"
                  + (f", generated in {result['generate_s']} s" if gen else ""))
            print(f"{'report':<44} {'p50 ms':>8} {'max ms':>8} {'bytes':>9}")
            for r in rows:
                print(f"{r['report']:<44} {r['p50_ms']:>8} {r['max_ms']:>8} {r['bytes']:>9}")
            print(f"slowest: {worst} ms (target < {TARGET_MS} ms): {'OK' if result['ok'] else 'TOO SLOW'}")
            if lists:
                print("every row of the whole period (time grows with the rows exported, outside the target):")
                for r in lists:
                    print(f"{r['report']:<44} {r['rows']:>8} rows {r['ms']:>9} ms {r['rows_per_s']:>8} rows/s "
                          f"{r['bytes']:>10} bytes")
            print(f"load average {result['load'][0]} {result['load'][1]} {result['load'][2]} on {result['cpus']} CPUs")
        return 0 if result["ok"] else 1
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``hotline report-bench``."""
    p = sub.add_parser("report-bench", parents=[common], help="time every report on a simulated history "
                       "(default 1,000,000 calls over 90 days) through the HTTP API")
    p.add_argument("--calls", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--repeat", type=int, default=5, help="timed runs per report (after one warm-up)")
    p.add_argument("--keep", metavar="DIR", help="keep (or reuse) the generated state in DIR")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-full-lists", action="store_true", help="skip exporting every call of the whole period")
    p.set_defaults(fn=run)
