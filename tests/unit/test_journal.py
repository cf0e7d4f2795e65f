"""The journal never stalls or drops silently: bad events are escaped or dead-lettered, a failing database is
reported and its events kept (spilled at stop, written by the next start), and every call gets one CDR."""
from __future__ import annotations

import asyncio
import json

from hotline.daemon.box.metrics import Metrics
from hotline.daemon.store.models import Cdr, Event
from hotline.drivers.base import MediaQuality


def _sample(metrics: Metrics, name: str, labels: dict | None = None) -> float:
    return metrics.registry.get_sample_value(name, labels or {}) or 0.0


async def _close(calls, journal, store) -> None:
    await calls.stop()
    await journal.stop()
    store.close()


def _hold_calls(calls) -> None:
    """Calls wait in their flow until the caller hangs up."""
    calls.flow_for = lambda call: (lambda ctx: asyncio.sleep(3600))
    calls.context_factory = lambda call, m: None


def test_bad_text_in_one_event_is_written_escaped_and_the_rest_of_the_batch_goes_on(rig, tmp_path) -> None:
    """A lone surrogate in one event's data (the finding: every later batch failed for good) is stored as a
    visible escape; the events before and after it are written in the same batch; nothing stays buffered."""
    async def main() -> None:
        metrics = Metrics()
        store, engine, journal, devices, calls = await rig(state_dir=tmp_path, metrics=metrics)
        for i in range(10):
            journal.emit("test.event", f"c{i}", name="\ud800" if i == 4 else f"n{i}")
        journal.emit("test.line\udcff", "c10", line="sim0-t1\ud83d")
        await journal.flush()
        rows = await store.read(lambda: [(e.call_uuid, e.kind, e.line, json.loads(e.data)) for e in
                                         Event.select().where(Event.call_uuid.startswith("c")).order_by(Event.id)])
        assert [r[0] for r in rows] == [f"c{i}" for i in range(11)]
        assert rows[4][3] == {"name": "\\ud800"} and rows[3][3] == {"name": "n3"}
        assert rows[10][1:3] == ("test.line\\udcff", "sim0-t1\\ud83d")
        st = journal.status()
        assert st["state"] == "up" and st["buffered"] == 0 and st["escaped"] == 2, st
        assert _sample(metrics, "hotline_journal_events_escaped_total") == 2
        assert not (tmp_path / "journal-deadletter.jsonl").exists()
        await _close(calls, journal, store)
    asyncio.run(main())


def test_an_event_that_cannot_be_stored_is_dead_lettered_with_a_metric_and_a_log_line(rig, tmp_path,
                                                                                         caplog) -> None:
    """An event that cannot even be encoded goes to the dead-letter file with the reason; the others are
    written, the journal is not failing, and nothing is retried."""
    async def main() -> None:
        metrics = Metrics()
        store, engine, journal, devices, calls = await rig(state_dir=tmp_path, metrics=metrics)
        loop: dict = {}
        loop["self"] = loop
        journal.emit("test.before", "d1")
        journal.emit("test.circular", "d2", data=loop)
        journal.emit("test.after", "d3")
        await journal.flush()
        kinds = await store.read(lambda: [e.kind for e in Event.select().where(Event.call_uuid.startswith("d"))])
        assert kinds == ["test.before", "test.after"]
        dead = [json.loads(x) for x in (tmp_path / "journal-deadletter.jsonl").read_text().splitlines()]
        assert len(dead) == 1 and "test.circular" in str(dead[0]["event"]) and "Circular" in dead[0]["error"]
        assert _sample(metrics, "hotline_journal_events_dead_lettered_total") == 1
        assert "event=journal_dead_letter" in caplog.text
        st = journal.status()
        assert st["state"] == "up" and st["dead_lettered"] == 1 and st["buffered"] == 0
        await journal.flush()
        assert len((tmp_path / "journal-deadletter.jsonl").read_text().splitlines()) == 1, "retried"
        await _close(calls, journal, store)
    asyncio.run(main())


def test_garbled_caller_id_from_a_line_is_replaced_and_the_call_gets_its_cdr(rig, tmp_path) -> None:
    """Caller ID and name from the hardware with invalid Unicode become U+FFFD; the CDR is written."""
    async def main() -> None:
        store, engine, journal, devices, calls = await rig(state_dir=tmp_path)
        card = devices.devices["sim0"].driver
        card.far_call(card.lines["sim0-t1"], "1380\ud800", "Li \udcff", "8001\udfff")
        call = next(iter(calls.finished.values()), None) or next(iter(calls.calls.values()))
        uuid = call["uuid"] if isinstance(call, dict) else call.uuid
        for _ in range(100):
            row = await store.read(lambda: Cdr.get_or_none(Cdr.call_uuid == uuid))
            if row is not None:
                break
            await asyncio.sleep(0.02)
        assert row is not None, "no CDR for a call with a garbled caller ID"
        assert (row.caller_id, row.caller_name, row.dialed) == ("1380\ufffd", "Li \ufffd", "8001\ufffd")
        assert journal.status()["escaped"] == 0, "the line's text reached the journal raw"
        await _close(calls, journal, store)
    asyncio.run(main())


