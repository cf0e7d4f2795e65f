"""Work orders: pages (list with filters, new, detail with dispatch / status / field result, printable A4
sheet) and the JSON API under /api/v1/workorders. Logic in hotline.daemon.service.workorders (no Tornado there)."""
from __future__ import annotations

import time
from typing import Any

import tornado.web

from hotline.daemon.service import workorders as wo

from ..i18n import N_
from .inputs import id_param
from .base import BaseHandler, PageHandler
from .kb import allow_only, int_arg

ROLES = ("supervisor", "agent")    # and admin
PAGE_SIZE = 50

# The texts of hotline.daemon.service.workorders.MESSAGES, marked here so the panel shows them translated (a test
# keeps both lists equal).
MESSAGES = {
    "customer": N_("Customer: no customer with this phone number, member number or id."),
    "customer_missing": N_("Customer: give a ticket with a customer, or a customer."),
    "ticket": N_("Ticket: no ticket %(ref)s."),
    "product": N_("Product: no product with model %(model)s."),
    "serial": N_("Serial number: use 1 to 32 letters, digits or dashes."),
    "fault": N_("Fault description: enter 1 to 2000 characters."),
    "district": N_("District: at most 64 characters."),
    "technician": N_("Technician: enter 1 to 64 characters."),
    "visit_date": N_("Visit date: use YYYY-MM-DD, not later than today."),
    "result": N_("Result: enter what was done (at most 2000 characters)."),
    "parts": N_("Parts used: at most 1000 characters."),
    "note": N_("Note: at most 500 characters."),
    "center": N_("Repair center: no authorized repair center %(id)s."),
    "no_center": N_("No authorized repair center serves district %(district)s, area code %(area_code)s or "
                    "region %(region)s: choose one."),
    "no_order": N_("No work order %(id)s."),
    "state": N_("The work order is %(state)s: it cannot be %(action)s."),
    "address": N_("Address: at most 255 characters."),
    "status": N_("Status: use in_progress or cancelled."),
    "filter_status": N_("Status: use one of new, dispatched, in_progress, done, cancelled."),
    "filter_center": N_("Repair center: no repair center %(id)s."),
}
STATUS_LABELS = {"new": N_("New"), "dispatched": N_("Dispatched"), "in_progress": N_("In progress"),
                 "done": N_("Done"), "cancelled": N_("Cancelled")}
STATUS_BADGE = {"new": "warn", "dispatched": "busy", "in_progress": "busy", "done": "ok", "cancelled": ""}
MATCH_LABELS = {"district": N_("district"), "area_code": N_("area code"), "region": N_("region"),
                "manual": N_("chosen by hand")}
ACTION_LABELS = {"dispatched": N_("dispatched"), "started": N_("started"), "cancelled": N_("cancelled"),
                 "given a result": N_("given a result"), "changed": N_("changed")}
HISTORY_LABELS = {"created": N_("Created"), "dispatched": N_("Dispatched"), "started": N_("Work started"),
                  "result": N_("Field result"), "done": N_("Done"), "cancelled": N_("Cancelled"),
                  "changed": N_("Changed")}


def list_filters(handler: tornado.web.RequestHandler, extra: set[str]) -> dict[str, Any]:
    """status, center, district from the query string (allow-listed; values checked)."""
    allow_only(handler, {"status", "center", "district", *extra})
    status = handler.get_query_argument("status", "").strip()
    if status and status not in wo.STATUSES:
        raise tornado.web.HTTPError(400, reason=wo.MESSAGES["filter_status"])
    district = handler.get_query_argument("district", "").strip()
    if len(district) > 64:
        raise tornado.web.HTTPError(400, reason=wo.MESSAGES["district"])
    return {"status": status or None, "center_id": int_arg(handler, "center", None), "district": district or None}


class WorkOrderApiBase(BaseHandler):
    """Work-order API: WorkOrderError becomes a JSON error naming the field."""

    roles = ROLES

    async def run(self, fn: Any, *args: Any, write: bool = False, **kwargs: Any) -> Any:
        """Run a workorders function in the store; WorkOrderError -> HTTP error with its message."""
        store = self.services["store"]
        call = (lambda: fn(*args, **kwargs))
        try:
            return await (store.write(call) if write else store.read(call))
        except wo.WorkOrderError as exc:
            raise tornado.web.HTTPError(exc.status, reason=str(exc)) from None

    def optional_int(self, body: dict, key: str) -> int | None:
        """An optional integer id from the body (400 naming it when it is something else)."""
        value = body.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise tornado.web.HTTPError(400, reason=f"{key}: must be a whole number")
        return value


