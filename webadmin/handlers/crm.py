"""Service CRM in the panel: the catalogue (products, consumables, network accessories, spare parts), dealers,
repair centers and the employee directory — list pages with search, filters, allow-listed sort and paging,
forms that re-render with every problem marked, and the JSON API (list with search, get, create, update,
delete) for these and for customers. Customer pages, history and CSV are in crm_customers.py.

The data work lives in daemon/service/crm.py and always runs in a store thread; every change is audited there."""
from __future__ import annotations

from typing import Any

import tornado.web

from hotline.daemon.service import crm, crm_csv
from hotline.daemon.service.lookups import PROVINCES, REGIONS, money

from ..i18n import N_
from .inputs import id_param
from .base import STAFF, BaseHandler, PageHandler

EDIT_ROLES = STAFF                     # see, create and change CRM data
DELETE_ROLES = ("admin", "supervisor")  # delete it
PAGE_SIZE = 25

# Field and parameter names as people read them (also the names in translated error messages).
LABELS = {
    "name": N_("Name"), "member_no": N_("Member number"), "vip": N_("VIP"), "phones": N_("Contact numbers"),
    "province": N_("Province"), "region": N_("Region"), "area_code": N_("Area code"), "district": N_("District"),
    "address": N_("Address"), "email": N_("E-mail"), "language": N_("Language"), "notes": N_("Notes"),
    "model": N_("Model"), "category": N_("Category"), "name_zh": N_("Name (Chinese)"),
    "name_en": N_("Name (English)"), "specs_zh": N_("Specifications (Chinese)"),
    "specs_en": N_("Specifications (English)"), "price_cents": N_("Price"), "price": N_("Price"),
    "stock": N_("Stock"), "active": N_("Active"), "part_no": N_("Part number"), "fits": N_("Fits models"),
    "city": N_("City"), "phone": N_("Phone"), "authorized": N_("Authorized"), "department": N_("Department"),
    "title": N_("Job title"), "extension": N_("Extension"), "mobile": N_("Mobile"), "file": N_("File"),
    "id": N_("Number"), "sort": N_("Sort"), "page": N_("Page"), "per_page": N_("Rows per page"),
    "q": N_("Search"),
}

# Every message daemon/service/crm.py may raise, marked for translation (a test keeps this list complete).
MESSAGES = [
    N_("is required"), N_("is too long (at most %(max)d characters)"), N_("must be a whole number"),
    N_("must be 0 or more"), N_("must be at most %(max)d"), N_("must be an amount like 12.50"),
    N_("must be yes or no"), N_("must be one of: %(choices)s"), N_("must be an area code like 0755"),
    N_("must be a phone number"), N_("must be 3 to 20 digits"), N_("must be an e-mail address"),
    N_("use letters and digits only"), N_("use letters, digits, '-' and '.'"), N_("unknown province"),
    N_("unknown region"), N_("must be zh_CN or en_US"), N_("no product with model %(model)s"),
    N_("is already used by %(other)s"), N_("unknown parameter"), N_("unknown value %(value)s (allowed: %(allowed)s)"),
    N_("must be a page number"), N_("no such record (id %(id)s)"), N_("give the name in Chinese or in English"),
    N_("must be a list of numbers"), N_("unknown kind %(value)s"), N_("listed twice"),
    N_("extension digits only (1 to 16)"), N_("must be a JSON object"), N_("at most %(max)d numbers"),
    N_("unknown column"), N_("also in row %(row)d"), N_("is larger than %(max)d MB"),
    N_("is an Excel workbook, not CSV: save it as CSV (UTF-8) first"), N_("is not a CSV text file"),
    N_("is empty"), N_("has more than %(max)d rows"), N_("has more cells than the header"),
    N_("has no customer rows"), N_("%(n)d rows have errors; nothing was imported"),
    N_("has expired: upload it again"),
]

CATEGORY_LABELS = {
    "inkjet": N_("Inkjet printer"), "laser": N_("Laser printer"), "dot_matrix": N_("Dot matrix printer"),
    "network_card": N_("Network card"), "accessory": N_("Accessory"), "consumable": N_("Consumable"),
    "spare_part": N_("Spare part"),
}
PHONE_KIND_LABELS = {"mobile": N_("Mobile"), "landline": N_("Landline"), "fax": N_("Fax"), "work": N_("Work")}


