"""Flows (admin): the list, a YAML editor with line-marked validation and a tree view of the menus, versions
(save, publish, roll back; audited), new flows from a template, and a dry run in the browser through the
simulated card (the browser plays what the caller hears and shows the IVR trail as it happens).

The database (flow_versions) is the truth: every change is written there together with its audit entry, then
the running box's FlowStore is refreshed for that flow (a call in progress keeps the Flow it started with)."""
from __future__ import annotations

import re
from typing import Any

import tornado.web

from hotline.daemon.box import audit
from hotline.daemon.box import audit
from hotline.daemon.aio import off_loop
from hotline.daemon.box.procwork import off_loop_sized
from hotline.daemon.store.models import FlowVersion
from hotline.dialplan.flow import LOCALES, Flow, FlowError

from ..i18n import N_
from .base import BaseHandler, PageHandler, dumps_with_raw
from .flow_versions import (FlowSummary, _digest, activate_version, check_flow, list_versions, save_version,
                            version_source)

NAME = r"[a-z][a-z0-9_]{0,47}"
MAX_SOURCE = 256 * 1024
DRY_RUN_CALLER = "13800138000"

# Templates for a new flow: {name} and the titles are filled in; every prompt comes from the shipped manifest.
TEMPLATES: dict[str, tuple[str, str]] = {
    "menu": (N_("Main menu with an operator"), """\
# {name}: a main menu; 0 (or no choice) reaches the operator.
flow: {name}
title: {{zh_CN: "{title_zh}", en_US: "{title_en}"}}
languages: [zh_CN, en_US]
start: main
error: operator

blocks:
  main:
    - answer
    - blacklist: {{action: message, prompt: blocked}}
    - goto: menu

  menu:
    - menu:
        prompt: anything_else
        options: {{"1": menu, "0": operator, "9": bye}}
        repeat_key: "*"
        invalid_prompt: invalid_key
        timeout_prompt: no_input
        fallback: operator

  operator:
    - play: agent_transfer
    - queue: {{name: service, no_agent: busy}}
    - hangup: goodbye

  busy:
    - hangup: all_busy

  bye:
    - hangup: goodbye
"""),
    "hours": (N_("Open and closed hours"), """\
# {name}: callers hear the closed message outside the office schedule.
flow: {name}
title: {{zh_CN: "{title_zh}", en_US: "{title_en}"}}
languages: [zh_CN, en_US]
start: main

blocks:
  main:
    - answer
    - time: {{schedule: office, closed: closed, holiday: holiday}}
    - play: agent_transfer
    - queue: {{name: service, no_agent: busy}}
    - hangup: goodbye

  busy:
    - play: all_busy
    - callback_request: {{prompt: callback_offer, number_prompt: enter_callback_number, done_prompt: callback_done,
                         queue: service}}
    - hangup: goodbye

  closed:
    - play: after_hours
    - voicemail: {{mailbox: service, greeting: voicemail_greeting}}
    - hangup: goodbye

  holiday:
    - hangup: holiday
"""),
    "blank": (N_("Blank: answer and say goodbye"), """\
# {name}
flow: {name}
title: {{zh_CN: "{title_zh}", en_US: "{title_en}"}}
languages: [zh_CN, en_US]
start: main

blocks:
  main:
    - answer
    - hangup: goodbye
"""),
}


# ---- the running box ----------------------------------------------------------------------------------------

async def validate(services: dict, source: str, name: str) -> tuple[FlowSummary | None, list[dict], list[dict]]:
    """(summary or None, problems, warnings) for a source, checked against this box's prompts and tables: off the
    event loop (the check reads the prompt directory), and a big source in a worker process (its parse would
    hold the interpreter lock for long stretches and cost every call audio)."""
    checked = await off_loop_sized(len(source), check_flow, source, name, services["flows"].checker())
    return checked.flow, checked.problems, checked.warnings


