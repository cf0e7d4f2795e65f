"""The outbound fax queue gives every attempt its own trunk: jobs started in one pass (or in passes that follow each
other before the first attempt has dialled) never share a line. Two faxes dialled on one trunk was the cause of
the three-faxes-at-once failure in tests/webadmin/test_fax_engine_e2e.py (one job "busy", one stuck on a line whose
far end was taken over, the media of the others disturbed)."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

from hotline.daemon.fax import jobs
from hotline.daemon.fax.library import FaxLibrary
from hotline.daemon.fax.queue import FaxQueue
from hotline.daemon.store import migrations
from hotline.daemon.store.db import Store
from hotline.drivers.sim.card import SimCard


class _Devices:
    """The parts of the device registry the queue looks at: one simulated card's lines, busy and seized sets."""

    def __init__(self, card: SimCard):
        self.card = card
        self.lines = {line.name: line for line in card.open()}
        self.busy: set[str] = set()
        self.seized: set[str] = set()

    def device_of(self, name: str) -> SimCard:
        return self.card


class _Engine:
    now = staticmethod(time.time)
    wait_for = staticmethod(asyncio.wait_for)


class _Journal:
    def emit(self, kind: str, call_uuid: str | None, **fields) -> None:
        pass


class _Sender:
    name = "spandsp"

    def unavailable(self) -> None:
        return None

    def accepts(self, line) -> bool:
        return True


def test_jobs_started_together_get_different_trunks(tmp_path: Path) -> None:
    """Three jobs due at once on a card with two trunks: the first two attempts get one trunk each although
    neither has dialled yet (the call marks its trunk busy only after the job's store write), the third waits for a
    trunk; once an attempt has ended its trunk is free for the next one."""
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "two.ps").write_bytes(b"%!PS\nshowpage\n")
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.open()
    try:
        store.write_sync(migrations.upgrade, store.db)
        made = [store.write_sync(jobs.create_out, "two", f"555010{i}") for i in range(3)]
        devices = _Devices(SimCard("sim0", {"trunks": 2, "stations": []}, lambda event: None))
        queue = FaxQueue(store, _Journal(), None, devices, _Engine(), _Sender(),
                         FaxLibrary(shipped, tmp_path / "up"), tmp_path / "spool", {"concurrent": 3})
        picked: list[dict[int, str]] = []

        async def one_round() -> tuple[int, int, dict[str, int]]:
            gate = asyncio.Event()
            picked.append({})

            async def attempt(job: dict, trunk, source: Path) -> None:   # stands in for dial + transmit
                picked[-1][job["id"]] = trunk.name
                await gate.wait()
            queue.attempt = attempt
            first = await queue.pass_once()
            second = await queue.pass_once()            # the attempts have not dialled yet
            waiting = dict(queue.waiting)
            gate.set()
            await asyncio.gather(*queue.active.values())
            return first, second, waiting

        async def run() -> list[tuple]:
            rounds = [await one_round()]
            assert not queue.reserved and not devices.busy
            rounds.append(await one_round())            # the ended attempts gave their trunks back
            return rounds
        rounds = asyncio.run(run())
    finally:
        store.close()
    assert rounds == [(2, 0, {"no_trunk": 1})] * 2
    for attempts in picked:
        assert sorted(attempts.values()) == ["sim0-t1", "sim0-t2"], picked
    assert set(picked[0]) == {made[0]["id"], made[1]["id"]}


class _Recorder(_Journal):
    def __init__(self) -> None:
        self.kinds: list[str] = []

    def emit(self, kind: str, call_uuid: str | None, **fields) -> None:
        self.kinds.append(kind)


def test_the_document_is_converted_before_dialling_and_a_broken_one_makes_no_call(tmp_path: Path) -> None:
    """With the spandsp sender the queue converts the document before it dials (so T.30 can start at the answer):
    a PDF ghostscript cannot read fails the job (document_missing, not retried) without a call being offered on the
    trunk, which is free again."""
    from hotline.daemon.fax.engine import SpandspSender
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "broken.pdf").write_bytes(b"%PDF-1.4\ngarbage\n%%EOF\n")
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.open()
    try:
        store.write_sync(migrations.upgrade, store.db)
        job = store.write_sync(jobs.create_out, "broken", "5550100")
        devices = _Devices(SimCard("sim0", {"trunks": 1, "stations": []}, lambda event: None))
        journal = _Recorder()
        queue = FaxQueue(store, journal, None, devices, _Engine(), SpandspSender({}),
                         FaxLibrary(shipped, tmp_path / "up"), tmp_path / "spool", {"max_attempts": 4})

        async def run() -> dict:
            assert await queue.pass_once() == 1
            return await asyncio.wait_for(queue.active[job["id"]], 60)
        row = asyncio.run(run())
    finally:
        store.close()
    assert (row["status"], row["reason"], row["attempts"]) == ("failed", "document_missing", 1), row
    assert journal.kinds == ["fax.dialling", "fax.failed"]          # no call.offered / call.dialing
    assert not devices.busy and not queue.reserved and free_trunk_name(queue) == "sim0-t1"


def free_trunk_name(queue: FaxQueue) -> str | None:
    """The trunk the queue would take now."""
    async def pick():
        line = queue.free_trunk()
        return line.name if line is not None else None
    return asyncio.run(pick())
