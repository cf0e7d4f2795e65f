"""``hotline devices probe``: lists USB modems from sysfs with their profile, and asks a port ATI/ATI3/ATI9 with a
bounded wait (a pty with a scripted modem on the far side; a dead pty; a missing port)."""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time

ANSWERS = {b"ATI": b"U.S. Robotics 56K FAX USB V1.2.23", b"ATI3": b"U.S. Robotics 56K FAX USB", b"ATI9": b""}


def run(hotline_bin: str, usb_tree, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOTLINE_SYS_ROOT": str(usb_tree.sys), "HOTLINE_DEV_ROOT": str(usb_tree.dev)}
    return subprocess.run([hotline_bin, "devices", "probe", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


class PtyModem:
    """A pty whose far side answers like a USR modem in echo mode (E1): command echo, info line, OK."""

    def __init__(self, answer: bool = True):
        self.master, slave = os.openpty()
        self.path = os.ttyname(slave)
        os.close(slave)
        self.answer, self.stop = answer, threading.Event()
        self.heard: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        buf = b""
        while not self.stop.is_set():
            try:
                buf += os.read(self.master, 256)
            except OSError:
                time.sleep(0.01)   # no reader on the other side yet (EIO)
                continue
            while b"\r" in buf:
                line, buf = buf.split(b"\r", 1)
                self.heard.append(line)
                if self.answer:
                    info = ANSWERS.get(line.strip(), None)
                    reply = line + b"\r\r\n" + (info + b"\r\n\r\n" if info else b"") + (b"OK" if info is not None
                                                                                       else b"ERROR") + b"\r\n"
                    os.write(self.master, reply)

    def close(self) -> None:
        self.stop.set()
        os.close(self.master)


def test_probe_lists_a_known_usb_modem_with_its_profile_and_config_snippet(hotline_bin, usb_tree):
    """The USR5637 in the sysfs tree is listed with its by-id name and profile usr, and a devices: entry to paste."""
    plugged = usb_tree.add(0x0BAF, 0x0303, "1-4", address=7, manufacturer="U.S. Robotics", product="USB Modem",
                           serial="0000001")
    usb_tree.add(0x0403, 0x6001, "1-5", address=8, tty="ttyUSB0", kind="usbserial", serial="FT1")
    proc = run(hotline_bin, usb_tree)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"  {plugged.by_id}\n      0baf:0303  U.S. Robotics USR5637 56K Faxmodem  profile usr" in out
    assert "Other USB devices with a serial node" in out and "0403:6001" in out
    assert f"    driver: modem\n    port: {plugged.by_id}\n" in out and "    profile: usr" in out
    doc = json.loads(run(hotline_bin, usb_tree, "--json").stdout)
    assert [(d["usb_id"], d["profile"], d["known"]) for d in doc["usb"]] == [("0baf:0303", "usr", True),
                                                                          ("0403:6001", "auto", False)]


def test_probe_asks_a_port_ati_ati3_ati9_and_prints_the_answers(hotline_bin, usb_tree):
    """A port that answers: each command's lines are shown without the echo."""
    modem = PtyModem()
    try:
        proc = run(hotline_bin, usb_tree, "--port", modem.path, "--timeout", "2")
    finally:
        modem.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ATI   -> U.S. Robotics 56K FAX USB V1.2.23 | OK" in proc.stdout
    assert "ATI3  -> U.S. Robotics 56K FAX USB | OK" in proc.stdout
    assert "ATI9  -> OK" in proc.stdout
    assert modem.heard == [b"ATI", b"ATI3", b"ATI9"]


def test_a_dead_port_is_reported_within_the_bound_and_never_hangs(hotline_bin, usb_tree):
    """Nobody answers: 3 commands x 0.5 s, then a clear 'did not answer' and status 1."""
    modem = PtyModem(answer=False)
    try:
        start = time.monotonic()
        proc = run(hotline_bin, usb_tree, "--port", modem.path, "--timeout", "0.5")
        took = time.monotonic() - start
    finally:
        modem.close()
    assert proc.returncode == 1
    assert proc.stdout.count("(no answer)") == 3 and "did not answer" in proc.stdout
    assert took < 1.5 + 5.0, f"took {took:.1f} s"   # 1.5 s of waiting plus the interpreter's start-up


def test_a_missing_port_is_a_clear_error(hotline_bin, usb_tree):
    """A path that does not exist: the error names it, status 1, no traceback."""
    proc = run(hotline_bin, usb_tree, "--port", str(usb_tree.dev / "ttyACM7"))
    assert proc.returncode == 1 and "cannot open" in proc.stderr and "ttyACM7" in proc.stderr
    assert "Traceback" not in proc.stderr
