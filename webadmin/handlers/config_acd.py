"""Configuration (admin): queues with every option of the ACD schema, YAML import and export, agents, stations.

Queues and agents are validated by daemon/acd/config.py with the same schema and checks as ``hotline acd
import``; every change is audited (before -> after) in the same transaction and the ACD reloads at once."""
from __future__ import annotations

from typing import Any

import tornado.web
import yaml

from hotline.daemon.box import users
from hotline.daemon.box import users
from hotline.daemon.box.procwork import off_loop_sized
from hotline.daemon.acd import config as acd_config
from hotline.daemon.errors import ConfigError
from hotline.dialplan import safe_yaml

from ..i18n import N_
from .config_common import ConfigApi, ConfigPage, problems

NAME = r"([a-z][a-z0-9_]{0,47})"

# ---- how each queue option is shown (labels, help, units); the form has every key of the QUEUE schema -----
LABELS = {
    "title": N_("Title"), "strategy": N_("Strategy"), "ring_timeout": N_("Ring timeout"),
    "wrapup_seconds": N_("Wrap-up time"), "max_wait": N_("Maximum wait"), "max_callers": N_("Maximum callers"),
    "join_empty": N_("Callers may join when no agent is logged in"), "overflow": N_("Overflow action"),
    "overflow_queue": N_("Overflow queue"), "announce_position": N_("Announce the caller's position"),
    "announce_estimate": N_("Announce the estimated wait"), "announce_every": N_("Announce every"),
    "moh": N_("Music on hold"), "service_level_seconds": N_("Service level target"),
    "short_abandon_seconds": N_("Short abandon threshold"), "missed_offers_limit": N_("Missed offers limit"),
    "weight": N_("Queue weight"), "skill": N_("Required skill"), "min_level": N_("Minimum skill level"),
    "widening": N_("Widening steps"), "leave_key": N_("Leave key"), "sticky_seconds": N_("Sticky agent"),
    "vip_priority": N_("VIP priority"), "survey": N_("Ask callers to rate the service (1-5) after the call"),
    "recording": N_("Recording policy"), "recording_consent_prompt": N_("Consent prompt"),
    "hours": N_("Opening hours"), "callback_retries": N_("Callback retries"),
    "callback_retry_seconds": N_("Wait between callback tries"),
    "expected_handle_seconds": N_("Expected handle time"),
    "members": N_("Members"),
}
HELP = {
    "strategy": N_("How the agent for the next caller is chosen."),
    "ring_timeout": N_("How long an agent's phone rings before the offer counts as missed."),
    "wrapup_seconds": N_("Time after each call before the agent is offered the next one."),
    "max_wait": N_("After this wait the overflow action is taken."),
    "max_callers": N_("Callers beyond this number are not queued (the flow hears \"full\")."),
    "overflow": N_("What happens when a caller has waited the maximum time."),
    "overflow_queue": N_("Used when the overflow action is \"another queue\"."),
    "announce_every": N_("Time between announcements of position and wait."),
    "moh": N_("A WAV file under the prompts directory; empty: the default music."),
    "service_level_seconds": N_("Calls answered within this time count toward the service level."),
    "short_abandon_seconds": N_("Callers who hang up sooner are not counted as abandoned."),
    "missed_offers_limit": N_("Missed offers in a row before the agent is set not ready."),
    "weight": N_("Fairness between queues: waiting time is multiplied by this weight."),
    "skill": N_("Only agents with this skill take calls from this queue; empty: any member."),
    "min_level": N_("Lowest skill level accepted at first (1-10)."),
    "widening": N_("After a caller has waited this long, accept a lower level."),
    "leave_key": N_("The key a waiting caller presses for a callback or voicemail; empty: none."),
    "sticky_seconds": N_("Ring the caller's last agent first for this long; 0: off."),
    "vip_priority": N_("Priority of callers marked VIP (0-10)."),
    "recording": N_("On demand: paused until the agent starts it. Never: paused for the rest of the call."),
    "recording_consent_prompt": N_("Prompt played when the caller joins while the call is recorded."),
    "members": N_("Agents serving this queue; a higher penalty is used only when better ones are busy."),
    "hours": N_("A business-hours schedule (Calendar): callbacks are dialled only while it is open; empty: always."),
    "callback_retries": N_("New tries after the customer was busy or did not answer; then the callback is given up."),
    "callback_retry_seconds": N_("Time before a callback is tried again."),
    "expected_handle_seconds": N_("Talk plus wrap-up the wait estimate assumes until the queue has 10 calls of its own."),
}
UNIT_SECONDS = {"ring_timeout", "wrapup_seconds", "max_wait", "announce_every", "service_level_seconds",
                "short_abandon_seconds", "sticky_seconds", "callback_retry_seconds", "expected_handle_seconds"}
