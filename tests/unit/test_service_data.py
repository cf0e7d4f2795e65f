"""Service data (migration 2), the IVR lookups and the demo data, on real SQLite and real PostgreSQL."""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import time
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import peewee
import pytest

from hotline.daemon.service import demodata, lookups
from hotline.daemon.service.lookups import ServiceDataError
from hotline.daemon.store import migrations, models
from hotline.daemon.store import service_models as sm
from hotline.daemon.store.db import Store

REPO = Path(__file__).resolve().parents[2]
SERVICE_TABLES = {"customers", "customer_phones", "products", "dealers", "repair_centers", "faq", "warranties",
                  "orders", "water_accounts", "tickets", "ticket_history", "callbacks", "voicemails", "fax_jobs"}
S = demodata.SAMPLES


# ---------------------------------------------------------------- databases

@contextlib.contextmanager
def _store(url: str) -> Iterator[Store]:
    store = Store(url)
    store.open()
    try:
        store.write_sync(migrations.upgrade, store.db)
        yield store
    finally:
        store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty(request, database_for) -> Iterator[Store]:
    """A store at the latest schema with no service rows."""
    with database_for(request.param) as url, _store(url) as store:
        yield store


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(request, tmp_path_factory) -> Iterator[Store]:
    """One store per backend with the seed-1 demo data of today (shared by the read-mostly tests)."""
    database = contextlib.nullcontext(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'hotline.db'}") \
        if request.param == "sqlite" else request.getfixturevalue("fresh_pg_database")()
    with database as url, _store(url) as store:
        store.write_sync(demodata.generate, 1)
        yield store


def run(store: Store, fn, *args, **kwargs):
    """Run fn in the store's writer thread, inside a transaction, as the daemon does."""
    return store.write_sync(lambda: fn(*args, **kwargs))


# ---------------------------------------------------------------- migration 2

def test_migration_2_creates_every_service_table_with_indexes(empty):
    """Every model's columns exist, and the lookup columns are indexed."""
    db = empty.db
    assert SERVICE_TABLES <= set(run(empty, db.get_tables))
    for model in sm.SERVICE_MODELS:
        have = {c.name for c in run(empty, db.get_columns, model._meta.table_name)}
        want = {f.column_name for f in model._meta.sorted_fields}
        assert want <= have, f"{model.__name__}: the migration lacks {sorted(want - have)}"

    def indexed(table: str) -> set[str]:
        return {col for ix in db.get_indexes(table) for col in ix.columns}
    for table, columns in {"customers": {"area_code", "province", "district", "member_no"},
                           "customer_phones": {"number"}, "dealers": {"area_code", "province"},
                           "repair_centers": {"area_code", "region", "district"}, "products": {"model"},
                           "faq": {"code"}, "warranties": {"serial_no", "card_no"}, "orders": {"order_no", "status"},
                           "water_accounts": {"account_no", "meter_no", "district"},
                           "tickets": {"ticket_no", "status", "caller_number", "district"},
                           "callbacks": {"status", "number"}, "fax_jobs": {"status"}}.items():
        missing = columns - run(empty, indexed, table)
        assert not missing, f"{table}: no index on {sorted(missing)}"


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_upgrade_from_version_1_keeps_existing_rows(kind, database_for):
    """A box on schema 1 with users gains the service tables and keeps its users."""
    with database_for(kind) as url:
        store = Store(url)
        store.open()
        try:
            store.write_sync(migrations.upgrade, store.db, 1)
            run(store, models.User.create, name="alice", role="admin", created_at=time.time())
            assert store.write_sync(migrations.upgrade, store.db) == [m.number for m in migrations.MIGRATIONS if m.number > 1]
            assert run(store, lambda: models.User.get(models.User.name == "alice").role) == "admin"
            assert run(store, lambda: sm.Customer.select().count()) == 0
        finally:
            store.close()


def test_product_price_cannot_be_negative(empty):
    """The schema itself refuses a negative price (CHECK), on both backends."""
    with pytest.raises(peewee.IntegrityError):
        run(empty, sm.Product.create, model="1", category="laser", name_zh="x", name_en="x", price_cents=-1)


# ---------------------------------------------------------------- demo data

