"""E1 with MFC/R2 (China variant) on the DAHDI driver: the box's span wired back to back with a far exchange in the
fake kernel, both sides libopenr2 (Debian's libopenr2-3), ABCD bits and MF tones crossing the fake kernel as they
cross a real card. Calls run through the daemon's call engine."""
from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Callable

import pytest

from hotline.daemon.calls.flows import Router
from hotline.daemon.calls.manager import CallState
from hotline.drivers import base
from hotline.drivers.dahdi import abi, config
from hotline.drivers.dahdi.fakeexchange import FakeExchange, r2_card
from hotline.drivers.dahdi.r2 import R2Settings

from tests.drivers.dahdi.test_dahdi_analog_calls import journal_of
from tests.drivers.dahdi.test_dahdi_calls import keys, power_at, tone

SPAN = {"name": "card0", "driver": "dahdi", "e1": "1-15,17-31", "signalling": "mfcr2", "r2_variant": "cn",
        "r2_max_ani": 11, "r2_max_dnis": 4, "r2_category": "national", "r2_ani": "83001234", "enabled": True,
        "law": "default", "echo_cancel": 128, "rx_gain": 0.0, "tx_gain": 0.0, "device": abi.CHANNEL_DEVICE}
ANI, DNIS = "13800138000", "8001"
SPEED = 3.0   # card time may run ahead of wall time (openr2's wall-clock timers then fire late, never early)


@pytest.fixture
def exchange():
    """exchange(kernel) -> the far exchange on the kernel's far span (asks for 8-digit ANIs and 7-digit numbers
    when the box calls it); closed after the test."""
    made: list[FakeExchange] = []

    def make(kernel, **kw) -> FakeExchange:
        ex = FakeExchange(kernel, R2Settings(max_ani=8, max_dnis=7), **kw)
        made.append(ex)
        return ex
    yield make
    for ex in made:
        ex.close()


class Paced:
    """The card's clock and the box's tick at most SPEED times wall-clock pace: libopenr2's timers (answer delay, MF
    timeouts) run on gettimeofday, so a card clock without bound would run out of steps before the 150 ms answer
    delay passes."""

    def __init__(self) -> None:
        self.t0, self.blocks = time.monotonic(), 0

    async def step(self, engine, k, n: int = 1) -> None:
        """n × 20 ms, each block no earlier than its wall-clock time at SPEED."""
        from tests.drivers.dahdi.conftest import step
        for _ in range(n):
            await step(engine, k)
            self.blocks += 1
            ahead = self.t0 + self.blocks * 0.02 / SPEED - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
            elif ahead < -0.5:   # a loaded box: do not try to catch up in a burst
                self.t0 -= ahead

    async def step_until(self, engine, k, cond: Callable[[], bool], limit: int = 1500) -> None:
        """Step until cond() holds (bounded)."""
        for _ in range(limit):
            if cond():
                return
            await self.step(engine, k)
        assert cond(), "condition never held"


@pytest.fixture
def clock() -> Paced:
    """step / step_until paced against the wall clock (overrides conftest's clock for this module)."""
    return Paced()


def r2_state(devices, line: str) -> dict:
    """The R2 port's status as the panel shows it."""
    for st in devices.devices["card0"].driver.status()["spans"][0]["ports"]:
        if st["port"] == line:
            return st
    raise KeyError(line)


