"""Prompts (admin): the list per language with text, recording or speech (TTS) and the flows that use each;
play in the browser; upload a WAV (converted to 8 kHz mono); regenerate the speech with espeak-ng; record by
phone (the admin's station rings, the record_prompt app records after the beep). Every change is audited; a
replaced recording is kept under <prompts>/replaced/."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import shutil
import time
import uuid as uuidlib
import wave
from pathlib import Path
from typing import Any

import tornado.web

from hotline.daemon.media.wavio import WavError, parse_wav, to_mono_8k, wav_bytes
from hotline.daemon.calls.prompts import BUILTIN, LOCALES, PromptLibrary, TtsError, synthesize
from hotline.dialplan.registry import APPS
from hotline.dialplan.schema import ListOf, MapOf, Ref, Section

from ..i18n import N_
from ..limits import upload
from .base import BaseHandler, PageHandler

log = logging.getLogger("hotline.web.prompts")

PROMPT_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")   # the record_prompt app's pattern
MAX_UPLOAD = 10 * 1024 * 1024
MAX_SECONDS = 120.0
MIN_SECONDS = 0.2
WAV_TYPES = {"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "application/octet-stream", ""}
SOURCES = ("recorded", "tts", "missing")
RING_SECONDS = 30.0


def _other(language: str) -> str:
    return "en_US" if language == "zh_CN" else "zh_CN"


def _seconds(path: Path) -> float | None:
    """A recorded file's length from its header (None when the header cannot tell)."""
    try:
        with wave.open(str(path), "rb") as w:
            return round(w.getnframes() / float(w.getframerate()), 2)
    except (wave.Error, EOFError, OSError, ZeroDivisionError):
        return None


def _prompt_refs(spec: Any, value: Any) -> list[str]:
    """Prompt ids an app's arguments name."""
    out: list[str] = []
    if isinstance(spec, Ref):
        if spec.kind == "prompt" and isinstance(value, str):
            out.append(value)
        elif spec.kind == "prompt" and isinstance(value, list):
            out += [v for v in value if isinstance(v, str)]
    elif isinstance(spec, Section) and isinstance(value, dict):
        for name, fspec in spec.fields.items():
            if name in value:
                out += _prompt_refs(fspec, value[name])
    elif isinstance(spec, MapOf) and isinstance(value, dict):
        for v in value.values():
            out += _prompt_refs(spec.value, v)
    elif isinstance(spec, ListOf) and isinstance(value, list):
        for v in value:
            out += _prompt_refs(spec.item, v)
    return out


def prompt_users(services: dict) -> dict[str, list[str]]:
    """Prompt id -> the flows whose active version plays it."""
    out: dict[str, set[str]] = {}
    flows = services.get("flows")
    for name in sorted(getattr(flows, "versions", {}) or {}):
        flow = flows.get(name)
        for steps in (flow.blocks.values() if flow else []):
            for step in steps:
                spec = APPS.get(step.app)
                if spec is None:
                    continue
                for pid in _prompt_refs(spec.args, step.args):
                    out.setdefault(pid, set()).add(name)
                if step.app == "record_prompt":
                    out.setdefault(step.args["prompt_id"], set()).add(name)
    return {k: sorted(v) for k, v in out.items()}


def prompt_row(lib: PromptLibrary, pid: str, language: str, users: dict[str, list[str]] | None = None) -> dict:
    """One prompt in one language (reads the file system: call off the event loop)."""
    texts = lib.texts.get(pid, {})
    recorded = lib.recorded(pid, language)
    st = recorded.stat() if recorded.is_file() else None
    source = "recorded" if st else ("tts" if language in texts else "missing")
    return {"id": pid, "language": language, "text": texts.get(language), "other_text": texts.get(_other(language)),
            "source": source, "seconds": _seconds(recorded) if st else None,
            "updated_at": st.st_mtime if st else None, "builtin": pid in BUILTIN,
            "fallback": _other(language) if source == "missing" and (
                _other(language) in texts or lib.recorded(pid, _other(language)).is_file()) else None,
            "used_by": (users or {}).get(pid, [])}


