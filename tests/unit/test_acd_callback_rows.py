"""Callback rows (real SQLite): which ones the ACD picks up again when it starts, and their updates."""
from __future__ import annotations

from pathlib import Path

from hotline.daemon.store import migrations
from hotline.daemon.store.db import Store


def test_pending_callbacks_of_the_last_days_are_picked_up_again_at_start(tmp_path: Path) -> None:
    """After a restart the ACD re-queues callbacks still pending, or dialling when the box stopped, asked for
    within RESTORE_HOURS; done, failed and stale ones stay as they are."""
    import time

    from hotline.daemon.acd import callbacks as acd_callbacks
    from hotline.daemon.store.service_models import Callback
    store = Store(f"sqlite:///{tmp_path / 'hotline.db'}")
    store.open()
    try:
        store.write_sync(migrations.upgrade, store.db)
        now = time.time()

        def rows() -> None:
            for number, status, age_h in (("1001", "pending", 1), ("1002", "dialing", 2), ("1003", "done", 1),
                                          ("1004", "failed", 1), ("1005", "pending", 24 * 30)):
                Callback.create(number=number, queue="support", status=status, attempts=1,
                                created_at=now - age_h * 3600, updated_at=now, joined_at=now - age_h * 3600,
                                next_attempt_at=now + 60)
        store.write_sync(rows)
        since = now - acd_callbacks.RESTORE_HOURS * 3600
        got = store.write_sync(lambda: acd_callbacks.pending_rows(since))
        store.write_sync(lambda: acd_callbacks.save_row(got[0]["id"], "done", 2, None, "reached"))
        after = store.write_sync(lambda: acd_callbacks.pending_rows(since))
    finally:
        store.close()
    assert [(r["number"], r["attempts"]) for r in got] == [("1001", 1), ("1002", 1)]
    assert [r["number"] for r in after] == ["1002"]
