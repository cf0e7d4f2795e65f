"""Shared by the modem driver tests: a byte-level scripted modem (a pyserial-like object), also served on a
loopback TCP port so a real daemon can open it as ``socket://`` (pyserial's own URL handler)."""
from __future__ import annotations

import socket
import threading
import time

import pytest
import serial

from hotline.drivers.modem import profiles


def answers_for(p: profiles.ChipsetProfile) -> dict[str, str]:
    """What a modem of this profile answers (information lines; OK is added)."""
    prefix = "+VSM: " if p.quirks & profiles.Quirk.VSM_PREFIX else ""
    table = {"ATI": p.ati, "ATI3": p.ati3, "ATI9": p.ati9, "AT+FCLASS=?": ",".join(p.fclass),
             "AT+VSM=?": "\r\n".join(prefix + f.vsm_line() for f in p.formats),
             "AT+VTX": "CONNECT", "AT+VRX": "CONNECT", "AT+VLS=1": "VCON"}
    table["AT+VTR"] = "CONNECT" if p.full_duplex else "ERROR"
    if p.caller_id_command == "AT#CID=1":
        table["AT+VCID=1"] = "ERROR"
    return table


class ScriptedModem:
    """A pyserial-like object: AT commands answered from a table, bytes for the host queued by the test, data mode
    after CONNECT (DLE-shielded audio in; DLE ETX / DLE ! end it), and fault switches."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers
        self.cond = threading.Condition()
        self.inbox = bytearray()
        self.commands: list[str] = []
        self.audio = bytearray()
        self.written = bytearray()
        self.audio_times: list[tuple[float, int]] = []
        self.line = bytearray()
        self.data_mode = False
        self.dle = False
        self.unplugged = self.stalled = self.echo = False
        self.timeout = 0.01
        self.events: list[tuple[float, str]] = []  # commands and data-mode switches with their times

    # the pyserial surface the Port uses
    @property
    def in_waiting(self) -> int:
        self._check()
        return len(self.inbox)

    def read(self, n: int = 1) -> bytes:
        self._check()
        with self.cond:
            if not self.inbox:
                self.cond.wait(self.timeout)
            out = bytes(self.inbox[:n])
            del self.inbox[:n]
            return out

    def write(self, data: bytes) -> int:
        self._check()
        self.written += data
        for b in data:
            self._byte(b)
        return len(data)

    def close(self) -> None:
        pass

    def _check(self) -> None:
        if self.unplugged:
            raise serial.SerialException("device reports readiness to read but returned no data (unplugged)")

    # the test's side
    def send(self, data: bytes | str) -> None:
        """Bytes from the modem to the host."""
        with self.cond:
            self.inbox += data.encode() if isinstance(data, str) else data
            self.cond.notify_all()

    def result(self, text: str) -> None:
        self.send(f"\r\n{text}\r\n")

    def _byte(self, b: int) -> None:
        if self.data_mode:
            if self.dle:
                self.dle = False
                if b == 0x10:
                    self._audio(0x10)
                elif b in (0x03, ord("!"), ord("^")):
                    self.data_mode = False
                    self.events.append((time.monotonic(), f"end {chr(b) if b != 3 else 'ETX'}"))
                    if b == 0x03:
                        self.result("VCON")
                    else:
                        self.send(b"\x10\x03")
                        self.result("OK")
                return
            if b == 0x10:
                self.dle = True
                return
            self._audio(b)
            return
        if self.stalled:
            return
        if b in (0x0D, 0x0A):
            cmd = self.line.decode("ascii", "replace").strip()
            self.line.clear()
            if cmd:
                self._command(cmd)
        else:
            self.line.append(b)

    def _audio(self, b: int) -> None:
        self.audio.append(b)
        self.audio_times.append((time.monotonic(), len(self.audio)))

    def _command(self, cmd: str) -> None:
        self.commands.append(cmd)
        self.events.append((time.monotonic(), cmd))
        if self.echo:
            self.send(cmd + "\r")
        reply = self.answers.get(cmd.upper(), "OK")
        if cmd == "+++":
            reply = "OK"
        lines = reply.split("\r\n")
        if lines[-1] not in ("OK", "ERROR", "CONNECT", "VCON", "NO CARRIER", "BUSY"):
            lines.append("OK")
        for ln in lines:
            self.result(ln)
        if lines[-1] == "CONNECT" and cmd.upper() in ("AT+VTX", "AT+VRX", "AT+VTR"):
            self.data_mode = True


class ServedModem:
    """A ScriptedModem behind a loopback TCP socket: ``url`` is what a daemon's ``port:`` setting opens."""

    def __init__(self, modem: ScriptedModem):
        self.modem = modem
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.server.settimeout(0.2)
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            conn.settimeout(0.05)
            threading.Thread(target=self._to_host, args=(conn,), daemon=True).start()
            while not self.stop.is_set():
                try:
                    data = conn.recv(4096)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not data:
                    break
                self.modem.write(data)
            conn.close()

    def _to_host(self, conn: socket.socket) -> None:
        while not self.stop.is_set():
            data = self.modem.read(4096)
            if data:
                try:
                    conn.sendall(data)
                except OSError:
                    return

    def close(self) -> None:
        self.stop.set()
        self.server.close()


@pytest.fixture
def scripted_modem():
    """A factory: ScriptedModem answering like the named chipset profile."""
    return lambda profile: ScriptedModem(answers_for(profiles.PROFILES[profile]))


@pytest.fixture
def served_modem(scripted_modem):
    """A factory: a ScriptedModem of a profile served on a loopback ``socket://`` URL."""
    made: list[ServedModem] = []

    def make(profile: str) -> ServedModem:
        made.append(ServedModem(scripted_modem(profile)))
        return made[-1]
    yield make
    for m in made:
        m.close()
