"""Every panel page works with the Content-Security-Policy enforced: no inline script or handler is blocked,
live updates connect, and the two former inline handlers (print, confirm before delete) still work."""
from __future__ import annotations

from hotline.webadmin.nav import NAV


def visit(page, url: str) -> None:
    """Open a page and let its scripts run (a round trip after load: console reports have arrived)."""
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_load_state("load")
    page.evaluate("1")


def test_every_admin_page_runs_under_the_policy(web_box, strict_page, login) -> None:
    page = strict_page
    login(page, web_box.url, "admin")
    for _, entries in NAV:
        for entry in entries:
            visit(page, web_box.url + entry["path"])
    visit(page, web_box.url + "/config/flows/printer_support")              # the flow editor
    visit(page, web_box.url + "/wallboard")                                  # the WebSocket: connect-src 'self'
    page.wait_for_selector("#wb-live-dot.on", state="attached")
    # print: the button's handler lives in panel.js now (was onclick="window.print()")
    visit(page, web_box.url + "/reports")
    page.evaluate("window.print = function () { document.body.dataset.printed = '1'; }")
    page.click("[data-print]")
    page.wait_for_selector("body[data-printed='1']", state="attached")


def test_confirm_before_delete_runs_under_the_policy(web_box, strict_page, login) -> None:
    """calendar_hours had onsubmit="return confirm(...)": now data-confirm, asked by panel.js."""
    page = strict_page
    login(page, web_box.url, "admin")
    visit(page, web_box.url + "/config/hours")
    page.fill("input[name=day0]", "09:00-18:00")                         # a schedule with hours: deletable
    page.click("#hours-form button[type=submit]")
    page.wait_for_selector(".alert-ok")
    asked: list[str] = []

    def on_dialog(dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()
    page.on("dialog", on_dialog)
    page.click("form[action='/config/hours/delete'] button")
    page.evaluate("1")
    assert asked == ["Delete this schedule? Calls that use it will count as always open."]
    assert page.locator("form[action='/config/hours/delete']").count() == 1    # dismissed: nothing deleted
