"""In a real browser: a supervisor writes a knowledge-base article, an agent finds it by searching in Chinese and
faxes it to a caller; an agent makes a work order, enters the field result and prints the work order sheet."""
from __future__ import annotations

import datetime as dt
import re
import time

from hotline.daemon.store.db import Store
from hotline.daemon.store.service_models import Customer, CustomerPhone, Product, RepairCenter, Warranty

ARTICLES = [
    ("供水", {"title": "水表不走字", "body": "请先确认家中阀门已经打开，再查看水表的指针。仍然不动请拨打报修电话。",
             "tags": "水表"}),
    ("打印机", {"title": "Installing the printer driver", "tags": "driver",
              "body": "The driver is on the disc in the box. For network printers run the setup and choose the "
                      "printer's IP address.\n驱动程序也可以请经销商拷贝，或传真索取安装说明。"}),
    ("打印机", {"title": "Paper jam in the LaserPro 1020", "tags": "1020, E02",
              "body": "Turn the printer off, open the front cover and pull the jammed sheet out slowly. Error E02 "
                      "clears when the cover is closed."}),
    ("耗材", {"title": "硒鼓回收", "body": "请将旧硒鼓交给任一经销商，免费回收并赠送积分。", "tags": "硒鼓"}),
]
JAM_BODY = ("1. 关闭打印机电源，等待定影器冷却。\n2. 打开前盖，取出硒鼓。\n3. 双手握住卡住的纸张，慢慢向外拉出。\n"
            "4. 装回硒鼓，关上前盖，错误 E02 会自动清除。\n\n如果经常卡纸，请清洁或更换搓纸轮（备件 9020）。")


def logout(page) -> None:
    page.click(".topbar form[action='/logout'] button")
    page.wait_for_url(re.compile(r".*/login.*"))


def test_a_supervisor_writes_an_article_an_agent_finds_it_in_chinese_and_faxes_it(web_box, browser_page, login,
                                                                                   shot) -> None:
    page = browser_page
    page.on("dialog", lambda d: d.accept())
    login(page, web_box.url, "sup")
    page.goto(web_box.url + "/kb")
    cats = {name: page.evaluate("(n) => HL.api('POST', '/kb/categories', {name: n}).then((c) => c.id)", name)
            for name in ("打印机", "供水", "耗材")}   # categories and articles through the panel's own API helper
    for cat, a in ARTICLES:
        page.evaluate("(a) => HL.api('POST', '/kb/articles', a)", {**a, "category_id": cats[cat]})
    # the supervisor writes the article through the form
    page.goto(web_box.url + "/kb")
    page.click("text=New article")
    page.fill("input[name=title]", "打印机卡纸怎么办")
    page.select_option("select[name=category_id]", label="打印机")
    page.fill("input[name=tags]", "卡纸, E02, 1020")
    page.fill("textarea[name=body]", JAM_BODY)
    shot(page, "kb-edit")
    page.click("button.btn-primary[type=submit]")
    page.wait_for_url(re.compile(r".*/kb/\d+$"))
    assert page.locator("h1.kb-article-title").inner_text() == "打印机卡纸怎么办"
    logout(page)

    # an agent searches in Chinese: the article about 打印机卡纸 is found by 卡纸, with the words marked
    login(page, web_box.url, "agent1")
    page.click(".mainnav >> text=Knowledge base")
    assert page.locator(".kb-hit").count() == 5 and page.locator("text=New article").count() == 0
    shot(page, "kb-list")
    page.fill("input[name=q]", "卡纸")
    page.press("input[name=q]", "Enter")
    page.wait_for_url(re.compile(r".*/kb\?q=.*"))
    hits = page.locator(".kb-hit .kb-title")
    assert hits.count() == 1 and hits.first.inner_text() == "打印机卡纸怎么办"
    assert page.locator(".kb-hit mark").first.inner_text() == "卡纸"
    assert page.locator("#kb-count").inner_text() == "Matches: 1"
    shot(page, "kb-search")
    page.fill("input[name=q]", "退款")       # nothing about refunds
    page.press("input[name=q]", "Enter")
    page.wait_for_load_state("domcontentloaded")
    assert page.locator(".kb-hit").count() == 0 and page.locator(".kb-empty").is_visible()
    page.fill("input[name=q]", "paper jam")  # English works too
    page.press("input[name=q]", "Enter")
    page.wait_for_load_state("domcontentloaded")
    assert [t.strip() for t in page.locator(".kb-hit .kb-title").all_inner_texts()] == ["Paper jam in the LaserPro 1020"]

    # open the Chinese hit and fax it to the caller: a fax job appears without reloading
    page.fill("input[name=q]", "卡纸")
    page.press("input[name=q]", "Enter")
    page.wait_for_load_state("domcontentloaded")
    page.click(".kb-hit .kb-title")
    page.wait_for_url(re.compile(r".*/kb/\d+\?q=.*"))
    assert page.locator(".kb-body mark").count() >= 1 and page.locator("text=Edit").count() == 0
    page.fill("#kb-fax-number", "12")
    page.click("#kb-fax-form button[type=submit]")
    assert page.locator("#kb-fax-number[aria-invalid=true]").count() == 1
    assert page.locator("#kb-fax-table tbody tr").count() == 0
    page.fill("#kb-fax-number", "010-6234 5678")
    page.click("#kb-fax-form button[type=submit]")
    page.wait_for_selector("#kb-fax-table tbody tr")
    row = page.locator("#kb-fax-table tbody tr").first.inner_text()
    assert "01062345678" in row and "queued" in row
    assert page.locator("#toast").inner_text() == "Fax queued"
    shot(page, "kb-article")

    # the same pages in Chinese
    page.click("button[name=language][value=zh_CN]")
    page.wait_for_load_state("domcontentloaded")
    assert "传真给来电客户" in page.locator("#kb-fax").inner_text() and "排队中" in page.locator("#kb-fax-table").inner_text()
    shot(page, "kb-article-zh")
    page.click(".mainnav >> text=知识库")
    page.fill("input[name=q]", "打印机卡纸")
    page.press("input[name=q]", "Enter")
    page.wait_for_load_state("domcontentloaded")
    assert page.locator("h1").first.inner_text() == "知识库"
    assert [t.strip() for t in page.locator(".kb-hit .kb-title").all_inner_texts()] == ["打印机卡纸怎么办"]
    assert page.locator("#kb-count").inner_text() == "匹配：1 篇"
    shot(page, "kb-search-zh")


