"""What the ``hotline`` subcommands share: loading the configuration, opening the store, secrets, errors."""
from __future__ import annotations

import argparse
import os
import sys

from ..box.config import Config, config_path, load_config

EX_CONFIG = 78  # sysexits.h EX_CONFIG; the unit sets RestartPreventExitStatus=78


def _err(message: str) -> None:
    print(f"hotline: error: {message}", file=sys.stderr)


def _load(args: argparse.Namespace) -> Config:
    return load_config(config_path(args.config))


def _open_store(args: argparse.Namespace, upgrade: bool = True):
    from ..box.logsetup import setup_logging
    from ..store import migrations
    from ..store.db import Store
    cfg = _load(args)
    setup_logging(cfg["logging"]["level"])
    store = Store(cfg.database_url)
    store.open()
    if upgrade:
        store.write_sync(migrations.check, store.db, True)
    return store


def _write_secret(path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
