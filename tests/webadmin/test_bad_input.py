"""The 500s of issue 11, finding 10, each now a 4xx whose JSON error names the field: deep nesting, lone
surrogates, lists or objects for enum fields, huge integers, page=1e23, /static/...%00, a truncated backup
archive, a CSV cell over 128 KB. Against a real daemon, with no traceback in its log."""
from __future__ import annotations

import json
import urllib.parse
import uuid

import pytest

from hotline.webadmin.handlers.openapi import document


def api(p, method: str, path: str, raw: bytes | None = None):
    """A JSON API call with a raw body (so hostile JSON goes out exactly as written)."""
    headers = {"Accept": "application/json", "X-XSRFToken": p.xsrf()}
    if raw is not None:
        headers["Content-Type"] = "application/json"
    return p.request(method, "/api/v1" + path, raw, headers)


def refused(r, status: int, *words: str) -> str:
    """Assert a JSON refusal with this status whose message holds every word; the message."""
    assert r.status == status, f"{r.status} {r.text[:300]}"
    doc = r.json()
    assert doc["status"] == status
    for word in words:
        assert word in doc["error"], (word, doc["error"])
    return doc["error"]


@pytest.fixture
def admin(panel_box, client):
    """A logged-in admin's browser-like client."""
    p = client(panel_box.url)
    p.login("admin")
    return p


def no_traceback(box) -> None:
    """Bad input is not a bug: nothing was logged as one."""
    out = box.output()
    assert "Traceback" not in out and "Uncaught exception" not in out, out[-3000:]


def test_deep_nesting_is_a_400_naming_the_limit(panel_box, admin) -> None:
    """5,000 nested arrays used to raise RecursionError (500); 40 levels are past the limit too."""
    deep = b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    refused(api(admin, "POST", "/kb/categories", deep), 400, "body", "nested deeper than 32 levels")
    forty = b'{"name": ' + b"[" * 40 + b"]" * 40 + b"}"
    refused(api(admin, "POST", "/kb/categories", forty), 400, "name", "nested deeper than 32 levels")
    refused(api(admin, "POST", "/kb/categories", b"{" * 3000), 400, "body")
    no_traceback(panel_box)


def test_lone_surrogates_and_nul_in_text_are_refused_where_they_enter(panel_box, admin) -> None:
    """A lone surrogate (or NUL) in any text field is a 400 naming the field, and nothing is stored."""
    for path, body, field in (("/kb/categories", {"name": "a\ud800b"}, "name"),
                              ("/customers", {"name": "王\udfff", "phones": ["13800000001"]}, "name"),
                              ("/customers", {"name": "ok", "phones": ["1380000\ud800"]}, "phones[0]"),
                              ("/sim/calls", {"from": "13700000021", "to": "8001", "name": "\ud800"}, "name"),
                              ("/kb/categories", {"name": "nul\x00"}, "name")):
        r = api(admin, "POST", path, json.dumps(body).encode())
        refused(r, 400, field + ":", "text contains")
    r = api(admin, "POST", "/kb/categories", json.dumps({"a\ud800": 1, "name": "x"}).encode())
    refused(r, 400, "invalid Unicode")
    assert [c for c in admin.api("GET", "/kb/categories").json()["categories"] if c["id"] is not None] == []
    assert admin.api("GET", "/customers").json()["total"] == 0
    no_traceback(panel_box)


def test_lists_and_objects_for_enum_fields(panel_box, admin) -> None:
    """An array or an object where one of a few words is expected: 400 naming the field (was a TypeError)."""
    for path, method, body, field in (("/calendar/override", "PUT", {"mode": []}, "mode"),
                                      ("/calendar/override", "PUT", {"mode": {"$gt": ""}}, "mode"),
                                      ("/tickets", "POST", {"type": ["repair"], "summary": "x"}, "type"),
                                      ("/tickets", "POST", {"type": "repair", "priority": {"a": 1}}, "priority"),
                                      ("/sim/calls", "POST", {"from": "1370", "line": {"$gt": ""}}, "line")):
        refused(api(admin, method, path, json.dumps(body).encode()), 400, field)
    no_traceback(panel_box)