def seed(daemon) -> None:
    """Repair centers, a customer and a product unit, straight into the daemon's database."""
    store = Store(f"sqlite:///{daemon.state / 'hotline.db'}")
    store.open()

    def rows() -> None:
        now = time.time()
        RepairCenter.create(name="海淀特约维修点", district="海淀", authorized=False)
        RepairCenter.create(name="海淀授权维修站", district="海淀", authorized=True, phone="010-62550000",
                            address="北京市海淀区学院路 30 号")
        RepairCenter.create(name="HL 授权维修中心（北京）", area_code="010", region="华北", authorized=True,
                            phone="010-65880000", address="北京市朝阳区建国路 88 号")
        Product.create(model="1020", category="laser", name_zh="HL 激光打印机 1020", name_en="HL LaserPro 1020",
                       price_cents=109900, stock=3)
        c = Customer.create(name="张伟", district="海淀", area_code="010", address="北京市海淀区中关村大街 27 号",
                            created_at=now, updated_at=now)
        CustomerPhone.create(customer=c, number="13800138000")
        Warranty.create(serial_no="2024100001", product_model="1020", customer=c, purchased_on="2024-10-01",
                        warranty_until="2099-10-01")
    try:
        store.write_sync(rows)
    finally:
        store.close()


def test_an_agent_makes_a_work_order_enters_the_result_and_prints_it(web_box, browser_page, login, shot) -> None:
    seed(web_box)
    page = browser_page
    login(page, web_box.url, "agent1")
    page.click(".mainnav >> text=Work orders")
    page.click("text=New work order")
    page.fill("input[name=customer]", "138 0013 8000")
    page.fill("input[name=serial_no]", "2024100001")
    page.fill("textarea[name=fault]", "打印机卡纸，报错 E02，更换纸张后仍然卡纸。")
    shot(page, "workorder-new")
    page.click("button.btn-primary[type=submit]")
    page.wait_for_url(re.compile(r".*/workorders/\d+$"))
    # dispatched to the authorized station of the customer's district (not the workshop next door)
    assert page.locator("#wo-status").inner_text() == "Dispatched"
    assert page.locator(".wo-center-name").inner_text() == "海淀授权维修站"
    page.fill("input[name=technician]", "李师傅")
    page.fill("input[name=visit_date]", dt.date.today().isoformat())
    page.fill("textarea[name=result]", "清洁并更换搓纸轮，试打 20 页正常。")
    page.fill("textarea[name=parts_used]", "搓纸轮 9020 × 1")
    shot(page, "workorder")
    page.click("#wo-result button.btn-primary")
    page.wait_for_load_state("domcontentloaded")
    assert page.locator("#wo-status").inner_text() == "Done" and page.locator("#form-done").is_visible()
    assert [t for t in page.locator("#wo-history tbody td:nth-child(3)").all_inner_texts()] == \
        ["Created", "Dispatched", "Done"]
    order_no = page.locator("h1 .data").inner_text()

    # the printable sheet opens in a new tab: no navigation, the order on one A4 page
    with page.context.expect_page() as popup:
        page.click("#wo-print-link")
    sheet = popup.value
    sheet.wait_for_load_state("domcontentloaded")
    assert sheet.locator(".topbar, .mainnav").count() == 0
    text = sheet.locator("#wo-sheet").inner_text()
    for expected in (order_no, "张伟", "13800138000", "海淀授权维修站", "HL LaserPro 1020", "2024100001", "李师傅",
                     "搓纸轮 9020 × 1", "Technician's signature and date"):
        assert expected in text, expected
    assert sheet.locator("#print-button").is_visible()
    shot(sheet, "workorder-print")
    sheet.emulate_media(media="print")
    assert not sheet.locator("#print-button").is_visible()         # the toolbar is not printed
    pdf = sheet.pdf(prefer_css_page_size=True)
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 1        # one A4 sheet
    assert re.search(rb"/MediaBox\s*\[\s*0 0 59[45]\.\d* 84[12]\.\d*", pdf), "A4 page size"
    sheet.close()

    # the list, and the sheet in Chinese
    page.click("button[name=language][value=zh_CN]")
    page.wait_for_load_state("domcontentloaded")
    page.click(".mainnav >> text=派工单")
    assert page.locator("#wo-table tbody tr").count() == 1 and "已完成" in page.locator("#wo-table").inner_text()
    shot(page, "workorders-zh")
    page.select_option("select[name=status]", "cancelled")
    page.click("#wo-filters button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
    assert page.locator("#wo-table").inner_text().count("张伟") == 0
    page.goto(page.url.split("/workorders")[0] + "/workorders")
    page.click(f"text={order_no}")
    page.wait_for_url(re.compile(r".*/workorders/\d+$"))
    page.goto(page.url + "/print")
    assert "维修派工单" in page.locator(".wo-doc").inner_text() and "客户签字及日期" in page.locator("#wo-sheet").inner_text()
    shot(page, "workorder-print-zh")
