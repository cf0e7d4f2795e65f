"""An administrator adds a USB voice modem from the Lines page in a real browser: the modems this box has (from a
generated sysfs tree) are listed, Add fills in a device entry with the by-id port and the profile, the name is
checked, the entry is copied; the same in Chinese. Screenshots in both languages."""
from __future__ import annotations

import yaml


def test_add_a_discovered_usb_modem(prepared_box, usb_tree, browser_page, login, shot) -> None:
    usr = usb_tree.add(0x0BAF, 0x0303, "1-4", address=7, manufacturer="U.S. Robotics", product="USB Modem",
                       serial="0000001")
    usb_tree.add(0x0572, 0x1340, "1-5", address=8, tty="ttyACM1")
    usb_tree.add(0x047E, 0x2892, "1-6", address=9, tty="ttyACM2")
    box = prepared_box(start=False)
    box.env.update(HOTLINE_SYS_ROOT=str(usb_tree.sys), HOTLINE_DEV_ROOT=str(usb_tree.dev))
    box.start()
    page, url = browser_page, box.url
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    login(page, url, "admin")

    page.goto(url + "/config/lines")
    page.click("#probe")
    table = page.locator("#modems-table")
    table.wait_for()
    assert "U.S. Robotics USR5637 56K Faxmodem" in table.locator("tr[data-modem='1-4']").inner_text()
    assert "not usable" in table.locator("tr[data-modem='1-6']").inner_text()      # the Agere soft modem
    assert page.locator("#modem-add").is_hidden()

    table.locator("button[data-modem-add='1-4']").click()
    assert page.locator("#modem-add").is_visible()
    page.fill("#modem-number", "8001")
    snippet = page.locator("#modem-yaml").inner_text()
    assert yaml.safe_load(snippet) == [{"name": "modem0", "driver": "modem", "port": str(usr.by_id),
                                        "number": "8001", "profile": "usr"}]
    page.fill("#modem-name", "Modem 1")
    assert "lowercase letter" in page.locator("#modem-name-error").inner_text()
    page.fill("#modem-name", "front_desk")
    assert page.locator("#modem-name-error").inner_text() == ""
    assert "name: front_desk" in page.locator("#modem-yaml").inner_text()
    page.click("#modem-copy")
    page.locator("text=Copied").first.wait_for()
    assert yaml.safe_load(page.evaluate("navigator.clipboard.readText()"))[0]["name"] == "front_desk"
    shot(page, "config-lines-modems")

    # another modem: the form follows it (Conexant without a serial number: its tty, profile conexant)
    table.locator("button[data-modem-add='1-5']").click()
    entry = yaml.safe_load(page.locator("#modem-yaml").inner_text())[0]
    assert entry["port"] == str(usb_tree.dev / "ttyACM1") and entry["profile"] == "conexant"
    assert entry["name"] == "modem1"

    page.click("button[name=language][value=zh_CN]")
    page.goto(url + "/config/lines?probe=1")
    assert page.locator("#modems").inner_text() == "USB 调制解调器"
    page.locator("button[data-modem-add='1-4']").click()
    assert "复制" in page.locator("#modem-copy").inner_text()
    shot(page, "config-lines-modems-zh")
