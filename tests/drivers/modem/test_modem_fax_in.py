"""Faxes coming in on modem lines, in a real daemon (one for the module) whose trunks are virtual modems on ptys:
a ``mode: fax`` line answers a ringing fax call in class 2 and files 2 pages in the inbox; a voice modem line in
the shipped 8001 IVR hears the caller's CNG (``DLE c``), leaves voice and takes the fax on the same call in class
2.0; a route with ``fax_detect: false`` and a modem without a fax class keep the call in voice, the journal saying
why. The far fax machine is the emulator's (drivers/modem/virtual/far_fax.py, checked by efax and faxgetty)."""
from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

from hotline.drivers.modem.virtual import CallState
from hotline.drivers.modem.virtual.far_fax import FarFax
from hotline.drivers.modem.virtual.ptyrun import PtyModem
from hotline.fax.documents import Resolution, to_fax_tiff
from hotline.fax.tiff import page_bitmaps

from tests.conftest import REPO, Daemon, prepare_state

CALLER = "13800138000"
LINES = {"fax0": ("conexant", "8010", {"mode": "fax"}),      # a fax line: class 2, every call answered as fax
         "voice0": ("usr", "8001", {}),                         # the 8001 IVR on a class 2.0 half-duplex modem
         "voice1": ("conexant", "8001", {}),                    # ... and on a class 2 full-duplex (+VTR) one
         "nofd0": ("conexant", "8009", {}),                     # 8009: the same flow, route fax_detect: false
         "plain0": ("emu-half", "8001", {})}                    # a voice modem with no fax class at all


