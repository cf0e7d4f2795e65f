"""The daemon's CallContext: what flows do to a call, carried out with the engine, lines and journal."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from hotline.dialplan.context import ConnectResult
from hotline.drivers.base import HangupCause, LineKind, ToneKind

from .linecaps import HALF_DUPLEX_REASON, bridgeable
from .manager import Call, CallState, Leg, LegGone
from ..media.engine import ArrayPlayer
from hotline.drivers.common.tones import ToneGenerator
from ..media.wavio import read_wav_8k

if TYPE_CHECKING:
    from .manager import CallManager
    from .prompts import PromptLibrary

log = logging.getLogger("hotline.calls")
FAX_ANSWER_SECONDS = 6.0  # an answered number that sends the fax answer tone (CED) within this long is a fax machine
ANSWER_CONFIRM_TIMEOUT = 10.0  # seconds a line may take to confirm the box's answer before the call is dropped


class ToneSource:
    """A call-progress tone as a frame source, optionally limited in length."""

    def __init__(self, profile: str, name: str, seconds: float | None = None):
        self.gen = ToneGenerator.for_profile(profile, name)
        self.frames_left = None if seconds is None else max(1, int(round(seconds / 0.02)))

    def next_frame(self) -> np.ndarray | None:
        """The next frame, or None when the tone or its time is over."""
        if self.gen.finished or self.frames_left == 0:
            return None
        if self.frames_left is not None:
            self.frames_left -= 1
        return self.gen.next_frame()


class CallSession:
    """Implements dialplan.context.CallContext for one call."""

    def __init__(self, call: Call, manager: "CallManager", prompts: "PromptLibrary", tone_profile: str,
                 language: str, operator: str = ""):
        self.call = call
        self.m = manager
        self.engine = manager.engine
        self.prompts = prompts
        self.tone_profile = tone_profile
        self.language = language
        self.vars: dict[str, Any] = {"operator": operator}
        self._pushed: str | None = None
        self.on_input_wait: Any = None  # called when the flow waits for the caller's keys (dry runs press then)

    # ---- identity ------------------------------------------------------------------------------
    @property
    def uuid(self) -> str:
        """The call's uuid."""
        return self.call.uuid

    @property
    def caller_id(self) -> str:
        """The caller's number."""
        return self.call.caller_id

    @property
    def caller_name(self) -> str:
        """The caller's name when the network sent one."""
        return self.call.caller_name

    @property
    def dialed(self) -> str:
        """The number the caller dialled (DID)."""
        return self.call.dialed

    @property
    def direction(self) -> str:
        """inbound, internal or outbound."""
        return self.call.direction

    # ---- basics --------------------------------------------------------------------------------
    def _alive(self) -> Leg:
        call = self.call
        if call.state is CallState.ENDED or call.caller is None or call.caller.gone.done():
            raise LegGone(call.cause or HangupCause.NORMAL)
        return call.caller

    async def answer(self) -> None:
        """Answer the caller's line and wait until the line confirmed it (nothing is played before)."""
        self._alive()
        confirmed = self.m.answer(self.call)
        try:
            await self.engine.wait_for(asyncio.shield(confirmed), ANSWER_CONFIRM_TIMEOUT)
        except asyncio.TimeoutError:
            log.warning("event=answer_not_confirmed call=%s line=%s", self.uuid, self.call.caller.line.name)
            self.call.cause = self.call.cause or HangupCause.TIMEOUT
            raise LegGone(HangupCause.TIMEOUT) from None

    def _refused_half_duplex(self, what: str) -> bool:
        """True (journaled, logged) when the caller's line is half duplex: never bridged to anyone or queued."""
        line = self._alive().line
        if bridgeable(line):
            return False
        log.warning("event=bridge_refused call=%s line=%s what=%s reason=half_duplex", self.uuid, line.name, what)
        self.m.journal.emit("call.bridge_refused", self.uuid, line.name, ts=self.engine.now(), what=what,
                            reason=HALF_DUPLEX_REASON)
        return True

    async def hangup(self) -> None:
        """End the call now."""
        if self.call.state is not CallState.ENDED:
            await self.m.end(self.call, HangupCause.NORMAL)
        raise LegGone(HangupCause.NORMAL)

    def step(self, name: str, **data: Any) -> None:
        """Journal an IVR step (the caller's trail)."""
        self.m.journal.emit("ivr.step", self.call.uuid, ts=self.engine.now(), step=name, **data)

    async def sleep(self, seconds: float) -> None:
        """Wait on media time."""
        self._alive()
        await self.engine.sleep(seconds)

    # ---- audio out -----------------------------------------------------------------------------
    async def _play(self, leg: Leg, source: Any, barge_in: bool) -> str | None:
        ch = self.m.open_media(leg)
        done = self.engine.play(ch, source)
        if not barge_in:
            await done
            return None
        if not leg.digits.empty():
            self.engine.stop_source(ch)
            return leg.digits.get_nowait()
        getter = asyncio.ensure_future(leg.digits.get())
        try:
            finished, _ = await asyncio.wait({done, getter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
        if getter in finished and not getter.cancelled():
            self.engine.stop_source(ch)
            return getter.result()
        return None

    async def play_audio(self, samples: np.ndarray, barge_in: bool = False) -> str | None:
        """Play samples to the caller."""
        return await self._play(self._alive(), ArrayPlayer(samples), barge_in)

    async def play_prompt(self, prompt_id: str, barge_in: bool = False) -> str | None:
        """Play a prompt in the call's language; a missing prompt is logged and skipped politely."""
        leg = self._alive()
        try:
            samples = await self.prompts.get(prompt_id, self.language)
        except Exception as exc:
            log.error("event=prompt_failed call=%s prompt=%s error=%r", self.uuid, prompt_id, str(exc))
            self.m.journal.emit("call.error", self.uuid, ts=self.engine.now(), error=f"prompt {prompt_id}: {exc}")
            return None
        self.m.journal.emit("media.played", self.uuid, ts=self.engine.now(), prompt=prompt_id,
                            language=self.language)
        return await self._play(leg, ArrayPlayer(samples), barge_in)

    async def play_tone(self, name: str, seconds: float | None = None, until_digit: bool = False) -> str | None:
        """Play a call-progress tone of the configured country profile."""
        leg = self._alive()
        return await self._play(leg, ToneSource(self.tone_profile, name, seconds), until_digit)

    async def say_tokens(self, tokens: list[str], text: str, barge_in: bool = False) -> str | None:
        """Recorded digit prompts when every token has one, else the text through TTS."""
        leg = self._alive()
        samples = await self.prompts.tokens(tokens, self.language)
        if samples is None:
            samples = await self.prompts.speak(text, self.language)
        return await self._play(leg, ArrayPlayer(samples), barge_in)

    async def speak(self, text: str, barge_in: bool = False) -> str | None:
        """Dynamic text through TTS in the call's language."""
        leg = self._alive()
        samples = await self.prompts.speak(text, self.language)
        return await self._play(leg, ArrayPlayer(samples), barge_in)

    async def record(self, max_seconds: float, silence_seconds: float, beep: bool = True) -> np.ndarray:
        """What the caller says until #, silence after speech, or max_seconds (trailing silence trimmed)."""
        leg = self._alive()
        ch = self.m.open_media(leg)
        if beep:
            await self.play_tone("beep", seconds=0.5)
        while not leg.digits.empty():
            leg.digits.get_nowait()
        cap = self.engine.start_capture(ch)
        limit, quiet_limit = int(max_seconds * 50), int(silence_seconds * 50)
        quiet = 0
        try:
            while len(cap.frames) < limit:
                try:
                    d = await self.engine.wait_for(leg.digits.get(), 0.1)
                    if d == "#":
                        break
                except asyncio.TimeoutError:
                    pass
                recent = cap.frames[-5:]
                loud = [f for f in recent if np.sqrt(np.mean(f.astype(np.float32) ** 2)) > 200.0]
                quiet = 0 if loud else quiet + len(recent)
                if quiet >= quiet_limit:
                    break
        finally:
            self.engine.stop_capture(cap)
        audio = np.concatenate(cap.frames) if cap.frames else np.zeros(0, np.int16)
        keep = len(audio) - min(quiet, len(cap.frames)) * 160 + 4000  # keep 0.5 s after the last sound
        return audio[:max(0, min(len(audio), keep))]

    async def connect_any(self, extensions: list[str], ring_timeout: float = 30.0) -> ConnectResult:
        """Ring every free station of a group; the first to answer is bridged, the others stop ringing."""
        result, winner = await self.ring_group(extensions, ring_timeout)
        if winner is None:
            return result
        return await self.bridge_leg(winner)

    async def ring_group(self, extensions: list[str], ring_timeout: float,
                         follow: list[tuple[str, float]] | tuple = ()) -> tuple[ConnectResult, Leg | None]:
        """Ring stations together with ringback to the caller; (result, the leg that answered or None).
        follow: (number, after seconds) pairs dialled through a free trunk once the stations have rung that
        long (follow-me); whichever answers first wins. A station dialling *8 may pick the call up."""
        caller = self._alive()
        if self._refused_half_duplex("ring_group"):
            return ConnectResult.UNAVAILABLE, None
        free = [st for st in (self.m.devices.free_station(e, self.m.owner) for e in extensions) if st is not None]
        if not free and not follow:
            return (ConnectResult.BUSY if extensions else ConnectResult.UNAVAILABLE), None
        legs = [self.m.new_leg(self.call, st, "station") for st in free]
        pickup: asyncio.Future = asyncio.get_running_loop().create_future()
        for leg in legs:
            self.m.ringing[leg.line.name] = (leg, pickup)
        for st in free:
            st.ring(self.caller_id, self.caller_name)
        ch = self.m.open_media(caller)
        self.engine.play(ch, ToneSource(self.tone_profile, "ringback"))
        winner = None
        timer = self.engine.sleep(ring_timeout)
        follows = {self.engine.sleep(after): number for number, after in follow}
        try:
            while winner is None:
                waiting = {leg.answered for leg in legs if not leg.answered.done()}
                if not waiting and not follows:
                    break  # every phone rang out or was busy, nobody else to try
                await asyncio.wait(waiting | set(follows) | {timer, pickup}, return_when=asyncio.FIRST_COMPLETED)
                if pickup.done():
                    winner = pickup.result()
                    break
                winner = next((leg for leg in legs if leg.answered.done() and not leg.answered.exception()), None)
                if winner is not None or timer.done():
                    break
                for fired in [t for t in follows if t.done()]:
                    leg = self._follow_me(follows.pop(fired))
                    if leg is not None:
                        legs.append(leg)
        finally:
            timer.cancel()
            for t in follows:
                t.cancel()
            for leg in legs:
                if self.m.ringing.get(leg.line.name, (None, None))[1] is pickup:
                    del self.m.ringing[leg.line.name]
            if not pickup.done():
                pickup.cancel()
            self.engine.stop_source(ch)
            for leg in legs:
                if leg is not winner:
                    leg.lost(HangupCause.NO_ANSWER if winner is None else HangupCause.NORMAL)
                    self.m.end_leg(leg, HangupCause.NO_ANSWER)
        if winner is None:
            busy = all(leg.gone.done() and leg.gone.result() is HangupCause.BUSY for leg in legs)
            return (ConnectResult.BUSY if busy else ConnectResult.NO_ANSWER), None
        self.m.journal.emit("leg.answered", winner.uuid, winner.line.name, ts=self.engine.now(), parent=self.uuid)
        return ConnectResult.COMPLETED, winner

    def _follow_me(self, number: str) -> Leg | None:
        """Follow-me: dial an agent's outside number through a free trunk as one more leg of the offer."""
        trunk = self.m.devices.free_trunk()
        if trunk is None:
            fax_only = self.m.devices.fax_only_trunks()
            self.m.journal.emit("call.follow_me_failed", self.uuid, ts=self.engine.now(), number=number,
                                reason="no_trunk", **({"fax_only": fax_only} if fax_only else {}))
            return None
        leg = self.m.new_leg(self.call, trunk, "outbound", dialed=number)
        leg.dialed = number
        self.m.journal.emit("call.dialing", self.uuid, trunk.name, ts=self.engine.now(), number=number,
                            follow_me=True)
        trunk.dial(number)
        return leg

    def pickup(self, extension: str | None) -> bool:
        """Call pickup from this station's own (internal) call: *8 answers a call ringing at a station of the
        same pickup group (agents sharing a queue with the agent logged in here), *8<ext> the call ringing at
        that extension. The line moves into the ringing call; this session no longer owns it."""
        me = self.call.caller
        if me is None or self.call.direction != "internal" or me.ended or me.gone.done():
            return False
        mine = me.line.extension
        answered = {fut for leg, fut in self.m.ringing.values()  # a phone of that offer answered: too late
                    if leg.answered.done() and not leg.answered.exception()}
        candidates = [(leg, fut) for leg, fut in self.m.ringing.values()
                      if not fut.done() and fut not in answered and not leg.answered.done()
                      and leg.call is not self.call
                      and leg.call.state is not CallState.ENDED and leg.line.name != me.line.name]
        if extension:
            found = next(((leg, fut) for leg, fut in candidates if leg.line.extension == extension), None)
        else:
            group = self._pickup_group(mine)
            found = next(((leg, fut) for leg, fut in candidates if leg.line.extension in group), None)
        if found is None:
            self.m.journal.emit("call.pickup_failed", self.uuid, ts=self.engine.now(), target=extension or "group")
            return False
        ringing, fut = found
        target = ringing.call
        if me.channel is not None:  # the line leaves its own call: that call's end() must not hang it up
            self.engine.close_channel(me.channel)
            me.channel = None
        me.ended = True
        leg = self.m.new_leg(target, me.line, "station")
        leg.answered.set_result(True)
        self.m.journal.emit("call.picked_up", target.uuid, me.line.name, ts=self.engine.now(), by=mine,
                            **{"from": ringing.line.extension}, leg=leg.uuid, internal_call=self.uuid)
        fut.set_result(leg)
        return True

    def _pickup_group(self, extension: str) -> set[str]:
        """Stations in the same pickup group: those of logged-in agents sharing an ACD queue with this
        station's agent (no agent logged in here: no group)."""
        acd = getattr(self.m, "acd", None)
        me = acd.agents.at_station(extension) if acd is not None else None
        if me is None:
            return set()
        ids: set[int] = set()
        for q in acd.queues.values():
            members = q.member_ids()
            if me.id in members:
                ids |= members
        return {a.station for a in acd.agents.agents.values()
                if a.id in ids and a is not me and a.station and a.station != extension}

    async def bridge_leg(self, leg: Leg) -> ConnectResult:
        """Bridge the caller with an answered leg until one side hangs up (hook flash transfers)."""
        return await self._bridged(leg)

    def feature_code(self, code: str) -> bool:
        """Feature codes dialled on this station: *8 / *8<ext> call pickup (on success this session no longer
        owns the line), the rest are agent codes the ACD carries out."""
        if code.startswith("*8"):
            return self.pickup(code[2:] or None)
        acd = getattr(self.m, "acd", None)
        return bool(acd and self.call.caller and acd.feature_code(self.call.caller.line.extension, code))

    async def say_value(self, value: str, kind: str) -> None:
        """Speak a number, money amount, digits... in the call's language (recorded digits or speech)."""
        from hotline.dialplan.say import say, tokens_to_text
        tokens = say(value, kind, self.language)
        await self.say_tokens(tokens, tokens_to_text(tokens, self.language))

    async def services_create_callback(self, number: str, queue: str, joined_at: float) -> dict:
        """A callback row that keeps the caller's original join time."""
        from ..service.lookups import create_callback
        return await self.m.store.write(lambda: create_callback(number, queue, call_uuid=self.uuid,
                                                                joined_at=joined_at, language=self.language))

    # ---- digits --------------------------------------------------------------------------------
    async def collect(self, max_digits: int, timeout: float = 5.0, inter_digit_timeout: float = 3.0,
                      terminator: str = "#", first: str | None = None, total_timeout: float | None = None) -> str:
        """Collect keys until max_digits, the terminator, a timeout, or the total time is up."""
        leg = self._alive()
        return await self._collect(leg, max_digits, timeout, inter_digit_timeout, terminator, first, total_timeout)

    async def play_file(self, name: str, barge_in: bool = False) -> str | None:
        """A WAV file under the prompts directory; a missing or bad file is journaled and skipped."""
        leg = self._alive()
        base = self.prompts.dir.resolve()
        path = (base / name).resolve()
        try:
            if base not in path.parents:
                raise ValueError("outside the prompts directory")
            samples = await asyncio.get_running_loop().run_in_executor(None, read_wav_8k, path)
        except (OSError, ValueError) as exc:
            self.m.journal.emit("call.error", self.uuid, ts=self.engine.now(), error=f"play file {name}: {exc}")
            return None
        self.m.journal.emit("media.played", self.uuid, ts=self.engine.now(), file=name)
        return await self._play(leg, ArrayPlayer(samples), barge_in)

    def push_back(self, key: str) -> None:
        """Keep a key that stopped a prompt for the next step."""
        self._pushed = key

    def take_pushed(self) -> str | None:
        """The kept key, once."""
        key, self._pushed = self._pushed, None
        return key

    async def _collect(self, leg: Leg, max_digits: int, timeout: float, inter: float, terminator: str,
                       first: str | None, total: float | None = None) -> str:
        if first is None and leg is self.call.caller:
            first = self.take_pushed()
        digits = ""
        if first:
            if first == terminator:
                return ""
            digits = first
        if not digits and leg.digits.empty() and self.on_input_wait is not None and leg is self.call.caller:
            self.on_input_wait()
        ends_at = self.engine.now() + total if total else None
        while len(digits) < max_digits:
            wait = timeout if not digits else inter
            if ends_at is not None:
                wait = min(wait, ends_at - self.engine.now())
                if wait <= 0:
                    break
            try:
                d = await self.engine.wait_for(leg.digits.get(), wait)
            except asyncio.TimeoutError:
                break
            if d == terminator:
                break
            digits += d
        return digits

    # ---- connecting ----------------------------------------------------------------------------
    async def connect(self, extension: str, ring_timeout: float = 30.0) -> ConnectResult:
        """Ring a station (caller hears ringback) and bridge; a hook flash by the agent transfers."""
        self._alive()
        station = self.m.devices.station(extension)
        if station is None or not station.up or self._refused_half_duplex("connect"):
            return ConnectResult.UNAVAILABLE
        station = self.m.devices.free_station(extension, self.m.owner)   # busy: the phone's next line, if any
        if station is None:
            return ConnectResult.BUSY
        leg = self.m.new_leg(self.call, station, "station")
        station.ring(self.caller_id, self.caller_name)
        return await self._ring_and_bridge(leg, ring_timeout)

    async def dial_out(self, number: str, ring_timeout: float = 30.0, end_on_fax: bool = False) -> ConnectResult:
        """Dial out through a free trunk and bridge; with ``end_on_fax`` (calls the box makes for an agent) a fax
        machine's answer tone in the first seconds ends the call: ConnectResult.FAX."""
        self._alive()
        if self._refused_half_duplex("dial_out"):
            return ConnectResult.UNAVAILABLE
        trunk = self.m.devices.free_trunk()
        if trunk is None:
            fax_only = self.m.devices.fax_only_trunks()
            log.warning("event=dial_failed call=%s reason=no_trunk fax_only=%s", self.uuid, ",".join(fax_only))
            self.m.journal.emit("call.dial_failed", self.uuid, ts=self.engine.now(), number=number,
                                reason="no_trunk", **({"fax_only": fax_only} if fax_only else {}))
            return ConnectResult.UNAVAILABLE
        leg = self.m.new_leg(self.call, trunk, "outbound", dialed=number)
        self.m.journal.emit("call.dialing", self.uuid, trunk.name, ts=self.engine.now(), number=number)
        trunk.dial(number)
        return await self._ring_and_bridge(leg, ring_timeout, end_on_fax)

    async def _ring_and_bridge(self, leg: Leg, ring_timeout: float, end_on_fax: bool = False) -> ConnectResult:
        caller = self._alive()
        ch = self.m.open_media(caller)
        self.engine.play(ch, ToneSource(self.tone_profile, "ringback"))
        pickup: asyncio.Future = asyncio.get_running_loop().create_future()
        station, ring_line = leg.line.kind is LineKind.STATION, leg.line.name
        if station:  # a ringing station may be picked up from another one (*8<ext>, or *8 in its group)
            self.m.ringing[ring_line] = (leg, pickup)
        try:
            first = asyncio.ensure_future(asyncio.wait({leg.answered, pickup}, return_when=asyncio.FIRST_COMPLETED))
            await self.engine.wait_for(first, ring_timeout)
            if pickup.done():
                picked = pickup.result()
                leg.lost(HangupCause.NORMAL)
                self.m.end_leg(leg, HangupCause.NORMAL)
                leg = picked
            else:
                leg.answered.result()  # raises LegGone when the far end was busy or hung up
        except asyncio.TimeoutError:
            leg.lost(HangupCause.NO_ANSWER)
            self.m.end_leg(leg, HangupCause.NO_ANSWER)
            self.engine.stop_source(ch)
            return ConnectResult.NO_ANSWER
        except LegGone as exc:
            self.m.end_leg(leg, exc.cause)
            self.engine.stop_source(ch)
            return ConnectResult.BUSY if exc.cause is HangupCause.BUSY else ConnectResult.NO_ANSWER
        finally:
            if station and self.m.ringing.get(ring_line, (None, None))[1] is pickup:
                del self.m.ringing[ring_line]
            if not pickup.done():
                pickup.cancel()
        self.engine.stop_source(ch)
        self.m.journal.emit("leg.answered", leg.uuid, leg.line.name, ts=self.engine.now(), parent=self.uuid)
        return await self._bridged(leg, self._fax_watch(leg) if end_on_fax else None)

    def _fax_watch(self, leg: Leg) -> asyncio.Future:
        """A future set when the answered leg sends the fax answer tone (CED) within FAX_ANSWER_SECONDS."""
        heard: asyncio.Future = asyncio.get_running_loop().create_future()
        ch, until = self.m.open_media(leg), self.engine.now() + FAX_ANSWER_SECONDS

        def tone(kind: ToneKind) -> None:       # in the tick
            if not heard.done() and self.engine.now() <= until:
                heard.set_result(kind)
        self.engine.watch_tones(ch, tone, (ToneKind.FAX_CED,))

        async def window() -> None:             # the watch ends with the window (or with the leg's channel)
            await self.engine.sleep(FAX_ANSWER_SECONDS + 0.5)
            if ch.open:
                self.engine.unwatch_tones(ch)
            if not heard.done():
                heard.cancel()
        task = asyncio.ensure_future(window())
        heard.add_done_callback(lambda _f: task.cancel() if not task.done() else None)
        return heard

    async def _bridged(self, leg: Leg, fax: asyncio.Future | None = None) -> ConnectResult:
        call, caller = self.call, self._alive()
        edges = self.engine.bridge(self.m.open_media(caller), self.m.open_media(leg))
        call.state, call.peer = CallState.BRIDGED, leg
        call.bridged_at = call.bridged_at or self.engine.now()
        peer_name = leg.line.extension or leg.line.name
        self.m.journal.emit("call.bridged", self.uuid, ts=self.engine.now(), peer=peer_name, leg=leg.uuid)
        while True:
            flash = asyncio.ensure_future(leg.flashes.get())
            waits = {leg.gone, flash} | ({fax} if fax is not None and not fax.done() else set())
            # while the two talk, nobody reads in-band keys and the caller's fax calling tone would not be taken
            # (fax.detected not_in_ivr): neither side is analysed (the peer's fax answer tone still is, for
            # ``fax``); the hold, transfer and hang-up below listen again
            talking = (self.m.open_media(caller), self.m.open_media(leg))
            self.engine.listen(talking[0], False)
            self.engine.listen(talking[1], False, tones=False)
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not flash.done():
                    flash.cancel()
                self.engine.listen(talking[0], True)
                self.engine.listen(talking[1], True, tones=False)
                while not caller.digits.empty():     # keys sent as events while talking are not for the flow after
                    caller.digits.get_nowait()
            if fax is not None and fax.done() and not fax.cancelled() and not leg.gone.done():
                self.engine.disconnect(*edges)    # a fax machine answered: nobody to talk to, and no retry helps
                self.m.journal.emit("call.fax_answered", self.uuid, ts=self.engine.now(), peer=peer_name,
                                    leg=leg.uuid, tone=fax.result().value)
                self.m.journal.emit("call.unbridged", self.uuid, ts=self.engine.now(), peer=peer_name, by="fax")
                self.m.end_leg(leg, HangupCause.NORMAL)
                call.peer = None
                return ConnectResult.FAX
            if leg.gone.done():
                self.engine.disconnect(*edges)
                self.m.journal.emit("call.unbridged", self.uuid, ts=self.engine.now(), peer=peer_name,
                                    by="peer")
                self.m.end_leg(leg)
                call.peer = None
                return ConnectResult.COMPLETED
            request = flash.result()
            if isinstance(request, tuple) and request[0] == "hold":
                new_peer = await self._hold(leg, edges, request[1])
                if leg.gone.done() and new_peer is None:
                    continue  # the agent hung up while holding: the loop ends the bridge
                edges = self.engine.bridge(self.m.open_media(caller), self.m.open_media(new_peer or leg))
                if new_peer is not None:  # attended transfer completed: talk on with the colleague
                    leg, call.peer = new_peer, new_peer
                    peer_name = leg.line.extension or leg.line.name
                    self.m.journal.emit("call.bridged", self.uuid, ts=self.engine.now(), peer=peer_name, leg=leg.uuid)
                else:
                    self.m.journal.emit("call.resumed", self.uuid, ts=self.engine.now(), by=request[1])
                continue
            if isinstance(request, tuple):  # ("transfer", extension, by): a supervisor moves the call
                self.engine.disconnect(*edges)
                self.m.journal.emit("call.unbridged", self.uuid, ts=self.engine.now(), peer=peer_name,
                                    by="supervisor")
                target, mode = request[1], "forced"
            else:
                target, mode = await self._transfer_target(leg, edges), "blind"
            if target is None:
                edges = self.engine.bridge(self.m.open_media(caller), self.m.open_media(leg))
                continue
            self.m.journal.emit("call.transferred", self.uuid, ts=self.engine.now(), mode=mode,
                                source=peer_name, target=target)
            self.m.end_leg(leg)
            call.peer = None
            return await self._transfer_to(target)

    async def _transfer_to(self, target: str) -> ConnectResult:
        """A transfer target: a station extension, "number:<digits>" through a trunk, or "queue:<name>"."""
        kind, _, value = target.partition(":") if ":" in target else ("extension", "", target)
        if kind == "queue":
            acd = getattr(self.m, "acd", None)
            outcome = await acd.enter(self, value) if acd is not None and value in acd.queues else "unavailable"
            return ConnectResult.TRANSFERRED if outcome == "completed" else ConnectResult.UNAVAILABLE
        result = await (self.dial_out(value) if kind == "number" else self.connect(value))
        return ConnectResult.TRANSFERRED if result is ConnectResult.COMPLETED else result

    async def _hold(self, leg: Leg, edges: list, by: str) -> Leg | None:
        """The caller hears music until the agent resumes; meanwhile the agent may consult another station
        and complete an attended transfer. Returns the new peer after a completed transfer, else None."""
        from ..acd.manager import hold_music
        caller = self._alive()
        self.engine.disconnect(*edges)
        self.call.vars["held"] = True
        self.m.journal.emit("call.held", self.uuid, ts=self.engine.now(), by=by)
        ch = self.m.open_media(caller)
        acd = getattr(self.m, "acd", None)  # the queue's music when the call came through one (moh:)
        music = await acd.moh.music(self.call.vars.get("moh")) if acd is not None else None
        self.engine.play(ch, ArrayPlayer(hold_music() if music is None else music, loop=True))
        consult: Leg | None = None
        consult_edges: list = []
        try:
            while True:
                waits = {leg.gone, asyncio.ensure_future(leg.flashes.get())}
                if consult is not None:
                    waits.add(consult.gone)
                request = next(w for w in waits if isinstance(w, asyncio.Task))
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not request.done():
                        request.cancel()
                if leg.gone.done():
                    return None
                if consult is not None and consult.gone.done():  # the colleague hung up: back to plain hold
                    self.engine.disconnect(*consult_edges)
                    self.m.end_leg(consult)
                    self.m.journal.emit("call.consult_ended", self.uuid, ts=self.engine.now(), by="colleague")
                    consult, consult_edges = None, []
                if not request.done() or request.cancelled():
                    continue
                item = request.result()
                kind = item[0] if isinstance(item, tuple) else "resume"  # a hook flash resumes
                if kind == "consult" and consult is None:
                    consult = await self._consult(leg, item[1], item[2])
                    if consult is not None:
                        consult_edges = self.engine.bridge(self.m.open_media(leg), self.m.open_media(consult))
                elif kind == "complete" and consult is not None:
                    self.engine.disconnect(*consult_edges)
                    self.m.journal.emit("call.transferred", self.uuid, ts=self.engine.now(), mode="attended",
                                        source=leg.line.extension, target=consult.line.extension, by=item[1])
                    self.m.end_leg(leg)
                    return consult
                elif kind == "resume":
                    if consult is not None:
                        self.engine.disconnect(*consult_edges)
                        self.m.end_leg(consult)
                    return None
        finally:
            self.engine.stop_source(ch)
            self.call.vars["held"] = False

    async def _consult(self, leg: Leg, extension: str, by: str) -> Leg | None:
        """Ring a colleague for the agent (the caller stays on hold); the answered leg, or None."""
        station = self.m.devices.free_station(extension, self.m.owner)
        if station is None:
            self.m.journal.emit("call.consult_failed", self.uuid, ts=self.engine.now(), target=extension,
                                reason="unavailable")
            return None
        consult = self.m.new_leg(self.call, station, "station")
        station.ring(self.caller_id, self.caller_name)
        self.m.journal.emit("call.consult", self.uuid, ts=self.engine.now(), target=extension, by=by)
        try:
            await self.engine.wait_for(asyncio.shield(consult.answered), 30.0)
        except (asyncio.TimeoutError, LegGone):
            consult.lost(HangupCause.NO_ANSWER)
            self.m.end_leg(consult, HangupCause.NO_ANSWER)
            self.m.journal.emit("call.consult_failed", self.uuid, ts=self.engine.now(), target=extension,
                                reason="no_answer")
            return None
        self.m.journal.emit("leg.answered", consult.uuid, consult.line.name, ts=self.engine.now(), parent=self.uuid)
        return consult

    async def _transfer_target(self, leg: Leg, edges: list) -> str | None:
        """After a hook flash: hold the caller, give the agent dial tone, read the target extension."""
        caller = self._alive()
        self.engine.disconnect(*edges)
        self.m.journal.emit("call.unbridged", self.uuid, ts=self.engine.now(), peer=leg.line.extension,
                            by="flash")
        self.engine.play(self.m.open_media(caller), ToneSource(self.tone_profile, "ringback"))
        first = await self._play(leg, ToneSource(self.tone_profile, "dial", 10.0), True)
        digits = await self._collect(leg, 4, 5.0, 3.0, "#", first) if first else ""
        station = self.m.devices.station(digits) if digits else None
        if station is None or not station.up or station.name in self.m.owner:
            self.m.journal.emit("call.transfer_failed", self.uuid, ts=self.engine.now(), target=digits)
            self.engine.stop_source(self.m.open_media(caller))
            return None
        return digits
