"""What every long-lived part of the daemon is (Component), and the first of them: the store."""
from __future__ import annotations

import logging
from typing import Protocol

from ..store import migrations
from ..store.db import Store, describe
from .config import Config

log = logging.getLogger("hotline.app")

class Component(Protocol):
    """A long-lived part of the daemon, started and stopped in a fixed order."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def status(self) -> dict: ...


class StoreComponent:
    """Opens the database, checks its schema version, and closes it last."""

    def __init__(self, store: Store, auto_upgrade: bool, config: Config | None = None):
        self.store = store
        self.auto_upgrade = auto_upgrade
        self.config = config
        self.restored: dict | None = None

    async def start(self) -> None:
        """Apply a staged restore (verified when it was staged), connect, and make sure the schema is current
        (upgrading only when allowed; a restored older database is upgraded: the restore asked for it)."""
        if self.config is not None:
            from .backup import apply_pending
            self.restored = apply_pending(self.config)
        self.store.open()
        applied = self.store.write_sync(migrations.check, self.store.db, self.auto_upgrade or bool(self.restored))
        if self.restored:
            from . import audit
            r = self.restored
            self.store.write_sync(audit.record, "system", "", "backup.restored", "database", None,
                                  {"created_at": r.get("created_at"), "schema": r.get("schema"),
                                   "files": len(r.get("files", {}))})
        log.info("event=store_open url=%s schema=%d applied=%s", describe(self.store.url),
                 migrations.LATEST, applied)

    async def stop(self) -> None:
        """Flush queued writes and disconnect."""
        self.store.close()

    def status(self) -> dict:
        """Backend and state."""
        return self.store.status()
