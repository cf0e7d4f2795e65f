"""USB reset of a wedged modem through pyusb, against a backend fake and a sysfs tree: honest outcomes only."""
from __future__ import annotations

import errno

import pytest

from hotline.drivers.usb.reset import ResetOutcome, reset_for_port, reset_for_tty


def roots(tree) -> dict:
    return {"sys_dir": str(tree.sys), "dev_dir": str(tree.dev)}


def test_reset_finds_the_modem_behind_the_by_id_name_and_resets_that_device_only(usb_tree, fake_usb, usb_device):
    """The device at the tty's bus and address is opened and reset; a second modem is not touched."""
    plugged = usb_tree.add(0x0BAF, 0x0303, "1-4", address=7, serial="0001", manufacturer="USR", product="Modem")
    usb_tree.add(0x0BAF, 0x0303, "1-5", address=8, tty="ttyACM1", serial="0002")
    ours, other = usb_device(0x0BAF, 0x0303, bus=1, address=7), usb_device(0x0BAF, 0x0303, bus=1, address=8)
    result = reset_for_tty(str(plugged.by_id), backend=fake_usb(other, ours), **roots(usb_tree))
    assert result.ok and result.outcome is ResetOutcome.RESET, result
    assert "reset" in ours.log and "reset" not in other.log
    assert ours.log[-1] == "close"                                   # the handle is released afterwards
    assert result.device is not None and result.device.port_path == "1-4"


def test_after_a_reset_the_new_serial_node_is_reported(usb_tree, fake_usb, usb_device):
    """The kernel re-enumerates the modem as ttyACM1: with settle_s the result names the node it came back as."""
    usb_tree.add(0x0572, 0x1340, "1-4", address=7)

    def reenumerate() -> None:
        usb_tree.remove("1-4")
        usb_tree.add(0x0572, 0x1340, "1-4", address=8, tty="ttyACM1")
    dev = usb_device(0x0572, 0x1340, bus=1, address=7, on_reset=reenumerate)
    result = reset_for_tty(str(usb_tree.dev / "ttyACM0"), backend=fake_usb(dev), settle_s=2.0, **roots(usb_tree))
    assert result.outcome is ResetOutcome.RESET and result.tty_after == str(usb_tree.dev / "ttyACM1")


def test_a_reset_whose_device_never_comes_back_says_so(usb_tree, fake_usb, usb_device):
    """Reset done, but no serial node reappears in that USB socket: tty_after is None and the reason says it."""
    usb_tree.add(0x0572, 0x1340, "1-4", address=7)
    dev = usb_device(0x0572, 0x1340, bus=1, address=7, on_reset=lambda: usb_tree.remove("1-4"))
    result = reset_for_tty(str(usb_tree.dev / "ttyACM0"), backend=fake_usb(dev), settle_s=0.3, **roots(usb_tree))
    assert result.outcome is ResetOutcome.RESET and result.tty_after is None
    assert "no serial node in USB port 1-4 within 0.3 s" in result.reason


def test_a_device_that_vanishes_during_the_reset_is_reported_gone_not_reset(usb_tree, fake_usb, usb_device):
    """libusb answers ENODEV (LIBUSB_ERROR_NO_DEVICE): the result is GONE, never ok."""
    usb_tree.add(0x0BAF, 0x0303, "1-4", address=7)
    dev = usb_device(0x0BAF, 0x0303, bus=1, address=7, reset_error=(-4, errno.ENODEV))
    result = reset_for_tty(str(usb_tree.dev / "ttyACM0"), backend=fake_usb(dev), **roots(usb_tree))
    assert not result.ok and result.outcome is ResetOutcome.GONE
    assert "gone" in result.reason and "reset failed" in dev.log


def test_a_device_libusb_no_longer_lists_is_gone(usb_tree, fake_usb, usb_device):
    """sysfs still shows the modem but libusb enumerates nothing at that address (pulled a moment ago)."""
    usb_tree.add(0x0BAF, 0x0303, "1-4", address=7)
    elsewhere = usb_device(0x0BAF, 0x0303, bus=2, address=7)
    result = reset_for_tty(str(usb_tree.dev / "ttyACM0"), backend=fake_usb(elsewhere), **roots(usb_tree))
    assert result.outcome is ResetOutcome.GONE and "bus 1 address 7" in result.reason
    assert elsewhere.log == []


@pytest.mark.parametrize("code,outcome", [((-5, errno.ENOENT), ResetOutcome.REENUMERATED),
                                          ((-99, errno.EIO), ResetOutcome.FAILED)])
def test_other_reset_errors_are_not_success(usb_tree, fake_usb, code, outcome, usb_device):
    """NOT_FOUND (re-enumerated or unplugged) and any other libusb error are reported as such."""
    usb_tree.add(0x0BAF, 0x0303, "1-4", address=7)
    dev = usb_device(0x0BAF, 0x0303, bus=1, address=7, reset_error=code)
    result = reset_for_tty(str(usb_tree.dev / "ttyACM0"), backend=fake_usb(dev), **roots(usb_tree))
    assert result.outcome is outcome and not result.ok


def test_no_permission_on_the_usb_node_is_denied_with_the_fix(usb_tree, fake_usb, usb_device):
    """EACCES opening /dev/bus/usb/...: DENIED, and the reason names the udev rule that grants dialout access."""
    usb_tree.add(0x0BAF, 0x0303, "1-4", address=7)
    dev = usb_device(0x0BAF, 0x0303, bus=1, address=7, open_error=errno.EACCES)
    result = reset_for_tty(str(usb_tree.dev / "ttyACM0"), backend=fake_usb(dev), **roots(usb_tree))
    assert result.outcome is ResetOutcome.DENIED and "70-hotline-modems.rules" in result.reason
    assert "reset" not in dev.log


