"""Customer CSV export and import: Excel-friendly (UTF-8 with BOM, or GB18030 as Chinese Excel saves it; no
formulas), all rows or none, every bad row reported with its row number. Runs in a store thread like crm.py."""
from __future__ import annotations

import csv
import io
import re
import time
from typing import Any

from ..box import audit
from .crm import CUSTOMERS, CrmError, Query, _save, _select, clean_all, get, snapshot, target, to_dicts
from .crm_fields import _model_code
from ..store.service_models import Customer


CSV_COLUMNS = ("id", "name", "member_no", "vip", "phones", "province", "region", "area_code", "district",
               "address", "email", "language", "notes")
CSV_HEADERS_ZH = {"id": "编号", "name": "姓名", "member_no": "会员号", "vip": "VIP", "phones": "联系电话",
                  "province": "省份", "region": "大区", "area_code": "区号", "district": "区县", "address": "地址",
                  "email": "电子邮箱", "language": "语言", "notes": "备注"}
_HEADER_ALIASES = {**{v: k for k, v in CSV_HEADERS_ZH.items()}, **{c: c for c in CSV_COLUMNS},
                   "电话": "phones", "会员编号": "member_no", "客户名称": "name", "邮箱": "email"}
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 20000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class CsvImportError(CrmError):
    """A CSV that cannot be imported: ``errors`` lists every bad row ({row, field, message, params})."""

    def __init__(self, errors: list[dict[str, Any]], report: dict[str, Any]):
        self.errors, self.report = errors, report
        super().__init__(None, "%(n)d rows have errors; nothing was imported", 400,
                         n=len({e["row"] for e in errors}))


def safe_cell(value: Any) -> str:
    """A value as spreadsheet text that never runs as a formula: text starting with =, +, -, @, tab or CR gets a
    leading apostrophe (CSV and XLSX exports: customers, reports)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text  # no formulas when a spreadsheet opens it


def _cell_in(value: str) -> str:
    value = value.strip()
    return value[1:] if value.startswith("'") and value[1:2] in FORMULA_STARTS else value


def export_csv(query: Query, header_lang: str = "en_US", limit: int = 100000) -> str:
    """Customers matching the query as CSV (UTF-8 with a BOM so spreadsheets see Chinese correctly);
    headers in English keys or, for zh_CN, in Chinese (both are accepted by the import)."""
    sel = _select(CUSTOMERS, query)
    sort = query.sort or "name"
    col = getattr(Customer, sort.lstrip("-"))
    rows = list(sel.order_by(col.desc() if sort.startswith("-") else col.asc(), Customer.id).limit(limit))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([CSV_HEADERS_ZH[c] if header_lang == "zh_CN" else c for c in CSV_COLUMNS])
    for item in to_dicts(CUSTOMERS, rows):
        item = dict(item, phones="; ".join(f"{p['kind']}:{p['number']}" for p in item["phones"]))
        w.writerow([safe_cell(item.get(c)) for c in CSV_COLUMNS])
    return "\ufeff" + buf.getvalue()


def decode_csv(raw: bytes) -> tuple[str, str]:
    """The text of an uploaded CSV and the encoding it had (UTF-8 with or without BOM, else GB18030 as
    spreadsheets in China save it). Refuses binary files and spreadsheets saved in their own format."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise CrmError("file", "is larger than %(max)d MB", 413, max=MAX_IMPORT_BYTES // (1024 * 1024))
    if raw.startswith(b"PK\x03\x04") or raw.startswith(b"\xd0\xcf\x11\xe0"):
        raise CrmError("file", "is an Excel workbook, not CSV: save it as CSV (UTF-8) first", 415)
    if b"\x00" in raw[:65536]:
        raise CrmError("file", "is not a CSV text file", 415)
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc), "UTF-8" if enc == "utf-8-sig" else "GB18030"
        except UnicodeDecodeError:
            continue
    raise CrmError("file", "is not a CSV text file", 415)


