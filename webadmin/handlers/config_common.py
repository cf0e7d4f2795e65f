"""What the configuration pages share: admin-only JSON handlers, validation problems as 400s naming the field,
allow-listed query arguments, changes made and audited in one write transaction."""
from __future__ import annotations

from typing import Any, Callable

import tornado.web

from hotline.daemon.box import audit
from hotline.daemon.errors import ConfigError

from .base import BaseHandler, PageHandler


def problems(exc: ConfigError, lines: bool = False, locale: Any = None) -> dict:
    """A ConfigError as the JSON error body: every problem with its field (and line for YAML documents), the
    messages in the user's language."""
    from ..i18n import translate_problem
    items = []
    for p in exc.problems:
        item = {"field": p.key, "message": translate_problem(p.message, locale)}
        if lines:
            item.update(line=p.line, column=p.column)
        items.append(item)
    text = "; ".join(str(p) if lines else (f"{p.key}: {p.message}" if p.key else p.message) for p in exc.problems)
    return {"error": text, "status": 400, "problems": items}


def allow_query(handler: tornado.web.RequestHandler, **allowed: tuple[str, ...] | None) -> dict[str, str]:
    """Query arguments from an allow-list: ``name=None`` any value, ``name=(choices)``; anything else is a 400
    naming the parameter. Returns the given ones."""
    out = {}
    for name in handler.request.query_arguments:
        if name not in allowed:
            raise tornado.web.HTTPError(400, reason=f"unknown parameter {name!r}")
        value = handler.get_query_argument(name)
        choices = allowed[name]
        if choices is not None and value not in choices:
            raise tornado.web.HTTPError(400, reason=f"{name}: one of {', '.join(choices)}")
        out[name] = value
    return out


class ConfigApi(BaseHandler):
    """An admin-only configuration API handler."""

    roles = ("admin",)
    query: dict[str, tuple[str, ...] | None] = {}   # allowed query parameters (None: any value)

    async def prepare(self) -> None:
        """Authenticate, authorize; query parameters only from the handler's allow-list."""
        await super().prepare()
        self.q = allow_query(self, **self.query)

    def fail(self, status: int, message: str, **extra: Any) -> None:
        """A JSON error naming what is wrong."""
        self.write_json({"error": message, "status": status, **extra}, status)

    async def change(self, fn: Callable[[], Any], action: str, target: str,
                     diff: Callable[[Any], tuple[Any, Any]] = lambda r: r) -> Any:
        """Run ``fn`` in the writer's transaction and audit it there too: ``diff(result)`` gives (before, after)."""
        actor, address = self.actor, self.address

        def tx() -> Any:
            result = fn()
            before, after = diff(result)
            audit.record(actor, address, action, target, before, after)
            return result
        return await self.services["store"].write(tx)


class ConfigPage(PageHandler):
    """An admin-only configuration page."""

    roles = ("admin",)
    query: dict[str, tuple[str, ...] | None] = {}

    async def prepare(self) -> None:
        """Setup, log-in, role; query parameters only from the page's allow-list."""
        await super().prepare()
        if not self._finished:
            self.q = allow_query(self, **self.query)

    def get_template_namespace(self) -> dict[str, Any]:
        """Dates and times for the templates."""
        ns = super().get_template_namespace()
        ns["fmt_time"] = self.local_time
        return ns
