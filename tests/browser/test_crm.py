"""Service CRM in a real browser, on a daemon loaded with the sample data of `hotline demo-data`: an agent creates
a customer with two numbers and the VIP flag, finds them again by name and by number, exports CSV; the
catalogue, spare parts, dealers, repair centers, employee directory and the CSV import's error report.
Screenshots of every CRM page go to test-artifacts/screenshots/crm-*.png (English, and Chinese)."""
from __future__ import annotations

import csv
import io
import re

import pytest

PASSWORD = "correct-horse-9"


@pytest.fixture
def crm_box(daemon_factory):
    """A daemon with the demo data (180 customers, 42 products, dealers, repair centers, tickets) and the users
    admin, agent1 (agent), sup (supervisor) and qa1 (qa), and a fax sent to 李娜 (13900139000) — made in this process by the functions `hotline demo-data` and
    `hotline user add` run, which is quicker than three more interpreters on a busy machine."""
    from hotline.daemon.service import demodata, lookups
    from hotline.daemon.box import users
    from hotline.daemon.store import migrations
    from hotline.daemon.store.db import Store
    d = daemon_factory(start=False)
    d.state.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{d.state / 'hotline.db'}")
    store.open()
    try:
        store.write_sync(migrations.check, store.db, True)
        store.write_sync(demodata.generate)
        for name, role in (("admin", "admin"), ("agent1", "agent"), ("sup", "supervisor"), ("qa1", "qa")):
            store.write_sync(users.add_user, name, users.Role(role), PASSWORD, "en_US")
        store.write_sync(lookups.create_fax_job, "spec-1020", "13900139000")   # as the IVR's fax-back does
    finally:
        store.close()
    return d.start()


def rows(page) -> list[str]:
    return page.locator("#crm-table tbody tr").all_inner_texts()


def test_agent_creates_a_vip_customer_with_two_numbers_finds_them_and_exports(crm_box, browser_page, login,
                                                                              shot) -> None:
    page, base = browser_page, crm_box.url
    login(page, base, "agent1")
    page.click(".mainnav a[href='/crm']")
    assert page.url.endswith("/crm/customers")
    assert page.locator("#crm-count").inner_text() == "180 found"
    shot(page, "crm-customers")

    page.click(".page-head .actions a.btn-primary")
    page.fill("input[name=name]", "欧阳娜娜")
    page.fill("input[name=member_no]", "hl-7788")
    page.check("input[name=vip]")
    page.locator(".phone-row input[name=phone_number]").nth(0).fill("139 1234 5678")
    page.click("#phone-add")
    page.locator(".phone-row select[name=phone_kind]").nth(1).select_option("landline")
    page.locator(".phone-row input[name=phone_number]").nth(1).fill("0755-2345 6789")
    page.fill("input[name=area_code]", "755")
    page.fill("input[name=address]", "深圳市南山区科技园科苑路15号")
    shot(page, "crm-customer-form")
    page.click("#customer-form button[type=submit]")
    page.wait_for_url(re.compile(r"/crm/customers/[0-9]+$"))
    assert page.locator("#customer-name").inner_text() == "欧阳娜娜"
    assert page.locator(".page-head .badge.vip").inner_text() == "VIP"
    assert page.locator("#customer-phones li").all_inner_texts() == ["13912345678 Mobile", "075523456789 Landline"]
    assert "Guangdong · South China" in page.locator(".crm-dl").first.inner_text()   # from the area code
    assert "btn-danger" not in page.content()                                        # agents cannot delete
    shot(page, "crm-customer")

    # found again by part of the Chinese name, and by the landline as a person would type it
    page.click(".crm-tabs a[href='/crm/customers']")
    page.fill("input[name=q]", "欧阳")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**q=*")
    assert len(rows(page)) == 1 and "欧阳娜娜" in rows(page)[0] and "VIP" in rows(page)[0]
    page.fill("input[name=q]", "2345 6789")
    page.press("input[name=q]", "Enter")
    page.wait_for_function("document.querySelector('#crm-count').textContent.startsWith('1 ')")
    assert "HL7788" in rows(page)[0]
    shot(page, "crm-customers-search")

    with page.expect_download() as info:
        page.click("#crm-export")
    download = info.value
    assert download.suggested_filename.startswith("customers-") and download.suggested_filename.endswith(".csv")
    data = open(download.path(), "rb").read()
    assert data.startswith(b"\xef\xbb\xbf")
    exported = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [(r["name"], r["member_no"], r["vip"], r["phones"]) for r in exported] == [
        ("欧阳娜娜", "HL7788", "yes", "mobile:13912345678; landline:075523456789")]

    page.click("button[name=language][value=zh_CN]")                 # the list in Chinese
    assert page.locator("h1").inner_text() == "客户" and page.locator("#crm-count").inner_text() == "共 1 条"
    shot(page, "crm-customers-zh")

    # 李娜 calls in (as +86...); her page shows the call with the demo's ticket and the fax sent to her
    qa = page.context.browser.new_context(viewport={"width": 800, "height": 600}).new_page()
    login(qa, base, "qa1")
    call = qa.evaluate("""async () => {
        const c = await HL.api("POST", "/sim/calls", {from: "+8613900139000", to: "8002"});
        for (let i = 0; i < 100 && (await HL.api("GET", "/sim/calls/" + c.id)).state === "ringing"; i++) {
            await new Promise(r => setTimeout(r, 50));
        }
        await HL.api("DELETE", "/sim/calls/" + c.id);
        return c.id;
    }""")
    qa.context.close()
    li = page.evaluate("async () => (await HL.api('GET', '/customers?q=13900139000')).items[0].id")
    page.wait_for_function("""async (id) => (await HL.api("GET", "/customers/" + id + "/history")).calls.length > 0""",
                           arg=li, polling=100)
    page.goto(f"{base}/crm/customers/{li}")
    assert page.locator("#customer-name").inner_text() == "李娜"
    assert "+8613900139000" in page.locator("#customer-calls tbody").inner_text()
    assert "厨房水管漏水" in page.locator("#customer-tickets tbody").inner_text()
    assert "spec-1020" in page.locator("#customer-faxes tbody").inner_text()
    assert page.locator("#customer-calls tbody tr").count() == 1 and call
    shot(page, "crm-customer-history-zh")
    page.click("button[name=language][value=en_US]")
    assert page.locator("#customer-calls th").first.inner_text() == "Time"
    shot(page, "crm-customer-history")


