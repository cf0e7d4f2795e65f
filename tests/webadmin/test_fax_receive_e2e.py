"""End to end, the receive half: independent spandsp fax terminals (not Hotline's FaxSession or pool) call the
shipped line 8001 through the media WebSocket (``/api/v1/sim/calls/{id}/media``), send their calling tone (CNG) into
the IVR and a 2-page ghostscript document, with and without ECM, white noise on the line both ways; the box takes
both faxes (its flow stops), stores them as received and lists them with their PDF and page images. A third caller
on a route with ``fax_detect: false`` sends CNG the whole time and stays in the IVR; a fourth sends CNG and hangs up
once the box answers with fax (failed, never received). A fifth asks for a fax back on the same call: the box tells
it to press Start and sends as the calling machine to the caller's receiving spandsp terminal. The five calls run
at once (the suite's time is short)."""
from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import numpy as np
import tornado.httpclient
import tornado.websocket

from hotline.drivers.common import spandsp
from hotline.drivers.common.tones import ToneSpec, render_tone
from hotline.fax.tiff import page_bitmaps

from tests.webadmin.test_fax_engine_e2e import LEAD_FRAMES, NON_ECM_TOLERANCE, FarTerminal
from tests.webadmin.test_faxes import events, metric
from tests.webadmin.test_media_pages import wait_for

REPO = Path(__file__).resolve().parents[2]
FAX_BACK_FLOW = """flow: fax_back_test
blocks:
  main:
    - answer
    - fax: {document: faq-100, number: same_call, done_prompt: fax_same_call_queued}
    - hangup
"""
ROWS = 260          # short pages (about 34 mm at 196 lines/inch): the line time goes to the handshake, not to paper
PAGES_PS = b"""%!PS
1 1 2 { /n exch def
  /Helvetica findfont 30 scalefont setfont 20 60 moveto (Fax in to Hotline, page ) show n 3 string cvs show
  /Times-Roman findfont 12 scalefont setfont 20 35 moveto (A short page made by ghostscript for the test.) show
  3 setlinewidth 20 20 moveto 600 10 n mul add 30 lineto stroke
  newpath 560 60 15 0 360 arc n 2 eq { fill } { stroke } ifelse showpage } for
"""


def ghostscript_fax(tmp: Path) -> Path:
    """The test's own 2-page TIFF (T.4, 1728 wide, fine resolution, short pages) made by ghostscript."""
    src, out = tmp / "pages.ps", tmp / "pages.tif"
    src.write_bytes(PAGES_PS)
    subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=tiffg3", "-r204x196",
                    f"-g1728x{ROWS}", "-sOutputFile=" + str(out), str(src)], check=True, timeout=60)
    return out


async def place(qa, frm: str, to: str) -> str:
    """A call rings in; a box that refuses it for overload (503: a loaded test machine) is called again, as a
    caller redials."""
    loop = asyncio.get_running_loop()
    for _ in range(20):
        made = await loop.run_in_executor(None, lambda: qa.api("POST", "/sim/calls", {"from": frm, "to": to}))
        if "id" in made and made.get("status") != 503:
            return made["id"]
        assert made.get("reason") == "overload", made
        await asyncio.sleep(0.5)
    raise AssertionError(f"the box refused every call to {to}")


async def caller(box, qa, to: str, terminal: FarTerminal | None, cng_only: bool = False,
                 stop: asyncio.Event | None = None, timeout: float = 120.0) -> str:
    """A caller rings ``to`` and, once answered, its fax terminal talks on the call's audio (one frame answered for
    each frame heard) until T.30 ended (then it hangs up 0.5 s later, as a fax machine does) or ``stop`` is set."""
    loop = asyncio.get_running_loop()
    cid = await place(qa, "13912345678", to)
    url = box.url.replace("http", "ws") + f"/api/v1/sim/calls/{cid}/media"
    ws = await tornado.websocket.websocket_connect(
        tornado.httpclient.HTTPRequest(url, headers={"Authorization": f"Bearer {box.qa_token}"}))
    after, deadline = 0, time.monotonic() + timeout
    # the lead (silence) first: the terminal then stays that far ahead of the box's clock, so a test process that is
    # late by less than that (a loaded box) never leaves a hole in its modem signal (a jitter buffer's lead)
    await ws.write_message(bytes(320 * LEAD_FRAMES), binary=True)
    try:
        while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
            try:
                msg = await asyncio.wait_for(ws.read_message(), 5)
            except asyncio.TimeoutError:      # the box hung up: nothing more to hear
                break
            if msg is None:
                break
            if isinstance(msg, str):
                continue
            await ws.write_message(terminal.step(np.frombuffer(msg, "<i2")), binary=True)
            if terminal.code is not None:
                after += 1
                if after == 25:
                    break
    finally:
        ws.close()
        await loop.run_in_executor(None, lambda: qa.api("DELETE", f"/sim/calls/{cid}"))
    return cid


