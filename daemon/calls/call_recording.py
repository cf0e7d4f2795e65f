"""Call recording as the call manager runs it: start, pause, stop, failures, retention, repair at start.

A recording's row and journal say what its file holds: a write failure (disk full, folder unwritable) ends
the recording with ``recording.failed`` (reason, seconds kept) while the call goes on, and every row a
failure or a crash left ``open`` is settled at the next start."""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import cdr
from .recording import Recorder
from ..store.models import Recording

if TYPE_CHECKING:
    from .manager import Call
    from ..media.engine import Channel

log = logging.getLogger("hotline.calls")


class CallRecordings:
    """The recording half of the CallManager (mixed in): needs journal, store, engine, writer, config."""

    def start_recording(self, call: "Call", ch: "Channel", by: str = "policy") -> Recorder | None:
        """Record everything on the caller's leg (None when the disk guard says no: the call goes on)."""
        from .recording import disk_free_ok
        min_free = self.config["engine"].get("recording_min_free_mb", 0.0)
        if min_free and not disk_free_ok(self.recordings_dir, min_free):
            log.warning("event=recording_skipped call=%s reason=disk_low min_free_mb=%s", call.uuid, min_free)
            self.journal.emit("recording.skipped", call.uuid, ts=self.engine.now(), reason="disk_low")
            if self.metrics is not None:
                self.metrics.recording_errors.inc()
            return None
        day = time.strftime("%Y/%m/%d", time.localtime(self.engine.now()))
        segment = call.vars.get("recording_segments", 0) + 1
        call.vars["recording_segments"] = segment
        name = f"{call.uuid}.wav" if segment == 1 else f"{call.uuid}-{segment}.wav"
        path = self.recordings_dir / day / name
        rec = Recorder(call.uuid, path, self.writer, stereo=self.record_stereo, on_closed=self._recording_closed,
                       on_failed=self._recording_failed)
        rec.closed_future = self.loop.create_future()
        rec.attach(self.engine, ch)
        call.recorder = rec
        self.journal.emit("recording.started", call.uuid, ts=self.engine.now(), path=str(path), by=by)
        self.store.submit_write(lambda: Recording.create(call_uuid=call.uuid, path=str(path), state="open",
                                                         started_at=rec.started_at, channels=2 if rec.stereo else 1))
        return rec

    async def recording_action(self, call: "Call", action: str, by: str) -> dict:
        """start / stop / pause / resume a call's recording (on-demand policy, or privacy), audited."""
        rec = call.recorder
        if action == "start" and rec is not None and not rec.closed and rec.paused:
            action = "resume"  # on-demand policy: the recording waits paused for the agent's start
        if action == "start":
            if call.vars.get("recording_policy") == "never":
                raise ValueError("this line is never recorded (routes: recording: never)")
            if rec is not None and not rec.closed:
                raise ValueError("the call is already being recorded")
            if call.caller is None or call.caller.channel is None:
                raise ValueError("the call has no audio yet")
            rec = self.start_recording(call, call.caller.channel, by=by)
            if rec is None:
                raise ValueError("not enough free disk space to record")
        elif rec is None or rec.closed:
            raise ValueError("the call is not being recorded")
        elif action == "stop":
            rec.close()
            await asyncio.wait_for(asyncio.shield(rec.closed_future), 10)
        elif action in ("pause", "resume"):
            if rec.paused == (action == "pause"):
                raise ValueError(f"the recording is already {'paused' if rec.paused else 'running'}")
            rec.paused = action == "pause"
            self.journal.emit(f"recording.{'paused' if rec.paused else 'resumed'}", call.uuid,
                              ts=self.engine.now(), by=by, at_seconds=round(rec.seconds, 2))
        else:
            raise ValueError("action must be start, stop, pause or resume")
        return {"call": call.uuid, "recording": None if rec is None else str(rec.path),
                "state": "closed" if rec.closed else "paused" if rec.paused else "recording"}

    async def apply_retention(self, days: int) -> int:
        """Delete recordings older than ``days`` (files and rows marked deleted); the number deleted."""
        if days <= 0:
            return 0
        cutoff = time.time() - days * 86400

        def old() -> list[tuple[str, str]]:
            return [(r.call_uuid, r.path) for r in Recording.select().where(
                (Recording.started_at < cutoff) & (Recording.state != "deleted"))]
        victims = await self.store.read(old)
        deleted = 0
        for call_uuid, path in victims:
            deleted += await self.delete_recording(call_uuid, path, "retention")
        return deleted

    async def delete_recording(self, call_uuid: str, path: str, reason: str, by: str = "retention",
                               then: Callable[[], Any] | None = None, file: Path | None = None) -> bool:
        """Delete one recording's file (``file``, default its stored ``path``), journal it, and mark its row
        deleted (``then`` runs in the same write, e.g. the panel's audit entry). False when the file cannot be
        removed (nothing is marked)."""
        target = file if file is not None else Path(path)
        try:
            await asyncio.get_running_loop().run_in_executor(None, lambda: target.unlink(missing_ok=True))
        except OSError as exc:
            log.error("event=recording_delete_failed path=%s error=%r", path, str(exc))
            return False
        self.journal.emit("recording.deleted", call_uuid, ts=self.engine.now(), path=path, reason=reason, by=by)

        def mark() -> None:
            Recording.update(state="deleted").where(Recording.path == path).execute()
            if then is not None:
                then()
        await self.store.write(mark)
        return True

    def _recording_closed(self, rec: Recorder) -> None:
        self.journal.emit("recording.closed", rec.call_uuid, ts=self.engine.now(), path=str(rec.path),
                          seconds=round(rec.seconds, 2))
        self.store.submit_write(lambda: Recording.update(state="closed", ended_at=time.time(),
                                                         duration=rec.seconds, bytes=_size(rec.path))
                                .where(Recording.path == str(rec.path)).execute())
        fut = getattr(rec, "closed_future", None)
        if fut is not None and not fut.done():
            fut.set_result(True)

    def _recording_failed(self, rec: Recorder) -> None:
        """The writer gave up on a recording: journal why and what the file kept, settle the row, stop feeding
        it (the call goes on), and let a hang-up waiting for it go on at once."""
        self.journal.emit("recording.failed", rec.call_uuid, ts=self.engine.now(), path=str(rec.path),
                          reason=rec.failed, seconds=round(rec.seconds, 2), kept=rec.kept)
        self.store.submit_write(lambda: Recording.update(state="failed", ended_at=time.time(), duration=rec.seconds,
                                                         bytes=_size(rec.path) if rec.kept else None)
                                .where(Recording.path == str(rec.path)).execute())
        rec.close()  # taps removed; the writer skips the close of a failed recording
        fut = getattr(rec, "closed_future", None)
        if fut is not None and not fut.done():
            fut.set_result(True)

    async def _repair_recordings(self) -> None:
        """Crash-left .part files become valid WAVs; then rows still open are settled."""
        from .recording import repair
        try:
            parts = sorted(self.recordings_dir.rglob("*.wav.part")) if self.recordings_dir.exists() else []
        except OSError as exc:
            log.error("event=recording_repair_failed path=%s error=%r", self.recordings_dir, str(exc))
            parts = []
        for part in parts:
            try:
                final, seconds = repair(part)
            except OSError as exc:
                log.error("event=recording_repair_failed path=%s error=%r", part, str(exc))
                continue
            uuid = final.stem
            self.journal.emit("recording.repaired", uuid, path=str(final), seconds=round(seconds, 2))
            self.journal.emit("recording.closed", uuid, path=str(final), seconds=round(seconds, 2), repaired=True)

            def mark(final: Path = final, seconds: float = seconds, uuid: str = uuid) -> None:
                n = Recording.update(state="repaired", duration=seconds, bytes=final.stat().st_size) \
                    .where(Recording.path == str(final)).execute()
                if n == 0:
                    Recording.create(call_uuid=uuid, path=str(final), started_at=final.stat().st_mtime,
                                     state="repaired", duration=seconds, bytes=final.stat().st_size)
                cdr.write_cdr(uuid)
            try:
                await self.journal.flush(mark)
            except Exception as exc:  # the journal keeps and retries it; the start goes on
                log.error("event=recording_repair_mark_failed path=%s error=%r", final, str(exc))
            log.warning("event=recording_repaired path=%s seconds=%.2f", final, seconds)
        await self._settle_open_recordings()

    async def _settle_open_recordings(self) -> None:
        """No call is up at start: a row still ``open`` was left by a failure or a crash. It is closed when its
        file is there (with the length the file holds), otherwise failed; either way journaled."""
        settled = await self.store.write(_settle_open_rows)
        for uuid, path, state, seconds in settled:
            if state == "failed":
                self.journal.emit("recording.failed", uuid, path=path, reason="left open: no file at start",
                                  seconds=0.0, kept=False)
            else:
                self.journal.emit("recording.closed", uuid, path=path, seconds=round(seconds, 2), settled=True)
            log.warning("event=recording_settled call=%s path=%s state=%s seconds=%.2f", uuid, path, state, seconds)
        if settled:
            uuids = sorted({u for u, *_ in settled})
            try:
                await self.journal.flush(lambda: [cdr.write_cdr(u) for u in uuids])
            except Exception as exc:
                log.error("event=recording_settle_cdr_failed error=%r", str(exc))


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _settle_open_rows() -> list[tuple[str, str, str, float]]:
    """Rows left open, settled from their files (DB thread): [(call_uuid, path, state, seconds)]."""
    from .recording import wav_seconds
    out = []
    for r in list(Recording.select().where(Recording.state == "open")):
        seconds = wav_seconds(Path(r.path))
        state = "failed" if seconds is None else "closed"
        Recording.update(state=state, ended_at=time.time(), duration=seconds or 0.0,
                         bytes=_size(Path(r.path)) if seconds is not None else None).where(Recording.id == r.id).execute()
        out.append((r.call_uuid, r.path, state, seconds or 0.0))
    return out