def test_catalogue_parts_places_directory_and_import_report(crm_box, browser_page, login, shot) -> None:
    page, base = browser_page, crm_box.url
    login(page, base, "sup")
    page.goto(base + "/crm/products")
    assert len(rows(page)) == 25 and page.locator("#crm-count").inner_text() == "42 found"
    page.click(".crm-chips a:has-text('Consumable')")
    consumables = rows(page)
    assert len(consumables) == 6 and all("Consumable" in r for r in consumables)
    page.click("th a:has-text('Price')")                      # sort by price, cheapest first
    prices = [float(t.replace("¥", "").replace(",", "")) for t in
              page.locator("#crm-table tbody td.num.data").all_inner_texts()]
    assert prices == sorted(prices) and prices[0] == 39.50
    page.click("th a:has-text('Price')")
    assert page.locator("#crm-table tbody td.num.data").first.inner_text() == "¥899.00"
    page.click(".crm-chips a:has-text('All')")
    shot(page, "crm-products")

    # a spare part for two printers, through the form (a wrong model is named first)
    page.click(".crm-tabs a[href='/crm/parts']")
    page.click(".page-head .actions a.btn-primary")
    page.fill("input[name=part_no]", "rm1-4008")
    page.fill("input[name=fits]", "1020, 9999")
    page.fill("input[name=name_zh]", "定影组件")
    page.fill("input[name=name_en]", "Fuser Assembly")
    page.fill("textarea[name=specs_en]", "220 V, about 100,000 pages")
    page.fill("input[name=price_cents]", "599")
    page.fill("input[name=stock]", "2")
    page.click("form.crm-form button[type=submit]")
    assert "Fits models: no product with model 9999" in page.locator(".field-error").inner_text()
    page.fill("input[name=fits]", "1020, 1108")
    page.click("form.crm-form button[type=submit]")
    page.wait_for_url(base + "/crm/parts")
    assert rows(page) and "RM1-4008" in rows(page)[0] and "Low stock" in rows(page)[0]
    assert page.locator("#crm-table tbody tr").first.locator(".crm-model").all_inner_texts() == ["1020", "1108"]
    shot(page, "crm-parts")

    page.click(".crm-tabs a[href='/crm/dealers']")
    page.select_option("select[name=province]", "广东")
    page.click(".crm-filters button[type=submit]")
    assert rows(page) and all("Guangdong" in r for r in rows(page))
    page.goto(base + "/crm/dealers")
    shot(page, "crm-dealers")
    page.click(".crm-tabs a[href='/crm/repair-centers']")
    assert "Not authorized" in page.locator("#crm-table").inner_text()    # the demo's one contracted workshop
    shot(page, "crm-repair-centers")

    # the directory: two colleagues added with the API the page's own script uses
    page.click(".crm-tabs a[href='/crm/employees']")
    for person in ({"name": "刘洋", "department": "技术支持部", "title": "高级工程师", "extension": "8101",
                    "mobile": "13900002222", "email": "liu.yang@example.com"},
                   {"name": "陈静", "department": "技术支持部", "title": "工程师", "extension": "8102",
                    "mobile": "13900003333"},
                   {"name": "王芳", "department": "销售部", "title": "销售经理", "extension": "8201",
                    "mobile": "13700004444", "email": "wang.fang@example.com"}):
        page.evaluate("p => HL.api('POST', '/employees', p)", person)
    page.reload()
    assert len(rows(page)) == 3 and "8101" in page.locator("#crm-table").inner_text()
    shot(page, "crm-employees")

    # the import refuses a file with a bad row and says which; nothing is imported
    page.goto(base + "/crm/customers/import")
    page.set_input_files("input[name=file]", files=[{
        "name": "customers.csv", "mimeType": "text/csv",
        "buffer": "\ufeff姓名,联系电话,VIP\n王五,13800000001,是\n赵六,138-abc,否\n".encode("utf-8")}])
    page.click("#import-form button[type=submit]")
    assert page.locator("#import-errors tbody tr").all_inner_texts() == [
        "3\tContact numbers: must be a phone number"]
    assert page.locator("#import-confirm").count() == 0
    shot(page, "crm-import")
    page.click("button[name=language][value=zh_CN]")
    page.goto(base + "/crm/products")
    assert page.locator("h1").inner_text() == "产品"
    shot(page, "crm-products-zh")