def _break_database(store, broken: bool) -> None:
    """Every journal write fails (or works again) with a database error, whatever connection tries."""
    old, new = ("events", "events_away") if broken else ("events_away", "events")
    store.write_sync(lambda: store.db.execute_sql(f"ALTER TABLE {old} RENAME TO {new}"))


def test_failing_database_is_reported_and_recovers_without_losing_events_or_cdrs(rig, tmp_path) -> None:
    """While the database refuses writes the journal says failing (status, gauge), keeps every event and the
    CDRs of calls that ended meanwhile; once it works again all are written and it is healthy."""
    async def main() -> None:
        metrics = Metrics()
        store, engine, journal, devices, calls = await rig(state_dir=tmp_path, metrics=metrics)
        _hold_calls(calls)
        card = devices.devices["sim0"].driver
        for n in (1, 2, 3):
            card.far_call(card.lines[f"sim0-t{n}"], f"1390000000{n}", "", "8001")
        uuids = [c.uuid for c in calls.calls.values()]
        await journal.flush()
        _break_database(store, True)
        for n in (1, 2, 3):
            card.far_hangup(card.lines[f"sim0-t{n}"])
        for _ in range(100):
            if not calls.calls:
                break
            await asyncio.sleep(0.02)
        assert not calls.calls, "hang-ups waited for the database"
        st = journal.status()
        assert st["state"] == "failing" and "no such table" in st["error"] and st["buffered"] >= 3, st
        assert _sample(metrics, "hotline_journal_write_errors_total") >= 1
        _break_database(store, False)
        for _ in range(200):
            if journal.status()["state"] == "up" and not journal.status()["buffered"]:
                break
            await asyncio.sleep(0.05)
        assert journal.status()["state"] == "up", journal.status()
        rows = await store.read(lambda: {r.call_uuid: r.disposition for r in Cdr.select()})
        assert {u: rows.get(u) for u in uuids} == {u: "unanswered" for u in uuids}
        await _close(calls, journal, store)
    asyncio.run(main())


def test_events_the_database_refused_at_stop_are_spilled_and_written_by_the_next_start(rig, tmp_path) -> None:
    """Stop with the database refusing: the buffer goes to a spill file; the next start writes it first, the
    calls that ended get their one CDR each, and the ones still up at the stop are closed as interrupted."""
    async def main() -> None:
        store, engine, journal, devices, calls = await rig(state_dir=tmp_path)
        _hold_calls(calls)
        card = devices.devices["sim0"].driver
        for n in (1, 2, 3, 4):
            card.far_call(card.lines[f"sim0-t{n}"], f"1390000000{n}", "\u5f20\u4e09", "8001")
        uuids = [c.uuid for c in calls.calls.values()]
        await journal.flush()
        _break_database(store, True)
        for n in (1, 2):
            card.far_hangup(card.lines[f"sim0-t{n}"])
        while len(calls.calls) > 2:
            await asyncio.sleep(0.02)
        calls.calls.clear()  # the box dies with two calls up: they are not ended by the stop
        await calls.stop()
        await journal.stop()
        spill = tmp_path / "journal-spill.jsonl"
        assert spill.exists() and len(spill.read_text().splitlines()) >= 2
        store.close()
        import sqlite3
        with sqlite3.connect(tmp_path / "h.db") as con:  # the disk is repaired before the next start
            con.execute("ALTER TABLE events_away RENAME TO events")

        store, engine, journal, devices, calls = await rig(state_dir=tmp_path)
        assert not spill.exists(), "the spill file was not written back"
        cdrs = await store.read(lambda: {r.call_uuid: (r.disposition, r.caller_name) for r in Cdr.select()})
        counts = await store.read(lambda: {u: Cdr.select().where(Cdr.call_uuid == u).count() for u in uuids})
        assert counts == {u: 1 for u in uuids}
        assert [cdrs[u][0] for u in uuids] == ["unanswered", "unanswered", "interrupted", "interrupted"]
        assert all(cdrs[u][1] == "\u5f20\u4e09" for u in uuids)
        await _close(calls, journal, store)
    asyncio.run(main())


def test_a_failing_cdr_write_does_not_hold_back_the_events_and_is_retried_a_bounded_number_of_times(
        rig, tmp_path) -> None:
    """A follow-up write (a CDR) that raises: the events of its batch are committed anyway, the journal says
    its CDR writer is failing, the write is tried 3 times in all and then dead-lettered, and the next CDR that
    succeeds makes the journal healthy again."""
    async def main() -> None:
        metrics = Metrics()
        store, engine, journal, devices, calls = await rig(state_dir=tmp_path, metrics=metrics)
        tries: list[int] = []

        def broken_cdr() -> None:
            tries.append(1)
            raise ValueError("value too long for type character varying(255)")
        journal.emit("test.kept", "e1")
        try:
            await journal.flush(broken_cdr)
            raise AssertionError("the CDR's failure was not reported to the caller")
        except ValueError:
            pass
        assert await store.read(lambda: Event.select().where(Event.call_uuid == "e1").count()) == 1
        st = journal.status()
        assert st["state"] == "failing" and "varying(255)" in st["cdr_error"], st
        for _ in range(3):
            await journal.flush()
        assert len(tries) == 3, "retried forever or not at all"
        dead = (tmp_path / "journal-deadletter.jsonl").read_text()
        assert "gave up after 3 tries" in dead
        assert _sample(metrics, "hotline_cdr_write_errors_total") == 3
        assert await journal.flush(lambda: "ok") == "ok"
        assert journal.status()["state"] == "up"
        await _close(calls, journal, store)
    asyncio.run(main())


