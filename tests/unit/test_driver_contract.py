"""Driver contract v2 in-process: a driver written only to the contract, devices that come and go, off-loop opening,
answer confirmation, DTMF sources, seizure, reject, tones and half-duplex lines."""
from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hotline.daemon.calls.context import CallSession
from hotline.daemon.calls.devices import DeviceManager
from hotline.daemon.calls.journal import Journal
from hotline.daemon.calls.manager import CallManager, CallState
from hotline.daemon.media.engine import MediaEngine
from hotline.daemon.store import migrations
from hotline.daemon.store.db import Store
from hotline.dialplan.context import ConnectResult
from hotline.drivers import base, registry
from hotline.drivers.common.tones import dtmf_tone

SIM = {"name": "sim0", "driver": "sim", "trunks": 2, "stations": ["1001"], "seed": 1, "capture_seconds": 60.0,
       "answer_delay": 0.1, "station_auto_answer": None, "noise_dbm0": None, "enabled": True}


def tone(freq: float, seconds: float, amp: float = 8000.0) -> np.ndarray:
    """A sine at 8 kHz, int16."""
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * 8000)) / 8000)).astype(np.int16)


def power_at(x: np.ndarray, freq: float) -> float:
    """Share of a signal's energy at one frequency."""
    x = x.astype(float)
    n = np.arange(len(x))
    c = np.abs(np.dot(x, np.exp(-2j * np.pi * freq * n / 8000))) ** 2
    return c / max(1e-9, np.dot(x, x) * len(x) / 2)


# ---- a driver written only to the documented contract (drivers/base.py, docs/drivers.md) -----------

class MinimalLine(base.Line):
    """A trunk that answers at once and ends calls; nothing else."""

    def answer(self) -> None:
        """Off hook."""
        self.answered = True

    def hangup(self) -> None:
        """On hook."""
        self.answered = False


class MinimalDriver(base.Driver):
    """One trunk; no tick(), no capabilities, no traits: only what the contract requires."""

    name = "minimal"
    opened_in: list = []

    def open(self) -> list[base.Line]:
        """One line."""
        MinimalDriver.opened_in.append(threading.get_ident())
        self.line = MinimalLine(name=f"{self.device_name}-1", kind=base.LineKind.TRUNK)
        self.send = tone(500, 3.0)
        self.pos = 0
        self.heard: list[np.ndarray] = []
        return [self.line]

    def read_frames(self, lines: list[str], out: np.ndarray) -> None:
        """The caller speaks a 500 Hz tone."""
        for i, _ in enumerate(lines):
            chunk = self.send[self.pos:self.pos + base.FRAME_SAMPLES]
            out[i, :len(chunk)] = chunk
            self.pos += base.FRAME_SAMPLES

    def write_frames(self, lines: list[str], frames: np.ndarray) -> None:
        """Keep what the caller hears."""
        for i, _ in enumerate(lines):
            self.heard.append(frames[i].copy())


class SlowDriver(MinimalDriver):
    """Initialisation takes 0.3 s (a modem answering AT commands, USB probing)."""

    name = "slow"

    def validate_environment(self) -> list[str]:
        """Blocks like a real probe would."""
        time.sleep(0.15)
        return []

    def open(self) -> list[base.Line]:
        """Blocks too."""
        time.sleep(0.15)
        return super().open()


@pytest.fixture
def drivers(monkeypatch):
    """Registers the test drivers beside the installed ones."""
    real = registry.get
    extra = {"minimal": MinimalDriver, "slow": SlowDriver}
    monkeypatch.setattr(registry, "get", lambda name: extra.get(name) or real(name))


@pytest.fixture
def box(tmp_path: Path):
    """Engine + device manager (following devices) + call manager on real SQLite; ticks driven by the test."""
    made: list = []

    async def make(devices_cfg: list[dict], flow=None, max_backoff: float = 0.1):
        store = Store(f"sqlite:///{tmp_path / 'h.db'}")
        store.open()
        store.write_sync(migrations.upgrade, store.db)
        engine = MediaEngine(16, speed=0)
        journal = Journal(store, clock=engine.now)
        holder: list = []
        devices = DeviceManager(devices_cfg, lambda ev: holder[0].on_line_event(ev), max_backoff=max_backoff)
        devices.engine = engine
        engine.on_device_error = devices.driver_raised
        calls = CallManager(devices, engine, journal, store, tmp_path / "rec",
                            {"engine": {"max_channels": 10, "call_timeout": 60.0}})
        calls.record_calls = False
        calls.flow_for = lambda call: flow
        calls.context_factory = lambda call, m: CallSession(call, m, None, "CN", "zh_CN")
        holder.append(calls)
        await journal.start()
        await devices.start()
        await calls.start()
        made.append((store, journal, calls))
        return engine, devices, calls, journal

    async def close() -> None:
        for store, journal, calls in made:
            await calls.stop()
            await journal.stop()
            store.close()
    make.close = close
    return make


