"""Service CRM over HTTP on a real daemon and its real store: customers (search in Chinese, by any form of a
phone number, by member number), the catalogue, dealers, repair centers, employees; audited changes with
before -> after; roles; allow-listed sort and filters; forms that name every bad field; CSV export and import
(round trip, a bad row refused with its row number and nothing imported, wrong or oversized files refused);
a customer's page with their calls, tickets and faxes."""
from __future__ import annotations

import csv
import html
import io
import secrets
import time
import urllib.parse

import pytest

PASSWORD = "correct-horse-9"
USERS = (("admin", "admin"), ("sup", "supervisor"), ("agent1", "agent"), ("qa1", "qa"))


@pytest.fixture
def demo_box(daemon_factory):
    """A daemon with the sample data of `hotline demo-data` (180 customers, the catalogue, dealers, repair
    centers, tickets) plus a fax job to the water customer 李娜 (13900139000), and one user per role — made in
    this process with the functions `hotline demo-data` and `hotline user add` run (quicker than five more
    interpreters)."""
    from hotline.daemon.service import demodata
    from hotline.daemon.box import users
    from hotline.daemon.service.lookups import create_fax_job
    from hotline.daemon.store import migrations
    from hotline.daemon.store.db import Store
    d = daemon_factory(start=False)
    d.state.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{d.state / 'hotline.db'}")
    store.open()
    try:
        store.write_sync(migrations.check, store.db, True)
        store.write_sync(demodata.generate)
        for name, role in USERS:
            store.write_sync(users.add_user, name, users.Role(role), PASSWORD, "zh_CN")
        store.write_sync(create_fax_job, "spec-1020", "13900139000")   # what the IVR's fax-back makes
    finally:
        store.close()
    return d.start()


def logged_in(client, box, name: str):
    p = client(box.url)
    p.login(name)
    return p


def ok(r, status: int = 200):
    assert r.status == status, f"{r.status} {r.text[:400]}"
    return r.json() if r.headers.get("Content-Type", "").startswith("application/json") else r


def q(path: str, **params: str) -> str:
    return path + "?" + urllib.parse.urlencode(params)


def audit(admin, action: str) -> list[dict]:
    return ok(admin.api("GET", q("/audit", action=action)))["entries"]


