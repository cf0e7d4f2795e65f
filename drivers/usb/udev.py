"""Writes etc/udev/70-hotline-modems.rules from the ID table: stable names, dialout access, ModemManager off.

Run ``python -m hotline.drivers.usb.udev > etc/udev/70-hotline-modems.rules`` after changing ids.py;
tests/usb/test_udev_rule.py fails while the shipped file and the table disagree.
"""
from __future__ import annotations

import sys

from .ids import KNOWN, KnownDevice

RULE_FILE = "70-hotline-modems.rules"

HEADER = f"""\
# {RULE_FILE}: USB voice/fax modems known to Hotline (generated from drivers/usb/ids.py by
# `python -m hotline.drivers.usb.udev`; edit the table, not this file). scripts/install puts it in
# /etc/udev/rules.d/. For each known modem:
#   - its serial node gets a stable name, /dev/hotline/modem-<USB serial number>, or, for modems
#     without one, /dev/hotline/modem-<USB socket path> (stays the same while it stays in that socket);
#   - ModemManager leaves it alone (ID_MM_DEVICE_IGNORE=1): it would otherwise probe the port with AT
#     commands and fight the daemon for it;
#   - group dialout may use the serial node and /dev/bus/usb/BBB/DDD (the USB reset of a wedged modem).
# Numbered 70 so the builtins and names of 60-serial.rules exist, and before ModemManager's 77-mm-*.
"""


def _ids(dev: KnownDevice, attrs: str) -> str:
    return f'{attrs}{{idVendor}}=="{dev.vid:04x}", {attrs}{{idProduct}}=="{dev.pid:04x}"'


def render(devices: tuple[KnownDevice, ...] = KNOWN) -> str:
    """The rule file's text for the usable devices of the table."""
    usable = [d for d in devices if d.usable]
    out = [HEADER, 'ACTION=="remove", GOTO="hotline_modems_end"',
           'SUBSYSTEM=="tty", GOTO="hotline_modems_tty"',
           'SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", GOTO="hotline_modems_usb"',
           'GOTO="hotline_modems_end"', "", 'LABEL="hotline_modems_tty"']
    for d in usable:
        out.append(f"# {d.id} {d.name}")
        out.append(f'{_ids(d, "ATTRS")}, ENV{{HOTLINE_MODEM_PROFILE}}="{d.profile}"')
    out += ['ENV{HOTLINE_MODEM_PROFILE}!="?*", GOTO="hotline_modems_end"',
            'ENV{ID_MM_DEVICE_IGNORE}="1", GROUP="dialout", MODE="0660"',
            'IMPORT{builtin}="usb_id"',
            'IMPORT{builtin}="path_id"',
            'ENV{ID_SERIAL_SHORT}=="?*", SYMLINK+="hotline/modem-$env{ID_SERIAL_SHORT}"',
            'ENV{ID_SERIAL_SHORT}!="?*", ENV{ID_PATH_TAG}=="?*", SYMLINK+="hotline/modem-$env{ID_PATH_TAG}"',
            'GOTO="hotline_modems_end"', "", 'LABEL="hotline_modems_usb"']
    for d in usable:
        out.append(f'{_ids(d, "ATTR")}, ENV{{ID_MM_DEVICE_IGNORE}}="1", GROUP="dialout", MODE="0660"')
    out += ["", 'LABEL="hotline_modems_end"', ""]
    return "\n".join(out)


def main() -> int:
    """Print the rule file."""
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