CHOICE_LABELS = {
    "ring_all": N_("Ring all"), "longest_idle": N_("Longest idle"), "round_robin": N_("Round robin"),
    "fewest_calls": N_("Fewest calls"), "least_talk_time": N_("Least talk time"), "linear": N_("Linear order"),
    "random": N_("Random"), "skills": N_("Skills"),
    "callback": N_("Offer a callback"), "voicemail": N_("Voicemail"), "continue": N_("Back to the flow"),
    "queue": N_("Another queue"),
    "always": N_("Always"), "on_demand": N_("On demand"), "never": N_("Never"),
}
SECTIONS = [
    (N_("Routing"), ["strategy", "weight", "skill", "min_level", "sticky_seconds", "vip_priority"]),
    (N_("Timing"), ["ring_timeout", "wrapup_seconds", "max_wait", "max_callers", "service_level_seconds",
                    "short_abandon_seconds", "missed_offers_limit"]),
    (N_("Callers waiting"), ["join_empty", "announce_position", "announce_estimate", "announce_every", "moh",
                             "leave_key", "survey", "expected_handle_seconds"]),
    (N_("Overflow"), ["overflow", "overflow_queue"]),
    (N_("Callbacks"), ["hours", "callback_retries", "callback_retry_seconds"]),
    (N_("Recording"), ["recording", "recording_consent_prompt"]),
]
LEAVE_KEYS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"]
STATE_LABELS = {"logged_out": N_("Logged out"), "ready": N_("Ready"), "reserved": N_("Ringing"),
                "on_call": N_("On call"), "wrap_up": N_("Wrap-up"), "not_ready": N_("Not ready"),
                "outbound": N_("Outbound call")}


def field_info(key: str) -> dict:
    """How the form shows one option of the QUEUE schema."""
    spec = acd_config.QUEUE.fields[key]
    kind = {bool: "bool", int: "int", float: "float"}.get(getattr(spec, "type", None), "str")
    if getattr(spec, "choices", None):
        kind = "choice"
    if key == "overflow_queue":
        kind = "queue"
    if key == "leave_key":
        kind = "key"
    return {"key": key, "kind": kind, "label": LABELS[key], "help": HELP.get(key, ""),
            "choices": getattr(spec, "choices", None) or (), "min": getattr(spec, "min", None),
            "max": getattr(spec, "max", None), "nullable": getattr(spec, "nullable", False),
            "default": spec.default_value(), "seconds": key in UNIT_SECONDS}


def listed_keys() -> set[str]:
    """Every option the queue form shows (a test checks it is the whole schema)."""
    return {k for _, keys in SECTIONS for k in keys} | {"title", "widening", "members"}


def state_of(services: dict, name: str) -> str | None:
    """An agent's live state in the ACD, or None when the ACD does not know them yet."""
    acd = services.get("acd")
    if acd is None:
        return None
    agent = next((a for a in acd.agents.agents.values() if a.name == name), None)
    return agent.state.value if agent is not None else None


