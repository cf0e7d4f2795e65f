"""A person opens the panel for the first time, creates the administrator, switches language, logs out."""
from __future__ import annotations


def test_first_run_then_language_switch_then_logout(daemon_factory, browser_page, shot) -> None:
    d = daemon_factory()
    page = browser_page
    page.goto(d.url + "/")
    assert page.url.endswith("/setup")
    assert page.locator("h1").inner_text() == "Welcome to Hotline"       # the browser's language
    page.click("button[name=language][value=zh_CN]")
    assert page.locator("h1").inner_text() == "欢迎使用热线系统"
    shot(page, "setup-zh")
    page.click("button[name=language][value=en_US]")
    assert page.locator("h1").inner_text() == "Welcome to Hotline"
    shot(page, "setup")
    page.fill("input[name=code]", (d.state / "setup-code").read_text().strip())   # from the box's log or file
    page.fill("input[name=name]", "boss")
    page.fill("input[name=password]", "correct-horse-9")
    page.fill("input[name=password2]", "correct-horse-9")
    page.select_option("select[name=language]", "en_US")
    page.click("button.btn-primary")
    page.wait_for_url(d.url + "/")
    assert "boss" in page.locator(".whoami").inner_text()
    assert page.locator(".stat-label").first.inner_text() == "Active calls"
    shot(page, "overview")
    page.click("button[name=language][value=zh_CN]")
    assert page.locator("h1").first.inner_text() == "概览"
    assert "审计日志" in page.locator(".mainnav").inner_text()
    shot(page, "overview-zh")
    page.click("text=审计日志")
    assert page.locator("#audit-table tbody tr").count() >= 2          # setup, language change
    assert "setup.admin_created" in page.locator("#audit-table").inner_text()
    shot(page, "audit")
    page.click(".topbar form[action='/logout'] button")
    assert "/login" in page.url
    page.goto(d.url + "/audit")
    assert "/login?next=/audit" in page.url


def test_wrong_password_is_refused_with_a_message(web_box, browser_page, shot) -> None:
    page = browser_page
    page.goto(web_box.url + "/login")
    page.fill("input[name=name]", "admin")
    page.fill("input[name=password]", "not-the-password")
    page.click("button.btn-primary")
    assert page.locator(".alert-error").is_visible()
    shot(page, "login-error")
