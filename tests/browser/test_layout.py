"""Every page of the panel at 1366x768 and 1920x1080 (each role's menu at 1366x768), on a box with filled lists: a screenshot of
each, and a check in the DOM (tests/browser/layout_check.js) that nothing sticks out of its card, is cut off, needs
sideways scrolling, or runs into another form control; no request of the page fails (a missing favicon too)."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import tornado.web

from hotline.webadmin.routes import page_routes

REPO = Path(__file__).resolve().parents[2]
CHECK = (Path(__file__).parent / "layout_check.js").read_text()
SIZES = ((1366, 768), (1920, 1080))
DIRECT = """
flow: desk_direct
blocks:
  main:
    - answer
    - queue: {name: printers, no_agent: none}
    - hangup
  none:
    - hangup
"""
# Counts the page's requests in flight (fetch and XMLHttpRequest) from before its own scripts run, so a visit waits
# until the page has filled itself: no request in flight for QUIET_MS. (Playwright's "networkidle" never comes on
# the pages with a live WebSocket, which cost a full timeout each.)
QUIET_MS = 300
TRACK_REQUESTS = """
(() => {
  let inflight = 0, quietSince = performance.now();
  const done = () => { if (--inflight === 0) quietSince = performance.now(); };
  const fetch0 = window.fetch;
  window.fetch = function (...args) {
    inflight++;
    return fetch0.apply(this, args).finally(done);
  };
  const send0 = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (...args) {
    inflight++;
    this.addEventListener("loadend", done, {once: true});
    return send0.apply(this, args);
  };
  window.__hlQuietMs = () => inflight > 0 ? 0 : performance.now() - quietSince;
})();
"""
# Pages that answer GET with a file, not a page.
DOWNLOADS = {"/config/backup/download", "/crm/customers/export"}


def acd_yaml() -> str:
    """The demo's queues and agents; li_wei is agent1's desk; short abandons count from one second."""
    text = (REPO / "etc" / "queues.yaml").read_text()
    text = text.replace('{name: li_wei, display_name: 李伟, extension: "1001",',
                        '{name: li_wei, display_name: 李伟, user: agent1, extension: "1001",')
    return text.replace("    overflow: callback\n", "    overflow: callback\n    short_abandon_seconds: 1\n", 1)


def get_pages() -> list[str]:
    """Every server-rendered page that answers GET (patterns; downloads left out); HOTLINE_LAYOUT_PAGES=regex
    narrows the run while fixing one page."""
    only = re.compile(os.environ.get("HOTLINE_LAYOUT_PAGES", ""))
    return [p for p, h in page_routes() if h.get is not tornado.web.RequestHandler.get and p not in DOWNLOADS
            and only.search(p)]


def api(page, method: str, path: str, body: object = None) -> dict:
    """The JSON API with the page's session (HL.api: cookie and XSRF header)."""
    return page.evaluate("""([m, p, b]) => HL.api(m, p, b === null ? undefined : b)
        .catch((e) => { throw new Error(m + " " + p + ": " + e.status + " " + e.error); })""", [method, path, body])


def qa(box, page, method: str, path: str, body: object = None) -> dict:
    """The simulator API with the QA token."""
    r = page.request.fetch(box.url + "/api/v1" + path, method=method, data=body,
                           headers={"Authorization": f"Bearer {box.qa_token}"})
    assert r.ok, f"{method} {path}: {r.status} {r.text()[:200]}"
    return r.json()


