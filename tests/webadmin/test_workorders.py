"""Work orders on a real daemon: dispatch to the authorized repair center that serves the customer's district
(else area code, else region), the field result closing the order, filters, audit, pages and the printable
sheet without the panel's navigation."""
from __future__ import annotations

import datetime as dt
import re
import time
import urllib.parse

import pytest

from hotline.daemon.service import lookups
from hotline.daemon.service import workorders as wo
from hotline.daemon.store.db import Store
from hotline.daemon.store.service_models import (Customer, CustomerPhone, Product, RepairCenter, TicketHistory,
                                                 Warranty)
from hotline.webadmin.handlers import workorders as wo_handlers


def seed(daemon) -> dict:
    """Repair centers, customers in different places, a product with a unit, a ticket — written straight
    into the daemon's own SQLite database (the CRM pages are another part of the panel)."""
    store = Store(f"sqlite:///{daemon.state / 'hotline.db'}")
    store.open()

    def rows() -> dict:
        now = time.time()
        ids = {}
        for key, name, district, area, region, authorized in (
                ("haidian_workshop", "海淀特约维修点", "海淀", None, None, False),
                ("haidian", "海淀授权维修站", "海淀", None, None, True),
                ("chaoyang", "朝阳授权维修站", "朝阳", None, None, True),
                ("beijing", "HL 授权维修中心（北京）", None, "010", "华北", True),
                ("guangzhou", "HL 授权维修中心（广州）", None, "020", "华南", True)):
            ids[key] = RepairCenter.create(name=name, district=district, area_code=area, region=region,
                                           authorized=authorized, phone="010-62000000",
                                           address=f"{name}地址").id
        Product.create(model="1020", category="laser", name_zh="HL 激光打印机 1020", name_en="HL LaserPro 1020",
                       price_cents=109900, stock=3)
        for key, name, district, area, phone in (
                ("zhang", "张伟", "海淀", "010", "13800138000"),     # a station in his district
                ("li", "李娜", "丰台", "010", "13900139000"),        # no station in 丰台: Beijing's center
                ("chen", "陈静", None, "0755", "13700137000"),       # Shenzhen: no center, region 华南
                ("ma", "马强", None, "0991", "13600136000")):        # Urumqi: nobody serves 西北
            c = Customer.create(name=name, district=district, area_code=area, address=f"{name}的地址",
                                created_at=now, updated_at=now)
            CustomerPhone.create(customer=c, number=phone)
            ids[key] = c.id
        Warranty.create(serial_no="2024100001", product_model="1020", customer=ids["zhang"],
                        purchased_on="2024-10-01", warranty_until="2099-10-01")
        ticket = lookups.create_ticket("repair", "打印机卡纸，报错 E02", customer_id=ids["zhang"], actor="agent1")
        ids["ticket_no"] = ticket["ticket_no"]
        ids["ticket"] = lookups.Ticket.get(lookups.Ticket.ticket_no == ticket["ticket_no"]).id
        return ids
    try:
        return store.write_sync(rows)
    finally:
        store.close()


def ok(r, status: int = 200) -> dict:
    assert r.status == status, (r.status, r.text[:400])
    return r.json()


@pytest.fixture
def box(panel_box, client):
    """The daemon with seeded data and logged-in clients: agent (agent1), sup, admin."""
    ids = seed(panel_box)
    users = {}
    for name in ("agent1", "sup", "admin"):
        users[name] = client(panel_box.url)
        users[name].login(name)
    return panel_box, ids, users


