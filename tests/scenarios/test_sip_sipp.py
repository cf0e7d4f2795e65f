"""SIP interop with SIPp (Debian sip-tester) as the caller: it reaches the 8001 menu, presses keys as RFC 4733
events, and hangs up; strangers get 403; malformed datagrams are answered 400 and the call goes on."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.scenarios.conftest import udp_port

HERE = Path(__file__).parent / "sip"
SIPP = shutil.which("sipp")
PCAPS = Path("/usr/share/sip-tester")


def rtp_range() -> str:
    """A range of 40 UDP ports free right now, for the box's RTP."""
    base = udp_port()
    return f"{base}-{base + 40}"


@pytest.fixture
def sip_box(make_box):
    """A box on the shipped config (8001 menu) plus a SIP device whose only trunk peer is 127.0.0.1."""
    if SIPP is None:
        pytest.fail("sipp is missing: scripts/setup-env test installs sip-tester")
    port = udp_port()
    overrides = {
        "engine": {"speed": 1.0},   # RTP runs in real time: the engine must too
        "routes": [{"dialed": "8001", "flow": "printer_support"}],
        "devices": [
            {"name": "sim0", "driver": "sim", "trunks": 2, "stations": ["1001", "1002"]},
            {"name": "sip0", "driver": "sip", "listen": f"127.0.0.1:{port}", "rtp_ports": rtp_range(),
             "channels": 4, "trunks": ["sipp=127.0.0.1"]},
        ],
    }
    box = make_box(overrides)
    box.sip_port = port
    # The day/night switch forced to day: the office-hours check passes at any time of the run.
    subprocess.run([box.d.proc.args[0], "-c", str(box.d.config), "calendar", "override", "day"],
                   env=box.d.env, check=True, capture_output=True, timeout=60)
    return box


