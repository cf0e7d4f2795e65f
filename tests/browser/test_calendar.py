"""An administrator sets the business hours, flips the day/night switch, imports the holiday list (a bad line
first: nothing imported, the line named) and blocks callers — in English and Chinese."""
from __future__ import annotations


import pytest

PASSWORD = "correct-horse-9"


@pytest.fixture
def admin_box(prepared_box):
    """A running daemon with an administrator."""
    return prepared_box(people={"admin": "admin"}, language="zh_CN")


HOLIDAYS = """2026-10-01,国庆节 National Day
2026-10-02,国庆节 National Day
2026-10-32,国庆节 National Day
2026-10-11,国庆调休 Adjusted working day,workday
"""


def test_hours_switch_holiday_import_and_blacklist(admin_box, browser_page, login, shot) -> None:
    page = browser_page
    base = admin_box.url
    login(page, base, "admin")
    page.goto(base + "/config/hours")
    page.click("button[name=language][value=en_US]")
    assert page.locator("h1").inner_text() == "Business hours"

    # a week with split shifts; a reversed span is refused and kept as typed
    for d in range(5):
        page.fill(f"input[name=day{d}]", "09:00-12:00, 13:30-18:00")
    page.fill("input[name=day5]", "09:00-12:00")
    page.fill("input[name=day1]", "18:00-09:00")
    page.click("#hours-form button[type=submit]")
    assert "Tuesday: 18:00-09:00 closes before it opens" in page.locator(".alert-error").inner_text()
    assert page.input_value("input[name=day1]") == "18:00-09:00"
    assert page.input_value("input[name=day0]") == "09:00-12:00, 13:30-18:00"
    page.fill("input[name=day1]", "09:00-12:00, 13:30-18:00")
    page.click("#hours-form button[type=submit]")
    assert page.locator(".alert-ok").inner_text() == "Business hours saved."
    assert page.input_value("input[name=day5]") == "09:00-12:00" and page.input_value("input[name=day6]") == ""

    # the day/night switch: forced closed shows at once, automatic again follows the hours
    page.click("#daynight button[value=night]")
    assert page.locator(".alert-ok").inner_text() == "Day/night switch changed."
    assert page.locator("#daynight [data-schedule=office]").get_attribute("data-state") == "closed"
    assert page.locator("#daynight button.on").inner_text() == "Force closed (night)"
    assert page.locator("#forced-note").is_visible()
    shot(page, "calendar-hours")
    page.click("button[name=language][value=zh_CN]")
    assert page.locator("#daynight button.on").inner_text() == "强制下班（夜间）"
    shot(page, "calendar-hours-zh")
    page.click("button[name=language][value=en_US]")
    page.click("#daynight button[value=auto]")
    assert page.locator("#forced-note").count() == 0
    assert page.locator("#daynight button.on").inner_text() == "Automatic"

    # holidays: one bad line and nothing is imported; fixed, all of them are
    page.click(".mainnav a[href='/config/holidays']")
    page.fill("#holiday-import textarea", HOLIDAYS)
    page.click("#holiday-import button[type=submit]")
    errors = page.locator("#import-errors").inner_text()
    assert "Nothing was imported." in errors and "Line 3: '2026-10-32' is not a real date" in errors
    assert page.locator("#holiday-table tbody tr[data-day]").count() == 0
    assert "2026-10-32" in page.input_value("#holiday-import textarea")
    page.fill("#holiday-import textarea", page.input_value("#holiday-import textarea").replace("2026-10-32", "2026-10-03"))
    page.click("#holiday-import button[type=submit]")
    assert page.locator(".alert-ok").inner_text() == "Imported 4 lines."
    rows = page.locator("#holiday-table tbody tr[data-day]")
    assert rows.count() == 4
    worked = page.locator("#holiday-table tr[data-day='2026-10-11']").inner_text()
    assert "Working day" in worked and "Sunday" in worked
    page.fill("#holiday-add input[name=day]", "2026-12-25")
    page.fill("#holiday-add input[name=name]", "Christmas")
    page.click("#holiday-add button[type=submit]")
    assert page.locator("#holiday-table tbody tr[data-day]").count() == 5
    shot(page, "calendar-holidays")
    page.click("button[name=language][value=zh_CN]")
    assert "调休上班" in page.locator("#holiday-table").inner_text()
    shot(page, "calendar-holidays-zh")
    page.click("button[name=language][value=en_US]")

    # blacklist: garbage refused with a message; a prefix and an import
    page.click(".mainnav a[href='/config/blacklist']")
    page.fill("#blacklist-add input[name=number]", "call me maybe")
    page.click("#blacklist-add button[type=submit]")
    assert "is not a phone number" in page.locator("#blacklist-add .alert-error").inner_text()
    assert page.locator("#blacklist-table tbody tr[data-number]").count() == 0
    page.fill("#blacklist-add input[name=number]", "0755*")
    page.fill("#blacklist-add input[name=reason]", "Test prefix")
    page.click("#blacklist-add button[type=submit]")
    assert "prefix" in page.locator("#blacklist-table tr[data-number='0755*']").inner_text()
    page.fill("#blacklist-import textarea", "4001234567,Advertising robot\n138-0013-8000,Abusive caller")
    page.click("#blacklist-import button[type=submit]")
    assert page.locator(".alert-ok").inner_text() == "Imported 2 lines."
    assert page.locator("#blacklist-table tbody tr[data-number]").count() == 3
    assert page.locator("#blacklist-table tr[data-number='13800138000']").is_visible()
    shot(page, "blacklist")
    page.click("button[name=language][value=zh_CN]")
    assert page.locator("h1").inner_text() == "黑名单"
    shot(page, "blacklist-zh")
