"""The caller block list: admin page and JSON API (add, delete, import a list; numbers or prefixes ending in *),
every change audited before -> after."""
from __future__ import annotations

import re

import tornado.web

from hotline.daemon.box import audit
from hotline.daemon.service import calendar
from hotline.daemon.store.models import Blacklist

from ..i18n import N_
from .inputs import id_param
from .config_calendar import (IMPORT_BODY_LIMIT, MAX_UPLOAD, csv_fields, CalendarApiBase, CalendarPage, Invalid, LinesImportApi, Problem,
                              uploaded_text)
from .config_calendar import (IMPORT_BODY_LIMIT, MAX_UPLOAD, CalendarApiBase, CalendarPage, Invalid, LinesImportApi, Problem,
                              import_lines, parse_import, uploaded_text)

NOT_A_NUMBER = N_("%(value)s is not a phone number: use 3-20 digits, or a prefix of at least 2 digits ending in *")


def check_number(value: str, line: int | None = None) -> tuple[str | None, list[Problem]]:
    """A caller number (3-20 digits, optional +) or a prefix of at least 2 digits ending in *; spaces, dashes and
    brackets are dropped (callers are matched on the digits the line delivers)."""
    cleaned = re.sub(r"[\s\-().]", "", value or "")
    if re.fullmatch(r"\+?\d{3,20}", cleaned) or re.fullmatch(r"\+?\d{2,19}\*", cleaned):
        return cleaned, []
    return None, [Problem(NOT_A_NUMBER, {"value": repr(value or "")}, line)]


def check_reason(reason: str, line: int | None = None) -> tuple[str, list[Problem]]:
    """A reason of at most 200 characters."""
    reason = (reason or "").strip()
    if len(reason) > 200:
        return reason, [Problem(N_("the reason is longer than 200 characters"), {}, line)]
    return reason, []


def parse_block_lines(text: str) -> list[tuple[str, str]]:
    """Lines "number[,reason]"; every bad line reported, nothing returned when any is bad."""
    rows, problems, seen = [], [], {}
    first = True
    for n, line in import_lines(text, problems):
        fields = csv_fields(line)
        if fields is None:
            problems.append(Problem(NOT_A_NUMBER, {"value": line[:40] + "..."}, n))
            continue
        if first and fields[0].lower() in ("number", "号码"):
            first = False
            continue
        first = False
        number, bad = check_number(fields[0], n)
        reason, bad_reason = check_reason(",".join(fields[1:]), n)
        bad += bad_reason
        if number is not None and number in seen:
            bad.append(Problem(N_("%(value)s is already on line %(other)d"), {"value": number, "other": seen[number]},
                               n))
        problems.extend(bad)
        if not bad:
            seen[number] = n
            rows.append((number, reason))
    if problems:
        raise Invalid(problems, "text")
    if not rows:
        raise Invalid([Problem(N_("There is nothing to import."), {})], "text")
    return rows


def list_blocks(search: str | None) -> list[dict]:
    """The block list, newest first (DB thread)."""
    q = Blacklist.select().order_by(Blacklist.created_at.desc(), Blacklist.id.desc())
    if search:
        q = q.where(Blacklist.number.contains(search) | Blacklist.reason.contains(search))
    return [{"id": b.id, "number": b.number, "prefix": b.number.endswith("*"), "reason": b.reason,
             "created_at": b.created_at, "created_by": b.created_by} for b in q]


def add_blocks(rows: list[tuple[str, str]], who: str, address: str, action: str) -> dict:
    """Add numbers with daemon/service/calendar.py's block_many(); existing ones get the new reason; audited (writer
    thread)."""
    numbers = [r[0] for r in rows]
    old: dict[str, str] = {}
    for i in range(0, len(numbers), 500):  # SQLite allows a bounded number of parameters per statement
        old.update(Blacklist.select(Blacklist.number, Blacklist.reason)  # tuples: no model object per row
                   .where(Blacklist.number.in_(numbers[i:i + 500])).tuples())
    for number, reason in rows:
        if number in old and old[number] != reason:
            Blacklist.update(reason=reason).where(Blacklist.number == number).execute()
    calendar.block_many([(n, r) for n, r in rows if n not in old], who)
    target = numbers[0] if len(numbers) == 1 else f"{len(numbers)} numbers"
    audit.record(who, address, action, target, old or None, {n: r for n, r in rows})
    return {"added": len([n for n in numbers if n not in old]), "updated": len([n for n in numbers if n in old])}


def remove_block(entry_id: int, who: str, address: str) -> dict | None:
    """Delete one entry, audited (writer thread)."""
    b = Blacklist.get_or_none(Blacklist.id == entry_id)
    if b is None:
        return None
    b.delete_instance()
    audit.record(who, address, "blacklist.delete", b.number, {b.number: b.reason}, None)
    return {"id": entry_id, "number": b.number}


# ---- uploads -------------------------------------------------------------------------------------------------


