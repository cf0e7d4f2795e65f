"""A manager opens the reports on two weeks of simulated history: charts are drawn, tables filled, tabs switch,
exports are offered, and the page reads in Chinese too."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[2]
CHARTED = ("queues", "volume", "agents", "lines", "ivr", "choices")

# Every axis of the chart against the largest value of the datasets drawn on it (Chart.js's own instance).
SCALES = """() => { const chart = Chart.getChart(document.getElementById('report-chart'));
  if (!chart) { return null; }
  const out = {};
  chart.data.datasets.forEach((ds, i) => {
    const meta = chart.getDatasetMeta(i);
    const axis = chart.options.indexAxis === 'y' && ds.type !== 'line' ? meta.xAxisID : meta.yAxisID;
    const max = Math.max(0, ...ds.data.filter(v => v !== null));
    out[ds.label] = {axis: axis, data_max: max, scale_max: chart.scales[axis].max};
  });
  return out; }"""


def test_reports_on_two_weeks_of_history(daemon_factory, hotline_bin, browser_page, chromium, login, shot) -> None:
    # the daemon's own zone is UTC while the box's is Asia/Shanghai (hotline.yaml): pages must show the box's
    d = daemon_factory(start=False, env={"TZ": "UTC"})
    d.state.mkdir(parents=True, exist_ok=True)
    run = lambda *args: subprocess.run([hotline_bin, "-c", str(d.config), *args], env=d.env, capture_output=True,  # noqa: E731
                                       text=True, check=True, timeout=300)
    run("acd", "import", str(REPO / "etc" / "queues.yaml"))
    run("demo-data", "--history-only", "--calls", "4000", "--days", "14")
    for name, role in (("admin", "admin"), ("sup", "supervisor")):
        subprocess.run([hotline_bin, "-c", str(d.config), "user", "add", name, "--role", role, "--password-stdin",
                        "--language", "en_US"], input="correct-horse-9\n", env=d.env, capture_output=True,
                       text=True, check=True, timeout=60)
    d.start()
    page = browser_page
    login(page, d.url, "sup")
    page.click(".mainnav a[href='/reports']")
    page.select_option("#preset", "7")
    page.click("#report-form button[type=submit]")
    page.wait_for_selector("#report-card[aria-busy=false]")
    page.wait_for_function("document.querySelectorAll('#report-table tbody tr').length >= 3")
    assert page.locator(".tab.active").inner_text() == "Queues and service level"
    drawn = page.evaluate("""() => { const c = document.getElementById('report-chart');
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < px.length; i += 4) { if (px[i] > 0) n++; } return n; }""")
    assert drawn > 2000, "the chart drew nothing"
    assert "/api/v1/reports/queues?" in page.get_attribute("#export-xlsx", "href")
    shot(page, "reports-queues")
    page.click(".tab[data-report=agents]")
    page.wait_for_function("document.querySelector('#report-title').textContent === 'Agents'")
    page.wait_for_selector("#report-card[aria-busy=false]")
    assert page.locator("#report-table tbody tr").count() >= 4
    shot(page, "reports-agents")
    page.click(".tab[data-report=heatmap]")
    page.wait_for_selector("#report-table.heat")
    shot(page, "reports-heatmap")
    page.click("button[name=language][value=zh_CN]")
    page.wait_for_selector("#report-card[aria-busy=false]")
    assert page.locator("h1").first.inner_text() == "报表"
    page.click(".tab[data-report=volume]")
    page.wait_for_function("document.querySelector('#report-title').textContent === '话务量'")
    shot(page, "reports-volume-zh")

    # A browser in another zone (New York): every chart's axes hold their data, the calls' times are the box's.
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, locale="en-US",
                                   timezone_id="America/New_York")
    context.set_default_timeout(15000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        login(page, d.url, "sup")
        page.goto(d.url + "/reports")
        page.select_option("#preset", "7")
        page.click("#report-form button[type=submit]")
        page.wait_for_selector("#report-card[aria-busy=false]")
        for name in CHARTED:
            page.click(f".tab[data-report={name}]")
            page.wait_for_function(f"location.hash === '#{name}'")
            page.wait_for_selector("#report-card[aria-busy=false]")
            page.wait_for_function("document.querySelectorAll('#report-table tbody tr td').length > 1")
            scales = page.evaluate(SCALES)
            assert scales, f"{name}: no chart drawn"
            for label, s in scales.items():
                assert s["data_max"] > 0, f"{name} / {label}: nothing to draw"
                assert s["scale_max"] >= s["data_max"], f"{name} / {label}: axis {s['axis']} ends at " \
                    f"{s['scale_max']} below the largest value {s['data_max']} (bars clipped)"
        page.click(".tab[data-report=calls]")
        page.wait_for_function("location.hash === '#calls'")
        page.wait_for_selector("#report-card[aria-busy=false]")
        page.wait_for_function("document.querySelectorAll('#report-table tbody tr').length > 5")
        shown = page.eval_on_selector_all("#report-table tbody tr", "rows => rows.slice(0, 5).map("
                                          "r => r.cells[0].textContent)")
        frm = page.input_value("#report-form [name=from]")
        to = page.input_value("#report-form [name=to]")
        cookies = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())
        req = urllib.request.Request(f"{d.url}/api/v1/reports/calls?from={frm}&to={to}",
                                     headers={"Cookie": cookies, "Accept": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            rows = json.load(r)["rows"][:5]
        box = ZoneInfo("Asia/Shanghai")
        expected = [dt.datetime.fromtimestamp(row["offered_at"], box).strftime("%Y-%m-%d %H:%M:%S") for row in rows]
        assert shown == expected, f"the calls table shows {shown}, the box's local times are {expected}"
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
