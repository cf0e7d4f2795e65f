"""A fake sysfs and /dev laid out as the Linux kernel and udev do for USB modems, for tests without hardware.

Loaded by the ``usb_tree`` fixture of tests/conftest.py (not a test module)."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

HCD = "devices/pci0000:00/0000:00:14.0"


def _write(folder: Path, **attrs: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in attrs.items():
        (folder / name).write_text(f"{value}\n")


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink():
        link.unlink()
    link.symlink_to(os.path.relpath(target, link.parent))


@dataclass
class Plugged:
    """What UsbTree.add made: the device's sysfs folder, its /dev node and by-id link."""

    port_path: str
    syspath: Path
    tty: str
    node: Path
    by_id: Path | None


class UsbTree:
    """``sys``/``dev`` folders under a temporary directory; add() plugs a USB device in, remove() pulls it."""

    def __init__(self, root: Path):
        self.sys = root / "sys"
        self.dev = root / "dev"
        self.dev.mkdir(parents=True)
        self.plugged: dict[str, Plugged] = {}
        for bus in (1, 2):   # root hubs: USB devices without a tty, never listed
            hub = self.sys / HCD / f"usb{bus}"
            _write(hub, idVendor="1d6b", idProduct="0002", busnum=str(bus), devnum="1",
                   manufacturer="Linux 6.1.0 xhci-hcd", product="xHCI Host Controller", serial="0000:00:14.0")
            _write(hub / f"{bus}-0:1.0", bInterfaceNumber="00", bInterfaceClass="09")
            _link(self.sys / "bus/usb/devices" / f"usb{bus}", hub)
            _link(self.sys / "bus/usb/devices" / f"{bus}-0:1.0", hub / f"{bus}-0:1.0")

    def add(self, vid: int, pid: int, port_path: str = "1-4", address: int = 5, tty: str = "ttyACM0",
            manufacturer: str = "", product: str = "", serial: str = "", kind: str = "acm",
            by_id: bool = True) -> Plugged:
        """Plug a device in: a CDC-ACM modem (kind "acm": control interface with tty/, data interface beside)
        or a USB-serial adapter (kind "usbserial": <intf>/ttyUSB0/tty/ttyUSB0)."""
        bus = int(port_path.split("-")[0])
        parent = self.sys / HCD / f"usb{bus}"
        for part in range(1, len(port_path.split("-")[1].split("."))):   # hubs in between, if any
            parent = parent / (f"{bus}-" + ".".join(port_path.split("-")[1].split(".")[:part]))
        devdir = parent / port_path
        attrs = {"idVendor": f"{vid:04x}", "idProduct": f"{pid:04x}", "busnum": str(bus), "devnum": str(address),
                 "devpath": port_path.split("-")[1], "speed": "12"}
        attrs.update({k: v for k, v in (("manufacturer", manufacturer), ("product", product), ("serial", serial)) if v})
        _write(devdir, **attrs)
        (devdir / "power").mkdir(exist_ok=True)
        control = devdir / f"{port_path}:1.0"
        _write(control, bInterfaceNumber="00", bInterfaceClass="02" if kind == "acm" else "ff")
        if kind == "acm":
            ttydir = control / "tty" / tty
            _write(devdir / f"{port_path}:1.1", bInterfaceNumber="01", bInterfaceClass="0a")
            _link(self.sys / "bus/usb/devices" / f"{port_path}:1.1", devdir / f"{port_path}:1.1")
        else:
            _write(control / tty, port_number="0")
            ttydir = control / tty / "tty" / tty
        _write(ttydir, dev="166:0", uevent=f"MAJOR=166\nMINOR=0\nDEVNAME={tty}")
        _link(ttydir / "device", ttydir.parent.parent if kind == "acm" else control / tty)
        _link(self.sys / "bus/usb/devices" / port_path, devdir)
        _link(self.sys / "bus/usb/devices" / f"{port_path}:1.0", control)
        _link(self.sys / "class/tty" / tty, ttydir)
        node = self.dev / tty
        node.write_text("")
        link = None
        if by_id and serial:
            name = f"usb-{manufacturer or 'Unknown'}_{product or 'Modem'}_{serial}-if00".replace(" ", "_")
            link = self.dev / "serial/by-id" / name
            _link(link, node)
        found = Plugged(port_path, devdir, tty, node, link)
        self.plugged[port_path] = found
        return found

    def add_platform_tty(self, tty: str = "ttyS0") -> Path:
        """An on-board serial port (not USB): /sys/class/tty/ttyS0 -> devices/platform/serial8250/tty/ttyS0."""
        ttydir = self.sys / "devices/platform/serial8250/tty" / tty
        _write(ttydir, dev="4:64")
        _link(ttydir / "device", self.sys / "devices/platform/serial8250")
        _link(self.sys / "class/tty" / tty, ttydir)
        node = self.dev / tty
        node.write_text("")
        return node

    def remove(self, port_path: str) -> None:
        """Unplug: the device's folders, links and /dev entries go, as when the kernel removes it."""
        p = self.plugged.pop(port_path)
        shutil.rmtree(p.syspath)
        for link in list((self.sys / "bus/usb/devices").iterdir()) + list((self.sys / "class/tty").iterdir()):
            if link.is_symlink() and not link.exists():
                link.unlink()
        p.node.unlink()
        if p.by_id is not None:
            p.by_id.unlink()
