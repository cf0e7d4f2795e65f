"""The panel's navigation: groups of pages, each with the roles that may open it (admin opens everything).
Labels are English source text, translated when shown (they are in the translation test's list)."""
from __future__ import annotations


def N_(text: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a string for translation."""
    return text


def page(path: str, label: str, *roles: str) -> dict:
    """One navigation entry."""
    return {"path": path, "label": label, "roles": roles}


NAV: list[tuple[str, list[dict]]] = [
    (N_("Work"), [
        page("/", N_("Overview"), "supervisor", "agent", "qa"),
    ]),
    (N_("System"), [
        page("/audit", N_("Audit log")),
        page("/config/backup", N_("Backup and restore")),
    ]),
]
