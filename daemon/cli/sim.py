"""``hotline sim ...``: the QA API from the command line (talks HTTP to the running daemon)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from ..box.config import config_path, load_config
from ..errors import HotlineError


def _target(args: argparse.Namespace) -> tuple[str, str]:
    cfg = load_config(config_path(args.config))
    host, port = cfg.listen
    url = args.url or f"http://{host}:{port}"
    token = args.token or os.environ.get("HOTLINE_TOKEN")
    if not token:
        token_file = cfg.state_dir / "qa-token"
        if token_file.exists():
            token = token_file.read_text().strip()
    if not token:
        raise HotlineError("no API token: pass --token, set HOTLINE_TOKEN, or create one with "
                           "'hotline user add NAME --role qa --token'")
    return url.rstrip("/"), token


def _request(args: argparse.Namespace, method: str, path: str, body: object = None) -> tuple[int, bytes]:
    url, token = _target(args)
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + "/api/v1" + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as exc:
        raise HotlineError(f"cannot reach the daemon at {url}: {exc}") from None


def _show(status: int, payload: bytes) -> int:
    try:
        doc = json.loads(payload)
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    except ValueError:
        sys.stdout.buffer.write(payload)
    return 0 if status < 400 else 1


def _poll(args: argparse.Namespace, path: str, found: Callable[[dict], object], what: str) -> int:
    """Poll a QA API document until ``found`` returns something (printed), or the timeout (exit 1)."""
    deadline = time.monotonic() + args.timeout
    doc: dict = {}
    while True:
        status, payload = _request(args, "GET", path)
        if status >= 400:
            return _show(status, payload)
        doc = json.loads(payload)
        hit = found(doc)
        if hit is not None:
            print(json.dumps(hit, ensure_ascii=False))
            return 0
        if time.monotonic() > deadline:
            print(f"hotline sim wait: no {what} within {args.timeout:g} s (now: {doc.get('state')})", file=sys.stderr)
            return 1
        time.sleep(0.1)


def _wait_call(args: argparse.Namespace) -> int:
    """``hotline sim wait ID STATE_OR_EVENT``."""
    def found(doc: dict) -> object:
        if doc.get("state") == args.what:
            return {"id": args.id, "state": args.what}
        return next((e for e in doc.get("events", []) if e.get("kind") == args.what), None)
    return _poll(args, f"/sim/calls/{args.id}", found, args.what)


def _wait_station(args: argparse.Namespace) -> int:
    """``hotline sim wait-station EXT STATE``."""
    def found(doc: dict) -> object:
        return next((s for s in doc.get("stations", []) if s["extension"] == args.ext
                     and s["state"] == args.state), None)
    return _poll(args, "/sim/stations", found, f"{args.state} station {args.ext}")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``hotline sim`` and its actions."""
    sim = sub.add_parser("sim", help="drive the simulated card's callers and phones (QA)", parents=[common])
    sim.add_argument("--url", help="daemon base URL (default from web.listen)")
    sim.add_argument("--token", help="QA API token (default $HOTLINE_TOKEN or <state>/qa-token)")
    ss = sim.add_subparsers(dest="sim_cmd", required=True, metavar="ACTION")

    def add(name: str, help_: str, fn) -> argparse.ArgumentParser:
        p = ss.add_parser(name, help=help_, parents=[common])
        p.add_argument("--url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.add_argument("--token", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.set_defaults(fn=fn)
        return p

    def call(a: argparse.Namespace) -> int:
        body = {"from": a.caller, "name": a.name, "to": a.to, **({"line": a.line} if a.line else {})}
        status, payload = _request(a, "POST", "/sim/calls", body)
        if a.quiet and status < 400:
            print(json.loads(payload)["id"])  # for scripts: id=$(hotline sim call ... -q)
            return 0
        return _show(status, payload)
    p = add("call", "a caller rings in", call)
    p.add_argument("--from", dest="caller", required=True)
    p.add_argument("--name", default="")
    p.add_argument("--to", default="")
    p.add_argument("--line", default="", help="ring this line: a sim trunk, or a virtual modem line (modem0)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the call id")
    p = add("wait", "wait until a call is in a state (ringing, answered, bridged, ended) or its journal has an "
            "event (e.g. queue.joined, call.bridged, recording.closed); prints it", _wait_call)
    p.add_argument("id")
    p.add_argument("what", metavar="STATE_OR_EVENT")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60); exit status 1 after it")
    p = add("wait-station", "wait until a simulated phone is ringing, connected or idle", _wait_station)
    p.add_argument("ext")
    p.add_argument("state", choices=["ringing", "connected", "idle"])
    p.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60); exit status 1 after it")
    p = add("state", "a call's state and journal", lambda a: _show(*_request(a, "GET", f"/sim/calls/{a.id}")))
    p.add_argument("id")
    p = add("dtmf", "the caller presses keys", lambda a: _show(*_request(
        a, "POST", f"/sim/calls/{a.id}/dtmf", {"digits": a.digits, "mode": a.mode})))
    p.add_argument("id")
    p.add_argument("digits")
    p.add_argument("--mode", choices=["inband", "signal"], default="inband")
    p = add("hangup", "the caller hangs up", lambda a: _show(*_request(a, "DELETE", f"/sim/calls/{a.id}")))
    p.add_argument("id")

    def heard(a: argparse.Namespace) -> int:
        status, payload = _request(a, "GET", f"/sim/calls/{a.id}/heard.wav")
        if status >= 400:
            return _show(status, payload)
        Path(a.output).write_bytes(payload)
        print(f"{a.output}: {len(payload)} bytes")
        return 0
    p = add("heard", "save what the caller heard as WAV", heard)
    p.add_argument("id")
    p.add_argument("-o", "--output", required=True)

    def speak(a: argparse.Namespace) -> int:
        url, token = _target(a)
        req = urllib.request.Request(f"{url}/api/v1/sim/calls/{a.id}/audio", data=Path(a.wav).read_bytes(),
                                     method="POST", headers={"Authorization": f"Bearer {token}",
                                                             "Content-Type": "audio/wav"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return _show(r.status, r.read())
        except urllib.error.HTTPError as e:
            return _show(e.code, e.read())
    p = add("audio", "the caller speaks a WAV file", speak)
    p.add_argument("id")
    p.add_argument("wav")
    add("stations", "list the simulated phones", lambda a: _show(*_request(a, "GET", "/sim/stations")))
    p = add("station", "an agent phone: answer, hangup, flash, dtmf DIGITS, dial NUMBER", lambda a: _show(*_request(
        a, "POST", f"/sim/stations/{a.ext}/{a.action}",
        {"digits": a.arg, "number": a.arg} if a.arg else {})))
    p.add_argument("ext")
    p.add_argument("action", choices=["answer", "hangup", "flash", "dtmf", "dial"])
    p.add_argument("arg", nargs="?", default=None)
    p = add("fault", "flip a line's fault switches, e.g. down=true noise_dbm0=-30", lambda a: _show(*_request(
        a, "POST", f"/sim/lines/{a.line}/faults", {k: json.loads(v) for k, v in (x.split("=", 1) for x in a.set)})))
    p.add_argument("line")
    p.add_argument("set", nargs="+", metavar="KEY=VALUE")
