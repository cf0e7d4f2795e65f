"""An administrator plays prompts in the browser, uploads a recording (a text file is refused with a message),
goes back to speech, and reads the page in Chinese."""
from __future__ import annotations

import numpy as np

from hotline.daemon.media.wavio import wav_bytes


def test_play_upload_and_regenerate_prompts(prompt_box, browser_page, login, shot, tmp_path) -> None:
    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, prompt_box.url, "admin")
    page.click(".mainnav a[href='/config/prompts']")
    page.click("a[data-language=en_US]")
    page.fill("#prompt-filters input[name=q]", "printer")           # id or text, either language
    page.click("#prompt-filters button[type=submit]")
    ids = page.eval_on_selector_all("#prompts-table tr[data-prompt]", "rows => rows.map(r => r.dataset.prompt)")
    assert "printer_welcome" in ids and "product_categories" in ids and "goodbye" not in ids and len(ids) < 10
    row = page.locator("#prompts-table tr[data-prompt=printer_welcome]")
    assert "Welcome to the printer support line." in row.inner_text()
    assert row.locator(".badge").first.inner_text() == "Speech (TTS)" and "printer_support" in row.inner_text()

    # play: the audio element loads the prompt and knows its length
    row.locator("[data-action=play]").click()
    page.wait_for_function("document.getElementById('prompt-player').duration > 0.5", timeout=20000)
    assert page.locator("#player-title").inner_text() == "printer_welcome · en_US"
    assert "/api/v1/prompts/en_US/printer_welcome.wav" in page.eval_on_selector("#prompt-player", "a => a.currentSrc")
    shot(page, "prompts")

    # a text file is refused with a message; a WAV (any rate) becomes the recording
    text = tmp_path / "notes.txt"
    text.write_text("Welcome to the printer support line.\n")
    with page.expect_file_chooser() as chooser:
        row.locator("[data-action=upload]").click()
    chooser.value.set_files(str(text))
    page.locator("#prompt-alert", has_text="printer_welcome: file: a WAV file is needed, not text/plain").wait_for()
    shot(page, "prompts-upload-refused")
    assert row.get_attribute("data-source") == "tts"
    t = np.arange(2 * 22050) / 22050
    wav = tmp_path / "welcome.wav"
    wav.write_bytes(wav_bytes((9000 * np.sin(2 * np.pi * 330 * t)).astype(np.int16), 22050))
    with page.expect_file_chooser() as chooser:
        row.locator("[data-action=upload]").click()
    chooser.value.set_files(str(wav))
    page.wait_for_function(
        "document.querySelector('#prompts-table tr[data-prompt=printer_welcome]').dataset.source === 'recorded'")
    assert row.locator(".badge").first.inner_text() == "Recorded" and row.locator(".len-cell").inner_text() == "2.0 s"
    assert page.locator("#prompt-alert").is_hidden()
    assert (prompt_box.prompts / "en_US" / "printer_welcome.wav").exists()
    row.locator("[data-action=play]").click()
    page.wait_for_function("Math.abs(document.getElementById('prompt-player').duration - 2.0) < 0.05")
    shot(page, "prompts-uploaded")

    # back to speech: the recording is kept aside, the text is spoken again
    row.locator("[data-action=tts]").click()
    page.wait_for_function(
        "document.querySelector('#prompts-table tr[data-prompt=printer_welcome]').dataset.source === 'tts'")
    assert list((prompt_box.prompts / "replaced" / "en_US").glob("printer_welcome-*.wav"))
    page.wait_for_function("document.getElementById('prompt-player').duration > 0.5 && "
                           "Math.abs(document.getElementById('prompt-player').duration - 2.0) > 0.05")

    # the same page in Chinese
    page.click("button[name=language][value=zh_CN]")
    page.click("a[data-language=zh_CN]")
    assert page.locator("h1").inner_text() == "提示音"
    page.fill("#prompt-filters input[name=q]", "打印机")
    page.click("#prompt-filters button[type=submit]")
    zh_row = page.locator("#prompts-table tr[data-prompt=printer_welcome]")
    assert "欢迎致电打印机服务热线。" in zh_row.inner_text()
    assert zh_row.locator(".badge").first.inner_text() == "合成语音（TTS）"
    zh_row.locator("[data-action=play]").click()
    page.wait_for_function("document.getElementById('prompt-player').duration > 0.5", timeout=20000)
    shot(page, "prompts-zh")
