"""The analog layer on DAHDI ports, through the daemon's call engine over the fake kernel: caller ID (FSK between
rings, DTMF before the first ring) in call.offered, hang-up by busy tone, an outbound callback answered by voice or
polarity, and a blind transfer by hook flash from an agent's phone that got the caller ID as FSK audio."""
from __future__ import annotations

import asyncio

import numpy as np

from hotline.daemon.calls.manager import CallState
from hotline.drivers import base
from hotline.drivers.common.callerid_receiver import CallerIdReceiver
from hotline.drivers.common.dtmf import DtmfDetector
from hotline.drivers.dahdi.fakekernel import FakeDahdi

from tests.drivers.dahdi.test_dahdi_calls import CARD, keys, power_at, tone


def journal_of(calls) -> list[dict]:
    """Every journal event of the box from now on (a listener)."""
    got: list[dict] = []
    calls.journal.listeners.append(got.append)
    return got


def digits_in(audio: np.ndarray) -> str:
    """DTMF digits found in audio."""
    det = DtmfDetector(1)
    n = len(audio) // 160 * 160
    return "".join(h.digit for i in range(0, n, 160) for h in det.process(audio[i:i + 160][None, :]))


def callerid_in(audio: np.ndarray) -> str:
    """The number of the first caller-ID message in audio ('' when none)."""
    rx = CallerIdReceiver(1)
    audio = np.concatenate([audio, np.zeros(1600, np.int16)])   # the receiver ends a message on silence
    n = len(audio) // 160 * 160
    for i in range(0, n, 160):
        for _, finding in rx.process(audio[i:i + 160][None, :]):
            return finding.callerid.number
    return ""


def test_incoming_caller_id_in_each_format_is_in_call_offered(box, clock) -> None:
    """Four lines ring at once: Chinese FSK caller ID in the first pause, DTMF caller ID before the first ring,
    Bell 202 FSK between rings, and a polarity reversal then FSK before the first ring: every call is offered
    with its decoded number."""
    k = FakeDahdi.analog(fxo=4, fxs=1)
    card = {**CARD, "fxo": "1-4", "fxs": "5", "extensions": ["1001"]}

    async def flow(ctx) -> None:
        await ctx.sleep(60)

    async def main() -> None:
        engine, devices, calls = await box(k, [card], flow)
        events = journal_of(calls)
        try:
            k.co_ring_with_callerid(1, "13912345678", "cn")
            k.co_ring_with_callerid(2, "02087654321", "dtmf-a")
            k.co_ring_with_callerid(3, "2125551234", "bell", name="JOHN DOE")
            k.co_ring_with_callerid(4, "075512345678", "cn", polarity_first=True)
            offered = lambda: {e["line"]: e["data"] for e in events if e["kind"] == "call.offered"}  # noqa: E731
            await clock.step_until(engine, k, lambda: len(offered()) == 4, limit=400)
            got = offered()
            assert got["card0-1"]["caller_id"] == "13912345678" and got["card0-1"]["dialed"] == "8001"
            assert got["card0-2"]["caller_id"] == "02087654321"
            assert (got["card0-3"]["caller_id"], got["card0-3"]["caller_name"]) == ("2125551234", "JOHN DOE")
            assert got["card0-4"]["caller_id"] == "075512345678"
        finally:
            await box.close()
    asyncio.run(main())


def test_far_end_hang_up_by_busy_tone_ends_the_call_within_two_seconds(box, clock) -> None:
    """A Chinese line that gives no loop drop: the far end hangs up, the exchange plays busy; the call ends with a
    normal hang-up less than 2 s of media time later and the port goes back on hook."""
    k = FakeDahdi.analog(fxo=2, fxs=2)

    async def flow(ctx) -> None:
        await ctx.answer()
        await ctx.sleep(60)

    async def main() -> None:
        engine, devices, calls = await box(k, [CARD], flow)
        try:
            k.co_ring(1, rings=2)
            await clock.step_until(engine, k, lambda: k.channels[1].offhook, limit=400)
            call = next(iter(calls.calls.values()))
            k.far_send(1, tone(1000, 2.0, amp=3000))   # the caller talks: no hang-up on that
            await clock.step(engine, k, 100)
            assert call.state is not CallState.ENDED
            start = k.now()
            k.co_tone(1, "busy", 5.0)
            await clock.step_until(engine, k, lambda: call.state is CallState.ENDED, limit=150)
            assert call.cause is base.HangupCause.NORMAL
            assert k.now() - start < 2.0, f"busy tone took {k.now() - start:.2f} s to end the call"
            await clock.step(engine, k, 2)
            assert not k.channels[1].offhook
        finally:
            await box.close()
    asyncio.run(main())


