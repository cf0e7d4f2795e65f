"""A small pool of fax threads: each runs its share of fax sessions whenever the tick has fed them audio."""
from __future__ import annotations

import logging
import threading
import time

from .session import FaxSession

log = logging.getLogger("hotline.fax")

__all__ = ["FaxPool"]

IDLE_WAIT = 0.25   # a worker looks at its sessions at least this often (time limits, cancels with no audio)


class _Worker:
    """One fax thread and the sessions it owns."""

    def __init__(self, pool_name: str, index: int):
        self.wake = threading.Event()
        self.sessions: list[FaxSession] = []
        self.lock = threading.Lock()
        self.stopping = False
        self.finished = 0
        self.thread = threading.Thread(target=self.run_thread, name=f"{pool_name}-{index}", daemon=True)

    def run_thread(self) -> None:
        """Step every session whenever woken (audio fed, cancel) or every IDLE_WAIT seconds."""
        while not self.stopping:
            self.wake.wait(IDLE_WAIT)
            self.wake.clear()
            with self.lock:
                sessions = list(self.sessions)
            done = [s for s in sessions if s.step_thread()]
            if done:
                with self.lock:
                    self.sessions = [s for s in self.sessions if s not in done]
                    self.finished += len(done)


class FaxPool:
    """Runs fax sessions on ``threads`` worker threads (a session stays on one thread for its whole life)."""

    def __init__(self, threads: int = 2, name: str = "fax"):
        if threads < 1:
            raise ValueError("a fax pool needs at least one thread")
        self.name = name
        self.workers = [_Worker(name, i) for i in range(threads)]
        self.started_at = time.monotonic()
        for w in self.workers:
            w.thread.start()

    def start(self, session: FaxSession) -> FaxSession:
        """Take a session: it goes to the least busy thread and its time limit starts now."""
        if any(w.stopping for w in self.workers):
            raise RuntimeError("the fax pool is closed")
        worker = min(self.workers, key=lambda w: len(w.sessions))
        with worker.lock:
            session.attach_thread(worker.wake)
            worker.sessions.append(session)
        worker.wake.set()
        return session

    def active(self) -> int:
        """Sessions running now."""
        return sum(len(w.sessions) for w in self.workers)

    def close(self, timeout: float = 5.0) -> None:
        """Cancel what still runs (each ends CANCELLED) and stop the threads."""
        for w in self.workers:
            with w.lock:
                for s in w.sessions:
                    s.cancel("the fax engine stopped")
            w.wake.set()
        deadline = time.monotonic() + timeout
        while self.active() and time.monotonic() < deadline:
            time.sleep(0.02)
        for w in self.workers:
            w.stopping = True
            w.wake.set()
        for w in self.workers:
            w.thread.join(max(0.0, deadline - time.monotonic()) + 1.0)

    def status(self) -> dict:
        """Threads, sessions running and finished, for the panel and metrics."""
        return {"threads": len(self.workers), "active": self.active(),
                "finished": sum(w.finished for w in self.workers),
                "sessions": [s.status() for w in self.workers for s in list(w.sessions)]}
