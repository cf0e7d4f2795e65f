"""The demo's call history is made by the configured agents (etc/queues.yaml), never by invented ones.

The history once added "History agent 001-005" to the box's agents whenever the volume asked for more
agents than configured: they showed on the live wallboard, in agent configuration, report and recording
filters, and /healthz counted 9 agents where the README says 4.
"""
from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def demo_history_args() -> tuple[int, int]:
    """The --calls and --days scripts/demo asks for."""
    text = (REPO / "scripts" / "demo").read_text()
    m = re.search(r"demo-data --history-only --calls (\d+) --days (\d+)", text)
    assert m, "scripts/demo no longer makes a history with --calls N --days D"
    return int(m.group(1)), int(m.group(2))


def configured_agents() -> set[str]:
    """Agent names in etc/queues.yaml."""
    return {a["name"] for a in yaml.safe_load((REPO / "etc" / "queues.yaml").read_text())["agents"]}


def test_demo_history_uses_the_configured_agents(daemon_factory, hotline_bin) -> None:
    """Two days at the demo's daily volume: every agent in the history, the agent list and /healthz is one of
    the four configured; a volume they cannot serve is refused with the numbers, and adds nothing."""
    calls, days = demo_history_args()
    d = daemon_factory(start=False)
    d.state.mkdir(parents=True, exist_ok=True)

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([hotline_bin, "-c", str(d.config), *args], env=d.env, capture_output=True,
                              text=True, check=check, timeout=300)
    run("db", "upgrade")
    run("acd", "import", str(REPO / "etc" / "queues.yaml"))   # what demo-setup does beside etc/hotline.yaml
    run("demo-setup", "--state", str(d.state))
    names = configured_agents()
    assert len(names) == 4
    too_many = run("demo-data", "--history-only", "--calls", str(calls // days * 3), "--days", "1", check=False)
    assert too_many.returncode != 0
    assert "need about" in too_many.stderr and "4 configured" in too_many.stderr and "--extra-agents" in \
        too_many.stderr, too_many.stderr
    out = run("demo-data", "--history-only", "--calls", str(calls // days * 2), "--days", "2").stdout
    assert "with 4 agents" in out, out
    admin = run("user", "add", "boss", "--role", "admin", "--token").stdout.strip().splitlines()[-1]
    d.start()
    req = urllib.request.Request(d.url + "/healthz", headers={"Authorization": f"Bearer {admin}"})
    health = json.load(urllib.request.urlopen(req, timeout=10))   # components: for an admin
    acd = health["components"]["acd"]
    assert sum(acd["agents"].values()) == 4, acd
    token = (d.state / "qa-token").read_text().strip()
    req = urllib.request.Request(d.url + "/api/v1/agents", headers={"Authorization": f"Bearer {token}"})
    listed = {a["name"] for a in json.load(urllib.request.urlopen(req, timeout=10))["agents"]}
    assert listed == names, listed
    import sqlite3
    with sqlite3.connect(d.state / "hotline.db") as con:
        ids = {row[0]: row[1] for row in con.execute("SELECT id, name FROM agents")}
        served = set()
        for (data,) in con.execute("SELECT data FROM events WHERE kind = 'agent.state_changed'"):
            served.add(json.loads(data)["agent"])
    assert set(ids.values()) == names
    assert served and served <= set(ids), f"history agents not configured: {served - set(ids)}"
    assert {ids[a] for a in served} == names, "every configured agent takes calls in the history"
