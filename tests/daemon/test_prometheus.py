"""/metrics on a live box, checked by Prometheus's own tools: promtool on the exposition, a real Prometheus
server scraping the daemon on loopback and answering queries, the Grafana dashboard's metrics present.

The box: a queue 'support' with agent ann at station 1001 (phones answer by themselves), a queue 'empty'
nobody serves, a plain IVR number. Callers come in through the QA API: 3 answered in 'support', 2 abandoned in
'empty', 2 through the IVR only.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "etc" / "grafana" / "hotline.json"
ALERTS = REPO / "etc" / "prometheus" / "alerts.yml"
TRUNKS = 6

FLOWS = {
    "support_q": "flow: support_q\nblocks:\n  main:\n    - answer\n    - queue: {name: support}\n    - hangup\n",
    "empty_q": "flow: empty_q\nblocks:\n  main:\n    - answer\n    - queue: {name: empty}\n    - hangup\n",
    "ivr_only": "flow: ivr_only\nblocks:\n  main:\n    - answer\n    - hangup\n",
}
QUEUES = """
agents:
  - {name: ann, extension: "1001"}
queues:
  support:
    announce_position: false
    announce_estimate: false
    wrapup_seconds: 0
    service_level_seconds: 20
    members: [{agent: ann}]
  empty:
    join_empty: true
    announce_position: false
    announce_estimate: false
    short_abandon_seconds: 0
    members: []
"""


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """JSON requests to the box with a bearer token."""

    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    def __call__(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                status, payload = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, payload = e.code, e.read()
        if expect is not None:
            assert status == expect, f"{method} {path}: {status} {payload[:300]!r}"
        return json.loads(payload) if payload[:1] in (b"{", b"[") else payload


def get_text(url: str) -> str:
    """GET a URL as text."""
    with urllib.request.urlopen(url, timeout=15) as r:
        return r.read().decode()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(text: str, name: str, **labels: str) -> float | None:
    """One sample's value (None when absent)."""
    return samples(text).get((name, tuple(sorted(labels.items()))))


def dashboard_exprs() -> list[str]:
    """Every PromQL expression of the Grafana dashboard, Grafana variables replaced by what they stand for."""
    doc = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]
    subs = {"$__rate_interval": "30s", "$__range": "5m", "$__interval": "15s", "$instance": ".*", "$queue": ".*"}
    out = []
    for e in exprs:
        for k, v in subs.items():
            e = e.replace(k, v)
        out.append(e)
    return out


PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset",
                "bool", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (strings, label matchers, ranges and grouping lists removed; words
    followed by '(' are functions or aggregations)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if not call and word.lower() not in PROMQL_WORDS:
            names.add(word)
    return names


@pytest.fixture
def box(daemon_factory, tmp_path: Path, hotline_bin: str):
    """A running box (speed 1, so 'today' on the media clock is today) with the queues above; yields
    (daemon, QA client, supervisor client)."""
    flows = tmp_path / "flows"
    flows.mkdir()
    for name, text in FLOWS.items():
        (flows / f"{name}.yaml").write_text(text)
    cfg = yaml.safe_load((REPO / "etc" / "hotline.yaml").read_text())
    cfg["paths"].update(prompts=str(tmp_path / "prompts"), flows=str(flows),
                        prompt_manifest=str(REPO / "etc" / "prompts" / "manifest.yaml"))
    cfg["devices"][0].update(trunks=TRUNKS, station_auto_answer=0.3, answer_delay=0.2)
    cfg["engine"].update(record_calls=False)
    cfg["routes"] = [{"dialed": "7000", "flow": "support_q"}, {"dialed": "7001", "flow": "empty_q"},
                     {"dialed": "7002", "flow": "ivr_only"}]
    path = tmp_path / "hotline.yaml"
    path.write_text(yaml.safe_dump(cfg))
    (tmp_path / "queues.yaml").write_text(QUEUES)       # demo-setup imports queues.yaml beside the config
    state = tmp_path / "state"
    state.mkdir()
    env = {**os.environ, "HOTLINE_STATE_DIR": str(state)}
    for args in (["db", "upgrade"], ["demo-setup", "--state", str(state)]):
        subprocess.run([hotline_bin, "-c", str(path), *args], check=True, capture_output=True, env=env, timeout=120)
    sup = subprocess.run([hotline_bin, "-c", str(path), "user", "add", "sup", "--role", "supervisor", "--token"],
                         check=True, capture_output=True, text=True, env=env, timeout=60).stdout.strip().splitlines()[-1]
    d = daemon_factory(config=path, state=state)
    qa = Client(d.url + "/api/v1", (state / "qa-token").read_text().strip())
    yield d, qa, Client(d.url + "/api/v1", sup)


