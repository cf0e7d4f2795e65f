"""An administrator configures the box in a real browser: creates an agent and a queue through the forms (a wrong
value is shown next to its field), edits a queue option, creates a user and a token, takes a line out of
service; screenshots of every configuration page, in English and Chinese."""
from __future__ import annotations


def api_get(page, url: str, path: str) -> dict:
    """What the API says now (with the browser's session)."""
    r = page.request.get(url + "/api/v1" + path)
    assert r.ok, r.text()
    return r.json()


def test_create_an_agent_and_a_queue_then_edit_a_queue_option(web_box, browser_page, login, shot) -> None:
    page, url = browser_page, web_box.url
    page.on("dialog", lambda d: d.accept())
    login(page, url, "admin")

    # an agent with two skills and follow-me
    page.goto(url + "/config/agents")
    page.click("#new-agent")
    form = page.locator("#agent-form")
    form.locator("[data-field=name]").fill("li_wei")
    form.locator("[data-field=display_name]").fill("Li Wei")
    form.locator("[data-field=extension]").fill("1001")
    form.locator("[data-field=user]").select_option("agent1")
    form.locator("[data-field=follow_me]").fill("13800138000")
    form.locator("[data-field=follow_me_after]").fill("12")
    for skill, level in (("printers", "7"), ("water", "3")):
        page.click("#add-skill")
        row = form.locator("[data-list=skills] .cfg-row").last
        row.locator("[data-sub=skill]").fill(skill)
        row.locator("[data-sub=level]").fill(level)
    shot(page, "config-agent-form")
    page.click("#save-agent")
    page.wait_for_url(url + "/config/agents")
    row = page.locator("#agents-table tr[data-agent=li_wei]")
    assert "printers · 7" in row.inner_text() and "13800138000" in row.inner_text()
    shot(page, "config-agents")

    # a queue: a wrong value is shown next to its field and nothing is stored
    page.goto(url + "/config/queues")
    page.click("#new-queue")
    form = page.locator("#queue-form")
    form.locator("#queue-name").fill("printers")
    form.locator("[data-title=en_US]").fill("Printer support")
    form.locator("[data-title=zh_CN]").fill("打印机支持")
    form.locator("[data-field=strategy]").select_option("skills")
    form.locator("[data-field=skill]").fill("printers")
    form.locator("[data-field=min_level]").fill("5")
    page.click("[data-add-row=widening]")
    form.locator("[data-list=widening] [data-sub=after]").fill("45")
    page.click("#add-member")
    form.locator("[data-list=members] [data-sub=agent]").select_option("li_wei")
    form.locator("[data-field=ring_timeout]").fill("500")
    page.click("#save-queue")
    error = form.locator("[data-error-for=ring_timeout]")
    error.wait_for(state="visible")
    assert error.inner_text() == "expected a number from 3 to 120, got 500.0"
    assert form.locator("[data-field-box=ring_timeout].cfg-invalid").count() == 1
    assert page.url.endswith("/config/queues/new")
    assert api_get(page, url, "/config/queues")["queues"] == []
    shot(page, "config-queue-error")
    form.locator("[data-field=ring_timeout]").fill("20")
    page.click("#save-queue")
    page.wait_for_url(url + "/config/queues")
    row = page.locator("#queues-table tr[data-queue=printers]")
    assert "Printer support" in row.inner_text() and "Skills" in row.inner_text()
    stored = api_get(page, url, "/config/queues/printers")
    assert stored["ring_timeout"] == 20.0 and stored["min_level"] == 5
    assert stored["widening"] == [{"after": 45.0, "min_level": 1}]
    assert stored["members"] == [{"agent": "li_wei", "penalty": 0}]
    assert {q["name"]: q for q in api_get(page, url, "/queues")["queues"]}["printers"]["strategy"] == "skills"

    # edit one option: the recording policy; the list and the ACD show it at once
    row.locator("a", has_text="Edit").click()
    page.wait_for_url(url + "/config/queues/printers/edit")
    assert page.locator("[data-field=ring_timeout]").input_value() == "20"
    page.locator("[data-field=recording]").select_option("on_demand")
    page.locator("[data-field=wrapup_seconds]").fill("30")
    shot(page, "config-queue-form")
    page.click("#save-queue")
    page.wait_for_url(url + "/config/queues")
    assert "On demand" in page.locator("#queues-table tr[data-queue=printers]").inner_text()
    stored = api_get(page, url, "/config/queues/printers")
    assert stored["recording"] == "on_demand" and stored["wrapup_seconds"] == 30.0 and stored["ring_timeout"] == 20.0
    shot(page, "config-queues")
    page.goto(url + "/audit?action=queue.")
    assert "queue.updated" in page.locator("#audit-table").inner_text()
    assert "on_demand" in page.locator("#audit-table").inner_text()


