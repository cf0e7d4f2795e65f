"""The append-only event journal: every call, line and agent event, durable and in order.

A bad event never stalls the journal: text that cannot be stored is written escaped, an event that cannot be
written at all goes to a dead-letter file (with a metric and a log line), and the rest of the batch goes on.
When the database itself fails, events stay buffered (spilled to a file past a bound or at stop) and are
written first once it works again, also at the next start; the journal reports itself ``failing`` meanwhile.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import peewee

from ..aio import cancel_and_wait
from ..store import rawsql
from ..store.db import Store
from ..store.models import Event
from .text import escape_text, invalid_at

log = logging.getLogger("hotline.journal")

FLUSH_INTERVAL = 0.05
MAX_BUFFER = 100_000      # events held in memory while the database fails; past this they go to the spill file
MAX_THENS = 10_000        # follow-up writes kept for retry while the database fails (oldest dropped past it)
MAX_THEN_TRIES = 3        # a follow-up write (a CDR) that itself fails is tried this often, then dead-lettered
MAX_BACKOFF = 10.0
STORE_ERRORS = (peewee.OperationalError, peewee.InterfaceError)
COLUMNS = ("ts", "kind", "call_uuid", "line", "data")   # an events row as _row() makes it


@dataclass
class Then:
    """A write that must follow the events in the same transaction (a CDR), and how often it failed."""

    fn: Callable[[], Any]
    tries: int = 0
    waiter: asyncio.Future | None = None   # commit_with()'s caller, told once the batch is committed (or not)


@dataclass
class BatchOutcome:
    """What the writer thread did with one batch (read back on the event loop)."""

    written: int = 0
    escaped: int = 0
    dead: int = 0
    results: list = field(default_factory=list)     # one per Then: its result, or the exception it raised


class Journal:
    """Buffers events and commits them in batches through the store's single writer."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time, metrics: Any = None,
                 state_dir: Path | None = None):
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.spill_path = state_dir / "journal-spill.jsonl" if state_dir is not None else None
        self.dead_path = state_dir / "journal-deadletter.jsonl" if state_dir is not None else None
        self._buffer: list[dict] = []
        self._thens: list[Then] = []      # follow-up writes whose batch failed: they run with the next one
        self._queued: list[Then] = []     # commit_with(): writes waiting for the next batch
        self._task: asyncio.Task | None = None
        self._inflight: asyncio.Future | None = None
        self._inflight_events = 0
        self.listeners: list[Callable[[dict], None]] = []
        self.written = 0
        self.escaped = 0
        self.dead_lettered = 0
        self.spilled = 0
        self.write_error: str | None = None    # the database refuses batches (cleared by the next success)
        self.then_error: str | None = None     # a CDR (or other follow-up write) failed (cleared likewise)

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

    async def commit_with(self, then: Callable[[], Any]) -> Any:
        """Commit the buffered events and run ``then`` in the same transaction with the next batch (within
        ~50 ms: calls ending together share one commit); ``then``'s result, or what ``flush(then)`` raises."""
        if self._task is None or self._task.done() or self.write_error is not None:   # no batch soon: now
            return await self.flush(then)
        waiter = asyncio.get_running_loop().create_future()
        self._queued.append(Then(then, waiter=waiter))
        return await waiter

    async def start(self) -> None:
        """Write what a previous run spilled, then start the background flusher."""
        if self.spill_path is not None and self.spill_path.exists():
            await self.flush()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Write everything still buffered; if the database refuses, spill it to a file the next start writes."""
        await cancel_and_wait(self._task)
        self._task = None
        try:
            await self.flush()
        except Exception as exc:
            log.error("event=journal_stop_flush_failed buffered=%d error=%r", len(self._buffer), str(exc))
            self._spill()

    @property
    def failing(self) -> bool:
        """True while events or CDRs are not being written."""
        return self.write_error is not None or self.then_error is not None

    def status(self) -> dict:
        """Events written and waiting; ``failing`` (with the reason) while the database or a CDR write fails."""
        state = "down" if self._task is None else "failing" if self.failing else "up"
        out = {"state": state, "written": self.written, "buffered": len(self._buffer) + self._inflight_events,
               "escaped": self.escaped, "dead_lettered": self.dead_lettered, "spilled": self.spilled}
        if self.write_error:
            out["error"] = self.write_error
        if self.then_error:
            out["cdr_error"] = self.then_error
        return out

    async def _run(self) -> None:
        failures = 0
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            if self._buffer or self._thens or self._queued:
                try:
                    write = asyncio.ensure_future(self.flush())
                    write.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved if orphaned
                    await asyncio.shield(write)  # a stop waits for this write instead of undoing it
                    failures = 0
                except Exception:
                    failures += 1
                    log.exception("event=journal_write_failed buffered=%d", len(self._buffer))
                    if len(self._buffer) > MAX_BUFFER:
                        self._spill()
                    await asyncio.sleep(min(MAX_BACKOFF, 0.5 * 2 ** failures))

    async def flush(self, then: Callable[[], Any] | None = None) -> Any:
        """Commit every buffered event (and run ``then`` in the same transaction); ``then``'s result.

        A failing database raises (the events stay buffered and ``then`` runs with the next write); a failing
        ``then`` does not hold back the events: it is logged, counted, retried, and its exception raised here."""
        while self._inflight is not None:
            await asyncio.shield(self._inflight)
        self._inflight = asyncio.get_running_loop().create_future()
        mine = Then(then) if then is not None else None
        batch, self._buffer = self._buffer, []
        queued, self._queued = self._queued, []
        thens, self._thens = self._thens + queued + ([mine] if mine else []), []
        spilled: list[dict] = []
        try:
            spilled = await self._read_spill()
            if not batch and not thens and not spilled:
                return None
            self._inflight_events = len(batch)
            started = time.perf_counter()
            outcome = await self.store.write(_write_batch, spilled + batch, [t.fn for t in thens], self.dead_path)
        except BaseException as exc:
            self._buffer[:0] = batch  # kept for the next try: nothing is lost
            if isinstance(exc, asyncio.CancelledError):
                self._queued[:0] = [t for t in thens if t.waiter is not None]   # still waiting: the next batch
                thens = [t for t in thens if t.waiter is None]
            else:
                _tell(thens, exc)
            self._thens[:0] = thens
            if len(self._thens) > MAX_THENS:  # CDRs: the next start writes every one still missing
                log.error("event=journal_cdr_retries_dropped count=%d", len(self._thens) - MAX_THENS)
                del self._thens[:len(self._thens) - MAX_THENS]
            if not isinstance(exc, asyncio.CancelledError):
                self.write_error = f"{type(exc).__name__}: {exc}"
                if self.metrics is not None:
                    self.metrics.journal_write_errors.inc()
            raise
        finally:
            self._inflight_events = 0
            fut, self._inflight = self._inflight, None
            if not fut.done():
                fut.set_result(None)
        self.write_error = None
        if spilled:
            self._forget_spill(len(spilled))
        self._account(outcome, time.perf_counter() - started)
        return self._settle(thens, outcome.results, mine)

    def _account(self, outcome: BatchOutcome, seconds: float) -> None:
        self.written += outcome.written
        self.escaped += outcome.escaped
        self.dead_lettered += outcome.dead
        if self.metrics is not None:
            self.metrics.journal_write.observe(seconds)
            if outcome.escaped:
                self.metrics.journal_escaped.inc(outcome.escaped)
            if outcome.dead:
                self.metrics.journal_dead_lettered.inc(outcome.dead)

    def _settle(self, thens: list[Then], results: list, mine: Then | None) -> Any:
        """Keep failed follow-up writes for another try (bounded); the result of ``mine``."""
        ours: Any = None
        failed = False
        for t, result in zip(thens, results):
            if isinstance(result, BaseException):
                failed = True
                t.tries += 1
                self.then_error = f"{type(result).__name__}: {result}"
                if self.metrics is not None:
                    self.metrics.cdr_write_errors.inc()
                log.error("event=cdr_write_failed try=%d error=%r", t.tries, str(result))
                if t.waiter is not None and not t.waiter.done():
                    t.waiter.set_exception(result)
                t.waiter = None
                if t.tries < MAX_THEN_TRIES:
                    self._thens.append(t)
                else:
                    _dead_letter(self.dead_path, {"then": repr(t.fn)}, f"gave up after {t.tries} tries: {result!r}")
                    self.dead_lettered += 1
                    if self.metrics is not None:
                        self.metrics.journal_dead_lettered.inc()
            elif t.waiter is not None and not t.waiter.done():
                t.waiter.set_result(result)
            if t is mine:
                ours = result
        if not failed and thens:
            self.then_error = None
        if isinstance(ours, BaseException):
            raise ours
        return ours

    # ---- spill file: events the database could not take, written first by the next flush ---------------
    def _spill(self) -> None:
        """Append the buffer to the spill file and forget it in memory (at stop, or past MAX_BUFFER)."""
        if self.spill_path is None or not self._buffer:
            return
        try:
            with open(self.spill_path, "a", encoding="ascii") as f:
                for e in self._buffer:
                    f.write(json.dumps(e, ensure_ascii=True, default=str) + "\n")
        except (OSError, ValueError) as exc:
            log.error("event=journal_spill_failed events=%d error=%r", len(self._buffer), str(exc))
            return
        log.warning("event=journal_spilled events=%d path=%s", len(self._buffer), self.spill_path)
        self.spilled += len(self._buffer)
        self._buffer = []

    async def _read_spill(self) -> list[dict]:
        if self.spill_path is None or not self.spill_path.exists():
            return []
        return await asyncio.get_running_loop().run_in_executor(None, _load_spill, self.spill_path, self.dead_path)

    def _forget_spill(self, n: int) -> None:
        assert self.spill_path is not None
        try:
            self.spill_path.unlink()
        except OSError as exc:  # written twice is better than lost: the next start would add them again
            log.error("event=journal_spill_unlink_failed path=%s error=%r", self.spill_path, str(exc))
        log.warning("event=journal_spill_replayed events=%d", n)


def _tell(thens: list[Then], exc: BaseException) -> None:
    """The batch of these follow-up writes failed: their waiting callers get the error (the writes are retried)."""
    for t in thens:
        if t.waiter is not None and not t.waiter.done():
            t.waiter.set_exception(exc)
        t.waiter = None


def _load_spill(path: Path, dead_path: Path | None) -> list[dict]:
    """The events of a spill file (a line that does not parse is dead-lettered)."""
    events = []
    with open(path, encoding="ascii", errors="replace") as f:
        for n, text in enumerate(f, 1):
            try:
                e = json.loads(text)
                if not isinstance(e, dict) or not isinstance(e.get("data"), dict):
                    raise ValueError("not an event")
                events.append(e)
            except ValueError as exc:
                _dead_letter(dead_path, {"spill_line": n, "text": text[:2000]}, str(exc))
    return events


def _dead_letter(path: Path | None, what: Any, error: str) -> None:
    """Keep an event the journal cannot store, with the reason, in the dead-letter file (and the log)."""
    try:
        text = json.dumps(what, ensure_ascii=True, default=repr)
    except (ValueError, TypeError, RecursionError):
        text = json.dumps(repr(what)[:10000])
    log.error("event=journal_dead_letter error=%r event=%s", error, text[:500])
    if path is None:
        return
    try:
        with open(path, "a", encoding="ascii") as f:
            f.write(json.dumps({"at": time.time(), "error": error}, ensure_ascii=True)[:-1]
                    + f', "event": {text}}}\n')
    except OSError as exc:
        log.error("event=journal_dead_letter_failed path=%s error=%r", path, str(exc))


def _plain(value: Any) -> tuple[Any, bool]:
    """A column value made storable (escaped invalid Unicode and NULs); whether it had to be changed."""
    if value is None:
        return None, False
    text = value if isinstance(value, str) else str(value)
    if invalid_at(text) is None and "\x00" not in text:
        return text, text is not value
    return escape_text(text).replace("\x00", "\\x00"), True


def _escape_tree(value: Any) -> Any:
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, dict):
        return {escape_text(k): _escape_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape_tree(v) for v in value]
    return value


def _row(e: dict) -> tuple[dict, bool]:
    """One events row for an event (raises when it cannot be made into one); whether text was escaped."""
    data = json.dumps(e["data"], ensure_ascii=False, default=str)
    escaped = invalid_at(data) is not None
    if escaped:  # the same document with each bad string escaped (the text of the JSON would decode back)
        data = json.dumps(_escape_tree(json.loads(json.dumps(e["data"], default=str))), ensure_ascii=False)
    row = {"ts": float(e["ts"]), "data": data}
    for key in ("kind", "call_uuid", "line"):
        row[key], changed = _plain(e.get(key))
        escaped = escaped or (changed and isinstance(e.get(key), str))
    return row, escaped


def _insert(rows: list[dict], events: list[dict], dead_path: Path | None) -> int:
    """Insert rows; when a chunk fails for a reason of its own, row by row, dead-lettering what fails."""
    dead = 0
    for i in range(0, len(rows), 500):
        chunk = rows[i:i + 500]
        try:
            with Event._meta.database.atomic():
                rawsql.insert_rows(Event, COLUMNS, [tuple(r[c] for c in COLUMNS) for r in chunk])
            continue
        except STORE_ERRORS:
            raise
        except Exception:
            pass
        for row, event in zip(chunk, events[i:i + 500]):
            try:
                with Event._meta.database.atomic():
                    Event.insert(**row).execute()
            except STORE_ERRORS:
                raise
            except Exception as exc:
                _dead_letter(dead_path, event, f"insert failed: {exc!r}")
                dead += 1
    return dead


def _write_batch(batch: list[dict], thens: list[Callable[[], Any]], dead_path: Path | None) -> BatchOutcome:
    """Runs on the writer thread inside one transaction: the events, then each follow-up in its own savepoint."""
    out = BatchOutcome()
    rows, events = [], []
    for e in batch:
        try:
            row, escaped = _row(e)
        except Exception as exc:  # cannot even be encoded (a circular structure, a bad timestamp)
            _dead_letter(dead_path, e, f"cannot encode: {exc!r}")
            out.dead += 1
            continue
        if escaped:
            out.escaped += 1
            log.warning("event=journal_event_escaped kind=%s call=%s", row["kind"], row["call_uuid"])
        rows.append(row)
        events.append(e)
    if rows:
        failed = _insert(rows, events, dead_path)
        out.dead += failed
        out.written = len(rows) - failed
    for fn in thens:
        try:
            with Event._meta.database.atomic():
                out.results.append(fn())
        except STORE_ERRORS:
            raise
        except Exception as exc:
            out.results.append(exc)
    return out


def events_for(call_uuid: str) -> list[dict]:
    """A call's events in order (runs in a DB thread)."""
    return [{"id": e.id, "ts": e.ts, "kind": e.kind, "call_uuid": e.call_uuid, "line": e.line,
             "data": json.loads(e.data)}
            for e in Event.select().where(Event.call_uuid == call_uuid).order_by(Event.id)]