class BlacklistPage(CalendarPage):
    """Blocked callers: add with a reason, delete, import a list, search."""

    title = N_("Blacklist")
    query_params = {"done", "n", "q"}

    async def get(self) -> None:
        """The list."""
        self.check_query()
        search = self.get_query_argument("q", "").strip()[:32]
        await self.show(search, {}, [], "", [])

    async def show(self, search: str, form: dict, add_errors: list[str], text: str, import_errors: list[str]) -> None:
        """Render (after a failed add or import: with the input and the problems)."""
        rows = await self.services["store"].read(list_blocks, search or None)
        self.render("blacklist.html", rows=rows, search=search, form=form, add_errors=add_errors, text=text,
                    import_errors=import_errors, done=self.done_message(),
                    fmt=self.local_time)

    async def post(self) -> None:
        """Add one number or prefix."""
        form = {k: self.get_body_argument(k, "").strip() for k in ("number", "reason")}
        number, problems = check_number(form["number"])
        reason, bad = check_reason(form["reason"])
        problems += bad
        if not problems and await self.services["store"].read(
                lambda: Blacklist.select().where(Blacklist.number == number).exists()):
            problems.append(Problem(N_("%(value)s is already on the list."), {"value": number}))
        if problems:
            self.set_status(400)
            await self.show("", form, [p.text(self.locale.translate) for p in problems], "", [])
            return
        await self.services["store"].write(add_blocks, [(number, reason)], self.actor, self.address, "blacklist.add")
        self.redirect("/config/blacklist?done=added")


class BlacklistDeletePage(CalendarPage):
    """POST /config/blacklist/delete: remove one entry."""

    async def post(self) -> None:
        """Delete and go back."""
        entry = id_param(self.get_body_argument("id", ""))
        await self.services["store"].write(remove_block, entry, self.actor, self.address)
        self.redirect("/config/blacklist?done=deleted")


class BlacklistImportPage(CalendarPage):
    """POST /config/blacklist/import: lines "number[,reason]"; any bad line and nothing is imported."""

    body_limit = IMPORT_BODY_LIMIT

    title = N_("Blacklist")

    async def post(self) -> None:
        """Import every line or none."""
        text = self.get_body_argument("text", "")
        try:
            text = uploaded_text(self)
            rows = await parse_import(parse_block_lines, text)
        except Invalid as exc:
            self.set_status(400)
            await BlacklistPage.show(self, "", {}, [], text[:MAX_UPLOAD], self.problems(exc))
            return
        await self.services["store"].write(add_blocks, rows, self.actor, self.address, "blacklist.import")
        self.redirect(f"/config/blacklist?done=imported&n={len(rows)}")


# ---- JSON API ------------------------------------------------------------------------------------------------


class BlacklistApi(CalendarApiBase):
    """GET/POST /api/v1/blacklist: list (?q=) and add one number or prefix*."""

    async def get(self) -> None:
        """Entries newest first."""
        unknown = sorted(set(self.request.query_arguments) - {"q"})
        if unknown:
            raise tornado.web.HTTPError(400, reason=f"unknown parameter {unknown[0]!r}")
        search = self.get_query_argument("q", "").strip()[:32]
        self.write_json({"entries": await self.services["store"].read(list_blocks, search or None)})

    async def post(self) -> None:
        """Body {"number": "13800138000" | "400*", "reason": "..."}."""
        b = self.json_body()
        number, problems = check_number(str(b.get("number") or ""))
        if problems:
            return self.invalid(Invalid(problems, "number"))
        reason, problems = check_reason(str(b.get("reason") or ""))
        if problems:
            return self.invalid(Invalid(problems, "reason"))
        if await self.services["store"].read(lambda: Blacklist.select().where(Blacklist.number == number).exists()):
            return self.write_json({"error": f"number: {number} is already on the list", "status": 409}, 409)
        await self.services["store"].write(add_blocks, [(number, reason)], self.actor, self.address, "blacklist.add")
        entry = await self.services["store"].read(lambda: Blacklist.get(Blacklist.number == number))
        self.write_json({"id": entry.id, "number": number, "reason": reason}, 201)


class BlacklistEntryApi(CalendarApiBase):
    """DELETE /api/v1/blacklist/{id}."""

    async def delete(self, entry_id: str) -> None:
        """Remove one entry."""
        result = await self.services["store"].write(remove_block, id_param(entry_id), self.actor, self.address)
        if result is None:
            raise tornado.web.HTTPError(404, reason="no such entry")
        self.write_json({**result, "deleted": True})


class BlacklistImportApi(LinesImportApi):
    """POST /api/v1/blacklist/import {"text": "number[,reason]\\n..."}: all lines or none."""

    parse = staticmethod(parse_block_lines)
    save = staticmethod(add_blocks)
    action = "blacklist.import"


PAGE_ROUTES = [
    (r"/config/blacklist", BlacklistPage),
    (r"/config/blacklist/delete", BlacklistDeletePage),
    (r"/config/blacklist/import", BlacklistImportPage),
]
ROUTES = [
    (r"/api/v1/blacklist", BlacklistApi),
    (r"/api/v1/blacklist/import", BlacklistImportApi),
    (r"/api/v1/blacklist/([0-9]{1,12})", BlacklistEntryApi),
]
