"""USB modem discovery through sysfs: known modems with their serial node, by-id name and profile; other devices."""
from __future__ import annotations

import re
from pathlib import Path

from hotline.drivers.usb import ids
from hotline.drivers.usb.discover import probe_devices
from hotline.drivers.usb.sysfs import TtyKind, device_for_tty, scan

REPO = Path(__file__).resolve().parents[2]


def test_a_known_modem_is_found_with_its_tty_by_id_name_and_profile(usb_tree):
    """A USR5637 on port 1-4 shows up as itself, on ttyACM0, named by its by-id link, with the usr profile."""
    plugged = usb_tree.add(0x0BAF, 0x0303, "1-4", address=7, manufacturer="U.S. Robotics",
                           product="USB Modem", serial="0000001")
    found = scan(str(usb_tree.sys), str(usb_tree.dev))
    assert len(found) == 1
    d = found[0]
    assert (d.vid, d.pid, d.bus, d.address, d.port_path) == (0x0BAF, 0x0303, 1, 7, "1-4")
    assert (d.manufacturer, d.product, d.serial) == ("U.S. Robotics", "USB Modem", "0000001")
    assert d.tty == str(usb_tree.dev / "ttyACM0")
    assert d.by_id == (str(plugged.by_id),) and d.stable_port == str(plugged.by_id)
    assert d.profile == "usr" and d.known is not None and d.known.kind is ids.Kind.VOICE_MODEM
    assert d.name == "U.S. Robotics USR5637 56K Faxmodem"


def test_each_chipset_maps_to_its_profile_and_a_usb_serial_node_is_found_too(usb_tree):
    """Conexant, Zoom and Agere modems get their profiles; a ttyUSB node under a USB-serial interface is found."""
    usb_tree.add(0x0572, 0x1340, "1-2", address=3, tty="ttyACM0")
    usb_tree.add(0x0803, 0x3095, "1-3", address=4, tty="ttyACM1", serial="Z1")
    usb_tree.add(0x047E, 0xF101, "2-1", address=2, tty="ttyUSB0", kind="usbserial")
    found = {d.port_path: d for d in scan(str(usb_tree.sys), str(usb_tree.dev))}
    assert {k: (d.profile, Path(d.tty).name) for k, d in found.items()} == {
        "1-2": ("conexant", "ttyACM0"), "1-3": ("zoom", "ttyACM1"), "2-1": ("agere", "ttyUSB0")}
    assert found["1-2"].by_id == () and found["1-2"].stable_port == str(usb_tree.dev / "ttyACM0")  # no serial: no by-id


def test_unknown_devices_are_ignored_unless_asked_and_then_marked_unknown(usb_tree):
    """A USB-serial adapter that is not in the table is left out by default; asked for, it comes as profile auto."""
    usb_tree.add(0x0BAF, 0x0303, "1-4", address=5, serial="A")
    usb_tree.add(0x0403, 0x6001, "1-5", address=6, tty="ttyUSB0", kind="usbserial", manufacturer="FTDI",
                 product="FT232R USB UART", serial="B")
    assert [d.port_path for d in scan(str(usb_tree.sys), str(usb_tree.dev))] == ["1-4"]
    every = {d.port_path: d for d in scan(str(usb_tree.sys), str(usb_tree.dev), include_unknown=True)}
    assert set(every) == {"1-4", "1-5"}
    assert every["1-5"].known is None and every["1-5"].profile == "auto"
    assert every["1-5"].name == "FTDI FT232R USB UART"


def test_probe_devices_gives_the_panel_ready_device_entries_known_first(usb_tree):
    """probe_devices(): driver modem, port = by-id path, profile; a soft modem is listed but not usable."""
    usb_tree.add(0x0403, 0x6001, "1-1", address=2, tty="ttyUSB0", kind="usbserial", serial="F")
    plugged = usb_tree.add(0x0572, 0x1321, "1-4", address=5, manufacturer="Conexant", product="USB Modem",
                           serial="24680246")
    usb_tree.add(0x047E, 0x2892, "1-6", address=8, tty="ttyACM1")
    rows = probe_devices(sys_dir=str(usb_tree.sys), dev_dir=str(usb_tree.dev))
    assert [r["usb_port"] for r in rows] == ["1-4", "1-6", "1-1"]          # known ones first
    first = rows[0]
    assert {k: first[k] for k in ("driver", "port", "profile", "usb_id", "known", "usable", "voice")} == {
        "driver": "modem", "port": str(plugged.by_id), "profile": "conexant", "usb_id": "0572:1321",
        "known": True, "usable": True, "voice": True}
    assert "cdc-acm" in first["source"]
    soft = rows[1]
    assert soft["kind"] == "soft_modem" and soft["usable"] is False and "vendor driver" in soft["note"]
    assert rows[2]["known"] is False and rows[2]["profile"] == "auto"
    assert [r["usb_port"] for r in probe_devices(False, str(usb_tree.sys), str(usb_tree.dev))] == ["1-4", "1-6"]


