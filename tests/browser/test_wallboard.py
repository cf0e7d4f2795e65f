"""A supervisor watches the wallboard in a real browser while calls come in through the simulated card: the
waiting caller appears, then the agent on the call, without reloading the page (pushed over the WebSocket,
never polled); the supervisor listens in from their own phone, hangs up a caller after confirming, and sets an
agent not ready with a reason. Screenshots: normal view (English and Chinese) and the large wall-screen view."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

FLOW = """
flow: wall_test
blocks:
  main:
    - answer
    - queue: {name: support}
    - hangup
"""
QUEUES = """
agents:
  - {name: ann, display_name: Ann Lee, extension: "1001"}
  - {name: bob, display_name: Bob Wu, extension: "1002"}
  - {name: cai, display_name: Cai Min, extension: "1003"}
reason_codes: [lunch, break, training]
queues:
  support:
    title: {en_US: Printer support, zh_CN: 打印机支持}
    join_empty: true
    announce_position: false
    announce_estimate: false
    leave_key: null
    wrapup_seconds: 0
    ring_timeout: 60
    members: [{agent: ann}, {agent: bob}, {agent: cai}]
  sales:
    title: {en_US: Sales, zh_CN: 销售}
    join_empty: true
    members: [{agent: cai}]
"""


class Qa:
    """The callers and phones, driven through the QA API with a qa user's token."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        req = urllib.request.Request(self.url + "/api/v1" + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path}: {e.code} {e.read()[:200]!r}") from None

    def call(self, frm: str) -> str:
        return self.api("POST", "/sim/calls", {"from": frm, "to": "7000"})["id"]

    def answer(self, ext: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = next(s for s in self.api("GET", "/sim/stations")["stations"] if s["extension"] == ext)
            if st["state"] == "ringing":
                self.api("POST", f"/sim/stations/{ext}/answer", {})
                return
            time.sleep(0.05)
        raise AssertionError(f"station {ext} did not ring")


@pytest.fixture
def wall_box(prepared_box):
    """A daemon whose number 7000 queues callers in 'support'; users admin and sup (password), qa1 (token)."""
    d = prepared_box(flows={"wall_test": FLOW}, routes={"7000": "wall_test"}, acd=QUEUES,
                     people={"admin": "admin", "sup": "supervisor", "qa1": "qa"}, language="zh_CN")
    return d, Qa(d.url, d.tokens["qa1"])


def row(page, kind: str, key: str):
    return page.locator(f"#wb-{kind} tr[data-{kind[:-1]}='{key}']")


def test_wallboard_follows_calls_live_and_the_supervisor_acts(wall_box, browser_page, login, shot) -> None:
    d, qa = wall_box
    page = browser_page
    login(page, d.url, "sup")
    page.goto(d.url + "/wallboard")
    page.click("button[name=language][value=en_US]")          # the user starts in the box's language
    expect(page.locator("h1")).to_have_text("Wallboard")
    expect(page.locator("#wb-live-text")).to_have_text("Connected")
    expect(row(page, "queues", "support").locator("td").first).to_contain_text("Printer support")
    expect(page.locator("#wb-calls tbody")).to_contain_text("No calls in progress")
    page.evaluate("window.__sameDocument = true")
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if "/wallboard" in r.url else None)

    # a caller waits (nobody is logged in): the queue, the totals and the call list show it
    waiting = qa.call("13800000101")
    expect(row(page, "queues", "support").locator(".wb-waiting")).to_have_text("1")
    expect(page.locator("#wb-total-waiting")).to_have_text("1")
    expect(row(page, "calls", waiting)).to_contain_text("13800000101")
    expect(row(page, "calls", waiting).locator("td").nth(3)).to_contain_text("Waiting")
    first = page.locator("#wb-total-longest").inner_text()
    page.wait_for_timeout(1100)
    assert page.locator("#wb-total-longest").inner_text() != first      # the longest wait ticks in the browser

    # ann logs in: her phone rings, she answers; the wallboard shows her on the call
    qa.api("POST", "/agents/ann/login", {"station": "1001"})
    qa.answer("1001")
    ann = row(page, "agents", "ann")
    expect(ann.locator(".wb-state")).to_contain_text("On call")
    expect(ann.locator(".wb-call")).to_contain_text("13800000101")
    expect(row(page, "calls", waiting).locator("td").nth(2)).to_contain_text("Ann Lee")
    expect(row(page, "calls", waiting).locator("td").nth(3)).to_contain_text("Talking")
    expect(row(page, "queues", "support").locator(".wb-answered")).to_have_text("1")
    expect(row(page, "queues", "support").locator(".wb-sl")).to_have_text("100%")

    # a second caller waits; the supervisor listens in on ann's call from their own phone (1004)
    second = qa.call("13900000202")
    expect(row(page, "calls", second).locator("td").nth(3)).to_contain_text("Waiting")
    page.fill("#wb-station", "1004")
    page.locator("#wb-station").dispatch_event("change")
    row(page, "calls", waiting).locator("button[data-action=listen]").click()
    qa.answer("1004")
    expect(row(page, "calls", waiting).locator(".wb-supervised")).to_have_text("Supervised by sup (Listen)")
    assert page.evaluate("localStorage.getItem('hotline.wallboard.station')") == "1004"
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    assert not fetched, f"the wallboard polled: {fetched}"
    shot(page, "wallboard-normal")

    # the large view for a wall screen: no navigation, big type, dark, the same live figures
    page.goto(d.url + "/wallboard?view=large")
    expect(page.locator("#wb-live-text")).to_have_text("Connected")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator("#wb-total-waiting")).to_have_text("1")
    expect(row(page, "agents", "ann").locator(".wb-state")).to_contain_text("On call")
    size = page.evaluate("parseFloat(getComputedStyle(document.getElementById('wb-total-waiting')).fontSize)")
    assert size >= 48, size
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(10, 16, 32)"
    expect(page.locator(".wb-actions").first).to_be_hidden()
    no_scroll = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    assert page.evaluate(no_scroll), "the large view overflows the screen"
    shot(page, "wallboard-large")
    page.set_viewport_size({"width": 1920, "height": 1080})            # a typical wall screen: two columns
    calls_box = page.locator(".wb-main > .card").first.bounding_box()
    agents_box = page.locator(".wb-main > .card").nth(1).bounding_box()
    assert agents_box["x"] > calls_box["x"] + calls_box["width"] - 1 and agents_box["y"] == calls_box["y"]
    assert page.evaluate(no_scroll), "the large view overflows the wall screen"
    shot(page, "wallboard-large-1080p")
    page.set_viewport_size({"width": 1440, "height": 900})

    # in Chinese; the supervisor hangs up the waiting caller after confirming
    page.goto(d.url + "/wallboard")
    page.click("button[name=language][value=zh_CN]")
    expect(page.locator("h1")).to_have_text("监控大屏")
    expect(page.locator("#wb-live-text")).to_have_text("已连接")
    expect(row(page, "calls", second).locator("td").nth(3)).to_contain_text("等待中")
    expect(row(page, "agents", "ann").locator(".wb-state")).to_contain_text("通话中")
    assert page.locator("#wb-station").input_value() == "1004"         # kept in localStorage
    shot(page, "wallboard-normal-zh")
    row(page, "calls", second).locator("button[data-action=hangup]").click()
    expect(page.locator("#wb-dialog")).to_be_visible()
    expect(page.locator("#wb-dialog-title")).to_have_text("挂断来自 13900000202 的这通电话？")
    shot(page, "wallboard-confirm-zh")
    page.click("#wb-dialog-confirm")
    expect(page.locator("#wb-dialog")).to_be_hidden()
    expect(row(page, "calls", second)).to_have_count(0, timeout=20000)
    expect(page.locator("#wb-total-waiting")).to_have_text("0")

    # force-transfer ann's caller to the sales queue: the caller waits there, ann is free again
    row(page, "calls", waiting).locator("button[data-action=transfer]").click()
    page.select_option("#wb-dialog select[name=kind]", "queue")
    page.select_option("#wb-dialog select[name=queue]", "sales")
    page.click("#wb-dialog-confirm")
    expect(page.locator("#wb-dialog")).to_be_hidden()
    expect(row(page, "calls", waiting).locator("td").nth(1)).to_have_text("销售")
    expect(row(page, "calls", waiting).locator("td").nth(3)).to_contain_text("等待中")
    expect(row(page, "queues", "sales").locator(".wb-waiting")).to_have_text("1")
    expect(row(page, "agents", "ann").locator(".wb-state")).to_have_text("就绪")

    # the supervisor sets ann not ready (lunch) from the state menu
    row(page, "agents", "ann").locator("select").select_option("not_ready:lunch")
    expect(row(page, "agents", "ann").locator(".wb-state")).to_have_text("未就绪 午餐")
    qa_state = next(a for a in qa.api("GET", "/agents")["agents"] if a["name"] == "ann")
    assert (qa_state["state"], qa_state["reason"]) == ("not_ready", "lunch")