def test_outbound_callback_through_an_fxo_port_answered_by_voice(box, clock) -> None:
    """An agent lifts the phone on channel 3; the flow calls a customer back through FXO channel 1: the exchange
    hears the number as DTMF, plays ringback, the customer says hello (voice): the call is answered and bridged,
    and the agent hears the customer."""
    k = FakeDahdi.analog(fxo=2, fxs=2)
    result: dict = {}

    async def flow(ctx) -> None:
        result["dial"] = await ctx.dial_out("13900001111", ring_timeout=20)

    async def main() -> None:
        engine, devices, calls = await box(k, [CARD], flow)
        events = journal_of(calls)
        try:
            k.phone_offhook(3)
            await clock.step_until(engine, k, lambda: k.channels[1].offhook, limit=100)
            await clock.step(engine, k, 200)   # 1 s before dialling, then 11 digits of 200 ms
            assert digits_in(k.heard(1)) == "13900001111"
            assert not any(e["kind"] == "call.bridged" for e in events)
            k.co_tone(1, "ringback", 2.0)
            rng = np.random.default_rng(7)
            k.far_send(1, (rng.standard_normal(6400) * 3000).astype(np.int16))   # "hello?"
            await clock.step_until(engine, k, lambda: any(e["kind"] == "call.bridged" for e in events), limit=300)
            k.far_send(1, tone(700, 2.0))
            await clock.step(engine, k, 90)
            assert power_at(k.heard(3)[-4000:], 700) > 0.4, "the agent did not hear the customer"
        finally:
            await box.close()
    asyncio.run(main())


def lockstep(k: FakeDahdi, blocks: int) -> None:
    """``blocks`` × 20 ms of card time, the span threads keeping up with each block."""
    for _ in range(blocks):
        k.advance(1)
        k.settle()


def test_dial_out_answered_by_polarity_reversal(card) -> None:
    """answer: polarity: ringback is not an answer; the exchange's polarity reversal is. A mistyped answer mode is
    a configuration error naming the key."""
    from hotline.drivers.dahdi.driver import DahdiDriver
    assert DahdiDriver.check_settings({"fxo": "1", "answer": "ring"}) == [
        ("answer", "'ring'; expected progress, polarity, immediate")]
    k = FakeDahdi.analog(fxo=1, fxs=0)
    drv, events = card(k, fxo="1", answer="polarity")
    drv.lines[0].dial("95511")
    k.settle()
    lockstep(k, 150)   # seize, 1 s, five digits
    k.co_tone(1, "ringback", 1.0)
    lockstep(k, 60)
    assert not any(isinstance(e, base.Answered) for e in events.items)
    k.co_polarity(1)
    events.wait_for(lambda e: isinstance(e, base.Answered), kernel=k)


def test_dtmf_caller_id_sent_to_a_phone_before_the_first_ring(card) -> None:
    """callerid_send: dtmf-a: the phone on an FXS port gets the caller's number as DTMF audio (on-hook transfer)
    before the card starts ringing it."""
    k = FakeDahdi.analog(fxo=0, fxs=1)
    drv, events = card(k, fxs="1", callerid_send="dtmf-a")
    drv.lines[0].ring("13912345678", "")
    k.settle()
    ch = k.channels[1]
    for _ in range(200):
        lockstep(k, 1)
        if ch.rings:
            break
    assert ch.rings == 1
    assert callerid_in(np.concatenate(ch.heard_oht)) == "13912345678"


def test_blind_transfer_by_hook_flash_from_an_fxs_phone(box, clock) -> None:
    """A caller with FSK caller ID is put through to extension 1001 (channel 3), whose phone gets the caller ID as
    FSK audio between rings; the agent presses flash, dials 1002#, hangs up: 1002 (channel 4) rings, answers, and
    the caller is bridged to it."""
    k = FakeDahdi.analog(fxo=2, fxs=2)

    async def flow(ctx) -> None:
        await ctx.answer()
        await ctx.connect("1001", ring_timeout=30)

    async def main() -> None:
        engine, devices, calls = await box(k, [CARD], flow)
        events = journal_of(calls)
        try:
            k.co_ring_with_callerid(1, "13912345678", "cn")
            await clock.step_until(engine, k, lambda: k.channels[3].rings >= 1, limit=400)
            await clock.step_until(engine, k, lambda: k.channels[3].rings >= 2, limit=400)
            oht = np.concatenate(k.channels[3].heard_oht) if k.channels[3].heard_oht else np.zeros(0, np.int16)
            assert callerid_in(oht) == "13912345678", "the agent's phone got no caller ID"
            k.phone_offhook(3)
            await clock.step_until(engine, k, lambda: any(e["kind"] == "call.bridged" for e in events), limit=50)
            k.phone_flash(3)
            await clock.step(engine, k, 25)
            k.far_send(3, keys("1002#"))
            await clock.step_until(engine, k, lambda: k.ringing(4), limit=200)
            k.phone_onhook(3)
            k.phone_offhook(4)
            bridged = lambda: [e["data"].get("peer") for e in events if e["kind"] == "call.bridged"]  # noqa: E731
            await clock.step_until(engine, k, lambda: bridged() == ["1001", "1002"], limit=100)
            moved = [e["data"] for e in events if e["kind"] == "call.transferred"]
            assert moved and moved[0]["mode"] == "blind" and moved[0]["target"] == "1002"
        finally:
            await box.close()
    asyncio.run(main())