def _plan(text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Parse and check every row: (rows to apply, errors, rows read). Row numbers are the spreadsheet's
    (the header is row 1)."""
    errors: list[dict[str, Any]] = []

    def bad(row: int, exc: CrmError) -> None:
        errors.append({"row": row, "field": exc.field, "message": exc.message, "params": exc.params,
                       "text": f"row {row}: {exc}"})
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise CrmError("file", "is empty") from None
    columns: list[str | None] = []
    for i, name in enumerate(header):
        key = _HEADER_ALIASES.get(name.strip().lstrip("\ufeff"), _HEADER_ALIASES.get(name.strip().casefold()))
        if key is None and name.strip():
            bad(1, CrmError(name.strip()[:40], "unknown column"))
        if key in columns:
            bad(1, CrmError(key, "listed twice"))
        columns.append(key)
    if "name" not in columns and "id" not in columns:
        bad(1, CrmError("name", "is required"))
    if errors:
        return [], errors, 0
    by_member = {m: i for m, i in Customer.select(Customer.member_no, Customer.id)
                 .where(Customer.member_no.is_null(False)).tuples()}
    plan: list[dict[str, Any]] = []
    seen_members: dict[str, int] = {}
    seen_ids: dict[int, int] = {}
    count = 0
    rows = enumerate(reader, start=2)
    while True:
        try:
            line_no, cells = next(rows)
        except StopIteration:
            break
        except csv.Error:  # a cell over the csv module's 128 KB limit, a broken quote
            bad(reader.line_num, CrmError("file", "is not a CSV text file"))
            break
        if not any(c.strip() for c in cells):
            continue
        count += 1
        if count > MAX_IMPORT_ROWS:
            bad(line_no, CrmError("file", "has more than %(max)d rows", max=MAX_IMPORT_ROWS))
            break
        if len(cells) > len(columns):
            bad(line_no, CrmError(None, "has more cells than the header"))
            continue
        data = {col: _cell_in(cells[i]) for i, col in enumerate(columns) if col is not None and i < len(cells)}
        try:
            item_id: int | None = None
            raw_id = data.pop("id", "")
            if raw_id:
                if not re.fullmatch(r"\d{1,12}", raw_id):
                    raise CrmError("id", "must be a whole number")
                item_id = int(raw_id)
                if item_id in seen_ids:
                    raise CrmError("id", "also in row %(row)d", row=seen_ids[item_id])
                seen_ids[item_id] = line_no
            member = _model_code(data.get("member_no", ""), CUSTOMERS.field("member_no"))
            if item_id is None and member and member in by_member:
                item_id = by_member[member]
            before = get(CUSTOMERS, item_id) if item_id is not None else None  # present columns replace
            values, problems = clean_all(CUSTOMERS, data, before)
            if member:
                if member in seen_members:
                    problems.append(CrmError("member_no", "also in row %(row)d", row=seen_members[member]))
                seen_members.setdefault(member, line_no)
                owner = by_member.get(member)
                if owner is not None and owner != item_id:
                    problems.append(CrmError("member_no", "is already used by %(other)s", other=f"#{owner}"))
            if problems:
                for exc in problems:
                    bad(line_no, exc)
                continue
            plan.append({"row": line_no, "id": item_id, "values": values, "before": before})
        except CrmError as exc:
            bad(line_no, exc)
    return plan, errors, count


def check_import(raw: bytes) -> dict[str, Any]:
    """Preview an import (read thread): rows, how many would be created and updated, every bad row."""
    text, encoding = decode_csv(raw)
    plan, errors, count = _plan(text)
    preview = [{"row": p["row"], "id": p["id"], "name": p["values"].get("name") or (p["before"] or {}).get("name"),
                "member_no": p["values"].get("member_no"), "phones": "; ".join(
                    x["number"] for x in (p["values"].get("phones") or (p["before"] or {}).get("phones") or []))}
               for p in plan[:20]]
    return {"encoding": encoding, "rows": count, "create": sum(1 for p in plan if p["id"] is None),
            "update": sum(1 for p in plan if p["id"] is not None), "errors": errors, "preview": preview,
            "valid": not errors and count > 0}


def import_csv(raw: bytes, actor: str, address: str, filename: str = "", now: float | None = None) -> dict:
    """Import customers (write thread): all rows or none. Each change is audited with before -> after, and
    the import itself as customer.import. Raises CsvImportError listing every bad row."""
    text, encoding = decode_csv(raw)
    plan, errors, count = _plan(text)
    report = {"encoding": encoding, "rows": count, "create": sum(1 for p in plan if p["id"] is None),
              "update": sum(1 for p in plan if p["id"] is not None)}
    if errors:
        raise CsvImportError(errors, report)
    if count == 0:
        raise CrmError("file", "has no customer rows")
    now = time.time() if now is None else now
    for p in plan:
        if p["id"] is None:
            row = _save(CUSTOMERS, p["values"], None, now)
            item = get(CUSTOMERS, row.id)
            audit.record(actor, address, "customer.create", target(CUSTOMERS, item), None, snapshot(item))
        else:
            row = Customer.get_by_id(p["id"])
            _save(CUSTOMERS, p["values"], row, now)
            b, a = snapshot(p["before"]), snapshot(get(CUSTOMERS, p["id"]))
            if a != b:
                audit.record(actor, address, "customer.update", target(CUSTOMERS, {"id": p["id"], **a}),
                             {k: v for k, v in b.items() if a.get(k) != v},
                             {k: v for k, v in a.items() if b.get(k) != v})
    audit.record(actor, address, "customer.import", filename[:200] or "customers.csv", None,
                 {"rows": count, "created": report["create"], "updated": report["update"], "encoding": encoding})
    return {**report, "imported": count}

