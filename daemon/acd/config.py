"""Queue and agent settings: validated with line marks, stored in the database, imported from / exported to YAML."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import yaml

from hotline.dialplan.schema import Ctx, ListOf, MapOf, Problem, Scalar, Section, Spec, load_node

from ..errors import ConfigError, HotlineError
from ..store.models import AgentRow, QueueMember, QueueRow, Setting

STRATEGIES = ("ring_all", "longest_idle", "round_robin", "fewest_calls", "least_talk_time", "linear", "random",
              "skills")
NAME = r"[a-z][a-z0-9_]{0,47}"
DEFAULT_REASONS = ["lunch", "break", "training", "meeting", "missed_calls"]

QUEUE = Section({
    "title": MapOf(Scalar(str), key_pattern=r"zh_CN|en_US"),
    "strategy": Scalar(str, default="longest_idle", choices=STRATEGIES),
    "ring_timeout": Scalar(float, default=15.0, min=3, max=120, help="seconds an agent's phone rings"),
    "wrapup_seconds": Scalar(float, default=10.0, min=0, max=600),
    "max_wait": Scalar(float, default=600.0, min=10, max=7200, help="then the overflow action"),
    "max_callers": Scalar(int, default=100, min=1, max=5000),
    "join_empty": Scalar(bool, default=False, help="join when no agent is logged in"),
    "overflow": Scalar(str, default="callback", choices=("callback", "voicemail", "continue", "queue")),
    "overflow_queue": Scalar(str, default=None, nullable=True, pattern=NAME),
    "announce_position": Scalar(bool, default=True),
    "announce_estimate": Scalar(bool, default=True),
    "announce_every": Scalar(float, default=45.0, min=10, max=600),
    "moh": Scalar(str, default=None, nullable=True, help="music on hold: a WAV under the prompts directory"),
    "service_level_seconds": Scalar(float, default=20.0, min=1, max=600),
    "short_abandon_seconds": Scalar(float, default=5.0, min=0, max=120),
    "missed_offers_limit": Scalar(int, default=2, min=1, max=20),
    "weight": Scalar(float, default=1.0, min=0.1, max=10),
    "skill": Scalar(str, default=None, nullable=True, pattern=NAME),
    "min_level": Scalar(int, default=1, min=1, max=10),
    "widening": ListOf(Section({"after": Scalar(float, min=0, max=7200), "min_level": Scalar(int, min=1, max=10)},
                               required=("after", "min_level"))),
    "leave_key": Scalar(str, default="*", nullable=True, pattern=r"[0-9*#]"),
    "sticky_seconds": Scalar(float, default=0.0, min=0, max=120, help="ring the caller's last agent first"),
    "vip_priority": Scalar(int, default=1, min=0, max=10, help="priority of callers marked VIP"),
    "survey": Scalar(bool, default=False, help="after the agent hangs up, ask the caller to rate the service 1-5"),
    "recording": Scalar(str, default="always", choices=("always", "on_demand", "never"),
                        help="on_demand: paused until the agent starts it; never: paused for the rest of the call"),
    "recording_consent_prompt": Scalar(str, default=None, nullable=True,
                                       help="played when the caller joins while the call is recorded"),
    "members": ListOf(Section({"agent": Scalar(str, pattern=NAME), "penalty": Scalar(int, default=0, min=0, max=10)},
                              required=("agent",))),
})
AGENT = Section({
    "name": Scalar(str, pattern=NAME), "display_name": Scalar(str, default=""),
    "user": Scalar(str, default=None, nullable=True), "extension": Scalar(str, default=None, nullable=True),
    "skills": MapOf(Scalar(int, min=1, max=10), key_pattern=NAME),
    "follow_me": Scalar(str, default=None, nullable=True, pattern=r"[0-9]{3,20}"),
    "follow_me_after": Scalar(float, default=None, nullable=True, min=5, max=120),
    "grade": Scalar(int, default=1, min=1, max=5, help="1 trainee, 2 junior, 3 regular, 4 senior, 5 expert"),
}, required=("name",))
DOCUMENT = Section({
    "agents": ListOf(AGENT), "queues": MapOf(QUEUE, key_pattern=NAME),
    "reason_codes": ListOf(Scalar(str, pattern=NAME), default=list(DEFAULT_REASONS)),
})


@dataclass
class QueueSettings:
    """One queue's validated settings and members."""

    name: str
    settings: dict[str, Any]
    members: list[dict] = field(default_factory=list)


def parse(text: str, filename: str) -> dict:
    """Validate an ACD YAML document; ConfigError lists every problem with file:line:col."""
    ctx = Ctx(filename)
    node = load_node(text, ctx)
    doc = DOCUMENT.check(node, ctx, "") if node is not None else None
    if isinstance(doc, dict) and not ctx.problems:   # cross-references only once the shape is right
        names = {a["name"] for a in doc["agents"] if "name" in a}
        for qname, q in doc["queues"].items():
            for key, message in reference_problems(q, names, set(doc["queues"])):
                ctx.error(node, f"queues.{qname}.{key}", message)
    if ctx.problems or not isinstance(doc, dict):
        raise ConfigError(ctx.problems or [Problem(filename, 0, 0, "", "empty document")])
    return doc


