"""Customers in the panel: the searchable list (name, phone, member number), the form with contact numbers,
the customer's page with calls, tickets and faxes, delete, and CSV import (check first, all rows or none) and
export; plus the API's customer history, import and export."""
from __future__ import annotations

import os
import secrets
import time
from typing import Any

import tornado.web

from hotline.daemon.service import crm, crm_csv

from ..i18n import N_
from ..limits import upload
from .inputs import id_param
from .crm import (DELETE_ROLES, EDIT_ROLES, PAGE_SIZE, CrmApi, CrmPage, error_text, fail_json, page_url,
                  query_args)

CSV_TYPES = {"text/csv", "text/plain", "application/csv", "text/comma-separated-values", "application/vnd.ms-excel",
             "application/octet-stream", ""}
STASH_SECONDS = 1800   # a checked upload waits this long for "Import"
STASH_MAX = 8          # ... and at most this many wait at once (each up to MAX_IMPORT_BYTES)
LAYOUT = [["name", "member_no"], ["province", "area_code", "district"], ["address"], ["email", "language"],
          ["notes"]]


def upload_problem(filename: str, content_type: str, size: int) -> crm.CrmError | None:
    """Why an uploaded file is refused before reading it: wrong type or too large."""
    if size > crm_csv.MAX_IMPORT_BYTES:
        return crm.CrmError("file", "is larger than %(max)d MB", 413, max=crm_csv.MAX_IMPORT_BYTES // (1024 * 1024))
    ext = os.path.splitext(filename or "")[1].lower()
    if ext in (".xlsx", ".xls", ".xlsm", ".ods"):
        return crm.CrmError("file", "is an Excel workbook, not CSV: save it as CSV (UTF-8) first", 415)
    if ext not in (".csv", ".txt") or content_type.split(";")[0].strip().lower() not in CSV_TYPES:
        return crm.CrmError("file", "is not a CSV text file", 415)
    return None


# ------------------------------------------------------------------ pages

class CustomersPage(CrmPage):
    """/crm/customers: search by name (Chinese too), phone or member number; VIP filter; sort; pages."""

    title = N_("Customers")

    async def get(self) -> None:
        """The list."""
        args = query_args(self)
        try:
            query = crm.parse_query(crm.CUSTOMERS, args, PAGE_SIZE)
        except crm.CrmError as exc:
            return self.bad_request(exc)
        result = await self.db_read(crm.search, crm.CUSTOMERS, query)
        self.render("crm_customers.html", result=result, args=args, page_url=page_url, base_path="/crm/customers")


def customer_form(handler: tornado.web.RequestHandler) -> dict[str, Any]:
    """The submitted customer form as input for crm.clean (contact number rows, VIP checkbox)."""
    data: dict[str, Any] = {f.name: handler.get_body_argument(f.name, "") for f in crm.CUSTOMERS.fields}
    data["vip"] = handler.get_body_argument("vip", "") == "on"
    numbers = handler.get_body_arguments("phone_number")
    kinds = handler.get_body_arguments("phone_kind")
    data["phones"] = [{"number": n, "kind": kinds[i] if i < len(kinds) else ""} for i, n in enumerate(numbers)
                      if n.strip()]
    return data


class CustomerFormPage(CrmPage):
    """/crm/customers/new and /crm/customers/<id>/edit: the form and its save."""

    title = N_("Customer")

    async def get(self, item_id: str | None = None) -> None:
        """The empty or filled form."""
        box = self.services["config"]["locale"]["language"]         # callers speak the box's language
        item: dict[str, Any] = {"language": box if box in crm.LANGUAGES else "zh_CN", "phones": []}
        if item_id is not None:
            try:
                item = await self.db_read(crm.get, crm.CUSTOMERS, id_param(item_id))
            except crm.CrmError as exc:
                return self.bad_request(exc)
        self.show(item_id, item, {})

    def show(self, item_id: str | None, form: dict[str, Any], errors: dict[str, str]) -> None:
        """Render the form."""
        from hotline.daemon.service.lookups import PROVINCES
        self.render("crm_customer_form.html", item_id=item_id, form=form, errors=errors, layout=LAYOUT,
                    fields={f.name: f for f in crm.CUSTOMERS.fields}, provinces=PROVINCES)

    async def post(self, item_id: str | None = None) -> None:
        """Save and show the customer, or show the form again with every problem."""
        data = customer_form(self)

        def check() -> list[crm.CrmError]:
            before = crm.get(crm.CUSTOMERS, id_param(item_id)) if item_id is not None else None
            return crm.clean_all(crm.CUSTOMERS, data, before)[1]
        item = None
        try:
            problems = await self.db_read(check)
            if not problems:
                if item_id is None:
                    item = await self.db_write(crm.create, crm.CUSTOMERS, data, self.actor, self.address)
                else:
                    item = await self.db_write(crm.update, crm.CUSTOMERS, id_param(item_id), data, self.actor, self.address)
        except crm.CrmError as exc:
            if exc.status == 404:
                return self.bad_request(exc)
            problems = [exc]
        if problems or item is None:
            self.set_status(400)
            errors = {p.field or "": error_text(self.locale, p) for p in reversed(problems)}
            return self.show(item_id, data, errors)
        self.redirect(f"/crm/customers/{item['id']}")


class CustomerPage(CrmPage):
    """/crm/customers/<id>: contact details, and the history of calls, tickets and faxes."""

    title = N_("Customer")

    async def get(self, item_id: str) -> None:
        """The customer's page."""
        try:
            data = await self.db_read(crm.history, id_param(item_id))
        except crm.CrmError as exc:
            return self.bad_request(exc)
        self.render("crm_customer.html", c=data["customer"], calls=data["calls"], tickets=data["tickets"],
                    faxes=data["faxes"], languages_all={"zh_CN": "中文", "en_US": "English"})


class CustomerDeletePage(CrmPage):
    """POST /crm/customers/<id>/delete: admin and supervisor only; audited."""

    roles = DELETE_ROLES

    async def post(self, item_id: str) -> None:
        """Delete and go back to the list."""
        try:
            await self.db_write(crm.delete, crm.CUSTOMERS, id_param(item_id), self.actor, self.address)
        except crm.CrmError as exc:
            return self.bad_request(exc)
        self.redirect("/crm/customers")


class CustomerExportPage(CrmPage):
    """/crm/customers/export: the customers matching the list's search as CSV (headers in the user's language)."""

    async def get(self) -> None:
        """Download."""
        args = query_args(self)
        try:
            query = crm.parse_query(crm.CUSTOMERS, args)
        except crm.CrmError as exc:
            return self.bad_request(exc)
        text = await self.db_read(crm_csv.export_csv, query, self.locale.code)
        send_csv(self, text)


def send_csv(handler: tornado.web.RequestHandler, text: str) -> None:
    """A CSV download named customers-YYYYMMDD-HHMM.csv."""
    name = f"customers-{handler.local_time(time.time(), 'file')}.csv"
    handler.set_header("Content-Type", "text/csv; charset=utf-8")
    handler.set_header("Content-Disposition", f'attachment; filename="{name}"')
    handler.finish(text.encode("utf-8"))


def _stash(services: dict[str, Any]) -> dict[str, tuple[str, bytes, str, float]]:
    stash = services.setdefault("_crm_imports", {})
    now = time.monotonic()
    for token in [t for t, v in stash.items() if now - v[3] > STASH_SECONDS]:
        del stash[token]
    return stash


@upload(2 * crm_csv.MAX_IMPORT_BYTES)   # a little too big still gets the page's own message
class CustomerImportPage(CrmPage):
    """/crm/customers/import: upload a CSV, see every bad row with its row number, then import all or nothing."""

    title = N_("Import customers")

    def get(self) -> None:
        """The upload form."""
        self.show()

    def show(self, report: dict | None = None, error: str | None = None, token: str | None = None,
             done: dict | None = None, filename: str = "") -> None:
        """Render the page in one of its states (upload, checked, refused, imported)."""
        errors = []
        for e in (report or {}).get("errors", []):
            text = error_text(self.locale, crm.CrmError(e["field"], e["message"], **(e["params"] or {})))
            errors.append({"row": e["row"], "text": text})
        self.render("crm_import.html", report=report, errors=errors, error=error, token=token, done=done,
                    filename=filename, max_mb=crm_csv.MAX_IMPORT_BYTES // (1024 * 1024), max_rows=crm_csv.MAX_IMPORT_ROWS,
                    columns=crm_csv.CSV_COLUMNS, headers_zh=crm_csv.CSV_HEADERS_ZH)

    def refuse(self, exc: crm.CrmError, status: int = 400) -> None:
        """Show the upload form again with the message."""
        self.set_status(status)
        self.show(error=error_text(self.locale, exc))

    async def post(self) -> None:
        """action=check: read the upload and show what would happen; action=import: import the checked file."""
        action = self.get_body_argument("action", "check")
        stash = _stash(self.services)
        if action == "import":
            token = self.get_body_argument("token", "")
            entry = stash.get(token)
            if entry is None or entry[0] != self.actor:
                return self.refuse(crm.CrmError("file", "has expired: upload it again"))
            _, raw, filename, _ = entry
            try:
                done = await self.db_write(crm_csv.import_csv, raw, self.actor, self.address, filename)
            except crm_csv.CsvImportError as exc:
                stash.pop(token, None)
                self.set_status(400)
                return self.show(report={**exc.report, "errors": exc.errors, "valid": False}, filename=filename)
            except crm.CrmError as exc:
                return self.refuse(exc, exc.status)
            stash.pop(token, None)
            return self.show(done=done, filename=filename)
        files = self.request.files.get("file") or []
        if not files or not files[0]["body"]:
            return self.refuse(crm.CrmError("file", "is required"))
        upload = files[0]
        problem = upload_problem(upload["filename"], upload.get("content_type", ""), len(upload["body"]))
        if problem is not None:
            return self.refuse(problem, problem.status)
        try:
            report = await self.db_read(crm_csv.check_import, upload["body"])
        except crm.CrmError as exc:
            return self.refuse(exc, exc.status)
        token = None
        if report["valid"]:
            token = secrets.token_urlsafe(16)
            while len(stash) >= STASH_MAX:   # checked files wait in memory: keep only the newest few
                del stash[min(stash, key=lambda t: stash[t][3])]
            stash[token] = (self.actor, upload["body"], os.path.basename(upload["filename"])[:200], time.monotonic())
        else:
            self.set_status(400)
        self.show(report=report, token=token, filename=upload["filename"])


# ------------------------------------------------------------------ API

class CustomerHistoryApi(CrmApi):
    """GET /api/v1/customers/{id}/history: the customer with their calls, tickets and faxes."""

    async def get(self, item_id: str) -> None:
        """Newest first, at most 50 of each."""
        data = await self.db_read(crm.history, id_param(item_id))
        if data is not None:
            self.write_json(data)


class CustomerExportApi(CrmApi):
    """GET /api/v1/customers/export: the customers matching the list's parameters as CSV."""

    async def get(self) -> None:
        """Download (English column keys)."""
        try:
            query = crm.parse_query(crm.CUSTOMERS, query_args(self))
        except crm.CrmError as exc:
            return fail_json(self, exc)
        text = await self.db_read(crm_csv.export_csv, query, "en_US")
        if text is not None:
            send_csv(self, text)


@upload(2 * crm_csv.MAX_IMPORT_BYTES)   # a little too big still gets the page's own message
class CustomerImportApi(CrmApi):
    """POST /api/v1/customers/import[?dry_run=true]: a CSV as the body (text/csv) or as the multipart field
    ``file``; every row is checked and nothing is imported when any row is bad."""

    roles = EDIT_ROLES

    async def post(self) -> None:
        """Check (dry run) or import."""
        unknown = set(self.request.query_arguments) - {"dry_run"}
        if unknown:
            return fail_json(self, crm.CrmError(sorted(unknown)[0][:40], "unknown parameter"))
        dry = self.get_query_argument("dry_run", "false").lower()
        if dry not in ("true", "false", "1", "0"):
            return fail_json(self, crm.CrmError("dry_run", "must be yes or no"))
        ctype = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype.startswith("multipart/form-data"):
            files = self.request.files.get("file") or []
            if not files:
                return fail_json(self, crm.CrmError("file", "is required"))
            raw, filename, part_type = files[0]["body"], files[0]["filename"], files[0].get("content_type", "")
        elif ctype in ("text/csv", "text/plain", "application/csv"):
            raw, filename, part_type = self.request.body, "customers.csv", ctype
        else:
            return fail_json(self, crm.CrmError("file", "is not a CSV text file", 415))
        problem = upload_problem(filename, part_type, len(raw))
        if problem is not None:
            return fail_json(self, problem)
        if not raw:
            return fail_json(self, crm.CrmError("file", "is empty"))
        if dry in ("true", "1"):
            report = await self.db_read(crm_csv.check_import, raw)
            if report is not None:
                report["errors"] = [{"row": e["row"], "field": e["field"], "error": e["text"]}
                                    for e in report["errors"]]
                self.write_json(report)
            return
        result = await self.db_write(crm_csv.import_csv, raw, self.actor, self.address, filename)
        if result is not None:
            self.write_json(result)


PAGE_ROUTES = [
    (r"/crm/customers", CustomersPage),
    (r"/crm/customers/new", type("CustomerNewPage", (CustomerFormPage,), {"title": N_("New customer")})),
    (r"/crm/customers/import", CustomerImportPage),
    (r"/crm/customers/export", CustomerExportPage),
    (r"/crm/customers/([0-9]+)", CustomerPage),
    (r"/crm/customers/([0-9]+)/edit", type("CustomerEditPage", (CustomerFormPage,), {"title": N_("Edit customer")})),
    (r"/crm/customers/([0-9]+)/delete", CustomerDeletePage),
]
ROUTES = [
    (r"/api/v1/customers/import", CustomerImportApi),
    (r"/api/v1/customers/export", CustomerExportApi),
    (r"/api/v1/customers/([0-9]+)/history", CustomerHistoryApi),
]

# Values the customer page shows through _(value): call directions and results, ticket types, statuses and
# priorities, fax states.
DYNAMIC = [
    N_("inbound"), N_("internal"), N_("outbound"), N_("connected"), N_("answered"), N_("unanswered"),
    N_("refused"), N_("interrupted"), N_("repair"), N_("no_water"), N_("low_pressure"), N_("leak"),
    N_("water_quality"), N_("meter"), N_("billing"), N_("complaint"), N_("enquiry"), N_("other"), N_("open"),
    N_("assigned"), N_("in_progress"), N_("escalated"), N_("resolved"), N_("closed"), N_("low"), N_("normal"),
    N_("high"), N_("urgent"), N_("queued"), N_("sending"), N_("sent"), N_("failed"), N_("cancelled"),
]