def test_nothing_plugged_in_or_no_sysfs_at_all_finds_nothing(usb_tree, tmp_path):
    """Root hubs alone are no modems; a missing sysfs is an empty answer, not a crash."""
    assert scan(str(usb_tree.sys), str(usb_tree.dev), include_unknown=True) == []
    assert scan(str(tmp_path / "nowhere"), str(tmp_path / "nodev"), include_unknown=True) == []


def test_a_tty_is_traced_back_to_its_usb_device_or_said_not_to_be_usb(usb_tree):
    """device_for_tty follows a by-id link to the modem; ttyS0 is not USB; an unplugged node is missing."""
    plugged = usb_tree.add(0x0BAF, 0x0303, "1-4", address=9, serial="S1", manufacturer="USR", product="Modem")
    owner = device_for_tty(str(plugged.by_id), str(usb_tree.sys), str(usb_tree.dev))
    assert owner.kind is TtyKind.USB and owner.tty == "ttyACM0"
    assert owner.device is not None and (owner.device.bus, owner.device.address) == (1, 9)
    serial = usb_tree.add_platform_tty("ttyS0")
    assert device_for_tty(str(serial), str(usb_tree.sys), str(usb_tree.dev)).kind is TtyKind.NOT_USB
    usb_tree.remove("1-4")
    assert device_for_tty(str(usb_tree.dev / "ttyACM0"), str(usb_tree.sys), str(usb_tree.dev)).kind is \
        TtyKind.MISSING


def test_the_table_has_sources_valid_ids_and_only_known_profiles():
    """Every entry names a source, a real-looking VID:PID once, and a profile of the modem driver."""
    seen = set()
    for d in ids.KNOWN:
        assert d.source and ("usb.ids" in d.source or "cdc-acm" in d.source), d
        assert 0 < d.vid <= 0xFFFF and 0 <= d.pid <= 0xFFFF and (d.vid, d.pid) not in seen, d
        seen.add((d.vid, d.pid))
        assert d.profile in ids.PROFILES, d
    kinds = {d.profile for d in ids.KNOWN if d.kind is ids.Kind.VOICE_MODEM}
    assert {"usr", "conexant", "zoom"} <= kinds


def test_the_table_is_documented_in_the_technicians_guide():
    """docs/modems.md lists every ID of the table, so a technician can look a modem up."""
    text = (REPO / "docs" / "modems.md").read_text(encoding="utf-8")
    missing = [d.id for d in ids.KNOWN if not re.search(rf"\b{d.id}\b", text)]
    assert missing == []


def test_probe_for_the_modem_driver_offers_only_usable_modems_as_device_sections(usb_tree, monkeypatch):
    """discover.probe() (the modem driver's Driver.probe): the USR by its by-id name with profile usr, an unknown
    adapter with profile auto; the soft modem is left out."""
    from hotline.drivers.usb.discover import probe
    usr = usb_tree.add(0x0BAF, 0x0303, "1-4", address=7, manufacturer="USR", product="Modem", serial="01")
    usb_tree.add(0x047E, 0x2892, "1-6", address=9, tty="ttyACM2")
    usb_tree.add(0x0403, 0x6001, "2-1", address=2, tty="ttyUSB0", kind="usbserial")
    monkeypatch.setenv("HOTLINE_SYS_ROOT", str(usb_tree.sys))
    monkeypatch.setenv("HOTLINE_DEV_ROOT", str(usb_tree.dev))
    assert probe() == [
        {"driver": "modem", "port": str(usr.by_id), "profile": "usr", "modem": "U.S. Robotics USR5637 56K Faxmodem",
         "usb_id": "0baf:0303"},
        {"driver": "modem", "port": str(usb_tree.dev / "ttyUSB0"), "profile": "auto", "modem": "USB device 0403:6001",
         "usb_id": "0403:6001"}]
