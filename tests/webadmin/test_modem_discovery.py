"""The panel's USB modem discovery ("add device"): GET /api/v1/config/hardware/modems and the Lines page, against a
real daemon reading a generated sysfs tree (HOTLINE_SYS_ROOT / HOTLINE_DEV_ROOT)."""
from __future__ import annotations

import yaml


def box_with_modems(prepared_box, usb_tree):
    """A daemon whose sysfs shows a USR5637 (with serial, so a by-id name), a Conexant without one, a soft modem
    and an FTDI adapter."""
    plugged = {
        "usr": usb_tree.add(0x0BAF, 0x0303, "1-4", address=7, manufacturer="U.S. Robotics", product="USB Modem",
                            serial="0000001"),
        "cx": usb_tree.add(0x0572, 0x1340, "1-5", address=8, tty="ttyACM1"),
        "soft": usb_tree.add(0x047E, 0x2892, "1-6", address=9, tty="ttyACM2"),
        "ftdi": usb_tree.add(0x0403, 0x6001, "2-1", address=2, tty="ttyUSB0", kind="usbserial", serial="FT9"),
    }
    box = prepared_box(start=False)
    box.env.update(HOTLINE_SYS_ROOT=str(usb_tree.sys), HOTLINE_DEV_ROOT=str(usb_tree.dev))
    return box.start(), plugged


def test_discovered_modems_come_as_ready_device_entries_for_admins_only(prepared_box, usb_tree, client):
    """Known modems first with their profile and by-id port; the soft modem is not usable; the FTDI adapter is
    offered with profile auto; each usable one has a YAML entry with a free name. Supervisors are refused."""
    box, plugged = box_with_modems(prepared_box, usb_tree)
    p = client(box.url)
    p.login("admin")
    r = p.api("GET", "/config/hardware/modems")
    assert r.status == 200, r.text
    doc = r.json()
    rows = {d["usb_port"]: d for d in doc["devices"]}
    assert list(rows) == ["1-4", "1-5", "1-6", "2-1"]
    usr = rows["1-4"]
    assert (usr["driver"], usr["port"], usr["profile"], usr["voice"], usr["usable"]) == (
        "modem", str(plugged["usr"].by_id), "usr", True, True)
    assert rows["1-5"]["port"] == str(usb_tree.dev / "ttyACM1") and rows["1-5"]["profile"] == "conexant"
    assert rows["1-6"]["usable"] is False and rows["1-6"]["kind"] == "soft_modem"
    assert rows["2-1"]["known"] is False and rows["2-1"]["profile"] == "auto"
    assert [rows[k]["suggested_name"] for k in ("1-4", "1-5")] == ["modem0", "modem1"]
    entry = yaml.safe_load(usr["yaml"])[0]
    assert entry == {"name": "modem0", "driver": "modem", "port": str(plugged["usr"].by_id), "number": "",
                     "profile": "usr"}
    assert doc["driver_installed"] is True and doc["config_path"].endswith("hotline.yaml")   # driver: modem ships
    sup = client(box.url)
    sup.login("sup")
    assert sup.api("GET", "/config/hardware/modems").status == 403
    assert client(box.url).api("GET", "/config/hardware/modems").status in (401, 403)


def test_a_modem_already_in_the_configuration_is_marked_and_its_name_not_suggested(usb_tree, monkeypatch):
    """modem0 in hotline.yaml uses the USR's tty under another spelling: shown as configured, names move on.
    (In-process: a daemon refuses driver: modem until the modem driver is installed.)"""
    from hotline.daemon.calls.devices import DeviceManager
    from hotline.webadmin.handlers.config_hardware import discovered
    usb_tree.add(0x0BAF, 0x0303, "1-4", address=7, manufacturer="USR", product="Modem", serial="0000001")
    usb_tree.add(0x0572, 0x1340, "1-5", address=8, tty="ttyACM1")
    monkeypatch.setenv("HOTLINE_SYS_ROOT", str(usb_tree.sys))
    monkeypatch.setenv("HOTLINE_DEV_ROOT", str(usb_tree.dev))
    configured = [{"name": "sim0", "driver": "sim"},
                  {"name": "modem0", "driver": "modem", "port": str(usb_tree.dev / "ttyACM0")}]
    found = discovered({"devices": DeviceManager([], lambda e: None), "config": {"devices": configured}})
    rows = {d["usb_port"]: d for d in found["devices"]}
    assert rows["1-4"]["configured_as"] == "modem0"
    assert rows["1-5"]["configured_as"] is None and rows["1-5"]["suggested_name"] == "modem1"


def test_the_lines_page_lists_the_modems_when_probing(prepared_box, usb_tree, client):
    """The probe card shows the USB modems table with an Add button per usable, unconfigured modem."""
    box, _ = box_with_modems(prepared_box, usb_tree)
    p = client(box.url)
    p.login("admin")
    page = p.get("/config/lines?probe=1").text
    assert 'id="modems-table"' in page and page.count("data-modem-add=") == 3   # USR, Conexant, FTDI
    assert "The modem driver is not installed on this box" not in page   # it ships with the box
    assert p.get("/config/lines").text.count("data-modem-add=") == 0          # only when probing
