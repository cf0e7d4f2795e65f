"""etc/udev/70-hotline-modems.rules: generated from the table, well-formed as udev reads it, complete.

Debian 12's systemd 252 has no ``udevadm verify`` (new in 254) and this machine has no udev daemon or USB
bus, so the file is checked by a parser of udev's rule syntax (udev(7)): keys, operators, labels."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from hotline.drivers.usb import ids
from hotline.drivers.usb.udev import RULE_FILE, render

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "etc" / "udev" / RULE_FILE

MATCH_KEYS = {"ACTION", "DEVPATH", "KERNEL", "NAME", "SYMLINK", "SUBSYSTEM", "DRIVER", "ATTR", "SYSCTL", "KERNELS",
              "SUBSYSTEMS", "DRIVERS", "ATTRS", "TAGS", "TAG", "ENV", "CONST", "TEST", "PROGRAM", "RESULT"}
ASSIGN_KEYS = {"NAME", "SYMLINK", "OWNER", "GROUP", "MODE", "SECLABEL", "ATTR", "SYSCTL", "ENV", "TAG", "RUN",
               "LABEL", "GOTO", "IMPORT", "OPTIONS"}
# KEY or KEY{attr}, an operator, a double-quoted value; pairs separated by commas
PAIR = re.compile(r'\s*([A-Z_]+)(?:\{([^}]*)\})?\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse(text: str) -> list[tuple[int, list[tuple[str, str, str, str]]]]:
    """Rules as (line number, [(key, attribute, operator, value)]); raises ValueError naming the line."""
    rules = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs, pos = [], 0
        while pos < len(line):
            m = PAIR.match(line, pos)
            if not m:
                raise ValueError(f"{RULE_FILE}:{n}: cannot read {line[pos:]!r}")
            key, attr, op, value, _ = m.groups()
            if op in ("==", "!="):
                if key not in MATCH_KEYS:
                    raise ValueError(f"{RULE_FILE}:{n}: {key} cannot be matched")
            elif key not in ASSIGN_KEYS:
                raise ValueError(f"{RULE_FILE}:{n}: {key} cannot be assigned")
            if key in ("ATTR", "ATTRS", "ENV", "IMPORT") and not attr:
                raise ValueError(f"{RULE_FILE}:{n}: {key} needs {{...}}")
            if key == "MODE" and not re.fullmatch(r"0[0-7]{3}", value):
                raise ValueError(f"{RULE_FILE}:{n}: MODE {value!r}")
            pairs.append((key, attr or "", op, value))
            pos = m.end()
        rules.append((n, pairs))
    return rules


def test_the_shipped_rule_file_is_what_the_table_generates():
    """Edit drivers/usb/ids.py, then regenerate: python -m hotline.drivers.usb.udev > etc/udev/...rules."""
    assert RULES.read_text(encoding="utf-8") == render(), \
        f"{RULES} is out of date: python -m hotline.drivers.usb.udev > etc/udev/{RULE_FILE}"


def test_the_rule_file_parses_and_every_goto_has_its_label():
    """Every line is KEY[{attr}] OP "value" pairs udev accepts; GOTOs point at LABELs further down."""
    rules = parse(RULES.read_text(encoding="utf-8"))
    labels = {v: n for n, pairs in rules for k, _, _, v in pairs if k == "LABEL"}
    for n, pairs in rules:
        for k, _, _, v in pairs:
            if k == "GOTO":
                assert v in labels and labels[v] > n, f"line {n}: GOTO {v} has no LABEL after it"


def test_the_parser_catches_mistakes():
    """The checker above can fail: a typo'd operator, an unknown key, a bad mode, an unquoted value."""
    for bad in ('SUBSYSTEM="tty", GOTO="x"x', 'FOO=="1"', 'MODE="660"', 'ATTRS{idVendor}==0baf',
                'ENV="1"', 'SUBSYSTEM=~"tty"'):
        with pytest.raises(ValueError):
            parse(bad)


def test_every_usable_modem_of_the_table_is_in_the_rule_and_soft_modems_are_not():
    """Each usable VID:PID has a tty rule (profile, stable name) and a usb_device rule (dialout for the reset)."""
    rules = parse(RULES.read_text(encoding="utf-8"))

    def ids_in(attr_key: str) -> dict[tuple[int, int], list[tuple[str, str, str, str]]]:
        out = {}
        for _, pairs in rules:
            got = {a: v for k, a, op, v in pairs if k == attr_key and op == "=="}
            if "idVendor" in got and "idProduct" in got:
                out[(int(got["idVendor"], 16), int(got["idProduct"], 16))] = pairs
        return out
    tty, usb_dev = ids_in("ATTRS"), ids_in("ATTR")
    for d in ids.KNOWN:
        key = (d.vid, d.pid)
        if not d.usable:
            assert key not in tty and key not in usb_dev, d
            continue
        assert ("ENV", "HOTLINE_MODEM_PROFILE", "=", d.profile) in tty[key], d
        assert ("ENV", "ID_MM_DEVICE_IGNORE", "=", "1") in usb_dev[key] and ("GROUP", "", "=", "dialout") in usb_dev[key]
    flat = [p for _, pairs in rules for p in pairs]
    assert ("ENV", "ID_MM_DEVICE_IGNORE", "=", "1") in flat
    assert any(k == "SYMLINK" and op == "+=" and v.startswith("hotline/modem-$env{ID_SERIAL_SHORT}")
               for k, _, op, v in flat)

