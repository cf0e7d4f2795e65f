"""The media engine and call manager in-process on the real sim card: mixing, admission, watchdog."""
from __future__ import annotations

import asyncio

import numpy as np

from hotline.daemon.calls.devices import DeviceManager


def tone_power(x: np.ndarray, freq: float) -> float:
    """Share of a signal's energy at one frequency (Goertzel-like projection)."""
    n = np.arange(len(x))
    c = np.abs(np.dot(x.astype(float), np.exp(-2j * np.pi * freq * n / 8000))) ** 2
    return c / max(1e-9, np.dot(x.astype(float), x.astype(float)) * len(x) / 2)


def test_conference_and_one_way_taps(rig) -> None:
    """Three-party mix: everyone hears the other two, not themselves; a listen tap is one-way."""
    async def main() -> None:
        store, engine, journal, devices, calls = await rig()
        card = devices.devices["sim0"].driver
        lines = [card.lines[n] for n in ("sim0-t1", "sim0-t2", "sim0-t3", "sim0-s1001")]
        for ln in lines:
            card._new_session(ln, type(ln.far.state).CONNECTED)
        chans = [engine.open_channel(ln.name, card, None) for ln in lines]
        a, b, c, sup = chans
        for x, y in ((a, b), (a, c), (b, c)):
            engine.bridge(x, y)
        engine.connect(a, sup)   # supervisor listens to A only
        freqs = {0: 500.0, 1: 900.0, 2: 1300.0, 3: 1700.0}
        for i, ln in enumerate(lines):
            card.far_send(ln, (8000 * np.sin(2 * np.pi * freqs[i] * np.arange(8000) / 8000)).astype(np.int16))
            ln.far.heard.clear()
        for _ in range(20):
            engine.tick()
        heard = [card.heard(ln)[1600:] for ln in lines]
        for i in range(3):
            others = [j for j in range(3) if j != i]
            for j in others:
                assert tone_power(heard[i], freqs[j]) > 0.2, f"party {i} does not hear party {j}"
            assert tone_power(heard[i], freqs[i]) < 0.01, f"party {i} hears itself"
            assert tone_power(heard[i], freqs[3]) < 0.01, f"party {i} hears the silent listener"
        assert tone_power(heard[3], freqs[0]) > 0.5 and tone_power(heard[3], freqs[1]) < 0.01
        await calls.stop()
        await journal.stop()
        store.close()
    asyncio.run(main())


def test_overload_refuses_new_calls_and_journals_it(rig) -> None:
    """When ticks keep overrunning, a new caller gets busy and the refusal is in the journal and metrics."""
    async def main() -> None:
        store, engine, journal, devices, calls = await rig(overrun_ms=1.0)
        engine.recent_overruns = [engine.ticks] * 6
        card = devices.devices["sim0"].driver
        line = card.lines["sim0-t1"]
        card.far_call(line, "13800138000", "", "8001")
        await asyncio.sleep(0.1)
        await journal.flush()
        from hotline.daemon.store.models import Event
        kinds = await store.read(lambda: [(e.kind, e.data) for e in Event.select().order_by(Event.id)])
        assert ("call.refused", '{"reason": "overload"}') in kinds
        assert line.far.state.value == "idle", "the refused caller still rings"
        await calls.stop()
        await journal.stop()
        store.close()
    asyncio.run(main())


def test_watchdog_ends_orphaned_calls(rig) -> None:
    """A call whose flow task died without ending it is found, ended and journaled as orphaned."""
    async def main() -> None:
        store, engine, journal, devices, calls = await rig()
        calls.flow_for = lambda call: (lambda ctx: asyncio.sleep(3600))
        calls.context_factory = lambda call, m: None
        card = devices.devices["sim0"].driver
        card.far_call(card.lines["sim0-t2"], "13800138000", "", "8001")
        call = next(iter(calls.calls.values()))
        original = call.task          # simulate a flow task that vanished without ending its call
        call.task = asyncio.get_running_loop().create_task(asyncio.sleep(0))
        await asyncio.sleep(0.01)
        assert calls.check_orphans() == [call.uuid]
        await call.end_done.wait()
        await journal.flush()
        from hotline.daemon.store.models import Cdr, Event
        kinds = await store.read(lambda: [e.kind for e in Event.select().where(Event.call_uuid == call.uuid)])
        assert "call.orphaned" in kinds and kinds[-1] == "call.ended"
        row = await store.read(lambda: Cdr.get_by_id(call.uuid))
        assert row.cause == "orphaned"
        assert "sim0-t2" not in devices.busy
        original.cancel()
        await calls.stop()
        await journal.stop()
        store.close()
    asyncio.run(main())