def reference_problems(q: dict, agent_names: set[str], queue_names: set[str]) -> list[tuple[str, str]]:
    """A validated queue's references to agents and queues that do not exist, as (key, message): the same
    checks for a YAML import and for one queue edited in the panel."""
    out = [(f"members[{i}].agent", f"no agent named {m['agent']!r}")
           for i, m in enumerate(q.get("members", [])) if "agent" in m and m["agent"] not in agent_names]
    if q.get("overflow") == "queue" and q.get("overflow_queue") not in queue_names:
        out.append(("overflow_queue", "overflow: queue needs an existing overflow_queue"))
    return out


def import_document(doc: dict) -> dict[str, int]:
    """Replace agents, queues and members by a validated document (runs in the writer's transaction)."""
    now = time.time()
    QueueMember.delete().execute()
    QueueRow.delete().execute()
    keep = [a["name"] for a in doc["agents"]]
    AgentRow.delete().where(AgentRow.name.not_in(keep)).execute()
    ids = {}
    for a in doc["agents"]:
        row = AgentRow.get_or_none(AgentRow.name == a["name"]) or AgentRow(name=a["name"], created_at=now)
        row.display_name, row.user_name, row.extension = a["display_name"], a["user"], a["extension"]
        row.skills, row.follow_me, row.follow_me_after = json.dumps(a["skills"]), a["follow_me"], a["follow_me_after"]
        row.grade = a["grade"]
        row.save()
        ids[a["name"]] = row.id
    for qname, q in doc["queues"].items():
        settings = {k: v for k, v in q.items() if k != "members"}
        row = QueueRow.create(name=qname, settings=json.dumps(settings, ensure_ascii=False), created_at=now,
                              updated_at=now)
        for pos, m in enumerate(q["members"]):
            QueueMember.create(queue=row, agent=ids[m["agent"]], penalty=m["penalty"], position=pos)
    _put_setting("reason_codes", json.dumps(doc["reason_codes"]))
    return {"agents": len(doc["agents"]), "queues": len(doc["queues"])}


def _put_setting(name: str, value: str) -> None:
    Setting.delete().where(Setting.name == name).execute()
    Setting.create(name=name, value=value)


def load_all() -> tuple[list[dict], list[QueueSettings], list[str]]:
    """Agents, queues with members, and reason codes from the database."""
    agents = [{"id": a.id, "name": a.name, "display_name": a.display_name, "user": a.user_name,
               "extension": a.extension, "skills": json.loads(a.skills or "{}"), "follow_me": a.follow_me,
               "follow_me_after": a.follow_me_after, "grade": a.grade} for a in AgentRow.select().order_by(AgentRow.id)]
    queues = []
    for q in QueueRow.select().order_by(QueueRow.name):
        defaults = QUEUE.default_value()
        settings = {**defaults, **json.loads(q.settings)}
        members = [{"agent_id": m.agent_id, "penalty": m.penalty, "position": m.position}
                   for m in q.members.order_by(QueueMember.position)]
        queues.append(QueueSettings(q.name, settings, members))
    row = Setting.get_or_none(Setting.name == "reason_codes")
    reasons = json.loads(row.value) if row else list(DEFAULT_REASONS)
    return agents, queues, reasons


def export_document() -> str:
    """The current agents and queues as YAML (re-importable)."""
    agents, queues, reasons = load_all()
    names = {a["id"]: a["name"] for a in agents}
    doc = {
        "agents": [{k: v for k, v in a.items() if k != "id" and v not in (None, "", {})} for a in agents],
        "queues": {q.name: {**q.settings, "members": [{"agent": names[m["agent_id"]], "penalty": m["penalty"]}
                                                       for m in q.members]} for q in queues},
        "reason_codes": reasons,
    }
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


# ---- one queue or agent at a time (the panel and its API) --------------------------------------------------
PANEL = "<panel>"
NAME_HELP = "a lower-case letter, then lower-case letters, digits or _ (at most 48)"


