"""The QA API: drive the simulated card's callers and agent phones from outside the process."""
from __future__ import annotations

import json

import numpy as np
import tornado.web
import tornado.websocket

from hotline.daemon.box.procwork import off_loop_sized
from hotline.daemon.media.wavio import wav_bytes
from hotline.daemon.calls.simctl import SimError
from hotline.daemon.calls.simctl import SimCallRefused, SimError
from hotline.daemon.calls.simctl import SimError, decode_audio

from ..limits import upload
from .base import AuthMixin, BaseHandler
from .inputs import text_field

QA = ("qa",)


class SimHandler(BaseHandler):
    """Base of the QA handlers: SimError becomes a JSON 4xx."""

    roles = QA

    @property
    def sim(self):
        """The QA controller."""
        return self.services["sim"]

    def json_body(self) -> dict:
        """The JSON body; any text in it with invalid Unicode is a 400 naming the field."""
        from hotline.daemon.calls.text import find_invalid
        body = super().json_body()
        problem = find_invalid(body)
        if problem:
            raise tornado.web.HTTPError(400, reason=problem)
        return body

    def fail(self, exc: SimError) -> None:
        """Answer with the controller's error (a refused call: 503, Retry-After, its id and the reason)."""
        doc = {"error": str(exc), "status": exc.status}
        if isinstance(exc, SimCallRefused):
            self.set_header("Retry-After", str(exc.retry_after))
            doc.update(id=exc.call_id, line=exc.line, reason=exc.reason)
        self.write_json(doc, exc.status)

    def send_heard(self, fetch, filename: str) -> None:
        """Captured audio as an 8 kHz mono WAV download (or the controller's error)."""
        try:
            samples = fetch()
        except SimError as exc:
            return self.fail(exc)
        self.set_header("Content-Type", "audio/wav")
        self.set_header("Content-Disposition", f'attachment; filename="{filename}"')
        self.finish(wav_bytes(samples))


class SimCallsHandler(SimHandler):
    """GET /api/v1/sim/calls: calls in progress; POST: a caller rings in."""

    def get(self) -> None:
        """Every call in progress on the box (any line), newest first; a simulated caller's also with the keys the
        box heard from them (never a real caller's: those may be PINs)."""
        calls = sorted(({**c.summary(), **({"keys": c.keys} if c.uuid in self.sim.sim_calls else {})}
                        for c in self.services["calls"].calls.values()),
                       key=lambda c: c["offered_at"], reverse=True)
        self.write_json({"calls": calls})

    async def post(self) -> None:
        """Place a call on a free trunk: 201 once the call is in the journal (a crash then still ends it with
        its CDR at the next start), or 503 with Retry-After when admission control refuses it."""
        body = self.json_body()
        name, to = text_field(body, "name", max_len=200, default=""), text_field(body, "to", max_len=64, default="")
        try:
            sc = await self.sim.place_call_async(body.get("from"), name, to, text_field(body, "line", max_len=64))
        except SimError as exc:
            return self.fail(exc)
        try:
            await self.services["journal"].flush()
        except Exception:  # the journal keeps the events and says it is failing (/healthz): the call goes on
            pass
        self.write_json({"id": sc.id, "line": sc.line.name}, 201)


class SimCallHandler(SimHandler):
    """GET (state and journal) and DELETE (caller hangs up) one simulated call."""

    async def get(self, call_id: str) -> None:
        """State, hangup cause and the call's journal events."""
        from hotline.daemon.calls.journal import events_for
        try:
            state = self.sim.state(call_id)
        except SimError as exc:
            return self.fail(exc)
        await self.services["journal"].flush()
        state["events"] = await self.services["store"].read(events_for, call_id)
        self.write_json(state)

    def delete(self, call_id: str) -> None:
        """The caller hangs up."""
        try:
            self.sim.hangup(call_id)
        except SimError as exc:
            return self.fail(exc)
        self.write_json({"id": call_id, "hung_up": True})


class SimDtmfHandler(SimHandler):
    """POST .../dtmf: the caller presses keys."""

    def post(self, call_id: str) -> None:
        """Queue keys as real audio (inband) or signalled out of band."""
        b = self.json_body()
        try:
            secs = self.sim.send_dtmf(call_id, b.get("digits"), b.get("mode", "inband"), b.get("tone_ms", 80),
                                      b.get("gap_ms", 80), b.get("level_dbm0", -10.0), b.get("twist_db", 0.0),
                                      b.get("freq_offset", 0.0))
        except SimError as exc:
            return self.fail(exc)
        self.write_json({"queued": b.get("digits"), "seconds": secs}, 202)


