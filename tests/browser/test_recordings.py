"""A supervisor plays a recorded call in the browser (audio advances, the waveform is drawn, a click seeks),
deletes another, then plays and marks a voicemail message and looks at the fax jobs — in English and Chinese."""
from __future__ import annotations

import io
import json
import threading
import time
import urllib.error
import urllib.request
import wave
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-9"
FLOWS = {
    "rec_queue": "flow: rec_queue\ntitle: {zh_CN: 打印机, en_US: Printers}\nlanguages: [zh_CN, en_US]\nstart: main\n"
                 "blocks:\n  main:\n    - answer\n    - ticket: {type: repair, summary: paper jam}\n"
                 "    - queue: printers\n    - hangup\n",
    "rec_direct": "flow: rec_direct\ntitle: {zh_CN: 直拨, en_US: Direct}\nlanguages: [zh_CN, en_US]\nstart: main\n"
                  "blocks:\n  main:\n    - answer\n    - transfer: {extension: \"1002\"}\n    - hangup\n",
    "rec_vm": "flow: rec_vm\ntitle: {zh_CN: 留言, en_US: Voicemail}\nlanguages: [zh_CN, en_US]\nstart: main\n"
              "blocks:\n  main:\n    - answer\n    - fax: {document: catalog, number: \"02112345678\"}\n"
              "    - voicemail: {mailbox: printers, max_seconds: 8, silence_seconds: 2}\n    - hangup\n",
}
ACD = """
agents:
  - {name: agent1, display_name: Wang Fang, user: agent1, extension: "1001"}
  - {name: li_na, display_name: Li Na, extension: "1002"}
queues:
  printers:
    title: {zh_CN: 打印机, en_US: Printers}
    announce_position: false
    announce_estimate: false
    leave_key: null
    wrapup_seconds: 0
    members: [{agent: agent1}]
"""


def speech(seconds: float, hz: float) -> bytes:
    """A tone whose loudness swells three times (a waveform worth looking at)."""
    t = np.arange(int(8000 * seconds)) / 8000.0
    samples = (9000 * (0.15 + 0.85 * np.abs(np.sin(np.pi * t / seconds * 3))) * np.sin(2 * np.pi * hz * t))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.astype("<i2").tobytes())
    return buf.getvalue()


