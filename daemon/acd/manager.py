"""The ACD component: callers waiting with music and honest announcements, offers to agents, callbacks."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np

from hotline.dialplan.context import ConnectResult

from ..calls.linecaps import HALF_DUPLEX_REASON, bridgeable
from ..calls.manager import Call, LegGone
from ..calls.manager import Call
from ..media.engine import ArrayPlayer
from . import config as acd_config
from . import handle_times
from .agents import Agent, AgentBook, AgentError, AgentState
from .callbacks import Callbacks
from .estimate import AgentLoad, announce_range, estimate_wait, with_prior
from .moh import MusicOnHold
from .queues import Dispatcher, Entry, QueueRuntime, new_entry

log = logging.getLogger("hotline.acd")
HOURS_EVERY = 2  # seconds between checks of the queues' opening hours (callbacks wait for a queue to open)


def hold_music(seconds: float = 8.0) -> np.ndarray:
    """A soft arpeggio (C-E-G-C, well below the DTMF band) used when a queue has no music file."""
    notes = [261.6, 329.6, 392.0, 523.3]
    t = np.arange(int(0.5 * 8000)) / 8000
    env = np.minimum(1, t * 20) * np.exp(-t * 3)
    phrase = np.concatenate([2500 * env * np.sin(2 * np.pi * f * t) for f in notes])
    reps = int(np.ceil(seconds * 8000 / len(phrase)))
    return np.tile(phrase, reps).astype(np.int16)


class Acd:
    """Queues and agents of the box."""

    def __init__(self, store: Any, journal: Any, calls: Any, devices: Any, engine: Any, prompts: Any):
        self.store, self.journal, self.calls, self.devices, self.engine = store, journal, calls, devices, engine
        self.prompts = prompts
        self.agents = AgentBook(self._emit_agent, engine.now)
        self.queues: dict[str, QueueRuntime] = {}
        self.dispatcher = Dispatcher(self.agents, self.queues, devices, engine.now)
        self.callbacks = Callbacks(self)
        self.dispatcher.on_callback = self.callbacks.start
        self.agents.listeners.append(lambda agent: self.dispatcher.poke())
        calls.on_leg_ended.append(self._leg_ended)
        self._task: asyncio.Task | None = None
        self._music = hold_music()
        self.moh = MusicOnHold(getattr(prompts, "dir", "."), journal, engine.now)  # queue music (moh:), cached
        self.services: Any = None  # BoxServices (last agent of a caller), set by the assembly

    def _leg_ended(self, leg: Any) -> None:
        """An agent's phone left a call (hung up, or transferred it on): wrap-up, then ready."""
        agent = self.agents.at_station(leg.line.extension) if leg.line.extension else None
        if agent is None or agent.state is not AgentState.ON_CALL or agent.call_uuid != leg.call.uuid:
            return
        wrapup = getattr(agent, "wrapup_seconds", 0.0)
        if wrapup > 0:
            self.agents.set_state(agent, AgentState.WRAP_UP, by="acd")
            agent.wrapup_until = self.engine.now() + wrapup
        else:
            self.agents.set_state(agent, AgentState.READY, by="acd")

    def _emit_agent(self, kind: str, **data: Any) -> None:
        self.journal.emit(kind, None, ts=self.engine.now(), **data)

    # ---- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Load queues and agents; start the periodic pass (widening, callback retries, watchdog)."""
        await self.reload()
        await self._seed_handle_times()
        await self.callbacks.refresh_hours()
        await self.callbacks.restore()
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def reload(self) -> None:
        """(Re)read queues and agents from the database, keeping live agent states and waiting callers."""
        agents, queues, reasons = await self.store.read(acd_config.load_all)
        self.agents.load(agents, reasons)
        for q in queues:
            live = self.queues.get(q.name)
            if live is None:
                self.queues[q.name] = QueueRuntime(q.name, q.settings, q.members)
            else:
                live.settings, live.members = q.settings, q.members
        for name in [n for n in self.queues if n not in {q.name for q in queues}]:
            if not self.queues[name].waiting:
                del self.queues[name]

    async def _seed_handle_times(self) -> None:
        """Each queue's recent handle times from the journal, so estimates survive a restart."""
        try:
            seeded = await self.store.read(handle_times.recent, {name: q.settings["wrapup_seconds"]
                                                                 for name, q in self.queues.items()})
        except Exception:
            log.exception("event=handle_times_unread")
            return
        for name, times in seeded.items():
            q = self.queues.get(name)
            if q is not None and not q.handle_times:
                q.handle_times.extend(times)
        log.info("event=handle_times_read %s", " ".join(f"{n}={len(t)}" for n, t in sorted(seeded.items())))

    def reconfigure(self, config: Any) -> None:
        """SIGHUP: reload queue and agent definitions."""
        asyncio.get_running_loop().create_task(self.reload())

    async def stop(self) -> None:
        """Stop the periodic pass."""
        from ..aio import cancel_and_wait
        await cancel_and_wait(self._task)
        await self.callbacks.stop()

    def status(self) -> dict:
        """Queues and agents by state."""
        states: dict[str, int] = {}
        for a in self.agents.agents.values():
            states[a.state.value] = states.get(a.state.value, 0) + 1
        return {"state": "up" if self._task else "down", "queues": len(self.queues),
                "waiting": sum(len(q.waiting) for q in self.queues.values()), "agents": states}

    async def _tick(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(1.0)
            ticks += 1
            try:
                self._repair_states()
                if ticks % HOURS_EVERY == 0:
                    await self.callbacks.refresh_hours()
                self.dispatcher.poke()
            except Exception:
                log.exception("event=acd_tick_failed")

    def _repair_states(self) -> None:
        """Watchdog: an agent on a call that no longer exists, or reserved for nobody, goes back to ready."""
        offered = {e.call_uuid for q in self.queues.values() for e in q.waiting if e.busy}
        for agent in self.agents.agents.values():
            stuck = ((agent.state is AgentState.ON_CALL and agent.call_uuid not in self.calls.calls)
                     or (agent.state is AgentState.RESERVED and agent.call_uuid not in offered
                         and agent.call_uuid not in self.calls.calls))
            if stuck and self.engine.now() - agent.since > 5:
                self.journal.emit("agent.repaired", None, ts=self.engine.now(), agent=agent.id,
                                  state=agent.state.value, call=agent.call_uuid)
                self.agents.set_state(agent, AgentState.READY, by="watchdog", force=True)
            if agent.state is AgentState.WRAP_UP and agent.wrapup_until and self.engine.now() >= agent.wrapup_until:
                self.agents.set_state(agent, AgentState.READY, by="wrap_up_end")

    # ---- figures ----------------------------------------------------------------------------
    def logged_in(self, q: QueueRuntime) -> list[Agent]:
        """Members logged in (any state but logged out)."""
        return [a for a in (self.agents.agents.get(i) for i in q.member_ids())
                if a is not None and a.state is not AgentState.LOGGED_OUT]

    def estimate(self, q: QueueRuntime, position: int) -> Any:
        """The honest wait estimate for a place in line."""
        now = self.engine.now()
        loads = [AgentLoad(ready=a.state is AgentState.READY,
                           busy_for=(now - a.since) if a.state in (AgentState.ON_CALL, AgentState.WRAP_UP,
                                                                    AgentState.RESERVED) else None)
                 for a in self.logged_in(q) if a.state is not AgentState.NOT_READY]
        rate = q.abandoned / max(1, q.abandoned + q.answered)
        return estimate_wait(position, loads, with_prior(list(q.handle_times), q.settings["expected_handle_seconds"]),
                             rate)

    def queue_summary(self, q: QueueRuntime) -> dict:
        """Callers waiting (position, wait) and agents (state) of one queue."""
        now = self.engine.now()
        waiting = sorted(q.waiting, key=lambda e: (e.joined_at, e.key))
        return {"name": q.name, "strategy": q.settings["strategy"], "title": q.settings.get("title", {}),
                "waiting": [{"position": i + 1, "call": e.call_uuid, "caller": e.caller_id or e.number,
                             "kind": e.kind, "waited_s": round(now - e.joined_at, 1), "priority": e.priority}
                            for i, e in enumerate(waiting)],
                "agents": [a.summary(now) for a in (self.agents.agents.get(m["agent_id"]) for m in q.members) if a],
                "answered": q.answered, "abandoned": q.abandoned}

    # ---- a caller in a queue -----------------------------------------------------------------
    async def enter(self, session: Any, name: str, priority: int = 0) -> str:
        """Wait in a queue until an agent talks with the caller; the outcome for the flow."""
        q = self.queues.get(name)
        if q is None:
            return "unavailable"
        call: Call = session.call
        if call.caller is not None and not bridgeable(call.caller.line):  # a half-duplex line can never talk to an agent
            self.journal.emit("queue.refused", call.uuid, ts=self.engine.now(), queue=name, reason=HALF_DUPLEX_REASON)
            return "unavailable"
        if not self.logged_in(q) and not q.settings["join_empty"]:
            self.journal.emit("queue.no_agents", call.uuid, ts=self.engine.now(), queue=name)
            return "no_agents"
        if len(q.waiting) >= q.settings["max_callers"]:
            self.journal.emit("queue.full", call.uuid, ts=self.engine.now(), queue=name)
            return "full"
        entry = new_entry(name, self.engine.now(), priority=priority, call_uuid=call.uuid, caller_id=call.caller_id)
        if q.settings["sticky_seconds"] and self.services is not None and call.caller_id:
            ext = await self.services.last_agent(call.caller_id)
            last = next((a for a in self.agents.agents.values() if ext and ext in (a.station, a.extension)), None)
            if last is not None:
                entry.sticky_agent, entry.sticky_until = last.id, entry.joined_at + q.settings["sticky_seconds"]
        q.waiting.append(entry)
        self.journal.emit("queue.joined", call.uuid, ts=entry.joined_at, queue=name, position=q.position(entry),
                          priority=priority)
        await self._recording_policy(session, q)
        self.dispatcher.poke()
        try:
            return await self._wait(session, q, entry)
        finally:
            if entry in q.waiting and entry.kind == "call":
                q.waiting.remove(entry)
                waited = self.engine.now() - entry.joined_at
                q.abandoned += 1
                self.journal.emit("queue.abandoned", call.uuid, ts=self.engine.now(), queue=name,
                                  waited=round(waited, 2), short=waited < q.settings["short_abandon_seconds"],
                                  caller=call.caller_id)
            self._release_offer(entry)

    async def _wait(self, session: Any, q: QueueRuntime, entry: Entry) -> str:
        leg = session._alive()
        ch = session.m.open_media(leg)
        next_announce = self.engine.now() + 2.0
        deadline = entry.joined_at + q.settings["max_wait"]
        # the queue's music file (else the default music); one player: after an announcement the music goes on
        samples = await self.moh.music(q.settings.get("moh"), q.name, entry.call_uuid)
        music = ArrayPlayer(self._music if samples is None else samples, loop=True)
        while True:
            self.engine.play(ch, music)
            waits = {"offer": self._offer_future(entry), "key": asyncio.ensure_future(leg.digits.get()),
                     "timer": self.engine.sleep(max(0.05, min(next_announce, deadline) - self.engine.now()))}
            try:
                done, _ = await asyncio.wait(set(waits.values()), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for fut in waits.values():
                    if not fut.done():
                        fut.cancel()
            self.engine.stop_source(ch)
            if waits["offer"] in done and not waits["offer"].cancelled():
                outcome = await self._take_offer(session, q, entry, waits["offer"].result())
                if outcome is not None:
                    return outcome
                continue
            if waits["key"] in done and not waits["key"].cancelled():
                if waits["key"].result() == q.settings["leave_key"]:
                    outcome = await self._leave(session, q, entry)
                    if outcome is not None:
                        return outcome
                continue
            if self.engine.now() >= deadline:
                return await self._overflow(session, q, entry)
            await self._announce(session, q, entry)
            next_announce = self.engine.now() + q.settings["announce_every"]

    async def _recording_policy(self, session: Any, q: QueueRuntime) -> None:
        """Apply the queue's recording policy to the call, and the consent announcement when recorded."""
        rec = session.call.recorder
        policy = q.settings["recording"]
        if rec is not None and not rec.closed and policy in ("on_demand", "never") and not rec.paused:
            rec.paused = True
            self.journal.emit("recording.paused", session.call.uuid, ts=self.engine.now(), by=f"policy:{policy}",
                              queue=q.name, at_seconds=round(rec.seconds, 2))
        if rec is not None and not rec.paused and q.settings["recording_consent_prompt"]:
            await session.play_prompt(q.settings["recording_consent_prompt"])

    @staticmethod
    def _offer_future(entry: Entry) -> asyncio.Future:
        """Resolved by the dispatcher with the agents chosen for this caller (shielded: waits may be cancelled)."""
        if entry.offer is None or entry.offer.done() and entry.offer.cancelled():
            entry.offer = asyncio.get_running_loop().create_future()
        return asyncio.shield(entry.offer)

    async def _announce(self, session: Any, q: QueueRuntime, entry: Entry) -> None:
        """Position, then an estimated range when it is reliable, then how to leave the queue."""
        position = q.position(entry)
        if q.settings["announce_position"]:
            await session.play_prompt("queue_position_before")
            await session.say_value(str(position), "number")
            await session.play_prompt("queue_position_after")
        if q.settings["announce_estimate"]:
            est = self.estimate(q, position)
            rng = announce_range(est)
            self.journal.emit("queue.announced", entry.call_uuid, ts=self.engine.now(), queue=q.name,
                              position=position, estimate=list(rng) if rng else None,
                              handle_times=len(q.handle_times), **({"held_back": est.held_back} if rng is None else {}))
            if rng is not None:
                await session.play_prompt("queue_estimate_before")
                await session.say_value(str(rng[0]), "number")
                await session.play_prompt("queue_estimate_to")
                await session.say_value(str(rng[1]), "number")
                await session.play_prompt("queue_estimate_minutes")
        if q.settings["leave_key"]:
            await session.play_prompt("queue_leave_hint")

    async def _take_offer(self, session: Any, q: QueueRuntime, entry: Entry, agents: list[Agent]) -> str | None:
        """Ring the chosen agent(s); on answer bridge until the end, then wrap-up. None: back in line."""
        call = session.call
        waited = self.engine.now() - entry.joined_at
        stations = [a.station for a in agents if a.station]
        self.journal.emit("agent.offered", call.uuid, ts=self.engine.now(), queue=q.name,
                          agents=[a.id for a in agents], waited=round(waited, 2))
        ring_timeout = q.settings["ring_timeout"]
        # follow-me: after follow_me_after seconds (unset: the queue's ring time) the agent's outside number
        # rings too; the offer lasts long enough for it to ring a full ring_timeout
        follow = [(a.follow_me, a.follow_me_after if a.follow_me_after is not None else ring_timeout)
                  for a in agents if a.follow_me]
        if follow:
            ring_timeout = max(ring_timeout, max(after for _, after in follow) + ring_timeout)
        result, leg = await session.ring_group(stations, ring_timeout, follow=follow)
        answered = None
        if leg is not None:
            answered = next((a for a in agents if leg.role == "station" and a.station == leg.line.extension), None) \
                or next((a for a in agents if leg.dialed and a.follow_me == leg.dialed), None)
        picker = None
        if leg is not None and answered is None and leg.line.extension:  # picked up (*8) at another station
            picker = answered = self.agents.at_station(leg.line.extension)
        for a in agents:
            if a is not answered and a.state is AgentState.RESERVED:
                self.agents.missed(a, q.settings["missed_offers_limit"]) if result is ConnectResult.NO_ANSWER \
                    else self.agents.set_state(a, AgentState.READY, by="acd", force=True)
                if result is ConnectResult.NO_ANSWER:
                    self.journal.emit("agent.missed", call.uuid, ts=self.engine.now(), queue=q.name, agent=a.id,
                                      in_row=a.missed_in_row)
        if leg is None:
            entry.busy, entry.offer = False, None
            self.dispatcher.poke()
            return None
        q.waiting.remove(entry)
        q.answered += 1
        call.vars["moh"] = q.settings.get("moh")  # the queue's music also when the agent holds the caller
        if answered is not None:  # a picker who is no logged-in agent: bridged without agent accounting
            answered.missed_in_row = 0
            answered.wrapup_seconds = q.settings["wrapup_seconds"]
            self.agents.set_state(answered, AgentState.ON_CALL, by="acd", call_uuid=call.uuid,
                                  force=picker is not None)
        self.journal.emit("queue.answered", call.uuid, ts=self.engine.now(), queue=q.name,
                          agent=answered.id if answered is not None else None, waited=round(waited, 2),
                          within_sl=waited <= q.settings["service_level_seconds"],
                          **({"picked_up_by": leg.line.extension} if picker is not None or answered is None else {}),
                          **({"follow_me": leg.dialed} if leg.dialed else {}))
        started = self.engine.now()
        try:
            await session.bridge_leg(leg)
            if q.settings["survey"] and answered is not None:
                await self._survey(session, q, answered)
        finally:
            handled = self.engine.now() - started
            q.handle_times.append(handled + q.settings["wrapup_seconds"])
            if answered is not None:
                answered.calls_today += 1
                answered.talk_today += handled
            if answered is not None and answered.state is AgentState.ON_CALL:
                if q.settings["wrapup_seconds"] > 0:
                    self.agents.set_state(answered, AgentState.WRAP_UP, by="acd")
                    answered.wrapup_until = self.engine.now() + q.settings["wrapup_seconds"]
                else:
                    self.agents.set_state(answered, AgentState.READY, by="acd")
        return "completed"

    async def _survey(self, session: Any, q: QueueRuntime, agent: Agent) -> None:
        """The agent hung up and the caller is still there: a rating 1-5 in the caller's language."""
        pressed = await session.play_prompt("survey", barge_in=True) or \
            await session.collect(1, timeout=8.0, terminator="")
        if pressed in ("1", "2", "3", "4", "5"):
            self.journal.emit("survey.answered", session.call.uuid, ts=self.engine.now(), score=int(pressed),
                              agent=agent.id, queue=q.name)
            await session.play_prompt("survey_thanks")
        else:
            self.journal.emit("survey.skipped", session.call.uuid, ts=self.engine.now(), agent=agent.id,
                              queue=q.name)

    def feature_code(self, station: str, code: str) -> bool:
        """Agent feature codes on a station phone: *11[id] log in, *12 log out, *13 ready, *14[n] not ready."""
        try:
            if code.startswith("*11"):
                key = code[3:] or next((a.name for a in self.agents.agents.values() if a.extension == station), "")
                self.agent_action(key, "login", station=station, by=f"phone {station}")
                return True
            agent = self.agents.at_station(station)
            if agent is None:
                return False
            if code == "*12":
                self.agents.logout(agent, by=f"phone {station}")
            elif code == "*13":
                self.agents.set_state(agent, AgentState.READY, by=f"phone {station}")
            elif code.startswith("*14"):
                index = int(code[3:]) - 1 if code[3:].isdigit() else self.agents.reasons.index("break") \
                    if "break" in self.agents.reasons else 0
                self.agents.set_state(agent, AgentState.NOT_READY, self.agents.reasons[index],
                                      by=f"phone {station}")
            else:
                return False
            return True
        except (AgentError, IndexError, ValueError) as exc:
            log.info("event=feature_code_refused station=%s code=%s reason=%r", station, code, str(exc))
            return False

    def _release_offer(self, entry: Entry) -> None:
        """The caller left while agents were reserved for them: free the agents."""
        if entry.offer is not None and entry.offer.done() and not entry.offer.cancelled() and entry.busy:
            for agent in entry.offer.result():
                if agent.state is AgentState.RESERVED and agent.call_uuid == entry.call_uuid:
                    self.agents.set_state(agent, AgentState.READY, by="acd", force=True)

    async def _leave(self, session: Any, q: QueueRuntime, entry: Entry) -> str | None:
        """The leave key: 1 callback keeping the place, 2 voicemail, anything else keeps waiting."""
        self.journal.emit("queue.leave_key", entry.call_uuid, ts=self.engine.now(), queue=q.name)
        choice = await session.play_prompt("queue_leave_menu", barge_in=True) or \
            await session.collect(1, timeout=5.0, terminator="")
        self.journal.emit("queue.leave_choice", entry.call_uuid, ts=self.engine.now(), queue=q.name, choice=choice)
        if choice == "1":
            return await self._to_callback(session, q, entry)
        if choice == "2":
            q.waiting.remove(entry)
            self.journal.emit("queue.left", entry.call_uuid, ts=self.engine.now(), queue=q.name, to="voicemail")
            return "voicemail"
        return None

    async def _overflow(self, session: Any, q: QueueRuntime, entry: Entry) -> str:
        """Waited max_wait: callback offer, voicemail, another queue, or back to the flow."""
        action = q.settings["overflow"]
        self.journal.emit("queue.timeout", entry.call_uuid, ts=self.engine.now(), queue=q.name, action=action)
        if action == "callback":
            outcome = await self._to_callback(session, q, entry)
            if outcome is not None:
                return outcome
        if entry in q.waiting:
            q.waiting.remove(entry)
        self._release_offer(entry)  # an offer made at the deadline must not hold agents while the caller goes on
        entry.busy, entry.offer = False, None
        if action == "voicemail":
            return "voicemail"
        if action == "queue" and q.settings.get("overflow_queue") in self.queues:
            return await self.enter(session, q.settings["overflow_queue"], entry.priority)
        return "timeout"

    async def _to_callback(self, session: Any, q: QueueRuntime, entry: Entry) -> str | None:
        """The caller confirms the number (or keys another), hangs up, and keeps their place in line."""
        number = session.caller_id
        choice = await session.play_prompt("callback_offer", barge_in=True) or \
            await session.collect(1, timeout=6.0, terminator="")
        if choice == "2" or not number:
            first = await session.play_prompt("enter_callback_number", barge_in=True)
            number = await session.collect(16, timeout=8.0, inter_digit_timeout=4.0, terminator="#", first=first)
        elif choice != "1":
            return None
        if not number or len(number) < 3:
            return None
        row = await session.services_create_callback(number, q.name, entry.joined_at)
        self._release_offer(entry)  # agents reserved while the caller was choosing are free again at once
        entry.busy, entry.offer = False, None
        waiting = self.callbacks.find(row.get("id"))
        if waiting is not None and waiting is not entry:  # this number already waits for a callback: one call
            q.waiting.remove(entry)
            waiting.joined_at = min(waiting.joined_at, entry.joined_at)  # the better of the two places
            self.journal.emit("queue.callback_requested", entry.call_uuid, ts=self.engine.now(), queue=q.name,
                              number=number, joined_at=waiting.joined_at, position=q.position(waiting),
                              already_waiting=True)
        else:
            entry.kind, entry.number, entry.callback_id = "callback", number, row.get("id")
            self.journal.emit("queue.callback_requested", entry.call_uuid, ts=self.engine.now(), queue=q.name,
                              number=number, joined_at=entry.joined_at, position=q.position(entry))
        await session.play_prompt("callback_done")
        self.dispatcher.poke()
        return "callback"

    # ---- agents from the API and the phone ---------------------------------------------------
    def agent_action(self, key: str, action: str, station: str | None = None, state: str | None = None,
                     reason: str | None = None, by: str = "api") -> dict:
        """login / logout / state for the API and feature codes; AgentError on bad requests."""
        agent = self.agents.get(key)
        if action == "login":
            if not station or self.devices.station(station) is None:
                raise AgentError(f"no station {station!r}")
            self.agents.login(agent, station, by=by)
        elif action == "logout":
            self.agents.logout(agent, by=by)
        elif action == "state":
            if state == "ready":
                self.agents.set_state(agent, AgentState.READY, by=by)
            elif state == "not_ready":
                self.agents.set_state(agent, AgentState.NOT_READY, reason, by=by)
            else:
                raise AgentError("state must be ready or not_ready")
        return agent.summary(self.engine.now())

    # ---- abandoned calls ---------------------------------------------------------------------
    async def abandoned(self, since: float) -> list[dict]:
        """Callers who hung up while waiting longer than the short-abandon threshold, with callback status."""
        def query() -> list[dict]:
            import json as _json
            from ..store.models import Event
            from ..store.service_models import Callback
            rows = []
            for e in (Event.select().where((Event.kind == "queue.abandoned") & (Event.ts >= since))
                      .order_by(Event.ts.desc())):
                data = _json.loads(e.data)
                if data.get("short"):
                    continue
                cb = (Callback.select().where((Callback.call_uuid == e.call_uuid)).order_by(Callback.id.desc())
                      .first())
                rows.append({"call": e.call_uuid, "queue": data.get("queue"), "caller": data.get("caller"),
                             "waited_s": data.get("waited"), "at": e.ts,
                             "callback": {"id": cb.id, "status": cb.status} if cb else None})
            return rows
        return await self.store.read(query)

    async def callback_abandoned(self, call_uuid: str, by: str) -> dict:
        """One step: queue a callback for an abandoned caller, in the place they had."""
        rows = [r for r in await self.abandoned(0.0) if r["call"] == call_uuid]
        if not rows:
            raise AgentError(f"no abandoned call {call_uuid}")
        row = rows[0]
        q = self.queues.get(row["queue"])
        if q is None or not row["caller"]:
            raise AgentError("the queue is gone or the caller number is unknown")
        if row["callback"] and row["callback"]["status"] in ("pending", "dialing"):
            return row["callback"]
        joined = row["at"] - (row["waited_s"] or 0.0)
        from ..service.lookups import create_callback
        cb = await self.store.write(lambda: create_callback(row["caller"], q.name, call_uuid=call_uuid,
                                                            joined_at=joined, note=f"abandoned; by {by}"))
        entry = new_entry(q.name, joined, call_uuid=call_uuid, caller_id=row["caller"], kind="callback",
                          number=row["caller"], callback_id=cb.get("id"))
        q.waiting.append(entry)
        self.journal.emit("queue.callback_requested", call_uuid, ts=self.engine.now(), queue=q.name,
                          number=row["caller"], joined_at=joined, by=by, source="abandoned")
        self.dispatcher.poke()
        return {"id": cb.get("id"), "status": cb.get("status")}