def run_sipp(box, scenario: str, *, keys: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Run one SIPp call against the box; returns the finished process (stdout/stderr kept)."""
    sipp_port, media_port = udp_port(), udp_port()
    cmd = [SIPP, f"127.0.0.1:{box.sip_port}", "-sf", str(HERE / scenario), "-s", "8001", "-i", "127.0.0.1",
           "-p", str(sipp_port), "-mp", str(media_port), "-m", "1", "-l", "1", "-nostdin",
           "-timeout", f"{int(timeout)}s", "-timeout_error", "-trace_err", "-error_file", "/dev/stderr"]
    for k, v in keys.items():
        cmd += ["-key", k, v]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 15)


def sip_port() -> int:
    """A port free on 127.0.0.1 for UDP and TCP both right now (the SIP device listens on both)."""
    for _ in range(50):
        port = udp_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no port free for UDP and TCP")


def sip_calls(box) -> list[dict]:
    """CDRs of calls that came in on SIP lines, newest last."""
    with box.db() as con:
        return [dict(r) for r in con.execute("SELECT * FROM cdrs WHERE line LIKE 'sip0-%' ORDER BY offered_at")]


def events(box, call_uuid: str) -> list[dict]:
    """The call's journal."""
    with box.db() as con:
        rows = con.execute("SELECT kind, line, data FROM events WHERE call_uuid = ? ORDER BY id", (call_uuid,))
        return [{"kind": r["kind"], "line": r["line"], "data": json.loads(r["data"])} for r in rows]


def wait_cdr(box, n: int = 1, timeout: float = 15) -> list[dict]:
    """Wait until ``n`` SIP calls have CDRs."""
    deadline = time.monotonic() + timeout
    rows: list[dict] = []
    while time.monotonic() < deadline:
        rows = sip_calls(box)
        if len(rows) >= n:
            return rows
        time.sleep(0.2)
    raise AssertionError(f"only {len(rows)} SIP CDRs")


def test_sipp_caller_reaches_the_menu_and_its_rfc4733_key_is_heard(sip_box) -> None:
    """SIPp calls 8001 with caller id, waits through the welcome, presses 2 (English) as RFC 4733 events, hangs up."""
    proc = run_sipp(sip_box, "caller_keys.xml",
                    keys={"caller": "13700000021"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    cdr = wait_cdr(sip_box)[-1]
    assert cdr["caller_id"] == "13700000021" and cdr["dialed"] == "8001"
    assert cdr["line"].startswith("sip0-") and cdr["answered_at"] is not None
    journal = events(sip_box, cdr["call_uuid"])
    kinds = [e["kind"] for e in journal]
    assert "call.answered" in kinds, kinds
    steps = [e["data"] for e in journal if e["kind"] == "ivr.step"]
    assert any(s.get("step") == "language" and s.get("key") == "2" and s.get("language") == "en_US"
               for s in steps), steps
    played = [e["data"].get("prompt") for e in journal if e["kind"] == "media.played"]
    assert "printer_welcome" in played, played
    assert cdr["cause"] == "normal"


def _raw_invite(port: int, call_id: str, branch: str, *, from_port: int, rtp_port: int = 40000) -> bytes:
    sdp_body = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                b"m=audio %d RTP/AVP 0\r\n" % rtp_port)
    head = (f"INVITE sip:8001@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{from_port};branch={branch}\r\n"
            f"From: <sip:13900000000@127.0.0.1>;tag=x1\r\nTo: <sip:8001@127.0.0.1>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp_body)}\r\n\r\n")
    return head.encode() + sdp_body


def test_strangers_get_403_and_garbage_gets_400_without_a_call(make_box) -> None:
    """An INVITE from an address that is not a trunk peer is refused and counted; malformed SIP is answered 400."""
    port = udp_port()
    box = make_box({"engine": {"speed": 1.0},
                    "devices": [{"name": "sim0", "driver": "sim", "trunks": 1, "stations": ["1001"]},
                                {"name": "sip0", "driver": "sip", "listen": f"127.0.0.1:{port}",
                                 "rtp_ports": rtp_range(), "channels": 2, "trunks": ["carrier=192.0.2.5"]}]})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
        me = s.getsockname()[1]
        s.sendto(_raw_invite(port, "stranger-1", "z9hG4bKs1", from_port=me), ("127.0.0.1", port))
        answer = s.recv(4096)
        assert answer.startswith(b"SIP/2.0 403 "), answer[:80]
        s.sendto(b"INVITE sip:8001@127.0.0.1 SIP/7.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKq\r\n"
                 b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: bad-1\r\nCSeq: 1 INVITE\r\n\r\n",
                 ("127.0.0.1", port))
        answer = s.recv(4096)
        assert answer.startswith(b"SIP/2.0 505 "), answer[:80]
        s.sendto(b"\x00\xff garbage \r\n\r\n", ("127.0.0.1", port))
        s.sendto(b"OPTIONS sip:8001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKo\r\n"
                 b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:8001@127.0.0.1>\r\nCall-ID: o-1\r\n"
                 b"CSeq: 7 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n" % me, ("127.0.0.1", port))
        answer = s.recv(4096)
        assert answer.startswith(b"SIP/2.0 200 ") and b"Allow: INVITE" in answer, answer[:200]
    assert sip_calls(box) == []


def test_a_caller_hears_the_welcome_over_rtp_and_inband_keys_work(sip_box) -> None:
    """A plain UDP caller (PCMU, no telephone-event): the box's RTP carries the welcome prompt, and DTMF tones
    sent in-band inside G.711 choose the language."""
    import numpy as np

    from hotline.drivers.common import g711, tones

    port = sip_box.sip_port
    sig = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sig.bind(("127.0.0.1", 0))
    media.bind(("127.0.0.1", 0))
    sig.settimeout(10)
    media.settimeout(5)
    me = sig.getsockname()[1]
    sig.sendto(_raw_invite(port, "raw-1", "z9hG4bKr1", from_port=me, rtp_port=media.getsockname()[1]),
               ("127.0.0.1", port))
    ok = b""
    while not ok.startswith(b"SIP/2.0 200"):
        ok = sig.recv(4096)
    to = next(line for line in ok.split(b"\r\n") if line.lower().startswith(b"to:"))
    box_rtp = int(next(line for line in ok.split(b"\r\n") if line.startswith(b"m=audio")).split()[1])
    sig.sendto(b"ACK sip:8001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKa1\r\n"
               b"From: <sip:13900000000@127.0.0.1>;tag=x1\r\n%s\r\nCall-ID: raw-1\r\nCSeq: 1 ACK\r\n"
               b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n" % (me, to), ("127.0.0.1", port))
    heard: list[bytes] = []
    seq = 0
    key = tones.dtmf_tone("2", 120)
    silence = bytes([0xFF]) * 160
    deadline = time.monotonic() + 12
    sent_key_at = None
    while time.monotonic() < deadline:
        # Send one 20 ms packet (silence, or the key's tone after 7 s) for each packet heard: the box's clock paces us.
        try:
            data = media.recv(2048)
        except socket.timeout:
            break
        heard.append(data[12:])
        elapsed = len(heard) * 0.02
        payload = silence
        if 7.0 <= elapsed < 7.0 + len(key) / 8000:
            i = int((elapsed - 7.0) * 8000)
            chunk = key[i:i + 160]
            payload = g711.ulaw_encode(np.pad(chunk, (0, 160 - len(chunk)))).tobytes()
            sent_key_at = sent_key_at or elapsed
        media.sendto(struct_pack_rtp(seq, payload), ("127.0.0.1", box_rtp))
        seq += 1
        if elapsed > 9.5:
            break
    sig.sendto(b"BYE sip:8001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKb1\r\n"
               b"From: <sip:13900000000@127.0.0.1>;tag=x1\r\n%s\r\nCall-ID: raw-1\r\nCSeq: 2 BYE\r\n"
               b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n" % (me, to), ("127.0.0.1", port))
    sig.close()
    media.close()
    audio = g711.ulaw_decode(b"".join(heard))
    welcome = sip_box.prompt_audio("printer_welcome", "zh_CN")
    assert sip_box.correlation(audio, welcome[:4000]) > 0.9
    cdr = wait_cdr(sip_box)[-1]
    journal = events(sip_box, cdr["call_uuid"])
    steps = [e["data"] for e in journal if e["kind"] == "ivr.step" and e["data"].get("step") == "language"]
    assert sent_key_at is not None and steps and steps[0].get("key") == "2", steps


def struct_pack_rtp(seq: int, payload: bytes) -> bytes:
    """A PCMU RTP packet (payload type 0) from the test caller."""
    import struct
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, 0x1234) + payload


@pytest.mark.parametrize("allowed", [True, False], ids=["allowed", "not-allowed"])
def test_the_box_calls_out_through_the_sip_trunk_to_a_sipp_uas(make_box, allowed: bool) -> None:
    """An agent phone dials an outside number: with allow_outbound the box sends the INVITE to the trunk peer
    (SIPp's built-in UAS answers), bridges it, and ends it with BYE when the agent hangs up; without it nothing
    leaves the box."""
    uas_port = udp_port()
    port = udp_port()
    box = make_box({"engine": {"speed": 1.0},
                    "devices": [{"name": "sim0", "driver": "sim", "trunks": 0, "stations": ["1001"]},
                                {"name": "sip0", "driver": "sip", "listen": f"127.0.0.1:{port}",
                                 "rtp_ports": rtp_range(), "channels": 2, "allow_outbound": allowed,
                                 "trunks": [f"carrier=127.0.0.1:{uas_port}"]}]})
    uas = subprocess.Popen([SIPP, "-sn", "uas", "-i", "127.0.0.1", "-p", str(uas_port), "-mp", str(udp_port()),
                            "-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        box.api("POST", "/sim/stations/1001/dial", {"number": "13900000000"}, expect=200)
        if allowed:
            deadline = time.monotonic() + 20
            answered: list = []
            while time.monotonic() < deadline and not answered:
                with box.db() as con:
                    answered = con.execute("SELECT kind, line, data FROM events WHERE line LIKE 'sip0-%' AND "
                                           "kind IN ('leg.answered', 'call.bridged')").fetchall()
                time.sleep(0.2)
            with box.db() as con:
                seen = [tuple(r) for r in con.execute("SELECT kind, line, data FROM events ORDER BY id")]
            assert answered, seen
            time.sleep(1.0)
            box.api("POST", "/sim/stations/1001/hangup", {}, expect=200)
            out, err = uas.communicate(timeout=30)
            assert uas.returncode == 0, out[-1500:] + err[-1500:]   # SIPp saw INVITE, ACK and our BYE
            cdr = wait_cdr(box)[-1]
            assert cdr["dialed"] == "13900000000" and cdr["answered_at"] is not None
        else:
            time.sleep(4)
            assert uas.poll() is None            # SIPp never got an INVITE
            assert not any(r["answered_at"] for r in sip_calls(box))
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.communicate()


def test_a_sipp_phone_transfers_its_caller_blind_with_refer(make_box, tmp_path) -> None:
    """SIPp registers as extension 1001, is rung by a caller who dialled 1001, answers, and REFERs the caller to
    1002 (a simulated phone): the caller is bridged with 1002, the phone got 202, NOTIFY 100 and 200, and BYE."""
    from hotline.drivers.sip.auth import ha1, save_secret
    from tests.scenarios.test_sip_baresip import place_call
    if SIPP is None:
        pytest.fail("sipp is missing: scripts/setup-env test installs sip-tester")
    secrets_file = tmp_path / "sip-secrets"
    save_secret(secrets_file, "1001", ha1("1001", "hotline", "sipp-pass"))
    port, phone_port = sip_port(), udp_port()
    box = make_box({"engine": {"speed": 1.0},
                    "devices": [{"name": "sim0", "driver": "sim", "trunks": 2, "stations": ["1002"]},
                                {"name": "sip0", "driver": "sip", "listen": f"127.0.0.1:{port}",
                                 "rtp_ports": rtp_range(), "channels": 2, "extensions": ["1001"],
                                 "secrets_file": str(secrets_file)}]})
    common = [SIPP, f"127.0.0.1:{port}", "-i", "127.0.0.1", "-p", str(phone_port), "-m", "1", "-nostdin",
              "-timeout_error", "-trace_err", "-error_file", "/dev/stderr"]
    reg = subprocess.run(common + ["-sf", str(HERE / "phone_register.xml"), "-s", "1001", "-au", "1001",
                                   "-ap", "sipp-pass", "-timeout", "15s"], capture_output=True, text=True, timeout=30)
    assert reg.returncode == 0, reg.stderr[-2000:]
    phone = subprocess.Popen(common + ["-sf", str(HERE / "phone_refer.xml"), "-s", "1002", "-mp", str(udp_port()),
                                       "-timeout", "40s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        call = place_call(box, "13700000023", "8000")
        box.wait(call, "answered")
        box.api("POST", f"/sim/calls/{call}/dtmf", {"digits": "1001#"}, expect=202)
        box.wait_event(call, "call.bridged", peer="1001")
        box.wait_station("1002", "ringing")
        box.api("POST", "/sim/stations/1002/answer", {}, expect=200)
        moved = box.wait_event(call, "call.transferred")
        assert (moved["data"]["mode"], moved["data"]["source"], moved["data"]["target"]) == ("blind", "1001", "1002")
        box.wait_event(call, "call.bridged", peer="1002")
        out, err = phone.communicate(timeout=30)
        assert phone.returncode == 0, (out[-1500:], err[-2000:])
    finally:
        if phone.poll() is None:
            phone.kill()
            phone.wait()
    box.api("DELETE", f"/sim/calls/{call}", expect=200)
    box.wait(call, "ended")


def test_a_sipp_phone_holds_consults_and_transfers_attended_with_replaces(make_box, tmp_path) -> None:
    """SIPp as extension 1001 is rung by a caller, holds the caller (who hears music), calls 1002 (a simulated phone,
    which rings and answers), and sends REFER with Replaces: the caller is bridged with 1002, the journal says
    attended, the phone hears 202, NOTIFY 100 and 200, and BYE for both of its calls."""
    from hotline.drivers.sip.auth import ha1, save_secret
    from tests.scenarios.test_sip_baresip import place_call
    if SIPP is None:
        pytest.fail("sipp is missing: scripts/setup-env test installs sip-tester")
    secrets_file = tmp_path / "sip-secrets"
    save_secret(secrets_file, "1001", ha1("1001", "hotline", "sipp-pass"))
    port, phone_port = sip_port(), udp_port()
    box = make_box({"engine": {"speed": 1.0},
                    "devices": [{"name": "sim0", "driver": "sim", "trunks": 2, "stations": ["1002"]},
                                {"name": "sip0", "driver": "sip", "listen": f"127.0.0.1:{port}",
                                 "rtp_ports": rtp_range(), "channels": 2, "extensions": ["1001"],
                                 "secrets_file": str(secrets_file)}]})
    common = [SIPP, f"127.0.0.1:{port}", "-i", "127.0.0.1", "-p", str(phone_port), "-m", "1", "-nostdin",
              "-timeout_error", "-trace_err", "-error_file", "/dev/stderr", "-au", "1001", "-ap", "sipp-pass"]
    reg = subprocess.run(common + ["-sf", str(HERE / "phone_register.xml"), "-s", "1001", "-timeout", "15s"],
                         capture_output=True, text=True, timeout=30)
    assert reg.returncode == 0, reg.stderr[-2000:]
    phone = subprocess.Popen(common + ["-sf", str(HERE / "phone_attended.xml"), "-s", "1002", "-mp", str(udp_port()),
                                       "-timeout", "40s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        call = place_call(box, "13700000024", "8000")
        box.wait(call, "answered")
        box.api("POST", f"/sim/calls/{call}/dtmf", {"digits": "1001#"}, expect=202)
        box.wait_event(call, "call.bridged", peer="1001")
        box.wait_event(call, "call.held")
        box.wait_event(call, "call.consult")
        box.wait_station("1002", "ringing")
        box.api("POST", "/sim/stations/1002/answer", {}, expect=200)
        moved = box.wait_event(call, "call.transferred")
        assert (moved["data"]["mode"], moved["data"]["source"], moved["data"]["target"]) == ("attended", "1001", "1002")
        box.wait_event(call, "call.bridged", peer="1002")
        out, err = phone.communicate(timeout=30)
        assert phone.returncode == 0, (out[-1500:], err[-2000:])
    finally:
        if phone.poll() is None:
            phone.kill()
            phone.wait()
    box.api("DELETE", f"/sim/calls/{call}", expect=200)
    box.wait(call, "ended")