async def runnable(services: dict, summary: FlowSummary, source: str) -> Flow:
    """The Flow object of a source that validates (to run a dry-run call): the running version with the same
    digest, else built off the event loop (a big one in the worker process)."""
    flows = services["flows"]
    known = next((f for f in flows.versions.get(summary.name, []) if f.digest == summary.digest), None)
    if known is not None and known.source == source:
        return known
    return await off_loop_sized(len(source), flows.checker().validate, source, f"{summary.name}.yaml")


async def refresh(services: dict, name: str) -> None:
    """Make the running FlowStore match the stored versions of one flow (like a reload, for this flow only).
    Unchanged versions keep their Flow objects; a stored version that no longer validates is left out, as at
    start."""
    flows = services["flows"]

    def rows() -> list[tuple[int, str, bool]]:
        return [(r.version, r.source, bool(r.active)) for r in
                FlowVersion.select().where(FlowVersion.name == name).order_by(FlowVersion.version)]
    stored = await services["store"].read(rows)
    known = {f.digest: f for f in flows.versions.get(name, [])}
    checker = flows.checker()
    versions: list[Flow] = []
    active: int | None = None
    for number, source, is_active in stored:
        flow = known.get(_digest(source))
        if flow is None or flow.source != source:
            try:  # a big one is built in the worker process and comes back pickled; stored versions are not
                flow = await off_loop_sized(len(source), checker.parse, source, f"{name} v{number}")  # line-checked
            except FlowError:
                continue
        versions.append(flow)
        if is_active or active is None:
            active = len(versions) - 1
    if versions:  # one assignment each, on the event loop: the router never sees a half-built list
        flows.versions[name] = versions
        flows.active[name] = active if active is not None else 0
    else:
        flows.versions.pop(name, None)
        flows.active.pop(name, None)


def routes_for(services: dict) -> dict[str, list[str]]:
    """Flow name -> the dialled numbers routed to it (hotline.yaml routes)."""
    out: dict[str, list[str]] = {}
    config = services.get("config")
    for route in (config["routes"] if config is not None else []) or []:
        out.setdefault(route["flow"], []).append(route["dialed"])
    return out


def _title(flow: Flow | FlowSummary | None, lang: str) -> str:
    if flow is None:
        return ""
    return flow.title.get(lang) or next(iter(flow.title.values()), "")


def last_activations() -> dict[str, tuple[float, str]]:
    """Flow name -> (when, by whom) its active version was last published or rolled back to in the panel."""
    from hotline.daemon.store.models import AuditEntry
    out: dict[str, tuple[float, str]] = {}
    for e in (AuditEntry.select(AuditEntry.ts, AuditEntry.user_name, AuditEntry.target)
              .where(AuditEntry.action.in_(("flow.published", "flow.rolled_back"))).order_by(AuditEntry.ts)):
        out[e.target] = (e.ts, e.user_name)
    return out


async def flow_list(services: dict, lang: str) -> list[dict]:
    """Every flow known to the box or stored: title, active version (since when, by whom), versions, routes,
    problems."""
    stored = await services["store"].read(list_versions)
    activated = await services["store"].read(last_activations)
    flows = services["flows"]
    routes = routes_for(services)
    out = []
    for name in sorted(set(stored) | set(flows.versions)):
        versions = stored.get(name, [])
        active = next((v for v in versions if v["active"]), versions[0] if versions else None)
        flow = flows.get(name)
        since, by = activated.get(name) or ((active["created_at"], active["author"]) if active else (None, None))
        out.append({"name": name, "title": _title(flow, lang), "active_version": active["version"] if active else None,
                    "active_author": by, "active_since": since, "versions": len(versions),
                    "latest_version": versions[-1]["version"] if versions else None,
                    "routes": routes.get(name, []), "warnings": len(flow.warnings) if flow else 0,
                    "running": flow is not None})
    return out


# ---- dry runs -----------------------------------------------------------------------------------------------

