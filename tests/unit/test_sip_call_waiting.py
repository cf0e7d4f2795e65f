"""Call waiting on an IP phone with ``max_calls: 2``, in-process (real call manager, engine, simulated trunks and the
real SIP endpoint over UDP, the phone played by the test): two callers ring extension 1001 one after the other; the
phone is in the first call when the second arrives, and the second rings the phone anyway, on the extension's second
line (sip0-1001-2), is answered there and bridged, instead of the caller being told busy. With both lines taken a
third caller is told busy and the phone gets no third INVITE."""
from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from hotline.daemon.calls.context import CallSession
from hotline.daemon.calls.devices import DeviceManager
from hotline.daemon.calls.journal import Journal
from hotline.daemon.calls.manager import CallManager
from hotline.daemon.media.engine import MediaEngine
from hotline.daemon.store import migrations
from hotline.daemon.store.db import Store
from hotline.drivers.sip import message as sipmsg
from hotline.drivers.sip.auth import ha1, save_secret

from tests.unit.test_sip_endpoint import Far, _digest, _free_rtp_range, _register

SIM = {"name": "sim0", "driver": "sim", "trunks": 3, "stations": [], "seed": 1, "capture_seconds": 5.0,
       "answer_delay": 0.1, "station_auto_answer": None, "noise_dbm0": None, "enabled": True}


def answer(phone: Far, invite: sipmsg.Request) -> None:
    """The phone answers an INVITE: 200 OK with its SDP (the box then ACKs)."""
    body = (b"v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            b"m=audio %d RTP/AVP 0\r\n" % phone.media.getsockname()[1])
    vias = "".join(f"Via: {v}\r\n" for v in invite.headers.get_all("via"))
    phone.send(f"SIP/2.0 200 OK\r\n{vias}From: {invite.headers.get('from')}\r\n"
               f"To: {invite.headers.get('to')};tag=ph{invite.call_id[:8]}\r\nCall-ID: {invite.call_id}\r\n"
               f"CSeq: {invite.headers.get('cseq')}\r\nContact: <sip:1001@127.0.0.1:{phone.port}>\r\n"
               f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n", body)


async def recv(phone: Far, want: bytes, timeout: float = 5.0) -> sipmsg.Request | sipmsg.Response | None:
    """The phone's next message starting with ``want`` (others skipped), off the event loop; None on timeout."""
    def read() -> sipmsg.Request | sipmsg.Response | None:
        phone.sig.settimeout(timeout)
        try:
            return phone.recv(want)
        except socket.timeout:
            return None
    return await asyncio.get_running_loop().run_in_executor(None, read)


def test_a_second_call_rings_the_phones_second_line_and_a_third_is_busy(tmp_path: Path) -> None:
    secrets_file = tmp_path / "sip-secrets"
    save_secret(secrets_file, "1001", ha1("1001", "hotline", "pw-1001"))
    sip = {"name": "sip0", "driver": "sip", "listen": "127.0.0.1:0", "rtp_ports": _free_rtp_range(), "channels": 1,
           "extensions": ["1001"], "secrets_file": str(secrets_file), "max_calls": 2, "enabled": True}
    results: dict[str, str] = {}

    async def flow(session: CallSession) -> None:
        await session.answer()
        result = await session.connect("1001", ring_timeout=10)
        results[session.call.caller_id] = result.value

    async def scenario() -> None:
        store = Store(f"sqlite:///{tmp_path / 'h.db'}")
        store.open()
        store.write_sync(migrations.upgrade, store.db)
        engine = MediaEngine(16, speed=1.0)
        journal = Journal(store, clock=engine.now)
        holder: list = []
        devices = DeviceManager([dict(SIM), sip], lambda ev: holder[0].on_line_event(ev))
        calls = CallManager(devices, engine, journal, store, tmp_path / "rec",
                            {"engine": {"max_channels": 10, "call_timeout": 60.0}})
        calls.record_calls = False
        holder.append(calls)
        calls.flow_for = lambda call: flow
        calls.context_factory = lambda call, m: CallSession(call, m, None, "CN", "zh_CN")  # type: ignore[arg-type]
        await journal.start()
        await engine.start()
        await devices.start()
        await calls.start()
        card, endpoint = devices.devices["sim0"].driver, devices.devices["sip0"].driver.endpoint
        phone = Far(endpoint.port)
        try:
            challenge = await asyncio.get_running_loop().run_in_executor(None, _register, phone, "1001")
            auth = _digest(challenge.headers.get("www-authenticate"), "1001", "pw-1001")
            ok = await asyncio.get_running_loop().run_in_executor(
                None, lambda: _register(phone, "1001", cseq=2, auth=auth))
            assert ok.status == 200
            for _ in range(100):
                if all(devices.lines[n].up for n in ("sip0-1001", "sip0-1001-2")):
                    break
                await asyncio.sleep(0.02)
            assert devices.station("1001").name == "sip0-1001"
            trunks = [ln for ln in card.lines.values() if ln.kind.value == "trunk"]

            card.far_call(trunks[0], "13900000001", "", "8001")
            first = await recv(phone, b"INVITE")
            assert first is not None, "the phone was never rung"
            answer(phone, first)
            assert await recv(phone, b"ACK") is not None
            await wait(lambda: "sip0-1001" in calls.owner and calls.owner["sip0-1001"].call.bridged_at)

            card.far_call(trunks[1], "13900000002", "", "8001")       # the phone is in a call: call waiting
            second = await recv(phone, b"INVITE")
            assert second is not None, f"the second caller was not put through to the phone: {results}"
            assert second.call_id != first.call_id and "13900000002" in second.headers.get("from")
            answer(phone, second)
            assert await recv(phone, b"ACK") is not None
            await wait(lambda: "sip0-1001-2" in calls.owner and calls.owner["sip0-1001-2"].call.bridged_at)
            assert calls.owner["sip0-1001-2"].call.caller_id == "13900000002"
            assert calls.owner["sip0-1001"].call.caller_id == "13900000001"      # the first call goes on

            card.far_call(trunks[2], "13900000003", "", "8001")       # both lines taken: busy, no third INVITE
            await wait(lambda: "13900000003" in results)
            assert results["13900000003"] == "busy"
            assert await recv(phone, b"INVITE", timeout=0.3) is None
            assert "13900000001" not in results and "13900000002" not in results   # both still talking
        finally:
            phone.close()
            await calls.stop()
            await devices.stop()
            await engine.stop()
            await journal.stop()
            store.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


async def wait(pred, timeout: float = 5.0) -> None:
    """Until ``pred()`` is true (AssertionError after ``timeout`` seconds)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
