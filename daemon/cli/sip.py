"""``hotline sip password EXT``: a new password for a SIP extension, shown once, stored only as its HA1."""
from __future__ import annotations

import argparse
import re
import secrets
import sys

from hotline.drivers.sip.auth import ha1, save_secret

from .common import EX_CONFIG, _err, _load


def _device(cfg, name: str | None) -> dict | None:
    """The SIP device called ``name``, or the only one."""
    sips = [d for d in cfg["devices"] or [] if d.get("driver") == "sip"]
    if name:
        return next((d for d in sips if d.get("name") == name), None)
    return sips[0] if len(sips) == 1 else None


def password_main(args: argparse.Namespace) -> int:
    """Generate a password, write EXT:HA1 into the device's secrets_file, print the password once."""
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,32}", args.extension):
        _err(f"extension {args.extension!r}: letters, digits, '.', '_' or '-' (at most 32)")
        return 2
    path, realm = args.file, args.realm
    if path is None:
        cfg = _load(args)
        dev = _device(cfg, args.device)
        if dev is None:
            _err("no single SIP device in the configuration: name it with --device, or give --file")
            return EX_CONFIG
        path, realm = dev.get("secrets_file"), realm or dev.get("realm") or "hotline"
        if not path:
            _err(f"device {dev.get('name')}: set secrets_file (a path) first")
            return EX_CONFIG
        if args.extension not in [str(e) for e in dev.get("extensions") or []]:
            print(f"note: {args.extension} is not in device {dev.get('name')}'s extensions yet", file=sys.stderr)
    password = args.password or secrets.token_urlsafe(12)
    save_secret(path, args.extension, ha1(args.extension, realm or "hotline", password))
    print(password)
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``hotline sip password EXT [--device NAME | --file PATH --realm R]``."""
    sip = sub.add_parser("sip", help="SIP extensions (IP phones)", parents=[common])
    ssub = sip.add_subparsers(dest="sip_cmd", required=True, metavar="TOOL")
    pw = ssub.add_parser("password", help="give an extension a new generated password (printed once; the box "
                         "keeps only its HA1 in the device's secrets_file); the phone registers with it",
                         parents=[common])
    pw.add_argument("extension")
    pw.add_argument("--device", help="the SIP device (when the configuration has several)")
    pw.add_argument("--file", help="the secrets file to write instead of the configured one")
    pw.add_argument("--realm", default=None, help="digest realm (default: the device's, else hotline)")
    pw.add_argument("--password", help=argparse.SUPPRESS)   # tests: a known password
    pw.set_defaults(fn=password_main)
