"""The ``hotline`` command: run, check-config, config, db, user, version and tools."""
from __future__ import annotations

import os

# One BLAS thread: the media tick's small matrix products get 5-10x slower when two
# threads fight over the 2 cores of the box. Must be set before numpy is loaded.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import asyncio
import getpass
import sys
from typing import Callable

import yaml

from ..box.config import DEFAULT_PATH, config_path, load_config
from ..errors import ConfigError, HotlineError, SchemaTooNew
from ..version import VERSION

from . import acd, demo, devices, dsp, flow, sim, sip, tools
from .common import EX_CONFIG, _err, _load, _open_store


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate the configuration offline, and the flow files beside it against the lines that reach them."""
    from ..calls.linebind import check_config_flows
    cfg = _load(args)
    errors, warnings = check_config_flows(cfg)  # flow files against the lines that reach them
    for w in [*cfg.warnings, *warnings]:
        print(f"{w} (warning)")
    if errors:
        raise ConfigError(errors)
    print(f"{cfg.path}: OK ({len(cfg['devices'])} device(s))")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    """Print the effective configuration with defaults."""
    cfg = _load(args)
    print(f"# effective configuration from {cfg.path}")
    sys.stdout.write(yaml.safe_dump(cfg.effective(), sort_keys=False, allow_unicode=True))
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    """Print the version."""
    from ..store.migrations import LATEST
    print(f"hotline {VERSION} (schema {LATEST}, python {sys.version.split()[0]})")
    return 0



def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Apply pending schema migrations."""
    from ..store import migrations
    store = _open_store(args, upgrade=False)
    try:
        before = store.write_sync(migrations.current_version, store.db)
        applied = store.write_sync(migrations.upgrade, store.db)
    finally:
        store.close()
    print(f"schema {before} -> {migrations.LATEST}" + (f" (applied {applied})" if applied else " (up to date)"))
    return 0


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Again: "):
            raise HotlineError("the two passwords differ")
        return first
    return None


def cmd_user(args: argparse.Namespace) -> int:
    """Add users, set passwords, list users."""
    from ..box import users
    store = _open_store(args)
    try:
        if args.user_cmd == "list":
            for u in store.write_sync(users.list_users):
                print(f"{u['name']}\t{u['role']}\tpassword={'yes' if u['password'] else 'no'}"
                      f"\ttokens={u['tokens']}\t{'disabled' if u['disabled'] else 'enabled'}")
            return 0
        if args.user_cmd == "passwd":
            password = _read_password(args)
            if not password:
                raise HotlineError("no password given (use --password-stdin or a terminal)")
            ended = store.write_sync(users.set_password, args.name, password)
            print(f"password of {args.name} changed; {ended} open session(s) ended")
            return 0
        password = _read_password(args)
        if password is None and not args.token:
            raise HotlineError("give a password (--password-stdin or a terminal) or --token")
        language = args.language or _load(args)["locale"]["language"]
        store.write_sync(users.add_user, args.name, users.Role(args.role), password, language)
        print(f"user {args.name} added with role {args.role}")
        if args.token:
            print(store.write_sync(users.new_token, args.name))
        return 0
    finally:
        store.close()


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon (foreground, or detached with --daemon)."""
    from ..box.app import serve
    from ..box.logsetup import setup_logging
    # absolute, so SIGHUP re-reads the same file after --daemon has changed to the state directory
    cfg = load_config(os.path.abspath(config_path(args.config)))
    if args.daemon:
        from ..box.daemonize import run_detached

        def daemon_main(ready: Callable[[], None]) -> int:
            setup_logging(cfg["logging"]["level"], cfg["logging"]["components"])
            return asyncio.run(serve(cfg, on_ready=ready))
        return run_detached(cfg, args.pidfile, daemon_main)
    setup_logging(cfg["logging"]["level"], cfg["logging"]["components"])
    os.umask(os.umask(0o027) | 0o027)   # as under systemd (UMask=0027) and --daemon: nothing world-readable
    return asyncio.run(serve(cfg))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    help_ = f"configuration file (default $HOTLINE_CONFIG or {DEFAULT_PATH})"
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", metavar="PATH", default=argparse.SUPPRESS, help=help_)
    p = argparse.ArgumentParser(prog="hotline", description="Hotline call center appliance")
    p.add_argument("-c", "--config", metavar="PATH", default=None, help=help_)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_, parents=[common])
        sp.set_defaults(fn=fn)
        return sp

    run = add("run", cmd_run, "run the daemon in the foreground (or --daemon to detach)")
    run.add_argument("--daemon", action="store_true", help="detach with python-daemon (not under systemd)")
    run.add_argument("--pidfile", default=None, help="pid file for --daemon (default <state>/hotline.pid)")
    add("check-config", cmd_check_config, "validate the configuration and exit")
    add("config", cmd_config, "print the effective configuration with defaults")
    add("version", cmd_version, "print the version")
    db = add("db", lambda a: (db.print_help(), 2)[1], "database maintenance")
    dbsub = db.add_subparsers(dest="db_cmd", required=True, metavar="ACTION")
    up = dbsub.add_parser("upgrade", help="apply pending schema migrations", parents=[common])
    up.set_defaults(fn=cmd_db_upgrade)
    user = add("user", cmd_user, "manage users")
    usub = user.add_subparsers(dest="user_cmd", required=True, metavar="ACTION")
    ua = usub.add_parser("add", help="add a user", parents=[common])
    ua.add_argument("name")
    ua.add_argument("--role", required=True, choices=["admin", "supervisor", "agent", "qa", "metrics"])
    ua.add_argument("--token", action="store_true", help="also create an API token, printed alone on the last line")
    ua.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    ua.add_argument("--language", choices=("zh_CN", "en_US"), help="the panel's language for this user "
                    "(default: locale.language of the configuration)")
    up_ = usub.add_parser("passwd", help="set a user's password", parents=[common])
    up_.add_argument("name")
    up_.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    usub.add_parser("list", help="list users", parents=[common])
    for register in REGISTER:
        register(sub, common)
    return p


def _acd_bench(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from ..acd.bench import register
    register(sub, common)


def _report_bench(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from ..stats.bench import register
    register(sub, common)


def _fax_bench(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from ...fax.bench import register
    register(sub, common)


def _abuse_bench(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from ..box.abuse_bench import register
    register(sub, common)


# The one registry of subcommand groups: each module adds its own; none imports another.
REGISTER: list[Callable] = [tools.register_stats, _report_bench, _abuse_bench, dsp.register, demo.register_setup,
                            tools.register_bench, sim.register, demo.register, flow.register, acd.register,
                            _acd_bench, tools.register_backup, sip.register, devices.register, _fax_bench]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hotline`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"hotline: {len(exc.problems)} configuration problem(s)", file=sys.stderr)
        return EX_CONFIG
    except SchemaTooNew as exc:
        _err(str(exc))
        return EX_CONFIG
    except HotlineError as exc:
        _err(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