def error_text(locale: Any, exc: crm.CrmError) -> str:
    """A CrmError in the user's language: "Member number: is already used by 张伟 (#12)"."""
    params = exc.params or {}
    message = locale.translate(exc.message) % params if params else locale.translate(exc.message)
    if exc.field is None:
        return message
    label = LABELS.get(exc.field)
    return f"{locale.translate(label) if label else exc.field}{'：' if locale.code == 'zh_CN' else ': '}{message}"


def query_args(handler: tornado.web.RequestHandler) -> dict[str, str]:
    """The query string as {name: last value} (names are checked against the allow-list by crm.parse_query)."""
    return {name: handler.get_query_argument(name) for name in handler.request.query_arguments}


def fail_json(handler: BaseHandler, exc: crm.CrmError) -> None:
    """An API error naming the field: {"error": "phones: must be a phone number", "status": 400, "field": ...}."""
    body: dict[str, Any] = {"error": str(exc), "status": exc.status}
    if exc.field:
        body["field"] = exc.field
    if isinstance(exc, crm_csv.CsvImportError):
        body["errors"] = [{"row": e["row"], "field": e["field"], "error": e["text"]} for e in exc.errors]
        body.update({k: exc.report[k] for k in ("rows", "create", "update", "encoding")})
    handler.write_json(body, exc.status)


# ------------------------------------------------------------------ JSON API (every CRM resource)

class CrmApi(BaseHandler):
    """Base of the CRM API handlers: the resource they serve and CrmError as JSON."""

    roles = EDIT_ROLES
    res: crm.Resource = crm.CUSTOMERS

    async def db_read(self, fn: Any, *args: Any) -> Any:
        """Run a query in a reader thread (CrmError answered as JSON: returns None then)."""
        try:
            return await self.services["store"].read(fn, *args)
        except crm.CrmError as exc:
            fail_json(self, exc)
            return None

    async def db_write(self, fn: Any, *args: Any) -> Any:
        """Run a change in the writer thread (CrmError answered as JSON: returns None then)."""
        try:
            return await self.services["store"].write(fn, *args)
        except crm.CrmError as exc:
            fail_json(self, exc)
            return None


class CollectionApi(CrmApi):
    """GET: list with search (q), filters, sort and paging; POST: create."""

    async def get(self) -> None:
        """One page of rows: {total, page, per_page, pages, sort, items}."""
        try:
            query = crm.parse_query(self.res, query_args(self))
        except crm.CrmError as exc:
            return fail_json(self, exc)
        result = await self.db_read(crm.search, self.res, query)
        if result is not None:
            self.write_json(result)

    async def post(self) -> None:
        """Create a row (201 with the row); audited."""
        body = self.json_body()
        item = await self.db_write(crm.create, self.res, body, self.actor, self.address)
        if item is not None:
            self.write_json(item, 201)


class ItemApi(CrmApi):
    """GET, PUT (the fields given change) and DELETE (admin and supervisor only) one row by id."""

    async def get(self, item_id: str) -> None:
        """The row."""
        item = await self.db_read(crm.get, self.res, id_param(item_id))
        if item is not None:
            self.write_json(item)

    async def put(self, item_id: str) -> None:
        """Change the fields given; audited with before -> after."""
        body = self.json_body()
        item = await self.db_write(crm.update, self.res, id_param(item_id), body, self.actor, self.address)
        if item is not None:
            self.write_json(item)

    async def delete(self, item_id: str) -> None:
        """Delete the row (agents may not); audited with what it held."""
        if self.current_user.role not in DELETE_ROLES:
            raise tornado.web.HTTPError(403, reason="deleting needs the admin or supervisor role")
        item = await self.db_write(crm.delete, self.res, id_param(item_id), self.actor, self.address)
        if item is not None:
            self.write_json({"deleted": item})


def _api_routes() -> list[tuple[str, type]]:
    routes: list[tuple[str, type]] = []
    for res in crm.RESOURCES.values():
        name = "".join(w.capitalize() for w in res.key.split("-"))
        many = type(f"{name}Api", (CollectionApi,), {"res": res, "__doc__":
                    f"GET /api/v1/{res.key} (search) and POST (create)."})
        one = type(f"{name}ItemApi", (ItemApi,), {"res": res, "__doc__":
                   f"GET, PUT, DELETE /api/v1/{res.key}/{{id}}."})
        routes += [(rf"/api/v1/{res.key}", many), (rf"/api/v1/{res.key}/([0-9]+)", one)]
    return routes