def prompt_rows(lib: PromptLibrary, language: str, users: dict[str, list[str]], q: str | None,
                source: str | None) -> list[dict]:
    """Every prompt (manifest texts and recorded files) in one language, filtered."""
    ids = set(lib.texts)
    for lang in LOCALES:
        folder = lib.dir / lang
        if folder.is_dir():
            ids |= {p.stem for p in folder.glob("*.wav") if PROMPT_ID.fullmatch(p.stem)}
    rows = [prompt_row(lib, pid, language, users) for pid in sorted(ids)]
    if q:
        needle = q.lower()
        rows = [r for r in rows if needle in r["id"] or needle in (r["text"] or "").lower()
                or needle in (r["other_text"] or "").lower()]
    if source:
        rows = [r for r in rows if r["source"] == source]
    return rows


def _backup(lib: PromptLibrary, pid: str, language: str) -> str | None:
    """Move the current recording aside (kept, not played); its path relative to the prompts directory."""
    current = lib.recorded(pid, language)
    if not current.is_file():
        return None
    target = lib.dir / "replaced" / language / f"{pid}-{time.strftime('%Y%m%d-%H%M%S')}.wav"
    target.parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while target.exists():
        target = target.with_name(f"{pid}-{time.strftime('%Y%m%d-%H%M%S')}-{n}.wav")
        n += 1
    shutil.move(str(current), str(target))
    return str(target.relative_to(lib.dir))


def _forget(lib: PromptLibrary, pid: str) -> None:
    """Calls from now on load the prompt again (both languages: one may have fallen back to the other)."""
    for lang in LOCALES:
        lib._cache.pop((pid, lang), None)  # the library's in-memory cache; save() does the same for its language


def _describe(row: dict) -> dict:
    return {"source": row["source"], "seconds": row["seconds"]}


def store_upload(lib: PromptLibrary, pid: str, language: str, samples: Any) -> dict:
    """Keep the current recording aside and save the new one (blocking)."""
    backup = _backup(lib, pid, language)
    lib.save(pid, language, samples)
    _forget(lib, pid)
    return {"backup": backup}


def regenerate(lib: PromptLibrary, pid: str, language: str) -> dict:
    """Speak the manifest text again with espeak-ng; a recording is moved aside so the speech plays (blocking)."""
    text = lib.texts.get(pid, {}).get(language)
    if text is None:
        raise LookupError(language)
    digest = hashlib.sha256(f"{language}\0{text}".encode()).hexdigest()[:16]
    cached = lib.dir / "cache" / f"{pid}-{language}-{digest}.wav"   # where PromptLibrary looks for it
    samples = synthesize(text, language, cached)
    backup = _backup(lib, pid, language)
    _forget(lib, pid)
    return {"seconds": round(len(samples) / 8000.0, 2), "backup": backup}


def _lib(handler: BaseHandler) -> PromptLibrary:
    return handler.services["prompts"]


def check_language(language: str) -> str:
    """A language from the path (anything else is not a prompt path: 404)."""
    if language not in LOCALES:
        raise tornado.web.HTTPError(404, reason="no such prompt")
    return language


def check_id(pid: str, status: int = 404) -> str:
    """A prompt id from the path: the record_prompt pattern, nothing that could leave the directory."""
    if not PROMPT_ID.fullmatch(pid or ""):
        raise tornado.web.HTTPError(status, reason="no such prompt" if status == 404 else
                                    "id: 1-64 lower-case letters, digits or _, starting with a letter")
    return pid


def inside(base: Path, path: Path) -> bool:
    """Whether a path resolves inside a directory."""
    try:
        path.resolve().relative_to(base.resolve())
        return True
    except ValueError:
        return False


def filters(handler: tornado.web.RequestHandler, default_language: str) -> dict:
    """Allow-listed filters: language, q (text or id), source."""
    unknown = set(handler.request.query_arguments) - {"language", "q", "source"}
    if unknown:
        raise tornado.web.HTTPError(400, reason=f"unknown filter {sorted(unknown)[0]!r}")
    language = handler.get_query_argument("language", None) or default_language
    if language not in LOCALES:
        raise tornado.web.HTTPError(400, reason="language: zh_CN or en_US")
    source = handler.get_query_argument("source", None) or None
    if source is not None and source not in SOURCES:
        raise tornado.web.HTTPError(400, reason=f"source: one of {', '.join(SOURCES)}")
    q = (handler.get_query_argument("q", "") or "").strip()[:80] or None
    return {"language": language, "q": q, "source": source}


