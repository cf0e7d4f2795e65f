"""Calls through the daemon's call engine on the DAHDI driver over the fake kernel: an FXO caller answered by the IVR
presses keys as real DTMF audio, a call put through to an agent's phone on an FXS port, and a span alarm in the
middle of a call."""
from __future__ import annotations

import asyncio

import numpy as np

from hotline.daemon.calls.manager import CallState
from hotline.drivers import base
from hotline.drivers.common.tones import dtmf_tone
from hotline.drivers.dahdi import abi
from hotline.drivers.dahdi.fakekernel import FakeDahdi

CARD = {"name": "card0", "driver": "dahdi", "fxo": "1-2", "fxs": "3-4", "extensions": ["1001", "1002"],
        "country": "cn", "number": "8001", "enabled": True, "law": "default", "echo_cancel": 128, "rx_gain": 0.0,
        "tx_gain": 0.0, "device": abi.CHANNEL_DEVICE}


def tone(freq: float, seconds: float, amp: float = 8000.0) -> np.ndarray:
    """A sine at 8 kHz, int16."""
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * 8000)) / 8000)).astype(np.int16)


def power_at(x: np.ndarray, freq: float) -> float:
    """Share of a signal's energy at one frequency."""
    x = x.astype(float)
    n = np.arange(len(x))
    c = np.abs(np.dot(x, np.exp(-2j * np.pi * freq * n / 8000))) ** 2
    return c / max(1e-9, np.dot(x, x) * len(x) / 2)


def keys(digits: str) -> np.ndarray:
    """Key presses as the caller's phone sends them: 80 ms tones, 80 ms gaps."""
    gap = np.zeros(640, np.int16)
    return np.concatenate([np.concatenate([dtmf_tone(d, 80), gap]) for d in digits])


def test_fxo_caller_answered_by_the_ivr_presses_keys_as_dtmf_audio(box, clock) -> None:
    """The exchange rings channel 1: the call is offered on the ring, the flow answers (off hook), the caller hears
    the prompt, keys sent as DTMF audio through the card are collected, the box hangs up (on hook)."""
    k = FakeDahdi.analog(fxo=2, fxs=2)
    got: dict = {}

    async def flow(ctx) -> None:
        await ctx.answer()
        await ctx.play_audio(tone(1000, 0.4))
        got["digits"] = await ctx.collect(4, timeout=3.0, inter_digit_timeout=1.5)
        await ctx.hangup()

    async def main() -> None:
        engine, devices, calls = await box(k, [CARD], flow)
        try:
            k.co_ring(1)
            await clock.step_until(engine, k, lambda: k.channels[1].offhook, limit=400)
            call = next(iter(calls.calls.values()))
            assert call.caller.line.name == "card0-1" and call.dialed == "8001"
            await clock.step(engine, k, 25)
            assert k.channels[1].ec_taps == 128, "the echo canceller is not on during the call"
            k.far_send(1, keys("2580"))
            await clock.step_until(engine, k, lambda: "digits" in got)
            assert got["digits"] == "2580"
            await clock.step_until(engine, k, lambda: not k.channels[1].offhook, limit=50)
            await clock.step_until(engine, k, lambda: k.channels[1].ec_taps == 0, limit=50)
            heard = k.heard(1)
            assert power_at(heard[800:3200], 1000) > 0.5, "the caller did not hear the prompt"
        finally:
            await box.close()
    asyncio.run(main())


def test_call_put_through_to_an_agent_phone_on_an_fxs_port(box, clock) -> None:
    """The flow connects the caller to extension 1002: the card rings the phone on channel 4, the agent lifts it
    (OffHook), and each side hears the other through the card; a phone lifted to dial starts an internal call."""
    k = FakeDahdi.analog(fxo=2, fxs=2)
    result: dict = {}

    async def flow(ctx) -> None:
        if ctx.direction == "internal":
            result["internal"] = ctx.caller_id
            await ctx.sleep(60)
            return
        await ctx.answer()
        result["connect"] = await ctx.connect("1002", ring_timeout=10)

    async def main() -> None:
        engine, devices, calls = await box(k, [CARD], flow)
        try:
            k.co_ring(2)
            await clock.step_until(engine, k, lambda: k.ringing(4), limit=400)
            k.phone_offhook(4)
            await clock.step(engine, k, 10)
            k.far_send(2, tone(700, 1.0))
            k.far_send(4, tone(1300, 1.0))
            await clock.step(engine, k, 60)
            assert power_at(k.heard(4)[-4000:], 700) > 0.4, "the agent did not hear the caller"
            assert power_at(k.heard(2)[-4000:], 1300) > 0.4, "the caller did not hear the agent"
            k.phone_offhook(3)
            await clock.step_until(engine, k, lambda: "internal" in result, limit=50)
            assert result["internal"] == "1001"
        finally:
            await box.close()
    asyncio.run(main())


def test_span_alarm_mid_call_ends_it_and_lines_come_back(box, clock) -> None:
    """A red alarm in the middle of a call: the call ends with cause line_down, every line of the span is down with
    the reason for the panel; NOALARM brings them up and the next call is answered."""
    k = FakeDahdi.analog(fxo=2, fxs=2)

    async def flow(ctx) -> None:
        await ctx.answer()
        await ctx.sleep(60)

    async def main() -> None:
        engine, devices, calls = await box(k, [CARD], flow)
        try:
            k.co_ring(1)
            await clock.step_until(engine, k, lambda: k.channels[1].offhook, limit=400)
            call = next(iter(calls.calls.values()))
            await clock.step(engine, k, 5)
            k.alarm(1, abi.Alarm.RED | abi.Alarm.LOS)
            await clock.step_until(engine, k, lambda: call.state is CallState.ENDED, limit=100)
            assert call.cause is base.HangupCause.LINE_DOWN and not k.channels[1].offhook
            states = {s["line"]: s for s in devices.line_states()}
            await clock.step_until(engine, k, lambda: not any(s["up"] for s in devices.line_states()), limit=50)
            states = {s["line"]: s for s in devices.line_states()}
            assert states["card0-3"]["reason"] == "span 1: red alarm, loss of signal"
            from hotline.webadmin.handlers.config_system import device_rows
            row = device_rows({"devices": devices, "config": {"devices": [CARD]}})[0]
            assert row["alarms"] == ["span 1: red alarm, loss of signal"], row   # the panel's device status
            k.alarm(1, 0)
            await clock.step_until(engine, k, lambda: all(s["up"] for s in devices.line_states()), limit=50)
            assert device_rows({"devices": devices, "config": {"devices": [CARD]}})[0]["alarms"] == []
            k.co_ring(2)
            await clock.step_until(engine, k, lambda: k.channels[2].offhook, limit=400)
        finally:
            await box.close()
    asyncio.run(main())