def test_dispatch_picks_the_authorized_center_serving_the_customer(box, client) -> None:
    daemon, ids, u = box
    agent = u["agent1"]

    def make(customer: str, **extra) -> dict:
        return ok(agent.api("POST", "/workorders", {"customer_id": ids[customer], "fault": "不进纸", "dispatch": True,
                                                    **extra}), 201)
    zhang = make("zhang", serial_no="2024100001")
    assert zhang["status"] == "dispatched" and zhang["dispatch_match"] == "district"
    assert zhang["repair_center"]["id"] == ids["haidian"]             # not the unauthorized workshop next door
    assert zhang["product_model"] == "1020" and zhang["in_warranty"] is True   # model from the unit's serial
    assert (zhang["customer_name"], zhang["phone"], zhang["district"]) == ("张伟", "13800138000", "海淀")
    assert re.fullmatch(r"W\d{8}-0001", zhang["order_no"])
    li = make("li")
    assert (li["repair_center"]["id"], li["dispatch_match"]) == (ids["beijing"], "area_code")
    chen = make("chen")
    assert (chen["repair_center"]["id"], chen["dispatch_match"]) == (ids["guangzhou"], "region")
    # a district typed on the order wins over the customer's
    moved = make("li", district="朝阳区")
    assert (moved["district"], moved["repair_center"]["id"]) == ("朝阳", ids["chaoyang"])
    # nobody serves Urumqi: the order stays new and says why; a person then chooses a center
    ma = make("ma")
    assert ma["status"] == "new" and ma["repair_center"] is None and "0991" in ma["dispatch_error"]
    again = agent.api("POST", f"/workorders/{ma['id']}/dispatch", {})
    assert again.status == 409 and "No authorized repair center" in again.json()["error"]
    refused = agent.api("POST", f"/workorders/{ma['id']}/dispatch", {"repair_center_id": ids["haidian_workshop"]})
    assert refused.status == 400 and refused.json()["error"].startswith("Repair center")
    manual = ok(agent.api("POST", f"/workorders/{ma['id']}/dispatch", {"repair_center_id": ids["beijing"]}))
    assert (manual["status"], manual["dispatch_match"], manual["repair_center"]["name"]) == \
        ("dispatched", "manual", "HL 授权维修中心（北京）")
    # input errors name the field
    for body, field in (({"fault": "x"}, "Customer"), ({"customer_id": 999999, "fault": "x"}, "Customer"),
                        ({"customer_id": ids["li"]}, "Fault description"),
                        ({"customer_id": ids["li"], "fault": "x", "product_model": "9999"}, "Product"),
                        ({"customer_id": ids["li"], "fault": "x", "serial_no": "no spaces?"}, "Serial number"),
                        ({"customer_id": "7", "fault": "x"}, "customer_id")):
        r = agent.api("POST", "/workorders", body)
        assert r.status == 400 and r.json()["error"].startswith(field), (body, r.text)
    # the qa role has no business here
    qa = client(daemon.url)
    qa.login("qa1")
    assert qa.api("GET", "/workorders").status == 403 and qa.get("/workorders").status == 403


def test_from_a_ticket_to_the_field_result_every_step_audited(box) -> None:
    daemon, ids, u = box
    agent, admin = u["agent1"], u["admin"]
    order = ok(agent.api("POST", "/workorders", {"ticket_id": ids["ticket"], "dispatch": True}), 201)
    assert order["ticket_no"] == ids["ticket_no"] and order["fault"] == "打印机卡纸，报错 E02"   # the ticket's summary
    assert order["customer_id"] == ids["zhang"] and order["repair_center"]["id"] == ids["haidian"]
    oid = order["id"]
    assert agent.api("POST", f"/workorders/{oid}/status", {"status": "done"}).status == 400
    started = ok(agent.api("POST", f"/workorders/{oid}/status", {"status": "in_progress", "note": "师傅已出发"}))
    assert started["status"] == "in_progress"
    today = dt.date.today().isoformat()
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    result = {"technician": "李师傅", "visit_date": tomorrow, "result": "更换搓纸轮，试打 20 页正常",
              "parts_used": "搓纸轮 9020 x1", "close": True}
    future = agent.api("POST", f"/workorders/{oid}/result", result)
    assert future.status == 400 and future.json()["error"].startswith("Visit date")
    assert agent.api("POST", f"/workorders/{oid}/result", {**result, "visit_date": today, "technician": ""}) \
        .json()["error"].startswith("Technician")
    assert agent.api("POST", f"/workorders/{oid}/result", {**result, "visit_date": today, "close": "yes"}).status == 400
    done = ok(agent.api("POST", f"/workorders/{oid}/result", {**result, "visit_date": today}))
    assert (done["status"], done["technician"], done["visit_date"]) == ("done", "李师傅", today)
    assert done["closed_at"] and done["parts_used"] == "搓纸轮 9020 x1"
    assert [h["action"] for h in done["history"]] == ["created", "dispatched", "started", "done"]
    # a closed order stays closed
    assert agent.api("POST", f"/workorders/{oid}/result", {**result, "visit_date": today}).status == 409
    assert agent.api("POST", f"/workorders/{oid}/status", {"status": "cancelled"}).status == 409
    assert agent.api("POST", f"/workorders/{oid}/dispatch", {}).status == 409
    assert agent.api("PUT", f"/workorders/{oid}", {"fault": "x"}).status == 409
    # the ticket's own history follows the order
    store = Store(f"sqlite:///{daemon.state / 'hotline.db'}")
    store.open()
    try:
        notes = store.write_sync(lambda: [h.note for h in TicketHistory.select().where(
            TicketHistory.ticket == ids["ticket"], TicketHistory.action == "work_order").order_by(TicketHistory.id)])
    finally:
        store.close()
    assert len(notes) == 3 and notes[-1] == f"work order {order['order_no']} done: 更换搓纸轮，试打 20 页正常"
    # the audit log: who, what, before -> after
    entries = ok(admin.api("GET", f"/audit?target={order['order_no']}"))["entries"]
    assert [e["action"] for e in reversed(entries)] == ["workorder.created", "workorder.dispatched",
                                                        "workorder.started", "workorder.closed"]
    closed = entries[0]
    assert closed["user"] == "agent1" and closed["changes"]["status"] == ["in_progress", "done"]
    assert closed["changes"]["technician"] == [None, "李师傅"]
    assert entries[2]["changes"]["repair_center"] == [None, f"海淀授权维修站 (#{ids['haidian']})"]
    # corrections on an open order are audited too; unknown fields are refused
    other = ok(agent.api("POST", "/workorders", {"customer_id": ids["li"], "fault": "漏墨"}), 201)
    assert agent.api("PUT", f"/workorders/{other['id']}", {"status": "done"}).status == 400
    fixed = ok(agent.api("PUT", f"/workorders/{other['id']}", {"fault": "墨盒漏墨", "product_model": "1020"}))
    assert (fixed["fault"], fixed["product_model"]) == ("墨盒漏墨", "1020")
    change = ok(admin.api("GET", "/audit?action=workorder.changed"))["entries"][0]
    assert change["changes"]["fault"] == ["漏墨", "墨盒漏墨"]
    cancelled = ok(agent.api("POST", f"/workorders/{other['id']}/status", {"status": "cancelled", "note": "客户自行解决"}))
    assert cancelled["status"] == "cancelled" and cancelled["history"][-1]["note"] == "客户自行解决"


