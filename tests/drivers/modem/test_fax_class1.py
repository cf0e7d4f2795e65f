"""Hotline's class 1 fax driver (the box runs T.30 over +FTH/+FRH/+FTM/+FRM) against spandsp's own T.31 modem
emulation on a pty, whose line goes to a spandsp fax terminal (drivers/modem/virtual/t31.py, checked by efax in
test_fax_class1_t31.py): a 2-page ghostscript document goes out with and without ECM (through the outbound queue
and the ``class1`` entry point, and through the driver itself) and arrives pixel for pixel; a 2-page fax comes in
the same way; a silent far end, a modem that says NO CARRIER or BUSY, one that babbles and one that goes quiet
each end with a clear reason, in bounded time. Plus the bytes: DLE stuffing, result lines and HDLC framing."""
from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import tty
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

from hotline.daemon.box import localtime
from hotline.daemon.box.config import parse_config
from hotline.daemon.fax import jobs
from hotline.daemon.fax.class1 import Class1Sender, fax_result, receive_blocking, transmission
from hotline.daemon.fax.jobs import FaxReason
from hotline.daemon.fax.library import FaxLibrary
from hotline.daemon.fax.queue import FaxQueue
from hotline.daemon.fax.registry import make_sender
from hotline.daemon.store import migrations
from hotline.daemon.store.db import Store
from hotline.drivers.modem.class1hdlc import HdlcDecoder, HdlcEncoder
from hotline.drivers.modem.class1link import (Modulation, ModemReader, Result, modems_offered, modulation_code,
                                              parse_codes, stuff_frame)
from hotline.drivers.modem.faxclass1 import Class1Error, Class1Fax, Failure
from hotline.drivers.modem.port import Port
from hotline.drivers.modem.virtual.t31 import CALL, T31Line
from hotline.fax.documents import Resolution, to_fax_tiff
from hotline.fax.session import FaxOutcome
from hotline.fax.tiff import page_bitmaps

from tests.conftest import REPO, Daemon, prepare_state

SPEED = 2.0   # line time at twice real time: Hotline keeps T.30's timers in real time, the far machine in line time
TWO_PAGES = b"%!PS\n/Helvetica findfont 30 scalefont setfont\n1 1 2 { /n exch def 72 600 moveto (Page ) show " \
            b"n 3 string cvs show showpage } for\n"


@pytest.fixture(scope="module")
def document(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    """A 2-page TIFF-F made by ghostscript (normal resolution: short calls) and its page bitmaps."""
    work = tmp_path_factory.mktemp("class1doc")
    (work / "doc.txt").write_text("Hotline class 1 test, page one\n" * 14 + "\f" + "and this is page two\n" * 9)
    tiff = work / "doc.tif"
    to_fax_tiff(work / "doc.txt", tiff, Resolution.NORMAL)
    return tiff, page_bitmaps(tiff)


def _same_pages(sent: list[np.ndarray], got_tiff: Path) -> None:
    got = page_bitmaps(got_tiff)
    assert len(got) == len(sent) == 2
    for a, b in zip(sent, got):
        assert a.shape == b.shape and a.any() and np.array_equal(a, b)


class _Engine:
    """The media engine's clock as the queue uses it (no calls are made on this path)."""

    now = staticmethod(time.time)
    wait_for = staticmethod(asyncio.wait_for)


class _Journal:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def emit(self, kind: str, call_uuid: str | None, **fields) -> None:
        self.events.append((kind, fields))


def test_the_queue_sends_a_job_through_a_class1_modem_with_ecm(tmp_path: Path, monkeypatch) -> None:
    """``fax.sender: class1`` (the entry point): the queue dials through the modem, the job goes dialling ->
    sending -> sent with 2 of 2 pages confirmed; ECM was used and the far machine has both pages of the prepared
    document (header line included) pixel for pixel."""
    monkeypatch.setitem(localtime._known, "box", "Asia/Shanghai")
    line = T31Line(receive_tiff=str(tmp_path / "far.tif"), speed=SPEED, ecm=True)
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "two.ps").write_bytes(TWO_PAGES)
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.open()
    try:
        store.write_sync(migrations.upgrade, store.db)
        job = store.write_sync(jobs.create_out, "two", "5550100")
        journal = _Journal()
        sender = make_sender("class1", {"modem_port": line.path, "ident": "+86 10 8001", "ecm": True,
                                        "header_name": "Hotline QA", "resolution": "normal"})
        assert isinstance(sender, Class1Sender) and sender.unavailable() is None
        queue = FaxQueue(store, journal, None, None, _Engine(), sender, FaxLibrary(shipped, tmp_path / "up"),
                         tmp_path / "spool")

        async def run() -> dict:
            assert await queue.pass_once() == 1
            assert await queue.pass_once() == 0          # one modem, one job at a time
            return await asyncio.wait_for(queue.active[job["id"]], 60)
        row = asyncio.run(run())
        assert line.wait_far(10) == 0, f"far T.30 ended with {line.far_code}"
    finally:
        store.close()
        line.close()
    assert (row["status"], row["pages"], row["pages_total"], row["reason"]) == ("sent", 2, 2, None), \
        (row, sender.last_transcript[-20:])
    assert [k for k, _ in journal.events] == ["fax.dialling", "fax.sending", "fax.page", "fax.page", "fax.sent"]
    assert (CALL, "5550100") in line.controls
    result = sender.last_result
    assert result.ecm and result.bit_rate == 14400 and result.remote_ident == "+86 10 5555 0100"
    assert "> AT+FCLASS=1" in sender.last_transcript and "> AT+FTM=145" in sender.last_transcript
    job_dir = tmp_path / "spool" / "fax" / "jobs" / str(job["id"])
    _same_pages(page_bitmaps(job_dir / "document.tif"), tmp_path / "far.tif")