class DryRuns:
    """Sends the next simulated call to a chosen flow version; forwards the journal of dry-run calls to the
    browser of the user who placed them."""

    def __init__(self, services: dict):
        self.services = services
        self.pending: tuple[Flow, str | None, str] | None = None
        self.calls: dict[str, str] = {}     # call uuid -> user name
        calls = services["calls"]
        self.original = calls.flow_for
        calls.flow_for = self.flow_for

    def flow_for(self, call: Any) -> Any:
        """The call manager's flow choice: the pending dry run takes the next inbound call, else as before."""
        pending, self.pending = self.pending, None
        if pending is None or call.direction != "inbound":
            self.pending = pending
            return self.original(call) if self.original else None
        from hotline.dialplan.interpreter import FlowRun
        flow, language, user = pending
        self.calls[call.uuid] = user
        call.vars["recording_policy"] = "never"   # a test call: nothing to keep
        call.vars["dry_run"] = flow.name
        box = self.services["box"]

        async def run(ctx: Any) -> None:
            if language:
                ctx.language = language
            await FlowRun(flow, ctx, box).run()
        return run

    async def place(self, flow: Flow, language: str | None, user: str, caller: str, dialed: str) -> Any:
        """Ring the box from the simulated card; the call runs ``flow``. Without caller-ID audio nothing is awaited
        (no other call can ring in between); with it, another inbound call in those 0.75 s would take the flow."""
        self.pending = (flow, language, user)
        try:
            return await self.services["sim"].place_call_async(caller, "", dialed)
        finally:
            self.pending = None

    def on_event(self, hub: Any, event: dict) -> None:
        """A journal event: forward it when it belongs to a dry run."""
        user = self.calls.get(event.get("call_uuid") or "")
        if user is None:
            return
        hub.send_to_user(user, {"type": "dryrun", "call": event["call_uuid"],
                                "event": {"ts": event["ts"], "kind": event["kind"], "data": event["data"]}})
        if event["kind"] == "call.ended":
            self.calls.pop(event["call_uuid"], None)


def dry_runs(services: dict) -> DryRuns:
    """The box's one DryRuns (installed on first use)."""
    if "_dry_runs" not in services:
        services["_dry_runs"] = DryRuns(services)
    return services["_dry_runs"]


def setup_hub(hub: Any, services: dict) -> None:
    """Dry-run calls' journal events go to their user's browser (nothing is installed until a dry run)."""
    def forward(event: dict) -> None:
        runs = services.get("_dry_runs")
        if runs is not None and runs.calls:
            runs.on_event(hub, event)
    hub.journal_listeners.append(forward)


# ---- handlers -----------------------------------------------------------------------------------------------