async def reload_acd(services: dict) -> None:
    """Let the running ACD pick the change up now (live agent states and waiting callers are kept)."""
    acd = services.get("acd")
    if acd is not None:
        await acd.reload()


# ---- pages ------------------------------------------------------------------------------------------------

class QueuesPage(ConfigPage):
    """Every queue with its main options, callers waiting now; YAML export and import."""

    title = N_("Queues")

    async def get(self) -> None:
        """The list."""
        _, queues, _ = await self.services["store"].read(acd_config.load_all)
        acd = self.services.get("acd")
        rows = []
        for q in queues:
            live = acd.queues.get(q.name) if acd is not None else None
            rows.append({"name": q.name, "settings": q.settings, "members": len(q.members),
                         "waiting": len(live.waiting) if live is not None else 0})
        self.render("config_queues.html", queues=rows, choice_labels=CHOICE_LABELS)


class QueueFormPage(ConfigPage):
    """Create a queue, or edit one: every option, errors shown next to the field."""

    title = N_("Queues")

    async def get(self, name: str | None = None) -> None:
        """The form with the current (or default) values."""
        def load() -> tuple:
            agents, queues, _ = acd_config.load_all()
            doc = acd_config.queue_doc(name) if name else None
            return agents, [q.name for q in queues], doc
        agents, names, doc = await self.services["store"].read(load)
        if name and doc is None:
            raise tornado.web.HTTPError(404, reason=f"no queue {name!r}")
        value = doc or {**acd_config.QUEUE.default_value()}
        skills = sorted({s for a in agents for s in a["skills"]})
        self.render("config_queue_form.html", name=name, value=value, is_new=name is None,
                    sections=SECTIONS, fields={k: field_info(k) for k in acd_config.QUEUE.fields},
                    choice_labels=CHOICE_LABELS, agents=agents, queue_names=[n for n in names if n != name],
                    skills=skills, leave_keys=LEAVE_KEYS, help=HELP)


class AgentsPage(ConfigPage):
    """Every agent: extension, linked user, skills, follow-me, queues, live state."""

    title = N_("Agents")
    query = {"sort": ("name", "extension", "state")}

    async def get(self) -> None:
        """The list."""
        agents, queues, _ = await self.services["store"].read(acd_config.load_all)
        served: dict[int, list[str]] = {}
        for q in queues:
            for m in q.members:
                served.setdefault(m["agent_id"], []).append(q.name)
        for a in agents:
            a["queues"] = served.get(a["id"], [])
            a["state"] = state_of(self.services, a["name"]) or "logged_out"
        sort = self.q.get("sort", "name")
        agents.sort(key=lambda a: (str(a[sort] or "~"), a["name"]))
        self.render("config_agents.html", agents=agents, sort=sort, state_labels=STATE_LABELS)


class AgentFormPage(ConfigPage):
    """Create an agent, or edit one (skills with levels, follow-me)."""

    title = N_("Agents")

    async def get(self, name: str | None = None) -> None:
        """The form."""
        def load() -> tuple:
            return (acd_config.agent_doc(name) if name else None, users.list_users())
        doc, user_list = await self.services["store"].read(load)
        if name and doc is None:
            raise tornado.web.HTTPError(404, reason=f"no agent {name!r}")
        devices = self.services.get("devices")
        stations = sorted(devices.stations) if devices is not None else []
        value = doc or {"name": "", "display_name": "", "user": None, "extension": None, "skills": {},
                        "follow_me": None, "follow_me_after": None, "grade": 1}
        self.render("config_agent_form.html", name=name, value=value, is_new=name is None,
                    user_names=[u["name"] for u in user_list], stations=stations,
                    state=state_of(self.services, name) if name else None, state_labels=STATE_LABELS)


