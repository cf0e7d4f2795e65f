"""Call recording: WAV files written as .part by one writer thread, renamed when closed, repaired after a crash."""
from __future__ import annotations

import logging
import os
import queue
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

log = logging.getLogger("hotline.recording")
HEADER = 44
_t = np.arange(800) / 8000.0
GAP_MARKER = np.concatenate([(4000 * np.sin(2 * np.pi * 1400 * _t)), np.zeros(400), (4000 * np.sin(2 * np.pi * 1400 * _t)),
                             np.zeros(400)]).astype(np.int16)  # marks where a paused stretch was left out


def disk_free_ok(directory: Path, min_free_mb: float) -> bool:
    """True when the recordings disk has room to start another recording."""
    import shutil
    try:
        return shutil.disk_usage(directory if directory.exists() else directory.parent).free >= min_free_mb * 2**20
    except OSError:
        return False


def wav_header(data_bytes: int, channels: int = 1, rate: int = 8000) -> bytes:
    """A 44-byte PCM WAV header for 16-bit samples."""
    block = channels * 2
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1, channels,
                       rate, rate * block, block, 16, b"data", data_bytes)


def repair(part: Path) -> tuple[Path, float]:
    """Fix a crash-left .part file's header from its length and rename it; returns (path, seconds)."""
    size = part.stat().st_size
    with open(part, "r+b") as f:
        head = f.read(HEADER)
        channels = struct.unpack("<H", head[22:24])[0] if len(head) >= 24 and head[:4] == b"RIFF" else 1
        channels = channels if channels in (1, 2) else 1
        data = max(0, size - HEADER)
        data -= data % (2 * channels)
        f.truncate(HEADER + data)
        f.seek(0)
        f.write(wav_header(data, channels))
        f.flush()
        os.fsync(f.fileno())
    final = part.with_name(part.name.removesuffix(".part"))
    os.replace(part, final)
    return final, data / (2 * channels * 8000)


