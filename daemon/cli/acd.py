"""``hotline acd import|export|agents``: queues and agents from the command line."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import HotlineError
from ..acd import config as acd_config


def cmd_acd(args: argparse.Namespace) -> int:
    """Import or export the queue and agent settings."""
    from .common import _open_store
    store = _open_store(args)
    try:
        if args.acd_cmd == "export":
            print(store.write_sync(acd_config.export_document), end="")
            return 0
        try:
            text = Path(args.file).read_text(encoding="utf-8")
        except OSError as exc:
            raise HotlineError(f"{args.file}: {exc.strerror}") from None
        doc = acd_config.parse(text, args.file)
        counts = store.write_sync(acd_config.import_document, doc)
        print(f"imported {counts['agents']} agents and {counts['queues']} queues "
              "(the running box picks them up on reload: systemctl reload hotline)")
    finally:
        store.close()
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``hotline acd``."""
    acd = sub.add_parser("acd", help="queues and agents: import or export YAML", parents=[common])
    s = acd.add_subparsers(dest="acd_cmd", required=True, metavar="ACTION")
    p = s.add_parser("import", help="replace queues and agents by a YAML file (validated first)", parents=[common])
    p.add_argument("file")
    p.set_defaults(fn=cmd_acd)
    s.add_parser("export", help="print the queues and agents as YAML", parents=[common]).set_defaults(fn=cmd_acd)
