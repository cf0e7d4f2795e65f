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


@dataclass(eq=False)
class Recorder:
    """Records one call: mono (everything on the caller's leg mixed) or stereo (caller left, other side right)."""

    call_uuid: str
    path: Path
    writer: "RecordingWriter"
    stereo: bool = False
    on_closed: Callable[["Recorder"], None] | None = None
    samples: int = 0
    paused: bool = False
    closed: bool = False
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
        self.samples += len(inp)
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
    def seconds(self) -> float:
        """Recorded length."""
        return self.samples / 8000.0


class RecordingWriter:
    """The one thread that writes recordings, so disk latency never reaches the media tick."""

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
                elif op == "close":
                    self._close_file(rec, self.files.pop(id(rec), None))
            except OSError as exc:
                self.errors += 1
                if self.metrics is not None:
                    self.metrics.recording_errors.inc()
                who = rec[0] if isinstance(rec, list) else rec
                log.error("event=recording_write_failed call=%s error=%r", getattr(who, "call_uuid", "?"), str(exc))

    def _write_blocks(self, recorders: list[Recorder], ins: list[np.ndarray], outs: list[np.ndarray]) -> None:
        inp = np.stack(ins, axis=1).reshape(len(recorders), -1)
        out = np.stack(outs, axis=1).reshape(len(recorders), -1)
        for k, rec in enumerate(recorders):
            chunk = rec.encode(inp[k], out[k])
            if chunk is None:
                continue
            f = self.files.get(id(rec))
            if f is None:
                rec.path.parent.mkdir(parents=True, exist_ok=True)
                f = open(rec.path.with_name(rec.path.name + ".part"), "wb")
                f.write(wav_header(0, 2 if rec.stereo else 1))
                self.files[id(rec)] = f
            f.write(chunk)
            f.flush()  # on disk for a crash-time repair
        if time.monotonic() - self._last_sync > 5:
            for f in self.files.values():
                os.fsync(f.fileno())
            self._last_sync = time.monotonic()

    def _close_file(self, rec: Recorder, f: Any) -> None:
        if f is None:  # the call ended before any audio: an empty, valid WAV (the row closes at 0 s)
            rec.path.parent.mkdir(parents=True, exist_ok=True)
            f = open(rec.path.with_name(rec.path.name + ".part"), "wb")
            f.write(wav_header(0, 2 if rec.stereo else 1))
        size = f.tell() - HEADER
        f.seek(0)
        f.write(wav_header(size, 2 if rec.stereo else 1))
        f.flush()
        os.fsync(f.fileno())
        f.close()
        os.replace(rec.path.with_name(rec.path.name + ".part"), rec.path)
        dfd = os.open(rec.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        if rec.on_closed is not None:
            self.notify(lambda: rec.on_closed(rec))