async def run_blocking(fn: Any, *args: Any) -> Any:
    """File and audio work off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


class PromptsPage(PageHandler):
    """/config/prompts: the prompts of one language."""

    title = N_("Prompts")

    async def get(self) -> None:
        """The filtered list."""
        default = self.locale.code if self.locale.code in LOCALES else "zh_CN"
        f = filters(self, default)
        lib = _lib(self)
        rows = await run_blocking(prompt_rows, lib, f["language"], prompt_users(self.services), f["q"], f["source"])
        devices = self.services.get("devices")
        stations = sorted(devices.stations) if devices is not None else []
        counts = {s: sum(1 for r in rows if r["source"] == s) for s in SOURCES}
        self.render("prompts.html", rows=rows, f=f, stations=stations, counts=counts, locales=LOCALES,
                    fmt=self.local_time)


class PromptsApi(BaseHandler):
    """GET /api/v1/prompts: the prompts of one language (filters: language, q, source)."""

    async def get(self) -> None:
        """The list."""
        f = filters(self, self.services["config"]["locale"]["language"])
        rows = await run_blocking(prompt_rows, _lib(self), f["language"], prompt_users(self.services), f["q"],
                                  f["source"])
        self.write_json({"language": f["language"], "prompts": rows})


class PromptAudioApi(BaseHandler):
    """GET /api/v1/prompts/{language}/{id}.wav: what a caller hears (the recording, else the speech)."""

    async def get(self, language: str, pid: str) -> None:
        """The WAV, inline (for the browser's audio element); anything outside the prompts: 404."""
        unknown = set(self.request.query_arguments) - {"t"}
        if unknown:
            raise tornado.web.HTTPError(400, reason=f"unknown parameter {sorted(unknown)[0]!r}")
        language, pid = check_language(language), check_id(pid)
        lib = _lib(self)
        path = lib.recorded(pid, language)
        if not inside(lib.dir, path):
            raise tornado.web.HTTPError(404, reason="no such prompt")
        if path.is_file():
            data = await run_blocking(path.read_bytes)
        elif lib.exists(pid, language) or lib.exists(pid, _other(language)):
            try:
                data = wav_bytes(await lib.get(pid, language))
            except TtsError as exc:
                raise tornado.web.HTTPError(503, reason=str(exc)) from None
        else:
            raise tornado.web.HTTPError(404, reason="no such prompt")
        self.set_header("Content-Type", "audio/wav")
        self.set_header("Content-Disposition", f'inline; filename="{pid}-{language}.wav"')
        self.finish(data)


@upload(2 * MAX_UPLOAD)   # a little too big still gets the handler's own message
class PromptUploadApi(BaseHandler):
    """POST /api/v1/prompts/{language}/{id}/upload: the body is a WAV file (any rate and channels)."""

    async def post(self, language: str, pid: str) -> None:
        """Check, convert to 8 kHz mono, keep the old recording aside, save; audited."""
        language, pid = check_language(language), check_id(pid, 400)
        body = self.request.body
        ctype = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if len(body) > MAX_UPLOAD:
            raise tornado.web.HTTPError(413, reason=f"file: at most {MAX_UPLOAD // (1024 * 1024)} MB")
        if ctype not in WAV_TYPES:
            raise tornado.web.HTTPError(400, reason=f"file: a WAV file is needed, not {ctype}")
        if not body:
            raise tornado.web.HTTPError(400, reason="file: the file is empty")
        try:
            audio = await run_blocking(parse_wav, body, "file")
        except WavError as exc:
            raise tornado.web.HTTPError(400, reason=str(exc)) from None
        if audio.rate < 8000:
            raise tornado.web.HTTPError(400, reason=f"file: {audio.rate} Hz is below the 8000 Hz telephone rate")
        if not MIN_SECONDS <= audio.duration_s <= MAX_SECONDS:
            raise tornado.web.HTTPError(400, reason=f"file: {audio.duration_s:.1f} s; a prompt lasts "
                                                    f"{MIN_SECONDS}-{MAX_SECONDS:.0f} s")
        samples = await run_blocking(to_mono_8k, audio)
        lib = _lib(self)
        before = await run_blocking(prompt_row, lib, pid, language)
        extra = await run_blocking(store_upload, lib, pid, language, samples)
        after = await run_blocking(prompt_row, lib, pid, language, prompt_users(self.services))
        await self.audit("prompt.uploaded", f"{language}/{pid}", _describe(before),
                         {**_describe(after), "original": f"{audio.rate} Hz, {audio.channels} channel(s)",
                          "backup": extra["backup"]})
        self.write_json({"prompt": after, "original_rate": audio.rate, "original_channels": audio.channels})


class PromptTtsApi(BaseHandler):
    """POST /api/v1/prompts/{language}/{id}/tts: speak the text again with espeak-ng (replaces a recording)."""

    async def post(self, language: str, pid: str) -> None:
        """Synthesize; a recording is moved aside; audited."""
        self.json_body()
        language, pid = check_language(language), check_id(pid)
        lib = _lib(self)
        if pid not in lib.texts and not lib.recorded(pid, language).is_file():
            raise tornado.web.HTTPError(404, reason="no such prompt")
        before = await run_blocking(prompt_row, lib, pid, language)
        try:
            result = await run_blocking(regenerate, lib, pid, language)
        except LookupError:
            raise tornado.web.HTTPError(400, reason=f"language: prompt {pid} has no {language} text to speak; "
                                                    "upload or record it") from None
        except TtsError as exc:
            raise tornado.web.HTTPError(503, reason=str(exc)) from None
        after = await run_blocking(prompt_row, lib, pid, language, prompt_users(self.services))
        await self.audit("prompt.tts", f"{language}/{pid}", _describe(before),
                         {**_describe(after), "seconds": result["seconds"], "backup": result["backup"]})
        self.write_json({"prompt": after, "seconds": result["seconds"]})


RECORD_FLOW = """\
flow: prompt_recording
languages: [{language}, {other}]
blocks:
  main:
    - record_prompt: {{prompt_id: {pid}, language: {language}, max_seconds: 60}}
    - hangup: goodbye
"""


async def record_by_phone(services: dict, extension: str, pid: str, language: str, user: str,
                          address: str, before: dict) -> str:
    """Ring the station; when answered run the record_prompt app (beep, speak, # ends, hear it back, 1 keeps it,
    2 records again); the call ends politely. Returns saved, not_saved, no_answer or failed."""
    from hotline.daemon.box import audit
    from hotline.daemon.calls.manager import Call, CallState, HangupCause, Leg, LegGone
    from hotline.dialplan.flow import parse_flow
    from hotline.dialplan.interpreter import FlowRun
    calls, devices, engine, journal = services["calls"], services["devices"], services["engine"], services["journal"]
    lib: PromptLibrary = services["prompts"]
    hub = services.get("hub")

    def tell(state: str, **extra: Any) -> None:
        if hub is not None:
            hub.send_to_user(user, {"type": "prompt.recording", "prompt": pid, "language": language,
                                    "extension": extension, "state": state, **extra})
    station = devices.station(extension)
    call = Call(uuid=str(uuidlib.uuid4()), direction="internal", caller_id=extension, dialed=f"record:{pid}",
                offered_at=engine.now())
    call.caller = Leg(uuid=call.uuid, line=station, role="caller", call=call)
    call.legs.append(call.caller)
    call.task = asyncio.current_task()
    call.vars["recording_policy"] = "never"
    journal.emit("call.offered", call.uuid, station.name, ts=call.offered_at, direction="internal",
                 caller_id=extension, dialed=call.dialed, purpose="record_prompt", prompt=pid, language=language,
                 by=user)
    calls.calls[call.uuid] = call
    calls.owner[station.name] = call.caller
    devices.busy.add(station.name)
    recorded = lib.recorded(pid, language)
    before_mtime = before.get("_mtime")
    station.ring(extension, "Prompt recording")
    outcome, cause = "no_answer", HangupCause.NO_ANSWER
    tell("ringing", call=call.uuid)
    try:
        try:
            await engine.wait_for(asyncio.shield(call.caller.answered), RING_SECONDS)
        except (asyncio.TimeoutError, LegGone):
            return outcome
        call.state, call.answered_at = CallState.ANSWERED, engine.now()
        calls.open_media(call.caller)
        journal.emit("call.answered", call.uuid, station.name, ts=call.answered_at)
        tell("answered", call=call.uuid)
        outcome, cause = "not_saved", HangupCause.NORMAL
        flow = parse_flow(RECORD_FLOW.format(pid=pid, language=language, other=_other(language)), "prompt_recording",
                          lib.exists)
        ctx = calls.context_factory(call, calls)
        ctx.language = language
        try:
            await FlowRun(flow, ctx, services["box"]).run()
        except LegGone as exc:
            cause = exc.cause
    except asyncio.CancelledError:   # the station hung up (the call manager cancels the call's task)
        cause = call.cause or HangupCause.NORMAL
    except Exception:
        log.exception("event=prompt_record_failed prompt=%s language=%s", pid, language)
        outcome = "failed"
    finally:
        await asyncio.shield(calls.end(call, cause))
        now_mtime = recorded.stat().st_mtime_ns if recorded.is_file() else None
        if now_mtime is not None and now_mtime != before_mtime:
            outcome = "saved"
            _forget(lib, pid)
            after = await run_blocking(prompt_row, lib, pid, language, prompt_users(services))
            await services["store"].write(audit.record, user, address, "prompt.recorded", f"{language}/{pid}",
                                          _describe(before), {**_describe(after), "extension": extension,
                                                              "call": call.uuid})
            tell("saved", call=call.uuid, row=after)
        else:
            tell(outcome, call=call.uuid)
    return outcome


class PromptRecordApi(BaseHandler):
    """POST /api/v1/prompts/{language}/{id}/record: ring a station to record the prompt by phone."""

    async def post(self, language: str, pid: str) -> None:
        """Start the call; progress goes to the user's panel over the WebSocket (ringing, saved, ...)."""
        language, pid = check_language(language), check_id(pid, 400)
        body = self.json_body()
        extension = body.get("extension")
        if not isinstance(extension, str) or not re.fullmatch(r"[0-9A-Za-z*#]{1,16}", extension):
            raise tornado.web.HTTPError(400, reason="extension: the station to ring is required")
        devices = self.services.get("devices")
        station = devices.station(extension) if devices is not None else None
        if station is None:
            raise tornado.web.HTTPError(400, reason=f"extension: no station {extension}")
        if not station.up:
            raise tornado.web.HTTPError(409, reason=f"extension: station {extension} is down")
        if station.name in devices.busy or station.name in self.services["calls"].owner:
            raise tornado.web.HTTPError(409, reason=f"extension: station {extension} is busy")
        lib = _lib(self)
        before = await run_blocking(prompt_row, lib, pid, language)
        recorded = lib.recorded(pid, language)
        before["_mtime"] = await run_blocking(lambda: recorded.stat().st_mtime_ns if recorded.is_file() else None)
        task = asyncio.get_running_loop().create_task(
            record_by_phone(self.services, extension, pid, language, self.actor, self.address, before),
            name=f"record-prompt-{pid}")
        self.services.setdefault("_prompt_recordings", set()).add(task)
        task.add_done_callback(self.services["_prompt_recordings"].discard)
        await asyncio.sleep(0)  # the call exists (and the phone rings) before we answer
        call = next((c.uuid for c in self.services["calls"].calls.values()
                     if c.caller is not None and c.caller.line is station), None)
        self.write_json({"prompt": pid, "language": language, "extension": extension, "call": call,
                         "state": "ringing"}, 202)


ID_GROUP = r"([^/]+)"
PAGE_ROUTES = [
    (r"/config/prompts", PromptsPage),
]
ROUTES = [
    (r"/api/v1/prompts", PromptsApi),
    (rf"/api/v1/prompts/{ID_GROUP}/{ID_GROUP}\.wav", PromptAudioApi),
    (rf"/api/v1/prompts/{ID_GROUP}/{ID_GROUP}/upload", PromptUploadApi),
    (rf"/api/v1/prompts/{ID_GROUP}/{ID_GROUP}/tts", PromptTtsApi),
    (rf"/api/v1/prompts/{ID_GROUP}/{ID_GROUP}/record", PromptRecordApi),
]
