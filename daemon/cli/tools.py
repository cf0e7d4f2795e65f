"""``hotline stats``, ``hotline bench`` and ``hotline backup``: tools beside the daemon."""
from __future__ import annotations

import argparse


def register_bench(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``hotline bench``: the media engine benchmark."""
    b = sub.add_parser("bench", parents=[common],
                       help="N concurrent simulated calls (prompt, in-band DTMF, recording): tick cost")
    b.add_argument("--channels", type=int, default=100)
    b.add_argument("--seconds", type=float, default=30.0)
    b.add_argument("--no-record", action="store_true", help="leave recording out")
    b.add_argument("--json", action="store_true", help="one JSON object")
    b.add_argument("--threaded", action="store_true",
                   help="the sim card moves audio from a device thread through elastic buffers")
    b.add_argument("--drift", type=float, default=0.0, help="threaded: the card's clock offset (0.02 = 2 %% fast)")
    b.add_argument("--jitter-ms", type=float, default=40.0, help="threaded: bursts arrive up to this far apart")

    def run(args: argparse.Namespace) -> int:
        from ..media.bench import bench_main
        threaded = {"threaded": True, "drift": args.drift, "jitter_ms": args.jitter_ms} if args.threaded else None
        return bench_main(args.channels, args.seconds, args.json, not args.no_record, threaded)
    b.set_defaults(fn=run)


def register_backup(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``hotline backup create|verify|restore|key``."""
    bp = sub.add_parser("backup", parents=[common], help="signed backup archives: create, verify, restore, key")
    actions = bp.add_subparsers(dest="action", metavar="ACTION", required=True)
    cr = actions.add_parser("create", parents=[common], help="write a signed archive (safe while running)")
    cr.add_argument("-o", "--output", required=True, help="archive file to write (*.hlbackup)")
    cr.add_argument("--recordings", action="store_true", help="include call recordings")
    ve = actions.add_parser("verify", parents=[common], help="check signature, version and every file")
    ve.add_argument("archive")
    re_ = actions.add_parser("restore", parents=[common],
                             help="verify, then stage the archive: it is applied at the daemon's next start")
    re_.add_argument("archive")
    ke = actions.add_parser("key", parents=[common], help="print this box's backup key, or --import one")
    ke.add_argument("--import", dest="import_key", metavar="HEX", help="use another box's key (64 hex digits)")

    def run(args: argparse.Namespace) -> int:
        import os
        from pathlib import Path

        from ..box import backup
        from .common import _load, _write_secret
        from ..version import VERSION
        cfg = _load(args)
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            if args.action == "create":
                out = Path(args.output)
                tmp = out.with_name(out.name + ".part")
                with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
                    manifest = backup.create(cfg, f, include_recordings=args.recordings, version=VERSION)
                tmp.rename(out)
                print(f"{out}: {len(manifest['files'])} files, schema {manifest['schema']}, "
                      f"key {manifest['key_id']}")
            elif args.action == "verify":
                manifest = backup.verify(Path(args.archive), cfg.state_dir)
                print(f"{args.archive}: OK (made {manifest['hotline']} schema {manifest['schema']}, "
                      f"{len(manifest['files'])} files)")
            elif args.action == "restore":
                manifest = backup.stage(Path(args.archive), cfg.state_dir)
                print(f"{args.archive}: verified and staged ({len(manifest['files'])} files); "
                      "it is applied when the daemon starts next (systemctl restart hotline)")
            elif args.import_key:
                key = bytes.fromhex(args.import_key)
                if len(key) != 32:
                    raise backup.BackupError("a backup key is 64 hex digits")
                path = backup.key_path(cfg.state_dir)
                path.unlink(missing_ok=True)
                _write_secret(path, key.hex())
                print(f"backup key {backup.key_id(key)} imported")
            else:
                key = backup.load_key(cfg.state_dir)
                print(key.hex())
                print(f"key id {backup.key_id(key)}: keep a copy somewhere safe to restore on another box",
                      file=__import__("sys").stderr)
        except (backup.BackupError, ValueError, OSError) as exc:
            print(f"hotline backup {args.action}: {exc}", file=__import__("sys").stderr)
            return 1
        return 0
    bp.set_defaults(fn=run)


def register_stats(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``hotline stats fold|rebuild|dump``."""
    sp = sub.add_parser("stats", parents=[common], help="report summaries: fold the journal, rebuild, dump")
    sp.add_argument("action", choices=("fold", "rebuild", "dump"),
                    help="fold: add new journal events; rebuild: empty and fold everything again; dump: JSON")
    sp.add_argument("--trunks", type=int, default=None,
                    help="trunk lines for all-lines-busy (default: as folded so far, else the configuration)")

    def run(args: argparse.Namespace) -> int:
        import json
        import time

        from .common import _load, _open_store
        from ..stats import summary
        cfg = _load(args)
        store = _open_store(args)
        try:
            trunks = args.trunks if args.trunks is not None else (store.write_sync(summary.load_cursor)[2] or sum(
                int(d.get("trunks", 0) or 0) for d in cfg["devices"]))
            if args.action == "dump":
                from ..stats.aggregate import TABLES
                print(json.dumps({t: store.write_sync(summary.table_rows, t) for t in TABLES}))
                return 0
            started = time.monotonic()
            if args.action == "rebuild":
                store.write_sync(summary.clear)
            total = 0
            while True:
                n = store.write_sync(summary.fold_batch, trunks)
                total += n
                if n < summary.BATCH:
                    break
            print(f"stats {args.action}: {total} events folded in {time.monotonic() - started:.1f} s")
        finally:
            store.close()
        return 0
    sp.set_defaults(fn=run)