class FlowMixin:
    """Shared helpers of the flow pages and API."""

    def body_source(self, body: dict) -> str:
        source = body.get("source")
        if not isinstance(source, str) or not source.strip():
            raise tornado.web.HTTPError(400, reason="source: the flow's YAML text is required")
        if len(source.encode()) > MAX_SOURCE:
            raise tornado.web.HTTPError(400, reason=f"source: at most {MAX_SOURCE // 1024} KB")
        return source.replace("\r\n", "\n")

    def refuse_invalid(self, problems: list[dict], warnings: list[dict]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        key = f"{first['key']}: " if first["key"] else ""
        self.write_json({"error": f"line {first['line']}, column {first['column']}: {key}{first['message']}{more}; "
                                  "nothing was saved", "status": 400, "problems": problems, "warnings": warnings},
                        400)

    def check_params(self, allowed: set[str]) -> None:
        unknown = set(self.request.query_arguments) - allowed
        if unknown:
            raise tornado.web.HTTPError(400, reason=f"unknown parameter {sorted(unknown)[0]!r}")


async def create_flow(handler: BaseHandler, name: str, template: str, copy_of: str, title_zh: str,
                      title_en: str) -> tuple[dict | None, str | None, list[dict]]:
    """Create a flow from a template or a copy of another flow; (result, error, problems)."""
    services = handler.services
    if not re.fullmatch(NAME, name or ""):
        return None, N_("name: use 1-48 lower-case letters, digits or _, starting with a letter"), []
    stored = await services["store"].read(list_versions, name)
    if stored or services["flows"].get(name) is not None:
        return None, N_("name: a flow with this name exists already"), []
    if template == "copy":
        found = await services["store"].read(version_source, copy_of, None) if re.fullmatch(NAME, copy_of or "") \
            else None
        if found is None:
            return None, N_("copy_of: choose the flow to copy"), []
        source = re.sub(r"^flow:.*$", f"flow: {name}", found[1], count=1, flags=re.M)
    elif template in TEMPLATES:
        for value in (title_zh, title_en):
            if len(value) > 80 or any(c in value for c in "\"\\\n"):
                return None, N_("title: at most 80 characters, without quotes or backslashes"), []
        source = TEMPLATES[template][1].format(name=name, title_zh=title_zh or name, title_en=title_en or name)
    else:
        return None, N_("template: choose one of the templates"), []
    flow, problems, _ = await validate(services, source, name)
    if flow is None:
        return None, N_("The template does not validate on this box"), problems

    def create() -> dict | None:
        if FlowVersion.select().where(FlowVersion.name == name).exists():
            return None  # created meanwhile (another tab, another admin)
        audit.record(handler.actor, handler.address, "flow.created", name, None,
                     {"template": template, "copy_of": copy_of or None})
        return save_version(name, source, flow.digest, handler.actor, True, handler.address)
    result = await services["store"].write(create)
    if result is None:
        return None, N_("name: a flow with this name exists already"), []
    await refresh(services, name)
    return result, None, []


class FlowsPage(FlowMixin, PageHandler):
    """/config/flows: every flow with its active version and routes; a new flow from a template."""

    title = N_("Flows")

    async def get(self) -> None:
        """The list."""
        self.check_params(set())
        await self.show(None, {})

    async def show(self, error: str | None, form: dict, status: int = 200) -> None:
        """Render the list (with the form's error, if any)."""
        self.set_status(status)
        items = await flow_list(self.services, self.locale.code)
        self.render("flows.html", flows=items, error=error, form=form, templates=TEMPLATES, fmt=self.local_time)

    async def post(self) -> None:
        """Create a flow; errors re-render the form with the message."""
        form = {k: self.get_body_argument(k, "").strip() for k in ("name", "template", "copy_of", "title_zh",
                                                                   "title_en")}
        result, error, problems = await create_flow(self, form["name"], form["template"], form["copy_of"],
                                                    form["title_zh"], form["title_en"])
        if error is not None:
            detail = self.locale.translate(error)
            if problems:
                detail += ": " + "; ".join(f"{p['line']}:{p['column']} {p['message']}" for p in problems[:3])
            return await self.show(detail, form, 400)
        self.redirect(f"/config/flows/{form['name']}")


class FlowEditPage(FlowMixin, PageHandler):
    """/config/flows/<name>: the editor, problems, menu tree, versions and the dry-run keypad."""

    title = N_("Flow")

    async def get(self, name: str) -> None:
        """The editor with the active version (or ?version=N)."""
        self.check_params({"version"})
        version = self.get_query_argument("version", None)
        if version is not None and not version.isdigit():
            raise tornado.web.HTTPError(400, reason="version must be a number")
        store = self.services["store"]
        versions = (await store.read(list_versions, name)).get(name, [])
        found = await store.read(version_source, name, int(version) if version else None)
        if found is None:
            raise tornado.web.HTTPError(404, reason=f"no flow {name!r}" if not versions else f"no version {version}")
        number, source = found
        flow, problems, warnings = await validate(self.services, source, name)
        running = self.services["flows"].get(name)
        routes = routes_for(self.services).get(name, [])
        self.render("flows_edit.html", name=name, source=source, loaded_version=number, versions=versions,
                    title_text=_title(flow or running, self.locale.code), routes=routes, fmt=self.local_time,
                    flow_languages=(flow or running).languages if (flow or running) else list(LOCALES),
                    initial_json=await off_loop(dumps_with_raw, {
                        "name": name, "version": number, "tree": flow.tree if flow else None,
                        "problems": problems, "warnings": warnings, "versions": versions, "routes": routes}, True))


class FlowsApi(FlowMixin, BaseHandler):
    """GET /api/v1/flows (list), POST /api/v1/flows (new flow from a template or a copy)."""

    async def get(self) -> None:
        """Every flow."""
        self.check_params(set())
        self.write_json({"flows": await flow_list(self.services, "en_US")})

    async def post(self) -> None:
        """Create a flow; its first version is active at once (no number is routed to it yet)."""
        body = self.json_body()
        unknown = set(body) - {"name", "template", "copy_of", "title_zh", "title_en"}
        if unknown:
            raise tornado.web.HTTPError(400, reason=f"unknown field {sorted(unknown)[0]!r}")
        values = {k: body.get(k, "") for k in ("name", "template", "copy_of", "title_zh", "title_en")}
        if not all(isinstance(v, str) for v in values.values()):
            raise tornado.web.HTTPError(400, reason="name, template, copy_of and titles must be strings")
        result, error, problems = await create_flow(self, values["name"], values["template"] or "menu",
                                                    values["copy_of"], values["title_zh"], values["title_en"])
        if error is not None:
            status = 409 if "exists already" in error else 400
            return self.write_json({"error": error, "status": status, "problems": problems}, status)
        self.write_json(result, 201)


class FlowApi(FlowMixin, BaseHandler):
    """GET /api/v1/flows/{name}: versions, routes, the active source and its menu tree."""

    async def get(self, name: str) -> None:
        """One flow."""
        self.check_params(set())
        store = self.services["store"]
        versions = (await store.read(list_versions, name)).get(name, [])
        found = await store.read(version_source, name, None)
        if found is None:
            raise tornado.web.HTTPError(404, reason=f"no flow {name!r}")
        flow, problems, warnings = await validate(self.services, found[1], name)
        await self.write_json_off_loop({"name": name, "active_version": found[0], "versions": versions,
                         "routes": routes_for(self.services).get(name, []), "source": found[1],
                         "tree": flow.tree if flow else None, "problems": problems, "warnings": warnings})


class FlowValidateApi(FlowMixin, BaseHandler):
    """POST /api/v1/flows/{name}/validate: problems and warnings with line and column; the menu tree."""

    async def post(self, name: str) -> None:
        """Check a source without saving anything."""
        source = self.body_source(self.json_body())
        flow, problems, warnings = await validate(self.services, source, name)
        await self.write_json_off_loop({"ok": flow is not None, "problems": problems, "warnings": warnings,
                         "tree": flow.tree if flow else None})


class FlowVersionsApi(FlowMixin, BaseHandler):
    """POST /api/v1/flows/{name}/versions: save the source as a new version, optionally publishing it."""

    async def post(self, name: str) -> None:
        """Validate, store (audited), publish when asked; an invalid source is refused and nothing changes."""
        body = self.json_body()
        source = self.body_source(body)
        publish = body.get("publish", False)
        if not isinstance(publish, bool):
            raise tornado.web.HTTPError(400, reason="publish: expected true or false")
        store = self.services["store"]
        if not (await store.read(list_versions, name)).get(name):
            raise tornado.web.HTTPError(404, reason=f"no flow {name!r} (create it first)")
        flow, problems, warnings = await validate(self.services, source, name)
        if flow is None:
            return self.refuse_invalid(problems, warnings)
        result = await store.write(save_version, name, source, flow.digest, self.actor, publish, self.address)
        await refresh(self.services, name)
        result["versions"] = (await store.read(list_versions, name)).get(name, [])
        result["warnings"] = warnings
        self.write_json(result, 201 if result["created"] else 200)


class FlowVersionApi(FlowMixin, BaseHandler):
    """GET /api/v1/flows/{name}/versions/{version}: one stored version with its source."""

    async def get(self, name: str, version: str) -> None:
        """The version's source, author, time and whether it is active."""
        self.check_params(set())
        store = self.services["store"]
        found = await store.read(version_source, name, int(version))
        if found is None:
            raise tornado.web.HTTPError(404, reason=f"no version {version} of flow {name!r}")
        row = next(v for v in (await store.read(list_versions, name))[name] if v["version"] == int(version))
        flow, problems, warnings = await validate(self.services, found[1], name)
        await self.write_json_off_loop({**row, "name": name, "source": found[1], "tree": flow.tree if flow else None,
                         "problems": problems, "warnings": warnings})


class FlowActivateApi(FlowMixin, BaseHandler):
    """POST /api/v1/flows/{name}/activate: make a stored version the active one (publish or roll back)."""

    async def post(self, name: str) -> None:
        """The version must still validate on this box (its prompts and tables may have changed)."""
        body = self.json_body()
        version = body.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise tornado.web.HTTPError(400, reason="version: a version number is required")
        store = self.services["store"]
        found = await store.read(version_source, name, version)
        if found is None:
            raise tornado.web.HTTPError(404, reason=f"no version {version} of flow {name!r}")
        flow, problems, warnings = await validate(self.services, found[1], name)
        if flow is None:
            return self.refuse_invalid(problems, warnings)
        result = await store.write(activate_version, name, version, self.actor, self.address)
        await refresh(self.services, name)
        result["versions"] = (await store.read(list_versions, name)).get(name, [])
        self.write_json(result)


class FlowDryRunApi(FlowMixin, BaseHandler):
    """POST /api/v1/flows/{name}/dry-run: a simulated caller rings the box and runs this flow (the active
    version, or the one named); the call is then driven with the simulator API (keys, live audio, journal)."""

    async def post(self, name: str) -> None:
        """Place the call; answers its simulator id."""
        body = self.json_body()
        unknown = set(body) - {"version", "from", "language"}
        if unknown:
            raise tornado.web.HTTPError(400, reason=f"unknown field {sorted(unknown)[0]!r}")
        caller = body.get("from", DRY_RUN_CALLER)
        if not isinstance(caller, str) or not re.fullmatch(r"[0-9]{3,20}", caller):
            raise tornado.web.HTTPError(400, reason="from: a caller number of 3-20 digits")
        language = body.get("language")
        if language is not None and language not in LOCALES:
            raise tornado.web.HTTPError(400, reason="language: zh_CN or en_US")
        version = body.get("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            raise tornado.web.HTTPError(400, reason="version: a version number")
        if "sim" not in self.services or "calls" not in self.services:
            raise tornado.web.HTTPError(409, reason="this box has no simulated card for dry runs")
        found = await self.services["store"].read(version_source, name, version)
        if found is None:
            raise tornado.web.HTTPError(404, reason=f"no flow {name!r}" if version is None else
                                        f"no version {version} of flow {name!r}")
        flow, problems, warnings = await validate(self.services, found[1], name)
        if flow is None:
            return self.refuse_invalid(problems, warnings)
        if language is not None and language not in flow.languages:
            raise tornado.web.HTTPError(400, reason=f"language: this flow speaks {', '.join(flow.languages)}")
        from hotline.daemon.calls.simctl import SimError
        routes = routes_for(self.services).get(name, [])
        running = await runnable(self.services, flow, found[1])
        try:
            sc = await dry_runs(self.services).place(running, language, self.actor, caller,
                                                     routes[0] if routes else "")
        except SimError as exc:
            return self.write_json({"error": str(exc), "status": exc.status}, exc.status)
        self.write_json({"id": sc.id, "line": sc.line.name, "flow": name, "version": found[0],
                         "language": language or flow.languages[0], "from": caller,
                         "media": f"/api/v1/sim/calls/{sc.id}/media"}, 201)


PAGE_ROUTES = [
    (r"/config/flows", FlowsPage),
    (rf"/config/flows/({NAME})", FlowEditPage),
]
ROUTES = [
    (r"/api/v1/flows", FlowsApi),
    (rf"/api/v1/flows/({NAME})", FlowApi),
    (rf"/api/v1/flows/({NAME})/validate", FlowValidateApi),
    (rf"/api/v1/flows/({NAME})/versions", FlowVersionsApi),
    (rf"/api/v1/flows/({NAME})/versions/([0-9]{{1,6}})", FlowVersionApi),
    (rf"/api/v1/flows/({NAME})/activate", FlowActivateApi),
    (rf"/api/v1/flows/({NAME})/dry-run", FlowDryRunApi),
]
