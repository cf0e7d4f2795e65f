"""Every route of the panel and the JSON API, collected from the handler modules."""
from __future__ import annotations

import tornado.web

from .handlers import acd, calls, pages, sim
from .handlers import openapi


def api_routes() -> list[tuple[str, type[tornado.web.RequestHandler]]]:
    """Every /api/v1 route with its handler class."""
    return [*calls.ROUTES, *sim.ROUTES, *acd.ROUTES, *pages.API_ROUTES, *openapi.ROUTES]


def page_routes() -> list[tuple[str, type[tornado.web.RequestHandler]]]:
    """Every server-rendered page."""
    return [*pages.ROUTES]
