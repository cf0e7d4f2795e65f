"""``hotline flow ...`` and ``hotline calendar ...``: flows and business hours from the command line."""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ..box.config import config_path, load_config
from ..errors import HotlineError


def _box(args: argparse.Namespace):
    """Configuration, store (opened) and a flow store loaded like the daemon does."""
    from .common import _open_store
    from ..calls.flows import FlowStore, FlowVersions
    from ..calls.linebind import half_duplex_routes
    from ..service.lookups import validate_lookup
    from ..calls.prompts import PromptLibrary
    cfg = load_config(config_path(args.config))
    store = _open_store(args)
    prompts = PromptLibrary(cfg.path_for("prompts"), cfg["locale"]["language"],
                            cfg.etc_path("prompt_manifest", "prompts/manifest.yaml"))
    flows = FlowStore(prompts, lookup_check=validate_lookup, persist=FlowVersions(store))
    flows.half_duplex = half_duplex_routes(cfg.data)  # a flow its lines cannot run is refused, as in the daemon
    return cfg, store, flows


def cmd_check(args: argparse.Namespace) -> int:
    """Validate flow files; every problem with file:line:col."""
    from hotline.dialplan.flow import FlowError
    cfg, store, flows = _box(args)
    bad = 0
    try:
        for name in args.files:
            try:
                flow = flows.validate(Path(name).read_text(encoding="utf-8"), name)
            except FlowError as exc:
                bad += 1
                for p in exc.problems:
                    print(p)
                for w in exc.warnings:
                    print(f"{w} (warning)")
                continue
            except OSError as exc:
                bad += 1
                print(f"{name}:0:0: cannot read: {exc.strerror}")
                continue
            for w in flow.warnings:
                print(f"{w} (warning)")
            print(f"{name}: OK (flow {flow.name}, {len(flow.blocks)} blocks)")
    finally:
        store.close()
    return 1 if bad else 0


def cmd_publish(args: argparse.Namespace) -> int:
    """Publish a flow file as the new active version (the running box picks it up on reload)."""
    from hotline.dialplan.flow import FlowError
    cfg, store, flows = _box(args)
    try:
        flows.load_stored()
        try:
            flow = flows.publish(Path(args.file).read_text(encoding="utf-8"), args.file, author=args.author)
        except FlowError as exc:
            for p in exc.problems:
                print(p, file=sys.stderr)
            print("not published: the running version stays", file=sys.stderr)
            return 1
        print(f"published {flow.name} version {flows.active[flow.name] + 1}; "
              "send SIGHUP (systemctl reload hotline) to use it for new calls")
    finally:
        store.close()
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    """Make the previous version of a flow active again."""
    cfg, store, flows = _box(args)
    try:
        flows.load_stored()
        try:
            flows.rollback(args.name)
        except (KeyError, ValueError) as exc:
            raise HotlineError(str(exc).strip("'\"")) from None
        print(f"{args.name}: version {flows.active[args.name] + 1} is active again")
    finally:
        store.close()
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """Stored flow versions."""
    cfg, store, flows = _box(args)
    try:
        for name, version, _source, author, active in flows.persist.load():
            print(f"{name}\tv{version}\t{author}\t{'active' if active else ''}")
    finally:
        store.close()
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    """Dry run: the flow on the simulated card, pressing each group of keys when the flow waits."""
    from ..calls.flowtest import dry_run, format_run, parse_at
    cfg = load_config(config_path(args.config))
    at = parse_at(args.at, cfg["locale"]["timezone"])
    presses = [p for p in (args.press or "").split(",") if p]
    run = asyncio.run(dry_run(cfg, args.flow, args.caller, presses, at, args.language, args.answer_after,
                              args.limit))
    print(format_run(run, args.caller, at))
    return 0


def cmd_apps(args: argparse.Namespace) -> int:
    """Every app with its help text."""
    from hotline.dialplan.apps import help_text
    for name, doc in help_text().items():
        print(f"{name}\n    " + doc.replace("\n", "\n    ") + "\n")
    return 0