async def fax_back_caller(box, qa, to: str, terminal: FarTerminal) -> str:
    """A caller whose fax machine is set to receive from the start (CED, then DIS until the box's fax answers);
    hangs up when the box does."""
    return await caller(box, qa, to, terminal)


async def cng_caller(box, qa, to: str) -> str:
    """A caller whose machine only sends CNG (no T.30 behind it) and who hangs up 1 s after the box started
    receiving (its journal says fax.receiving)."""
    loop = asyncio.get_running_loop()
    cid = await place(qa, "13700000001", to)
    cng = render_tone(ToneSpec((1100.0,), -12.0, (500, 3000)), 30000)
    url = box.url.replace("http", "ws") + f"/api/v1/sim/calls/{cid}/media"
    ws = await tornado.websocket.websocket_connect(
        tornado.httpclient.HTTPRequest(url, headers={"Authorization": f"Bearer {box.qa_token}"}))
    await ws.write_message(cng[:160 * LEAD_FRAMES].astype("<i2").tobytes(), binary=True)
    pos, receiving, deadline = 160 * LEAD_FRAMES, None, time.monotonic() + 30
    try:
        while time.monotonic() < deadline and pos + 160 <= len(cng):
            msg = await asyncio.wait_for(ws.read_message(), 5)
            if msg is None:
                break
            if isinstance(msg, str):
                continue
            await ws.write_message(cng[pos:pos + 160].astype("<i2").tobytes(), binary=True)
            pos += 160
            if receiving is None and pos % 8000 == 0:   # every 0.5 s: has the box taken the call?
                st = await loop.run_in_executor(None, lambda: qa.api("GET", f"/sim/calls/{cid}"))
                receiving = pos if any(e["kind"] == "fax.receiving" for e in st.get("events", [])) else None
            if receiving is not None and pos - receiving >= 8000:
                break
    finally:
        ws.close()
        await loop.run_in_executor(None, lambda: qa.api("DELETE", f"/sim/calls/{cid}"))
    assert receiving is not None, "the box never started receiving"
    return cid


