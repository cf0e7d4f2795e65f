"""``hotline devices probe``: serial ports, USB voice modems with their profile, DAHDI cards, and a raw ATI exchange
with one port."""
from __future__ import annotations

import argparse
import json
import re
import threading
import time
from dataclasses import dataclass

from ..errors import HotlineError

COMMANDS = ("ATI", "ATI3", "ATI9")
FINAL = re.compile(r"^(OK|ERROR|NO CARRIER|BUSY|NO DIALTONE|NO DIAL TONE|NO ANSWER)$")


@dataclass
class Answer:
    """What one command got back within its time (lines without the echo; None: nothing at all)."""

    command: str
    lines: list[str] | None
    seconds: float


def _exchange(ser, command: str, timeout: float) -> Answer:
    """Send one command and read until a final result code or the timeout."""
    start = time.monotonic()
    ser.write(command.encode("ascii") + b"\r")
    buf = b""
    while time.monotonic() - start < timeout:
        buf += ser.read(256)
        lines = [ln.strip() for ln in buf.decode("latin-1").replace("\r", "\n").split("\n") if ln.strip()]
        if lines and FINAL.match(lines[-1]):
            break
    text = [ln.strip() for ln in buf.decode("latin-1").replace("\r", "\n").split("\n") if ln.strip()]
    if text and text[0].upper() == command.upper():   # the modem echoes commands (E1)
        text = text[1:]
    return Answer(command, text if buf else None, time.monotonic() - start)


def ask_port(port: str, timeout: float, baudrate: int = 115200) -> list[Answer]:
    """Open ``port`` (a device, a by-id link or any pyserial URL), send ATI/ATI3/ATI9 and read the answers; each
    command gets ``timeout`` seconds, and the whole exchange is abandoned if the port itself hangs."""
    import serial
    result: dict[str, object] = {}

    def work() -> None:
        try:
            ser = serial.serial_for_url(port, baudrate=baudrate, timeout=0.05, write_timeout=timeout,
                                        exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            result["error"] = f"cannot open {port}: {exc}"
            return
        try:
            ser.reset_input_buffer()
            result["answers"] = [_exchange(ser, c, timeout) for c in COMMANDS]
        except (serial.SerialException, OSError) as exc:
            result["error"] = f"{port}: {exc}"
        finally:
            ser.close()
    thread = threading.Thread(target=work, name="devices-probe", daemon=True)
    thread.start()
    thread.join(timeout * len(COMMANDS) + 3.0)
    if thread.is_alive():
        raise HotlineError(f"{port}: the port hung (open, write or close did not return); "
                           "unplug the modem or check its driver")
    if "error" in result:
        raise HotlineError(str(result["error"]))
    return list(result["answers"])  # type: ignore[arg-type]


def _print_lists(serial_ports: list[dict], usb: list[dict]) -> None:
    print("Serial ports:")
    for p in serial_ports:
        extra = f"  USB {p['usb_id']}" if p["usb_id"] else ""
        print(f"  {p['port']:<24} {p['description']}{extra}")
    if not serial_ports:
        print("  (none)")
    known = [d for d in usb if d["known"]]
    other = [d for d in usb if not d["known"]]
    print("USB voice/fax modems:")
    for d in known:
        state = d["kind"].replace("_", " ") + ("" if d["usable"] else ", NOT usable: " + (d["note"] or "no serial node"))
        print(f"  {d['port'] or '(no serial node)'}")
        print(f"      {d['usb_id']}  {d['name']}  profile {d['profile']}  ({state}; tty {d['tty']}, "
              f"USB port {d['usb_port']})")
    if not known:
        print("  (none of the modems Hotline knows is plugged in)")
    if other:
        print("Other USB devices with a serial node (profile auto):")
        for d in other:
            print(f"  {d['port']}\n      {d['usb_id']}  {d['name']}  (tty {d['tty']}, USB port {d['usb_port']})")
    first = next((d for d in known if d["usable"]), None)
    if first is not None:
        print("To use it, add to the devices: list of hotline.yaml:")
        print(f"  - name: modem0\n    driver: modem\n    port: {first['port']}\n    number: \"8001\"\n"
              f"    profile: {first['profile']}")


def _print_dahdi(cards: list[dict]) -> None:
    from hotline.drivers.dahdi.discover import yaml_entry
    print("DAHDI cards (from /proc/dahdi and /etc/dahdi/system.conf):")
    for c in cards:
        alarms = f"  ALARM {c['alarms']}" if c["alarms"] else ""
        e1 = f"  e1 {c['e1']} ({c['signalling']})" if c.get("e1") else ""
        print(f"  {c['card']}: fxo {c.get('fxo') or '-'}  fxs {c.get('fxs') or '-'}{e1}  zone {c['country']}  "
              f"spans {c['spans']}{alarms}")
    if not cards:
        print("  (none: no DAHDI kernel module loaded, or no analog channel configured by dahdi_cfg)")
    else:
        print("To use it, add to the devices: list of hotline.yaml:")
        print(yaml_entry(cards[0]), end="")


def cmd_probe(args: argparse.Namespace) -> int:
    """List serial ports, USB modems and DAHDI cards; with --port, ask that port who it is."""
    from hotline.drivers.dahdi.discover import probe as dahdi_probe
    from hotline.drivers.usb.discover import probe_devices, serial_ports
    ports, usb, dahdi = serial_ports(), probe_devices(include_unknown=True), dahdi_probe()
    answers = ask_port(args.port, args.timeout) if args.port else None
    if args.json:
        doc: dict = {"serial_ports": ports, "usb": usb, "dahdi": dahdi}
        if answers is not None:
            doc["port"] = {"port": args.port, "answers": [a.__dict__ for a in answers]}
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        _print_lists(ports, usb)
        _print_dahdi(dahdi)
        if answers is not None:
            print(f"{args.port}: {', '.join(COMMANDS)} ({args.timeout:g} s each)")
            for a in answers:
                said = " | ".join(a.lines) if a.lines else "(no answer)" if a.lines is None else "(empty)"
                print(f"  {a.command:<5} -> {said}")
    if answers is not None and not any(a.lines for a in answers):
        print(f"hotline: {args.port} did not answer: wrong port, modem off, wrong speed, or wedged "
              "(a USB modem can be reset by unplugging it)")
        return 1
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``hotline devices probe``."""
    dv = sub.add_parser("devices", parents=[common],
                        help="hardware on this box: serial ports, USB voice modems, DAHDI cards")
    actions = dv.add_subparsers(dest="action", metavar="ACTION", required=True)
    pr = actions.add_parser("probe", parents=[common],
                            help="list serial ports, USB modems (with profile) and DAHDI cards; --port asks one port "
                                 "ATI/ATI3/ATI9")
    pr.add_argument("--port", help="a serial device, /dev/serial/by-id name or pyserial URL to send ATI/ATI3/ATI9 to")
    pr.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for each answer (default 1)")
    pr.add_argument("--json", action="store_true", help="one JSON object")
    pr.set_defaults(fn=cmd_probe)
