"""Wires the components together in start order; the one place that knows them all."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .webserver import WebComponent

if TYPE_CHECKING:
    from .app import Component, Hotline


def build_components(app: "Hotline") -> list[tuple[str, "Component"]]:
    """store -> journal -> devices -> engine -> calls -> web."""
    from .app import StoreComponent
    cfg = app.config
    comps: list[tuple[str, Component]] = [("store", StoreComponent(app.store, cfg["database"]["auto_upgrade"]))]
    comps.append(("web", WebComponent(app.services)))
    for name, comp in comps:
        app.services.setdefault(name, comp)
    return comps
