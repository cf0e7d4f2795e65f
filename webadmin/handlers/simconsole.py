"""The QA simulator console: place calls on the simulated card, press keys, answer and dial from the phones,
switch line faults, download what a caller heard. It drives the same QA API as `hotline sim` and the tests."""
from __future__ import annotations

from ..i18n import N_
from .base import PageHandler


class SimConsolePage(PageHandler):
    """/sim (qa; admin too)."""

    roles = ("qa",)
    title = N_("Simulator")

    def get(self) -> None:
        """The console; the script talks to /api/v1/sim."""
        routes = [r["dialed"] for r in self.services["config"]["routes"]]
        lines = self.services["sim"].line_names() if "sim" in self.services else []
        self.render("simconsole.html", routes=routes, lines=lines)


PAGE_ROUTES = [(r"/sim", SimConsolePage)]
