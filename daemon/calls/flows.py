"""Flows in the running box: versions (publish, rollback), routing by dialled number, the services they call."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from hotline.dialplan.flow import Flow, FlowError, parse_flow
from hotline.dialplan.schema import Problem

from .linebind import HalfDuplexRoute, check_flows, line_problems
from .prompts import PromptIndex, PromptLibrary

log = logging.getLogger("hotline.flows")


class LineTraitError(FlowError):
    """A valid flow that a line reaching it cannot run (a half-duplex line and a step that queues or bridges)."""


@dataclass(frozen=True)
class FlowChecker:
    """Checks a flow against a box's prompts, data tables, fax documents and the lines that reach it: plain data,
    picklable (when lookup_check is a module-level function, as the box's is), so a worker process can run it."""

    prompts: PromptIndex
    lookup_check: Callable[[str, str], str | None] | None = None
    documents: frozenset[str] | None = None          # the fax library's names (None: not checked)
    half_duplex: tuple[HalfDuplexRoute, ...] = ()     # routes half-duplex lines reach

    def _documents(self) -> set[str]:
        return set(self.documents or ())

    def parse(self, source: str, filename: str) -> Flow:
        """Parse and check a flow against prompts, tables and documents (raises FlowError)."""
        return parse_flow(source, filename, self.prompts.exists, self.lookup_check,
                          self._documents if self.documents is not None else None)

    def validate(self, source: str, filename: str) -> Flow:
        """parse(), and the lines that reach the flow can run each step (raises FlowError, LineTraitError)."""
        flow = self.parse(source, filename)
        errors, warnings = line_problems(flow, list(self.half_duplex))
        if errors:
            raise LineTraitError(errors, flow.warnings + warnings)
        flow.warnings = flow.warnings + warnings
        return flow


class FlowStore:
    """Validated flow versions by name; the active one runs new calls, calls in progress keep theirs."""

    def __init__(self, prompts: PromptLibrary, lookup_check: Callable[[str, str], str | None] | None = None,
                 persist: Any = None):
        self.prompts = prompts
        self.lookup_check = lookup_check
        self.document_check: Callable[[], set[str]] | None = None  # the fax library's names (set by the assembly)
        self.persist = persist  # the database side (flow_versions table), when available
        self.versions: dict[str, list[Flow]] = {}
        self.active: dict[str, int] = {}
        self.half_duplex: list[HalfDuplexRoute] = []  # routes half-duplex lines reach (linebind; set from config)
        self.line_errors: list[Problem] = []  # flow files refused by load_dir for a step their lines cannot run

    def parse(self, source: str, filename: str) -> Flow:
        """Parse and check a flow against the prompts, data tables and fax documents of this box (raises FlowError)."""
        return self.checker().parse(source, filename)

    def validate(self, source: str, filename: str) -> Flow:
        """parse(), and the lines that reach the flow can run each step (raises FlowError, LineTraitError)."""
        return self.checker().validate(source, filename)

    def checker(self) -> FlowChecker:
        """What validate() needs, without the running flows and audio (flows can be checked in a worker process)."""
        documents = frozenset(self.document_check()) if self.document_check is not None else None
        return FlowChecker(self.prompts.index(), self.lookup_check, documents, tuple(self.half_duplex))

    def active_line_problems(self) -> list[Problem]:
        """Errors of the active flows against the lines that reach them (a changed configuration finds these)."""
        return check_flows([self.get(name) for name in self.versions], self.half_duplex)[0]

    def publish(self, source: str, filename: str, author: str = "system") -> Flow:
        """Validate and make a new version active at once; an invalid flow is never published."""
        flow = self.validate(source, filename)
        versions = self.versions.setdefault(flow.name, [])
        if versions and versions[self.active[flow.name]].digest == flow.digest:
            return versions[self.active[flow.name]]
        if self.persist is not None:
            self.persist.save_version(flow, author)
        versions.append(flow)
        self.active[flow.name] = len(versions) - 1
        log.info("event=flow_published flow=%s version=%d author=%s warnings=%d", flow.name, len(versions),
                 author, len(flow.warnings))
        return flow

    def rollback(self, name: str) -> Flow:
        """Make the previous version active again."""
        if name not in self.versions:
            raise KeyError(f"no flow {name!r}")
        if self.active[name] == 0:
            raise ValueError(f"flow {name!r} has no earlier version to go back to")
        self.active[name] -= 1
        if self.persist is not None:
            self.persist.activate(name, self.active[name] + 1)
        log.info("event=flow_rolled_back flow=%s version=%d", name, self.active[name] + 1)
        return self.versions[name][self.active[name]]

    def get(self, name: str) -> Flow | None:
        """The active version of a flow."""
        if name not in self.versions:
            return None
        return self.versions[name][self.active[name]]

    def load_stored(self) -> list[str]:
        """Load the versions kept in the database (the active one becomes active here too)."""
        problems: list[str] = []
        if self.persist is None:
            return problems
        self.versions.clear()
        self.active.clear()
        for name, version, source, author, active in self.persist.load():
            try:
                flow = self.parse(source, f"{name} v{version}")  # the lines are checked on the active ones
            except FlowError as exc:
                problems.extend(str(p) for p in exc.problems)
                continue
            self.versions.setdefault(name, []).append(flow)
            if active or name not in self.active:
                self.active[name] = len(self.versions[name]) - 1
        return problems

    def load_dir(self, directory: Path) -> list[str]:
        """Publish flow files whose content is not stored yet; returns the problems of files that failed."""
        problems: list[str] = []
        self.line_errors = []
        for path in sorted(directory.glob("*.yaml")):
            try:
                source = path.read_text(encoding="utf-8")
                flow = self.validate(source, str(path))
                stored = [v for v in self.versions.get(flow.name, []) if v.digest == flow.digest]
                for v in stored:
                    v.filename = str(path)  # the same text: problems found later name the file, not "name vN"
                if stored:
                    continue  # this file's version is stored already (maybe not active: the panel's choice)
                flow = self.publish(source, str(path), author="file")
                for w in flow.warnings:
                    log.warning("event=flow_warning %s", _kv(str(w)))
            except FlowError as exc:
                problems.extend(str(p) for p in exc.problems)
                if isinstance(exc, LineTraitError):
                    self.line_errors.extend(exc.problems)
            except OSError as exc:
                problems.append(f"{path}: {exc.strerror}")
        for p in problems:
            log.error("event=flow_invalid problem=%r", p)
        return problems


def _kv(text: str) -> str:
    return f"problem={text!r}"


class FlowVersions:
    """The flow_versions table: every published version, one active per flow (runs in DB threads)."""

    def __init__(self, store: Any):
        self.store = store

    def save_version(self, flow: Flow, author: str) -> int:
        """Store a new version and make it the active one, atomically."""
        from ..store.models import FlowVersion

        def save() -> int:
            last = (FlowVersion.select(peewee_fn_max(FlowVersion.version)).where(FlowVersion.name == flow.name)
                    .scalar()) or 0
            FlowVersion.update(active=False).where(FlowVersion.name == flow.name).execute()
            FlowVersion.create(name=flow.name, version=last + 1, source=flow.source, digest=flow.digest,
                               author=author, created_at=time.time(), active=True)
            return last + 1
        return self.store.write_sync(save)

    def activate(self, name: str, version: int) -> None:
        """Make an earlier version active again."""
        self.store.write_sync(make_active, name, version)

    def load(self) -> list[tuple[str, int, str, str, bool]]:
        """(name, version, source, author, active) of every stored version, oldest first."""
        from ..store.models import FlowVersion
        return self.store.write_sync(lambda: [(v.name, v.version, v.source, v.author, v.active) for v in
                                              FlowVersion.select().order_by(FlowVersion.name, FlowVersion.version)])


def make_active(name: str, version: int) -> None:
    """The one active version of a flow (runs in the writer's transaction)."""
    from ..store.models import FlowVersion
    FlowVersion.update(active=False).where(FlowVersion.name == name).execute()
    FlowVersion.update(active=True).where((FlowVersion.name == name) & (FlowVersion.version == version)).execute()


def peewee_fn_max(field: Any) -> Any:
    """SQL MAX() of a field."""
    import peewee
    return peewee.fn.MAX(field)


class Router:
    """Chooses the flow for a call by the dialled number (routes: in hotline.yaml)."""

    def __init__(self, routes: list[dict], store: FlowStore):
        self.routes = routes
        self.store = store

    def flow_for(self, dialed: str) -> Flow | None:
        """The active flow routed for a dialled number (exact match first, then '*')."""
        for route in self.routes:
            if route["dialed"] == dialed:
                return self.store.get(route["flow"])
        for route in self.routes:
            if route["dialed"] == "*":
                return self.store.get(route["flow"])
        return None


class BoxServices:
    """The daemon's implementation of dialplan.services.FlowServices."""

    def __init__(self, store: Any, journal: Any, prompts: PromptLibrary, timezone: str, stations: list[str],
                 clock: Callable[[], float] = time.time, spool: Path | None = None):
        self.store = store
        self.journal = journal
        self.prompts = prompts
        self.tz = zoneinfo.ZoneInfo(timezone)
        self.stations = stations
        self.clock = clock
        self.spool = spool
        self.override: str | None = None  # "day", "night" or None (the day/night switch)
        self.acd: Any = None              # set by the assembly once the ACD exists
        self.fax: Any = None              # the fax queue (daemon/fax/queue.py), set by the assembly
        self.on_voicemail: list[Callable[[dict], Any]] = []   # async hooks given each stored voicemail (mail)

    async def lookup(self, table: str, by: str, value: str) -> dict | None:
        """A row of an allow-listed table."""
        from ..service import lookups
        return await self.store.read(lookups.lookup, table, by, value)

    async def customer_by_caller(self, number: str) -> dict | None:
        """The customer whose number called."""
        from ..service import lookups
        return await self.store.read(lookups.customer_by_caller_id, number)

    async def verify_pin(self, member_no: str, pin: str) -> dict | None:
        """The member when the PIN matches."""
        from ..service import lookups
        return await self.store.read(lookups.verify_member_pin, member_no, pin)

    async def blacklisted(self, number: str) -> str | None:
        """The reason a number is blocked, or None."""
        from ..service import calendar
        return await self.store.read(calendar.blocked_reason, number)

    async def time_state(self, schedule: str) -> str:
        """open / closed / holiday for a schedule now, honouring the override switch."""
        from ..service import calendar
        now = dt.datetime.fromtimestamp(self.clock(), self.tz)
        return await self.store.read(calendar.state_at, schedule, now)

    async def create(self, kind: str, **fields: Any) -> dict:
        """Create a ticket, callback, fax job (queued, or failed with the reason when it cannot be sent),
        voicemail or survey answer."""
        from ..service import lookups
        if kind == "survey":
            self.journal.emit("survey.answered", fields.get("call_uuid"), ts=self.clock(), score=fields["score"])
            return {"score": fields["score"]}
        if kind == "voicemail":
            audio = fields.pop("audio")
            path = self._voicemail_path(fields["call_uuid"])
            await asyncio.get_running_loop().run_in_executor(None, _write_wav, path, audio)
            fields.update(path=str(path), seconds=round(len(audio) / 8000.0, 2))
        if kind == "fax":
            from ..fax.requests import request
            number = fields.get("number")
            return await request(self.fax, self.store, self.journal, self.clock, fields["document"],
                                 None if number in ("same_call", "", None) else number,
                                 call_uuid=fields.get("call_uuid"), caller_id=fields.get("caller_id"))
        makers = {"ticket": lookups.create_ticket, "callback": lookups.create_callback,
                  "voicemail": lookups.create_voicemail}
        row = await self.store.write(lambda: makers[kind](**fields))
        self.journal.emit(f"{kind}.created", fields.get("call_uuid"), ts=self.clock(),
                          **{k: v for k, v in row.items() if k in ("id", "ticket_no", "number", "mailbox",
                                                                    "document", "queue", "type", "district")})
        if kind == "callback" and self.acd is not None:  # it joins the queue's callbacks like the leave key's
            self.acd.callbacks.requested(row, fields.get("call_uuid"), source="ivr")
        if kind == "voicemail":
            for hook in self.on_voicemail:
                try:
                    await hook(row)
                except Exception:   # the message is stored whatever its mail does
                    log.exception("event=voicemail_hook_failed id=%s", row.get("id"))
        return row

    async def fax_on_call(self, job_id: int, call_uuid: str) -> dict | None:
        """A same-call fax job sent back on the call (FaxQueue.same_call); its final row."""
        if self.fax is None:
            return None
        return await self.fax.same_call.send(job_id, call_uuid)

    def _voicemail_path(self, call_uuid: str) -> Path:
        base = self.spool or Path(".")
        return base / "voicemail" / time.strftime("%Y/%m/%d") / f"{call_uuid}.wav"

    async def enter_queue(self, queue: str, ctx: Any, vip: bool = False) -> str | None:
        """Hand the caller to the ACD (None when it has no such queue)."""
        acd = self.acd
        if acd is None or queue not in acd.queues:
            return None
        priority = acd.queues[queue].settings["vip_priority"] if vip else 0
        return await acd.enter(ctx, queue, priority)

    async def queue_members(self, queue: str) -> list[str]:
        """Stations that serve a queue (until the ACD: every station of the box)."""
        return list(self.stations)

    async def last_agent(self, number: str) -> str | None:
        """The station that last talked with this caller (from the CDRs)."""
        if not number:
            return None

        def find() -> str | None:
            from ..store.models import Cdr
            row = (Cdr.select(Cdr.peer).where((Cdr.caller_id == number) & (Cdr.disposition == "connected")
                                              & Cdr.peer.is_null(False) & Cdr.parent_uuid.is_null(True))
                   .order_by(Cdr.ended_at.desc()).first())
            return row.peer if row else None
        return await self.store.read(find)

    async def save_prompt(self, prompt_id: str, language: str, samples: Any) -> None:
        """Keep a prompt recorded by phone."""
        await asyncio.get_running_loop().run_in_executor(None, self.prompts.save, prompt_id, language, samples)


def _write_wav(path: Path, samples: Any) -> None:
    from ..media.wavio import write_wav
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, samples)