def simulate_calls(qa: Client) -> None:
    """3 callers answered by ann in 'support', 2 abandoning 'empty', 2 through the IVR only."""
    def state(cid: str) -> dict:
        return qa("GET", f"/sim/calls/{cid}", expect=200)

    def kinds(cid: str) -> list[str]:
        return [e["kind"] for e in state(cid)["events"]]

    qa("POST", "/agents/ann/login", {"station": "1001"}, expect=200)
    for i in range(3):
        cid = qa("POST", "/sim/calls", {"from": f"1380000100{i}", "to": "7000"}, expect=201)["id"]
        wait_until(lambda: state(cid)["state"] == "bridged", 20, f"support call {i} bridged")
        qa("DELETE", f"/sim/calls/{cid}", expect=200)
        wait_until(lambda: state(cid)["state"] == "ended", 20, f"support call {i} ended")
        wait_until(lambda: next(a for a in qa("GET", "/agents", expect=200)["agents"]
                                if a["name"] == "ann")["state"] == "ready", 20, "ann ready again")
    for i in range(2):
        cid = qa("POST", "/sim/calls", {"from": f"1390000200{i}", "to": "7001"}, expect=201)["id"]
        wait_until(lambda: "queue.joined" in kinds(cid), 20, f"caller {i} in queue 'empty'")
        time.sleep(0.5)
        qa("DELETE", f"/sim/calls/{cid}", expect=200)
        wait_until(lambda: state(cid)["state"] == "ended", 20, f"empty-queue call {i} ended")
    for i in range(2):
        cid = qa("POST", "/sim/calls", {"from": f"1370000300{i}", "to": "7002"}, expect=201)["id"]
        wait_until(lambda: state(cid)["state"] == "ended", 20, f"IVR call {i} ended")


def scrape_when(d: Any, ready: Callable[[str], bool], timeout: float = 30) -> str:
    """/metrics once the summary tables and the periodic update have caught up (``ready`` says when)."""
    holder: dict[str, str] = {}

    def check() -> bool:
        holder["text"] = get_text(d.url + "/metrics")
        return ready(holder["text"])
    wait_until(check, timeout, "the figures in /metrics", interval=0.5)
    return holder["text"]