class WorkOrdersApi(WorkOrderApiBase):
    """GET /api/v1/workorders?status=&center=&district=&limit=&page= and POST (create)."""

    async def get(self) -> None:
        """Newest first."""
        f = list_filters(self, {"limit", "page"})
        limit = int_arg(self, "limit", 50, 1, 200)
        page = int_arg(self, "page", 1)
        self.write_json(await self.run(wo.query, f["status"], f["center_id"], f["district"], limit,
                                       (page - 1) * limit))

    async def post(self) -> None:
        """Create from {"ticket_id"} or {"customer_id"} with product_model, serial_no, fault, district;
        "dispatch": true sends it to the repair center at once."""
        body = self.json_body()
        ticket_id, customer_id = self.optional_int(body, "ticket_id"), self.optional_int(body, "customer_id")
        for key in ("product_model", "serial_no", "fault", "district"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise tornado.web.HTTPError(400, reason=f"{key}: must be a string")
        order = await self.run(wo.create, ticket_id=ticket_id, customer_id=customer_id,
                               product_model=body.get("product_model"), serial_no=body.get("serial_no"),
                               fault=body.get("fault"), district=body.get("district"),
                               dispatch=bool(body.get("dispatch")), actor=self.actor, address=self.address,
                               write=True)
        self.write_json(order, 201)


class WorkOrderApi(WorkOrderApiBase):
    """GET and PUT /api/v1/workorders/{id}."""

    async def get(self, order_id: str) -> None:
        """One order with its history."""
        self.write_json(await self.run(wo.get, id_param(order_id)))

    async def put(self, order_id: str) -> None:
        """Correct an open order's product_model, serial_no, fault, district, phone or address."""
        body = self.json_body()
        allowed = {"product_model", "serial_no", "fault", "district", "phone", "address"}
        unknown = set(body) - allowed
        if unknown:
            raise tornado.web.HTTPError(400, reason=f"unknown field {sorted(unknown)[0]!r}")
        for key, value in body.items():
            if value is not None and not isinstance(value, str):
                raise tornado.web.HTTPError(400, reason=f"{key}: must be a string")
        self.write_json(await self.run(wo.update, id_param(order_id), body, self.actor, self.address, write=True))


class DispatchApi(WorkOrderApiBase):
    """POST /api/v1/workorders/{id}/dispatch {"repair_center_id": optional}."""

    async def post(self, order_id: str) -> None:
        """To the given authorized center, or the one serving the customer's district / area / region."""
        center = self.optional_int(self.json_body(), "repair_center_id")
        self.write_json(await self.run(wo.dispatch_order, id_param(order_id), center, self.actor, self.address,
                                       write=True))


class StatusApi(WorkOrderApiBase):
    """POST /api/v1/workorders/{id}/status {"status": "in_progress"|"cancelled", "note"}."""

    async def post(self, order_id: str) -> None:
        """Start or cancel."""
        body = self.json_body()
        status = body.get("status")
        if status not in ("in_progress", "cancelled"):
            raise tornado.web.HTTPError(400, reason=wo.MESSAGES["status"])
        self.write_json(await self.run(wo.set_status, id_param(order_id), status, body.get("note"), self.actor,
                                       self.address, write=True))


class ResultApi(WorkOrderApiBase):
    """POST /api/v1/workorders/{id}/result {"technician", "visit_date", "result", "parts_used", "close"}."""

    async def post(self, order_id: str) -> None:
        """Enter the field result; close: true makes the order done."""
        body = self.json_body()
        for key in ("technician", "visit_date", "result", "parts_used"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise tornado.web.HTTPError(400, reason=f"{key}: must be a string")
        if not isinstance(body.get("close", False), bool):
            raise tornado.web.HTTPError(400, reason="close: must be true or false")
        self.write_json(await self.run(wo.record_result, id_param(order_id), technician=body.get("technician"),
                                       visit_date=body.get("visit_date"), result=body.get("result"),
                                       parts_used=body.get("parts_used"), close=body.get("close", False),
                                       actor=self.actor, address=self.address, write=True))


# ------------------------------------------------------------------ pages

class WorkOrderPageBase(PageHandler):
    """Work-order pages: errors shown translated."""

    roles = ROLES

    def message(self, exc: wo.WorkOrderError) -> str:
        """The error in the user's language (state and action words too)."""
        t = self.locale.translate
        params = dict(exc.params)
        if "state" in params:
            params["state"] = t(STATUS_LABELS.get(params["state"], params["state"]))
        if "action" in params:
            params["action"] = t(ACTION_LABELS.get(params["action"], params["action"]))
        return t(MESSAGES[exc.code]) % params

    def get_template_namespace(self) -> dict[str, Any]:
        """Labels and formatting for every work-order template."""
        ns = super().get_template_namespace()
        ns.update(fmt_time=self.local_time, status_labels=STATUS_LABELS, status_badge=STATUS_BADGE,
                  match_labels=MATCH_LABELS, history_labels=HISTORY_LABELS, statuses=wo.STATUSES)
        return ns


class WorkOrdersPage(WorkOrderPageBase):
    """/workorders: the list, filtered by status, repair center and district."""

    title = N_("Work orders")

    async def get(self) -> None:
        """Newest first, 50 a page."""
        f = list_filters(self, {"page"})
        page = int_arg(self, "page", 1)
        store = self.services["store"]
        try:
            result = await store.read(wo.query, f["status"], f["center_id"], f["district"], PAGE_SIZE,
                                      (page - 1) * PAGE_SIZE)
        except wo.WorkOrderError as exc:
            raise tornado.web.HTTPError(400, reason=str(exc)) from None
        centers = await store.read(wo.all_centers)
        q = {"status": f["status"] or "", "center": str(f["center_id"] or ""), "district": f["district"] or ""}
        self.render("workorders.html", result=result, centers=centers, q=q, page=page, page_size=PAGE_SIZE)


class NewWorkOrderPage(WorkOrderPageBase):
    """/workorders/new?ticket=T...|customer=...: the form; POST creates (and dispatches) the order."""

    title = N_("New work order")

    async def get(self) -> None:
        """The form, prefilled from ?ticket= or ?customer=."""
        allow_only(self, {"ticket", "customer"})
        form = {"ticket": self.get_query_argument("ticket", "")[:40],
                "customer": self.get_query_argument("customer", "")[:40], "product_model": "", "serial_no": "",
                "district": "", "fault": "", "dispatch": "1"}
        await self.show(form, None, None)

    async def show(self, form: dict, error: str | None, field: str | None) -> None:
        """Render the form with the product list."""
        self.render("workorder_new.html", form=form, error=error, field=field,
                    products=await self.services["store"].read(wo.products))

    async def post(self) -> None:
        """Create; errors re-render the form with the message."""
        form = {k: self.get_body_argument(k, "") for k in ("ticket", "customer", "product_model", "serial_no",
                                                            "district", "fault", "dispatch")}
        actor, address = self.actor, self.address

        def make() -> dict:
            ticket_id = wo.find_ticket(form["ticket"]) if form["ticket"].strip() else None
            customer_id = wo.find_customer(form["customer"]) if form["customer"].strip() else None
            if ticket_id is None and customer_id is None:
                raise wo.WorkOrderError("customer_missing", "customer")
            return wo.create(ticket_id=ticket_id, customer_id=customer_id, product_model=form["product_model"],
                             serial_no=form["serial_no"], fault=form["fault"], district=form["district"],
                             dispatch=form["dispatch"] == "1", actor=actor, address=address)
        try:
            order = await self.services["store"].write(make)
        except wo.WorkOrderError as exc:
            self.set_status(400)
            return await self.show(form, self.message(exc), exc.field)
        self.redirect(f"/workorders/{order['id']}" + ("?undispatched=1" if order.get("dispatch_error") else ""))


class WorkOrderPage(WorkOrderPageBase):
    """/workorders/{id}: details, history, and forms to dispatch, start, cancel and enter the result."""

    title = N_("Work order")

    async def get(self, order_id: str) -> None:
        """Show."""
        allow_only(self, {"undispatched"})
        note = None
        if self.get_query_argument("undispatched", ""):
            note = self.locale.translate(N_("No authorized repair center serves this customer's district or "
                                            "area: choose one below."))
        await self.show(id_param(order_id), error=note)

    async def show(self, order_id: int, error: str | None = None, done: str | None = None,
                   form: dict | None = None, status: int = 200) -> None:
        """Render the detail page."""
        store = self.services["store"]
        try:
            order = await store.read(wo.get, order_id)
        except wo.WorkOrderError:
            raise tornado.web.HTTPError(404, reason="no such work order") from None
        centers = await store.read(wo.authorized_centers)
        self.set_status(status)
        self.render("workorder.html", o=order, centers=centers, error=error, done=done,
                    form=form or {"technician": order["technician"] or "",
                                  "visit_date": order["visit_date"] or self.local_time(time.time(), "date"),
                                  "result": order["result"], "parts_used": order["parts_used"], "note": ""})

    async def post(self, order_id: str) -> None:
        """action = dispatch | start | cancel | result."""
        oid = id_param(order_id)
        action = self.get_body_argument("action", "")
        arg = self.get_body_argument
        actor, address, store = self.actor, self.address, self.services["store"]
        form = None
        try:
            if action == "dispatch":
                raw = arg("repair_center_id", "")
                try:
                    center = int(raw) if raw else None
                except ValueError:
                    raise wo.WorkOrderError("center", "repair_center_id", id=raw[:12]) from None
                await store.write(wo.dispatch_order, oid, center, actor, address)
                done = N_("Dispatched to the repair center.")
            elif action in ("start", "cancel"):
                form = {"note": arg("note", "")}
                await store.write(wo.set_status, oid, "in_progress" if action == "start" else "cancelled",
                                  form["note"], actor, address)
                done = N_("Work started.") if action == "start" else N_("Work order cancelled.")
            elif action == "result":
                form = {k: arg(k, "") for k in ("technician", "visit_date", "result", "parts_used")}
                close = arg("close", "") == "1"
                await store.write(lambda: wo.record_result(oid, **form, close=close, actor=actor, address=address))
                done = N_("Field result saved; the work order is done.") if close else N_("Field result saved.")
            else:
                raise tornado.web.HTTPError(400, reason="action: use dispatch, start, cancel or result")
        except wo.WorkOrderError as exc:
            if exc.code == "no_order":
                raise tornado.web.HTTPError(404, reason="no such work order") from None
            if form is not None:
                form.setdefault("note", "")
                for k in ("technician", "visit_date", "result", "parts_used"):
                    form.setdefault(k, "")
            return await self.show(oid, error=self.message(exc), form=form,
                                   status=409 if exc.status == 409 else 400)
        await self.show(oid, done=self.locale.translate(done))


class WorkOrderPrintPage(WorkOrderPageBase):
    """/workorders/{id}/print: the work order on one A4 sheet, without the panel around it."""

    title = N_("Work order")

    async def get(self, order_id: str) -> None:
        """The printable sheet."""
        allow_only(self, set())
        try:
            order = await self.services["store"].read(wo.get, id_param(order_id))
        except wo.WorkOrderError:
            raise tornado.web.HTTPError(404, reason="no such work order") from None
        self.render("workorder_print.html", o=order, printed=self.local_time(time.time()))


PAGE_ROUTES = [
    (r"/workorders", WorkOrdersPage),
    (r"/workorders/new", NewWorkOrderPage),
    (r"/workorders/([0-9]{1,12})", WorkOrderPage),
    (r"/workorders/([0-9]{1,12})/print", WorkOrderPrintPage),
]
ROUTES = [
    (r"/api/v1/workorders", WorkOrdersApi),
    (r"/api/v1/workorders/([0-9]{1,12})", WorkOrderApi),
    (r"/api/v1/workorders/([0-9]{1,12})/dispatch", DispatchApi),
    (r"/api/v1/workorders/([0-9]{1,12})/status", StatusApi),
    (r"/api/v1/workorders/([0-9]{1,12})/result", ResultApi),
]
