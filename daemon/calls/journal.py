"""The append-only event journal: every call, line and agent event, durable and in order."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Callable

from ..aio import cancel_and_wait
from ..store.db import Store
from ..store.models import Event

log = logging.getLogger("hotline.journal")

FLUSH_INTERVAL = 0.05


class Journal:
    """Buffers events and commits them in batches through the store's single writer."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time, metrics: Any = None):
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self._buffer: list[dict] = []
        self._task: asyncio.Task | None = None
        self._inflight: asyncio.Future | None = None
        self.listeners: list[Callable[[dict], None]] = []
        self.written = 0

    def emit(self, kind: str, /, call_uuid: str | None = None, line: str | None = None,
             ts: float | None = None, **data: Any) -> dict:
        """Append an event (committed within ~50 ms; await flush() to be sure); data may use any key."""
        event = {"ts": self.clock() if ts is None else ts, "kind": kind, "call_uuid": call_uuid,
                 "line": line, "data": data}
        self._buffer.append(event)
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must never lose an event
                log.exception("event=listener_failed kind=%s", kind)
        return event

    async def start(self) -> None:
        """Start the background flusher."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Write everything still buffered, then stop."""
        await cancel_and_wait(self._task)
        self._task = None
        await self.flush()

    def status(self) -> dict:
        """Events written and waiting."""
        return {"state": "up" if self._task else "down", "written": self.written, "buffered": len(self._buffer)}

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            if self._buffer:
                try:
                    await self.flush()
                except Exception:
                    log.exception("event=journal_write_failed buffered=%d", len(self._buffer))
                    await asyncio.sleep(1.0)

    async def flush(self, then: Callable[[], Any] | None = None) -> Any:
        """Commit every buffered event (and run ``then`` in the same transaction)."""
        while self._inflight is not None:
            await asyncio.shield(self._inflight)
        batch, self._buffer = self._buffer, []
        if not batch and then is None:
            return None
        started = time.perf_counter()
        self._inflight = asyncio.get_running_loop().create_future()
        try:
            result = await self.store.write(_write_batch, batch, then)
        except BaseException:
            self._buffer[:0] = batch  # keep them for the next try: nothing is lost
            raise
        finally:
            fut, self._inflight = self._inflight, None
            if not fut.done():
                fut.set_result(None)
        self.written += len(batch)
        if self.metrics is not None:
            self.metrics.journal_write.observe(time.perf_counter() - started)
        return result


def _write_batch(batch: list[dict], then: Callable[[], Any] | None) -> Any:
    if batch:
        rows = [{"ts": e["ts"], "kind": e["kind"], "call_uuid": e["call_uuid"], "line": e["line"],
                 "data": json.dumps(e["data"], ensure_ascii=False, default=str)} for e in batch]
        for i in range(0, len(rows), 500):
            Event.insert_many(rows[i:i + 500]).execute()
    return then() if then is not None else None


def events_for(call_uuid: str) -> list[dict]:
    """A call's events in order (runs in a DB thread)."""
    return [{"id": e.id, "ts": e.ts, "kind": e.kind, "call_uuid": e.call_uuid, "line": e.line,
             "data": json.loads(e.data)}
            for e in Event.select().where(Event.call_uuid == call_uuid).order_by(Event.id)]