def test_incoming_china_r2_call_has_ani_and_dnis_and_reaches_the_ivr_by_dnis(box, clock, exchange) -> None:
    """The exchange seizes timeslot 1 and sends 8001 with the caller's 13800138000 by MF (China: first digit,
    category, ANI, the rest): the call is offered with ANI as caller ID and DNIS as the dialled number, the flow
    for 8001 answers, the caller hears the prompt and keys 2580 as DTMF audio on the B channel; the box clears
    (clear-back) and both ends go idle."""
    k = r2_card()
    got: dict = {}

    async def ivr(ctx) -> None:
        got["route"] = ctx.dialed
        await ctx.answer()
        await ctx.play_audio(tone(1000, 0.4))
        got["digits"] = await ctx.collect(4, timeout=3.0, inter_digit_timeout=1.5)
        await ctx.hangup()

    async def other(ctx) -> None:
        got["route"] = "other"
        await ctx.hangup()

    async def main() -> None:
        engine, devices, calls = await box(k, [SPAN], None)
        router = Router([{"dialed": DNIS, "flow": "ivr"}, {"dialed": "*", "flow": "other"}],
                        SimpleNamespace(get={"ivr": ivr, "other": other}.get))
        calls.flow_for = lambda call: router.flow_for(call.dialed)   # the daemon's routes: by dialled number
        ex = exchange(k, channels=[101])
        try:
            ex.call(101, DNIS, ANI)
            await clock.step_until(engine, k, lambda: calls.calls, limit=600)
            call = next(iter(calls.calls.values()))
            assert (call.caller_id, call.dialed) == (ANI, DNIS)
            assert call.caller.line.name == "card0-1"
            await clock.step_until(engine, k, lambda: ex.saw(101, "on_call_answered"), limit=300)
            assert r2_state(devices, "card0-1")["category"] == "National Subscriber"
            answered_at = len(k.heard(1))   # what the caller hears from the answer on (MF tones before it)
            await clock.step(engine, k, 25)
            ex.send(101, keys("2580"))
            await clock.step_until(engine, k, lambda: "digits" in got, limit=400)
            assert got == {"route": DNIS, "digits": "2580"}
            await clock.step_until(engine, k, lambda: ex.saw(101, "on_call_disconnect"), limit=200)
            await clock.step_until(engine, k, lambda: r2_state(devices, "card0-1")["state"] == "idle", limit=200)
            prompt = k.heard(1)[answered_at:answered_at + 4000]
            assert max(power_at(prompt[i:i + 1600], 1000) for i in range(0, 2400, 400)) > 0.5, \
                "the caller did not hear the prompt"
            st = r2_state(devices, "card0-1")
            assert (st["tx_cas"], st["rx_cas"]) == ("IDLE", "IDLE"), st
        finally:
            await box.close()
    asyncio.run(main())


def test_box_dials_out_over_r2_and_the_far_end_clears(box, clock, exchange) -> None:
    """A caller on timeslot 1 is put through to 5551234: the box seizes a free timeslot and sends the number and
    its ANI (r2_ani) by MF, the exchange sees both and answers, each side hears the other; the called party hangs
    up (clear-back from the exchange): the box ends that leg and clears the caller's too."""
    k = r2_card()
    result: dict = {}

    async def flow(ctx) -> None:
        await ctx.answer()
        result["dial"] = await ctx.dial_out("5551234", ring_timeout=20)

    async def main() -> None:
        engine, devices, calls = await box(k, [SPAN], flow)
        events = journal_of(calls)
        ex = exchange(k, channels=[101, 102])
        try:
            ex.call(101, DNIS, ANI)
            await clock.step_until(engine, k, lambda: ex.saw(102, "on_call_offered"), limit=900)
            far = ex.calls[102]
            assert (far.dnis, far.ani, far.category) == ("5551234", "83001234", "National Subscriber")
            await clock.step_until(engine, k, lambda: any(e["kind"] == "call.bridged" for e in events), limit=300)
            ex.send(101, tone(700, 1.0))
            ex.send(102, tone(1200, 1.0))
            await clock.step(engine, k, 60)
            assert power_at(k.heard(2)[-3200:], 700) > 0.4, "the called party did not hear the caller"
            assert power_at(k.heard(1)[-3200:], 1200) > 0.4, "the caller did not hear the called party"
            ex.hangup(102)
            call = next(iter(calls.calls.values()))
            await clock.step_until(engine, k, lambda: call.state is CallState.ENDED, limit=300)
            await clock.step_until(engine, k, lambda: ex.saw(101, "on_call_disconnect"), limit=200)
            await clock.step_until(engine, k, lambda: all(r2_state(devices, n)["state"] == "idle"
                                                          for n in ("card0-1", "card0-2")), limit=200)
            assert ex.saw(102, "on_call_end")
        finally:
            await box.close()
    asyncio.run(main())