async def ticks(engine: MediaEngine, n: int) -> None:
    """Run n media ticks, letting call tasks run in between."""
    for _ in range(n):
        engine.tick()
        await asyncio.sleep(0)


async def ticks_until(engine: MediaEngine, cond, limit: int = 2000) -> None:
    """Tick until cond() holds (bounded)."""
    for _ in range(limit):
        if cond():
            return
        engine.tick()
        await asyncio.sleep(0)
    assert cond(), "condition never held"


async def journal_kinds(journal: Journal, store_call: str, calls: CallManager) -> list[str]:
    """Event kinds of one call."""
    from hotline.daemon.store.models import Event
    await journal.flush()
    return await calls.store.read(lambda: [e.kind for e in Event.select().where(Event.call_uuid == store_call)
                                           .order_by(Event.id)])


def test_a_driver_written_only_to_the_contract_carries_audio(drivers, box) -> None:
    """No tick(), no traits, no capabilities: the call is answered, the caller hears the flow and the flow hears
    the caller."""
    got: dict = {}

    async def flow(ctx) -> None:
        await ctx.answer()
        ch = ctx.m.open_media(ctx.call.caller)
        cap = ctx.engine.start_capture(ch)
        await ctx.play_audio(tone(1000, 1.0))
        ctx.engine.stop_capture(cap)
        got["recorded"] = np.concatenate(cap.frames)

    async def main() -> None:
        engine, devices, calls, journal = await box([{"name": "m", "driver": "minimal"}], flow)
        drv = devices.devices["m"].driver
        assert not hasattr(drv, "tick") and engine.frame_devices == [drv]
        devices.sink(base.Ringing("m-1", caller_id="13800138000", dialed="8001"))
        await ticks_until(engine, lambda: "recorded" in got)
        heard = np.concatenate(drv.heard)
        assert power_at(heard[800:8000], 1000) > 0.5, "the caller did not hear the flow"
        assert power_at(got["recorded"][800:], 500) > 0.5, "the flow did not hear the caller"
        assert engine.device_errors == 0
        await box.close()
    asyncio.run(main())


def test_open_and_environment_check_run_off_the_event_loop(drivers, box) -> None:
    """A device that takes 0.3 s to open does not stall the media clock: ticks go on meanwhile."""
    async def main() -> None:
        MinimalDriver.opened_in.clear()
        engine = MediaEngine(4, speed=1.0)
        await engine.start()
        devices = DeviceManager([{"name": "s", "driver": "slow"}], lambda ev: None)
        devices.engine = engine
        before = engine.ticks
        await devices.start()
        assert engine.ticks - before >= 8, f"the clock stalled while the device opened ({engine.ticks - before} ticks)"
        assert MinimalDriver.opened_in and MinimalDriver.opened_in[0] != threading.get_ident()
        assert devices.status()["devices"]["s"]["state"] == "up"
        assert engine.frame_devices == [devices.devices["s"].driver]
        await devices.stop()
        assert engine.frame_devices == []
        await engine.stop()
    asyncio.run(main())


def test_late_device_joins_the_tick(box) -> None:
    """A card unplugged at start is opened by a retry and the engine ticks it from then on."""
    async def main() -> None:
        dev = dict(SIM, unplugged=True)
        engine, devices, calls, journal = await box([dev])
        assert engine.frame_devices == []
        dev["unplugged"] = False
        for _ in range(100):
            await asyncio.sleep(0.02)
            if devices.devices["sim0"].state == "up":
                break
        card = devices.devices["sim0"].driver
        assert engine.frame_devices == [card]
        await ticks(engine, 5)
        assert card.tick_count == 5
        await box.close()
    asyncio.run(main())


