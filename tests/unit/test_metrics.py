"""The exporter's names, the alert rules and the Grafana dashboard, checked with Prometheus's own promtool.

The live side (promtool on /metrics after calls, a real Prometheus scraping a box) is in
tests/daemon/test_prometheus.py; the 10,000-call series bound in test_metrics_series.py.
"""
from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.exposition import generate_latest

from hotline.daemon.box.app import Hotline
from hotline.daemon.box.config import load_config
from hotline.daemon.box.metrics import Metrics, Snapshot
from hotline.daemon.box.metrics_collect import MetricsUpdater, local_midnight

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "etc" / "prometheus" / "alerts.yml"
SAMPLE_CONFIG = REPO / "etc" / "prometheus" / "prometheus.yml"
DASHBOARD = REPO / "etc" / "grafana" / "hotline.json"
ROWS = ("Health", "Calls", "Queues and service level", "Agents", "Lines", "Storage")
REQUIRED_ALERTS = {"HotlineDown", "HotlineLineDown", "HotlineAllTrunksBusy", "HotlineServiceLevelLow",
                   "HotlineCallersWaitingTooLong", "HotlineDiskNearlyFull", "HotlineMediaTickOverruns"}
GRAFANA_VARS = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "15s", "$instance": ".*",
                "$queue": ".*"}
PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset",
                "bool", "inf", "nan"}


@pytest.fixture(scope="module")
def promtool() -> str:
    """Debian's promtool (scripts/test installs the prometheus package); never skipped."""
    path = shutil.which("promtool")
    assert path, "promtool is missing: run ./scripts/test (it installs Debian's prometheus package)"
    return path


@pytest.fixture
def exporter(tmp_path: Path) -> str:
    """The exposition of a daemon assembled from the shipped configuration (components built, not started),
    with a snapshot like the periodic updater leaves: every family the exporter has, with samples."""
    cfg = load_config(str(REPO / "etc" / "hotline.yaml"), env={"HOTLINE_STATE_DIR": str(tmp_path)})
    app = Hotline(cfg, env={})
    app.build()
    figures = {"offered": 4, "answered": 3, "abandoned": 1, "short_abandoned": 0, "service_level": 0.75,
               "abandon_rate": 0.25, "asa_seconds": 12.5}
    app.metrics.snapshot = Snapshot(updated_at=1.0, queues={"support": {"lifetime": figures, "today": figures,
                                                                         "last_hour": figures}},
                                    calls_offered={"inbound": 4}, fax_jobs={"sent": 1},
                                    storage={"state": (5, 10), "recordings": (5, 10)})
    return generate_latest(app.metrics.registry).decode()


def exported_names(text: str) -> set[str]:
    """Sample names an exposition declares (from its TYPE lines: counters _total, histograms _bucket/_sum/
    _count) plus every sample name it holds."""
    names = set()
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            name, kind = m.groups()
            names |= {"counter": {name if name.endswith("_total") else name + "_total"},
                      "histogram": {name + "_bucket", name + "_sum", name + "_count"}}.get(kind, {name})
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (strings, label matchers, ranges and grouping lists removed; words
    followed by '(' are functions or aggregations)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    out = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", e):
        if not m.group(2) and m.group(1).lower() not in PROMQL_WORDS:
            out.add(m.group(1))
    return out


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def dashboard_exprs() -> list[str]:
    """Every target expression, with Grafana's variables replaced by values PromQL accepts."""
    out = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for var, val in GRAFANA_VARS.items():
                expr = expr.replace(var, val)
            out.append(expr)
    return out


# ---- the exporter --------------------------------------------------------------------------------------------