def test_list_filters_are_allow_listed(box) -> None:
    daemon, ids, u = box
    agent = u["agent1"]
    a = ok(agent.api("POST", "/workorders", {"customer_id": ids["zhang"], "fault": "a", "dispatch": True}), 201)
    ok(agent.api("POST", "/workorders", {"customer_id": ids["li"], "fault": "b", "dispatch": True}), 201)
    ok(agent.api("POST", "/workorders", {"customer_id": ids["chen"], "fault": "c"}), 201)
    assert ok(agent.api("GET", "/workorders"))["total"] == 3
    assert [o["fault"] for o in ok(agent.api("GET", "/workorders?status=new"))["work_orders"]] == ["c"]
    assert [o["id"] for o in ok(agent.api("GET", f"/workorders?center={ids['haidian']}"))["work_orders"]] == [a["id"]]
    assert [o["fault"] for o in ok(agent.api("GET", "/workorders?district=" + urllib.parse.quote("丰台区")))
            ["work_orders"]] == ["b"]
    assert ok(agent.api("GET", "/workorders?status=dispatched&district=" + urllib.parse.quote("海淀")))["total"] == 1
    for bad, word in (("sort=created_at", "unknown parameter"), ("status=open", "Status"),
                      ("center=abc", "center"), ("center=424242", "Repair center"), ("limit=0", "limit"),
                      ("district=" + "x" * 65, "District")):
        r = agent.api("GET", "/workorders?" + bad)
        assert r.status == 400 and word in r.json()["error"], (bad, r.text)
    assert agent.get("/workorders?order=x").status == 400
    assert agent.api("GET", "/workorders/424242").status == 404