def _dump(store: Store) -> dict:
    """Every demo row by table, ids replaced by their rank so two loads compare equal."""
    def take() -> dict:
        ranks = {m: {r.id: i for i, r in enumerate(m.select(m.id).order_by(m.id))} for m in demodata.DEMO_MODELS}
        out = {}
        for model in demodata.DEMO_MODELS:
            rows = []
            for row in model.select().order_by(model.id).dicts():
                row.pop("id")
                row.pop("pin_hash", None)  # salted: differs every time, checked by verify_member_pin
                for f in model._meta.sorted_fields:
                    if isinstance(f, peewee.ForeignKeyField) and row.get(f.name) is not None:
                        row[f.name] = ranks[f.rel_model][row[f.name]]
                rows.append(row)
            out[model._meta.table_name] = rows
        return out
    return store.write_sync(take)


def test_demo_data_is_deterministic_idempotent_and_seeded(empty):
    """Same seed and day: identical rows, nothing duplicated; another seed: other rows, same anchors."""
    day = dt.date(2026, 11, 22)
    first = run(empty, demodata.generate, 1, today=day)
    dump1 = _dump(empty)
    again = run(empty, demodata.generate, 1, today=day)
    assert again == first
    assert _dump(empty) == dump1
    assert first["products"] >= 40 and first["dealers"] >= 20 and first["customers"] >= 100
    assert {p["category"] for p in dump1["products"]} == {c.value for c in sm.ProductCategory}
    assert {o["status"] for o in dump1["orders"]} == {s.value for s in sm.OrderStatus}
    assert len({d["province"] for d in dump1["dealers"]}) == 15
    other = run(empty, demodata.generate, 2, today=day)
    assert other["products"] == first["products"]
    assert _dump(empty)["customers"] != dump1["customers"]
    for value in (S["printer_caller"], S["water_caller"], S["member_caller"]):
        assert run(empty, lookups.customer_by_caller_id, value) is not None
    assert run(empty, lookups.verify_member_pin, S["member_no"], S["member_pin"])["name"] == S["member_name"]


def test_demo_data_refuses_to_overwrite_other_data_unless_told(empty):
    """Real customers in the tables: refused with a message naming --replace; --replace loads."""
    run(empty, sm.Customer.create, name="真实客户", created_at=1.0, updated_at=1.0)
    with pytest.raises(ServiceDataError, match="--replace"):
        run(empty, demodata.generate, 1)
    assert run(empty, lambda: sm.Customer.select().where(sm.Customer.name == "真实客户").count()) == 1
    run(empty, demodata.generate, 1, replace=True)
    assert run(empty, lambda: sm.Customer.select().where(sm.Customer.name == "真实客户").count()) == 0
    run(empty, demodata.generate, 1)  # now marked as demo data: no --replace needed