def test_the_shipped_line_8001_takes_faxes_with_and_without_ecm(prepared_box, client, qa, tmp_path: Path) -> None:
    """CNG during 8001's welcome turns each call into a fax receive: both faxes are stored as received (2 pages),
    the pages are the sender's document (identical with ECM, within 1 % on the noisy line without), journaled and
    counted, listed in GET /api/v1/faxes as direction "in" with the caller's number, PDF and page images. The
    caller on 8009 (the same flow, route fax_detect: false) is never taken."""
    routes = [{"dialed": "8001", "flow": "printer_support"},
              {"dialed": "8009", "flow": "printer_support", "fax_detect": False},
              {"dialed": "8010", "flow": "fax_back_test"}]
    flows = {p.stem: p.read_text() for p in (REPO / "etc" / "flows").glob("*.yaml")}
    box = prepared_box(flows={**flows, "fax_back_test": FAX_BACK_FLOW},
                       config={"fax": {"ident": "+86 10 8001"}, "routes": routes})
    q = qa(box)
    document = ghostscript_fax(tmp_path)
    sent = page_bitmaps(document)
    ecm_far = FarTerminal(tmp_path / "unused-a.tif", ecm=True, seed=5, tx_file=document)
    plain_far = FarTerminal(tmp_path / "unused-b.tif", ecm=False, seed=6, tx_file=document)
    ignored = FarTerminal(tmp_path / "unused-c.tif", ecm=True, seed=7, tx_file=document)
    back = FarTerminal(tmp_path / "fax-back.tif", ecm=True, seed=8)

    async def scenario() -> tuple[str, str, str]:
        stop = asyncio.Event()
        third = asyncio.ensure_future(caller(box, q, "8009", ignored, stop=stop))
        first, second, gone, faxed = await asyncio.gather(
            caller(box, q, "8001", ecm_far), caller(box, q, "8001", plain_far), cng_caller(box, q, "8001"),
            fax_back_caller(box, q, "8010", back))
        stop.set()
        return first, second, await third, gone, faxed
    try:
        ecm_call, plain_call, ignored_call, gone_call, back_call = asyncio.run(scenario())
    finally:
        for t in (ecm_far, plain_far, ignored, back):
            t.close()
    for far, ecm in ((ecm_far, True), (plain_far, False)):
        assert far.code == spandsp.T30_ERR_OK, spandsp.completion_text(far.code or -1)
        assert (far.stats.pages_tx, bool(far.stats.error_correcting_mode)) == (2, ecm)
        assert far.remote == "+86 10 8001"       # the box answered with its own fax ident (CSI)
    assert ignored.pages == 0 and ignored.code != spandsp.T30_ERR_OK   # its CNG never got a fax answer

    panel = client(box.url)
    panel.login("sup")

    def received() -> list[dict]:
        faxes = panel.api("GET", "/faxes?direction=in").json()["faxes"]
        return faxes if len([f for f in faxes if f["status"] in ("received", "failed")]) == 3 else []
    faxes = {f["call_uuid"]: f for f in wait_for("three faxes stored", received, timeout=30)}
    assert set(faxes) == {ecm_call, plain_call, gone_call}
    gone = faxes[gone_call]     # the caller hung up during the handshake: failed, never "received"
    assert (gone["status"], gone["pages"], gone["reason"]) == ("failed", 0, "transmission"), gone
    assert "hung up" in gone["detail"] and gone["tiff_url"] is None and not gone["pdf_ready"], gone
    for call, tolerance in ((ecm_call, 0.0), (plain_call, NON_ECM_TOLERANCE)):
        f = faxes[call]
        assert (f["direction"], f["status"], f["pages"], f["reason"], f["caller_id"]) == \
            ("in", "received", 2, None, "13912345678"), f
        assert f["pdf_ready"] and f["page_urls"] == [f"/api/v1/faxes/{f['id']}/pages/{i}.png" for i in (1, 2)]
        pdf = panel.request("GET", f["pdf_url"])
        assert pdf.status == 200 and pdf.body.startswith(b"%PDF-")
        assert all(panel.request("GET", u).body.startswith(b"\x89PNG") for u in f["page_urls"])
        tiff = panel.request("GET", f["tiff_url"])
        assert tiff.status == 200 and tiff.body[:4] == b"II*\x00" and "555 0100" in f["detail"]
        got = page_bitmaps(box.state / "spool" / "fax" / "jobs" / str(f["id"]) / "received.tif")
        assert len(got) == 2
        for i, (s, g) in enumerate(zip(sent, got), 1):
            assert g.shape == s.shape == (ROWS, 1728), f"page {i}: {g.shape}"
            assert s.mean() > 0.005, f"page {i}: the document is blank"
            assert float(np.mean(s != g)) <= tolerance, f"page {i}: {np.mean(s != g):.4%} of the pixels differ"
    kinds = {c: [e["kind"] for e in events(box, "fax.") if e["call"] == c] for c in (ecm_call, plain_call)}
    for call in (ecm_call, plain_call):
        assert kinds[call] == ["fax.detected", "fax.receiving", "fax.page", "fax.page", "fax.received"], kinds
    assert [e for e in events(box, "fax.") if e["call"] == ignored_call] == []
    ivr = [e for e in events(box, "ivr.") if e["call"] == ignored_call]
    assert ivr, "the caller on the fax_detect: false line was not in the IVR"
    inbox = panel.get("/faxes?direction=in")      # the panel's inbox: both faxes with their pages
    for call in (ecm_call, plain_call):
        f = faxes[call]
        assert f'href="/api/v1/faxes/{f["id"]}/pages/2.png"' in inbox.text and f'href="{f["tiff_url"]}"' in inbox.text
    assert metric(box, "hotline_fax_transitions_total", direction="in", status="received") == 2.0
    assert metric(box, "hotline_fax_failures_total", direction="in", reason="transmission") == 1.0
    assert metric(box, "hotline_fax_pages_total", direction="in") == 4.0

    # fax-back on the same call: the caller's machine has the box's document, 1 page, as the job says
    assert back.code == spandsp.T30_ERR_OK and back.stats.pages_rx == 1, spandsp.completion_text(back.code or -1)
    assert back.remote == "+86 10 8001"
    out = wait_for("fax-back sent", lambda: [f for f in panel.api("GET", "/faxes?direction=out").json()["faxes"]
                                             if f["call_uuid"] == back_call and f["status"] in ("sent", "failed")])[0]
    assert (out["status"], out["pages"], out["same_call"], out["document"]) == ("sent", 1, True, "faq-100"), out
    job_dir = box.state / "spool" / "fax" / "jobs" / str(out["id"])
    assert np.array_equal(page_bitmaps(job_dir / "document.tif")[0], page_bitmaps(tmp_path / "fax-back.tif")[0])
    said = [(e["kind"], e.get("prompt")) for e in events(box, "") if e["call"] == back_call
            and e["kind"] in ("media.played", "fax.sending", "fax.sent")]
    assert said[-3:] == [("media.played", "fax_same_call_queued"), ("fax.sending", None), ("fax.sent", None)], said
