"""The report figures: definitions checked on a hand-built hour, and incremental folding equal to a rebuild."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from hotline.daemon.stats import history, summary
from hotline.daemon.stats.aggregate import TABLES, Aggregator
from hotline.daemon.store.db import Store

REPO = Path(__file__).resolve().parents[2]
H = 1_700_000_000 // 3600 * 3600 + 10 * 3600     # an hour boundary; "10:00" below is H


def ev(t: float, kind: str, call: str | None = None, line: str | None = None, **data) -> dict:
    return {"ts": H + t, "kind": kind, "call_uuid": call, "line": line, "data": data}


HAND_DAY = [
    ev(-3600, "agent.state_changed", agent=7, old="logged_out", new="ready"),            # 09:00 logs in
    ev(0, "call.offered", "A", "t1", direction="inbound", caller_id="13800000001"),      # 10:00:00
    ev(1, "call.answered", "A", "t1"),
    ev(1, "ivr.step", "A", step="answer", flow="printer_support", block="main"),
    ev(15, "ivr.step", "A", step="menu.key", flow="printer_support", block="menu", menu="menu", key="0"),
    ev(20, "queue.joined", "A", queue="printers"),
    ev(25, "agent.state_changed", agent=7, old="ready", new="reserved", call="A"),
    ev(30, "agent.state_changed", agent=7, old="reserved", new="on_call", call="A"),
    ev(30, "queue.answered", "A", queue="printers", agent=7, waited=10.0, within_sl=True),
    ev(30, "call.bridged", "A", peer="1001"),
    ev(60, "call.held", "A"), ev(90, "call.resumed", "A"),
    ev(210, "agent.state_changed", agent=7, old="on_call", new="wrap_up"),
    ev(210, "call.ended", "A", "t1", cause="normal"),
    ev(220, "agent.state_changed", agent=7, old="wrap_up", new="ready"),
    ev(1800, "call.offered", "B", "t2", direction="inbound"),                              # 10:30
    ev(1801, "call.answered", "B", "t2"),
    ev(1805, "queue.joined", "B", queue="printers"),
    ev(1808, "queue.abandoned", "B", queue="printers", waited=3.0, short=True),
    ev(1808, "call.ended", "B", "t2", cause="normal"),
    ev(3540, "call.offered", "C", "t1", direction="inbound"),                              # 10:59, IVR only
    ev(3541, "call.answered", "C", "t1"),
    ev(3541, "ivr.step", "C", step="menu.key", flow="printer_support", block="menu", menu="menu", key="5"),
    ev(3560, "ivr.step", "C", step="play", flow="printer_support", block="faq"),
    ev(3660, "call.ended", "C", "t1", cause="normal"),                                     # 11:01
    ev(7200, "agent.state_changed", agent=7, old="ready", new="not_ready", reason="lunch"),  # 12:00
    ev(9000, "agent.state_changed", agent=7, old="not_ready", new="ready"),                 # 12:30
    ev(10800, "agent.state_changed", agent=7, old="ready", new="logged_out"),               # 13:00
]


def folded(events: list[dict], trunks: int = 2) -> dict[tuple, dict]:
    agg = Aggregator(trunks=trunks)
    for e in events:
        agg.apply(e)
    out: dict[tuple, dict] = {}
    for table, key, sums, maxes in agg.take():
        out[(table, *key)] = {**sums, **maxes}
    return out


def test_each_figure_on_a_hand_built_morning() -> None:
    rows = folded(HAND_DAY)
    h = H // 3600
    q = rows[("stat_queue", h, "printers")]
    assert (q["offered"], q["answered"], q["answered_in_sl"], q["abandoned"], q["short_abandoned"]) == (2, 1, 1, 1, 1)
    assert q["wait_answered_ms"] == 10000 and q["wait_answered_max_ms"] == 10000 and q["wait_bucket_1"] == 1
    assert q["wait_abandoned_ms"] == 3000
    a10 = rows[("stat_agent", h, 7)]
    assert a10["calls"] == 1 and a10["talk_ms"] == 180000 and a10["talk_max_ms"] == 180000 and a10["hold_ms"] == 30000
    assert a10["reserved_ms"] == 5000 and a10["on_call_ms"] == 180000 and a10["wrap_up_ms"] == 10000
    assert a10["ready_ms"] == (3600 - 5 - 180 - 10) * 1000 and a10["logged_in_ms"] == 3600000
    assert rows[("stat_agent", h - 1, 7)]["ready_ms"] == 3600000                       # 09:00-10:00
    assert rows[("stat_agent_reason", h + 2, 7, "lunch")]["ms"] == 1800000       # 12:00-12:30
    assert rows[("stat_agent", h + 2, 7)]["not_ready_ms"] == 1800000
    assert rows[("stat_agent", h + 2, 7)]["logged_in_ms"] == 3600000
    assert ("stat_agent", h + 3, 7) not in rows                                     # logged out at 13:00
    c = rows[("stat_calls", h, "inbound")]
    assert (c["calls"], c["answered"], c["queued"], c["contained"]) == (3, 3, 2, 1)
    assert c["duration_ms"] == (210 + 8 + 120) * 1000
    assert rows[("stat_ivr_choice", h, "printer_support", "menu", "0")]["count"] == 1
    assert rows[("stat_ivr_node", h, "printer_support", "faq")] == {"reached": 1, "left_here": 1}
    assert rows[("stat_ivr_node", h, "printer_support", "menu")]["reached"] == 2
    lines = rows[("stat_lines", h)]
    # A: 0-210 s, B: 1800-1808 s, C: 3540-3600 s in this hour (and 60 s in the next)
    assert lines["busy_ms"] == (210 + 8 + 60) * 1000 and lines["peak"] == 1 and lines.get("all_busy_ms", 0) == 0
    assert rows[("stat_lines", h + 1)]["busy_ms"] == 60000


def test_all_lines_busy_time_and_peak() -> None:
    events = [ev(0, "call.offered", "A", "t1", direction="inbound"), ev(10, "call.offered", "B", "t2",
              direction="inbound"), ev(40, "call.ended", "A", "t1"), ev(100, "call.ended", "B", "t2"),
              ev(200, "call.offered", "D", "t1", direction="inbound"), ev(200, "call.refused", "D", "t1"),
              ev(200, "call.ended", "D", "t1")]
    lines = folded(events, trunks=2)[("stat_lines", H // 3600)]
    assert lines == {"busy_ms": (40 + 90) * 1000, "all_busy_ms": 30000, "peak": 2}


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


def test_folding_in_small_batches_gives_exactly_the_tables_of_one_rebuild(store) -> None:
    """A simulated history folded 1..700 events at a time (as the running box does) equals one pass."""
    teams = [history.Team("printers", [1, 2, 3]), history.Team("water", [4, 5]), history.Team("sales", [6])]

    ph = "%s" if "postgres" in store.url else "?"

    def write(events: list, cdrs: list) -> None:
        def insert() -> None:
            cur = store.db.cursor()
            cur.executemany(f"INSERT INTO events (ts, kind, call_uuid, line, data) VALUES ({ph}, {ph}, {ph}, {ph}, "
                            f"{ph})", events)
        store.write_sync(insert)
    counts = history.generate(3000, 3, teams, write, seed=7, flows_dir=REPO / "etc" / "flows", trunks=6)
    assert counts["answered"] > 1000 and counts["abandoned"] > 10 and counts["refused"] > 0

    def dump() -> dict:
        return {t: store.write_sync(summary.table_rows, t) for t in (*TABLES, "stat_abandoned")}
    rng = random.Random(3)
    while store.write_sync(summary.fold_batch, 6, rng.randint(1, 700)):
        pass
    incremental = dump()
    store.write_sync(summary.clear)
    while store.write_sync(summary.fold_batch, 6, 10**7):
        pass
    rebuilt = dump()
    assert all(incremental[t] for t in (*TABLES, "stat_abandoned"))
    for t in (*TABLES, "stat_abandoned"):
        assert incremental[t] == rebuilt[t], f"{t} differs between incremental folding and a rebuild"
    # every report answers on this database, and the figures are the sums of the tables
    from hotline.daemon.stats import reports
    start, end = 0.0, 4e9
    q = store.write_sync(reports.queues, start, end, "total", (), "Asia/Shanghai")["rows"]
    assert sum(r["offered"] for r in q) == sum(row[2] for row in rebuilt["stat_queue"])
    for group in ("day", "week", "month"):
        assert store.write_sync(reports.volume, start, end, group, "Asia/Shanghai")["rows"]
        assert store.write_sync(reports.agents, start, end, group, (), "Asia/Shanghai")["rows"]
    assert store.write_sync(reports.lines, start, end, "day", "Asia/Shanghai")["rows"]
    assert store.write_sync(reports.ivr, start, end)["funnel"]
    assert store.write_sync(reports.heatmap, start, end, "Asia/Shanghai")["rows"]
    assert store.write_sync(reports.abandoned_list, start, end)["total"] == counts["abandoned"]
    assert store.write_sync(reports.tickets, start, end)["rows"] == []