def test_every_demo_member_pin_is_the_last_four_digits(demo):
    """The documented rule holds for every member, and only their own PIN opens their record."""
    members = run(demo, lambda: [c.member_no for c in
                                 sm.Customer.select().where(sm.Customer.member_no.is_null(False))])
    assert len(members) >= 20
    for number in members[:: max(1, len(members) // 8)]:
        assert run(demo, lookups.verify_member_pin, number, number[-4:])["member_no"] == number
        wrong = f"{(int(number[-4:]) + 1) % 10000:04d}"
        assert run(demo, lookups.verify_member_pin, number, wrong) is None


def test_cli_demo_data_prints_counts_and_samples(tmp_path, capsys, monkeypatch):
    """`hotline demo-data --seed 3` loads, prints counts and the PIN rule; --calls without queues is refused."""
    config = tmp_path / "hotline.yaml"
    config.write_text((REPO / "etc" / "hotline.yaml").read_text())
    monkeypatch.setenv("HOTLINE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("HOTLINE_DATABASE_URL", raising=False)
    parser = argparse.ArgumentParser(prog="hotline")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config")
    from hotline.daemon.cli import demo as demo_cli
    demo_cli.register(parser.add_subparsers(dest="cmd"), common)
    args = parser.parse_args(["demo-data", "-c", str(config), "--seed", "3"])
    assert args.fn(args) == 0
    out = capsys.readouterr().out
    assert "demo data loaded (seed 3)" in out and "products" in out and "customers" in out
    assert f"member {S['member_no']} PIN {S['member_pin']}" in out and "last 4 digits" in out
    history = parser.parse_args(["demo-data", "-c", str(config), "--history-only", "--calls", "10", "--days", "2"])
    with pytest.raises(SystemExit, match="no queues yet"):
        history.fn(history)
    with _store(f"sqlite:///{tmp_path / 'state' / 'hotline.db'}") as store:
        assert run(store, lookups.lookup, "orders", "order_no", S["orders"]["paid"])["status"] == "paid"


# ---------------------------------------------------------------- lookups

KNOWN = [  # (table, by, what a caller or flow passes, fields the row must have)
    ("products", "model", "1020", {"model": "1020", "category": "laser", "name_en": "HL LaserPro 1020",
                                   "name_zh": "HL 激光打印机 1020", "price_cents": 109900, "price": "1099.00"}),
    ("products", "model", "5530", {"category": "accessory", "price_cents": 2990, "price": "29.90"}),
    ("dealers", "area_code", "0755", {"area_code": "0755", "province": "广东", "city": "深圳", "match": "area_code"}),
    ("dealers", "area_code", "755", {"area_code": "0755", "match": "area_code"}),
    ("dealers", "area_code", S["dealer_fallback_area_code"], {"province": "广东", "province_en": "Guangdong",
                                                              "match": "province"}),
    ("dealers", "province", "四川省", {"province": "四川", "area_code": "028"}),
    ("dealers", "province", "Hubei", {"province": "湖北", "city": "武汉"}),
    ("dealers", "area_code", "+86 755", {"area_code": "0755"}),
    ("repair_centers", "area_code", "028", {"area_code": "028", "region": "西南", "authorized": True}),
    ("repair_centers", "area_code", "0769", {"region": "华南", "region_en": "South China", "match": "region"}),
    ("repair_centers", "region", "华东", {"region": "华东", "authorized": True}),
    ("repair_centers", "region", "northwest", {"region": "西北", "area_code": "029"}),
    ("repair_centers", "district", "朝阳区", {"district": "朝阳", "name": "朝阳供水抢修站"}),
    ("faq", "code", S["faq_code"], {"product_model": "1020", "question_en": "HL LaserPro 1020: how do I clear a "
                                                                            "paper jam?"}),
    ("faq", "code", "100", {"product_model": None}),
    ("faq", "product_model", "1600", {"code": "1600"}),
    ("warranties", "serial_no", S["serial_in_warranty"], {"product_model": "1020", "in_warranty": True,
                                                          "card_no": S["card_no"]}),
    ("warranties", "serial_no", S["serial_expired"], {"in_warranty": False, "warranty_until": "2020-03-14",
                                                      "product_name_en": "HL LaserPro 5200"}),
    ("warranties", "card_no", S["card_no"], {"serial_no": S["serial_in_warranty"]}),
    ("water_accounts", "account_no", S["water_account"], {
        "customer_name": S["water_caller_name"], "district": "朝阳", "last_bill_cents": 12305,
        "last_bill": "123.05", "balance_cents": -12305, "balance": "-123.05"}),
    ("water_accounts", "phone", "+86" + S["water_caller"], {"account_no": S["water_account"]}),
    ("water_accounts", "meter_no", "5800000001", {"account_no": S["water_account"]}),
    ("tickets", "caller_number", S["water_caller"], {"district": "朝阳", "repair_center_name": "朝阳供水抢修站"}),
    ("customers", "phone", S["printer_caller"], {"name": S["printer_caller_name"], "province": "北京",
                                                 "area_code": "010", "vip": False}),
    ("customers", "phone", S["english_caller"], {"name": "John Smith", "language": "en_US"}),
    ("customers", "member_no", S["member_no"], {"name": S["member_name"], "vip": True}),
] + [("orders", "order_no", number, {"status": status}) for status, number in S["orders"].items()]


@pytest.mark.parametrize("table,by,value,expected", KNOWN, ids=[f"{k[0]}.{k[1]}={k[2]}" for k in KNOWN])
def test_lookup_finds_the_demo_row(demo, table, by, value, expected):
    """Each table and key finds the expected row; the result has exactly the allow-listed fields."""
    row = run(demo, lookups.lookup, table, by, value)
    assert row is not None, f"{table} by {by}={value!r}: nothing found"
    assert set(row) == set(lookups.TABLES[table]["fields"])
    assert {k: row[k] for k in expected} == expected
    assert "pin_hash" not in row


@pytest.mark.parametrize("table,by", [(t, b) for t, spec in lookups.TABLES.items() for b in spec["by"]])
def test_lookup_of_an_unknown_value_is_none(demo, table, by):
    """Unknown, empty, absurdly long or SQL-looking values find nothing (and break nothing)."""
    for value in ("99999999", "", None, "9" * 200, "1' OR '1'='1"):
        assert run(demo, lookups.lookup, table, by, value) is None, (table, by, value)


def test_ticket_by_number_and_money_is_exact(demo):
    """A ticket found by caller is found again by its number; order amounts are exact cents."""
    ticket = run(demo, lookups.lookup, "tickets", "caller_number", S["water_caller"])
    digits = ticket["ticket_no"][1:9] + str(int(ticket["ticket_no"][10:]))  # what a caller keys: day, sequence
    for keyed in (ticket["ticket_no"], ticket["ticket_no"].replace("-", ""), digits):
        assert run(demo, lookups.lookup, "tickets", "ticket_no", keyed)["caller_number"] == S["water_caller"]
    for number in S["orders"].values():
        order = run(demo, lookups.lookup, "orders", "order_no", number)
        assert Decimal(order["amount"]) * 100 == order["amount_cents"]
    assert [lookups.money(c) for c in (0, 5, 1205, -50, 10**15 + 1)] == \
        ["0.00", "0.05", "12.05", "-0.50", "10000000000000.01"]


@pytest.mark.parametrize("table,by,fields,needle", [
    ("product", "model", (), "unknown table 'product' (did you mean 'products'?)"),
    ("orderz", "order_no", (), "did you mean 'orders'?"),
    ("products", "modle", (), "cannot be searched by 'modle' (did you mean 'model'?)"),
    ("products", "pin_hash", (), "it can be searched by: model"),
    ("dealers", "area_code", ("phnoe",), "has no field 'phnoe' (did you mean 'phone'?)"),
    ("users", "name", (), "known tables: customers, dealers, faq"),
])
def test_allow_list_refuses_unknown_tables_and_fields(table, by, fields, needle):
    """The flow validator gets a message with a suggestion; lookup() raises the same message."""
    message = lookups.validate_lookup(table, by, fields)
    assert message is not None and needle in message, message
    if not fields:
        with pytest.raises(ServiceDataError) as info:
            lookups.lookup(table, by, "1")
        assert str(info.value) == message
    assert lookups.validate_lookup("products", "model", ("price", "name_zh")) is None


@pytest.mark.parametrize("raw,canonical", [
    ("13800138000", "13800138000"), ("+8613800138000", "13800138000"), ("008613800138000", "13800138000"),
    ("8613800138000", "13800138000"), ("013800138000", "13800138000"), ("138-0013-8000", "13800138000"),
    ("+86 10 6234 5678", "01062345678"), ("0086 10 62345678", "01062345678"), ("010-62345678", "01062345678"),
    ("62345678", "62345678"), ("", None), ("anonymous", None)])
def test_normalize_number(raw, canonical):
    """Caller ids in every form a line delivers map to the form customer records keep."""
    assert lookups.normalize_number(raw) == canonical


@pytest.mark.parametrize("table,by,raw,stored", [
    ("dealers", "province", "广西壮族自治区", "广西"), ("dealers", "province", "Inner Mongolia", "内蒙古"),
    ("dealers", "province", "北京市", "北京"), ("dealers", "area_code", "0086 10", "010"),
    ("repair_centers", "region", "South China", "华南"), ("repair_centers", "region", "华东地区", "华东"),
    ("repair_centers", "district", "石景山区", "石景山"), ("products", "model", " 1020 ", "1020")])
def test_keys_are_normalized_to_the_stored_form(table, by, raw, stored):
    """What a flow passes (full names, English names, prefixes, spaces) becomes the stored short form."""
    assert lookups.TABLES[table]["by"][by](raw) == stored


@pytest.mark.parametrize("caller", ["+8613800138000", "008613800138000", "013800138000", "13800138000",
                                    "+861062345678", "01062345678"])
def test_customer_by_caller_id_handles_prefixes(demo, caller):
    """The printer-line anchor customer is recognised from mobile and landline in any prefix form."""
    assert run(demo, lookups.customer_by_caller_id, caller)["name"] == S["printer_caller_name"]


def test_customer_by_unknown_caller_id_is_none(demo):
    """A number nobody has, or no caller id at all: None."""
    for caller in ("13800138001", "+8613800138001", "", None):
        assert run(demo, lookups.customer_by_caller_id, caller) is None


def test_verify_member_pin(demo):
    """Right PIN: the member; wrong, empty, another member's or unknown member: None."""
    assert run(demo, lookups.verify_member_pin, S["member_no"], S["member_pin"])["member_no"] == S["member_no"]
    for member, pin in ((S["member_no"], "0000"), (S["member_no"], ""), (S["member_no"], None),
                        ("99999999", "9999"), ("", S["member_pin"]), (None, None)):
        assert run(demo, lookups.verify_member_pin, member, pin) is None, (member, pin)
    with pytest.raises(ServiceDataError, match="4 to 8 digits"):
        lookups.hash_pin("12")
    assert lookups.hash_pin("1234").startswith("scrypt$16384$8$1$")


# ---------------------------------------------------------------- tickets and tasks

def test_ticket_numbers_are_unique_and_sequential_per_day(demo):
    """T<day>-0001, -0002 ... per local day; a new day starts at 0001; past 9999 it keeps counting."""
    day1 = time.mktime(dt.datetime(2031, 3, 4, 10, 0).timetuple())
    day2 = day1 + 86400
    numbers = [run(demo, lookups.create_ticket, "no_water", f"t{i}", now=day1)["ticket_no"] for i in range(3)]
    assert numbers == ["T20310304-0001", "T20310304-0002", "T20310304-0003"]
    assert run(demo, lookups.create_ticket, "leak", now=day2)["ticket_no"] == "T20310305-0001"
    run(demo, sm.Ticket.create, ticket_no="T20310305-9999", type="leak", status="open", priority="low",
        created_at=day2, updated_at=day2)
    assert [run(demo, lookups.create_ticket, "leak", now=day2)["ticket_no"] for _ in range(2)] == \
        ["T20310305-10000", "T20310305-10001"]
    today = run(demo, lookups.create_ticket, "other")
    assert today["ticket_no"].startswith("T" + time.strftime("%Y%m%d") + "-")


def test_ticket_from_a_known_caller_goes_to_their_district_station(demo):
    """The water caller's fault ticket: their customer record, district 朝阳, its station, due by priority."""
    t = run(demo, lookups.create_ticket, sm.TicketType.NO_WATER, "停水", caller_number="+86" + S["water_caller"],
            call_uuid="c-1", priority="urgent", now=1_900_000_000.0)
    assert (t["district"], t["repair_center_name"], t["status"]) == ("朝阳", "朝阳供水抢修站", "assigned")
    assert t["caller_number"] == S["water_caller"] and t["customer_id"] is not None
    assert t["due_at"] - t["created_at"] == 4 * 3600
    history = run(demo, lambda: [(h.actor, h.action) for h in sm.TicketHistory.select().join(sm.Ticket)
                                 .where(sm.Ticket.ticket_no == t["ticket_no"])])
    assert history == [("ivr", "opened")]
    anon = run(demo, lookups.create_ticket, "enquiry", caller_number="13000000000")
    assert (anon["status"], anon["customer_id"], anon["repair_center_id"]) == ("open", None, None)
    with pytest.raises(ServiceDataError, match="did you mean 'no_water'"):
        run(demo, lookups.create_ticket, "no_watr")
    with pytest.raises(ServiceDataError, match="no customer with id"):
        run(demo, lookups.create_ticket, "leak", customer_id=10**9)


def test_callback_keeps_the_place_and_is_not_duplicated(demo):
    """A callback keeps the original join time; asking again while pending returns the same request."""
    first = run(demo, lookups.create_callback, "+8613912345678", "sales", joined_at=1000.0, call_uuid="u1")
    assert (first["number"], first["status"], first["joined_at"], first["attempts"]) == \
        ("13912345678", "pending", 1000.0, 0)
    again = run(demo, lookups.create_callback, "013912345678", "sales", joined_at=2000.0)
    assert again["id"] == first["id"] and again["joined_at"] == 1000.0
    other_queue = run(demo, lookups.create_callback, "13912345678", "support")
    assert other_queue["id"] != first["id"]
    with pytest.raises(ServiceDataError, match="no digits"):
        run(demo, lookups.create_callback, "anonymous", "sales")


def test_fax_jobs_and_voicemails(demo):
    """Fax jobs are queued to a number or back on the call; voicemails start unread."""
    job = run(demo, lookups.create_fax_job, "faq-1020", "+86 10 62345678")
    assert (job["number"], job["status"], job["document"]) == ("01062345678", "queued", "faq-1020")
    same_call = run(demo, lookups.create_fax_job, "price-list", None, call_uuid="call-9")
    assert same_call["number"] is None and same_call["call_uuid"] == "call-9"
    with pytest.raises(ServiceDataError, match="fax number or the call"):
        run(demo, lookups.create_fax_job, "price-list")
    with pytest.raises(ServiceDataError, match="document id"):
        run(demo, lookups.create_fax_job, "../etc/passwd", "010")
    vm = run(demo, lookups.create_voicemail, "sales", "voicemail/sales/x.wav", caller_number="+8613800138000",
             seconds=12.5, call_uuid="call-10")
    assert (vm["unread"], vm["caller_number"], vm["seconds"]) == (True, "13800138000", 12.5)