class StationsPage(ConfigPage):
    """Station lines by extension: state, the agent logged in there, agents who sit there usually."""

    title = N_("Stations")

    async def get(self) -> None:
        """The list (extensions come from the devices in hotline.yaml)."""
        agents, _, _ = await self.services["store"].read(acd_config.load_all)
        devices = self.services.get("devices")
        acd = self.services.get("acd")
        now = self.services["engine"].now() if "engine" in self.services else 0.0
        rows = []
        for ext, line in sorted((devices.stations if devices is not None else {}).items()):
            live = acd.agents.at_station(ext) if acd is not None else None
            rows.append({"extension": ext, "line": line.name, "up": line.up, "reason": line.down_reason,
                         "busy": line.name in devices.busy,
                         "device": devices.line_device[line.name].name if line.name in devices.line_device else "",
                         "agent": live.summary(now) if live is not None else None,
                         "home": [a["display_name"] or a["name"] for a in agents if a["extension"] == ext]})
        self.render("config_stations.html", stations=rows, config_path=self.services["config"].path,
                    state_labels=STATE_LABELS)


# ---- API --------------------------------------------------------------------------------------------------

class AcdApi(ConfigApi):
    """Queue and agent changes: validation problems as 400 by field, refusals with their status."""

    async def apply(self, fn: Any, action: str, target: str, status: int = 200, deleted: bool = False) -> None:
        """Make the change (audited before -> after in the same transaction), reload the ACD, answer with the
        stored result."""
        diff = (lambda before: (before, None)) if deleted else (lambda r: r)
        try:
            result = await self.change(fn, action, target, diff)
        except ConfigError as exc:
            return self.write_json(problems(exc, locale=self.locale), 400)
        except acd_config.ChangeRefused as exc:
            return self.fail(exc.status, str(exc))
        await reload_acd(self.services)
        self.write_json({"deleted": target} if deleted else {"name": target, **result[1]}, status)


class QueuesApi(AcdApi):
    """GET /api/v1/config/queues (every queue with every option), POST (create one)."""

    async def get(self) -> None:
        """All queues as an export shows them."""
        def load() -> list[dict]:
            return [{"name": q.name, **acd_config.queue_doc(q.name)} for q in acd_config.load_all()[1]]
        self.write_json({"queues": await self.services["store"].read(load)})

    async def post(self) -> None:
        """Create: {"name": ..., options...}; absent options take their defaults."""
        body = self.json_body()
        name = body.pop("name", None)
        if not isinstance(name, str) or not name:
            return self.write_json({"error": "name: is required", "status": 400,
                                    "problems": [{"field": "name", "message": "is required"}]}, 400)
        await self.apply(lambda: acd_config.save_queue(name, body, create=True), "queue.created", name, 201)


class QueueApi(AcdApi):
    """GET, PUT (replace every option), DELETE /api/v1/config/queues/{name}."""

    async def get(self, name: str) -> None:
        """One queue."""
        doc = await self.services["store"].read(acd_config.queue_doc, name)
        if doc is None:
            return self.fail(404, f"no queue {name!r}")
        self.write_json({"name": name, **doc})

    async def put(self, name: str) -> None:
        """Replace the queue's options and members (absent options take their defaults, as in an import)."""
        body = self.json_body()
        if body.pop("name", name) != name:
            return self.write_json({"error": "name: cannot be changed", "status": 400,
                                    "problems": [{"field": "name", "message": "cannot be changed"}]}, 400)
        await self.apply(lambda: acd_config.save_queue(name, body, create=False), "queue.updated", name)

    async def delete(self, name: str) -> None:
        """Remove the queue (callers waiting in it now finish their wait)."""
        await self.apply(lambda: acd_config.delete_queue(name), "queue.deleted", name, deleted=True)


