"""The SIP page in Chromium: a registered phone and a banned address are shown; the admin lifts the ban."""
from __future__ import annotations

from tests.webadmin.test_sip_panel import HOSTILE_UA, register_and_get_banned, sip_box


def test_registered_phone_and_lifting_a_ban(prepared_box, tmp_path, browser_page, login, shot) -> None:
    box = sip_box(prepared_box, tmp_path)
    page, url = browser_page, box.url
    login(page, url, "admin")
    phone = register_and_get_banned(box.sip_port)
    page.goto(url + "/config/sip")
    row = page.locator("tr[data-extension='2001']")
    assert row.locator("[data-state=registered]").inner_text() == "registered"
    assert HOSTILE_UA in row.inner_text()                                   # shown as text, not as an image
    assert page.locator("tr[data-extension='2002'] [data-state=unregistered]").count() == 1
    assert "2 authentication failures" in page.locator("tr[data-ban='127.0.0.1']").inner_text()
    shot(page, "config-sip")
    page.click("tr[data-ban='127.0.0.1'] button[type=submit]")
    page.wait_for_selector("#sip-done")
    assert page.locator("#sip-done").inner_text() == "The ban was lifted."
    assert page.locator("tr[data-ban]").count() == 0
    phone.close()