def test_exposition_passes_promtool_without_created_series(exporter: str, promtool: str) -> None:
    """Names, units, _total counters, HELP texts: promtool finds nothing; no *_created series at all."""
    lint = subprocess.run([promtool, "check", "metrics"], input=exporter, capture_output=True, text=True,
                          timeout=60)
    assert lint.returncode == 0 and not (lint.stdout + lint.stderr).strip(), lint.stdout + lint.stderr
    assert "_created" not in exporter
    for required in ("hotline_build_info", "hotline_uptime_seconds", "hotline_calls_active",
                     "hotline_queue_calls_offered_total", "hotline_queue_calls_answered_total",
                     "hotline_queue_calls_abandoned_total", "hotline_calls_offered_total",
                     "hotline_queue_service_level_ratio", "hotline_media_tick_duration_seconds_bucket",
                     "hotline_media_tick_overruns_total", "hotline_dtmf_digits_detected_total",
                     "hotline_journal_write_duration_seconds_bucket", "hotline_recording_errors_total",
                     "hotline_storage_free_bytes", "hotline_fax_jobs", "hotline_driver_errors_total",
                     "hotline_device_up", "process_resident_memory_bytes"):
        assert required in exported_names(exporter), required
    assert 'hotline_queue_service_level_ratio{queue="support",window="today"} 0.75' in exporter
    assert 'hotline_driver_errors_total{device="sim0"} 0.0' in exporter     # configured devices start at zero


def test_updater_keeps_the_last_snapshot_and_counts_a_failure() -> None:
    """A failing database read is logged and counted; the previous figures stay; the component says degraded."""
    class BrokenStore:
        async def read(self, fn, *args):
            raise RuntimeError("database is locked")

    metrics = Metrics()
    before = metrics.snapshot = Snapshot(updated_at=5.0)
    updater = MetricsUpdater(metrics, BrokenStore(), lambda: ["support"], "Asia/Shanghai", {})
    assert asyncio.run(updater.update()) is False
    assert metrics.snapshot is before
    assert metrics.update_errors._value.get() == 1
    updater.task = object()  # as if running
    assert updater.status()["state"] == "degraded" and "locked" in updater.status()["last_error"]


def test_today_starts_at_local_midnight() -> None:
    """'today' is the box's local day, like the daily report: 2026-03-01 08:30 in Shanghai -> 00:00 there."""
    import datetime as dt
    from zoneinfo import ZoneInfo
    tz = ZoneInfo("Asia/Shanghai")
    now = dt.datetime(2026, 3, 1, 8, 30, tzinfo=tz).timestamp()
    assert local_midnight(now, "Asia/Shanghai") == dt.datetime(2026, 3, 1, tzinfo=tz).timestamp()


# ---- alert rules and the sample configuration ------------------------------------------------------------------