def test_huge_integers_are_out_of_range(panel_box, admin) -> None:
    """Numbers no database column holds, in bodies and in paths: 400 naming the field."""
    cat = admin.api("POST", "/kb/categories", {"name": "Printers"}).json()
    body = {"title": "t", "body": "b", "category_id": 10 ** 30}
    refused(api(admin, "POST", "/kb/articles", json.dumps(body).encode()), 400, "category_id", "out of range")
    body["category_id"] = cat["id"]
    refused(api(admin, "POST", "/kb/articles", json.dumps(body).encode()[:-1] + b', "x": 1e999}'), 400, "x:",
            "out of range")
    refused(api(admin, "GET", "/customers/" + "1" * 30), 400, "id", "between")
    refused(api(admin, "POST", "/kb/categories", b'{"name": ' + b"9" * 5000 + b"}"), 400, "body")
    no_traceback(panel_box)


def test_page_1e23_on_every_paged_list(panel_box, admin) -> None:
    """Every documented list with a page parameter: page=1e23 and page=10^20 are a 400 naming page."""
    spec, checked = document(), 0
    for path, item in spec["paths"].items():
        op = item.get("get")
        if not op or "{" in path:
            continue
        names = {p.get("name") for p in op.get("parameters", []) if isinstance(p, dict)}
        if "page" not in names:
            continue
        for value in ("1e23", "100000000000000000000", "-3", "abc"):
            r = admin.request("GET", f"/api/v1{path}?page={value}", None, {"Accept": "application/json"})
            refused(r, 400, "page")
            checked += 1
    assert checked >= 5 * 4, checked
    no_traceback(panel_box)


def test_static_path_with_nul_is_a_404_not_a_traceback(panel_box, client) -> None:
    """/static/...%00, anonymously: not found, and nothing logged as a crash."""
    p = client(panel_box.url)
    for path in ("/static/app.css%00", "/static/%00", "/static/vendor/%00.js", "/static/a%0a.css"):
        r = p.get(path)
        assert r.status == 404, (path, r.status, r.text[:200])
    no_traceback(panel_box)


def test_truncated_backup_archive_is_refused_with_a_reason(panel_box, admin) -> None:
    """A backup cut short (an interrupted download) is refused on the page with what is wrong."""
    r = admin.request("POST", "/config/backup/download", urllib.parse.urlencode({"_xsrf": admin.xsrf()}).encode(),
                      {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200
    archive = r.body
    for cut in (len(archive) // 2, len(archive) // 3, 700):
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"_xsrf\"\r\n\r\n{admin.xsrf()}\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"archive\"; filename=\"cut.hlbackup\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode() + archive[:cut] \
            + f"\r\n--{boundary}--\r\n".encode()
        page = admin.request("POST", "/config/backup/restore", body,
                             {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert page.status == 400, (cut, page.status, page.text[:300])
        assert "truncated" in page.text or "not a Hotline backup archive" in page.text \
            or "signature does not match" in page.text, page.text[:2000]
    assert not (panel_box.state / "restore-pending").exists()
    no_traceback(panel_box)


def test_csv_cell_over_128_kb_is_a_bad_row(panel_box, admin) -> None:
    """The csv module's 128 KB cell limit: a row error for the customer import, a line error for the holiday
    and block-list imports; nothing imported."""
    csv_text = "name,phones\n王五,13800000001\n" + "x" * (130 * 1024) + ",13800000002\n"
    r = admin.request("POST", "/api/v1/customers/import", csv_text.encode(),
                      {"Content-Type": "text/csv", "X-XSRFToken": admin.xsrf(), "Accept": "application/json"})
    assert r.status == 400, r.text[:300]
    assert [e["row"] for e in r.json()["errors"]] == [3], r.text[:500]
    assert admin.api("GET", "/customers").json()["total"] == 0
    for path in ("/holidays/import", "/blacklist/import"):
        text = "2031-01-01,New year\n\"" + "y" * (130 * 1024) + "\n"
        r = api(admin, "POST", path, json.dumps({"text": text}).encode())
        assert r.status == 400, (path, r.status, r.text[:300])
        assert "line 2" in r.text.lower(), r.text[:300]
    no_traceback(panel_box)


def test_acd_yaml_of_the_wrong_shape_lists_its_problems(panel_box, admin) -> None:
    """``agents: 5`` or ``queues: 5`` used to fail the cross-reference check with a KeyError (500)."""
    for text, where in ((b"queues: {}\nagents: 5\n", "agents"), (b"queues: 5\n", "queues")):
        r = admin.request("POST", "/api/v1/config/acd.yaml", text,
                          {"Content-Type": "application/yaml", "X-XSRFToken": admin.xsrf(),
                           "Accept": "application/json"})
        assert r.status == 400, r.text[:300]
        assert where in r.text, r.text[:300]
    no_traceback(panel_box)