def wait_event(box, page, cid: str, kind: str, timeout: float = 20) -> None:
    """Until the call's journal holds an event of that kind."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(e["kind"] == kind for e in qa(box, page, "GET", f"/sim/calls/{cid}")["events"]):
            return
        time.sleep(0.1)
    raise AssertionError(f"call {cid}: no {kind}")


def fill_the_box(box, page, login) -> None:
    """What a box has after some days of use: abandoned calls to call back, a recorded call, a work order, a
    knowledge-base article, a flow with an earlier version to roll back to."""
    login(page, box.url, "agent1")
    api(page, "POST", "/desk/login", {"station": "1001"})
    api(page, "POST", "/desk/state", {"state": "not_ready", "reason": "lunch"})
    for caller in ("13700000001", "13700000002", "13700000003"):
        cid = qa(box, page, "POST", "/sim/calls", {"from": caller, "to": "7001"})["id"]
        wait_event(box, page, cid, "queue.joined")
        time.sleep(1.2)
        qa(box, page, "DELETE", f"/sim/calls/{cid}")
        wait_event(box, page, cid, "queue.abandoned")
    api(page, "POST", "/desk/state", {"state": "ready"})
    cid = qa(box, page, "POST", "/sim/calls", {"from": "13800138000", "to": "7001"})["id"]
    wait_event(box, page, cid, "agent.offered")
    qa(box, page, "POST", "/sim/stations/1001/answer", {})
    wait_event(box, page, cid, "call.bridged")
    time.sleep(1.0)
    qa(box, page, "DELETE", f"/sim/calls/{cid}")
    wait_event(box, page, cid, "call.ended")
    page.context.clear_cookies()
    login(page, box.url, "admin")
    ticket = api(page, "GET", "/tickets")["tickets"][0]
    api(page, "POST", "/workorders", {"ticket_id": ticket["id"], "fault": "Paper jam at the fuser, loud noise"})
    api(page, "POST", "/kb/articles", {"title": "Paper jam in the fuser unit: what to check first",
                                       "body": "Open the back cover and take out the jammed sheet.\n\n" * 8,
                                       "tags": ["printer", "paper jam"]})
    api(page, "POST", "/parts", {"part_no": "RM1-4008", "name_zh": "定影组件", "name_en": "Fuser assembly",
                                 "price_cents": 48000, "stock": 3})
    api(page, "POST", "/employees", {"name": "王建国", "department": "Technical support", "title": "Engineer",
                                     "extension": "1005", "mobile": "13912345678", "email": "wang@example.com"})
    # a form opened from the ticket page; the flow with two versions (the first one to roll back to)
    box.extra_pages = [f"/tickets/{ticket['id']}/escalate", "/config/flows/printer_support"]
    flow = api(page, "GET", "/flows/printer_support")
    api(page, "POST", "/flows/printer_support/versions",
        {"source": flow["source"] + "\n# a later version\n", "publish": True})
    page.context.clear_cookies()


def concrete(pattern: str, seen: set[str], preferred: list[str]) -> str | None:
    """A URL for a page pattern: itself, or one of the preferred pages or of the links found on the pages
    visited so far of that shape."""
    if "(" not in pattern:
        return pattern
    rx = re.compile(pattern + r"$")
    return next((u for u in [*preferred, *sorted(seen)] if rx.match(u)), None)


def visit(page, url: str, shot, label: str, failed: list[str]) -> list[str]:
    """Open a page, let its scripts fill it, screenshot it; the layout problems found (prefixed with where)."""
    failed.clear()
    page.goto(url)
    try:
        # a function, not an expression: Playwright compiles expressions with eval, which the panel's CSP forbids
        page.wait_for_function(f"() => window.__hlQuietMs && window.__hlQuietMs() >= {QUIET_MS}", timeout=3000,
                               polling=50)
    except Exception:  # noqa: BLE001 - a page that polls faster than QUIET_MS: it has filled itself by now
        pass
    shot(page, label)
    where = f"{label} ({page.url})"
    return [f"{where}: {p}" for p in page.evaluate(CHECK)] + [f"{where}: request failed: {f}" for f in failed]


def test_every_page_fits_at_1366_and_1920(prepared_box, hotline_bin, chromium, login, shot) -> None:
    import subprocess
    box = prepared_box(acd=acd_yaml(), start=False,
                       flows={**{p.stem: p.read_text() for p in (REPO / "etc" / "flows").glob("*.yaml")},
                              "desk_direct": DIRECT},
                       routes={"8001": "printer_support", "8002": "water_utility", "8003": "sales_desk",
                               "7001": "desk_direct"})
    subprocess.run([hotline_bin, "-c", str(box.config), "demo-data", "--calls", "1500", "--days", "14"],
                   env=box.env, capture_output=True, text=True, check=True, timeout=300)
    box.start()
    problems: list[str] = []
    only = re.compile(os.environ.get("HOTLINE_LAYOUT_PAGES", ""))
    for width, height in SIZES:
        ctx = chromium.new_context(viewport={"width": width, "height": height}, locale="en-US")
        ctx.set_default_timeout(15000)
        ctx.add_init_script(TRACK_REQUESTS)
        page = ctx.new_page()
        errors: list[str] = []
        failed: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.on("dialog", lambda d: d.dismiss())
        if width == SIZES[0][0]:
            fill_the_box(box, page, login)
        problems += visit(page, box.url + "/login", shot, f"layout-{width}-login", failed)
        # the administrator opens every page; the others open what their menu offers
        login(page, box.url, "admin")
        seen: set[str] = set()
        todo = get_pages()
        left = []
        for _ in range(3):                        # pages with ids are found as links on the pages before them
            for pattern in todo:
                url = concrete(pattern, seen, box.extra_pages)
                if url is None or pattern in ("/login", "/setup"):
                    left.append(pattern) if url is None else None
                    continue
                label = f"layout-{width}-admin" + (re.sub(r"[^a-z0-9]+", "-", url.lower()).rstrip("-") or "-home")
                problems += visit(page, box.url + url, shot, label, failed)
                seen |= {h.split("?")[0].split("#")[0] for h in page.eval_on_selector_all(
                    "a[href^='/']", "as => as.map(a => a.getAttribute('href'))")}
            todo, left = left, []
        assert not todo, f"no link to a page of these kinds on any page (fill the box with data for them): {todo}"
        # the other roles' menus are pages the administrator has just opened at this size; their own data and
        # buttons are checked at the narrower size, where a page runs out of room
        for role in ("sup", "agent1", "qa1") if width == SIZES[0][0] else ():
            ctx.clear_cookies()
            login(page, box.url, role)
            menu = page.eval_on_selector_all(".mainnav a", "as => as.map(a => a.getAttribute('href'))")
            assert menu, f"{role} has no menu"
            for url in menu:
                if not only.search(url):
                    continue
                label = f"layout-{width}-{role}" + (re.sub(r"[^a-z0-9]+", "-", url.lower()).rstrip("-") or "-home")
                problems += visit(page, box.url + url, shot, label, failed)
        ctx.close()
        assert not errors, f"JavaScript errors at {width}x{height}: {errors}"
    assert not problems, "layout problems (screenshots in test-artifacts/screenshots/layout-*):\n" + "\n".join(problems)