def test_alert_rules_pass_promtool_check(promtool: str) -> None:
    """promtool check rules: valid PromQL, templates and durations; the required alerts are there."""
    out = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    names = {r["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]}
    assert REQUIRED_ALERTS <= names
    assert any(r["expr"].strip() == 'up{job="hotline"} == 0'
               for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"])


def test_sample_prometheus_config_is_valid(promtool: str) -> None:
    """etc/prometheus/prometheus.yml (with the rule file beside it) passes promtool check config."""
    out = subprocess.run([promtool, "check", "config", str(SAMPLE_CONFIG)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


BOX = 'job="hotline", instance="box:8080"'
RULE_TESTS = {
    "evaluation_interval": "1m",
    "tests": [{
        "interval": "1m",
        "input_series": [
            {"series": f"up{{{BOX}}}", "values": "1 1 0x18"},
            {"series": f'hotline_line_up{{{BOX}, device="sim0", line="sim0-t1", kind="trunk"}}', "values": "1 0x19"},
            {"series": f'hotline_line_up{{{BOX}, device="sim0", line="sim0-t2", kind="trunk"}}', "values": "1x20"},
            {"series": f'hotline_device_up{{{BOX}, device="sim0"}}', "values": "1x20"},
            {"series": f'hotline_lines_busy{{{BOX}, kind="trunk"}}', "values": "3 8x19"},
            {"series": f'hotline_lines_up{{{BOX}, kind="trunk"}}', "values": "8x20"},
            {"series": f'hotline_queue_service_level_ratio{{{BOX}, queue="support", window="last_hour"}}',
             "values": "0.9 0.5x19"},
            {"series": f'hotline_queue_calls_offered_total{{{BOX}, queue="support"}}', "values": "0+5x20"},
            {"series": f'hotline_queue_service_level_ratio{{{BOX}, queue="quiet", window="last_hour"}}',
             "values": "0.5x20"},
            {"series": f'hotline_queue_calls_offered_total{{{BOX}, queue="quiet"}}', "values": "0x20"},
            {"series": f'hotline_queue_longest_wait_seconds{{{BOX}, queue="support"}}', "values": "0 130 190 250x17"},
            {"series": f'hotline_queue_longest_wait_seconds{{{BOX}, queue="sales"}}', "values": "0+10x20"},
            {"series": f'hotline_storage_free_bytes{{{BOX}, volume="recordings"}}', "values": "5e9x20"},
            {"series": f'hotline_storage_size_bytes{{{BOX}, volume="recordings"}}', "values": "1e11x20"},
            {"series": f'hotline_storage_free_bytes{{{BOX}, volume="state"}}', "values": "5e10x20"},
            {"series": f'hotline_storage_size_bytes{{{BOX}, volume="state"}}', "values": "1e11x20"},
            {"series": f"hotline_media_tick_overruns_total{{{BOX}}}", "values": "0+10x20"},
            {"series": f'hotline_component_up{{{BOX}, component="web"}}', "values": "1 0x19"},
            {"series": f'hotline_component_up{{{BOX}, component="store"}}', "values": "1x20"},
            {"series": f"hotline_recording_errors_total{{{BOX}}}", "values": "0 0 1x18"},
        ],
        "alert_rule_test": [
            {"eval_time": "4m", "alertname": "HotlineDown",
             "exp_alerts": [{"exp_labels": {"job": "hotline", "instance": "box:8080", "severity": "critical"}}]},
            {"eval_time": "4m", "alertname": "HotlineLineDown",
             "exp_alerts": [{"exp_labels": {"job": "hotline", "instance": "box:8080", "severity": "warning",
                                            "device": "sim0", "line": "sim0-t1",
                                            "kind": "trunk"}}]},
            {"eval_time": "4m", "alertname": "HotlineDeviceDown", "exp_alerts": []},
            {"eval_time": "4m", "alertname": "HotlineAllTrunksBusy",
             "exp_alerts": [{"exp_labels": {"job": "hotline", "instance": "box:8080", "severity": "warning",
                                            "kind": "trunk"}}]},
            {"eval_time": "4m", "alertname": "HotlineServiceLevelLow", "exp_alerts": []},   # not yet 10 minutes
            {"eval_time": "12m", "alertname": "HotlineServiceLevelLow",   # 'quiet' had no callers: no alert
             "exp_alerts": [{"exp_labels": {"job": "hotline", "instance": "box:8080", "severity": "warning",
                                            "queue": "support", "window": "last_hour"}}]},
            {"eval_time": "4m", "alertname": "HotlineCallersWaitingTooLong",
             "exp_alerts": [{"exp_labels": {"job": "hotline", "instance": "box:8080", "severity": "warning",
                                            "queue": "support"}}]},
            {"eval_time": "6m", "alertname": "HotlineDiskNearlyFull",
             "exp_alerts": [{"exp_labels": {"job": "hotline", "instance": "box:8080", "severity": "critical",
                                            "volume": "recordings"}}]},
            {"eval_time": "6m", "alertname": "HotlineMediaTickOverruns",
             "exp_alerts": [{"exp_labels": {"job": "hotline", "instance": "box:8080", "severity": "warning"}}]},
            {"eval_time": "4m", "alertname": "HotlineComponentDown",
             "exp_alerts": [{"exp_labels": {"job": "hotline", "instance": "box:8080", "severity": "warning",
                                            "component": "web"}}]},
            {"eval_time": "4m", "alertname": "HotlineRecordingErrors",
             "exp_alerts": [{"exp_labels": {"job": "hotline", "instance": "box:8080", "severity": "warning"}}]},
        ],
    }],
}


def test_alerts_fire_on_the_conditions_they_name(promtool: str, tmp_path: Path) -> None:
    """promtool test rules with synthetic series: each alert fires for the bad series after its `for:` and not
    for the healthy ones (annotations are left out of the copy under test: only text)."""
    rules = yaml.safe_load(ALERTS.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
    (tmp_path / "alerts_test.yml").write_text(yaml.safe_dump({"rule_files": ["alerts.yml"], **RULE_TESTS}))
    out = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    tested = {t["alertname"] for t in RULE_TESTS["tests"][0]["alert_rule_test"]}
    assert tested == {r["alert"] for g in rules["groups"] for r in g["rules"]}


# ---- the Grafana dashboard ------------------------------------------------------------------------------------

def test_dashboard_is_importable_with_a_prometheus_input() -> None:
    """__inputs declares DS_PROMETHEUS; every panel and target uses it; the rows are there; ids are unique;
    panels fit the 24-column grid."""
    doc = dashboard()
    assert doc["__inputs"] == [{"name": "DS_PROMETHEUS", "label": "Prometheus",
                                "description": doc["__inputs"][0]["description"], "type": "datasource",
                                "pluginId": "prometheus", "pluginName": "Prometheus"}]
    assert {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"} in doc["__requires"]
    assert doc["id"] is None and doc["uid"] and doc["title"]
    rows = [p["title"] for p in doc["panels"] if p["type"] == "row"]
    assert rows == list(ROWS)
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    required = {t["id"] for t in doc["__requires"] if t["type"] == "panel"}
    current = None
    per_row: dict[str, int] = {}
    for p in doc["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        if p["type"] == "row":
            current = p["title"]
            continue
        per_row[current] = per_row.get(current, 0) + 1
        assert p["type"] in required, p["type"]
        assert p["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"] == p["datasource"] and t["expr"].strip(), p["title"]
    assert set(per_row) == set(ROWS) and all(per_row.values())
    for var in doc["templating"]["list"]:
        assert var["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}


def test_every_dashboard_query_parses_and_uses_exported_metrics(promtool: str, exporter: str,
                                                                 tmp_path: Path) -> None:
    """Each expression goes through Prometheus's parser (as a recording rule under promtool check rules); each
    metric name it selects is one the exporter serves ('up' comes from Prometheus itself)."""
    exprs = dashboard_exprs()
    variables = [v["definition"].replace("$instance", ".*") for v in dashboard()["templating"]["list"]]
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:expr_{i}", "expr": e}
                                                        for i, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    out = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    exported = exported_names(exporter) | {"up"}
    for expr in exprs:
        names = metric_names(expr)
        assert names, expr
        assert names <= exported, f"{expr}: not exported: {sorted(names - exported)}"
    for definition in variables:   # label_values(metric{...}, label)
        metric = re.match(r"label_values\((\w+)", definition).group(1)
        assert metric in exported, definition
    alert_names = set().union(*(metric_names(r["expr"]) for g in yaml.safe_load(ALERTS.read_text())["groups"]
                                for r in g["rules"]))
    assert alert_names <= exported, sorted(alert_names - exported)


def test_metric_name_extraction() -> None:
    """The helper the two tests above rely on."""
    assert metric_names('sum by (le) (rate(a_bucket{x="y(z)"}[5m])) / on (job) b_total') == {"a_bucket", "b_total"}
    assert metric_names("count(c == 0) or vector(0)") == {"c"}
    assert metric_names('histogram_quantile(0.99, sum without (instance) (rate(d[1m])))') == {"d"}
