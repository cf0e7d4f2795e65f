"""Subcommands for tools beside the daemon (DSP analysis, simulator, benchmarks)."""
from __future__ import annotations

import argparse
from typing import Callable


def _dsp(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    dsp = sub.add_parser("dsp", help="signal analysis tools", parents=[common])
    dsub = dsp.add_subparsers(dest="dsp_cmd", required=True, metavar="TOOL")
    dt = dsub.add_parser("dtmf", help="print the DTMF digits in a WAV file as 'time_s digit'",
                         parents=[common])
    dt.add_argument("file")

    def run(args: argparse.Namespace) -> int:
        from .media.dsp_cli import dtmf_file_main
        return dtmf_file_main(args.file)
    dt.set_defaults(fn=run)


def _demo_setup(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    ds = sub.add_parser("demo-setup", parents=[common],
                        help="create the demo's admin (random password) and QA token if missing")
    ds.add_argument("--state", required=True, help="where to write admin-password and qa-token")

    def run(args: argparse.Namespace) -> int:
        import os
        import secrets
        from pathlib import Path

        from . import users
        from .cli import _open_store
        from .store.models import User
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
            from .calendar import seed_demo
            if store.write_sync(seed_demo):
                print("demo: office hours (Mon-Fri 9-18, Sat 9-12) and sample holidays added")
            from .acd import config as acd_config
            from .store.models import QueueRow
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


def _write_secret(path, text: str) -> None:
    import os
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


def _bench(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    b = sub.add_parser("bench", parents=[common],
                       help="N concurrent simulated calls (prompt, in-band DTMF, recording): tick cost")
    b.add_argument("--channels", type=int, default=100)
    b.add_argument("--seconds", type=float, default=30.0)
    b.add_argument("--no-record", action="store_true", help="leave recording out")
    b.add_argument("--json", action="store_true", help="one JSON object")

    def run(args: argparse.Namespace) -> int:
        from .bench import bench_main
        return bench_main(args.channels, args.seconds, args.json, not args.no_record)
    b.set_defaults(fn=run)


def _sim(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from .simcli import register
    register(sub, common)


def _demo_data(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from .demodata import register
    register(sub, common)


def _flows(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from .flowcli import register
    register(sub, common)


def _acd(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from .acd.cli import register
    register(sub, common)


def _acd_bench(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from .acd.bench import register
    register(sub, common)


REGISTER: list[Callable] = [_dsp, _demo_setup, _bench, _sim, _demo_data, _flows, _acd, _acd_bench]
