"""An administrator edits a sample flow in the browser (the error is marked at its line), publishes it, and dry-runs
it with the on-screen keypad: the prompts arrive as audio in the page and the path shows the menu choice."""
from __future__ import annotations

import re


def trail_item(page, step: str):
    return page.locator(f'#dr-trail li[data-step="{step}"]')


def test_publish_a_flow_and_dry_run_it_with_the_keypad(prompt_box, browser_page, login, shot) -> None:
    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, prompt_box.url, "admin")
    page.click(".mainnav a[href='/config/flows']")
    row = page.locator("#flows-table tr[data-flow=printer_support]")
    assert "8001" in row.inner_text() and "v1" in row.inner_text()
    shot(page, "flows-list")
    row.locator("a").click()
    page.wait_for_url("**/config/flows/printer_support")
    status = page.locator("#flow-status")
    page.wait_for_function("document.getElementById('flow-status').textContent.startsWith('Valid')")
    assert page.locator("#flow-tree .tree-node[data-block=main]").count() >= 1
    assert page.locator("#flow-tree .key-chip", has_text="0").count() >= 1           # menu keys in the tree

    # an error: the line is marked in the gutter and behind the text, and listed with line:column
    editor = page.locator("#flow-source")
    source = editor.input_value()
    bad = source.replace('"2": dealers', '"2": dealerz')
    n = next(i for i, line in enumerate(bad.splitlines(), 1) if "dealerz" in line)
    editor.fill(bad)
    page.locator(f".ce-num.err[data-line='{n}']").wait_for()
    assert page.locator(f".ce-mark.error[data-line='{n}']").count() == 1
    assert page.locator(".ce-num.err").count() == 1
    problem = page.locator(f".problem.error[data-line='{n}']")
    assert re.match(rf"{n}:\d+", problem.locator("button").inner_text())
    assert "did you mean 'dealers'" in problem.inner_text()
    assert status.inner_text() == "1 problem" and page.locator("#btn-publish").is_disabled()
    problem.locator("button").click()                             # jumps to the line: it is in view, selected
    assert editor.evaluate("e => e.value.slice(e.selectionStart, e.selectionEnd)").startswith("dealerz")
    shot(page, "flows-editor-error")

    # fixed (2 now leads to the repair centers): valid again, publish makes it version 2
    editor.fill(source.replace('"2": dealers', '"2": repair'))
    page.wait_for_function("document.getElementById('flow-status').textContent === 'Valid, not saved'")
    assert page.locator(".ce-num.err").count() == 0 and page.locator(".ce-mark.error").count() == 0
    warning = page.locator(".problem.warning")                 # nothing leads to the dealers block any more
    assert warning.count() == 1 and "unreachable block" in warning.inner_text()
    assert page.locator(f".ce-mark.warning[data-line='{warning.get_attribute('data-line')}']").count() == 1
    page.click("#btn-publish")
    page.locator("#versions-table tr[data-version='2'] .badge.ok").wait_for()
    assert page.locator("#versions-table tr[data-version='1'] [data-activate='1']").inner_text() == "Roll back to this"
    assert status.inner_text().startswith("Valid") and "not saved" not in status.inner_text()
    editor.evaluate("e => { e.scrollTop = 0; e.dispatchEvent(new Event('scroll')); }")
    shot(page, "flows-editor")

    # dry run: the caller hears the prompts (audio frames with sound reach Web Audio), presses 2 twice
    page.select_option("#dr-language", "en_US")
    page.click("#dr-call")
    page.locator("#dr-trail li[data-kind='media.played']", has_text="choose_language").wait_for(timeout=20000)
    page.click("#keypad .key[data-key='2']")                    # English
    page.locator("#dr-trail li[data-kind='media.played']", has_text="printer_main_menu").wait_for()
    page.click("#keypad .key[data-key='2']")                    # the choice published a moment ago
    choice = trail_item(page, "menu.key")
    choice.wait_for()
    assert choice.get_attribute("data-key") == "2" and choice.get_attribute("data-target") == "repair"
    assert "Pressed 2: go to repair" in choice.inner_text() and "menu" in choice.inner_text()
    assert trail_item(page, "language").get_attribute("data-key") == "2"
    page.wait_for_function("+document.getElementById('dr-frames').dataset.voiced > 50")
    frames = page.locator("#dr-frames")
    assert int(frames.get_attribute("data-frames")) > 100 and int(frames.get_attribute("data-rms")) > 500
    assert float(frames.get_attribute("data-scheduled")) > 1.0               # handed to Web Audio for playback
    assert page.locator("#dr-keys").inner_text() == "22"
    assert page.locator("#flow-tree .tree-node.current").count() >= 1          # the caller's block lit in the tree
    shot(page, "flows-dryrun")
    page.click("#dr-hangup")
    page.wait_for_function("document.getElementById('dr-state').textContent === 'Ended'")
    page.locator("#dr-trail li[data-kind='call.offered']").wait_for()       # the full journal after the call
    assert page.locator("#keypad .key[data-key='1']").is_disabled()

    # roll back from the version list; then the page in Chinese
    page.click("#versions-table [data-activate='1']")
    page.locator("#versions-table tr[data-version='1'] .badge.ok").wait_for()
    page.click("button[name=language][value=zh_CN]")
    page.wait_for_function("document.getElementById('flow-status').textContent.startsWith('有效')")
    assert page.locator("h2", has_text="试运行").count() == 1
    assert page.locator("#dr-call").inner_text() == "试运行"
    shot(page, "flows-editor-zh")
    page.goto(prompt_box.url + "/config/flows")
    assert page.locator("h1").inner_text() == "流程"
    shot(page, "flows-list-zh")