def test_device_that_dies_is_reopened_and_ticked_again_without_restart(box) -> None:
    """The card fails mid-call: the call ends (line down), the card is re-opened with backoff, the new card is
    ticked and takes calls again."""
    async def flow(ctx) -> None:
        await ctx.answer()
        await ctx.sleep(60)

    async def main() -> None:
        engine, devices, calls, journal = await box([SIM], flow)
        card = devices.devices["sim0"].driver
        card.far_call(card.lines["sim0-t1"], "13800138000", "", "8001")
        await ticks_until(engine, lambda: any(c.state is CallState.ANSWERED for c in calls.calls.values()))
        call = next(iter(calls.calls.values()))
        card.fail("usb box unplugged")
        await asyncio.sleep(0)
        assert devices.status()["devices"]["sim0"] == {"driver": "sim", "state": "down", "lines": 3,
                                                     "reason": "usb box unplugged"}
        assert card not in engine.frame_devices
        await call.end_done.wait()
        assert call.cause.value == "line_down"
        for _ in range(100):
            await asyncio.sleep(0.02)
            if devices.devices["sim0"].state == "up":
                break
        again = devices.devices["sim0"].driver
        assert again is not card and engine.frame_devices == [again]
        await ticks(engine, 3)
        assert again.tick_count == 3, "the re-opened card is not ticked"
        assert all(ln["up"] for ln in devices.line_states())
        again.far_call(again.lines["sim0-t2"], "13900139000", "", "8001")
        await ticks_until(engine, lambda: any(c.state is CallState.ANSWERED for c in calls.calls.values()))
        kinds = [e for e in await journal_kinds(journal, call.uuid, calls)]
        assert kinds[-1] == "call.ended"
        await box.close()
    asyncio.run(main())


def test_a_device_raising_in_the_tick_costs_only_its_own_audio(box) -> None:
    """A driver bug in read_frames: the engine keeps ticking the other devices and the manager re-opens it."""
    async def main() -> None:
        engine, devices, calls, journal = await box([SIM, dict(SIM, name="sim1", stations=["2001"])])
        bad, good = devices.devices["sim0"].driver, devices.devices["sim1"].driver
        ch = engine.open_channel("sim0-t1", bad, None)
        engine.open_channel("sim1-t1", good, None)
        bad.read_frames = lambda lines, out: 1 / 0
        await ticks(engine, 3)
        assert engine.device_errors == 1 and bad not in engine.frame_devices and good.tick_count == 3
        assert devices.status()["devices"]["sim0"]["reason"].startswith("driver error")
        engine.close_channel(ch)
        for _ in range(100):
            await asyncio.sleep(0.02)
            if devices.devices["sim0"].state == "up":
                break
        assert devices.devices["sim0"].driver in engine.frame_devices
        await box.close()
    asyncio.run(main())


def test_no_audio_before_the_line_confirms_the_answer(box) -> None:
    """answer_confirm_delay 0.5 s: the prompt starts only after AnswerConfirmed; nothing reaches the line before."""
    async def flow(ctx) -> None:
        await ctx.answer()
        await ctx.play_audio(tone(1000, 0.5))

    async def main() -> None:
        engine, devices, calls, journal = await box([dict(SIM, answer_confirm_delay=0.5)], flow)
        card = devices.devices["sim0"].driver
        line = card.lines["sim0-t1"]
        card.far_call(line, "13800138000", "", "8001")
        call = next(iter(calls.calls.values()))
        await ticks(engine, 10)
        assert line.far.state.value == "answering" and call.state is CallState.RINGING
        assert call.caller.channel is None, "media opened before the line confirmed the answer"
        await ticks_until(engine, lambda: call.state is CallState.ANSWERED)
        assert call.answered_at - call.offered_at >= 0.5
        await ticks(engine, 40)
        assert line.far.premature_samples == 0
        assert power_at(card.heard(line)[:4000], 1000) > 0.5, "the prompt was not heard after confirmation"
        await box.close()
    asyncio.run(main())


@pytest.mark.parametrize("mode,expected", [("both", "55"), ("inband", "5"), ("events", "5")])
def test_dtmf_sources_per_line(box, mode: str, expected: str) -> None:
    """One key pressed as a tone and signalled out of band counts once (both); a line takes digits only from its
    configured source otherwise. A second press of the same key still counts."""
    got: list = []

    async def flow(ctx) -> None:
        await ctx.answer()
        got.append(await ctx.collect(4, timeout=3.0, inter_digit_timeout=1.5))

    async def main() -> None:
        engine, devices, calls, journal = await box([dict(SIM, dtmf=mode)], flow)
        card = devices.devices["sim0"].driver
        line = card.lines["sim0-t1"]
        card.far_call(line, "13800138000", "", "8001")
        await ticks(engine, 3)
        gap = np.zeros(800, np.int16)
        card.far_send(line, np.concatenate([dtmf_tone("5", 80), gap]))
        card.far_signal_digit(line, "5")
        await ticks(engine, 15)
        if mode == "both":  # a second press of the same key, again reported both ways
            card.far_send(line, np.concatenate([dtmf_tone("5", 80), gap]))
            await ticks(engine, 8)
            card.far_signal_digit(line, "5")
        await ticks_until(engine, lambda: got)
        assert got == [expected]
        await box.close()
    asyncio.run(main())