def test_users_lines_and_the_other_pages(web_box, browser_page, login, shot) -> None:
    page, url = browser_page, web_box.url
    page.on("dialog", lambda d: d.accept())
    login(page, url, "admin")
    xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_xsrf")
    headers = {"X-XSRFToken": xsrf}
    assert page.request.post(url + "/api/v1/config/agents", headers=headers,
                             data={"name": "li_wei", "display_name": "Li Wei", "extension": "1001",
                                   "skills": {"printers": 7}}).ok
    assert page.request.post(url + "/api/v1/config/queues", headers=headers,
                             data={"name": "printers", "title": {"en_US": "Printer support", "zh_CN": "打印机支持"},
                                   "members": [{"agent": "li_wei"}]}).ok
    assert page.request.post(url + "/api/v1/agents/li_wei/login", headers=headers, data={"station": "1001"}).ok

    # a user, created through the form (two different passwords are caught first)
    page.goto(url + "/config/users")
    form = page.locator("#user-form")
    form.locator("[data-field=name]").fill("wang")
    form.locator("[data-field=role]").select_option("supervisor")
    form.locator("[data-field=password]").fill("wang-pass-1")
    page.fill("#password2", "wang-pass-2")
    page.click("#create-user")
    assert form.locator("[data-error-for=password2]").inner_text() == "The two passwords differ."
    page.fill("#password2", "wang-pass-1")
    page.click("#create-user")
    page.locator("#users-table tr[data-user=wang]").wait_for()
    assert "supervisor" in page.locator("#users-table tr[data-user=wang]").inner_text()
    shot(page, "config-users")
    page.click("#users-table tr[data-user=wang] a")
    page.click("#new-token")
    token = page.locator("#token-value")
    token.wait_for(state="visible")
    assert len(token.inner_text()) > 30
    assert page.locator("#tokens-table [data-revoke]").count() == 1
    shot(page, "config-user")
    page.reload()
    assert page.locator("#token-new").is_hidden()                # shown once

    # a trunk taken out of service
    page.goto(url + "/config/lines")
    page.click("button[data-line-switch='sim0-t2']")
    # the switch posts and the page comes back (or is updated): wait for the new state, not for "load"
    page.wait_for_selector("tr[data-line='sim0-t2'] .badge[data-state='disabled']", timeout=15000)
    badge = page.locator("tr[data-line='sim0-t2'] .badge")
    assert badge.get_attribute("data-state") == "disabled" and badge.inner_text() == "disabled"
    page.click("#probe")
    assert "No driver reported hardware" in page.locator("#probe-summary").inner_text()
    shot(page, "config-lines")

    page.goto(url + "/config/stations")
    assert "Li Wei" in page.locator("tr[data-extension='1001']").inner_text()
    shot(page, "config-stations")
    page.goto(url + "/config/recording")
    assert "printers" in page.locator("#rec-queues").inner_text()
    shot(page, "config-recording")
    page.goto(url + "/config/system")
    assert page.locator("#sys-status").inner_text() == "serving"
    assert "sim0-t2" in page.locator("#sys-lines").inner_text()
    shot(page, "config-system")

    # the same pages in Chinese
    page.click("button[name=language][value=zh_CN]")
    assert page.locator("h1").first.inner_text() == "系统状态"
    shot(page, "config-system-zh")
    page.goto(url + "/config/queues/printers/edit")
    assert page.locator("h1").first.inner_text().startswith("队列")
    shot(page, "config-queue-form-zh")
    page.goto(url + "/config/lines")
    shot(page, "config-lines-zh")