def test_the_driver_sends_two_pages_without_ecm(document, tmp_path: Path) -> None:
    """Class1Fax.send without ECM: training check and pages through +FTM, each page confirmed as it goes, and the
    far machine's TIFF equals the document."""
    tiff, sent = document
    line = T31Line(receive_tiff=str(tmp_path / "far.tif"), speed=SPEED, ecm=True)
    port = Port(line.path)
    port.open()
    pages: list[int] = []
    try:
        result = Class1Fax(port, "+86 10 8001", ecm=False, time_limit=60).send("5550100", tiff, on_page=pages.append)
        assert line.wait_far(10) == 0
    finally:
        port.close()
        line.close()
    assert result.ok and (result.pages, result.ecm, result.failure) == (2, False, Failure.NONE), result.reason
    assert pages == [1, 2] and result.transcript[-1] == "< OK"
    assert "> AT+FTM=146" in result.transcript          # page data after TCF: the short-train V.17 code
    _same_pages(sent, tmp_path / "far.tif")


def test_a_fax_comes_in_on_a_class1_fax_line_of_the_daemon(document, tmp_path: Path) -> None:
    """A daemon whose modem line (``mode: fax``, ``fax: class1``) is spandsp's T.31: the far machine rings twice
    and sends 2 pages with ECM; the line answers with ATA in class 1 (the box runs T.30), and the fax is in the
    inbox (GET /api/v1/faxes: in, received, 2 pages, the far machine named) with the pages pixel for pixel."""
    tiff, sent = document
    line = T31Line(send_tiff=str(tiff), speed=SPEED, ecm=True)
    cfg = yaml.safe_load((REPO / "etc" / "hotline.yaml").read_text())
    cfg["paths"].update(flows=str(REPO / "etc" / "flows"),
                        prompt_manifest=str(REPO / "etc" / "prompts" / "manifest.yaml"))
    cfg["engine"].update(drain_timeout=1)
    cfg["routes"] = [{"dialed": "8010", "flow": "printer_support"}]
    cfg["devices"] = [{"name": "c1fax", "driver": "modem", "port": line.path, "number": "8010", "profile": "auto",
                       "mode": "fax", "fax": "class1"}]
    cfg["fax"] = {**cfg.get("fax", {}), "ident": "+86 10 8001"}
    (tmp_path / "hotline.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    box = Daemon(tmp_path / "hotline.yaml", tmp_path / "state")
    token = prepare_state(box.state, {"sup": "supervisor"}, tokens=("sup",))["sup"]

    def api(path: str) -> bytes:
        req = urllib.request.Request(box.url + "/api/v1" + path, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()

    def inbox() -> list[dict]:
        return [f for f in json.loads(api("/faxes?direction=in"))["faxes"] if f["status"] in ("received", "failed")]
    try:
        box.start()
        _until(lambda: "event=device_up device=c1fax" in box.output(), 30, "the class 1 fax line up")
        line.ring(times=2)
        assert line.wait_far(60) == 0, f"the far machine's T.30 ended with {line.far_code}"
        (f,) = _until(inbox, 20, "the fax in the inbox")
        assert (f["direction"], f["status"], f["pages"]) == ("in", "received", 2), f
        assert "+86 10 5555 0100" in f["detail"] and f["pdf_ready"]
        (tmp_path / "got.tif").write_bytes(api(f["tiff_url"].removeprefix("/api/v1")))
        assert "event=modem_fax_start device=c1fax class=1 from=ringing" in box.output()
    finally:
        box.stop()
        line.close()
    _same_pages(sent, tmp_path / "got.tif")


def _until(pred, timeout: float, what: str):
    end = time.monotonic() + timeout
    while not (got := pred()):
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
    return got


def test_a_silent_far_end_is_not_a_fax(document, tmp_path: Path) -> None:
    """The number answers but nothing speaks T.30 (a person, a voice line): the dial gives up after its timeout,
    the modem is hung up, and the queue hears "not a fax" (seconds, not T.30's minute)."""
    tiff, _ = document
    line = T31Line(speed=SPEED, far_is_fax=False)
    port = Port(line.path)
    port.open()
    started = time.monotonic()
    try:
        result = Class1Fax(port, dial_timeout=2.0).send("5550199", tiff)
    finally:
        port.close()
        line.close()
    assert time.monotonic() - started < 10
    assert (result.failure, result.pages) == (Failure.NOT_A_FAX, 0)
    assert result.reason == "no fax machine answered within 2 s of dialling"
    assert "> ATH0" in result.transcript
    assert transmission(result, 2).reason is FaxReason.NOT_A_FAX


class _ScriptedModem:
    """A pty whose far side answers AT commands from a script: {command prefix: reply bytes}; anything else OK.
    After a CONNECT to +FTH it takes DLE-stuffed frames up to DLE ETX and answers each with script["FRAME"]."""

    def __init__(self, script: dict[str, bytes]):
        self.script = script
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.heard: list[str] = []
        self.frames = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run_thread, daemon=True)
        self._thread.start()

    def _run_thread(self) -> None:
        buf, framing = b"", False
        while not self._stop.is_set():
            try:
                buf += os.read(self.master, 256)
            except OSError:
                return
            while True:
                if framing:
                    end = buf.replace(b"\x10\x10", b"..").find(b"\x10\x03")
                    if end < 0:
                        break
                    buf, self.frames = buf[end + 2:], self.frames + 1
                    os.write(self.master, self.script.get("FRAME", b"\r\nOK\r\n"))
                    framing = False
                    continue
                if b"\r" not in buf:
                    break
                raw, buf = buf.split(b"\r", 1)
                cmd = raw.decode("latin-1").upper()
                if "AT" not in cmd:
                    continue
                cmd = cmd[cmd.index("AT"):].strip()     # like a modem: anything before AT is line noise
                self.heard.append(cmd)
                reply = next((r for k, r in self.script.items() if cmd[2:].startswith(k)), b"\r\nOK\r\n")
                os.write(self.master, reply)
                framing = cmd.startswith("AT+FTH") and reply.endswith(b"CONNECT\r\n")

    def close(self) -> None:
        self._stop.set()
        for fd in (self.slave, self.master):
            os.close(fd)


T31_CODES = b"\r\n24,48,72,73,74,96,97,98,121,122,145,146\r\n\r\nOK\r\n"


@pytest.mark.parametrize("reply,failure,reason,queue_reason", [
    (b"\r\nNO CARRIER\r\n", Failure.DIAL, "the modem answered NO CARRIER to the dial", FaxReason.NO_ANSWER),
    (b"\r\nBUSY\r\n", Failure.DIAL, "the modem answered BUSY to the dial", FaxReason.BUSY),
    (b"\r\nCONNECT\r\n" + bytes(range(0x20, 0x7F)) * 3, Failure.TIMEOUT, "the call ran past its limit of 3 s",
     FaxReason.TRANSMISSION),
], ids=["no-carrier", "busy", "garbage-after-connect"])
def test_modem_failures_end_with_a_clear_reason(document, reply: bytes, failure: Failure, reason: str,
                                                queue_reason: FaxReason) -> None:
    """What the modem says to the dial becomes the reason; a modem that connects and then sends garbage (no frame
    ever ends) is bounded by the call's time limit and hung up."""
    tiff, _ = document
    modem = _ScriptedModem({"+FTM=?": T31_CODES, "+FRM=?": T31_CODES, "D": reply})
    port = Port(modem.path)
    port.open()
    started = time.monotonic()
    try:
        result = Class1Fax(port, time_limit=3.0).send("5550100", tiff)
    finally:
        port.close()
        modem.close()
    assert time.monotonic() - started < 10
    assert (result.failure, result.reason, result.pages) == (failure, reason, 0)
    assert "ATH0" in modem.heard
    assert transmission(result, 2).reason is queue_reason


DIS = bytes.fromhex("ff 13 80 00 ee f8 80 80 91 80 80 80 18")   # a spandsp fax machine's DIS, as T.31 hands it over


def test_the_line_dropping_mid_call_is_told_as_such(document) -> None:
    """The far machine's DIS arrives, the box answers with TSI/DCS, and the modem says NO CARRIER to the frame (the
    far end hung up): the call ends at once as a transmission failure saying so, and the modem is hung up."""
    tiff, _ = document
    dis = b"\r\nCONNECT\r\n" + DIS.replace(b"\x10", b"\x10\x10") + b"\xaa\xbb\x10\x03\r\nOK\r\n"
    modem = _ScriptedModem({"+FTM=?": T31_CODES, "+FRM=?": T31_CODES, "D": dis, "+FTH=3": b"\r\nCONNECT\r\n",
                            "FRAME": b"\r\nNO CARRIER\r\n"})
    port = Port(modem.path)
    port.open()
    started = time.monotonic()
    try:
        result = Class1Fax(port, time_limit=20.0).send("5550100", tiff)
    finally:
        port.close()
        modem.close()
    assert time.monotonic() - started < 8
    assert (result.failure, result.reason) == (Failure.PROTOCOL, "the line dropped (NO CARRIER) while sending a frame")
    assert modem.frames == 1 and modem.heard[-3:] == ["AT+FTS=8", "AT+FTH=3", "ATH0"]
    assert "< frame ff 13 80 (13 bytes, good)" in result.transcript
    assert transmission(result, 2).reason is FaxReason.TRANSMISSION


def test_a_modem_that_is_not_class1_or_says_nothing(document) -> None:
    """AT+FCLASS=1 refused: Class1Error naming the command; a modem that never answers: Class1Error in the command
    timeout, not a hang."""
    tiff, _ = document
    for script, match in (({"+FCLASS=1": b"\r\nERROR\r\n"}, "refused AT\\+FCLASS=1 \\(ERROR\\)"),
                          ({"+FCLASS=1": b"\x11\x13garbage"}, "no result to AT\\+FCLASS=1 within 0.5 s")):
        modem = _ScriptedModem(script)
        port = Port(modem.path)
        port.open()
        try:
            with pytest.raises(Class1Error, match=match):
                Class1Fax(port, command_timeout=0.5).send("5550100", tiff)
        finally:
            port.close()
            modem.close()


def test_a_receive_on_a_held_port_fails_with_a_reason(tmp_path: Path) -> None:
    """The modem line's driver lends its open port: ATA answered ERROR -> a result that says so (no exception, no
    TIFF, the port still open for the line); a modem without class 1 -> a modem failure naming the command."""
    modem = _ScriptedModem({"+FTM=?": T31_CODES, "+FRM=?": T31_CODES, "A": b"\r\nERROR\r\n"})
    port = Port(modem.path)
    port.open()
    try:
        result = receive_blocking(port, tmp_path / "in.tif")
        assert port.is_open
    finally:
        port.close()
        modem.close()
    assert (result.failure, result.reason, result.tiff, result.pages) == \
        (Failure.DIAL, "the modem answered ERROR to ATA", None, 0)
    assert not list(tmp_path.iterdir()) and fax_result(result).outcome is FaxOutcome.FAILED
    modem = _ScriptedModem({"+FCLASS=1": b"\r\nERROR\r\n"})
    try:
        result = receive_blocking(modem.path, tmp_path / "in.tif")
    finally:
        modem.close()
    assert result.failure is Failure.MODEM and "refused AT+FCLASS=1 (ERROR)" in result.reason


def test_class1_bytes_dle_stuffing_results_and_hdlc_framing() -> None:
    """The modem's bytes read right: result lines around a DLE-stuffed frame split anywhere (DLE DLE is one DLE,
    DLE SUB two, DLE ETX ends it); frames stuffed for +FTH; the modulation codes; and ECM frames framed for +FTM
    decode back, a flipped bit giving a bad FCS."""
    frame = bytes([0xFF, 0x13, 0x80, 0x10, 0x00, 0x10, 0x10, 0x5A])
    assert stuff_frame(frame) == bytes([0xFF, 0x13, 0x80, 0x10, 0x10, 0x00, 0x10, 0x10, 0x10, 0x10, 0x5A, 0x10, 3])
    stream = b"\r\nCONNECT\r\n" + stuff_frame(frame + b"\xAB\xCD")[:-2] + b"\x10\x1a\x10\x03\r\nOK\r\n"
    for cut in range(1, len(stream)):      # the port may hand over the bytes in any two reads
        reader = ModemReader()
        reader.feed(stream[:cut])
        rest = stream[cut:]
        line = reader.line()                 # the driver reads one line, then the frame after CONNECT
        if line is None:
            reader.feed(rest)
            rest, line = b"", reader.line()
        assert line == "CONNECT", cut
        chunk = reader.data()
        data, ended = chunk.data, chunk.ended
        if not ended:
            reader.feed(rest)
            rest, chunk = b"", reader.data()
            data, ended = data + chunk.data, chunk.ended
        reader.feed(rest)
        assert ended and data == frame + b"\xAB\xCD\x10\x10", cut
        assert reader.line() == "OK" and reader.line() is None
    assert Result.parse(" no dial tone ") is Result.NO_DIALTONE and Result.parse("+FCERROR") is Result.FCERROR
    assert Result.parse("+FRH:3") is Result.FRH3 and Result.parse("CONNECT 9600") is None
    assert modulation_code(Modulation.V17, 14400, True) == 146 and modulation_code(Modulation.V29, 9600, False) == 96
    with pytest.raises(ValueError, match="V29 has no 14400"):
        modulation_code(Modulation.V29, 14400, False)
    codes = parse_codes(["(24,48,72,96)"])
    assert codes == {24, 48, 72, 96} and modems_offered(codes) == {Modulation.V27TER, Modulation.V29}
    frames = [bytes([0xFF, 0x03, 0x06, n]) + bytes(range(256))[::-1] for n in range(3)] + [b"\xff\x13\x86"]
    encoder, decoder = HdlcEncoder(preamble_flags=20), HdlcDecoder()
    wire = b"".join(encoder.frame(f) for f in frames)
    got = [g for i in range(0, len(wire), 100) for g in decoder.feed(wire[i:i + 100])]
    assert got == [(f, True) for f in frames]
    bad = bytearray(encoder.frame(frames[0]))
    bad[60] ^= 0x04
    damaged = decoder.feed(bytes(bad) + b"\x7e\x7e")
    assert damaged and all(not ok for _, ok in damaged)
    encoder.close()
    decoder.close()


def test_class1_is_a_configurable_sender() -> None:
    """hotline.yaml takes ``sender: class1`` with the modem's port; the daemon's sender is made from it."""
    text = (Path(__file__).parents[3] / "etc" / "hotline.yaml").read_text()
    assert "  sender: spandsp\n" in text
    mine = text.replace("  sender: spandsp\n", "  sender: class1\n  modem_port: /dev/ttyACM0\n")
    fax = dict(parse_config(mine, "hotline.yaml")["fax"])
    sender = make_sender(fax.pop("sender"), fax)
    assert isinstance(sender, Class1Sender) and sender.port == "/dev/ttyACM0" and sender.ecm
    assert "modem_port" in Class1Sender({}).unavailable()