@upload(50 * 1024 * 1024 + 64 * 1024)
class SimAudioHandler(SimHandler):
    """POST .../audio with a WAV body: the caller speaks."""

    async def post(self, call_id: str) -> None:
        """Queue the WAV's audio (decoded and resampled off the event loop)."""
        if len(self.request.body) > 50 * 1024 * 1024:
            return self.fail(SimError("audio: at most 50 MB", 413))
        try:
            self.sim.get(call_id)  # a call that does not exist is answered before any decoding
            samples = await off_loop_sized(len(self.request.body), decode_audio, self.request.body)
            self.sim.send_samples(call_id, samples)
        except SimError as exc:
            return self.fail(exc)
        self.write_json({"seconds": round(len(samples) / 8000.0, 3)}, 202)


class SimHeardHandler(SimHandler):
    """GET .../heard.wav: what the caller heard, 8 kHz mono WAV."""

    def get(self, call_id: str) -> None:
        """Send the captured audio."""
        self.send_heard(lambda: self.sim.heard(call_id), f"heard-{call_id}.wav")


class SimMediaSocket(AuthMixin, tornado.websocket.WebSocketHandler):
    """GET .../media as a WebSocket: 320-byte frames (20 ms, s16le, 8 kHz) both ways."""

    roles = QA

    def initialize(self, services: dict) -> None:  # noqa: D401 - tornado hook
        """Receive the daemon's services."""
        self.services = services

    async def get(self, call_id: str) -> None:  # type: ignore[override]
        """Authenticate before the upgrade, then hand over to the WebSocket machinery."""
        await self.resolve_user()
        self.authorize()
        self.call_id = call_id
        try:
            self.services["sim"].get(call_id)
        except SimError as exc:
            raise tornado.web.HTTPError(exc.status, reason=str(exc)) from None
        await super().get(call_id)

    def open(self, call_id: str) -> None:  # type: ignore[override]
        """Start forwarding what the caller hears."""
        self.services["sim"].add_listener(call_id, self._heard)

    def _heard(self, frame: np.ndarray) -> None:
        try:
            self.write_message(frame.astype("<i2").tobytes(), binary=True)
        except tornado.websocket.WebSocketClosedError:
            pass

    def on_message(self, message: bytes | str) -> None:
        """Binary frames are what the caller says."""
        if isinstance(message, str) or len(message) % 2:
            self.close(1003, "send binary s16le frames")
            return
        try:
            self.services["sim"].send_samples(self.call_id, np.frombuffer(message, dtype="<i2"))
        except SimError:
            self.close(1000, "call ended")

    def on_close(self) -> None:
        """Stop forwarding."""
        self.services["sim"].remove_listener(self.call_id, self._heard)


class SimNumberMediaSocket(AuthMixin, tornado.websocket.WebSocketHandler):
    """GET /api/v1/sim/numbers/{number}/media as a WebSocket: this client answers ``number`` when the box dials it
    through a simulated trunk. Text messages out: {"event": "claimed"}, {"event": "ringing", "line", "call"},
    {"event": "answered"}, {"event": "ended", "by": "box"|"far"}; in: {"action": "answer"|"hangup"}. Once
    answered, binary 320-byte frames (20 ms, s16le, 8 kHz) flow both ways, as on .../calls/{id}/media.
    ``?answer=auto`` answers as soon as it rings."""

    roles = QA

    def initialize(self, services: dict) -> None:  # noqa: D401 - tornado hook
        """Receive the daemon's services."""
        self.services = services
        self.number = ""
        self.claimed = False

    async def get(self, number: str) -> None:  # type: ignore[override]
        """Authenticate and claim the number before the upgrade (409 when another client has it)."""
        await self.resolve_user()
        self.authorize()
        if self.request.headers.get("Upgrade", "").lower() != "websocket":  # before claiming anything
            raise tornado.web.HTTPError(400, reason='Can "Upgrade" only to "WebSocket".')
        self.number = number
        self.auto = self.get_query_argument("answer", "") == "auto"
        try:
            self.services["sim_numbers"].claim(number, self)
        except SimError as exc:
            raise tornado.web.HTTPError(exc.status, reason=str(exc)) from None
        self.claimed = True
        await super().get(number)
        if self.get_status() != 101 and self.claimed:  # the upgrade was refused: give the number back
            self.services["sim_numbers"].release(number, self)
            self.claimed = False

    def open(self, number: str) -> None:  # type: ignore[override]
        """Say the number is ours."""
        self._send({"event": "claimed", "number": number})

    def _send(self, doc: dict) -> None:
        try:
            self.write_message(json.dumps(doc))
        except tornado.websocket.WebSocketClosedError:
            pass

    def on_ring(self, line: str, call_uuid: str | None) -> None:
        """The box dialled the number."""
        self._send({"event": "ringing", "line": line, "call": call_uuid})
        if self.auto:
            self._answer()

    def on_end(self, by: str) -> None:
        """The call at the number ended."""
        self._send({"event": "ended", "by": by})

    def _heard(self, frame: np.ndarray) -> None:
        try:
            self.write_message(frame.astype("<i2").tobytes(), binary=True)
        except tornado.websocket.WebSocketClosedError:
            pass

    def _answer(self) -> None:
        try:
            line = self.services["sim_numbers"].answer(self.number, self._heard)
        except SimError as exc:
            self._send({"error": str(exc)})
            return
        self._send({"event": "answered", "line": line})

    def on_message(self, message: bytes | str) -> None:
        """Text: an action; binary: what the far end sends."""
        numbers = self.services["sim_numbers"]
        if isinstance(message, str):
            try:
                action = json.loads(message).get("action")
            except (ValueError, AttributeError):
                action = None
            if action == "answer":
                self._answer()
            elif action == "hangup":
                try:
                    numbers.hangup(self.number)
                except SimError as exc:
                    self._send({"error": str(exc)})
            else:
                self._send({"error": 'send {"action": "answer"} or {"action": "hangup"}, or binary s16le frames'})
            return
        if len(message) % 2:
            self.close(1003, "send binary s16le frames")
            return
        try:
            numbers.send(self.number, np.frombuffer(message, dtype="<i2"))
        except SimError as exc:
            self._send({"error": str(exc)})

    def on_close(self) -> None:
        """Give the number back (a call in progress at it is hung up)."""
        if self.claimed:
            self.claimed = False
            self.services["sim_numbers"].release(self.number, self)