# ------------------------------------------------------------------ pages (shared by every CRM section)

SECTIONS = [  # the CRM's tabs: path, label
    ("/crm/customers", N_("Customers")), ("/crm/products", N_("Products")), ("/crm/parts", N_("Spare parts")),
    ("/crm/dealers", N_("Dealers")), ("/crm/repair-centers", N_("Repair centers")),
    ("/crm/employees", N_("Employee directory")),
]


class CrmPage(PageHandler):
    """Base of the CRM pages: roles, the section tabs, formatting helpers, errors as pages."""

    roles = EDIT_ROLES
    res: crm.Resource = crm.CUSTOMERS

    def get_template_namespace(self) -> dict[str, Any]:
        """Helpers every CRM template uses."""
        ns = super().get_template_namespace()
        user = self.current_user
        ns.update(sections=SECTIONS, labels=LABELS, category_labels=CATEGORY_LABELS,
                  phone_kinds=PHONE_KIND_LABELS, can_delete=user is not None and user.role in DELETE_ROLES,
                  fmt_time=self.local_time,
                  fmt_day=lambda ts: self.local_time(ts, "date"),
                  yuan=lambda cents: "" if cents is None else "¥" + f"{cents // 100:,}.{cents % 100:02d}",
                  province_label=self.province_label, region_label=self.region_label,
                  product_name=self.product_name)
        return ns

    def province_label(self, zh: str | None) -> str:
        """A province in the user's language."""
        if not zh:
            return ""
        return zh if self.locale.code == "zh_CN" else PROVINCES.get(zh, (zh,))[0]

    def region_label(self, zh: str | None) -> str:
        """A region in the user's language."""
        if not zh:
            return ""
        return zh if self.locale.code == "zh_CN" else REGIONS.get(zh, (None, zh))[1]

    def product_name(self, item: dict) -> str:
        """A product's or part's name in the user's language."""
        return (item.get("name_zh") if self.locale.code == "zh_CN" else item.get("name_en")) \
            or item.get("name_zh") or item.get("name_en") or ""

    def bad_request(self, exc: crm.CrmError) -> None:
        """An error page naming what is wrong (400, or the error's own status)."""
        self.set_status(exc.status)
        self.render("error.html", status=400 if exc.status in (400, 409, 413, 415) else exc.status,
                    message=error_text(self.locale, exc))

    async def db_read(self, fn: Any, *args: Any) -> Any:
        """A query in a reader thread."""
        return await self.services["store"].read(fn, *args)

    async def db_write(self, fn: Any, *args: Any) -> Any:
        """A change in the writer thread."""
        return await self.services["store"].write(fn, *args)


def page_url(path: str, args: dict[str, Any], **changes: Any) -> str:
    """``path`` with the current list parameters, some changed (None drops one)."""
    from urllib.parse import urlencode
    merged = {**args, **changes}
    clean = {k: v for k, v in merged.items() if v not in (None, "")}
    return path + ("?" + urlencode(clean) if clean else "")


class CrmHome(CrmPage):
    """/crm: the customers list is the CRM's front page."""

    def get(self) -> None:
        """Go to the customers."""
        self.redirect("/crm/customers")


# Columns of each catalogue list: (label, kind, value key, sort key or None).
COLUMNS: dict[str, list[tuple[str, str, str, str | None]]] = {
    "products": [(N_("Model"), "code", "model", "model"), (N_("Name"), "product", "name", "name"),
                 (N_("Category"), "category", "category", "category"), (N_("Specifications"), "specs", "specs", None),
                 (N_("Price"), "money", "price_cents", "price_cents"), (N_("Stock"), "stock", "stock", "stock"),
                 (N_("Status"), "active", "active", None)],
    "parts": [(N_("Part number"), "code", "part_no", "part_no"), (N_("Name"), "product", "name", "name"),
              (N_("Fits models"), "fits", "fits", None), (N_("Specifications"), "specs", "specs", None),
              (N_("Price"), "money", "price_cents", "price_cents"), (N_("Stock"), "stock", "stock", "stock"),
              (N_("Status"), "active", "active", None)],
    "dealers": [(N_("Name"), "strong", "name", "name"), (N_("Province"), "province", "province", "province"),
                (N_("City"), "text", "city", "city"), (N_("Area code"), "code", "area_code", "area_code"),
                (N_("Phone"), "code", "phone", None), (N_("Address"), "text", "address", None)],
    "repair-centers": [(N_("Name"), "strong", "name", "name"), (N_("Region"), "region", "region", "region"),
                       (N_("District"), "text", "district", "district"),
                       (N_("Area code"), "code", "area_code", "area_code"), (N_("Phone"), "code", "phone", None),
                       (N_("Address"), "text", "address", None), (N_("Status"), "authorized", "authorized", "authorized")],
    "employees": [(N_("Name"), "strong", "name", "name"), (N_("Department"), "text", "department", "department"),
                  (N_("Job title"), "text", "title", "title"), (N_("Extension"), "code", "extension", "extension"),
                  (N_("Mobile"), "code", "mobile", None), (N_("E-mail"), "email", "email", None)],
}

