"""``hotline abuse-bench``: hostile traffic at a live daemon with calls up, and what it cost.

It makes a throwaway state directory with the simulated card, a flow that holds callers in a queue, an admin
and a QA token, starts a real daemon on a loopback port, puts ``--calls`` calls up, then sends every probe of
daemon/box/abuse_probes.py (a few at a time) plus a login flood. It prints: requests tried, 4xx, 5xx (and which),
missed media ticks, the daemon's RSS before and after, and CDRs expected (calls the box accepted) vs written.
Targets: 0 5xx, 0 missed ticks, RSS back within 10 %, CDRs equal.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from hotline.dialplan import safe_yaml

from .abuse_probes import Answer, Client, Probe, probes

MISSED = "hotline_media_missed_ticks_total"
HOLD_FLOW = "flow: hold\nblocks:\n  main:\n    - answer\n    - queue: {name: hold}\n    - hangup\n"
HOLD_QUEUE = """
agents: [{name: nobody, extension: "1001"}]
queues:
  hold:
    title: {en_US: Hold, zh_CN: 等待}
    join_empty: true
    announce_position: false
    announce_estimate: false
    leave_key: null
    max_wait: 3600
    members: [{agent: nobody}]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def box_config(base: dict, root: Path, trunks: int, repo_etc: Path) -> dict:
    """A configuration for a holding box: the sim card with enough trunks, number 7000 -> the hold flow."""
    cfg = dict(base)
    (root / "flows").mkdir(parents=True, exist_ok=True)
    (root / "flows" / "hold.yaml").write_text(HOLD_FLOW)
    cfg["devices"] = [{"name": "sim0", "driver": "sim", "trunks": trunks, "stations": ["1001", "1002"],
                       "answer_delay": 0.2, "capture_seconds": 0.0}]  # as the other benches: keeping what 50
    # callers hear grows RSS by 1 MB a second, which is the simulator's QA feature, not the attack's cost
    cfg["paths"] = {**cfg.get("paths", {}), "flows": str(root / "flows"),
                    "prompt_manifest": str(repo_etc / "prompts" / "manifest.yaml")}
    cfg["routes"] = [{"dialed": "7000", "flow": "hold"}]
    cfg["metrics"] = {**cfg.get("metrics", {}), "enabled": True, "access": "loopback"}
    return cfg


