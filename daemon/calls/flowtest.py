"""``hotline flow test``: a dry run of a flow on the simulated card, faster than real time, on a copy of the data."""
from __future__ import annotations

import asyncio
import copy
import datetime as dt
import sqlite3
import tempfile
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotline.dialplan.interpreter import FlowRun

from ..box.config import Config
from ..errors import HotlineError


@dataclass
class DryRun:
    """What happened in a dry run."""

    flow: str
    version: int
    events: list[dict] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    heard: Any = None
    presses_left: list[str] = field(default_factory=list)

    @property
    def trail(self) -> list[dict]:
        """The ivr.step events (the caller's path)."""
        return [e["data"] for e in self.events if e["kind"] == "ivr.step"]

    @property
    def prompts(self) -> list[str]:
        """Prompts played, in order."""
        return [e["data"]["prompt"] for e in self.events if e["kind"] == "media.played"]

    def kinds(self) -> list[str]:
        """Every journal event kind, in order."""
        return [e["kind"] for e in self.events]

    def steps(self, name: str) -> list[dict]:
        """The trail entries of one kind (menu.key, lookup, collect, ...)."""
        return [t for t in self.trail if t.get("step") == name]

    @property
    def ended(self) -> dict:
        """The call.ended event data."""
        return next((e["data"] for e in reversed(self.events) if e["kind"] == "call.ended"), {})


def _copy_database(cfg: Config, tmp: Path) -> str:
    url = cfg.database_url
    if not url.startswith("sqlite:///"):
        return url  # PostgreSQL: the dry run reads and writes the real database
    source = Path(url[len("sqlite:///"):])
    target = tmp / "hotline.db"
    if source.exists():
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
    return f"sqlite:///{target}"


def dry_run_config(cfg: Config, tmp: Path, stations_answer: float | None) -> Config:
    """The box's configuration turned into a throwaway one: same data and flows, fast clock, one trunk."""
    data = copy.deepcopy(cfg.data)
    stations = [s for d in data["devices"] for s in d.get("stations", [])]
    data["paths"].update(state=str(tmp), recordings=str(tmp / "recordings"), spool=str(tmp / "spool"),
                         prompts=str(cfg.path_for("prompts")),
                         flows=str(cfg.etc_path("flows", "flows")),
                         prompt_manifest=str(cfg.etc_path("prompt_manifest", "prompts/manifest.yaml")))
    data["database"]["url"] = _copy_database(cfg, tmp)
    data["database"]["auto_upgrade"] = True
    data["engine"].update(speed=0.0, record_calls=False)
    data["devices"] = [{"name": "dry", "driver": "sim", "enabled": True, "trunks": 2, "stations": stations,
                        "seed": 1, "capture_seconds": 3600.0, "answer_delay": 1.0,
                        "station_auto_answer": stations_answer, "noise_dbm0": None, "unplugged": False}]
    return Config(cfg.path, data, cfg.base)


async def dry_run(cfg: Config, flow_name: str, caller: str, presses: list[str], at: dt.datetime | None = None,
                  language: str | None = None, stations_answer: float | None = None,
                  limit_seconds: float = 60.0) -> DryRun:
    """Run one call through a flow and return its events, variables and what the caller heard."""
    from ..box.app import Hotline
    with tempfile.TemporaryDirectory(prefix="hotline-dry-") as tmpdir:
        app = Hotline(dry_run_config(cfg, Path(tmpdir), stations_answer), env={})
        app.build()
        app.components = [(n, c) for n, c in app.components if n != "web"]
        await app.start()
        acd = app.services["acd"]
        for q in acd.queues.values():  # the copied database's pending callbacks are not this caller's business
            q.waiting[:] = [e for e in q.waiting if e.kind != "callback"]
        if stations_answer is not None:  # agents at their desks: logged in at their usual stations
            for agent in list(acd.agents.agents.values()):
                if agent.extension and app.services["devices"].station(agent.extension) is not None:
                    acd.agent_action(agent.name, "login", station=agent.extension, by="dry-run")
        try:
            return await _run_call(app, flow_name, caller, list(presses), at, language, limit_seconds)
        finally:
            await app.shutdown(drain=False)