def test_seized_line_counts_as_busy_until_ringing(box) -> None:
    """Between Seized and Ringing (caller id being collected) the trunk is busy: no outbound call takes it."""
    async def main() -> None:
        engine, devices, calls, journal = await box([dict(SIM, trunks=1)], lambda ctx: asyncio.sleep(60))
        devices.sink(base.Seized("sim0-t1"))
        assert devices.free_trunk() is None
        assert [ln["busy"] for ln in devices.line_states() if ln["line"] == "sim0-t1"] == [True]
        devices.sink(base.HungUp("sim0-t1"))  # the caller gave up before caller id was complete
        assert devices.free_trunk() is not None
        await box.close()
    asyncio.run(main())


def test_dial_out_skips_a_sip_trunk_that_may_not_dial(box) -> None:
    """A SIP device without allow_outbound (listed first) is passed over for a callback or fax: the sim trunk after
    it is picked; with allow_outbound and a peer its channel is picked."""
    from tests.conftest import free_port

    async def main() -> None:
        sip = {"name": "sip0", "driver": "sip", "listen": f"127.0.0.1:{free_port()}", "rtp_ports": "40000-40100",
               "channels": 1, "trunks": ["carrier=127.0.0.1:5999"]}
        engine, devices, calls, journal = await box([sip, dict(SIM, trunks=1)], lambda ctx: asyncio.sleep(60))
        assert devices.lines["sip0-1"].up and not devices.lines["sip0-1"].traits.dial_out
        assert devices.free_trunk().name == "sim0-t1"
        await box.close()
    asyncio.run(main())
    allowed = registry.get("sip").configured_traits({"allow_outbound": True, "trunks": ["c=127.0.0.1:5999"]})
    assert allowed.dial_out


def test_ringing_twice_makes_one_call_and_refusal_uses_reject(box) -> None:
    """A repeated Ringing is ignored; a caller refused over the limit is rejected with busy, not just hung up."""
    async def main() -> None:
        engine, devices, calls, journal = await box([SIM], lambda ctx: asyncio.sleep(60))
        card = devices.devices["sim0"].driver
        card.far_call(card.lines["sim0-t1"], "13800138000", "", "8001")
        devices.sink(base.Ringing("sim0-t1", caller_id="13800138000", dialed="8001"))
        assert len(calls.calls) == 1
        calls.refusing = True
        line2 = card.lines["sim0-t2"]
        card.far_call(line2, "13900139000", "", "8001")
        assert line2.far.reject_cause is base.HangupCause.BUSY and line2.far.state.value == "idle"
        await box.close()
    asyncio.run(main())


def test_a_caller_ringing_while_the_lines_last_call_is_ending_is_offered_once_it_is_free(drivers, box) -> None:
    """A SIP device gives a line to a new INVITE as soon as its last caller has hung up: the Ringing that arrives
    while the engine is still ending that call waits and is offered when the line is released (it was dropped, and
    the caller rang for ever); a waiting caller who hangs up first is forgotten."""
    async def flow(ctx) -> None:
        await ctx.answer()
        await ctx.sleep(60)

    async def until(engine, cond) -> None:
        for _ in range(400):   # ticks, and real time for the journal's and the store's threads
            if cond():
                return
            await ticks(engine, 2)
            await asyncio.sleep(0.005)
        assert cond(), "condition never held"

    async def main() -> None:
        engine, devices, calls, journal = await box([{"name": "m", "driver": "minimal"}], flow)
        devices.sink(base.Ringing("m-1", caller_id="13800138000", dialed="8001"))
        await ticks(engine, 3)
        devices.sink(base.HungUp("m-1", base.HangupCause.NORMAL))
        devices.sink(base.Ringing("m-1", caller_id="13900139000", dialed="8001"))   # before the first call ended
        assert list(calls.pending_offers) == ["m-1"]
        await until(engine, lambda: [c.caller_id for c in calls.calls.values()] == ["13900139000"])
        assert calls.pending_offers == {}
        devices.sink(base.HungUp("m-1", base.HangupCause.NORMAL))
        devices.sink(base.Ringing("m-1", caller_id="13700137000", dialed="8001"))
        devices.sink(base.HungUp("m-1", base.HangupCause.NORMAL))                    # gave up while waiting
        await until(engine, lambda: not calls.calls)
        await ticks(engine, 5)
        assert not calls.calls and calls.pending_offers == {}
        await box.close()
    asyncio.run(main())


