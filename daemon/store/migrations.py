"""Numbered schema migrations as explicit SQL that runs on SQLite and PostgreSQL alike."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import peewee

from ..errors import SchemaTooNew, StoreError

log = logging.getLogger("hotline.store")


@dataclass(frozen=True)
class Migration:
    """One numbered step; its statements run in one transaction."""

    number: int
    title: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "users, tokens, settings, event journal, CDRs, recordings", (
        """CREATE TABLE users (
            id {pk}, name VARCHAR(64) NOT NULL UNIQUE, role VARCHAR(16) NOT NULL,
            password_hash VARCHAR(255), language VARCHAR(8) NOT NULL DEFAULT 'zh_CN',
            disabled BOOLEAN NOT NULL DEFAULT FALSE, created_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE api_tokens (
            id {pk}, user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            token_hash VARCHAR(128) NOT NULL UNIQUE, created_at DOUBLE PRECISION NOT NULL,
            last_used DOUBLE PRECISION)""",
        """CREATE TABLE settings (name VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)""",
        """CREATE TABLE events (
            id {pk}, ts DOUBLE PRECISION NOT NULL, kind VARCHAR(48) NOT NULL,
            call_uuid VARCHAR(36), line VARCHAR(64), data TEXT NOT NULL DEFAULT '{{}}')""",
        "CREATE INDEX events_call ON events (call_uuid)",
        "CREATE INDEX events_kind_ts ON events (kind, ts)",
        """CREATE TABLE cdrs (
            call_uuid VARCHAR(36) PRIMARY KEY, parent_uuid VARCHAR(36), direction VARCHAR(16) NOT NULL,
            line VARCHAR(64), caller_id VARCHAR(64), caller_name VARCHAR(128), dialed VARCHAR(64),
            offered_at DOUBLE PRECISION NOT NULL, answered_at DOUBLE PRECISION,
            bridged_at DOUBLE PRECISION, ended_at DOUBLE PRECISION NOT NULL,
            duration DOUBLE PRECISION NOT NULL, talk_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
            disposition VARCHAR(16) NOT NULL, cause VARCHAR(32) NOT NULL, peer VARCHAR(64),
            recording VARCHAR(512))""",
        "CREATE INDEX cdrs_offered ON cdrs (offered_at)",
        """CREATE TABLE recordings (
            id {pk}, call_uuid VARCHAR(36) NOT NULL, path VARCHAR(512) NOT NULL UNIQUE,
            started_at DOUBLE PRECISION NOT NULL, ended_at DOUBLE PRECISION,
            duration DOUBLE PRECISION, bytes BIGINT, channels INTEGER NOT NULL DEFAULT 1,
            state VARCHAR(16) NOT NULL)""",
        "CREATE INDEX recordings_call ON recordings (call_uuid)",
    )),
)

LATEST = MIGRATIONS[-1].number


def _dialect(db: peewee.Database, sql: str) -> str:
    pk = "BIGSERIAL PRIMARY KEY" if isinstance(db, peewee.PostgresqlDatabase) else \
        "INTEGER PRIMARY KEY AUTOINCREMENT"
    return sql.format(pk=pk)


def current_version(db: peewee.Database) -> int:
    """The schema version stored in the database (0 for an empty database)."""
    if "hotline_schema" not in db.get_tables():
        return 0
    row = db.execute_sql("SELECT MAX(version) FROM hotline_schema").fetchone()
    return int(row[0] or 0)


def upgrade(db: peewee.Database, target: int | None = None) -> list[int]:
    """Apply every migration above the stored version up to ``target`` (default: the latest)."""
    target = MIGRATIONS[-1].number if target is None else target
    version = current_version(db)
    latest = MIGRATIONS[-1].number
    if version > latest:
        raise SchemaTooNew(f"database schema version {version} is newer than this Hotline "
                           f"(knows up to {latest}): install a newer Hotline or restore a backup")
    applied = []
    if version == 0:
        with db.atomic():
            db.execute_sql("CREATE TABLE IF NOT EXISTS hotline_schema "
                           "(version INTEGER NOT NULL, applied_at DOUBLE PRECISION NOT NULL)")
    for mig in MIGRATIONS:
        if version < mig.number <= target:
            with db.atomic():
                for sql in mig.statements:
                    db.execute_sql(_dialect(db, sql))
                db.execute_sql("INSERT INTO hotline_schema (version, applied_at) VALUES (%s, %s)"
                               .replace("%s", db.param), (mig.number, time.time()))
            log.info("event=migrated version=%d title=%r", mig.number, mig.title)
            applied.append(mig.number)
    return applied


def check(db: peewee.Database, auto_upgrade: bool) -> list[int]:
    """Refuse a newer schema; upgrade an older one only when allowed or at first run."""
    version = current_version(db)
    if version > LATEST:
        raise SchemaTooNew(f"database schema version {version} is newer than this Hotline "
                           f"(knows up to {LATEST}): install a newer Hotline or restore a backup")
    if version == LATEST:
        return []
    if version == 0 or auto_upgrade:
        return upgrade(db)
    raise StoreError(f"database schema version {version} is older than {LATEST}: "
                     "run 'hotline db upgrade' (back up first) or set database.auto_upgrade: true")
