"""A callback asked for in the IVR after hours, seen in a real browser: the supervisor's wallboard counts it
in its queue's row, the agent's desk lists it marked "After hours" (dialled when the queue opens)."""
from __future__ import annotations

import json
import subprocess
import time
import urllib.request

from playwright.sync_api import expect

FLOW = """
flow: cb_ivr
blocks:
  main:
    - answer
    - callback_request: {prompt: callback_offer, number_prompt: enter_callback_number, done_prompt: callback_done,
                         queue: support, timeout: 2}
    - hangup: goodbye
"""
QUEUES = """
agents:
  - {name: ann, display_name: Ann Lee, extension: "1001", user: ann}
queues:
  support:
    title: {en_US: Printer support, zh_CN: 打印机支持}
    hours: office
    members: [{agent: ann}]
"""


def qa_api(d, method: str, path: str, body: dict | None = None) -> dict:
    """The QA API with the qa user's token."""
    req = urllib.request.Request(d.url + "/api/v1" + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {d.tokens['qa1']}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=15) as r:
        return json.loads(r.read())


def wait_call(d, cid: str, state: str, timeout: float = 30.0) -> None:
    """Wait until a QA call reaches a state."""
    deadline = time.monotonic() + timeout
    while qa_api(d, "GET", f"/sim/calls/{cid}")["state"] != state:
        assert time.monotonic() < deadline, f"call {cid} not {state}"
        time.sleep(0.1)


def test_an_after_hours_ivr_callback_shows_on_the_wallboard_and_the_desk(prepared_box, hotline_bin, browser_page,
                                                                        login, shot) -> None:
    d = prepared_box(flows={"cb_ivr": FLOW}, routes={"7001": "cb_ivr"}, acd=QUEUES,
                     people={"admin": "admin", "sup": "supervisor", "ann": "agent", "qa1": "qa"})
    subprocess.run([hotline_bin, "-c", str(d.config), "calendar", "override", "night"], env=d.env, check=True,
                   capture_output=True, timeout=60)
    cid = qa_api(d, "POST", "/sim/calls", {"from": "13900000051", "to": "7001"})["id"]
    wait_call(d, cid, "answered")
    qa_api(d, "POST", f"/sim/calls/{cid}/dtmf", {"digits": "1"})
    wait_call(d, cid, "ended")

    page = browser_page
    login(page, d.url, "sup")
    page.goto(d.url + "/wallboard")
    queue = page.locator("#wb-queues tr[data-queue='support']")
    expect(queue.locator(".wb-waiting")).to_contain_text("+1 callbacks")
    expect(queue.locator(".wb-waiting")).to_contain_text("0")       # no caller on the line
    shot(page, "wallboard-callback-waiting")

    page.context.clear_cookies()                                    # now the agent, at her desk
    login(page, d.url, "ann")
    page.goto(d.url + "/desk")
    callbacks = page.locator("#desk-callbacks tbody")
    expect(callbacks).to_contain_text("13900000051")
    expect(callbacks).to_contain_text("After hours")
    shot(page, "desk-callback-after-hours")