def test_on_postgresql_bad_text_nuls_and_long_names_never_refuse_events_or_cdrs(rig, database_for,
                                                                              tmp_path) -> None:
    """PostgreSQL refuses what SQLite takes (NUL in text, text over a column's width): surrogates and NULs in
    an event are escaped, a 300-character caller name with a NUL still gets its CDR (the name cut to the
    column's 128), nothing is dead-lettered."""
    async def main(url: str) -> None:
        store, engine, journal, devices, calls = await rig(state_dir=tmp_path, url=url)
        journal.emit("test.nul\x00kind", "p1", line="sim0\x00t1", name="a\x00b\ud800")
        journal.emit("test.after", "p2")
        await journal.flush()
        rows = await store.read(lambda: [(e.kind, e.line, json.loads(e.data)) for e in
                                         Event.select().where(Event.call_uuid.in_(["p1", "p2"])).order_by(Event.id)])
        assert rows == [("test.nul\\x00kind", "sim0\\x00t1", {"name": "a\x00b\\ud800"}), ("test.after", None, {})]
        card = devices.devices["sim0"].driver
        card.far_call(card.lines["sim0-t1"], "13900000001", "\u674e" * 299 + "\x00", "8001")
        for _ in range(100):
            row = await store.read(lambda: Cdr.get_or_none(Cdr.caller_id == "13900000001"))
            if row is not None:
                break
            await asyncio.sleep(0.02)
        assert row is not None and row.caller_name == "\u674e" * 128
        st = journal.status()
        assert st["state"] == "up" and st["dead_lettered"] == 0, st
        await _close(calls, journal, store)
    with database_for("postgresql") as url:
        asyncio.run(main(url))


def test_a_lines_media_quality_is_journaled_with_the_call_that_owns_it(rig, tmp_path) -> None:
    """A device's MediaQuality (SIP: RTCP loss and jitter at hang-up) becomes a ``line.quality`` event naming the
    leg and call that own the line; for a line no call owns, the event still records the line."""
    async def main() -> None:
        store, engine, journal, devices, calls = await rig(state_dir=tmp_path)
        card = devices.devices["sim0"].driver
        card.far_call(card.lines["sim0-t1"], "13800138000", "", "8001")
        call = next(iter(calls.calls.values()))
        calls.on_line_event(MediaQuality("sim0-t1", loss_pct=1.5, jitter_ms=3.2, far_loss_pct=0.0))
        calls.on_line_event(MediaQuality("sim0-t2", loss_pct=None))
        await journal.flush()
        rows = await store.read(lambda: [(e.call_uuid, e.line, json.loads(e.data)) for e in
                                         Event.select().where(Event.kind == "line.quality").order_by(Event.id)])
        assert rows[0] == (call.uuid, "sim0-t1", {"parent": call.uuid, "loss_pct": 1.5, "jitter_ms": 3.2,
                                                  "far_loss_pct": 0.0, "far_jitter_ms": None})
        assert rows[1][:2] == (None, "sim0-t2")
        await _close(calls, journal, store)
    asyncio.run(main())


def test_calls_ending_together_share_one_commit_and_each_gets_its_own_cdr_result(rig, tmp_path) -> None:
    """commit_with() (what a call's end uses): writes queued together go in the journal's next batch, one
    transaction, after their events; each caller gets its own result, and a failing one only its own error."""
    async def main() -> None:
        store, engine, journal, devices, calls = await rig(state_dir=tmp_path)
        writes: list[int] = []
        real_write = store.write

        async def counting_write(fn, batch, thens, dead_path):
            writes.append(len(thens))
            return await real_write(fn, batch, thens, dead_path)
        store.write = counting_write
        await journal.flush()
        writes.clear()

        def seen(uuid: str):     # runs in the transaction: the call's events are already in it
            return lambda: (uuid, Event.select().where(Event.call_uuid == uuid).count())

        def broken() -> None:
            raise ValueError("no room")
        for n in range(5):
            journal.emit("call.ended", f"c{n}")
        results = await asyncio.gather(*[journal.commit_with(seen(f"c{n}")) for n in range(5)],
                                       journal.commit_with(broken), return_exceptions=True)
        assert results[:5] == [(f"c{n}", 1) for n in range(5)], results
        assert isinstance(results[5], ValueError) and "no room" in str(results[5])
        assert writes == [6], f"one transaction for the six writes, got {writes}"
        await _close(calls, journal, store)
    asyncio.run(main())