def test_device_that_fails_to_open_is_down_with_reason_and_retried(sim_device) -> None:
    """An unplugged card is shown down with the driver's reason, retried with backoff, then comes up."""
    async def main() -> None:
        events: list = []
        dev = dict(sim_device, name="card1", unplugged=True)
        devices = DeviceManager([dev, dict(sim_device, name="card2", stations=["2001"])], events.append,
                                max_backoff=0.2)
        await devices.start()
        st = devices.status()
        assert st["state"] == "degraded"
        assert st["devices"]["card1"] == {"driver": "sim", "state": "down", "lines": 0,
                                          "reason": "card not found (simulated: unplugged)"}
        assert st["devices"]["card2"]["state"] == "up", "one broken device took the others down"
        dev["unplugged"] = False  # plugged in: the next retry finds it
        for _ in range(50):
            await asyncio.sleep(0.05)
            if devices.status()["devices"]["card1"]["state"] == "up":
                break
        st = devices.status()
        assert st["state"] == "up" and st["devices"]["card1"]["lines"] == 7
        assert any(ln["line"] == "card1-t1" and ln["up"] for ln in devices.line_states())
        await devices.stop()
    asyncio.run(main())


def test_retention_deletes_old_recordings(rig, tmp_path) -> None:
    """Recordings older than the retention days are deleted (file and row marked), newer ones stay."""
    import time as _time

    from hotline.daemon.store.models import Recording

    async def main() -> None:
        store, engine, journal, devices, calls = await rig()
        old, new = tmp_path / "old.wav", tmp_path / "new.wav"
        old.write_bytes(b"RIFF")
        new.write_bytes(b"RIFF")
        now = _time.time()
        await store.write(lambda: [Recording.create(call_uuid="a", path=str(old), started_at=now - 40 * 86400,
                                                    state="closed"),
                                   Recording.create(call_uuid="b", path=str(new), started_at=now - 86400,
                                                    state="closed")])
        assert await calls.apply_retention(30) == 1
        assert not old.exists() and new.exists()
        states = await store.read(lambda: {r.call_uuid: r.state for r in Recording.select()})
        assert states == {"a": "deleted", "b": "closed"}
        assert await calls.apply_retention(0) == 0
        await calls.stop()
        await journal.stop()
        store.close()
    asyncio.run(main())


class _Broken:
    """A player that raises on every frame (a bug in one channel's source)."""

    def next_frame(self) -> np.ndarray:
        raise ValueError("broken player")


def test_one_channel_that_raises_never_silences_the_others(rig, caplog) -> None:
    """A timed fault with a bad value on one line (the sim card's clock raises for it) and a player that raises
    on another: every other channel still hears its audio on every tick, the bad player is stopped, the line's
    bad fault is cleared, and the traceback is logged once, not 50 times a second."""
    async def main() -> None:
        store, engine, journal, devices, calls = await rig()
        card = devices.devices["sim0"].driver
        good, bad, bad2 = (card.lines[n] for n in ("sim0-t1", "sim0-t2", "sim0-t3"))
        for ln in (good, bad, bad2):
            card._new_session(ln, type(ln.far.state).CONNECTED)
        chans = [engine.open_channel(ln.name, card, None) for ln in (good, bad, bad2)]
        bad.far.faults.hangup_after = {"$gt": ""}  # what the API used to store; comparing it raises TypeError
        card._timed.add(bad)
        done = engine.play(chans[2], _Broken())
        tone = (8000 * np.sin(2 * np.pi * 700 * np.arange(160) / 8000)).astype(np.int16)
        from hotline.daemon.media.engine import ArrayPlayer
        engine.play(chans[0], ArrayPlayer(np.tile(tone, 100)))
        good.far.heard.clear()
        for _ in range(100):
            engine.tick()
        heard = card.heard(good)
        assert len(heard) == 100 * 160 and tone_power(heard, 700) > 0.5, "the good channel lost audio"
        assert done.done() and done.result() is False, "the raising player was not stopped"
        assert bad.far.faults.hangup_after is None and bad not in card._timed
        assert engine.tick_errors == 1, engine.tick_errors
        await calls.stop()
        await journal.stop()
        store.close()
    with caplog.at_level("ERROR"):
        asyncio.run(main())
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 2, [r.getMessage() for r in tracebacks]  # one per bad part, not one per tick


