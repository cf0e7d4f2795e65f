"""Every route of the panel and the JSON API, collected from the handler modules.

A module may define PAGE_ROUTES (server-rendered pages), ROUTES (JSON API under /api/v1) and
setup_hub(hub, services) (live topics for the WebSocket hub) and on_start(services) (background work, started
once with the application). Add a new module to MODULES."""
from __future__ import annotations

import tornado.web

from .handlers import acd, auth, calls, openapi, pages, sim
from .handlers import backup, report_mail, reports, simconsole
from .handlers import wallboard
from .handlers import desk, tickets
from .handlers import kb, workorders
from .handlers import faxes, fax_library
from .handlers import crm, crm_customers
from .handlers import config_blacklist, config_calendar, media_messages, media_pages
from .handlers import config_flows, config_prompts
from .handlers import config_acd, config_hardware, config_system, config_users
from .handlers import config_sip

MODULES = [auth, pages, calls, sim, acd, openapi, backup, report_mail, reports, simconsole, wallboard, desk, tickets, kb, workorders, crm,
           crm_customers, media_pages, media_messages, faxes, fax_library, config_acd, config_system, config_users,
           config_calendar, config_blacklist, config_flows, config_prompts, config_hardware,
           config_sip]


def api_routes() -> list[tuple[str, type[tornado.web.RequestHandler]]]:
    """Every /api/v1 route with its handler class."""
    return [r for m in MODULES for r in getattr(m, "ROUTES", [])]


def page_routes() -> list[tuple[str, type[tornado.web.RequestHandler]]]:
    """Every server-rendered page."""
    return [r for m in MODULES for r in getattr(m, "PAGE_ROUTES", [])]


def hub_setups() -> list:
    """Modules' hooks that declare live topics."""
    return [m.setup_hub for m in MODULES if hasattr(m, "setup_hub")]


def on_starts() -> list:
    """Modules' hooks run once when the application is built (background tasks such as report mailing)."""
    return [m.on_start for m in MODULES if hasattr(m, "on_start")]