class SimStationsHandler(SimHandler):
    """GET /api/v1/sim/stations."""

    def get(self) -> None:
        """Every simulated agent phone."""
        self.write_json({"stations": self.sim.stations()})


@upload(50 * 1024 * 1024 + 64 * 1024)
class SimStationActionHandler(SimHandler):
    """POST /api/v1/sim/stations/{ext}/answer|hangup|dtmf|dial|flash|audio (audio: a WAV body)."""

    def json_body(self) -> dict:
        """The audio action carries a WAV, not JSON."""
        return {} if self.path_args and self.path_args[-1] == "audio" else super().json_body()

    async def sim_station_audio(self, ext: str) -> float:
        """The agent speaks a WAV (decoded and resampled off the event loop)."""
        samples = await off_loop_sized(len(self.request.body), decode_audio, self.request.body)
        self.sim.station_send(ext, samples)
        return len(samples) / 8000.0

    async def post(self, ext: str, action: str) -> None:
        """Do what the agent does on the phone."""
        b = self.json_body()
        try:
            if action == "answer":
                self.sim.station_answer(ext)
                result: dict = {}
            elif action == "hangup":
                self.sim.station_hangup(ext)
                result = {}
            elif action == "flash":
                self.sim.station_flash(ext)
                result = {}
            elif action == "audio":
                secs = await self.sim_station_audio(ext)
                result = {"seconds": secs}
            elif action == "dtmf":
                result = {"seconds": self.sim.station_dtmf(ext, b.get("digits"), b.get("mode", "inband"),
                                                           b.get("tone_ms", 80), b.get("gap_ms", 80))}
            else:
                result = {"action": await self.sim.station_dial(ext, b.get("number"))}
        except SimError as exc:
            return self.fail(exc)
        self.write_json({"extension": ext, "done": action, **result})


class SimStationHeardHandler(SimHandler):
    """GET /api/v1/sim/stations/{ext}/heard.wav: what the agent's phone heard in its current or last call."""

    def get(self, ext: str) -> None:
        """Send the captured audio."""
        self.send_heard(lambda: self.sim.station_heard(ext), f"heard-station-{ext}.wav")


class SimLineFaultsHandler(SimHandler):
    """POST /api/v1/sim/lines/{line}/faults: flip fault switches."""

    def post(self, line: str) -> None:
        """Line down/up, busy, never answer, hang up after N s, noise."""
        try:
            self.write_json(self.sim.set_faults(line, self.json_body()))
        except SimError as exc:
            self.fail(exc)


ROUTES = [
    (r"/api/v1/sim/calls", SimCallsHandler),
    (r"/api/v1/sim/calls/([0-9a-f-]{36})", SimCallHandler),
    (r"/api/v1/sim/calls/([0-9a-f-]{36})/dtmf", SimDtmfHandler),
    (r"/api/v1/sim/calls/([0-9a-f-]{36})/audio", SimAudioHandler),
    (r"/api/v1/sim/calls/([0-9a-f-]{36})/heard\.wav", SimHeardHandler),
    (r"/api/v1/sim/calls/([0-9a-f-]{36})/media", SimMediaSocket),
    (r"/api/v1/sim/numbers/([0-9*#+]{1,32})/media", SimNumberMediaSocket),
    (r"/api/v1/sim/stations", SimStationsHandler),
    (r"/api/v1/sim/stations/([0-9A-Za-z*#]{1,16})/(answer|hangup|dtmf|dial|flash|audio)", SimStationActionHandler),
    (r"/api/v1/sim/stations/([0-9A-Za-z*#]{1,16})/heard\.wav", SimStationHeardHandler),
    (r"/api/v1/sim/lines/([A-Za-z0-9_.-]{1,64})/faults", SimLineFaultsHandler),
]
