"""A fax-only modem line (``mode: fax``) is never used for a voice call out: on a box whose first trunk is such a
line (a full-duplex class 2 modem on a pty) and whose only voice trunk is a simulated card's, a queue callback goes
out on the card's trunk; with that trunk down, the callback is not dialled on the fax line, and the journal says
why (``call.dial_failed`` naming the fax-only line) while the callback waits for its retry.

Engine speed 4 (the scenario boxes'), so the callback's agent ring and the customer's answer take a second or two.
"""
from __future__ import annotations

import os

import pytest

from hotline.drivers.modem.virtual.ptyrun import PtyModem

from tests.scenarios.test_acd_callbacks import IVR_FLOW, QUEUE_FLOW, ask_callback, wait_journal


@pytest.fixture
def fax_line_box(make_box, tmp_path):
    """fax0 (a conexant modem, mode: fax) listed before sim0 (one trunk, stations 1001/1002); 7001 takes callback
    requests for the support queue (ann at 1001)."""
    pty = PtyModem("conexant", name=f"faxonly-{os.getpid()}")
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "acd_test.yaml").write_text(QUEUE_FLOW)
    (flows / "cb_ivr.yaml").write_text(IVR_FLOW)
    (tmp_path / "queues.yaml").write_text(
        "agents:\n  - {name: ann, extension: \"1001\", user: ann}\n"
        "queues:\n  support:\n    strategy: linear\n    ring_timeout: 30\n    wrapup_seconds: 0\n"
        "    callback_retries: 3\n    callback_retry_seconds: 600\n    announce_every: 600\n"
        "    members: [{agent: ann}]\n")
    try:
        box = make_box({"routes": [{"dialed": "7000", "flow": "acd_test"}, {"dialed": "7001", "flow": "cb_ivr"}],
                        "paths": {"flows": str(flows)},
                        "devices": [{"name": "fax0", "driver": "modem", "port": pty.path, "number": "8010",
                                     "profile": "auto", "mode": "fax"},
                                    {"name": "sim0", "driver": "sim", "trunks": 1, "stations": ["1001", "1002"],
                                     "seed": 0, "capture_seconds": 60, "answer_delay": 0.5}]})
        yield box
    finally:
        pty.close()


def test_callbacks_never_go_out_on_a_fax_only_line(fax_line_box) -> None:
    """First callback: dialled on sim0-t1, not on fax0 (which comes first in the device list), and answered.
    Second callback with sim0-t1 down: ann's phone rings and she answers, but nothing is dialled on fax0; the
    attempt is journaled no_trunk, call.dial_failed names fax0 as passed over, and a retry is scheduled."""
    box = fax_line_box
    first, second = "13900000051", "13900000052"
    ask_callback(box, first)
    ask_callback(box, second)
    box.api("POST", "/agents/ann/login", {"station": "1001"}, expect=200)

    box.wait_station("1001", "ringing", timeout=30)
    box.api("POST", "/sim/stations/1001/answer", {}, expect=200)
    wait_journal(box, "call.dialing", number=first)
    assert dialled_on(box) == ["sim0-t1"], "the voice callback must go out on the voice trunk"
    wait_journal(box, "leg.answered", timeout=20)                                # the customer answered
    box.api("POST", "/sim/lines/sim0-t1/faults", {"down": True}, expect=200)   # the only voice trunk goes away
    assert wait_journal(box, "callback.attempted", outcome="connected")[0]["data"]["number"] == first

    box.wait_station("1001", "ringing", timeout=30)                           # the second callback rings ann
    box.api("POST", "/sim/stations/1001/answer", {}, expect=200)
    attempt = wait_journal(box, "callback.attempted", outcome="no_trunk")[0]
    assert attempt["data"]["number"] == second
    failed = wait_journal(box, "call.dial_failed")[0]
    assert failed["call_uuid"] == attempt["data"]["call"]
    assert (failed["data"]["number"], failed["data"]["reason"], failed["data"]["fax_only"]) == \
        (second, "no_trunk", ["fax0"])
    assert dialled_on(box) == ["sim0-t1"]                                      # fax0 was never dialled
    assert wait_journal(box, "callback.retry_scheduled")[0]["data"]["number"] == second


def dialled_on(box) -> list[str]:
    """The lines the box dialled out on, in order (the journal's call.dialing rows)."""
    with box.db() as con:
        return [r["line"] for r in con.execute("SELECT line FROM events WHERE kind = 'call.dialing' ORDER BY id")]