def test_red_alarm_mid_r2_call_ends_it_and_recovery_brings_the_lines_up(box, clock, exchange) -> None:
    """A red alarm (loss of signal) in the middle of an R2 call: the call ends with cause line_down, the span's
    lines are down with the reason; when the alarm clears they are up and the next call is offered."""
    k = r2_card()

    async def flow(ctx) -> None:
        await ctx.answer()
        await ctx.sleep(60)

    async def main() -> None:
        engine, devices, calls = await box(k, [SPAN], flow)
        ex = exchange(k, channels=[101, 103])
        try:
            ex.call(101, DNIS, ANI)
            await clock.step_until(engine, k, lambda: ex.saw(101, "on_call_answered"), limit=900)
            call = next(iter(calls.calls.values()))
            k.alarm(1, abi.Alarm.RED | abi.Alarm.LOS)
            await clock.step_until(engine, k, lambda: call.state is CallState.ENDED, limit=100)
            assert call.cause is base.HangupCause.LINE_DOWN
            await clock.step_until(engine, k, lambda: not any(s["up"] for s in devices.line_states()), limit=100)
            states = {s["line"]: s for s in devices.line_states()}
            assert states["card0-31"]["reason"] == "span 1: red alarm, loss of signal"
            assert devices.devices["card0"].driver.status()["alarms"] == ["span 1: red alarm, loss of signal"]
            k.alarm(1, 0)
            await clock.step_until(engine, k, lambda: all(s["up"] for s in devices.line_states()), limit=100)
            assert devices.devices["card0"].driver.status()["alarms"] == []
            ex.call(103, "8002", ANI)
            await clock.step_until(engine, k, lambda: any(c.dialed == "8002" for c in calls.calls.values()),
                                   limit=600)
        finally:
            await box.close()
    asyncio.run(main())


@pytest.mark.parametrize("settings, problem", [
    ({"e1": "1-31", "signalling": "mfcr2"}, "e1: channel 16 is timeslot 16 of an E1 span"),
    ({"e1": "1-15", "signalling": "pri"}, "signalling: 'pri'; expected mfcr2"),
    ({"e1": "1-15"}, "signalling: missing: E1 channels need the line signalling the exchange uses (mfcr2)"),
    ({"e1": "1-15", "signalling": "mfcr2", "r2_variant": "xx"}, "r2_variant: unknown 'xx'; known: cn"),
    ({"e1": "1-15", "signalling": "mfcr2", "r2_max_dnis": 0}, "r2_max_dnis: 0; expected a digit count from 1 to 80"),
    ({"e1": "1-15", "signalling": "mfcr2", "r2_ani": "83-00"}, "r2_ani: '83-00' is not a number"),
    ({"e1": "1-15", "fxo": "15", "signalling": "mfcr2"}, "e1: channels 15 are also listed under fxo"),
])
def test_e1_config_errors_name_the_key(settings, problem) -> None:
    """Mistakes in an E1 section are reported with the device and the key."""
    problems = config.check("span1", settings).problems
    assert any(p.startswith(f"span1: {problem}") for p in problems), problems


def test_an_e1_port_on_a_channel_without_cas_is_refused_with_the_reason(card) -> None:
    """A channel configured as fxsks in system.conf cannot carry MFC/R2: the device stays down saying so."""
    from hotline.drivers.base import DriverNotReady
    from hotline.drivers.dahdi.fakekernel import FakeDahdi
    k = FakeDahdi.analog(fxo=2, fxs=0)
    with pytest.raises(DriverNotReady, match="channel 1: configured as e1 .MFC/R2. here but the card has fxsks"):
        card(k, e1="1-2", signalling="mfcr2")


