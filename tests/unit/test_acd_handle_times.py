"""The estimate's handle times: read back from the journal (real SQLite) and topped up with assumed ones for a
young queue, and the reasons an estimate is held back."""
from __future__ import annotations

import json
from pathlib import Path

from hotline.daemon.acd import handle_times
from hotline.daemon.acd.estimate import (FEW_HANDLE_TIMES, MIN_SAMPLES, NOBODY_AT_WORK, RANGE_TOO_WIDE, AgentLoad,
                                         announce_range, estimate_wait, estimate_waits, with_prior)
from hotline.daemon.store import migrations
from hotline.daemon.store.db import Store
from hotline.daemon.store.models import Event

NOW = 1_800_000_000.0


def test_handle_times_are_read_back_per_queue_from_the_journal(tmp_path: Path) -> None:
    """Answered calls of each queue, from queue.answered to the first unbridge (or end), plus the queue's
    wrap-up, oldest first; other queues, unanswered calls and calls older than the look-back are left out."""
    store = Store(f"sqlite:///{tmp_path / 'hotline.db'}")
    store.open()
    try:
        store.write_sync(migrations.upgrade, store.db)

        def journal() -> None:
            def ev(ts: float, kind: str, uuid: str, **data: object) -> None:
                Event.create(ts=ts, kind=kind, call_uuid=uuid, data=json.dumps(data))
            for i, talk in enumerate((100.0, 200.0, 300.0)):
                t0 = NOW - 3600 + i * 600
                ev(t0, "queue.joined", f"s{i}", queue="support")
                ev(t0 + 10, "queue.answered", f"s{i}", queue="support", agent=1)
                ev(t0 + 10 + talk, "call.unbridged", f"s{i}")
                ev(t0 + 10 + talk + 5, "call.ended", f"s{i}")
            ev(NOW - 600, "queue.answered", "o1", queue="sales", agent=2)
            ev(NOW - 600 + 42, "call.ended", "o1")                 # hung up without an unbridge event
            ev(NOW - 500, "queue.abandoned", "a1", queue="support")
            ev(NOW - 500, "call.ended", "a1")
            ev(NOW - 30 * 86400, "queue.answered", "old", queue="support", agent=1)
            ev(NOW - 30 * 86400 + 60, "call.ended", "old")
        store.write_sync(journal)
        got = store.write_sync(lambda: handle_times.recent({"support": 10.0, "sales": 0.0, "water": 5.0}, now=NOW))
    finally:
        store.close()
    assert got == {"support": [110.0, 210.0, 310.0], "sales": [42.0], "water": []}


def test_a_young_queue_starts_from_its_expected_handle_time() -> None:
    """No calls of its own: ten assumed handle times with the expected mean; each real call replaces one;
    from the tenth real call on only real ones count."""
    assumed = with_prior([], 180.0)
    assert len(assumed) == MIN_SAMPLES and abs(sum(assumed) / len(assumed) - 180.0) < 15.0
    assert max(assumed) / min(assumed) > 2.0                            # a spread, not one value repeated
    three = with_prior([50.0, 60.0, 70.0], 180.0)
    assert len(three) == MIN_SAMPLES and three[-3:] == [50.0, 60.0, 70.0]
    own = [float(x) for x in range(40, 40 + MIN_SAMPLES)]
    assert with_prior(own, 180.0) == own


def test_a_plain_moment_with_a_few_agents_gets_an_estimate_and_held_back_ones_say_why() -> None:
    """Two agents busy, two callers waiting, no history: both positions get a range. Nobody at work: held
    back (nobody_at_work); a short history without the prior: few_handle_times; one agent with the second
    caller behind a whole unknown call: the range is too wide to help (range_too_wide)."""
    prior = with_prior([], 180.0)
    two = [AgentLoad(False, 20.0), AgentLoad(False, 60.0)]
    for est in estimate_waits([1, 2], two, prior):
        assert est.reliable and est.held_back == "" and announce_range(est) is not None
    assert estimate_wait(1, [AgentLoad(False, None)], prior).held_back == NOBODY_AT_WORK
    assert estimate_wait(1, two, [100.0, 200.0]).held_back == FEW_HANDLE_TIMES
    lonely = estimate_wait(2, [AgentLoad(False, 5.0)], prior)
    assert not lonely.reliable and lonely.held_back == RANGE_TOO_WIDE and announce_range(lonely) is None

