"""Storage and schema migrations on a real SQLite file and a real PostgreSQL server."""
from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

import peewee
import pytest

from hotline.daemon.errors import SchemaTooNew, StoreError
from hotline.daemon.store import migrations, models
from hotline.daemon.store.db import Store, make_database

REPO = Path(__file__).resolve().parents[2]
HOTLINE = str(Path(sys.executable).parent / "hotline")
EX_CONFIG = 78
TABLES = {"hotline_schema", "users", "api_tokens", "settings", "events", "cdrs", "recordings"}
MODELS = (models.User, models.ApiToken, models.Setting, models.Event, models.Cdr, models.Recording)


# ---------------------------------------------------------------- fixtures and helpers

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file under tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'hotline.db'}"
    else:
        with request.getfixturevalue("fresh_pg_database")() as url:
            yield url


@contextlib.contextmanager
def opened(url: str) -> Iterator[Store]:
    """An open Store, closed afterwards."""
    store = Store(url)
    store.open()
    try:
        yield store
    finally:
        store.close()


def snapshot(store: Store) -> dict:
    """Everything a user could notice about the database: tables, columns, schema rows, row counts."""
    def take(db: peewee.Database) -> dict:
        tables = sorted(db.get_tables())
        out: dict = {"tables": tables}
        for t in tables:
            out[f"{t}.columns"] = sorted(c.name for c in db.get_columns(t))
            out[f"{t}.rows"] = db.execute_sql(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
        if "hotline_schema" in tables:
            out["versions"] = sorted(r[0] for r in db.execute_sql("SELECT version FROM hotline_schema"))
        return out
    return store.write_sync(take, store.db)


def cli_env(tmp_path: Path, url: str | None = None, **extra: str) -> dict[str, str]:
    """Environment for a ``hotline`` subprocess: a private state dir, never the box's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "NOTIFY_SOCKET", "WATCHDOG_"))}
    env["HOTLINE_STATE_DIR"] = str(tmp_path / "state")
    env["HOTLINE_WEB_LISTEN"] = f"127.0.0.1:{_free_port()}"
    if url:
        env["HOTLINE_DATABASE_URL"] = url
    env.update(extra)
    return env


def run_cli(tmp_path: Path, env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the installed ``hotline`` with the shipped configuration."""
    config = tmp_path / "hotline.yaml"
    if not config.exists():
        config.write_text((REPO / "etc" / "hotline.yaml").read_text())
    assert os.path.exists(HOTLINE), f"{HOTLINE} missing: run scripts/test (it installs the project)"
    return subprocess.run([HOTLINE, "-c", str(config), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=tmp_path)


def assert_one_clear_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Non-zero exit, one 'hotline: error:' message naming the problem, no traceback."""
    err = proc.stderr
    assert proc.returncode != 0, f"expected a failure, got 0:\n{proc.stdout}{err}"
    assert "Traceback" not in err, f"a traceback instead of a message:\n{err}"
    assert err.count("hotline: error:") == 1, f"expected exactly one error message:\n{err}"
    for needle in needles:
        assert needle in err, f"{needle!r} missing from the message:\n{err}"
    return err


@pytest.fixture
def extra_migration(monkeypatch):
    """Pretend this Hotline knows one migration more than the shipped ones."""
    nxt = migrations.LATEST + 1
    mig = migrations.Migration(nxt, "test: an extra table", (
        "CREATE TABLE test_extra (id {pk}, note VARCHAR(32) NOT NULL)",
    ))
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, mig))
    monkeypatch.setattr(migrations, "LATEST", nxt)
    # upgrade()'s default target is bound to LATEST when the module is imported.
    monkeypatch.setattr(migrations.upgrade, "__defaults__", (nxt,))
    return mig


# ---------------------------------------------------------------- schema creation and upgrades

def test_empty_database_upgrade_creates_every_table(db_url):
    """A new database gets every table; the models can write and read each of them."""
    with opened(db_url) as store:
        assert store.write_sync(migrations.current_version, store.db) == 0
        applied = store.write_sync(migrations.upgrade, store.db)
        assert applied == [m.number for m in migrations.MIGRATIONS]
        assert store.write_sync(migrations.current_version, store.db) == migrations.LATEST
        tables = set(store.write_sync(store.db.get_tables))
        assert TABLES <= tables, f"missing tables: {TABLES - tables}"

        def columns_match() -> dict:
            missing = {}
            for model in MODELS:
                have = {c.name for c in store.db.get_columns(model._meta.table_name)}
                want = {f.column_name for f in model._meta.sorted_fields}
                if want - have:
                    missing[model.__name__] = sorted(want - have)
            return missing
        assert store.write_sync(columns_match) == {}, "models name columns the migrations do not create"

        def round_trip() -> tuple:
            user = models.User.create(name="alice", role="agent", created_at=time.time())
            models.ApiToken.create(user=user, token_hash="h" * 64, created_at=time.time())
            models.Setting.create(name="k", value="v")
            models.Event.create(ts=1.5, kind="call.offered", call_uuid=str(uuid.uuid4()), data='{"a": 1}')
            return (models.User.get(models.User.name == "alice").role, models.ApiToken.select().count(),
                    models.Setting.get_by_id("k").value, models.Event.select().count())
        assert store.write_sync(round_trip) == ("agent", 1, "v", 1)


def test_upgrade_is_idempotent(db_url):
    """Upgrading an up-to-date database changes nothing and records no version twice."""
    with opened(db_url) as store:
        store.write_sync(migrations.upgrade, store.db)
        before = snapshot(store)
        assert store.write_sync(migrations.upgrade, store.db) == []
        assert store.write_sync(migrations.check, store.db, False) == []
        assert store.write_sync(migrations.check, store.db, True) == []
        after = snapshot(store)
    assert after == before
    assert after["versions"] == [m.number for m in migrations.MIGRATIONS]


def test_first_run_creates_the_schema_even_without_auto_upgrade(db_url):
    """Version 0 (no tables at all) is a first run: created without database.auto_upgrade."""
    with opened(db_url) as store:
        assert store.write_sync(migrations.check, store.db, False) == [m.number for m in migrations.MIGRATIONS]
        assert store.write_sync(migrations.current_version, store.db) == migrations.LATEST
        assert TABLES <= set(store.write_sync(store.db.get_tables))


def test_empty_schema_table_counts_as_first_run(db_url):
    """A hotline_schema table with no rows (an interrupted first run) is version 0 and completed."""
    with opened(db_url) as store:
        store.write_sync(store.db.execute_sql, "CREATE TABLE hotline_schema "
                         "(version INTEGER NOT NULL, applied_at DOUBLE PRECISION NOT NULL)")
        assert store.write_sync(migrations.current_version, store.db) == 0
        assert store.write_sync(migrations.check, store.db, False) == [m.number for m in migrations.MIGRATIONS]
        assert TABLES <= set(store.write_sync(store.db.get_tables))


def test_deleting_a_user_removes_their_tokens(db_url):
    """ON DELETE CASCADE works on both backends (SQLite needs foreign_keys=1 for it)."""
    with opened(db_url) as store:
        store.write_sync(migrations.upgrade, store.db)

        def add_and_delete() -> int:
            user = models.User.create(name="bob", role="agent", created_at=time.time())
            models.ApiToken.create(user=user, token_hash="t" * 64, created_at=time.time())
            store.db.execute_sql("DELETE FROM users WHERE name = " + store.db.param, ("bob",))
            return models.ApiToken.select().count()
        assert store.write_sync(add_and_delete) == 0


# ---------------------------------------------------------------- newer and older schemas

def _make_newer(store: Store) -> None:
    store.write_sync(migrations.upgrade, store.db)
    store.write_sync(store.db.execute_sql,
                     f"INSERT INTO hotline_schema (version, applied_at) VALUES ({migrations.LATEST + 1}, 0)")


def test_newer_schema_is_refused_and_left_untouched(db_url):
    """A database written by a newer Hotline: check and upgrade raise SchemaTooNew, nothing changes."""
    with opened(db_url) as store:
        _make_newer(store)
        before = snapshot(store)
        for fn, args in ((migrations.check, (False,)), (migrations.check, (True,)), (migrations.upgrade, ())):
            with pytest.raises(SchemaTooNew) as info:
                store.write_sync(fn, store.db, *args)
            assert f"version {migrations.LATEST + 1} is newer" in str(info.value)
        assert snapshot(store) == before


def test_newer_schema_makes_db_upgrade_and_run_exit_78(db_url, tmp_path):
    """`hotline db upgrade` and `hotline run` refuse a newer schema with status 78 and one message."""
    with opened(db_url) as store:
        _make_newer(store)
        before = snapshot(store)
    env = cli_env(tmp_path, db_url)
    for args in (("db", "upgrade"), ("run",)):
        proc = run_cli(tmp_path, env, *args)
        assert proc.returncode == EX_CONFIG, f"hotline {' '.join(args)}: status {proc.returncode}:\n{proc.stderr}"
        assert_one_clear_error(proc, f"schema version {migrations.LATEST + 1} is newer than this Hotline",
                               "install a newer Hotline")
    with opened(db_url) as store:
        assert snapshot(store) == before


def test_older_schema_needs_db_upgrade_unless_auto_upgrade(db_url, extra_migration):
    """A database one migration behind: refused without auto_upgrade (naming the fix), upgraded with it."""
    new = extra_migration.number
    with opened(db_url) as store:
        store.write_sync(migrations.upgrade, store.db, new - 1)  # as an older Hotline left it
        before = snapshot(store)
        with pytest.raises(StoreError) as info:
            store.write_sync(migrations.check, store.db, False)
        assert not isinstance(info.value, SchemaTooNew)
        assert "hotline db upgrade" in str(info.value) and f"older than {new}" in str(info.value)
        assert snapshot(store) == before, "a refused check must not change the database"

        assert store.write_sync(migrations.check, store.db, True) == [new]
        assert store.write_sync(migrations.current_version, store.db) == new
        assert "test_extra" in store.write_sync(store.db.get_tables)


def test_cli_db_upgrade_applies_a_pending_migration(db_url, extra_migration, tmp_path, capsys):
    """`hotline db upgrade` (in process, so it sees the extra migration) applies the pending one."""
    from hotline.daemon.cli import main as cli
    new = extra_migration.number
    with opened(db_url) as store:
        store.write_sync(migrations.upgrade, store.db, new - 1)
    config = tmp_path / "hotline.yaml"
    config.write_text((REPO / "etc" / "hotline.yaml").read_text())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOTLINE_DATABASE_URL", db_url)
        mp.setenv("HOTLINE_STATE_DIR", str(tmp_path / "state"))
        assert cli.main(["-c", str(config), "db", "upgrade"]) == 0
        assert f"schema {new - 1} -> {new} (applied [{new}])" in capsys.readouterr().out
        assert cli.main(["-c", str(config), "db", "upgrade"]) == 0
        assert f"schema {new} -> {new} (up to date)" in capsys.readouterr().out
    with opened(db_url) as store:
        assert store.write_sync(migrations.current_version, store.db) == new


# ---------------------------------------------------------------- the writer thread

def test_sqlite_pragmas_are_in_force_on_writer_and_readers(tmp_path):
    """WAL, synchronous=FULL, foreign keys and a busy timeout on every connection, not just the first."""
    def pragmas() -> tuple:
        return tuple(store.db.execute_sql(f"PRAGMA {p}").fetchone()[0]
                     for p in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout"))
    with opened(f"sqlite:///{tmp_path / 'hotline.db'}") as store:
        assert store.write_sync(lambda: threading.current_thread().name).startswith("db-writer")
        assert store.write_sync(pragmas) == ("wal", 2, 1, 5000)

        async def read() -> tuple:
            return await store.read(lambda: (threading.current_thread().name, pragmas()))
        name, got = asyncio.run(read())
        assert name.startswith("db-reader") and got == ("wal", 2, 1, 5000)


def test_writes_from_many_coroutines_go_through_the_one_writer_thread(db_url):
    """200 concurrent read-modify-write coroutines: one thread 'db-writer', no lost update, all rows."""
    n = 200
    with opened(db_url) as store:
        store.write_sync(migrations.upgrade, store.db)
        store.write_sync(lambda: models.Setting.create(name="counter", value="0"))

        def bump(i: int) -> str:
            row = models.Setting.get_by_id("counter")
            time.sleep(0.0005)  # widen the window a second writer would need to lose an update
            models.Setting.update(value=str(int(row.value) + 1)).where(models.Setting.name == "counter").execute()
            models.Event.create(ts=float(i), kind="test.bumped", data="{}")
            return threading.current_thread().name

        async def main() -> tuple[list[str], str]:
            names = await asyncio.gather(*(store.write(bump, i) for i in range(n)))
            return names, threading.current_thread().name
        names, loop_thread = asyncio.run(main())
        assert set(names) == {"db-writer_0"}, f"writes ran on {sorted(set(names))}"
        assert loop_thread != "db-writer_0"
        assert store.write_sync(lambda: models.Setting.get_by_id("counter").value) == str(n)
        assert store.write_sync(lambda: models.Event.select().count()) == n


def test_failed_write_is_rolled_back_and_the_writer_keeps_working(db_url):
    """An exception inside a write rolls back its transaction; later writes still succeed."""
    with opened(db_url) as store:
        store.write_sync(migrations.upgrade, store.db)

        def half_then_fail() -> None:
            models.Setting.create(name="half", value="1")
            raise RuntimeError("boom")
        with pytest.raises(RuntimeError):
            store.write_sync(half_then_fail)
        assert store.write_sync(lambda: models.Setting.select().count()) == 0
        store.write_sync(lambda: models.Setting.create(name="after", value="2"))
        assert store.write_sync(lambda: models.Setting.get_by_id("after").value) == "2"


def test_postgresql_writer_recovers_after_the_connection_is_dropped(pg_url, fresh_pg_database):
    """A PostgreSQL restart (here: the server ending our sessions) fails one write, not all later ones."""
    import psycopg2
    with fresh_pg_database() as url, opened(url) as store:
        store.write_sync(migrations.upgrade, store.db)
        base = make_database(pg_url)
        admin = psycopg2.connect(dbname=base.database, **base.connect_params)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (make_database(url).database,))
        admin.close()
        time.sleep(0.3)
        results = []
        for _ in range(3):
            try:
                results.append(store.write_sync(migrations.current_version, store.db))
            except Exception as exc:  # noqa: BLE001 - the type is part of what is checked
                results.append(type(exc).__name__)
    ok = results[0] in ("StoreError", migrations.LATEST) and results[1:] == [migrations.LATEST] * 2
    assert ok, (
        f"BUG daemon/store/db.py Store._in_tx: after PostgreSQL dropped the connection the next three writes "
        f"gave {results}; expected at most one StoreError, then {migrations.LATEST}, {migrations.LATEST}. "
        "_in_tx must turn OperationalError/InterfaceError into StoreError and close the broken connection "
        "so that the next write reconnects (today the daemon never recovers from a PostgreSQL restart)")


# ---------------------------------------------------------------- the CLI and clear failures

def test_cli_db_upgrade_against_postgresql(pg_url, tmp_path, fresh_pg_database):
    """`hotline db upgrade` with HOTLINE_DATABASE_URL creates the schema on PostgreSQL, then is a no-op."""
    with fresh_pg_database() as url:
        env = cli_env(tmp_path, url)
        first = run_cli(tmp_path, env, "db", "upgrade")
        assert first.returncode == 0, first.stderr
        assert f"schema 0 -> {migrations.LATEST} (applied {[m.number for m in migrations.MIGRATIONS]})" \
            in first.stdout
        again = run_cli(tmp_path, env, "db", "upgrade")
        assert again.returncode == 0, again.stderr
        assert f"schema {migrations.LATEST} -> {migrations.LATEST} (up to date)" in again.stdout
        assert not (tmp_path / "state" / "hotline.db").exists(), "SQLite was used instead of PostgreSQL"
        with opened(url) as store:
            assert TABLES <= set(store.write_sync(store.db.get_tables))
            assert store.write_sync(migrations.current_version, store.db) == migrations.LATEST


def test_unwritable_state_dir_gives_one_clear_message(tmp_path):
    """A state directory that cannot be created (its parent is a file) fails fast with its path named."""
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory\n")
    state = blocker / "sub"
    env = cli_env(tmp_path, HOTLINE_STATE_DIR=str(state))
    proc = run_cli(tmp_path, env, "db", "upgrade", timeout=30)
    assert proc.returncode == 1
    assert_one_clear_error(proc, str(state), "cannot create")


def test_malformed_database_url_from_the_environment_is_a_config_error(tmp_path):
    """HOTLINE_DATABASE_URL=bogus: the configuration message (status 78), not a crash."""
    proc = run_cli(tmp_path, cli_env(tmp_path, "mysql-ish://nope"), "db", "upgrade", timeout=30)
    assert "Traceback" not in proc.stderr, (
        "BUG daemon/box/config.py/schema.py: a bad environment override crashes instead of reporting "
        f"'$HOTLINE_DATABASE_URL: database.url: expected sqlite:///PATH or postgresql://...':\n{proc.stderr}")
    assert proc.returncode == EX_CONFIG
    assert "HOTLINE_DATABASE_URL" in proc.stderr and "expected sqlite:///PATH or postgresql://" in proc.stderr


@pytest.mark.parametrize("url_form", ["tcp", "socket"])
def test_unreachable_postgresql_gives_one_clear_message(tmp_path, url_form):
    """Nothing listening: a quick failure naming the database, without the password."""
    if url_form == "tcp":
        url = f"postgresql://hotline:s3cret-pw@127.0.0.1:{_free_port()}/hotline"
    else:
        url = f"postgresql:///hotline?host={tmp_path / 'no-such-dir'}&port=5432&user=hotline&password=s3cret-pw"
    env = cli_env(tmp_path, url)
    started = time.monotonic()
    proc = run_cli(tmp_path, env, "db", "upgrade", timeout=60)
    assert time.monotonic() - started < 30
    assert proc.returncode == 1
    err = assert_one_clear_error(proc, "cannot open", "postgresql://")
    assert "s3cret-pw" not in err, (
        f"BUG daemon/store/db.py describe(): the database password is printed (and logged):\n{err}"
        "describe() hides only user:password@ passwords, not ?password= in the query string")


LOCK_HOLDER = r"""
import sqlite3, sys, time
path, mode = sys.argv[1], sys.argv[2]
con = sqlite3.connect(path, isolation_level=None)
if mode == "exclusive-mode":
    # No other connection may even read (as a backup tool or another daemon might do).
    con.execute("PRAGMA locking_mode=EXCLUSIVE")
    con.execute("BEGIN EXCLUSIVE")
    con.execute("CREATE TABLE IF NOT EXISTS lock_probe (x INTEGER)")
    con.execute("INSERT INTO lock_probe VALUES (1)")
else:
    # A long write transaction: readers go on, writers wait for the busy timeout.
    con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("mode", ["exclusive-mode", "write-transaction"])
def test_locked_sqlite_database_gives_a_clear_error_within_the_busy_timeout(tmp_path, mode):
    """Another program holding an EXCLUSIVE lock: a clear message after ~5 s, never a hang."""
    db = tmp_path / "state" / "hotline.db"
    db.parent.mkdir()
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=wal")  # what a Hotline database is; no schema yet: upgrade must write
    con.close()
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(db), mode], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        proc = run_cli(tmp_path, cli_env(tmp_path), "db", "upgrade", timeout=60)
        elapsed = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert elapsed < 20, f"took {elapsed:.1f}s: the busy timeout is 5 s"
    assert proc.returncode == 1, f"status {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    assert "Traceback" not in proc.stderr, (
        "BUG daemon/store/db.py: a write that hits 'database is locked' escapes Store.write_sync as a raw "
        "peewee.OperationalError (traceback below); Store._in_tx should raise StoreError naming the "
        f"database:\n{proc.stderr}")
    assert_one_clear_error(proc, "database is locked", str(db))
