"""A manager opens the reports on two weeks of simulated history: charts are drawn, tables filled, tabs switch,
exports are offered, and the page reads in Chinese too."""
from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_reports_on_two_weeks_of_history(daemon_factory, hotline_bin, browser_page, login, shot) -> None:
    d = daemon_factory(start=False)
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
