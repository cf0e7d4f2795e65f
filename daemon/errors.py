"""The daemon's exception families; messages name the file, line and key."""
from __future__ import annotations

from hotline.dialplan.schema import Problem  # noqa: F401 - re-exported: config errors carry Problems


class HotlineError(Exception):
    """Base of every error the daemon raises on purpose."""


class ConfigError(HotlineError):
    """The configuration is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem("<config>", 0, 0, "", problems)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    def __reduce__(self) -> tuple:
        return (type(self), (self.problems,))  # raised in a worker process (a big document), raised again here


class StoreError(HotlineError):
    """The database cannot be opened, upgraded or written."""


class SchemaTooNew(StoreError):
    """The database was written by a newer Hotline than this one."""
