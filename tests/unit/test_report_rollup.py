"""The per-day rollup of the agent and IVR summaries: the same figures as the hourly tables, whether the rollup
was rebuilt or kept in step while events were folded, in a fixed-offset zone and across a daylight-saving
change."""
from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

from hotline.daemon.box import localtime
from hotline.daemon.stats import history, reports, rollup, summary
from hotline.daemon.store.db import Store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path):
    """A migrated store on a SQLite file, or on a fresh PostgreSQL database."""
    from hotline.daemon.store import migrations
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'hotline.db'}")
        s.open()
        s.write_sync(migrations.check, s.db, True)
        yield s
        s.close()
        return
    with request.getfixturevalue("fresh_pg_database")() as url:
        s = Store(url)
        s.open()
        s.write_sync(migrations.check, s.db, True)
        yield s
        s.close()


def _count(store: Store, table: str) -> int:
    return store.write_sync(lambda: store.db.execute_sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


# Shanghai keeps one offset (the database adds up local days); New York changes to winter time on 2026-11-01
# (the rollup works out each hour's day itself).
@pytest.mark.parametrize("tz", ["Asia/Shanghai", "America/New_York"])
def test_agents_and_ivr_from_the_day_rollup_equal_the_hourly_figures(store, tz: str) -> None:
    """Half the history is folded before the rollup exists (it is rebuilt from the hourly tables), the other
    half after (each delta is added to its day as it is folded): every grouping of the agents report comes out
    the same as from the hourly tables, with far fewer rows read."""
    teams = [history.Team("printers", [1, 2, 3]), history.Team("water", [4, 5]), history.Team("sales", [6])]
    ph = "%s" if "postgres" in store.url else "?"

    def write(events: list, cdrs: list) -> None:
        def insert() -> None:
            store.db.cursor().executemany(f"INSERT INTO events (ts, kind, call_uuid, line, data) VALUES "
                                          f"({ph}, {ph}, {ph}, {ph}, {ph})", events)
        store.write_sync(insert)
    last = dt.date(2026, 11, 3)
    history.generate(4000, 5, teams, write, seed=11, flows_dir=REPO / "etc" / "flows", trunks=6, end=last, tz=tz)
    total_events = _count(store, "events")
    rng = random.Random(5)
    folded = 0
    while folded < total_events // 2:
        folded += store.write_sync(summary.fold_batch, 6, rng.randint(50, 900))
    assert store.write_sync(rollup.ensure, tz) is True          # built from what is folded so far
    assert store.write_sync(rollup.ensure, tz) is False         # and kept: no second rebuild
    while store.write_sync(summary.fold_batch, 6, rng.randint(50, 900)):
        pass

    first = last - dt.timedelta(days=4)
    start, end = localtime.day_start(first, tz), localtime.day_start(last + dt.timedelta(days=1), tz)
    with_rollup = {g: store.write_sync(reports.agents, start, end, g, (), tz)["rows"]
                   for g in ("day", "week", "month", "total")}
    one_agent = store.write_sync(reports.agents, start, end, "day", (2,), tz)["rows"]
    ivr = store.write_sync(reports.ivr, start, end, tz)
    store.write_sync(rollup.forget)                              # the report falls back to the hourly tables
    assert store.write_sync(rollup.zone) is None
    for group, rows in with_rollup.items():
        hourly = store.write_sync(reports.agents, start, end, group, (), tz)["rows"]
        assert rows and rows == hourly, f"group {group}: the rollup differs from the hourly figures"
    assert one_agent == store.write_sync(reports.agents, start, end, "day", (2,), tz)["rows"]
    assert ivr["funnel"] and ivr["choices"] and ivr == store.write_sync(reports.ivr, start, end, tz)
    assert {r["agent"] for r in one_agent} == {2}
    days = {r["bucket"] for r in with_rollup["day"]}
    assert days == {(first + dt.timedelta(days=i)).isoformat() for i in range(5)}, days
    assert any(r["not_ready_by_reason"].get("lunch") for r in with_rollup["day"])

    store.write_sync(rollup.rebuild, tz)
    assert _count(store, "stat_agent_day") * 8 < _count(store, "stat_agent"), "a day row replaces many hours"
    # another zone asked for: the rollup is remade in that zone, the figures still match the hourly ones
    other = "Europe/London"
    assert store.write_sync(rollup.ensure, other) is True
    o_start, o_end = localtime.day_start(first, other), localtime.day_start(last + dt.timedelta(days=1), other)
    again = store.write_sync(reports.agents, o_start, o_end, "day", (), other)["rows"]
    store.write_sync(rollup.forget)
    assert again == store.write_sync(reports.agents, o_start, o_end, "day", (), other)["rows"]


def test_a_rebuild_of_the_summaries_empties_the_rollup(store) -> None:
    """``hotline stats rebuild`` clears the summaries: the rollup goes with them and is remade when asked."""
    store.write_sync(rollup.rebuild, "Asia/Shanghai")
    assert store.write_sync(rollup.zone) == "Asia/Shanghai"
    store.write_sync(summary.clear)
    assert store.write_sync(rollup.zone) is None
    assert _count(store, "stat_agent_day") == 0
