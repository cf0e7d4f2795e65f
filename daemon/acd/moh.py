"""Music on hold per queue: a WAV under the prompts directory, read once (8 kHz) and kept."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..media.wavio import read_wav_8k

log = logging.getLogger("hotline.acd")


class MusicOnHold:
    """Queue music files by name (relative to the prompts directory); None when a file cannot be used, so
    the caller falls back to the default music. A missing file is logged and journaled once per queue."""

    def __init__(self, prompts_dir: Path, journal: Any, clock: Any):
        self.dir = Path(prompts_dir)
        self.journal, self.clock = journal, clock
        self.cache: dict[Path, tuple[int, np.ndarray]] = {}  # resolved path -> (mtime_ns, samples)
        self.missing: set[str] = set()                       # queues already warned about

    async def music(self, name: str | None, queue: str | None = None, call_uuid: str | None = None) \
            -> np.ndarray | None:
        """The samples of the queue's music file, or None (no file set, outside the prompts directory,
        missing or unreadable)."""
        if not name:
            return None
        base = self.dir.resolve()
        path = (base / name).resolve()
        try:
            if base not in path.parents:
                raise ValueError("outside the prompts directory")
            mtime = path.stat().st_mtime_ns
            cached = self.cache.get(path)
            if cached is not None and cached[0] == mtime:
                return cached[1]
            samples = await asyncio.get_running_loop().run_in_executor(None, read_wav_8k, path)
            if not len(samples):
                raise ValueError("no audio")
        except (OSError, ValueError) as exc:
            if queue is not None and queue not in self.missing:
                self.missing.add(queue)
                log.warning("event=moh_missing queue=%s file=%r error=%r (default music plays)", queue, name,
                            str(exc))
                self.journal.emit("queue.moh_missing", call_uuid, ts=self.clock(), queue=queue, file=name,
                                  error=str(exc))
            return None
        self.cache[path] = (mtime, samples)
        self.missing.discard(queue or "")
        return samples