def wav_seconds(path: Path) -> float | None:
    """Seconds of audio a finished WAV holds (from its size and header), or None when there is no such file."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(HEADER)
    except OSError:
        return None
    if size < HEADER or head[:4] != b"RIFF":
        return None
    channels = struct.unpack("<H", head[22:24])[0] or 1
    return (size - HEADER) // (2 * channels) / 8000.0


@dataclass(eq=False)
class Recorder:
    """Records one call: mono (everything on the caller's leg mixed) or stereo (caller left, other side right)."""

    call_uuid: str
    path: Path
    writer: "RecordingWriter"
    stereo: bool = False
    on_closed: Callable[["Recorder"], None] | None = None
    on_failed: Callable[["Recorder"], None] | None = None
    samples: int = 0                 # frames the file holds (counted once written, never before)
    paused: bool = False
    closed: bool = False
    failed: str | None = None        # why writing stopped (disk full, folder unwritable); the call goes on
    kept: bool = False               # a failed recording's audio up to the failure was kept as a valid WAV
    started_at: float = field(default_factory=time.time)
    channels: list = field(default_factory=list)

    def attach(self, engine: Any, ch: Any) -> None:
        """Record a channel: the engine hands over its audio every 0.5 s."""
        self.engine = engine
        engine.add_tap(self, ch)
        self.channels.append(ch)

    def encode(self, inp: np.ndarray, out: np.ndarray) -> bytes | None:
        """Bytes to write for gathered audio (runs on the writer thread); None while paused. After a pause
        the file gets an audible marker (two short 1400 Hz beeps) where the gap is."""
        if self.paused:
            self.gap = True
            return None
        if getattr(self, "gap", False):
            self.gap = False
            inp = np.concatenate([GAP_MARKER, inp])
            out = np.concatenate([np.zeros(len(GAP_MARKER), np.int16), out])
        if self.stereo:
            frame = np.empty(len(inp) * 2, dtype=np.int16)
            frame[0::2], frame[1::2] = inp, out
            return frame.tobytes()
        return np.clip(inp.astype(np.int32) + out, -32768, 32767).astype(np.int16).tobytes()

    def close(self) -> None:
        """Hand the rest to the writer, which finishes the file."""
        if self.closed:
            return
        for ch in list(self.channels):
            if ch.open:
                self.engine.remove_tap(self, ch)  # hands over the last gathered frames
        self.channels.clear()
        self.closed = True
        self.writer.finish(self)

    @property
    def block(self) -> int:
        """Bytes per frame (all channels)."""
        return 4 if self.stereo else 2

    @property
    def seconds(self) -> float:
        """Recorded length: what the file holds."""
        return self.samples / 8000.0


class RecordingWriter:
    """The one thread that writes recordings, so disk latency never reaches the media tick.

    A write that fails (disk full, folder unwritable) ends that recording alone: its file keeps the audio
    written so far as a valid WAV (or is removed when it has none) and ``on_failed`` runs on the event loop."""

    def __init__(self, notify: Callable[[Callable[[], None]], None], metrics: Any = None):
        self.queue: queue.Queue = queue.Queue()
        self.notify = notify  # runs a callback on the event loop thread
        self.metrics = metrics
        self.files: dict[int, Any] = {}
        self.thread: threading.Thread | None = None
        self.errors = 0
        self._last_sync = time.monotonic()

    def start(self) -> None:
        """Start the writer thread."""
        self.thread = threading.Thread(target=self._run_thread, name="recording-writer", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Finish queued work and stop."""
        if self.thread:
            self.queue.put(None)
            self.thread.join(30)
            self.thread = None

    def put_blocks(self, recorders: list[Recorder], ins: list[np.ndarray], outs: list[np.ndarray]) -> None:
        """Queue per-tick blocks (rows in the order of ``recorders``) gathered by the media engine."""
        self.queue.put(("blocks", recorders, (ins, outs)))

    def finish(self, rec: Recorder) -> None:
        """Queue the close of a recorder's file."""
        self.queue.put(("close", rec, b""))

    def _run_thread(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                break
            op, rec, data = item
            try:
                if op == "blocks":
                    self._write_blocks(rec, *data)
                elif op == "close" and rec.failed is None:
                    try:
                        self._close_file(rec, self.files.pop(id(rec), None))
                    except OSError as exc:
                        self._fail(rec, exc)
            except Exception:  # a bug must not stop every other call's recording
                log.exception("event=recording_writer_error")

    def _open(self, rec: Recorder) -> Any:
        rec.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(rec.path.with_name(rec.path.name + ".part"), "wb")
        try:
            f.write(wav_header(0, 2 if rec.stereo else 1))
            f.flush()
        except OSError:
            f.close()
            raise
        return f

    def _write_blocks(self, recorders: list[Recorder], ins: list[np.ndarray], outs: list[np.ndarray]) -> None:
        inp = np.stack(ins, axis=1).reshape(len(recorders), -1)
        out = np.stack(outs, axis=1).reshape(len(recorders), -1)
        for k, rec in enumerate(recorders):
            if rec.failed is not None:
                continue
            chunk = rec.encode(inp[k], out[k])
            if chunk is None:
                continue
            try:
                f = self.files.get(id(rec))
                if f is None:
                    f = self.files[id(rec)] = self._open(rec)
                f.write(chunk)
                f.flush()  # on disk for a crash-time repair
            except OSError as exc:
                self._fail(rec, exc)
                continue
            rec.samples += len(chunk) // rec.block
        if time.monotonic() - self._last_sync > 5:
            for rec_id, f in list(self.files.items()):
                try:
                    os.fsync(f.fileno())
                except OSError as exc:
                    log.error("event=recording_sync_failed error=%r", str(exc))
            self._last_sync = time.monotonic()

    def _fail(self, rec: Recorder, exc: OSError) -> None:
        """End one recording after a write error: keep what the file holds as a valid WAV, tell the loop."""
        self.errors += 1
        if self.metrics is not None:
            self.metrics.recording_errors.inc()
        rec.failed = exc.strerror or str(exc)
        f = self.files.pop(id(rec), None)
        part = rec.path.with_name(rec.path.name + ".part")
        rec.samples, rec.kept = _salvage(f, part, rec.path, rec.block)
        log.error("event=recording_failed call=%s path=%s error=%r kept_seconds=%.2f", rec.call_uuid, rec.path,
                  rec.failed, rec.seconds)
        if rec.on_failed is not None:
            self.notify(lambda: rec.on_failed(rec))

    def _close_file(self, rec: Recorder, f: Any) -> None:
        if f is None:  # the call ended before any audio: an empty, valid WAV (the row closes at 0 s)
            f = self._open(rec)
        try:
            f.flush()
            size = os.fstat(f.fileno()).st_size - HEADER  # what the file holds, not what was handed over
            size -= size % rec.block
            f.truncate(HEADER + size)
            f.seek(0)
            f.write(wav_header(size, 2 if rec.stereo else 1))
            f.flush()
            os.fsync(f.fileno())
        except OSError:
            self.files[id(rec)] = f  # _fail salvages it
            raise
        f.close()
        rec.samples = size // rec.block
        os.replace(rec.path.with_name(rec.path.name + ".part"), rec.path)
        dfd = os.open(rec.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        if rec.on_closed is not None:
            self.notify(lambda: rec.on_closed(rec))


def _salvage(f: Any, part: Path, final: Path, block: int) -> tuple[int, bool]:
    """After a write error: the frames the file holds, kept as a valid WAV under its final name (or removed
    when it holds none); (frames, kept)."""
    try:
        if f is not None:
            try:
                f.close()  # may fail to flush what was buffered: the file holds what it holds
            except OSError:
                pass
        if not part.exists():
            return 0, False
        if part.stat().st_size <= HEADER:
            part.unlink()
            return 0, False
        final_path, seconds = repair(part)
        return int(round(seconds * 8000)), final_path == final
    except OSError as exc:
        log.error("event=recording_salvage_failed path=%s error=%r", part, str(exc))
        return 0, False
