"""Finds USB devices and the serial nodes they expose by reading sysfs (no libusb, no root needed).

The kernel lays USB out as ``/sys/bus/usb/devices/<port path>`` (a device: idVendor, idProduct, busnum,
devnum, manufacturer, product, serial) with interfaces ``<port path>:<config>.<n>`` beneath it; a CDC-ACM
interface holds ``tty/ttyACM0``, a USB-serial one ``ttyUSB0/tty/ttyUSB0``. ``/sys/class/tty/<name>/device``
points back at the interface. Both roots are parameters so tests (and containers with /sys mounted
elsewhere) can point them at another tree; ``HOTLINE_SYS_ROOT`` / ``HOTLINE_DEV_ROOT`` set the defaults.
"""
from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path

from .ids import KnownDevice, lookup


def sys_root() -> str:
    """The sysfs mount point (``HOTLINE_SYS_ROOT`` or /sys)."""
    return os.environ.get("HOTLINE_SYS_ROOT") or "/sys"


def dev_root() -> str:
    """The device directory (``HOTLINE_DEV_ROOT`` or /dev)."""
    return os.environ.get("HOTLINE_DEV_ROOT") or "/dev"


@dataclass(frozen=True)
class UsbSerialDevice:
    """A USB device as sysfs shows it, with the serial nodes its interfaces expose."""

    vid: int
    pid: int
    manufacturer: str
    product: str
    serial: str
    bus: int
    address: int
    port_path: str             # "1-1.4": stable while the device stays in the same socket
    syspath: str
    ttys: tuple[str, ...] = ()  # device nodes, in interface order (/dev/ttyACM0)
    by_id: tuple[str, ...] = ()  # /dev/serial/by-id links to those nodes
    known: KnownDevice | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        """``vvvv:pppp``."""
        return f"{self.vid:04x}:{self.pid:04x}"

    @property
    def tty(self) -> str | None:
        """The first serial node, or None."""
        return self.ttys[0] if self.ttys else None

    @property
    def stable_port(self) -> str | None:
        """The name to put in the configuration: the by-id link when there is one, else the node."""
        return self.by_id[0] if self.by_id else self.tty

    @property
    def profile(self) -> str:
        """The chipset profile for the modem driver ("auto" when the table does not know the device)."""
        return self.known.profile if self.known is not None else "auto"

    @property
    def name(self) -> str:
        """What to call it: the table's name, else the device's own strings, else its ID."""
        if self.known is not None:
            return self.known.name
        return " ".join(s for s in (self.manufacturer, self.product) if s) or f"USB device {self.id}"


def _attr(path: Path, name: str) -> str:
    try:
        return (path / name).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _hex(text: str) -> int | None:
    try:
        return int(text, 16)
    except ValueError:
        return None


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _interface_ttys(device: Path) -> list[str]:
    """Names of tty class devices under the device's own interfaces (not under child devices of a hub)."""
    found: list[tuple[int, str]] = []
    prefix = device.name + ":"
    try:
        interfaces = sorted(p for p in device.iterdir() if p.name.startswith(prefix) and p.is_dir())
    except OSError:
        return []
    for intf in interfaces:
        number = _hex(_attr(intf, "bInterfaceNumber")) or 0
        for top, dirs, _files in os.walk(intf):  # does not follow symlinks (driver, subsystem, port, ...)
            if os.path.basename(top) == "tty":
                found.extend((number, d) for d in dirs)
                dirs[:] = []
            elif top.count(os.sep) - str(intf).count(os.sep) >= 2:
                dirs[:] = []
    return [name for _, name in sorted(found)]


def _by_id_links(dev: str) -> dict[str, list[str]]:
    """tty name -> the /dev/serial/by-id links that point at it."""
    out: dict[str, list[str]] = {}
    folder = Path(dev) / "serial" / "by-id"
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return out
    for link in entries:
        try:
            target = os.readlink(link)
        except OSError:
            continue
        out.setdefault(os.path.basename(target), []).append(str(link))
    return out


def _read_device(path: Path, links: dict[str, list[str]], dev: str) -> UsbSerialDevice | None:
    vid, pid = _hex(_attr(path, "idVendor")), _hex(_attr(path, "idProduct"))
    if vid is None or pid is None:
        return None
    names = _interface_ttys(path)
    return UsbSerialDevice(
        vid=vid, pid=pid, manufacturer=_attr(path, "manufacturer"), product=_attr(path, "product"),
        serial=_attr(path, "serial"), bus=_int(_attr(path, "busnum")), address=_int(_attr(path, "devnum")),
        port_path=path.name, syspath=str(path), ttys=tuple(os.path.join(dev, n) for n in names),
        by_id=tuple(link for n in names for link in links.get(n, [])), known=lookup(vid, pid))


def scan(sys_dir: str | None = None, dev_dir: str | None = None,
         include_unknown: bool = False) -> list[UsbSerialDevice]:
    """Known USB modems present now (with ``include_unknown``, also any other USB device exposing a tty)."""
    root, dev = sys_dir or sys_root(), dev_dir or dev_root()
    base = Path(root) / "bus" / "usb" / "devices"
    try:
        entries = sorted(base.iterdir(), key=lambda p: p.name)
    except OSError:
        return []
    links = _by_id_links(dev)
    out = []
    for entry in entries:
        if ":" in entry.name:          # an interface, not a device
            continue
        found = _read_device(entry.resolve(), links, dev)
        if found is None:
            continue
        if found.known is not None or (include_unknown and found.ttys):
            out.append(found)
    return out


class TtyKind(enum.Enum):
    """What sysfs says a serial node is."""

    USB = "usb"
    NOT_USB = "not_usb"      # an on-board or PCI port (ttyS*), a pty, a virtual console
    MISSING = "missing"      # no such tty now (unplugged, or a path that is not a tty)


@dataclass(frozen=True)
class TtyOwner:
    """The answer of ``device_for_tty``."""

    kind: TtyKind
    tty: str                  # the kernel's name (ttyACM0)
    device: UsbSerialDevice | None = None


def device_for_tty(tty_path: str, sys_dir: str | None = None, dev_dir: str | None = None) -> TtyOwner:
    """The USB device behind a serial node (a /dev path or a /dev/serial/by-id link)."""
    root, dev = sys_dir or sys_root(), dev_dir or dev_root()
    name = os.path.basename(os.path.realpath(tty_path))
    cls = Path(root) / "class" / "tty" / name
    if not name or not cls.exists():
        return TtyOwner(TtyKind.MISSING, name)
    node = Path(os.path.realpath(cls / "device")) if (cls / "device").exists() else None
    stop = Path(os.path.realpath(root))
    while node is not None and node != stop and stop in node.parents:
        if (node / "idVendor").is_file() and (node / "busnum").is_file():
            found = _read_device(node, _by_id_links(dev), dev)
            return TtyOwner(TtyKind.USB, name, found) if found else TtyOwner(TtyKind.NOT_USB, name)
        node = node.parent
    return TtyOwner(TtyKind.NOT_USB, name)