class AgentsApi(AcdApi):
    """GET /api/v1/config/agents, POST (create one)."""

    async def get(self) -> None:
        """Every agent's settings and the queues they serve."""
        def load() -> list[dict]:
            agents, queues, _ = acd_config.load_all()
            out = []
            for a in agents:
                doc = acd_config.agent_doc(a["name"])
                doc["queues"] = [{"queue": q.name, "penalty": m["penalty"]} for q in queues for m in q.members
                                 if m["agent_id"] == a["id"]]
                out.append(doc)
            return out
        agents = await self.services["store"].read(load)
        for a in agents:
            a["state"] = state_of(self.services, a["name"])
        self.write_json({"agents": agents})

    async def post(self) -> None:
        """Create an agent: {"name", "display_name", "user", "extension", "skills", "follow_me", ...}."""
        body = self.json_body()
        target = str(body.get("name", ""))[:64]
        await self.apply(lambda: acd_config.save_agent(body), "agent.created", target, 201)


class AgentApi(AcdApi):
    """GET, PUT (replace), DELETE /api/v1/config/agents/{name}."""

    async def get(self, name: str) -> None:
        """One agent."""
        doc = await self.services["store"].read(acd_config.agent_doc, name)
        if doc is None:
            return self.fail(404, f"no agent {name!r}")
        self.write_json({**doc, "state": state_of(self.services, name)})

    async def put(self, name: str) -> None:
        """Replace the agent's settings (the name stays)."""
        body = self.json_body()
        await self.apply(lambda: acd_config.save_agent(body, name), "agent.updated", name)

    async def delete(self, name: str) -> None:
        """Remove the agent (refused while they are logged in) and their queue memberships."""
        state = state_of(self.services, name)
        if state not in (None, "logged_out"):
            return self.fail(409, f"agent {name} is logged in ({state}): log them out first")
        await self.apply(lambda: acd_config.delete_agent(name), "agent.deleted", name, deleted=True)


class AcdYamlApi(ConfigApi):
    """GET /api/v1/config/acd.yaml: agents, queues and reason codes as YAML; POST: import such a document
    (replaces them all, validated exactly like ``hotline acd import``)."""

    body_limit = 2 * 1024 * 1024 + 64 * 1024

    async def get(self) -> None:
        """The export, as a download."""
        text = await self.services["store"].read(acd_config.export_document)
        self.set_header("Content-Type", "application/yaml; charset=utf-8")
        self.set_header("Content-Disposition", 'attachment; filename="hotline-acd.yaml"')
        self.finish(text)

    async def post(self) -> None:
        """Validate the YAML body (every problem with its line), then replace agents, queues and reason codes."""
        if len(self.request.body) > 2 * 1024 * 1024:
            return self.fail(413, "body: at most 2 MB of YAML")
        try:
            text = self.request.body.decode("utf-8")
        except UnicodeDecodeError:
            return self.fail(400, "body: YAML must be UTF-8 text")
        try:
            doc = await off_loop_sized(len(text), acd_config.parse, text, "import.yaml")
        except ConfigError as exc:
            return self.write_json(problems(exc, lines=True, locale=self.locale), 400)
        def replace() -> tuple[dict, dict]:
            before = safe_yaml.load(acd_config.export_document())
            counts = acd_config.import_document(doc)
            return counts, (before, safe_yaml.load(acd_config.export_document()))
        counts, _ = await self.change(replace, "acd.imported", "agents and queues", lambda r: r[1])
        await reload_acd(self.services)
        self.write_json({"imported": counts})


PAGE_ROUTES = [
    (r"/config/queues", QueuesPage),
    (r"/config/queues/new", QueueFormPage),
    (rf"/config/queues/{NAME}/edit", QueueFormPage),
    (r"/config/agents", AgentsPage),
    (r"/config/agents/new", AgentFormPage),
    (rf"/config/agents/{NAME}/edit", AgentFormPage),
    (r"/config/stations", StationsPage),
]
ROUTES = [
    (r"/api/v1/config/queues", QueuesApi),
    (rf"/api/v1/config/queues/{NAME}", QueueApi),
    (r"/api/v1/config/agents", AgentsApi),
    (rf"/api/v1/config/agents/{NAME}", AgentApi),
    (r"/api/v1/config/acd\.yaml", AcdYamlApi),
]
