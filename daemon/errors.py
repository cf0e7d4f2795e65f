"""The daemon's exception families; messages name the file, line and key."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One configuration problem at a place in a file."""

    file: str
    line: int
    column: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class HotlineError(Exception):
    """Base of every error the daemon raises on purpose."""


class ConfigError(HotlineError):
    """The configuration is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem("<config>", 0, 0, "", problems)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class StoreError(HotlineError):
    """The database cannot be opened, upgraded or written."""


class SchemaTooNew(StoreError):
    """The database was written by a newer Hotline than this one."""
