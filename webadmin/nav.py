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
        page("/sim", N_("Simulator"), "qa"),
        page("/wallboard", N_("Wallboard"), "supervisor"),
        page("/reports", N_("Reports"), "supervisor"),
        page("/desk", N_("Agent desk"), "agent", "supervisor"),
        page("/tickets", N_("Tickets"), "agent", "supervisor"),
        page("/workorders", N_("Work orders"), "agent", "supervisor"),
        page("/kb", N_("Knowledge base"), "agent", "supervisor"),
        page("/crm", N_("CRM"), "agent", "supervisor"),
        page("/recordings", N_("Recordings"), "supervisor", "agent"),
        page("/voicemail", N_("Voicemail"), "supervisor", "agent"),
        page("/faxes", N_("Faxes"), "supervisor", "agent"),
        page("/fax-documents", N_("Fax documents"), "supervisor", "agent"),
    ]),
    (N_("Configuration"), [
        page("/config/lines", N_("Lines")),
        page("/config/stations", N_("Stations")),
        page("/config/sip", N_("SIP")),
        page("/config/agents", N_("Agents")),
        page("/config/queues", N_("Queues")),
        page("/config/recording", N_("Recording")),
        page("/config/hours", N_("Business hours")),
        page("/config/holidays", N_("Holidays")),
        page("/config/blacklist", N_("Blacklist")),
        page("/config/flows", N_("Flows")),
        page("/config/prompts", N_("Prompts")),
    ]),
    (N_("System"), [
        page("/config/system", N_("System status")),
        page("/config/users", N_("Users")),
        page("/audit", N_("Audit log")),
        page("/config/backup", N_("Backup and restore")),
    ]),
]