def test_flashed_is_a_contract_event_and_busy_tone_ends_the_call(box) -> None:
    """base.Flashed reaches the leg's flash queue; ToneDetected(BUSY) on a line without disconnect signal ends the
    call with cause busy."""
    async def flow(ctx) -> None:
        await ctx.answer()
        await ctx.sleep(60)

    async def main() -> None:
        engine, devices, calls, journal = await box([SIM], flow)
        card = devices.devices["sim0"].driver
        card.far_call(card.lines["sim0-t1"], "13800138000", "", "8001")
        await ticks(engine, 3)
        call = next(iter(calls.calls.values()))
        devices.sink(base.Flashed("sim0-t1"))
        assert call.caller.flashes.qsize() == 1
        devices.sink(base.Progress("sim0-t1", kind=base.ProgressKind.RINGBACK))  # logged, harmless
        devices.sink(base.ToneDetected("sim0-t1", kind=base.ToneKind.BUSY))
        await call.end_done.wait()
        assert call.cause is base.HangupCause.BUSY
        assert card.lines["sim0-t1"].far.ended_by == "box", "the box must go on hook itself"
        await box.close()
    asyncio.run(main())


def test_half_duplex_line_is_never_bridged(box) -> None:
    """A half-duplex trunk (a voice modem) calling a flow that connects to an agent, dials out or queues: each is
    refused and journaled, the station never rings."""
    result: list = []
    acd: list = []

    async def flow(ctx) -> None:
        await ctx.answer()
        result.append(await ctx.connect("1001"))
        result.append(await ctx.dial_out("13800000000"))
        result.append(await acd[0].enter(ctx, "sales"))

    async def main() -> None:
        from hotline.daemon.acd.manager import Acd
        engine, devices, calls, journal = await box([dict(SIM, duplex="half")], flow)
        acd.append(Acd(calls.store, journal, calls, devices, engine, None))
        acd[0].queues["sales"] = object()  # any queue: the refusal comes before the queue is looked at
        card = devices.devices["sim0"].driver
        card.far_call(card.lines["sim0-t1"], "13800138000", "", "8001")
        await ticks_until(engine, lambda: len(result) == 3)
        assert result == [ConnectResult.UNAVAILABLE, ConnectResult.UNAVAILABLE, "unavailable"]
        assert card.by_extension["1001"].far.state.value == "idle", "the agent phone rang"
        call_uuid = next(iter(calls.calls))
        kinds = await journal_kinds(journal, call_uuid, calls)
        assert kinds.count("call.bridge_refused") == 2 and "queue.refused" in kinds
        await box.close()
    asyncio.run(main())


def test_fax_calling_tone_from_a_driver_takes_the_call_over(box) -> None:
    """ToneDetected(FAX_CNG) posted by a driver (a modem's DLE c) reaches CallManager.on_fax_tone with the caller's
    call; take_over stops the flow and runs the take-over in the call's task, then the call ends normally. A second
    take-over of the same call is refused."""
    taken: list = []

    async def flow(ctx) -> None:
        await ctx.answer()
        await ctx.sleep(60)
        taken.append("flow went on")

    async def main() -> None:
        engine, devices, calls, journal = await box([SIM], flow)

        async def takeover(call) -> None:
            taken.append(call.uuid)
        calls.on_fax_tone = lambda call: taken.append(calls.take_over(call, takeover))
        card = devices.devices["sim0"].driver
        card.far_call(card.lines["sim0-t1"], "13800138000", "", "8001")
        await ticks(engine, 3)
        call = next(iter(calls.calls.values()))
        devices.sink(base.ToneDetected("sim0-t1", kind=base.ToneKind.FAX_CNG))
        devices.sink(base.ToneDetected("sim0-t1", kind=base.ToneKind.FAX_CNG))
        await call.end_done.wait()
        assert taken == [True, False, call.uuid] and call.cause is base.HangupCause.NORMAL
        await box.close()
    asyncio.run(main())