class Qa:
    """The QA API with a bearer token (no cookies, no XSRF)."""

    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    def __call__(self, method: str, path: str, body=None, raw: bytes | None = None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Authorization": f"Bearer {self.token}",
                   "Content-Type": "audio/wav" if raw is not None else "application/json"}
        req = urllib.request.Request(self.base + "/api/v1" + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def wait(self, what: str, check, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"{what}: not within {timeout}s")

    def state(self, call_id: str) -> str:
        return self("GET", f"/sim/calls/{call_id}")[1]["state"]

    def station(self, ext: str) -> str:
        return next(s["state"] for s in self("GET", "/sim/stations")[1]["stations"] if s["extension"] == ext)

    def talk(self, caller: str, dialed: str, station: str | None, hz: float, errors: list) -> None:
        """One caller's whole call (runs in a thread so the calls overlap)."""
        try:
            status, body = self("POST", "/sim/calls", {"from": caller, "to": dialed})
            assert status == 201, body
            call = body["id"]
            if station:
                self.wait(f"{station} rings", lambda: self.station(station) == "ringing")
                assert self("POST", f"/sim/stations/{station}/answer", {})[0] == 200
                self.wait("bridged", lambda: self.state(call) == "bridged")
            else:
                self.wait("answered", lambda: self.state(call) in ("answered", "bridged"))
            assert self("POST", f"/sim/calls/{call}/audio", raw=speech(3.0, hz))[0] == 202
            if station:
                time.sleep(3.2)
                self("DELETE", f"/sim/calls/{call}")
            self.wait("ended", lambda: self.state(call) == "ended", timeout=30)
        except Exception as exc:  # reported by the test thread
            errors.append(exc)


@pytest.fixture
def media_web_box(prepared_box):
    """A box with recorded calls: one through the queue to agent1, one straight to Li Na's phone, one voicemail
    message (with a fax job), all made at once by QA through the simulator."""
    d = prepared_box(flows=FLOWS, routes={"8101": "rec_queue", "8102": "rec_direct", "8103": "rec_vm"}, acd=ACD,
                     people={"admin": "admin", "sup": "supervisor", "agent1": "agent", "qa_bot": "qa"},
                     language="zh_CN")
    token = d.tokens["qa_bot"]
    qa = Qa(d.url, token)
    assert qa("POST", "/agents/agent1/login", {"station": "1001"})[0] == 200
    assert qa("POST", "/agents/agent1/state", {"state": "ready"})[0] == 200
    errors: list = []
    calls = [threading.Thread(target=qa.talk, args=args) for args in (
        ("13900001111", "8101", "1001", 440.0, errors), ("13700002222", "8102", "1002", 330.0, errors),
        ("13600003333", "8103", None, 550.0, errors))]
    for t in calls:
        t.start()
    for t in calls:
        t.join(60)
    assert not errors, errors
    return d


def visible_rows(page, table: str) -> int:
    return page.locator(f"{table} tbody tr[data-id]").count()


def test_play_seek_delete_then_voicemail_and_faxes(media_web_box, browser_page, login, shot) -> None:
    page = browser_page
    base = media_web_box.url
    login(page, base, "sup")
    page.goto(base + "/recordings")
    page.click("button[name=language][value=en_US]")
    page.wait_for_function("document.querySelectorAll('#rec-table tbody tr[data-id]').length === 3", timeout=15000)
    assert page.locator("h1").inner_text() == "Recordings"
    row = page.locator("#rec-table tbody tr", has_text="13700002222")
    assert "Li Na" in row.inner_text() and "0:0" in row.inner_text()
    assert "Wang Fang" in page.locator("#rec-table tbody tr", has_text="13900001111").inner_text()
    shot(page, "recordings")

    # play: the audio element loads the file (duration known), time advances, the waveform is drawn
    row.locator("button[data-play]").click()
    page.wait_for_function("() => { const a = document.getElementById('player-audio');"
                           " return a.duration > 2 && a.currentTime > 0.4; }", timeout=15000)
    page.wait_for_function("document.getElementById('player-wave').dataset.drawn === '1'")
    drawn = page.evaluate("""() => { const c = document.getElementById('player-wave');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) { if (d[i + 3] > 0 && d[i] < 200) n++; } return n / (c.width * c.height); }""")
    assert drawn > 0.05, f"waveform covers only {drawn:.1%} of the canvas"
    assert page.locator("#player-title").inner_text() == "13700002222"
    assert float(page.locator("#player-bar").get_attribute("aria-valuenow")) > 0
    assert page.locator("#player-toggle").inner_text() == "Pause"
    shot(page, "recordings-playing")

    # a click three quarters along the waveform seeks there
    page.locator("#player-toggle").click()
    box = page.locator("#player-wave").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    frac = page.evaluate("() => { const a = document.getElementById('player-audio'); return a.currentTime / a.duration; }")
    assert 0.68 < frac < 0.82, frac
    at, total = page.evaluate("() => { const a = document.getElementById('player-audio');"
                              " return [Math.round(a.currentTime), Math.round(a.duration)]; }")
    assert page.locator("#player-time").inner_text() == f"0:{at:02d} / 0:{total:02d}" and at >= 2

    # delete the other recording (confirmed), then it stays gone
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#rec-table tbody tr", has_text="13900001111").locator("button[data-delete]").click()
    page.wait_for_function("document.querySelectorAll('#rec-table tbody tr[data-id]').length === 2")
    assert page.locator("#toast").inner_text() == "Recording deleted"
    page.reload()
    assert visible_rows(page, "#rec-table") == 2 and "13900001111" not in page.locator("#rec-table").inner_text()
    assert "Kept until deleted by hand" in page.locator("#retention").inner_text()
    page.click("button[name=language][value=zh_CN]")
    assert page.locator("h1").inner_text() == "录音"
    page.locator("#rec-table button[data-play]").first.click()
    page.wait_for_function("document.getElementById('player-wave').dataset.drawn === '1'")
    shot(page, "recordings-zh")

    # voicemail: play it, mark it read
    page.goto(base + "/voicemail")
    page.click("button[name=language][value=en_US]")
    vm = page.locator("#vm-table tbody tr", has_text="13600003333")
    assert "Unread" in vm.inner_text() and "printers" in vm.inner_text()
    vm.locator("button[data-play]").click()
    page.wait_for_function("() => { const a = document.getElementById('player-audio'); return a.duration > 1; }")
    page.wait_for_function("document.getElementById('player-wave').dataset.drawn === '1'")
    vm.locator("button[data-read]").click()
    page.wait_for_function("document.querySelector('#vm-table .vm-state').textContent.trim() === 'Read'")
    assert vm.locator("button[data-read]").inner_text() == "Mark unread"
    shot(page, "voicemail")
    page.reload()
    assert "Read" in vm.inner_text() and "unread" not in (vm.get_attribute("class") or "")

    # faxes: the job the caller's flow queued
    page.goto(base + "/faxes")
    fax = page.locator("#fax-table tbody tr", has_text="catalog")
    text = fax.inner_text()   # the shipped engine picks the job up at once: queued, dialling or sending by now
    assert "02112345678" in text and any(s in text for s in ("queued", "dialling", "sending", "failed")), text
    shot(page, "faxes")
    page.click("button[name=language][value=zh_CN]")
    assert any(s in page.locator("#fax-table").inner_text() for s in ("排队中", "拨号中", "发送中", "失败"))
    shot(page, "faxes-zh")
    page.goto(base + "/voicemail")
    shot(page, "voicemail-zh")