class ChangeRefused(HotlineError):
    """A queue or agent change that cannot be made: no such item (404), it exists already or is in use (409)."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


def check(spec: Spec, data: Any, where: str = PANEL) -> tuple[Any, Ctx]:
    """Validate plain data (a JSON body) with the YAML schema: the same rules and messages as an import. Each
    problem's key is the field's path (``ring_timeout``, ``members[0].agent``)."""
    ctx = Ctx(where)
    node = load_node(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), ctx)
    value = spec.check(node, ctx, "") if node is not None else None
    return value, ctx


def queue_doc(name: str) -> dict | None:
    """One queue as an export shows it: every setting (defaults filled in) and the members by agent name."""
    row = QueueRow.get_or_none(QueueRow.name == name)
    if row is None:
        return None
    stored = {**QUEUE.default_value(), **json.loads(row.settings)}
    members = [{"agent": m.agent.name, "penalty": m.penalty}
               for m in QueueMember.select(QueueMember, AgentRow).join(AgentRow)
               .where(QueueMember.queue == row.id).order_by(QueueMember.position)]
    return {**{k: stored.get(k) for k in QUEUE.fields if k != "members"}, "members": members}


def save_queue(name: str, data: Any, create: bool) -> tuple[dict | None, dict]:
    """Validate one queue with the import's schema and checks, then store it with its members (runs in the
    writer's transaction). Returns (before, after); ConfigError lists every problem by field."""
    row = QueueRow.get_or_none(QueueRow.name == name)
    if create and row is not None:
        raise ChangeRefused(f"queue {name!r} already exists", 409)
    if not create and row is None:
        raise ChangeRefused(f"no queue {name!r}", 404)
    q, ctx = check(QUEUE, data)
    if not isinstance(name, str) or not re.fullmatch(NAME, name):
        ctx.error(None, "name", f"{name!r} does not match the expected form {NAME_HELP}")
    agents = {a.name: a.id for a in AgentRow.select(AgentRow.id, AgentRow.name)}
    if isinstance(q, dict):
        queues = {r.name for r in QueueRow.select(QueueRow.name)} | {name}
        for key, message in reference_problems(q, set(agents), queues):
            ctx.error(None, key, message)
    if ctx.problems:
        raise ConfigError(ctx.problems)
    before = queue_doc(name) if row is not None else None
    now = time.time()
    settings = json.dumps({k: v for k, v in q.items() if k != "members"}, ensure_ascii=False)
    if row is None:
        row = QueueRow.create(name=name, settings=settings, created_at=now, updated_at=now)
    else:
        QueueRow.update(settings=settings, updated_at=now).where(QueueRow.id == row.id).execute()
        QueueMember.delete().where(QueueMember.queue == row.id).execute()
    for pos, m in enumerate(q["members"]):
        QueueMember.create(queue=row.id, agent=agents[m["agent"]], penalty=m["penalty"], position=pos)
    return before, queue_doc(name)


def delete_queue(name: str) -> dict:
    """Remove a queue and its members (writer); refused while another queue overflows to it. Returns before."""
    row = QueueRow.get_or_none(QueueRow.name == name)
    if row is None:
        raise ChangeRefused(f"no queue {name!r}", 404)
    feeding = sorted(r.name for r in QueueRow.select() if r.name != name
                     and json.loads(r.settings).get("overflow") == "queue"
                     and json.loads(r.settings).get("overflow_queue") == name)
    if feeding:
        raise ChangeRefused(f"queue {name!r} is the overflow queue of {', '.join(feeding)}: change them first", 409)
    before = queue_doc(name)
    QueueMember.delete().where(QueueMember.queue == row.id).execute()
    QueueRow.delete().where(QueueRow.id == row.id).execute()
    return before


def agent_doc(name: str) -> dict | None:
    """One agent as an export shows it (every field)."""
    a = AgentRow.get_or_none(AgentRow.name == name)
    if a is None:
        return None
    return {"name": a.name, "display_name": a.display_name, "user": a.user_name, "extension": a.extension,
            "skills": json.loads(a.skills or "{}"), "follow_me": a.follow_me, "follow_me_after": a.follow_me_after,
            "grade": a.grade}


def save_agent(data: Any, name: str | None = None) -> tuple[dict | None, dict]:
    """Create (name None: the body names the agent) or replace one agent, validated with the import's schema
    (runs in the writer's transaction). Returns (before, after)."""
    if name is not None and isinstance(data, dict):
        if data.get("name", name) != name:
            raise ConfigError([Problem(PANEL, 0, 0, "name", "cannot be changed: delete the agent and create a new one")])
        data = {**data, "name": name}
    a, ctx = check(AGENT, data)
    if ctx.problems:
        raise ConfigError(ctx.problems)
    row = AgentRow.get_or_none(AgentRow.name == a["name"])
    if name is None and row is not None:
        raise ChangeRefused(f"agent {a['name']!r} already exists", 409)
    if name is not None and row is None:
        raise ChangeRefused(f"no agent {name!r}", 404)
    before = agent_doc(a["name"]) if row is not None else None
    row = row or AgentRow(name=a["name"], created_at=time.time())
    row.display_name, row.user_name, row.extension = a["display_name"], a["user"], a["extension"]
    row.skills, row.follow_me, row.follow_me_after = json.dumps(a["skills"]), a["follow_me"], a["follow_me_after"]
    row.grade = a["grade"]
    row.save()
    return before, agent_doc(a["name"])


def delete_agent(name: str) -> dict:
    """Remove an agent and their queue memberships (writer). Returns before (with the queues they served)."""
    row = AgentRow.get_or_none(AgentRow.name == name)
    if row is None:
        raise ChangeRefused(f"no agent {name!r}", 404)
    before = agent_doc(name)
    before["queues"] = sorted(m.queue.name for m in QueueMember.select(QueueMember, QueueRow).join(QueueRow)
                              .where(QueueMember.agent == row.id))
    QueueMember.delete().where(QueueMember.agent == row.id).execute()
    AgentRow.delete().where(AgentRow.id == row.id).execute()
    return before
