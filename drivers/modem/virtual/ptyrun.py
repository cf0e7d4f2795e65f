"""Run a virtual modem on a pseudo-terminal for real modem software, scripted through a small control socket.

    python -P -m hotline.drivers.modem.virtual.ptyrun --profile default --link /dev/ttyVM0 --control /tmp/vm.sock
    python -P -m hotline.drivers.modem.virtual.ptyrun ctl /tmp/vm.sock ring caller_id=5551234 name=ALICE rings=4
    python -P -m hotline.drivers.modem.virtual.ptyrun ctl /tmp/vm.sock heard path=/tmp/heard.wav

The control socket speaks JSON lines: {"op": "ring", "caller_id": "5551234"} -> {"ok": true, "result": ...}.
A pty has no flow-control lines: the runner reads the DTE's audio only as fast as the modem plays it, so
the pty's buffer fills and the DTE's write() blocks, as CTS would make it.
"""
from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import sys
import threading
import tty
import wave
from pathlib import Path

import numpy as np

from hotline.drivers.modem.profiles import PROFILES
from hotline.drivers.modem.virtual import lines
from hotline.drivers.modem.virtual.far_end import CallState


class PtyModem:
    """A VirtualModem whose DTE side is the slave end of a pty (optionally symlinked to `link`).

    Unplugging the modem (far end unplug(), or the control op) closes the pty as a USB unplug removes the
    device: the program on it reads EIO, the slave path and the link vanish; replug() makes a new pty and
    points the link at it (a stable name, as /dev/serial/by-id gives a real modem).
    """

    def __init__(self, profile: str, name: str | None = None, link: str | None = None) -> None:
        self.name = name or profile
        self.modem = lines.modem_for(self.name, PROFILES[profile])
        self.far = lines.far_end(self.name)
        self.link = link
        self._fd_lock = threading.Lock()      # guards master/slave: never read or write a closed (reused) fd
        self.master = self.slave = -1
        self.path = ""
        self._open_pty()
        self.modem.plug_listeners.append(self._plugged)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._from_dte_thread, daemon=True, name=f"pty-in-{self.name}"),
                         threading.Thread(target=self._to_dte_thread, daemon=True, name=f"pty-out-{self.name}")]
        for t in self._threads:
            t.start()

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        with self._fd_lock:
            self.master, self.slave = master, slave
            self.path = os.ttyname(slave)
        if self.link:
            if os.path.islink(self.link):
                os.unlink(self.link)
            os.symlink(self.path, self.link)

    def _close_pty(self) -> None:
        with self._fd_lock:
            fds, self.master, self.slave = (self.master, self.slave), -1, -1
            for fd in fds:
                if fd >= 0:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
        if self.link and os.path.islink(self.link):
            os.unlink(self.link)

    def _plugged(self, plugged: bool) -> None:
        """The modem was unplugged or plugged back in: the pty goes away or comes back."""
        if self._stop.is_set():
            return
        if not plugged:
            self._close_pty()
        elif self.master < 0:
            self._open_pty()

    def unplug(self) -> None:
        """Unplug the modem: the pty closes and its path (and link) vanish."""
        self.far.unplug()

    def replug(self) -> None:
        """Plug it back: a new pty (the link follows it), the modem reset to power-on state."""
        self.far.replug()

    def _io(self, fn, fd: int, *args):
        """Run os.read/os.write on `fd` unless the pty was closed (or replaced) meanwhile; None then."""
        with self._fd_lock:
            if fd < 0 or fd != self.master:
                return None
            return fn(fd, *args)

    def _from_dte_thread(self) -> None:
        while not self._stop.is_set():
            room = self.modem.tx_room()
            if room == 0:
                self.modem.wait_room(0.2)
                continue
            fd = self.master
            if fd < 0:
                self._stop.wait(0.05)
                continue
            try:
                ready, _, _ = select.select([fd], [], [], 0.2)
                if not ready:
                    continue
                data = self._io(os.read, fd, min(room, 4096))
            except BlockingIOError:
                continue
            except (OSError, ValueError):
                if self._stop.wait(0.1):
                    return
                continue
            if data and self.modem.plugged:
                self.modem.from_dte(data)

    def _to_dte_thread(self) -> None:
        pending = b""
        while not self._stop.is_set():
            if not pending:
                pending = self.modem.read_to_dte(4096, 0.2)
                if not pending:
                    continue
            fd = self.master
            if fd < 0:
                pending = b""   # nobody is there to read it
                continue
            try:
                _, ready, _ = select.select([], [fd], [], 0.2)
                if not ready:
                    continue
                sent = self._io(os.write, fd, pending)
            except BlockingIOError:
                continue
            except (OSError, ValueError):
                if self._stop.wait(0.1):
                    return
                continue
            pending = b"" if sent is None else pending[sent:]

    def close(self) -> None:
        """Stop the threads, close the pty, remove the link and forget the line."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        if self._plugged in self.modem.plug_listeners:
            self.modem.plug_listeners.remove(self._plugged)
        self._close_pty()
        lines.forget(self.name)


def _write_wav(path: str, pcm: np.ndarray) -> None:
    with wave.open(path, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(pcm.astype("<i2").tobytes())


def control(pty_modem: PtyModem, request: dict) -> object:
    """Run one control request against the far end (or modem status); return a JSON-able result."""
    far, op = pty_modem.far, request.get("op")
    args = {k: v for k, v in request.items() if k != "op"}
    simple = {"answer", "silence", "busy_tone", "dial_tone", "cng", "hangup", "no_carrier", "unplug", "replug"}
    # unplug/replug go through the modem, which closes and re-creates the pty (see PtyModem)
    if op in simple:
        getattr(far, op)()
        return None
    if op == "ring":
        far.ring(args.get("caller_id", "5551234"), args.get("name"), int(args.get("rings", 10)),
                 float(args.get("period", 6.0)))
        return None
    if op == "send_dtmf":
        far.send_dtmf(str(args["digits"]))
        return None
    if op == "speak":
        return far.speak(str(args["path"]))
    if op == "heard":
        pcm = far.heard(bool(args.get("clear", False)))
        if "path" in args:
            _write_wav(str(args["path"]), pcm)
        return {"seconds": pcm.size / 8000, "peak": int(np.abs(pcm.astype(np.int32)).max()) if pcm.size else 0}
    if op == "garbage":
        far.garbage(bytes.fromhex(str(args["hex"])))
        return None
    if op == "stall":
        far.stall(float(args["seconds"]))
        return None
    if op == "stuck_echo":
        far.stuck_echo = bool(args.get("on", True))
        return None
    if op == "wait_for":
        return far.wait_for(CallState(args["state"]), float(args.get("timeout", 10)))
    if op == "wait_dialled":
        return far.wait_dialled(float(args.get("timeout", 10)))
    if op == "fax":     # a fax machine at the far end (class 2/2.0): answers the modem's calls, or sends pages
        from hotline.drivers.modem.virtual.far_fax import FarFax
        far.fax = FarFax(ident=str(args.get("ident", "+86 10 5555 0100")))
        return far.fax.load(Path(str(args["send"]))) if "send" in args else 0
    if op == "fax_received":
        return far.fax.save_received(Path(str(args["path"]))) if far.fax is not None else 0
    if op == "status":
        return {**pty_modem.modem.status(), "pty": pty_modem.path, "dialled": far.dialled}
    raise ValueError(f"unknown op {op!r}")


def serve_control(pty_modem: PtyModem, path: str, stop: threading.Event) -> None:
    """Answer JSON-line requests on a UNIX socket until `stop` is set (one client at a time)."""
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)
    server.settimeout(0.2)
    try:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except socket.timeout:
                continue
            with conn, conn.makefile("rw", encoding="utf-8") as stream:
                for line in stream:
                    try:
                        reply = {"ok": True, "result": control(pty_modem, json.loads(line))}
                    except Exception as exc:  # noqa: BLE001 - every bad request gets an answer, never a crash
                        reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                    stream.write(json.dumps(reply) + "\n")
                    stream.flush()
    finally:
        server.close()
        if os.path.exists(path):
            os.unlink(path)


def ctl(path: str, op: str, /, **args: object) -> object:
    """Send one request to a running ptyrun's control socket and return its result (RuntimeError on failure)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(120)
        sock.connect(path)
        with sock.makefile("rw", encoding="utf-8") as stream:
            stream.write(json.dumps({"op": op, **args}) + "\n")
            stream.flush()
            reply = json.loads(stream.readline())
    if not reply.get("ok"):
        raise RuntimeError(f"ptyrun {op}: {reply.get('error')}")
    return reply.get("result")


def _parse_value(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def main(argv: list[str] | None = None) -> int:
    """Command line: run a modem on a pty, or (ctl) send one control request."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "ctl":
        if len(argv) < 3:
            print("usage: ptyrun ctl SOCKET OP [key=value ...]", file=sys.stderr)
            return 2
        args = dict(a.split("=", 1) for a in argv[3:])
        print(json.dumps(ctl(argv[1], argv[2], **{k: _parse_value(v) for k, v in args.items()})))
        return 0
    parser = argparse.ArgumentParser(prog="ptyrun", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default", choices=sorted(PROFILES))
    parser.add_argument("--name", help="line name (default: the profile name)")
    parser.add_argument("--link", help="symlink to create for the pty (e.g. /dev/ttyVM0)")
    parser.add_argument("--control", help="UNIX socket for far-end control (JSON lines)")
    opts = parser.parse_args(argv)
    runner = PtyModem(opts.profile, opts.name, opts.link)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(json.dumps({"pty": runner.path, "link": opts.link, "control": opts.control, "pid": os.getpid()}), flush=True)
    try:
        if opts.control:
            serve_control(runner, opts.control, stop)
        else:
            stop.wait()
    finally:
        runner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
