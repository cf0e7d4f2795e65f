"""The calls list read in chunks (as the exports read it): every call exactly once, in time order with ties
broken by call id, whether the calls are all at different moments (read in index order) or some share one."""
from __future__ import annotations

import random
import uuid
from pathlib import Path

import pytest

from hotline.daemon.stats import reports
from hotline.daemon.store.db import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path, database_for):
    """A migrated, empty store of each kind."""
    from hotline.daemon.store import migrations
    with database_for(request.param) as url:
        s = Store(url)
        s.open()
        s.write_sync(migrations.check, s.db, True)
        yield s
        s.close()


def _insert(store: Store, moments: list[float]) -> None:
    from hotline.daemon.store.models import Cdr
    rows = [{"call_uuid": str(uuid.UUID(int=random.Random(i).getrandbits(128))), "direction": "inbound",
             "line": "sim0-t1", "caller_id": f"138{i:08d}", "dialed": "8001", "offered_at": at,
             "ended_at": at + 60, "duration": 60.0, "talk_seconds": 50.0, "disposition": "connected",
             "cause": "normal"} for i, at in enumerate(moments)]
    store.write_sync(lambda: Cdr.insert_many(rows).execute())


def _every_row(store: Store, desc: bool, size: int) -> list[str]:
    got: list[str] = []
    after = None
    while True:
        page = store.write_sync(lambda: reports.calls_list(0, 2e9, desc=desc, limit=size, after=after, count=False))
        got += [r["call_uuid"] for r in page["rows"]]
        if len(page["rows"]) < size:
            return got
        after = page["next"]


@pytest.mark.parametrize("ties", [False, True])
def test_chunks_hold_every_call_once_in_order(store, ties: bool) -> None:
    base = 1_772_587_530.0
    moments = [base + i * 1.5 for i in range(40)]
    if ties:   # three calls at one moment, some of them across a chunk's end
        moments += [base + 7 * 1.5] * 3 + [base + 9 * 1.5] * 2 + [base] * 2
    _insert(store, moments)
    rows = store.write_sync(lambda: reports.calls_list(0, 2e9, limit=1000, count=False))["rows"]
    for desc in (True, False):
        want = [r["call_uuid"] for r in sorted(rows, key=lambda r: (r["offered_at"], r["call_uuid"]),
                                               reverse=desc)]
        for size in (1, 4, 5, 7, 100):
            assert _every_row(store, desc, size) == want, (desc, size)
        first = store.write_sync(lambda: reports.calls_list(0, 2e9, desc=desc, limit=6))
        assert [r["call_uuid"] for r in first["rows"]] == want[:6] and first["total"] == len(moments)
        page3 = store.write_sync(lambda: reports.calls_list(0, 2e9, desc=desc, limit=6, offset=12))
        assert [r["call_uuid"] for r in page3["rows"]] == want[12:18]