class Prometheus:
    """A real Prometheus server (Debian's package) on loopback with its own data directory."""

    def __init__(self, tmp: Path, target: str):
        self.port = free_port()
        self.dir = tmp / "prometheus"
        self.dir.mkdir()
        shutil.copy(ALERTS, self.dir / "alerts.yml")
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["alerts.yml"],
            "scrape_configs": [{"job_name": "hotline", "metrics_path": "/metrics",
                                "static_configs": [{"targets": [target]}]}]}))
        self.log = open(self.dir / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={self.dir / 'prometheus.yml'}",
             f"--web.listen-address=127.0.0.1:{self.port}", f"--storage.tsdb.path={self.dir / 'data'}"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            return json.loads(e.read() or b"{}")
        except OSError:            # still starting (connection refused)
            assert self.proc.poll() is None, f"prometheus exited with {self.proc.returncode}:\n{self.output()}"
            return {}

    def query(self, expr: str) -> Any:
        """An instant query's answer document."""
        return self.api("query", query=expr)

    def scalar(self, expr: str) -> float | None:
        """The single value of an instant query (None when empty)."""
        doc = self.query(expr)
        result = doc.get("data", {}).get("result", [])
        return float(result[0]["value"][1]) if len(result) == 1 else None

    def output(self) -> str:
        return (self.dir / "prometheus.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture
def promtool() -> str:
    """Debian's promtool (scripts/test installs the prometheus package); never skipped."""
    path = shutil.which("promtool")
    assert path, "promtool is missing: run ./scripts/test (it installs Debian's prometheus package)"
    return path


def test_metrics_pass_promtool_and_prometheus_scrapes_the_expected_values(box, tmp_path: Path, promtool: str) -> None:
    """After simulated calls /metrics has zero promtool problems, no *_created series, the same figures as the
    queue report, every metric the dashboard and the alerts use; a real Prometheus scraping the box over
    loopback answers queries with the calls offered, abandoned, the service level and the lines, loads the
    alert rules healthy, and sees a line going down."""
    d, qa, sup = box
    assert shutil.which("prometheus"), "prometheus is missing: run ./scripts/test (Debian's prometheus package)"
    simulate_calls(qa)
    text = scrape_when(d, lambda t: value(t, "hotline_queue_calls_offered_total", queue="support") == 3
                       and value(t, "hotline_queue_calls_abandoned_total", queue="empty") == 2
                       and value(t, "hotline_calls_offered_total", direction="inbound") == 7)

    # (1) promtool: zero problems, and no _created series
    lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), lint.stdout + lint.stderr
    assert "_created" not in text

    # the figures are the queue report's (one implementation: daemon/stats/reports.py)
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    report = {r["queue"]: r for r in sup("GET", f"/reports/queues?from={today}&to={today}&group=total",
                                         expect=200)["rows"]}
    assert report["support"]["offered"] == 3 and report["support"]["answered"] == 3
    assert value(text, "hotline_queue_calls_answered_total", queue="support") == report["support"]["answered"]
    assert value(text, "hotline_queue_service_level_ratio", queue="support", window="today") == \
        report["support"]["service_level"] == 1.0
    assert value(text, "hotline_queue_abandon_ratio", queue="empty", window="today") == \
        report["empty"]["abandon_rate"] == 1.0
    assert value(text, "hotline_queue_average_speed_of_answer_seconds", queue="support", window="today") == \
        report["support"]["asa_seconds"]
    assert value(text, "hotline_queue_agents", queue="support", state="ready") == 1
    assert value(text, "hotline_lines_up", kind="trunk") == TRUNKS
    assert value(text, "hotline_calls_total", direction="inbound", disposition="connected") == 3

    # (4, live part) every metric the dashboard and the alert rules name is in the exporter's output
    exported = {name for name, _ in samples(text)} | {"up"}
    used = set().union(*(metric_names(e) for e in dashboard_exprs()))
    rules = yaml.safe_load(ALERTS.read_text())
    used_by_alerts = set().union(*(metric_names(r["expr"]) for g in rules["groups"] for r in g["rules"]))
    assert used and not used - exported, f"dashboard metrics missing from /metrics: {sorted(used - exported)}"
    assert not used_by_alerts - exported, f"alert metrics missing from /metrics: {sorted(used_by_alerts - exported)}"

    # (3) a real Prometheus scrapes the box on loopback
    prom = Prometheus(tmp_path, f"127.0.0.1:{d.port}")
    try:
        wait_until(lambda: prom.scalar('up{job="hotline"}') == 1.0, 60, "Prometheus scraping the box",
                   interval=0.5)
        assert prom.scalar('hotline_queue_calls_offered_total{queue="support"}') == 3
        assert prom.scalar('hotline_queue_calls_abandoned_total{queue="empty"}') == 2
        assert prom.scalar('hotline_queue_service_level_ratio{queue="support",window="today"}') == 1.0
        assert prom.scalar('sum(hotline_calls_offered_total)') == 7
        assert prom.scalar('sum(hotline_line_up{kind="trunk"})') == TRUNKS
        assert prom.scalar('hotline_build_info') == 1.0
        assert prom.scalar('count(hotline_queue_agents{queue="support"})') == 7  # one series per agent state
        # every dashboard query is valid PromQL to the server and finds data
        for expr in dashboard_exprs():
            doc = prom.query(expr)
            assert doc.get("status") == "success", f"{expr}: {doc}"
        # the alert rules load and evaluate cleanly against the box's series
        groups = wait_until(lambda: [g for g in prom.api("rules")["data"]["groups"]
                                     if all(not r.get("lastEvaluation", "0001").startswith("0001")
                                            for r in g["rules"])],
                            30, "the alert rules evaluated", interval=0.5)
        rules_seen = {r["name"]: r for g in groups for r in g["rules"]}
        assert len(rules_seen) == sum(len(g["rules"]) for g in rules["groups"])
        assert all(r["health"] == "ok" for r in rules_seen.values()), rules_seen
        # a trunk goes down: Prometheus sees the line and the HotlineLineDown alert becomes pending
        qa("POST", "/sim/lines/sim0-t6/faults", {"down": True}, expect=200)
        wait_until(lambda: prom.scalar('hotline_line_up{line="sim0-t6"}') == 0.0, 30, "the line down in Prometheus",
                   interval=0.5)
        assert prom.scalar('hotline_lines_up{kind="trunk"}') == TRUNKS - 1
        wait_until(lambda: any(a["labels"]["alertname"] == "HotlineLineDown" and a["labels"].get("line") == "sim0-t6"
                               for a in prom.api("alerts")["data"]["alerts"]), 30, "HotlineLineDown pending",
                   interval=0.5)
        # with the line down every dashboard query finds data (rates have had a few scrapes by now)
        empty = [e for e in dashboard_exprs() if not prom.query(e)["data"]["result"]]
        assert not empty, f"dashboard queries without data: {empty}"
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- prometheus log ---\n{prom.output()}") from None
    finally:
        prom.stop()