def rss_kb(pid: int) -> int:
    """Resident memory of a process (kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def place_calls(client: Client, n: int, timeout: float = 90) -> tuple[list[str], list[str]]:
    """Put n callers on hold, ten at a time; a call admission control refused (a busy machine) is replaced.
    Returns (the calls answered and held, every call placed: each one must end with a CDR)."""
    placed: list[str] = []
    held: list[str] = []
    deadline = time.monotonic() + timeout
    while len(held) < n and time.monotonic() < deadline:
        for _ in range(min(10, n - len(held))):
            i = len(placed)
            status, body = client.json("POST", "/api/v1/sim/calls", "qa", {"from": f"1380000{i:04d}", "to": "7000"})
            if status == 503 and (body or {}).get("reason") == "overload" and body.get("id"):
                placed.append(body["id"])  # refused, with its CDR; a busy machine: wait, then place another
                time.sleep(1.0)
                continue
            if status != 201:
                raise RuntimeError(f"call {i} refused: {status} {body}")
            placed.append(body["id"])
        while time.monotonic() < deadline:
            _, body = client.json("GET", "/api/v1/sim/calls", "qa")
            states = {c["uuid"]: c["state"] for c in (body or {}).get("calls", [])}
            waiting = [c for c in placed if states.get(c) == "ringing"]
            held = [c for c in placed if states.get(c) == "answered"]
            if not waiting:
                break
            time.sleep(0.2)
    return held, placed


def run_probes(client: Client, call: str, line: str, areas: set[str] | None = None, workers: int = 4,
               flood: int = 50, chosen: list[Probe] | None = None, pid: int | None = None) -> list[Answer]:
    """Every probe (of the given areas, or the ``chosen`` ones), ``workers`` at a time, then a login flood."""
    if chosen is None:
        chosen = [p for p in probes() if areas is None or p.area in areas]
    else:
        areas = {p.area for p in chosen}
    if workers <= 1:  # one at a time: each answer also says how many ticks were missed while it ran
        answers = []
        for p in chosen:
            before, rss0 = client.metric(MISSED), rss_kb(pid) if pid else 0
            answers.append(client.send(p, call, line))
            time.sleep(0.1)
            answers[-1].missed_ticks = int(client.metric(MISSED) - before)
            answers[-1].rss_kb = rss_kb(pid) - rss0 if pid else 0
        return answers + (client.login_flood(flood) if areas is None or "auth" in areas else [])
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        answers = list(pool.map(lambda p: client.send(p, call, line), chosen))
    if areas is None or "auth" in areas:
        answers += client.login_flood(flood)
    return answers


def cdrs_written(db: Path, ids: list[str], timeout: float = 60) -> int:
    """How many of these calls have a CDR (waits for the journal up to ``timeout``)."""
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        with sqlite3.connect(db, timeout=10) as con:
            marks = ",".join("?" * len(ids))
            count = con.execute(f"SELECT COUNT(DISTINCT call_uuid) FROM cdrs WHERE call_uuid IN ({marks})",
                                ids).fetchone()[0]
        if count >= len(ids):
            break
        time.sleep(0.5)
    return count


def run(args: argparse.Namespace) -> int:
    """Start the box, put calls up, attack, measure, print."""
    hotline = str(Path(sys.executable).parent / "hotline")
    root = Path(tempfile.mkdtemp(prefix="hotline-abuse-bench-"))
    state, port = root / "state", _free_port()
    env = {**os.environ, "HOTLINE_STATE_DIR": str(state), "HOTLINE_WEB_LISTEN": f"127.0.0.1:{port}"}
    base_path = Path(args.config or "etc/hotline.yaml").resolve()
    cfg = box_config(safe_yaml.load(base_path.read_text(encoding="utf-8")), root, args.calls + 8, base_path.parent)
    config = root / "hotline.yaml"
    config.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    (root / "acd.yaml").write_text(HOLD_QUEUE)

    def cli(*a: str) -> str:
        return subprocess.run([hotline, "-c", str(config), *a], env=env, check=True, capture_output=True,
                              text=True, timeout=300).stdout
    proc = None
    try:
        cli("db", "upgrade")
        cli("acd", "import", str(root / "acd.yaml"))
        admin = cli("user", "add", "bench_admin", "--role", "admin", "--token").strip().splitlines()[-1]
        qa = cli("user", "add", "bench_qa", "--role", "qa", "--token").strip().splitlines()[-1]
        log = open(root / "daemon.log", "ab")
        proc = subprocess.Popen([hotline, "-c", str(config), "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
        client = Client(f"http://127.0.0.1:{port}", admin, qa)
        deadline = time.monotonic() + 60
        while client.request("GET", "/healthz")[0] != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the daemon did not start; see {root / 'daemon.log'}")
            time.sleep(0.2)
        areas = set(args.areas.split(",")) if args.areas else None
        result = attack(client, proc.pid, state / "hotline.db", args.calls, args.workers, args.flood, areas,
                        args.quiet, args.rounds)
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(60)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_result(result)
    ok = result["5xx"] == 0 and result["missed_ticks"] == 0 and result["cdrs_written"] == result["cdrs_expected"] \
        and result["rss_growth_pct"] <= 10.0
    return 0 if ok else 1


def attack(client: Client, pid: int, db: Path, calls: int, workers: int = 4, flood: int = 50,
           areas: set[str] | None = None, quiet: float = 10.0, rounds: int = 2) -> dict[str, Any]:
    """Calls up, a quiet window, the probes ``rounds`` times (RSS after each), then hang up; the figures.

    The RSS target compares the last round's end with the first round's: the first round also pays for what
    any first use of a page loads once (modules, caches), which is not memory hostile traffic keeps."""
    ids, placed = place_calls(client, calls)
    time.sleep(2)
    quiet0 = client.metric(MISSED)
    time.sleep(quiet)  # the same box with no attack: what this machine's load alone costs
    missed0, rss = client.metric(MISSED), [rss_kb(pid)]
    t0 = time.monotonic()
    answers: list[Answer] = []
    for _ in range(rounds):
        answers += run_probes(client, ids[0], "sim0-t" + str(calls + 8), areas, workers, flood, pid=pid)
        time.sleep(3)
        rss.append(rss_kb(pid))
    elapsed = time.monotonic() - t0 - 3 * rounds
    missed1 = client.metric(MISSED)
    made = [a.call_id for a in answers if a.call_id]  # calls a probe got accepted (the surrogate name one)
    for cid in ids + made:
        client.request("DELETE", f"/api/v1/sim/calls/{cid}", "qa")
    expected = placed + made
    written = cdrs_written(db, expected)
    bad = {(a.probe.name, a.status): a for a in answers if a.verdict != "ok"}.values()
    return {
        "calls_up": len(ids), "calls_placed": len(placed), "rounds": rounds, "requests": len(answers),
        "seconds": round(elapsed, 1),
        "2xx": sum(200 <= a.status < 300 for a in answers), "3xx": sum(300 <= a.status < 400 for a in answers),
        "4xx": sum(400 <= a.status < 500 for a in answers), "5xx": sum(a.status >= 500 or a.status == 0
                                                                       for a in answers),
        "missed_ticks": int(missed1 - missed0), "missed_ticks_quiet": int(missed0 - quiet0), "quiet_seconds": quiet,
        "rss_kb": rss, "rss_growth_pct": round((rss[-1] / max(1, rss[1 if rounds > 1 else 0]) - 1) * 100, 1),
        "cdrs_expected": len(expected), "cdrs_written": written,
        "not_ok": [{"probe": a.probe.name, "area": a.probe.area, "status": a.status, "verdict": a.verdict,
                    **({"location": a.location} if a.location else {})} for a in bad],
        "missed_by": {a.probe.name: a.missed_ticks for a in answers if a.missed_ticks},
        "rss_by": {a.probe.name: a.rss_kb for a in sorted(answers, key=lambda a: -a.rss_kb)[:5] if a.rss_kb > 0},
    }


def print_result(r: dict[str, Any]) -> None:
    """The figures, one per line, then every request that was not answered as it should be."""
    rss = " -> ".join(f"{kb / 1024:.0f} MB" for kb in r["rss_kb"]) + \
        f" (start, after each round; last round {r['rss_growth_pct']:+.1f} %)"
    for label, value in (("calls up (placed)", f"{r['calls_up']} ({r['calls_placed']})"),
                         ("requests tried", r["requests"]),
                         ("2xx / 3xx", f"{r['2xx']} / {r['3xx']}"), ("4xx", r["4xx"]), ("5xx", r["5xx"]),
                         ("missed ticks", r["missed_ticks"]),
                         (f"  in {r['quiet_seconds']:g} s quiet before", r["missed_ticks_quiet"]), ("RSS", rss),
                         ("CDRs expected / written", f"{r['cdrs_expected']} / {r['cdrs_written']}"),
                         ("attack took", f"{r['seconds']} s")):
        print(f"{label:<26}{value}")
    for bad in r["not_ok"]:
        where = f" -> {bad['location']!r}" if "location" in bad else ""
        print(f"  {bad['verdict']:<16}{bad['status']:>4}  [{bad['area']}] {bad['probe']}{where}")
    for name, missed in r["missed_by"].items():
        print(f"  missed {missed:>5} ticks during: {name}")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``hotline abuse-bench``."""
    p = sub.add_parser("abuse-bench", parents=[common], help="hostile traffic at a live daemon with calls up: "
                       "5xx, missed media ticks, memory and CDRs")
    p.add_argument("--calls", type=int, default=50, help="calls held up during the attack")
    p.add_argument("--workers", type=int, default=4, help="probes sent at the same time (1: one at a time, "
                   "with the ticks each one cost)")
    p.add_argument("--flood", type=int, default=50, help="wrong-password logins per round")
    p.add_argument("--rounds", type=int, default=2, help="times every probe is sent (RSS is taken after each)")
    p.add_argument("--areas", help="only these kinds of probe (comma-separated: yaml, body, unicode, types, "
                   "nesting, auth, redirect, fault)")
    p.add_argument("--quiet", type=float, default=10.0, help="seconds measured with calls up and no attack first "
                   "(missed ticks there are the machine's load, not the attack)")
    p.add_argument("--keep", action="store_true", help="keep the state directory (its path is in the log)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=run)
