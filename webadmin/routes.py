"""The JSON API's routes, collected from the handler modules."""
from __future__ import annotations

import tornado.web

from .handlers import acd, calls, sim
from .handlers import openapi


def api_routes() -> list[tuple[str, type[tornado.web.RequestHandler]]]:
    """Every /api/v1 route with its handler class."""
    return [*calls.ROUTES, *sim.ROUTES, *acd.ROUTES, *openapi.ROUTES]