# Form layout of each catalogue section: rows of fields.
LAYOUTS: dict[str, list[list[str]]] = {
    "products": [["model", "category"], ["name_zh", "name_en"], ["specs_zh", "specs_en"],
                 ["price_cents", "stock", "active"]],
    "parts": [["part_no", "fits"], ["name_zh", "name_en"], ["specs_zh", "specs_en"], ["price_cents", "stock", "active"]],
    "dealers": [["name"], ["province", "city", "area_code"], ["address", "phone"]],
    "repair-centers": [["name", "authorized"], ["region", "district", "area_code"], ["address", "phone"]],
    "employees": [["name", "title"], ["department", "extension"], ["mobile", "email"], ["notes"]],
}
HELP = {
    "model": N_("Digits a caller can key in the IVR."), "fits": N_("Product models, separated by commas."),
    "price_cents": N_("In yuan, e.g. 599.00"), "area_code": N_("e.g. 0755; the IVR finds the nearest by area code."),
    "region": N_("Repair centers are found by region when no area code matches."),
    "district": N_("Utility repair stations are found by district."),
    "extension": N_("Internal extension for transfers."),
}
TITLES = {  # section: (list title, singular "new" title, edit title)
    "products": (N_("Products"), N_("New product"), N_("Edit product")),
    "parts": (N_("Spare parts"), N_("New spare part"), N_("Edit spare part")),
    "dealers": (N_("Dealers"), N_("New dealer"), N_("Edit dealer")),
    "repair-centers": (N_("Repair centers"), N_("New repair center"), N_("Edit repair center")),
    "employees": (N_("Employee directory"), N_("New employee"), N_("Edit employee")),
}
SEARCH_HINTS = {
    "products": N_("Model, name or specifications"), "parts": N_("Part number, name or a product model"),
    "dealers": N_("Name, city, phone or area code"), "repair-centers": N_("Name, district, phone or area code"),
    "employees": N_("Name, department, extension or mobile"),
}


class CatalogListPage(CrmPage):
    """A catalogue section's list: search, filters, sortable columns, pages."""

    async def get(self) -> None:
        """The list."""
        key = self.res.key
        args = query_args(self)
        try:
            query = crm.parse_query(self.res, args, PAGE_SIZE)
        except crm.CrmError as exc:
            return self.bad_request(exc)
        result = await self.db_read(crm.search, self.res, query)
        departments = await self.db_read(crm.distinct, crm.EMPLOYEES, "department") if key == "employees" else []
        self.render("crm_list.html", key=key, result=result, args=args, columns=COLUMNS[key],
                    page_url=page_url, list_title=TITLES[key][0], hint=SEARCH_HINTS[key], sort_of=self.sort_of,
                    provinces=PROVINCES, regions=REGIONS, departments=departments)


    def sort_of(self, key: str) -> str:
        """A column's sort key: product and part names sort in the user's language."""
        if key == "name" and self.res in (crm.PRODUCTS, crm.PARTS):
            return "name_zh" if self.locale.code == "zh_CN" else "name_en"
        return key


def form_values(handler: tornado.web.RequestHandler, res: crm.Resource) -> dict[str, Any]:
    """The submitted form as input for crm.clean (unchecked boxes are False)."""
    data: dict[str, Any] = {}
    for f in res.fields:
        if f.kind == "bool":
            data[f.name] = handler.get_body_argument(f.name, "") == "on"
        elif f.name == "price_cents":
            data["price"] = handler.get_body_argument(f.name, "")   # people type yuan: "1,299.50"
        else:
            data[f.name] = handler.get_body_argument(f.name, "")
    return data


