"""``hotline demo-data`` and ``hotline demo-setup``: the sample data and the demo's admin and QA token."""
from __future__ import annotations

import argparse

from ..service import demodata
from .common import _load, _open_store, _write_secret


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``hotline demo-data [--seed N] [--replace] [--calls N --days D]``."""
    p = sub.add_parser("demo-data", parents=[common], help="load sample customers, products, dealers, "
                       "repair centers, FAQ, orders, water accounts and tickets for the sample hotlines")
    p.add_argument("--seed", type=int, default=1, help="same seed, same data (default 1)")
    p.add_argument("--replace", action="store_true", help="also when the tables hold other data (deletes it)")
    p.add_argument("--calls", type=int, default=0, help="also simulate this many calls of history (journal, "
                   "CDRs, report summaries)")
    p.add_argument("--days", type=int, default=90, help="days the call history spans, ending yesterday")
    p.add_argument("--history-only", action="store_true", help="only the call history, not the service data")
    p.add_argument("--extra-agents", action="store_true", help="when the configured agents are too few for "
                   "--calls, add simulated agents (history_001...) to the box: for throwaway boxes such as "
                   "report-bench's, never a live one")

    def run(args: argparse.Namespace) -> int:
        store = _open_store(args)
        try:
            if not args.history_only:
                counts = store.write_sync(lambda: demodata.generate(args.seed, replace=args.replace))
                print(f"demo data loaded (seed {args.seed}):")
                for table, n in counts.items():
                    print(f"  {table:<16} {n:>6}")
                print(demodata.describe_samples())
            if args.calls > 0:
                if args.days < 1:
                    raise SystemExit("demo-data: --days must be at least 1")
                demodata.load_history(args, store, _load(args))
        finally:
            store.close()
        return 0
    p.set_defaults(fn=run)


def register_setup(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``hotline demo-setup --state DIR``: the demo's admin (random password), calendar, queues, QA token."""
    ds = sub.add_parser("demo-setup", parents=[common],
                        help="create the demo's admin (random password) and QA token if missing")
    ds.add_argument("--state", required=True, help="where to write admin-password and qa-token")

    def run(args: argparse.Namespace) -> int:
        import os
        import secrets
        from pathlib import Path

        from ..box import users
        from ..store.models import User
        state = Path(args.state)
        store = _open_store(args)
        try:
            pw_file, token_file = state / "admin-password", state / "qa-token"
            if not store.write_sync(lambda: User.select().where(User.name == "admin").exists()) \
                    or not pw_file.exists():
                password = secrets.token_urlsafe(12)
                def make_admin() -> None:
                    if User.get_or_none(User.name == "admin") is None:
                        users.add_user("admin", users.Role.ADMIN, password)
                    else:
                        users.set_password("admin", password)
                store.write_sync(make_admin)
                _write_secret(pw_file, password)
                print(f"demo: admin password written to {pw_file}")
            from ..service.calendar import seed_demo
            if store.write_sync(seed_demo):
                print("demo: office hours (Mon-Fri 9-18, Sat 9-12) and sample holidays added")
            from ..acd import config as acd_config
            from ..store.models import QueueRow
            queues_file = Path(args.config or os.environ.get("HOTLINE_CONFIG", "etc/hotline.yaml")).resolve() \
                .parent / "queues.yaml"
            if queues_file.exists() and not store.write_sync(lambda: QueueRow.select().exists()):
                doc = acd_config.parse(queues_file.read_text(encoding="utf-8"), str(queues_file))
                counts = store.write_sync(acd_config.import_document, doc)
                print(f"demo: {counts['queues']} queues and {counts['agents']} agents from {queues_file}")
            if not token_file.exists():
                def make_qa() -> str:
                    if User.get_or_none(User.name == "qa") is None:
                        users.add_user("qa", users.Role.QA, None)
                    return users.new_token("qa")
                _write_secret(token_file, store.write_sync(make_qa))
                print(f"demo: QA API token written to {token_file}")
        finally:
            store.close()
        return 0
    ds.set_defaults(fn=run)