def cmd_calendar(args: argparse.Namespace) -> int:
    """Show business hours and holidays, or flip the day/night switch."""
    from ..service import calendar
    from .common import _open_store
    from ..store.models import Holiday, ScheduleHours, Setting
    store = _open_store(args)
    try:
        if args.cal_cmd == "override":
            store.write_sync(calendar.set_override, None if args.mode == "auto" else args.mode)
            print(f"day/night override: {args.mode} (the running box sees it at once)")
            return 0

        def show() -> list[str]:
            out = []
            row = Setting.get_or_none(Setting.name == calendar.OVERRIDE)
            out.append(f"override: {row.value if row else 'auto'}")
            days = "Mon Tue Wed Thu Fri Sat Sun".split()
            for r in ScheduleHours.select().order_by(ScheduleHours.name, ScheduleHours.weekday, ScheduleHours.opens):
                out.append(f"{r.name}\t{days[r.weekday]}\t{r.opens}-{r.closes}")
            for h in Holiday.select().order_by(Holiday.day):
                out.append(f"{h.day}\t{h.name}" + ("\t(working day)" if h.is_workday else ""))
            return out
        print("\n".join(store.write_sync(show)))
    finally:
        store.close()
    return 0


def cmd_prompt(args: argparse.Namespace) -> int:
    """Replace a prompt with a recording (any WAV rate/channels, converted to 8 kHz mono)."""
    from ..media.wavio import WavError, read_wav_8k
    from ..calls.prompts import PromptLibrary
    cfg = load_config(config_path(args.config))
    lib = PromptLibrary(cfg.path_for("prompts"), cfg["locale"]["language"],
                        cfg.etc_path("prompt_manifest", "prompts/manifest.yaml"))
    if args.id not in lib.texts:
        raise HotlineError(f"prompt {args.id!r} is not in the manifest (known: {len(lib.texts)} prompts)")
    try:
        samples = read_wav_8k(args.file)
    except (WavError, OSError, ValueError) as exc:
        raise HotlineError(f"{args.file}: {exc}") from None
    if len(samples) < 800:
        raise HotlineError(f"{args.file}: shorter than 0.1 s")
    path = lib.save(args.id, args.language, samples)
    print(f"{args.id} ({args.language}): {len(samples) / 8000:.2f} s saved to {path}")
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``hotline flow`` and ``hotline calendar``."""
    flow = sub.add_parser("flow", help="check, publish, roll back and dry-run call flows", parents=[common])
    fs = flow.add_subparsers(dest="flow_cmd", required=True, metavar="ACTION")
    p = fs.add_parser("check", help="validate flow files", parents=[common])
    p.add_argument("files", nargs="+")
    p.set_defaults(fn=cmd_check)
    p = fs.add_parser("publish", help="publish a flow file as the active version", parents=[common])
    p.add_argument("file")
    p.add_argument("--author", default="cli")
    p.set_defaults(fn=cmd_publish)
    p = fs.add_parser("rollback", help="make the previous version active again", parents=[common])
    p.add_argument("name")
    p.set_defaults(fn=cmd_rollback)
    p = fs.add_parser("list", help="stored versions", parents=[common])
    p.set_defaults(fn=cmd_list)
    p = fs.add_parser("apps", help="the apps a flow can use, with their help", parents=[common])
    p.set_defaults(fn=cmd_apps)
    p = fs.add_parser("test", help="dry-run a flow on the simulated card", parents=[common])
    p.add_argument("flow")
    p.add_argument("--from", dest="caller", default="13800138000")
    p.add_argument("--press", help="key groups sent each time the flow waits, e.g. 1,3,12345#")
    p.add_argument("--at", help="pretend it is this local time: 'YYYY-MM-DD HH:MM'")
    p.add_argument("--language", choices=["zh_CN", "en_US"])
    p.add_argument("--answer-after", type=float, default=None,
                   help="stations answer after this many seconds (default: nobody answers)")
    p.add_argument("--limit", type=float, default=300.0, help="end the call after this much call time")
    p.set_defaults(fn=cmd_test)
    pr = sub.add_parser("prompt", help="replace a prompt with a recorded WAV file", parents=[common])
    ps = pr.add_subparsers(dest="prompt_cmd", required=True, metavar="ACTION")
    p = ps.add_parser("upload", help="use FILE.wav (any rate, any channels) for prompt ID", parents=[common])
    p.add_argument("id")
    p.add_argument("language", choices=["zh_CN", "en_US"])
    p.add_argument("file")
    p.set_defaults(fn=cmd_prompt)
    cal = sub.add_parser("calendar", help="business hours, holidays, day/night override", parents=[common])
    cs = cal.add_subparsers(dest="cal_cmd", required=True, metavar="ACTION")
    cs.add_parser("show", help="hours, holidays and the override", parents=[common]).set_defaults(fn=cmd_calendar)
    p = cs.add_parser("override", help="force day or night, or auto", parents=[common])
    p.add_argument("mode", choices=["day", "night", "auto"])
    p.set_defaults(fn=cmd_calendar)
