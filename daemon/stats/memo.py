"""A bounded memo of finished report rows, keyed by everything a row is made of (its sums, the agent's names).

A report over 90 days re-reads the same closed days on every request: the database gives their sums quickly, but
turning 9,000 agent-days into figures in Python is most of the report's time. Keyed by the inputs themselves, a
memoised row can never be stale: when a day's sums change (a late event, a rebuild) the key changes, and the
old entry simply ages out. Two generations bound the memory: when the newer is full, the older is dropped.
"""
from __future__ import annotations

import threading
from typing import Any, Hashable


class Memo:
    """``find(key)``: the value kept for ``key`` (or None); ``keep(key, value)``. Values are shared by every
    caller that finds them: read only."""

    def __init__(self, size: int):
        self.size = size             # entries per generation: at most twice this many are kept
        self.new: dict[Hashable, Any] = {}
        self.old: dict[Hashable, Any] = {}
        self.lock = threading.Lock()   # report reads run in a pool of threads

    def find(self, key: Hashable) -> Any:
        """The value kept for ``key``, or None (one found in the older generation moves to the newer)."""
        value = self.new.get(key)
        if value is None:
            value = self.old.get(key)
            if value is not None:
                self.keep(key, value)
        return value

    def keep(self, key: Hashable, value: Any) -> None:
        """Keep ``value`` for ``key`` (dropping the older generation when the newer is full)."""
        with self.lock:
            if len(self.new) >= self.size:
                self.old, self.new = self.new, {}
            self.new[key] = value

    def __len__(self) -> int:
        return len(self.new) + len(self.old)

    def clear(self) -> None:
        """Forget everything."""
        with self.lock:
            self.new, self.old = {}, {}