async def _run_call(app: Any, flow_name: str, caller: str, presses: list[str], at: dt.datetime | None,
                    language: str | None, limit_seconds: float) -> DryRun:
    s = app.services
    flow = s["flows"].get(flow_name)
    if flow is None:
        problems = s["app"].component_states().get("flows", {}).get("problems", [])
        raise HotlineError(f"no valid flow {flow_name!r}" + ("".join(f"\n  {p}" for p in problems) or
                                                              f" (known: {', '.join(sorted(s['flows'].versions))})"))
    engine, calls, sim, box = s["engine"], s["calls"], s["sim"], s["box"]
    if at is not None:
        start = at.timestamp()
        box.clock = lambda: start + (engine.now() - engine.t0)
    result = DryRun(flow_name, s["flows"].active[flow_name] + 1, presses_left=presses)
    runs: list[FlowRun] = []
    make_context = calls.context_factory

    def context(call: Any, manager: Any) -> Any:
        ctx = make_context(call, manager)
        if language:
            ctx.language = language

        def press() -> None:
            if result.presses_left:
                sim.send_dtmf(call.uuid, result.presses_left.pop(0))
        ctx.on_input_wait = press
        return ctx

    def flow_for(call: Any) -> Any:
        async def run(ctx: Any) -> None:
            fr = FlowRun(flow, ctx, box)
            runs.append(fr)
            await fr.run()
        return run
    calls.context_factory, calls.flow_for = context, flow_for
    sc = await sim.place_call_async(caller, "", "dry-run")
    deadline = engine.ticks + int(limit_seconds / 0.02)
    while sc.id in calls.calls and engine.ticks < deadline:
        await asyncio.sleep(0.01)
    call = calls.calls.get(sc.id)
    if call is not None:  # still going after the limit: the caller hangs up
        sim.hangup(sc.id)
        await call.end_done.wait()
    from .journal import events_for
    await s["journal"].flush()
    result.events = await s["store"].read(events_for, sc.id)
    result.vars = {k: v for k, v in (runs[0].vars if runs else {}).items() if not k.startswith("_")}
    result.heard = sim.heard(sc.id)
    return result


def format_run(run: DryRun, caller: str, at: dt.datetime | None) -> str:
    """A readable account of a dry run: path, prompts, variables, where it ended."""
    lines = [f"flow {run.flow} v{run.version}, caller {caller}" + (f", at {at:%Y-%m-%d %H:%M}" if at else "")]
    for e in run.events:
        d = dict(e["data"])
        if e["kind"] == "ivr.step":
            where = f"{d.pop('block', '?')}[{d.pop('index', '?')}]"
            d.pop("flow", None)
            step = d.pop("step")
            extra = " ".join(f"{k}={v}" for k, v in d.items() if v not in (None, ""))
            lines.append(f"  {where:<24} {step:<16} {extra}")
        elif e["kind"] == "media.played":
            lines.append(f"  {'':<24} {'prompt':<16} {d.get('prompt')} ({d.get('language')})")
        elif e["kind"] in ("call.bridged", "ticket.created", "callback.created", "fax.created",
                           "voicemail.created", "survey.answered", "call.error", "queue.joined",
                           "queue.answered", "queue.no_agents", "queue.callback_requested"):
            lines.append(f"  {'':<24} {e['kind']:<16} " + " ".join(f"{k}={v}" for k, v in d.items()))
    ended = run.ended
    last = run.trail[-1] if run.trail else {}
    seconds = run.events[-1]["ts"] - run.events[0]["ts"] if run.events else 0.0
    lines.append(f"ended: {ended.get('cause', '?')} in block {last.get('block', '?')} after {seconds:.1f} s "
                 f"of call time")
    shown = {k: v for k, v in sorted(run.vars.items()) if k not in ("caller_id", "caller_name", "dialed", "flow")}
    if shown:
        lines.append("variables: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    if run.presses_left:
        lines.append(f"not pressed (the flow never waited for them): {','.join(run.presses_left)}")
    return "\n".join(lines)


def parse_at(text: str | None, timezone: str) -> dt.datetime | None:
    """'2026-12-25 10:00' in the box's time zone."""
    if not text:
        return None
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    except ValueError:
        raise HotlineError(f"--at {text!r}: expected 'YYYY-MM-DD HH:MM'") from None