def test_admission_counts_the_ticks_own_cpu_and_missed_ticks_not_wall_time() -> None:
    """A tick that waits (other processes ran: wall time without CPU) is no overrun; a tick that computes past
    ``overrun_ms`` is, and so is each fall behind by a tick or more while the process itself is busy (not each
    tick missed: one long pause is no overload; not when other programs starve it): five in a second make the
    box refuse new callers."""
    import threading
    import time

    from hotline.daemon.media import engine as engine_module
    from hotline.daemon.media.engine import MediaEngine

    async def run(hook, ticks: int) -> MediaEngine:
        engine = MediaEngine(4, speed=1.0, overrun_ms=5.0)
        engine.tick_hooks.append(hook)
        await engine.start()
        while engine.ticks < ticks:
            await asyncio.sleep(0.005)
        await engine.stop()
        return engine

    def spin() -> None:
        end = time.thread_time() + 0.008
        while time.thread_time() < end:
            pass

    waited = asyncio.run(run(lambda: time.sleep(0.008), 8))
    assert waited.overruns == 0 and not waited.overloaded(), "ticks slow on the wall clock only refused callers"
    assert waited.tick_cpu < 0.02, waited.tick_cpu
    busy = asyncio.run(run(spin, 8))
    assert busy.overruns >= 5 and busy.overloaded(), busy.status()
    assert busy.tick_cpu >= 8 * 0.008
    once = iter([0.13])
    stalled = asyncio.run(run(lambda: time.sleep(next(once, 0.0)), 4))
    assert stalled.missed_ticks >= 5 and not stalled.overloaded(), f"one pause refused callers: {stalled.status()}"
    starved = asyncio.run(run(lambda: time.sleep(0.045), 7))   # other programs held the box, not this process
    assert starved.missed_ticks >= 5 and not starved.overloaded(), f"a starved box refused: {starved.status()}"
    stop = threading.Event()

    def hog() -> None:      # the box's own other threads (signalling, database) keep it busy meanwhile
        while not stop.is_set():
            sum(range(2000))
    thread = threading.Thread(target=hog, daemon=True)
    thread.start()
    busy_share = engine_module.BUSY_SHARE
    engine_module.BUSY_SHARE = 0.1    # the test machine's other work may leave the hog less than half a core
    try:
        stalling = asyncio.run(run(lambda: time.sleep(0.045), 120))
    finally:
        engine_module.BUSY_SHARE = busy_share
        stop.set()
        thread.join()
    assert stalling.missed_ticks >= 5 and stalling.overruns == 0 and stalling.overloaded(), stalling.status()


def test_tick_interval_histogram_shows_the_gap_a_stalled_tick_leaves() -> None:
    """The time between the ends of two ticks (when frames go out) is recorded: 20 ms on time, and a stall of
    the loop shows as one long gap, which sip-bench reads as the RTP gap p99."""
    import time

    from hotline.daemon.box.metrics import Metrics
    from hotline.daemon.media.engine import MediaEngine

    async def main() -> MediaEngine:
        engine = MediaEngine(4, speed=1.0, metrics=Metrics())
        stalls = iter([0.0, 0.0, 0.0, 0.07])
        engine.tick_hooks.append(lambda: time.sleep(next(stalls, 0.0)))
        await engine.start()
        while engine.ticks < 8:
            await asyncio.sleep(0.005)
        await engine.stop()
        return engine

    engine = asyncio.run(main())
    hist = engine.metrics.tick_interval
    buckets = {s.labels["le"]: s.value for s in hist.collect()[0].samples if s.name.endswith("_bucket")}
    total = buckets["+Inf"]
    assert total >= 6, buckets
    assert buckets["0.06"] < total, f"the 70 ms stall left no long gap: {buckets}"
    assert buckets["0.03"] >= total / 2, f"ticks on time were not about 20 ms apart: {buckets}"


def test_a_caller_gone_before_the_calls_task_first_runs_still_ends_at_once(rig) -> None:
    """Ringing and the caller's hang-up handled in the same loop step (a driver thread's events batched, or a
    caller who hangs up as the line rings): the call's task is cancelled before it ever ran, so its own clean-up
    never runs; the call must still end, with its CDR, at once -- not 5 s later by the watchdog as an orphan."""
    from hotline.drivers.base import HangupCause, HungUp, Ringing
    from hotline.daemon.store.models import Event

    async def main() -> None:
        store, engine, journal, devices, calls = await rig()
        calls._watchdog.cancel()                       # only the call's own ending counts here
        line = devices.devices["sim0"].driver.lines["sim0-t1"]
        calls.on_line_event(Ringing(line.name, caller_id="13800138000", dialed="8001"))
        calls.on_line_event(HungUp(line.name, HangupCause.NORMAL))
        for _ in range(100):
            if not calls.calls:
                break
            await asyncio.sleep(0.01)
        assert not calls.calls, "the call is still up a second after its caller hung up"
        await journal.flush()
        kinds = await store.read(lambda: [e.kind for e in Event.select().order_by(Event.id)])
        assert kinds.count("call.ended") == 1 and "call.orphaned" not in kinds, kinds
        assert line.name not in calls.owner and line.name not in devices.busy
        await calls.stop()
        await journal.stop()
        store.close()
    asyncio.run(main())