def test_libopenr2_issues_only_the_ioctls_of_the_dahdi_header() -> None:
    """The ioctl numbers compiled into Debian's libopenr2 are the ones abi.py has (and test_abi_header.py checks
    against dahdi/user.h): setting a channel up, idling it and a seizure use DAHDI_CHANNO, GET_PARAMS, BUFINFO,
    SETGAINS, SETLAW, ECHOCANCEL, SETTXBITS, GETRXBITS, IOMUX and GETEVENT, nothing the fake kernel would refuse."""
    from hotline.drivers.dahdi.fakeexchange import FakeExchange as Exchange
    k = r2_card()
    seen: list[int] = []
    real = k.ioctl

    def spy(fd: int, request: int, arg: bytearray) -> int:
        seen.append(request)
        return real(fd, request, arg)
    k.ioctl = spy
    ex = Exchange(k, R2Settings(), channels=[101])
    k.start_clock()
    try:
        ex.call(101, DNIS, ANI)   # the exchange seizes (SETTXBITS) and polls (IOMUX); nobody answers the box's side
        end = time.monotonic() + 3.0
        while abi.DAHDI_IOMUX not in seen and time.monotonic() < end:
            time.sleep(0.02)
    finally:
        k.stop_clock()
        ex.close()
    names = {v: n for n, v in abi.IOCTLS.items()}
    unknown = sorted(hex(r) for r in set(seen) if r not in names)
    assert not unknown, f"libopenr2 issued ioctls abi.py does not know: {unknown}"
    assert {"DAHDI_CHANNO", "DAHDI_GET_PARAMS", "DAHDI_SET_BUFINFO", "DAHDI_SETTXBITS", "DAHDI_GETRXBITS",
            "DAHDI_IOMUX"} <= {names[r] for r in seen}


def test_probe_finds_an_e1_span_configured_for_cas(tmp_path) -> None:
    """hotline devices probe: an E1 span whose channels system.conf configures as cas= is offered as an e1 section
    with signalling mfcr2 and the China variant, ready to paste."""
    from hotline.drivers.dahdi import discover
    k = r2_card()
    k.write_proc(tmp_path / "proc")
    (tmp_path / "system.conf").write_text("span=1,1,0,cas,hdb3\ncas=1-15:1101\ncas=17-31:1101\nloadzone=cn\n")
    found = {d["card"]: d for d in discover.probe(tmp_path / "proc", tmp_path / "system.conf")}
    card = found["te2"]
    assert (card["e1"], card["signalling"], card["r2_variant"]) == ("1-15,17-31", "mfcr2", "cn")
    entry = discover.yaml_entry(card)
    assert 'e1: "1-15,17-31"\n    signalling: mfcr2\n    r2_variant: cn\n' in entry, entry
    assert config.check("card", {k: v for k, v in card.items() if k in discover.CONFIG_KEYS}).problems == []


def test_dial_out_to_a_busy_number_is_a_busy_hang_up(card, exchange) -> None:
    """The exchange answers the box's MF digits with group B 'busy number': the line posts HungUp(BUSY), no answer,
    and the timeslot is idle again."""
    from hotline.drivers.dahdi.r2lib import Cause
    k = r2_card()
    ex = exchange(k, channels=[102])
    ex.calls[102].refuse = Cause.BUSY_NUMBER
    drv, events = card(k, **{key: v for key, v in SPAN.items() if key not in ("name", "driver", "enabled")})
    k.start_clock()
    try:
        drv.lines[1].dial("5551234")
        hung = events.wait_for(lambda e: isinstance(e, base.HungUp), timeout=10)
        assert hung.line == "card0-2" and hung.cause is base.HangupCause.BUSY
        assert not any(isinstance(e, base.Answered) for e in events.items)
        end = time.monotonic() + 5
        while drv.status()["spans"][0]["ports"][1]["state"] != "idle" and time.monotonic() < end:
            time.sleep(0.05)
        assert drv.status()["spans"][0]["ports"][1]["state"] == "idle"
    finally:
        k.stop_clock()
