"""QA's simulator console: place a call, press a key on the on-screen keypad, answer on a phone, hang up."""
from __future__ import annotations


def test_qa_places_a_call_presses_keys_and_hangs_up(web_box, browser_page, login, shot) -> None:
    page = browser_page
    login(page, web_box.url, "qa1")
    page.click(".mainnav a[href='/sim']")
    assert page.locator("h1").inner_text() == "Simulator"
    page.fill("#sim-call input[name=from]", "13900001111")
    page.fill("#sim-call input[name=to]", "9999")          # no route: the built-in reception answers
    page.click("#sim-call button[type=submit]")
    row = page.locator("#sim-calls tbody tr[data-call]")
    row.first.wait_for()
    assert "13900001111" in row.first.inner_text()
    # keys typed in the field are sent with Enter, and the Keys column shows what the box heard (real DTMF audio)
    keys = row.first.locator("input.sim-keys")
    keys.fill("42")
    keys.press("Enter")
    heard = row.first.locator(".sim-heard-keys")
    page.wait_for_function("document.querySelector('#sim-calls .sim-heard-keys').textContent === '42'")
    assert keys.input_value() == ""
    keys.fill("7")                       # half typed: the refresh every second leaves the field and its text alone
    for _ in range(2):
        with page.expect_response(lambda r: r.url.endswith("/api/v1/sim/calls")):
            pass
    page.evaluate("() => new Promise(requestAnimationFrame)")
    assert keys.input_value() == "7"
    keys.fill("")
    page.locator("#sim-calls tbody tr[data-call] .sim-pad .key[data-key='1']").first.click()
    page.wait_for_function("document.querySelector('#sim-calls .sim-heard-keys').textContent === '421'")
    assert heard.inner_text() == "421"
    page.wait_for_function("document.querySelectorAll('#sim-stations tbody tr[data-station]').length >= 4")
    shot(page, "simulator")
    page.locator("#sim-calls tbody tr[data-call] button.btn-danger").first.click()
    page.wait_for_function("!document.querySelector('#sim-calls tbody tr[data-call]')", timeout=20000)
    page.click("button[name=language][value=zh_CN]")
    assert page.locator("h1").first.inner_text() == "模拟器"
    shot(page, "simulator-zh")