def test_a_tty_that_is_not_usb_or_does_not_exist_is_never_reset(usb_tree, fake_usb, usb_device):
    """ttyS0 is NOT_USB, a missing node is NOT_FOUND; the backend is not even asked."""
    serial = usb_tree.add_platform_tty("ttyS0")
    bystander = usb_device(0x0BAF, 0x0303, bus=1, address=7)
    backend = fake_usb(bystander)
    r = reset_for_tty(str(serial), backend=backend, **roots(usb_tree))
    assert r.outcome is ResetOutcome.NOT_USB and "not a USB device" in r.reason
    r = reset_for_tty(str(usb_tree.dev / "ttyACM9"), backend=backend, **roots(usb_tree))
    assert r.outcome is ResetOutcome.NOT_FOUND
    assert bystander.log == []


def test_the_real_libusb_backend_loads_and_finds_no_such_device_here(usb_tree):
    """With Debian's libusb-1.0 (scripts/setup-env) pyusb has a real backend; this box has no USB bus, so the
    modem the sysfs tree describes is GONE to libusb, not reset."""
    import usb.backend.libusb1
    backend = usb.backend.libusb1.get_backend()
    assert backend is not None, "libusb-1.0 missing: scripts/setup-env installs libusb-1.0-0"
    usb_tree.add(0x0BAF, 0x0303, "1-4", address=7)
    result = reset_for_tty(str(usb_tree.dev / "ttyACM0"), backend=backend, **roots(usb_tree))
    assert result.outcome in (ResetOutcome.GONE, ResetOutcome.FAILED) and not result.ok, result


def talk(backend, bus: int, address: int) -> bytes:
    """Send AT on the modem's bulk OUT endpoint and read its answer from bulk IN, through pyusb."""
    import usb.core
    import usb.util
    dev = usb.core.find(bus=bus, address=address, backend=backend)
    try:
        dev.write(0x02, b"AT\r", timeout=100)
        return bytes(dev.read(0x81, 64, timeout=100))
    finally:
        usb.util.dispose_resources(dev)


def test_reset_for_port_brings_a_wedged_modem_back_and_logs_it(usb_tree, fake_usb, usb_device, monkeypatch, caplog):
    """What the modem driver calls: the modem's bulk endpoints time out (AT goes unanswered through pyusb);
    reset_for_port(by-id name) resets that device, the same AT then gets OK, and the log says what was done."""
    import usb.core
    plugged = usb_tree.add(0x0BAF, 0x0303, "1-4", address=7, serial="0001", manufacturer="USR", product="Modem")
    monkeypatch.setenv("HOTLINE_SYS_ROOT", str(usb_tree.sys))
    monkeypatch.setenv("HOTLINE_DEV_ROOT", str(usb_tree.dev))
    modem = usb_device(0x0BAF, 0x0303, bus=1, address=7, wedged=True)
    backend = fake_usb(modem)
    with pytest.raises(usb.core.USBTimeoutError):
        talk(backend, 1, 7)
    assert "claim 1" in modem.log and "bulk OUT timeout" in modem.log
    caplog.set_level("WARNING", logger="hotline.drivers.usb")
    assert reset_for_port(str(plugged.by_id), settle_s=1.0, backend=backend) is True
    assert talk(backend, 1, 7) == b"AT\r\r\nOK\r\n"
    line = next(r.getMessage() for r in caplog.records if "event=usb_reset" in r.getMessage())
    assert f"port={plugged.by_id} outcome=reset usb=0baf:0303 bus=1 address=7 usb_port=1-4" in line
    assert f"tty_after={usb_tree.dev / 'ttyACM0'}" in line


def test_reset_for_port_is_false_with_the_reason_logged_when_it_cannot_reset(usb_tree, fake_usb, usb_device,
                                                                              monkeypatch, caplog):
    """No permission on the USB node, the emulator's URL, a backend that blows up: False every time (the driver
    then reports the line down), never an exception, and an error line with the reason."""
    usb_tree.add(0x0BAF, 0x0303, "1-4", address=7)
    monkeypatch.setenv("HOTLINE_SYS_ROOT", str(usb_tree.sys))
    monkeypatch.setenv("HOTLINE_DEV_ROOT", str(usb_tree.dev))
    caplog.set_level("ERROR", logger="hotline.drivers.usb")
    denied = usb_device(0x0BAF, 0x0303, bus=1, address=7, open_error=errno.EACCES, wedged=True)
    assert reset_for_port(str(usb_tree.dev / "ttyACM0"), backend=fake_usb(denied)) is False
    assert denied.wedged and "reset" not in denied.log
    assert reset_for_port("virtualmodem://usr", backend=fake_usb(denied)) is False

    class Broken(type(fake_usb())):
        def enumerate_devices(self):
            raise RuntimeError("libusb exploded")
    assert reset_for_port(str(usb_tree.dev / "ttyACM0"), backend=Broken()) is False
    lines = [r.getMessage() for r in caplog.records if "event=usb_reset" in r.getMessage()]
    assert len(lines) == 3
    assert "outcome=denied" in lines[0] and "70-hotline-modems.rules" in lines[0]
    assert "outcome=not_usb" in lines[1] and "pyserial URL" in lines[1]
    assert "outcome=failed" in lines[2] and "libusb exploded" in lines[2]