def test_pages_new_detail_result_and_the_printable_sheet(box) -> None:
    daemon, ids, u = box
    agent = u["agent1"]
    assert agent.get("/workorders").status == 200 and "No work orders match." in agent.get("/workorders").text
    form = agent.get("/workorders/new?ticket=" + ids["ticket_no"])
    assert form.status == 200 and ids["ticket_no"] in form.text
    base = {"ticket": "", "customer": "", "product_model": "", "serial_no": "", "district": "", "fault": "卡纸",
            "dispatch": "1"}
    bad = agent.post("/workorders/new", base)
    assert bad.status == 400 and "Customer: give a ticket with a customer, or a customer." in bad.text
    assert "卡纸</textarea>" in bad.text                            # what was typed stays in the form
    bad = agent.post("/workorders/new", {**base, "customer": "13999999999"})
    assert bad.status == 400 and "Customer: no customer with this phone number" in bad.text
    bad = agent.post("/workorders/new", {**base, "ticket": "T20000101-0009"})
    assert bad.status == 400 and "Ticket: no ticket T20000101-0009." in bad.text
    made = agent.post("/workorders/new", {**base, "customer": "13800138000", "serial_no": "2024100001"})
    assert made.status == 302
    url = made.headers["Location"]
    page = agent.get(url)
    assert page.status == 200 and "海淀授权维修站" in page.text and "Dispatched" in page.text
    assert "HL LaserPro 1020" in page.text and "in warranty until 2099-10-01" in page.text
    # the field result through the form: an error keeps what was typed, then it closes the order
    bad = agent.post(url, {"action": "result", "technician": "李师傅", "visit_date": "2099-01-01",
                           "result": "更换定影组件", "parts_used": "", "close": "1"})
    assert bad.status == 400 and "Visit date: use YYYY-MM-DD, not later than today." in bad.text
    assert "更换定影组件</textarea>" in bad.text
    done = agent.post(url, {"action": "result", "technician": "李师傅", "visit_date": dt.date.today().isoformat(),
                            "result": "更换定影组件", "parts_used": "定影组件 9010", "close": "1"})
    assert done.status == 200 and "Field result saved; the work order is done." in done.text
    again = agent.post(url, {"action": "dispatch", "repair_center_id": ""})
    assert again.status == 409 and "The work order is Done: it cannot be dispatched." in again.text
    # the list shows it with its status and center; filters work on the page too
    listing = agent.get("/workorders?status=done")
    assert "海淀授权维修站" in listing.text and "张伟" in listing.text
    assert "张伟" not in agent.get("/workorders?status=cancelled").text
    # the printable sheet: the order, no navigation, A4 print styles; in Chinese for a Chinese user
    sheet = agent.get(url + "/print")
    assert sheet.status == 200
    assert 'class="topbar"' not in sheet.text and "mainnav" not in sheet.text and "Log out" not in sheet.text
    assert "@page { size: A4" in sheet.text and "@media print" in sheet.text
    order_no = re.search(r"W\d{8}-\d{4}", page.text).group(0)
    for text in (order_no, "张伟", "13800138000", "海淀授权维修站", "李师傅", "定影组件 9010", "Repair work order"):
        assert text in sheet.text, text
    assert agent.post("/language", {"language": "zh_CN", "back": url}).status == 302
    zh = agent.get(url + "/print")
    assert "维修派工单" in zh.text and "客户签字及日期" in zh.text and "HL 激光打印机 1020" in zh.text
    assert "派工单状态为“已完成”，不能派单。" in agent.post(url, {"action": "dispatch", "repair_center_id": ""}).text
    assert agent.get(url + "/print?x=1").status == 400 and agent.get("/workorders/424242/print").status == 404


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_dispatch_rules_and_numbering_on_both_backends(backend, database_for) -> None:
    """The same logic on SQLite and PostgreSQL: rule order, authorized only, numbers per day."""
    from hotline.daemon.store import migrations

    with database_for(backend, "wo") as url:
        store = Store(url)
        store.open()
        try:
            store.write_sync(migrations.upgrade, store.db)

            def scenario() -> list:
                now = time.time()
                RepairCenter.create(name="closed", district="海淀", authorized=False)
                station = RepairCenter.create(name="station", district="海淀", authorized=True)
                city = RepairCenter.create(name="city", area_code="010", region="华北", authorized=True)
                south = RepairCenter.create(name="south", area_code="020", region="华南", authorized=True)
                out = []
                for district, area in (("海淀", "010"), ("丰台", "010"), (None, "0755"), (None, "0991")):
                    c = Customer.create(name="c", district=district, area_code=area, created_at=now,
                                        updated_at=now)
                    out.append(wo.create(customer_id=c.id, fault="f", dispatch=True, actor="t", now=now))
                return [(o["order_no"][-4:], (o["repair_center"] or {}).get("id"), o["dispatch_match"])
                        for o in out] + [(station.id, city.id, south.id)]
            *orders, (station, city, south) = store.write_sync(scenario)
            assert orders == [("0001", station, "district"), ("0002", city, "area_code"),
                              ("0003", south, "region"), ("0004", None, None)]
            assert store.write_sync(lambda: wo.query(status="new"))["total"] == 1
            assert store.write_sync(lambda: wo.query(district="海淀区"))["total"] == 1
        finally:
            store.close()


def test_panel_messages_are_the_logic_messages() -> None:
    """The pages show work-order errors translated: the handler marks the very same texts the logic raises."""
    assert wo_handlers.MESSAGES == wo.MESSAGES
