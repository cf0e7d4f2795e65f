"""A half-duplex line (the sim card with duplex: half, standing in for a voice modem) on a running box: a call
without a dialled number reaches the flow by the line's number:, queueing on it is still refused at run time, and
a configuration that would bind a queueing flow to it is refused at start and on reload (the old one stays)."""
from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]

MODEM_LINE = """\
flow: modem_line
title: {zh_CN: 调制解调器线路, en_US: Modem line}
languages: [zh_CN, en_US]
start: main
blocks:
  main:
    - answer
    - say: {value: "${dialed}", as: digits}
    - menu:
        prompt: anything_else
        options: {"1": message, "9": bye}
        fallback: message
  message:
    - voicemail: {mailbox: service, greeting: voicemail_greeting, max_seconds: 5}
    - hangup: goodbye
  bye:
    - hangup: goodbye
"""

QUEUE_LINE = """\
flow: queue_line
title: {zh_CN: 排队, en_US: Queue line}
languages: [zh_CN, en_US]
start: main
blocks:
  main:
    - answer
    - queue: {name: printers, no_agent: bye}
  bye:
    - hangup: goodbye
"""


def setup(tmp_path: Path, modem_number: str = "8005") -> dict:
    """Flow files and the ACD queues beside the configuration; the overrides for make_box."""
    flows = tmp_path / "flows"
    flows.mkdir(exist_ok=True)
    (flows / "modem_line.yaml").write_text(MODEM_LINE)
    (flows / "queue_line.yaml").write_text(QUEUE_LINE)
    shutil.copy(REPO / "etc" / "queues.yaml", tmp_path / "queues.yaml")  # demo-setup imports the queues
    sim0 = yaml.safe_load((REPO / "etc" / "hotline.yaml").read_text())["devices"][0]
    return {"paths": {"flows": str(flows)},
            "devices": [sim0, {"name": "modem0", "driver": "sim", "trunks": 1, "stations": [], "duplex": "half",
                               "number": modem_number}],
            "routes": [{"dialed": "8005", "flow": "modem_line"}, {"dialed": "8006", "flow": "queue_line"}]}


def call_on(box, line: str, to: str = "") -> str:
    """A caller rings on one line; ``to`` empty: the line delivers no dialled number (an analog line)."""
    return box.api("POST", "/sim/calls", {"from": "13800138000", "to": to, "line": line}, expect=201)["id"]


def ivr_steps(box, call_id: str) -> list[dict]:
    return [e["data"] for e in box.state(call_id)["events"] if e["kind"] == "ivr.step"]


def test_a_call_on_a_half_duplex_line_reaches_the_flow_by_the_line_number(make_box, tmp_path: Path) -> None:
    box = make_box(setup(tmp_path))
    c1 = call_on(box, "modem0-t1")
    box.wait_event(c1, "ivr.step", step="say", flow="modem_line")
    offered = next(e for e in box.state(c1)["events"] if e["kind"] == "call.offered")
    assert offered["data"]["dialed"] == "8005", offered     # the line's number, journaled as the dialled number
    box.api("POST", f"/sim/calls/{c1}/dtmf", {"digits": "9"}, expect=202)
    box.wait(c1, "ended", 30)
    assert any(s.get("step") == "menu.key" and s.get("key") == "9" for s in ivr_steps(box, c1)), ivr_steps(box, c1)
    assert box.cdr(c1)["dialed"] == "8005"
    # the same line delivering a dialled number (a DID) follows that number: queueing is refused honestly there
    c2 = call_on(box, "modem0-t1", to="8006")
    refused = box.wait_event(c2, "queue.refused", queue="printers")
    assert "half-duplex" in refused["data"]["reason"]
    box.wait(c2, "ended", 30)
    assert any(s.get("step") == "queue.result" and s.get("result") == "unavailable" for s in ivr_steps(box, c2))
    assert all(st["state"] == "idle" for st in box.api("GET", "/sim/stations", expect=200)["stations"])
    # a full-duplex trunk without a dialled number has no number: the built-in reception answers it
    c3 = call_on(box, "sim0-t1")
    box.wait_event(c3, "media.played", prompt="welcome")
    box.api("DELETE", f"/sim/calls/{c3}", expect=200)


def test_a_reload_that_would_bind_a_queueing_flow_to_the_line_is_refused(make_box, tmp_path: Path) -> None:
    box = make_box(setup(tmp_path))
    cfg = yaml.safe_load(box.d.config.read_text())
    cfg["devices"][1]["number"] = "8006"  # the modem would answer for the queue line
    box.d.config.write_text(yaml.safe_dump(cfg))
    box.d.signal(signal.SIGHUP)
    flow = tmp_path / "flows" / "queue_line.yaml"
    deadline = time.monotonic() + 20
    while "event=reload_failed" not in box.d.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    out = box.d.output()
    assert "event=reload_failed keeping=previous problems=1" in out, out[-3000:]
    assert (f"{flow}:8:7: blocks.main[1].queue: route 8006 answers on half-duplex line modem0: step 'queue' needs "
            "a full-duplex line") in out
    assert "event=reloaded" not in out
    # nothing of the new configuration was applied: the line still answers for 8005
    c1 = call_on(box, "modem0-t1")
    box.wait_event(c1, "ivr.step", step="say", flow="modem_line")
    box.api("DELETE", f"/sim/calls/{c1}", expect=200)


def test_a_box_whose_half_duplex_line_reaches_a_queue_does_not_start(make_box, daemon_factory,
                                                                     tmp_path: Path) -> None:
    box = make_box(setup(tmp_path))  # a box that ran, then the technician edits the number and restarts
    box.d.stop()
    cfg = yaml.safe_load(box.d.config.read_text())
    cfg["devices"][1]["number"] = "8006"
    box.d.config.write_text(yaml.safe_dump(cfg))
    d = daemon_factory(config=box.d.config, state=box.d.state, start=False)
    d.start(wait=False)
    assert d.wait(60) == 78
    out = d.output()
    flow = tmp_path / "flows" / "queue_line.yaml"
    assert f"{flow}:8:7: blocks.main[1].queue: route 8006 answers on half-duplex line modem0" in out, out[-3000:]
