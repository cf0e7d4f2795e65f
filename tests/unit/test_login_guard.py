"""The log-in counters on a real SQLite file and a real PostgreSQL server, with the clock given: free tries,
doubling waits, refunds on success, the account alert, forgetting, and the waits never touching clean
addresses."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from hotline.daemon.box import login_guard as lg
from hotline.daemon.store import migrations
from hotline.daemon.store.db import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path) -> Iterator[Store]:
    """A migrated, open store on either backend."""
    def make(url: str) -> Store:
        s = Store(url)
        s.open()
        s.write_sync(migrations.check, s.db, True)
        return s
    if request.param == "sqlite":
        s = make(f"sqlite:///{tmp_path / 'hotline.db'}")
        yield s
        s.close()
    else:
        with request.getfixturevalue("fresh_pg_database")() as url:
            s = make(url)
            yield s
            s.close()


def fail(store: Store, name: str, address: str, now: float) -> float:
    """One wrong password at ``now``: the wait before it (0 when it was checked)."""
    wait = store.write_sync(lg.reserve, name, address, now)
    if wait == 0:
        store.write_sync(lg.settle, name, address, False, now)
    return wait


def test_free_tries_then_doubling_waits_per_account_and_address(store: Store) -> None:
    t = 1_000_000.0
    for _ in range(lg.PAIR_FREE_TRIES):
        assert fail(store, "Admin", "192.0.2.1", t) == 0
    assert fail(store, "admin", "192.0.2.1", t) == pytest.approx(2.0)        # names are case-insensitive
    assert fail(store, "admin", "192.0.2.1", t + 2.0) == 0                    # waited: checked, 4th failure
    assert fail(store, "admin", "192.0.2.1", t + 2.0) == pytest.approx(4.0)
    assert store.write_sync(lg.reserve, "admin", "192.0.2.2", t + 2.0) == 0  # another address: no wait
    store.write_sync(lg.settle, "admin", "192.0.2.2", True, t + 2.0)          # ... and its success
    assert store.write_sync(lg.reserve, "admin", "192.0.2.1", t + 6.0) == 0
    store.write_sync(lg.settle, "admin", "192.0.2.1", True, t + 6.0)          # success clears the pair
    for _ in range(lg.PAIR_FREE_TRIES):
        assert fail(store, "admin", "192.0.2.1", t + 6.0) == 0
    # successes refunded their charge: 4 + 3 failures on the account, not 9 tries
    assert store.write_sync(lg.failures_of, "admin", t + 6.0) == 7


def test_the_wait_is_capped_and_old_failures_are_forgotten(store: Store) -> None:
    t = 2_000_000.0
    keys = lg.keys_for("sup", "192.0.2.9")
    for i in range(30):
        fail(store, "sup", "192.0.2.9", t + i * lg.MAX_DELAY)
    assert store.write_sync(lg.wait_seconds, keys, t + 29 * lg.MAX_DELAY) == pytest.approx(lg.MAX_DELAY)
    assert store.write_sync(lg.wait_seconds, keys, t + 29 * lg.MAX_DELAY + lg.FORGET_AFTER) == 0
    assert fail(store, "sup", "192.0.2.9", t + 29 * lg.MAX_DELAY + lg.FORGET_AFTER) == 0


def test_account_alert_slows_new_addresses_but_never_a_clean_one(store: Store) -> None:
    t = 3_000_000.0
    for i in range(lg.ACCOUNT_ALERT):
        assert fail(store, "agent1", f"203.0.113.{i}", t) == 0
    assert fail(store, "agent1", "198.51.100.1", t) == 0                       # first failure: checked
    assert fail(store, "agent1", "198.51.100.1", t) == pytest.approx(2.0)      # then it waits
    assert store.write_sync(lg.reserve, "agent1", "198.51.100.2", t) == 0      # a clean address goes ahead


def test_an_address_spraying_names_waits_on_every_name(store: Store) -> None:
    t = 4_000_000.0
    for i in range(lg.ADDRESS_FREE_TRIES):
        assert fail(store, f"user{i}", "198.51.100.7", t) == 0
    assert fail(store, "admin", "198.51.100.7", t) == pytest.approx(2.0)
    assert store.write_sync(lg.reserve, "admin", "198.51.100.8", t) == 0