@pytest.fixture(scope="module")
def document(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    """A 2-page TIFF-F made by ghostscript and its bitmaps."""
    work = tmp_path_factory.mktemp("modemfax-doc")
    (work / "doc.txt").write_text("Fax in on a modem line, page one\n" * 10 + "\f" + "and page two\n" * 6)
    to_fax_tiff(work / "doc.txt", work / "doc.tif", Resolution.FINE)
    return work / "doc.tif", page_bitmaps(work / "doc.tif")


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """One daemon with four modem lines (see LINES), the shipped flows, and a supervisor's API token."""
    tmp = tmp_path_factory.mktemp("modemfax-box")
    ptys = {name: PtyModem(profile, name=f"mfax-{name}-{os.getpid()}") for name, (profile, _, _) in LINES.items()}
    cfg = yaml.safe_load((REPO / "etc" / "hotline.yaml").read_text())
    cfg["paths"].update(flows=str(REPO / "etc" / "flows"), prompt_manifest=str(REPO / "etc" / "prompts" /
                                                                               "manifest.yaml"))
    cfg["engine"].update(drain_timeout=1)
    cfg["routes"] = [{"dialed": "8001", "flow": "printer_support"},
                     {"dialed": "8009", "flow": "printer_support", "fax_detect": False},
                     {"dialed": "8010", "flow": "printer_support"}]
    cfg["devices"] = [{"name": name, "driver": "modem", "port": ptys[name].path, "number": number,
                       "profile": "auto", **extra} for name, (_, number, extra) in LINES.items()]
    cfg["fax"] = {**cfg.get("fax", {}), "ident": "+86 10 8001"}
    (tmp / "hotline.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    d = Daemon(tmp / "hotline.yaml", tmp / "state")
    d.token = prepare_state(d.state, {"sup": "supervisor"}, tokens=("sup",))["sup"]
    d.far = {name: pty.far for name, pty in ptys.items()}
    try:
        d.start()
        wait_until(lambda: all(f"event=device_up device={n}" in d.output() for n in LINES), 30, "modem lines up")
        yield d
    finally:
        d.stop()
        for pty in ptys.values():
            pty.close()


def wait_until(pred, timeout: float, what: str):
    end = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.1)


def journal(box, kind: str) -> list[dict]:
    with sqlite3.connect(box.state / "hotline.db") as con:
        return [{"call": c, **json.loads(d)} for c, d in
                con.execute("SELECT call_uuid, data FROM events WHERE kind = ? ORDER BY id", (kind,))]


def api(box, path: str) -> bytes:
    req = urllib.request.Request(box.url + "/api/v1" + path, headers={"Authorization": f"Bearer {box.token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def fax_of(box, call: str) -> dict | None:
    """The call's fax in GET /api/v1/faxes once it is stored (received or failed)."""
    for f in json.loads(api(box, "/faxes?direction=in"))["faxes"]:
        if f["call_uuid"] == call and f["status"] in ("received", "failed"):
            return f
    return None


def calls_on(box, line: str) -> list[str]:
    """The uuids of the calls offered on a line so far, oldest first."""
    with sqlite3.connect(box.state / "hotline.db") as con:
        return [r[0] for r in con.execute("SELECT call_uuid FROM events WHERE kind = 'call.offered' AND line = ? "
                                          "ORDER BY id", (line,))]


def ring(box, line: str) -> str:
    """The far end rings the line with the caller's number; the uuid of the new call (not an earlier one whose
    events are still being written)."""
    known = set(calls_on(box, line))
    box.far[line].ring(CALLER, rings=8, period=1.0)
    return wait_until(lambda: next((c for c in calls_on(box, line) if c not in known), None), 15,
                      f"a new call on {line}")


def assert_received(box, call: str, sent: list[np.ndarray], tmp: Path) -> dict:
    """The call's fax is in the inbox as received: 2 pages, the caller's number, PDF and page images, and its
    pages equal the sender's pixel for pixel (class 2: the modem hands the MH data over as it came)."""
    f = wait_until(lambda: fax_of(box, call), 20, f"the fax of call {call} in the inbox")
    assert (f["direction"], f["status"], f["pages"], f["caller_id"]) == ("in", "received", 2, CALLER), f
    assert f["pdf_ready"] and f["page_urls"] == [f"/api/v1/faxes/{f['id']}/pages/{i}.png" for i in (1, 2)]
    assert api(box, f["page_urls"][1].removeprefix("/api/v1")).startswith(b"\x89PNG")
    assert api(box, f"/faxes/{f['id']}/document.pdf").startswith(b"%PDF")
    (tmp / "got.tif").write_bytes(api(box, f["tiff_url"].removeprefix("/api/v1")))
    got = page_bitmaps(tmp / "got.tif")
    assert len(got) == 2 and all(np.array_equal(a, b) for a, b in zip(sent, got))
    return f


def test_a_fax_line_answers_as_fax_and_files_two_pages(box, document, tmp_path: Path) -> None:
    """``mode: fax``: the ringing call is answered by the modem in class 2 (no flow runs); the 2 pages land in
    the inbox like a software-received fax, journaled fax.receiving / fax.page / fax.received."""
    tiff, sent = document
    far = box.far["fax0"]
    far.fax = FarFax(ident="+86 10 5555 0199")
    assert far.fax.load(tiff) == 2
    call = ring(box, "fax0")
    assert far.fax.wait_finished(1, 20), "the far fax machine never got +FHNG:0 after its pages"
    assert_received(box, call, sent, tmp_path)
    receiving = [e for e in journal(box, "fax.receiving") if e["call"] == call]
    assert receiving and receiving[0]["fax_class"] == "2" and receiving[0]["switched"] is False
    assert [e["page"] for e in journal(box, "fax.page") if e["call"] == call] == [1, 2]
    done = [e for e in journal(box, "fax.received") if e["call"] == call]
    assert done and done[0]["pages"] == 2 and "+86 10 5555 0199" in done[0]["detail"]
    assert [e for e in journal(box, "call.answered") if e["call"] == call][0]["by"] == "fax_modem"
    assert not [e for e in journal(box, "ivr.step") if e["call"] == call], "a flow ran on the fax line"
    assert far.modem.status()["fclass"] == "8", "the line did not go back to voice class after the fax"
    with urllib.request.urlopen(box.url + "/metrics", timeout=10) as r:     # counted as the software path is
        metrics = r.read().decode()
    assert re.search(r'^hotline_fax_transitions_total\{direction="in",status="received"\} [1-9]', metrics, re.M)
    assert re.search(r'^hotline_fax_pages_total\{direction="in"\} [2-9]', metrics, re.M)


@pytest.mark.parametrize("line,fclass", [("voice0", "2.0"), ("voice1", "2")])
def test_a_voice_modem_in_the_8001_ivr_takes_the_fax_on_the_same_call(box, document, tmp_path: Path, line: str,
                                                                      fclass: str) -> None:
    """The caller's fax machine sends CNG during 8001's welcome: the modem's DLE c turns the call into a fax
    receive on the same call (voice mode ended: DLE CAN DLE ETX while playing half duplex, DLE ^ in +VTR;
    AT+FCLASS=2.0 or 2, ATA), filed in the inbox like any incoming fax (filed with customer/ticket lookup)."""
    tiff, sent = document
    far = box.far[line]
    far.fax = FarFax(ident="+86 10 5555 0177")
    far.fax.load(tiff)
    call = ring(box, line)
    assert far.wait_for(CallState.CONNECTED, 15), "the box did not answer the voice modem line"
    wait_until(lambda: [e for e in journal(box, "ivr.step") if e["call"] == call], 10, "the 8001 flow running")
    far.cng()
    assert far.fax.wait_finished(1, 20), "the fax never went through on the voice call"
    f = assert_received(box, call, sent, tmp_path)
    detected = [e for e in journal(box, "fax.detected") if e["call"] == call]
    assert detected and detected[0]["taken"] is True and detected[0]["fax_class"] == fclass, detected
    assert [e for e in journal(box, "fax.receiving") if e["call"] == call][0]["switched"] is True
    wait_until(lambda: [e for e in journal(box, "call.ended") if e["call"] == call], 10, "the call's end")
    wait_until(lambda: [e for e in journal(box, "fax.filed") if e["id"] == f["id"]], 10, "the fax filed")
    assert far.modem.status()["fclass"] == "8"
    was = {"voice0": "playing", "voice1": "duplex"}[line]      # half duplex plays the welcome; +VTR is both ways
    assert f"event=modem_fax_start device={line} class={fclass} from={was}" in box.output()


def test_a_false_fax_tone_ends_as_a_failed_fax_with_the_reason(box) -> None:
    """CNG on the voice line but no fax machine behind it: the modem's ATA finds no T.30 (+FHS:0B, T1): the fax
    is stored as failed, reason not_a_fax with the hang-up code's meaning, and the call ends."""
    far = box.far["voice0"]
    far.fax = None
    call = ring(box, "voice0")
    assert far.wait_for(CallState.CONNECTED, 15)
    far.cng()
    f = wait_until(lambda: fax_of(box, call), 20, "the failed fax")
    assert (f["status"], f["reason"], f["pages"]) == ("failed", "not_a_fax", 0), f
    assert "+FHNG:11" in f["detail"], f
    failed = wait_until(lambda: [e for e in journal(box, "fax.failed") if e["call"] == call], 10, "fax.failed")
    assert failed[0]["reason"] == "not_a_fax"
    assert far.wait_for(CallState.IDLE, 10), "the call was not ended after the failed fax"


@pytest.mark.parametrize("line,reason", [("nofd0", "fax_detect_off"), ("plain0", "modem_no_fax_class")])
def test_cng_leaves_the_call_in_voice_when_fax_is_off_or_impossible(box, document, line: str, reason: str) -> None:
    """8009's route says fax_detect: false; the emu-half modem offers no fax class (AT+FCLASS=? 0,8): the CNG is
    journaled with the reason, the call stays in the IVR in voice and no fax is stored."""
    tiff, _ = document
    far = box.far[line]
    far.fax = FarFax()
    far.fax.load(tiff)
    call = ring(box, line)
    assert far.wait_for(CallState.CONNECTED, 15)
    far.cng()
    detected = wait_until(lambda: [e for e in journal(box, "fax.detected") if e["call"] == call], 10,
                          "the CNG journaled")
    assert detected[0]["taken"] is False and detected[0]["reason"] == reason, detected
    if reason == "modem_no_fax_class":
        assert "0,8" in detected[0]["detail"], detected
    time.sleep(1.0)     # what the box would have done by now: leave voice for fax
    assert far.state is CallState.CONNECTED and far.modem.status()["fclass"] == "8"
    assert far.fax.sessions == 0 and fax_of(box, call) is None
    assert [e for e in journal(box, "ivr.step") if e["call"] == call], "the IVR stopped"
    far.hangup()