def multipart(fields: dict[str, str], file_field: str, filename: str, content: bytes,
              content_type: str = "text/csv") -> tuple[bytes, str]:
    """A multipart/form-data body as a browser sends it."""
    boundary = "----hotline" + secrets.token_hex(8)
    out = io.BytesIO()
    for k, v in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
              f'Content-Type: {content_type}\r\n\r\n'.encode())
    out.write(content + f"\r\n--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def upload_page(p, content: bytes, filename: str = "customers.csv", content_type: str = "text/csv"):
    """Check a CSV on the import page, as the upload form does."""
    body, ctype = multipart({"_xsrf": p.xsrf(), "action": "check"}, "file", filename, content, content_type)
    return p.request("POST", "/crm/customers/import", body, {"Content-Type": ctype})


def count_customers(p, **params: str) -> int:
    return ok(p.api("GET", q("/customers", **params) if params else "/customers"))["total"]


# ---------------------------------------------------------------- customers over the API

def test_customer_lifecycle_search_roles_and_audit(panel_box, client) -> None:
    agent, sup, admin = (logged_in(client, panel_box, n) for n in ("agent1", "sup", "admin"))
    new = ok(agent.api("POST", "/customers", {
        "name": "欧阳娜娜", "member_no": "hl-2024 001", "vip": True, "area_code": "755",
        "phones": ["+86 139-1234-5678", {"number": "0755 6234 5000", "kind": "landline"}],
        "district": "南山区", "address": "深圳市南山区科技园路1号"}), 201)
    # stored in the forms the IVR lookups search: normalized numbers, member number, area code, district
    assert new["phones"] == [{"number": "13912345678", "kind": "mobile"},
                             {"number": "075562345000", "kind": "landline"}]
    assert (new["member_no"], new["area_code"], new["province"], new["region"], new["district"]) == \
        ("HL2024001", "0755", "广东", "华南", "南山")
    other = ok(agent.api("POST", "/customers", {"name": "欧文 Owen", "phones": ["13800000001"]}), 201)

    def found(**params: str) -> list[str]:
        return [c["name"] for c in ok(agent.api("GET", q("/customers", **params)))["items"]]
    assert found(q="欧阳") == ["欧阳娜娜"]                  # Chinese name, part of it
    assert sorted(found(q="欧")) == ["欧文 Owen", "欧阳娜娜"]
    assert found(q="139 1234 5678") == ["欧阳娜娜"]          # the number as a person types it
    assert found(q="+86 139 1234 5678") == ["欧阳娜娜"]
    assert found(q="62345000") == ["欧阳娜娜"]               # part of the landline
    assert found(q="HL-2024-001") == ["欧阳娜娜"]            # member number in another spelling
    assert found(vip="true") == ["欧阳娜娜"]
    assert found(q="nobody-like-this") == []

    # bad input: 400 naming the field; a member number taken: 409
    for body, field in (({"name": "x", "phones": ["12ab"]}, "phones"), ({"name": "x", "vip": "maybe"}, "vip"),
                        ({"name": ""}, "name"), ({"name": "x", "area_code": "x1"}, "area_code"),
                        ({"name": "x", "email": "not-an-address"}, "email"),
                        ({"name": "x", "province": "Atlantis"}, "province")):
        r = agent.api("POST", "/customers", body)
        assert r.status == 400 and r.json()["field"] == field and r.json()["error"].startswith(field + ":"), r.text
    dup = agent.api("POST", "/customers", {"name": "x", "member_no": "HL2024001"})
    assert dup.status == 409 and dup.json()["field"] == "member_no" and "欧阳娜娜" in dup.json()["error"]
    assert count_customers(agent) == 2                        # nothing half-created

    # update: only what is given changes; audited with before -> after
    changed = ok(agent.api("PUT", f"/customers/{new['id']}", {"vip": False, "address": "深圳市福田区深南大道6008号"}))
    assert changed["vip"] is False and changed["phones"] == new["phones"] and changed["member_no"] == "HL2024001"
    entry = audit(admin, "customer.update")[0]
    assert entry["user"] == "agent1" and entry["target"] == f"customers/{new['id']} 欧阳娜娜"
    assert entry["before"] == {"vip": True, "address": "深圳市南山区科技园路1号"}
    assert entry["after"] == {"vip": False, "address": "深圳市福田区深南大道6008号"}
    created = audit(admin, "customer.create")
    assert {e["after"]["name"] for e in created} == {"欧阳娜娜", "欧文 Owen"}
    assert next(e for e in created if e["after"]["name"] == "欧阳娜娜")["after"]["phones"] == \
        "mobile:13912345678; landline:075562345000"

    # roles: agents may not delete; supervisors may (audited); qa and anonymous see nothing
    r = agent.api("DELETE", f"/customers/{other['id']}")
    assert r.status == 403 and "supervisor" in r.json()["error"]
    assert ok(sup.api("DELETE", f"/customers/{other['id']}"))["deleted"]["name"] == "欧文 Owen"
    assert agent.api("GET", f"/customers/{other['id']}").status == 404
    gone = audit(admin, "customer.delete")[0]
    assert gone["user"] == "sup" and gone["before"]["phones"] == "mobile:13800000001" and gone["after"] is None
    qa = logged_in(client, panel_box, "qa1")
    assert qa.api("GET", "/customers").status == 403 and qa.get("/crm/customers").status == 403
    anon = client(panel_box.url)
    assert anon.api("GET", "/customers").status == 401
    assert anon.get("/crm/customers").headers["Location"].startswith("/login")


def test_sort_filters_and_pages_are_allow_listed(demo_box, client) -> None:
    agent = logged_in(client, demo_box, "agent1")
    for params, field in (({"sort": "pin_hash"}, "sort"), ({"order": "name"}, "order"), ({"page": "0"}, "page"),
                          ({"per_page": "all"}, "per_page"), ({"vip": "perhaps"}, "vip")):
        r = agent.api("GET", q("/customers", **params))
        assert r.status == 400 and r.json()["field"] == field, (params, r.text)
    r = agent.api("GET", q("/customers", sort="pin_hash"))
    assert "allowed: name, member_no" in r.json()["error"]
    page = agent.get(q("/crm/customers", sort="pin_hash"))                 # the page says it too
    assert page.status == 400 and "排序：'pin_hash' 不可用（可用：name, member_no" in html.unescape(page.text)
    assert agent.get(q("/crm/products", sort="cost")).status == 400
    assert agent.api("GET", q("/products", category="toys")).status == 400

    up = ok(agent.api("GET", q("/customers", sort="name", per_page="200")))
    down = ok(agent.api("GET", q("/customers", sort="-name", per_page="200")))
    names = [c["name"] for c in up["items"]]
    assert up["total"] == 180 and names == sorted(names) and [c["name"] for c in down["items"]] == names[::-1]
    first, second = (ok(agent.api("GET", q("/customers", sort="name", per_page="25", page=str(n)))) for n in (1, 2))
    assert first["pages"] == 8 and [c["id"] for c in first["items"]] + [c["id"] for c in second["items"]] == \
        [c["id"] for c in up["items"][:50]]
    pricey = ok(agent.api("GET", q("/products", sort="-price_cents", per_page="200")))["items"]
    assert [p["price_cents"] for p in pricey] == sorted((p["price_cents"] for p in pricey), reverse=True)
    toner = ok(agent.api("GET", q("/products", category="consumable")))["items"]
    assert toner and {p["category"] for p in toner} == {"consumable"}
    listing = agent.get(q("/crm/customers", sort="-name", page="2")).text   # the page keeps sort on its links
    assert 'href="/crm/customers?sort=-name&amp;page=3"' in listing and "第 2 页，共 8 页" in listing


# ---------------------------------------------------------------- CSV

def test_customer_csv_round_trip(panel_box, client) -> None:
    agent, admin = logged_in(client, panel_box, "agent1"), logged_in(client, panel_box, "admin")
    a = ok(agent.api("POST", "/customers", {"name": "张伟", "vip": True, "member_no": "86012345",
                                            "phones": ["13800138000", "landline:010-6234-5678"], "area_code": "010",
                                            "address": "北京市海淀区中关村大街27号", "notes": '说 "你好", 再见'}), 201)
    b = ok(agent.api("POST", "/customers", {"name": "=HYPERLINK(\"x\")", "phones": ["13700137000"],
                                            "language": "en_US"}), 201)
    exported = ok(agent.api("GET", "/customers/export"))
    assert exported.headers["Content-Type"].startswith("text/csv")
    assert exported.body.startswith(b"\xef\xbb\xbf")               # a BOM: spreadsheets read the Chinese right
    rows = list(csv.DictReader(io.StringIO(exported.body.decode("utf-8-sig"))))
    assert [r["name"] for r in sorted(rows, key=lambda r: int(r["id"]))] == ["张伟", "'=HYPERLINK(\"x\")"]
    row_a = next(r for r in rows if r["id"] == str(a["id"]))
    assert row_a["phones"] == "mobile:13800138000; landline:01062345678" and row_a["vip"] == "yes"

    # change two cells in a spreadsheet, add a person, import it back (BOM and all)
    row_a["vip"], row_a["address"] = "no", "北京市朝阳区建国路88号"
    rows.append({**{k: "" for k in rows[0]}, "name": "李娜", "phones": "13900139000; 传真:010-6234-0000",
                 "district": "朝阳"})
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    w.writeheader()
    w.writerows(rows)
    data = ("\ufeff" + out.getvalue()).encode("utf-8")
    dry = ok(agent.request("POST", "/api/v1/customers/import?dry_run=true", data,
                           {"Content-Type": "text/csv", "X-XSRFToken": agent.xsrf(), "Accept": "application/json"}))
    assert (dry["valid"], dry["rows"], dry["create"], dry["update"], dry["errors"]) == (True, 3, 1, 2, [])
    assert count_customers(agent) == 2                              # a dry run writes nothing
    done = ok(agent.request("POST", "/api/v1/customers/import", data,
                            {"Content-Type": "text/csv", "X-XSRFToken": agent.xsrf(), "Accept": "application/json"}))
    assert (done["imported"], done["create"], done["update"], done["encoding"]) == (3, 1, 2, "UTF-8")
    again = ok(agent.api("GET", f"/customers/{a['id']}"))
    assert (again["vip"], again["address"], again["notes"]) == (False, "北京市朝阳区建国路88号", '说 "你好", 再见')
    assert again["phones"] == a["phones"]
    assert ok(agent.api("GET", f"/customers/{b['id']}"))["name"] == '=HYPERLINK("x")'   # the guard is undone
    li = ok(agent.api("GET", q("/customers", q="李娜")))["items"][0]
    assert li["phones"] == [{"number": "13900139000", "kind": "mobile"}, {"number": "01062340000", "kind": "fax"}]
    assert li["district"] == "朝阳"
    imp = audit(admin, "customer.import")[0]
    assert imp["user"] == "agent1" and imp["after"]["created"] == 1 and imp["after"]["updated"] == 2
    upd = next(e for e in audit(admin, "customer.update") if e["target"].startswith(f"customers/{a['id']}"))
    assert upd["before"] == {"vip": True, "address": "北京市海淀区中关村大街27号"}

    # the page's export in Chinese (a Chinese spreadsheet user), imported through the page: check, then import
    sup = logged_in(client, panel_box, "sup")
    sup.post("/language", {"language": "zh_CN", "back": "/"})                 # a Chinese spreadsheet user
    zh = sup.get("/crm/customers/export?q=" + urllib.parse.quote("张伟"))
    text = zh.body.decode("utf-8-sig")
    assert text.splitlines()[0] == "编号,姓名,会员号,VIP,联系电话,省份,大区,区号,区县,地址,电子邮箱,语言,备注"
    text = text.replace("北京市朝阳区建国路88号", "北京市东城区王府井大街1号")
    checked = upload_page(sup, text.encode("utf-8"))
    assert checked.status == 200 and "所有行均有效" in checked.text, checked.text[-2000:]
    token = checked.text.split('name="token" value="')[1].split('"')[0]
    done = sup.post("/crm/customers/import", {"action": "import", "token": token})
    assert done.status == 200 and "已导入 1 位客户：新增 0 位，更新 1 位。" in done.text
    assert ok(agent.api("GET", f"/customers/{a['id']}"))["address"] == "北京市东城区王府井大街1号"
    replay = sup.post("/crm/customers/import", {"action": "import", "token": token})   # a token works once
    assert replay.status == 400 and "已过期" in replay.text


def test_bad_csv_rows_are_refused_with_row_numbers_and_nothing_is_imported(panel_box, client) -> None:
    agent, admin = logged_in(client, panel_box, "agent1"), logged_in(client, panel_box, "admin")
    text = ("\ufeffname,phones,vip,member_no\r\n"
            "王五,13800000001,yes,M1\r\n"
            "赵六,138-abc-0002,no,\r\n"              # row 3: not a number
            "钱七,13800000003,maybe,M1\r\n"          # row 4: vip, and the member number of row 2
            "孙八,13800000004,no,M4\r\n")
    data = text.encode("utf-8")
    r = agent.request("POST", "/api/v1/customers/import", data,
                      {"Content-Type": "text/csv", "X-XSRFToken": agent.xsrf(), "Accept": "application/json"})
    assert r.status == 400, r.text
    body = r.json()
    assert body["error"] == "2 rows have errors; nothing was imported"
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(3, "phones"), (4, "vip"), (4, "member_no")]
    assert body["errors"][0]["error"] == "row 3: phones: must be a phone number"
    assert body["errors"][2]["error"] == "row 4: member_no: also in row 2"
    assert count_customers(agent) == 0 and audit(admin, "customer.") == []   # nothing at all was written

    page = upload_page(agent, data)                       # the page lists the same rows, offers no import
    assert page.status == 400 and "Nothing was imported" in page.text and 'id="import-confirm"' not in page.text
    assert '<td class="data num">3</td><td>Contact numbers: must be a phone number</td>' in page.text
    assert '<td class="data num">4</td><td>Member number: also in row 2</td>' in page.text
    assert count_customers(agent) == 0

    # files that are not CSV, or too big, are refused with a message before anything is read
    xlsx = upload_page(agent, b"PK\x03\x04" + b"\x00" * 100, "customers.xlsx",
                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert xlsx.status == 415 and "save it as CSV (UTF-8) first" in xlsx.text
    png = upload_page(agent, b"\x89PNG\r\n\x1a\n\x00\x00", "photo.png", "image/png")
    assert png.status == 415 and "File: is not a CSV text file" in png.text
    binary = upload_page(agent, b"name\n\x00\x01\x02", "customers.csv")
    assert binary.status == 415 and "is not a CSV text file" in binary.text
    big = upload_page(agent, b"name\n" + ("张" * 80 + "\n").encode() * 25000)
    assert big.status == 413 and "File: is larger than 5 MB" in big.text
    r = agent.request("POST", "/api/v1/customers/import", b'{"name": "x"}',
                      {"Content-Type": "application/json", "X-XSRFToken": agent.xsrf()})
    assert r.status == 415 and r.json()["field"] == "file"
    body, ctype = multipart({}, "file", "list.pdf", b"%PDF-1.4", "application/pdf")
    r = agent.request("POST", "/api/v1/customers/import", body, {"Content-Type": ctype, "X-XSRFToken": agent.xsrf()})
    assert r.status == 415 and r.json()["error"] == "file: is not a CSV text file"
    assert count_customers(agent) == 0


# ---------------------------------------------------------------- a customer's page

def test_customer_page_shows_calls_tickets_and_faxes(demo_box, client) -> None:
    agent, qa = logged_in(client, demo_box, "agent1"), logged_in(client, demo_box, "qa1")
    li = ok(agent.api("GET", q("/customers", q="13900139000")))["items"]
    assert [c["name"] for c in li] == ["李娜"]
    cid = li[0]["id"]
    call = ok(qa.api("POST", "/sim/calls", {"from": "+8613900139000", "to": "8002"}), 201)["id"]  # +86 form
    deadline = time.monotonic() + 10
    while ok(qa.api("GET", f"/sim/calls/{call}"))["state"] == "ringing" and time.monotonic() < deadline:
        time.sleep(0.05)
    ok(qa.api("DELETE", f"/sim/calls/{call}"))
    deadline = time.monotonic() + 15
    while True:
        history = ok(agent.api("GET", f"/customers/{cid}/history"))
        if history["calls"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [c["call_uuid"] for c in history["calls"]] == [call]
    assert history["calls"][0]["caller_id"] == "+8613900139000" and history["calls"][0]["dialed"] == "8002"
    assert [t["summary"] for t in history["tickets"]] == ["厨房水管漏水"]     # the demo's ticket for 李娜
    assert [(f["document"], f["number"]) for f in history["faxes"]] == [("spec-1020", "13900139000")]
    page = agent.get(f"/crm/customers/{cid}")
    assert page.status == 200
    for text in ("李娜", "13900139000", "+8613900139000", "厨房水管漏水", "spec-1020", f"/crm/customers/{cid}/edit"):
        assert text in page.text, text
    ticket = history["tickets"][0]
    assert f'<a href="/tickets/{ticket["id"]}">{ticket["ticket_no"]}</a>' in page.text
    assert 'href="/tickets/new?caller=13900139000"' in page.text          # a new ticket for this caller
    assert "btn-danger" not in page.text                     # agents get no delete button
    assert "btn-danger" in logged_in(client, demo_box, "sup").get(f"/crm/customers/{cid}").text
    assert agent.get("/crm/customers/999999").status == 404
    assert agent.api("GET", "/customers/999999/history").status == 404


# ---------------------------------------------------------------- forms

def test_forms_name_every_bad_field_then_save(panel_box, client) -> None:
    agent, sup, admin = (logged_in(client, panel_box, n) for n in ("agent1", "sup", "admin"))
    sup.post("/language", {"language": "zh_CN", "back": "/"})               # the supervisor reads Chinese
    form = {"name": "", "member_no": "", "phone_kind": "mobile", "phone_number": "13x", "email": "nope",
            "area_code": "", "province": "", "district": "", "address": "", "language": "zh_CN", "notes": "keep me"}
    r = agent.post("/crm/customers/new", form)
    assert r.status == 400
    for message in ("Name: is required", "Contact numbers: must be a phone number",
                    "E-mail: must be an e-mail address"):
        assert message in r.text, message
    assert "keep me" in r.text and 'value="13x"' in r.text                 # what was typed stays
    zh = sup.post("/crm/customers/new", form)
    assert zh.status == 400 and "名称：为必填项" in zh.text and "电子邮箱：必须是电子邮箱地址" in zh.text
    assert count_customers(agent) == 0

    body = urllib.parse.urlencode([("_xsrf", agent.xsrf()), ("name", "陈静"), ("member_no", "m-77"), ("vip", "on"),
                                   ("phone_kind", "mobile"), ("phone_number", "139 0000 1111"),
                                   ("phone_kind", "work"), ("phone_number", "021-5888-0000"),
                                   ("phone_kind", "mobile"), ("phone_number", ""),
                                   ("area_code", "021"), ("province", ""), ("district", "浦东新区"),
                                   ("address", "上海市浦东新区世纪大道100号"), ("email", "chen@example.com"),
                                   ("language", "zh_CN"), ("notes", "")]).encode()
    saved = agent.request("POST", "/crm/customers/new", body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert saved.status == 302 and saved.headers["Location"].startswith("/crm/customers/")
    cid = int(saved.headers["Location"].rsplit("/", 1)[1])
    c = ok(agent.api("GET", f"/customers/{cid}"))
    assert (c["vip"], c["member_no"], c["province"], c["district"]) == (True, "M77", "上海", "浦东新")  # as the IVR matches districts
    assert c["phones"] == [{"number": "13900001111", "kind": "mobile"}, {"number": "02158880000", "kind": "work"}]
    page = agent.get(f"/crm/customers/{cid}").text
    assert "陈静" in page and "13900001111" in page and "VIP" in page

    # delete through the page: agents are refused, supervisors are not; audited
    assert agent.post(f"/crm/customers/{cid}/delete", {}).status == 403
    assert sup.post(f"/crm/customers/{cid}/delete", {}).headers["Location"] == "/crm/customers"
    assert audit(admin, "customer.delete")[0]["before"]["name"] == "陈静"

    # a catalogue form: a bad price is named, a good one saved (in cents) and listed
    bad = agent.post("/crm/products/new", {"model": "7300", "category": "consumable", "name_zh": "青色硒鼓",
                                           "name_en": "", "specs_zh": "", "specs_en": "", "price_cents": "12,5x",
                                           "stock": "3", "active": "on"})
    assert bad.status == 400 and "Price: must be an amount like 12.50" in bad.text and 'value="12,5x"' in bad.text
    good = agent.post("/crm/products/new", {"model": "7300", "category": "consumable", "name_zh": "青色硒鼓",
                                            "name_en": "Cyan Toner", "specs_zh": "", "specs_en": "about 3,000 pages",
                                            "price_cents": "¥1,299.50", "stock": "3", "active": "on"})
    assert good.status == 302 and good.headers["Location"] == "/crm/products"
    listed = agent.get("/crm/products?category=consumable").text
    assert "Cyan Toner" in listed and "¥1,299.50" in listed and "Low stock" in listed


# ---------------------------------------------------------------- catalogue, dealers, repair centers, employees

def test_catalogue_places_and_directory_agree_with_the_ivr_lookups(panel_box, client) -> None:
    agent, sup, admin = (logged_in(client, panel_box, n) for n in ("agent1", "sup", "admin"))
    toner = ok(agent.api("POST", "/products", {"model": "73-00", "category": "consumable", "name_zh": "青色硒鼓",
                                               "price": "¥1,299.50", "stock": 3}), 201)
    assert (toner["model"], toner["price_cents"], toner["price"], toner["name_en"]) == ("7300", 129950, "1299.50",
                                                                                     "青色硒鼓")
    printer = ok(agent.api("POST", "/products", {"model": "1020", "category": "laser", "name_zh": "激光打印机 1020",
                                                 "name_en": "LaserPro 1020", "price_cents": 109900}), 201)
    assert agent.api("POST", "/products", {"model": "7300", "category": "consumable", "name_en": "x",
                                           "price": 1}).status == 409
    r = agent.api("POST", "/products", {"model": "1", "category": "toys", "name_en": "x", "price": 1})
    assert r.status == 400 and r.json()["field"] == "category"

    r = agent.api("POST", "/parts", {"part_no": "rm1-4008", "name_zh": "定影组件", "fits": "1020, 9999", "price": 599})
    assert r.status == 400 and r.json()["error"] == "fits: no product with model 9999"
    fuser = ok(agent.api("POST", "/parts", {"part_no": "rm1-4008", "name_zh": "定影组件", "name_en": "Fuser",
                                            "fits": ["1020"], "specs_en": "220 V", "price": "599.00", "stock": 0}), 201)
    assert (fuser["part_no"], fuser["fits"], fuser["price_cents"]) == ("RM1-4008", ["1020"], 59900)
    assert [p["part_no"] for p in ok(agent.api("GET", "/parts?fits=1020"))["items"]] == ["RM1-4008"]
    assert [p["part_no"] for p in ok(agent.api("GET", "/parts?q=1020"))["items"]] == ["RM1-4008"]
    parts_page = agent.get("/crm/parts?fits=1020").text
    assert "Fuser" in parts_page and "Out of stock" in parts_page

    dealer = ok(agent.api("POST", "/dealers", {"name": "深圳恒通办公设备有限公司", "area_code": "755",
                                               "phone": "0755-2345 6789", "address": "深圳市福田区华强北路1号"}), 201)
    assert (dealer["province"], dealer["city"], dealer["area_code"], dealer["phone"]) == ("广东", "深圳", "0755",
                                                                                       "0755-2345 6789")
    center = ok(agent.api("POST", "/repair-centers", {"name": "HL 授权维修中心（广州）", "region": "South China",
                                                      "area_code": "020", "phone": "020-8888 0000"}), 201)
    assert center["region"] == "华南" and center["authorized"] is True
    r = agent.api("POST", "/dealers", {"name": "无省份"})
    assert r.status == 400 and r.json()["field"] == "province"

    # the IVR reads the same rows: its lookups (daemon/service/lookups.py) find what the panel saved
    from hotline.daemon.service import lookups
    from hotline.daemon.store.db import Store
    store = Store(f"sqlite:///{panel_box.state / 'hotline.db'}")
    store.open()
    try:
        found = store.write_sync(lambda: (lookups.lookup("dealers", "area_code", "0086 755"),
                                          lookups.lookup("dealers", "area_code", "0769"),
                                          lookups.lookup("repair_centers", "area_code", "0757"),
                                          lookups.lookup("products", "model", "7300")))
    finally:
        store.close()
    exact, nearest, by_region, product = found
    assert exact["name"] == "深圳恒通办公设备有限公司" and exact["match"] == "area_code"
    assert nearest["name"] == "深圳恒通办公设备有限公司" and nearest["match"] == "province"   # Dongguan: same province
    assert by_region["name"] == "HL 授权维修中心（广州）" and by_region["match"] == "region"     # Foshan: same region
    assert product["price"] == "1299.50" and product["name_zh"] == "青色硒鼓"

    emp = ok(agent.api("POST", "/employees", {"name": "刘洋", "department": "技术支持部", "title": "工程师",
                                              "extension": "8101", "mobile": "+86 139 0000 2222",
                                              "email": "liu.yang@example.com"}), 201)
    assert emp["mobile"] == "13900002222"
    ok(agent.api("POST", "/employees", {"name": "Wang Fang", "department": "Sales", "extension": "8201"}), 201)
    assert [e["name"] for e in ok(agent.api("GET", "/employees?q=8101"))["items"]] == ["刘洋"]
    assert [e["name"] for e in ok(agent.api("GET", "/employees?department=Sales"))["items"]] == ["Wang Fang"]
    r = agent.api("POST", "/employees", {"name": "x", "extension": "81a"})
    assert r.status == 400 and r.json()["field"] == "extension"
    directory = agent.get("/crm/employees?department=" + urllib.parse.quote("技术支持部")).text
    assert "刘洋" in directory and "Wang Fang" not in directory and "mailto:liu.yang@example.com" in directory

    # every change is audited with before -> after; agents may not delete, supervisors may
    ok(agent.api("PUT", f"/products/{printer['id']}", {"price": "999.00", "stock": 12}))
    entry = audit(admin, "product.update")[0]
    assert entry["before"] == {"price_cents": 109900, "stock": 0} and entry["after"] == {"price_cents": 99900,
                                                                                        "stock": 12}
    for path in (f"/parts/{fuser['id']}", f"/dealers/{dealer['id']}", f"/repair-centers/{center['id']}",
                 f"/employees/{emp['id']}"):
        assert agent.api("DELETE", path).status == 403
        ok(sup.api("DELETE", path))
        assert agent.api("GET", path).status == 404
    assert {e["action"] for e in audit(admin, "")} >= {"part.create", "part.delete", "dealer.create",
                                                      "dealer.delete", "repair_center.create",
                                                      "repair_center.delete", "employee.create", "employee.delete"}


def test_every_crm_message_and_field_can_be_shown_in_chinese() -> None:
    from hotline.daemon.service import crm
    from hotline.webadmin import i18n
    from hotline.webadmin.handlers import crm as pages
    assert set(crm.MESSAGES) <= set(pages.MESSAGES), set(crm.MESSAGES) - set(pages.MESSAGES)
    fields = {f.name for res in crm.RESOURCES.values() for f in (*res.fields, *res.filters)}
    assert fields <= set(pages.LABELS), fields - set(pages.LABELS)
    table = i18n._read_csv(i18n.LOCALE_DIR / "zh_CN.csv")
    assert not [m for m in [*pages.MESSAGES, *pages.LABELS.values()] if m not in table]
