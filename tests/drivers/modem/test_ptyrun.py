"""The pty runner: real bytes on a pseudo-terminal, the far end scripted through its control socket."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hotline.drivers.modem.virtual.ptyrun import ctl


def _read_until(fd: int, needle: bytes, timeout: float = 5.0) -> bytes:
    got = bytearray()
    deadline = time.monotonic() + timeout
    while needle not in got:
        left = deadline - time.monotonic()
        assert left > 0, f"{needle!r} not seen; got {bytes(got)!r}"
        if select.select([fd], [], [], min(left, 0.2))[0]:
            got += os.read(fd, 4096)
    return bytes(got)


@pytest.fixture
def runner(tmp_path: Path):
    """`python -m hotline.drivers.modem.virtual.ptyrun` with a control socket; yields (info, socket, process)."""
    sock = str(tmp_path / "vm.sock")
    proc = subprocess.Popen([sys.executable, "-P", "-m", "hotline.drivers.modem.virtual.ptyrun",
                             "--profile", "emu-half", "--name", "pt", "--control", sock],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        yield info, sock, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)


def test_pty_speaks_at_and_control_socket_rings(runner) -> None:
    """Software on the pty gets ATI3 answered and RING with caller ID; the socket reports state and bad requests."""
    info, sock, proc = runner
    fd = os.open(info["pty"], os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, b"ATE0\r")
        _read_until(fd, b"OK\r\n")
        os.write(fd, b"ATI3\r")
        assert _read_until(fd, b"OK\r\n") == b"\r\nHotline virtual modem emu-half\r\n\r\nOK\r\n"
        os.write(fd, b"AT+VCID=1\r")
        _read_until(fd, b"OK\r\n")
        assert ctl(sock, "ring", caller_id="5550000", name="BOB", rings=3, period=1.0) is None
        text = _read_until(fd, b"NAME = BOB\r\n")
        assert b"RING" in text and b"NMBR = 5550000" in text
        status = ctl(sock, "status")
        assert status["profile"] == "emu-half" and status["far_state"] == "ringing" and status["pty"] == info["pty"]
        with pytest.raises(RuntimeError, match="unknown op 'fly'"):
            ctl(sock, "fly")
    finally:
        os.close(fd)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert not os.path.exists(sock)


def test_ctl_command_line(runner) -> None:
    """`ptyrun ctl SOCKET OP key=value` prints the JSON result (what a technician types)."""
    _, sock, _ = runner
    out = subprocess.run([sys.executable, "-P", "-m", "hotline.drivers.modem.virtual.ptyrun", "ctl", sock, "status"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert json.loads(out)["state"] == "command"
