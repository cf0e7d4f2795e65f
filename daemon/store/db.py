"""Opens the database named by the configuration and runs every write through one writer thread."""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import re
import sqlite3
import urllib.parse
from pathlib import Path
from typing import Any, Callable, TypeVar

import peewee

from ..errors import StoreError

log = logging.getLogger("hotline.store")
T = TypeVar("T")

proxy = peewee.DatabaseProxy()  # models bind here; Store.open() points it at the real database


def make_database(url: str) -> peewee.Database:
    """Create (not connect) a peewee database for an sqlite:/// or postgresql:// URL."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path != ":memory:":
            parent = Path(path).parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"database directory {parent}: cannot create: {exc.strerror}") from None
            if not os.access(parent, os.W_OK):
                raise StoreError(f"database directory {parent}: not writable by this user")
            _create_private(Path(path))
        return peewee.SqliteDatabase(path, pragmas={
            "journal_mode": "wal",
            "synchronous": 2,  # FULL: a committed call survives power loss
            "foreign_keys": 1,
            "busy_timeout": 5000,
        }, check_same_thread=False)
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme.split("+")[0] in ("postgresql", "postgres"):
        query = dict(urllib.parse.parse_qsl(parsed.query))
        kwargs: dict[str, Any] = {k: v for k, v in query.items()}
        if parsed.hostname:
            kwargs["host"] = urllib.parse.unquote(parsed.hostname)
        if parsed.port:
            kwargs["port"] = parsed.port
        if parsed.username:
            kwargs["user"] = urllib.parse.unquote(parsed.username)
        if parsed.password:
            kwargs["password"] = urllib.parse.unquote(parsed.password)
        return peewee.PostgresqlDatabase(parsed.path.lstrip("/"), **kwargs)
    raise StoreError(f"database url {url!r}: unsupported scheme (use sqlite:/// or postgresql://)")


def _create_private(path: Path) -> None:
    """Create a missing database file 0640 whatever the umask (an empty file is an empty SQLite database);
    SQLite gives its -wal and -shm files the database file's mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"database {path}: cannot create: {exc.strerror}") from None
    os.fchmod(fd, 0o640)
    os.close(fd)


def describe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parsed = urllib.parse.urlparse(url)
    if parsed.password:
        url = url.replace(f":{parsed.password}@", ":***@")
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", url)  # postgresql:///db?password=... too


class Store:
    """The database plus its single writer thread and a small pool for report reads."""

    def __init__(self, url: str):
        self.url = url
        self.db = make_database(url)
        self._writer: concurrent.futures.ThreadPoolExecutor | None = None
        self._readers: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite backend."""
        return isinstance(self.db, peewee.SqliteDatabase)

    def open(self) -> None:
        """Connect (failing clearly when locked or unreachable) and start the writer."""
        proxy.initialize(self.db)
        try:
            self.db.connect(reuse_if_open=True)
            self.db.execute_sql("SELECT 1")
        except (peewee.OperationalError, peewee.InterfaceError, sqlite3.Error) as exc:
            raise StoreError(f"database {describe(self.url)}: cannot open: {exc}") from None
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="db-writer")
        self._readers = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="db-reader")

    def close(self) -> None:
        """Finish queued writes, then disconnect."""
        for pool in (self._writer, self._readers):
            if pool is not None:
                for _ in range(pool._max_workers):
                    pool.submit(self.db.close)
                pool.shutdown(wait=True)
        self._writer = self._readers = None
        if not self.db.is_closed():
            self.db.close()

    def _in_tx(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            self.db.connect(reuse_if_open=True)  # the writer thread keeps its own connection
            with self.db.atomic():
                return fn(*args)
        except (peewee.OperationalError, peewee.InterfaceError) as exc:
            self._drop_connection()
            raise StoreError(f"database {describe(self.url)}: {str(exc).strip()}") from exc

    def _drop_connection(self) -> None:
        """Forget this thread's connection after a database error, so the next call reconnects."""
        try:
            self.db.close()
        except (peewee.PeeweeException, sqlite3.Error, OSError):
            self.db._state.reset()

    def submit_write(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future:
        """Queue ``fn(*args)`` on the writer thread inside one transaction."""
        if self._writer is None:
            raise StoreError("store is not open")
        return self._writer.submit(self._in_tx, fn, *args)

    def write_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a write on the writer thread and wait for it (for CLI commands and start-up)."""
        return self.submit_write(fn, *args).result()

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Await a write done by the writer thread."""
        return await asyncio.wrap_future(self.submit_write(fn, *args))

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a read query off the event loop."""
        if self._readers is None:
            raise StoreError("store is not open")

        def run() -> T:
            try:
                self.db.connect(reuse_if_open=True)
                return fn(*args)
            except (peewee.OperationalError, peewee.InterfaceError) as exc:
                self._drop_connection()
                raise StoreError(f"database {describe(self.url)}: {str(exc).strip()}") from exc
        return await asyncio.wrap_future(self._readers.submit(run))

    def status(self) -> dict:
        """State for /healthz."""
        return {"state": "up" if self._writer else "closed", "backend": "sqlite" if self.is_sqlite else "postgresql"}
