"""Finds drivers through the ``hotline.drivers`` entry-point group, built-in ones included."""
from __future__ import annotations

from functools import lru_cache
from importlib import metadata

from .base import Driver

GROUP = "hotline.drivers"


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=GROUP)}


def names() -> list[str]:
    """Names of every registered driver."""
    return sorted(_entry_points())


def get(name: str) -> type[Driver] | None:
    """The driver class registered under ``name``, or None."""
    ep = _entry_points().get(name)
    if ep is None:
        return None
    cls = ep.load()
    if not (isinstance(cls, type) and issubclass(cls, Driver)):
        raise TypeError(f"entry point {GROUP}:{name} is not a Driver subclass")
    return cls