class CatalogFormPage(CrmPage):
    """New (no id) or edit (id): the form, and its POST that saves or re-renders with every problem marked."""

    async def get(self, item_id: str | None = None) -> None:
        """The empty or filled form."""
        item: dict[str, Any] = {}
        if item_id is not None:
            try:
                item = await self.db_read(crm.get, self.res, id_param(item_id))
            except crm.CrmError as exc:
                return self.bad_request(exc)
        else:
            item = {f.name: f.default for f in self.res.fields if f.default is not None}
            if self.res is crm.PRODUCTS and self.get_query_argument("category", "") in crm.CATEGORIES:
                item["category"] = self.get_query_argument("category")
        await self.show(item_id, self.as_form(item), {})

    def as_form(self, item: dict[str, Any]) -> dict[str, Any]:
        """Stored values as the form shows them (money as yuan, fitted models as one text)."""
        out = dict(item)
        if "price_cents" in out and isinstance(out["price_cents"], int):
            out["price_cents"] = money(out["price_cents"])
        if isinstance(out.get("fits"), (list, tuple)):
            out["fits"] = ", ".join(out["fits"])
        return out

    async def show(self, item_id: str | None, form: dict[str, Any], errors: dict[str, str]) -> None:
        """Render the form."""
        key = self.res.key
        departments = await self.db_read(crm.distinct, crm.EMPLOYEES, "department") if key == "employees" else []
        self.render("crm_form.html", key=key, item_id=item_id, form=form, errors=errors,
                    fields={f.name: f for f in self.res.fields}, layout=LAYOUTS[key], help=HELP,
                    heading=TITLES[key][1] if item_id is None else TITLES[key][2], list_title=TITLES[key][0],
                    provinces=PROVINCES, regions=REGIONS, categories=crm.CATEGORIES, departments=departments)

    async def post(self, item_id: str | None = None) -> None:
        """Save, or show the form again with the problems."""
        data = form_values(self, self.res)

        def check() -> list[crm.CrmError]:
            before = crm.get(self.res, id_param(item_id)) if item_id is not None else None
            return crm.clean_all(self.res, data, before)[1]
        try:
            problems = await self.db_read(check)
            if not problems:
                if item_id is None:
                    await self.db_write(crm.create, self.res, data, self.actor, self.address)
                else:
                    await self.db_write(crm.update, self.res, id_param(item_id), data, self.actor, self.address)
        except crm.CrmError as exc:
            if exc.status == 404:
                return self.bad_request(exc)
            problems = [exc]
        if problems:
            self.set_status(400)
            errors = {("price_cents" if p.field == "price" else p.field or ""): error_text(self.locale, p)
                      for p in reversed(problems)}
            form = {**data, "price_cents": data["price"]} if "price" in data else data
            return await self.show(item_id, form, errors)
        self.redirect(f"/crm/{self.res.key}")


class DeletePage(CrmPage):
    """POST /crm/<section>/<id>/delete: admin and supervisor only; audited."""

    roles = DELETE_ROLES

    async def post(self, item_id: str) -> None:
        """Delete and go back to the list."""
        try:
            await self.db_write(crm.delete, self.res, id_param(item_id), self.actor, self.address)
        except crm.CrmError as exc:
            return self.bad_request(exc)
        self.redirect(f"/crm/{self.res.key}")


def _page_routes() -> list[tuple[str, type]]:
    routes: list[tuple[str, type]] = [(r"/crm", CrmHome)]
    for key in ("products", "parts", "dealers", "repair-centers", "employees"):
        res = crm.RESOURCES[key]
        name = "".join(w.capitalize() for w in key.split("-"))
        title = TITLES[key][0]
        routes += [
            (rf"/crm/{key}", type(f"{name}ListPage", (CatalogListPage,), {"res": res, "title": title})),
            (rf"/crm/{key}/new", type(f"{name}NewPage", (CatalogFormPage,), {"res": res, "title": TITLES[key][1]})),
            (rf"/crm/{key}/([0-9]+)/edit", type(f"{name}EditPage", (CatalogFormPage,),
                                                 {"res": res, "title": TITLES[key][2]})),
            (rf"/crm/{key}/([0-9]+)/delete", type(f"{name}DeletePage", (DeletePage,), {"res": res, "title": title})),
        ]
    return routes


PAGE_ROUTES = _page_routes()
ROUTES = _api_routes()
