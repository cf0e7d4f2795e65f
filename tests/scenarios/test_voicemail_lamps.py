"""Message-waiting lamps on a live box: a caller leaves a voicemail in mailbox 1001 and the phone of extension 1001
lights its lamp (the simulated phone shows it, as an FXS phone shows the FSK message); it stays lit while an unread
message is left and goes out when the last one is marked read or deleted in the panel. A mailbox mapped to an
extension (``voicemail.mailboxes.sales.extension: "1002"``) lights that phone; other phones stay dark."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from tests.conftest import prepare_state

FLOW = """
flow: {name}
blocks:
  main:
    - answer
    - voicemail: {{mailbox: {mailbox}, max_seconds: 5, silence_seconds: 1}}
    - hangup
"""


def api(box, token: str, method: str, path: str, body: dict | None = None) -> dict:
    """Call /api/v1 with a token; the JSON answer (an HTTP error fails the test with its body)."""
    req = urllib.request.Request(box.url + "/api/v1" + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{method} {path}: {e.code} {e.read()[:300]!r}") from None


def lamps(box) -> dict[str, bool]:
    """Each simulated phone's message-waiting lamp, by extension."""
    return {s["extension"]: s["lamp"] for s in api(box, box.qa_token, "GET", "/sim/stations")["stations"]}


def wait_lamps(box, want: dict[str, bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    got: dict[str, bool] = {}
    while time.monotonic() < deadline:
        got = lamps(box)
        if all(got.get(k) == v for k, v in want.items()):
            return
        time.sleep(0.05)
    raise AssertionError(f"lamps {got}, expected {want}")


def leave_message(box, to: str) -> None:
    """A caller dials ``to``, says nothing (the recording ends on silence), and the message is stored."""
    call = api(box, box.qa_token, "POST", "/sim/calls", {"from": "13800138000", "to": to})["id"]
    deadline = time.monotonic() + 20
    while api(box, box.qa_token, "GET", f"/sim/calls/{call}")["state"] != "ended":
        assert time.monotonic() < deadline, "the voicemail call did not end"
        time.sleep(0.1)


def messages(box, token: str, mailbox: str) -> list[dict]:
    """The mailbox's messages, newest first, once the expected ones are stored."""
    return api(box, token, "GET", f"/voicemail?mailbox={mailbox}")["messages"]


def test_a_voicemail_lights_its_extensions_lamp_until_the_last_is_heard_or_deleted(prepared_box) -> None:
    box = prepared_box(flows={"vm1001": FLOW.format(name="vm1001", mailbox="1001"),
                              "vmsales": FLOW.format(name="vmsales", mailbox="sales")},
                       routes={"7005": "vm1001", "7006": "vmsales"}, people={"sup": "supervisor", "qa1": "qa"},
                       engine={"speed": 4.0}, config={"voicemail": {"mailboxes": {"sales": {"extension": "1002"}}}},
                       start=False)
    sup = prepare_state(box.state, {}, tokens=("sup",))["sup"]
    box.start()
    assert lamps(box) == {"1001": False, "1002": False, "1003": False, "1004": False}

    leave_message(box, "7005")
    wait_lamps(box, {"1001": True})
    leave_message(box, "7005")
    first, second = sorted(m["id"] for m in messages(box, sup, "1001"))
    assert lamps(box) == {"1001": True, "1002": False, "1003": False, "1004": False}

    api(box, sup, "POST", f"/voicemail/{first}/read", {"unread": False})      # one unread left: still lit
    assert lamps(box)["1001"] is True
    api(box, sup, "DELETE", f"/voicemail/{second}")                             # the last unread one goes
    assert lamps(box)["1001"] is False
    api(box, sup, "POST", f"/voicemail/{first}/read", {"unread": True})       # unread again: lit again
    assert lamps(box)["1001"] is True
    api(box, sup, "DELETE", f"/voicemail/{first}")
    assert lamps(box)["1001"] is False

    leave_message(box, "7006")                                                  # sales is 1002's mailbox
    wait_lamps(box, {"1002": True, "1001": False})
    [sales] = messages(box, sup, "sales")
    api(box, sup, "POST", f"/voicemail/{sales['id']}/read", {"unread": False})
    assert lamps(box) == {"1001": False, "1002": False, "1003": False, "1004": False}
