"""Scenario fixtures: a real daemon on the simulated card, driven through the QA API like QA would."""
from __future__ import annotations

import copy
import io
import json
import os
import random
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def deep_merge(base: dict, extra: dict) -> dict:
    """Merge ``extra`` into a copy of ``base`` (lists of devices are replaced whole)."""
    out = copy.deepcopy(base)
    for k, v in extra.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def udp_port() -> int:
    """An even port free on 127.0.0.1 right now for UDP and TCP both, with the odd one above free for UDP (RTP
    takes even ports, RTCP the odd one; a SIP listener or baresip binds UDP and TCP on one port).

    Picked below the kernel's ephemeral range (32768 and up), so no outgoing connection of another test takes it
    between the pick and the bind (CI once saw baresip's TCP bind refused that way), and from a band of its own
    per xdist worker, so parallel workers do not pick each other's ports."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    low = 20000 + (index % 6) * 2000
    for _ in range(200):
        port = random.randrange(low, low + 1900, 2)
        socks = []
        try:
            for kind, p in ((socket.SOCK_DGRAM, port), (socket.SOCK_STREAM, port), (socket.SOCK_DGRAM, port + 1)):
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free UDP port")


def read_wav(data: bytes) -> np.ndarray:
    """Samples of a 16-bit mono WAV produced by the box."""
    import wave
    with wave.open(io.BytesIO(data)) as w:
        assert w.getframerate() == 8000 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())[:, 0]


class Box:
    """One running daemon plus its QA token; methods mirror what a QA engineer does."""

    def __init__(self, daemon: Any, token: str):
        self.d = daemon
        self.token = token

    def api(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
            expect: int | None = None) -> Any:
        """Call /api/v1; returns parsed JSON (or bytes for WAV)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Authorization": f"Bearer {self.token}"}
        if raw is not None:
            headers["Content-Type"] = "audio/wav" if raw[:4] == b"RIFF" else "application/octet-stream"
        elif data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.d.url + "/api/v1" + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                status, payload, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, payload, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
        if expect is not None:
            assert status == expect, f"{method} {path}: {status} {payload[:300]!r}"
        if "json" in ctype:
            out = json.loads(payload)
            if isinstance(out, dict):
                out.setdefault("_status", status)
            return out
        return payload

    def agent(self, name: str) -> dict:
        """One agent as the API shows it (state, station, queues)."""
        return next(a for a in self.api("GET", "/agents", expect=200)["agents"] if a["name"] == name)

    def wait_agent(self, name: str, state: str, timeout: float = 20) -> dict:
        """Wait for an agent state."""
        deadline = time.monotonic() + timeout
        a: dict = {}
        while time.monotonic() < deadline:
            a = self.agent(name)
            if a["state"] == state:
                return a
            time.sleep(0.05)
        raise AssertionError(f"{name} not {state}: {a}")

    def call(self, frm: str = "13800138000", to: str = "8001", name: str = "") -> str:
        """A caller rings in; returns the call id. A refusal for overload (admission control while other test
        workers keep the 2 cores busy) is retried for up to 10 s, as a caller redials; any other refusal fails."""
        deadline = time.monotonic() + 10
        while True:
            r = self.api("POST", "/sim/calls", {"from": frm, "to": to, "name": name})
            if r.get("_status") != 503 or r.get("reason") != "overload" or time.monotonic() > deadline:
                assert r.get("_status") == 201, f"POST /sim/calls: {r}"
                return r["id"]
            time.sleep(0.2)

    def state(self, call_id: str) -> dict:
        """The call's state and journal."""
        return self.api("GET", f"/sim/calls/{call_id}", expect=200)

    def wait(self, call_id: str, state: str, timeout: float = 20.0) -> dict:
        """Wait until the call reaches a state."""
        deadline = time.monotonic() + timeout
        st: dict = {}
        while time.monotonic() < deadline:
            st = self.state(call_id)
            if st["state"] == state:
                return st
            time.sleep(0.05)
        raise AssertionError(f"call {call_id} not {state} within {timeout}s: {st.get('state')} "
                             f"events={[e['kind'] for e in st.get('events', [])]}")

    def wait_event(self, call_id: str, kind: str, timeout: float = 20.0, **data: Any) -> dict:
        """Wait until the call's journal has an event of this kind (and data)."""
        deadline = time.monotonic() + timeout
        events: list = []
        while time.monotonic() < deadline:
            events = self.state(call_id)["events"]
            for e in events:
                if e["kind"] == kind and all(e["data"].get(k) == v for k, v in data.items()):
                    return e
            time.sleep(0.05)
        raise AssertionError(f"no {kind} {data} within {timeout}s: {[e['kind'] for e in events]}")

    def station_state(self, ext: str) -> dict:
        """A simulated phone's state."""
        for s in self.api("GET", "/sim/stations", expect=200)["stations"]:
            if s["extension"] == ext:
                return s
        raise AssertionError(f"no station {ext}")

    def wait_station(self, ext: str, state: str, timeout: float = 20.0) -> dict:
        """Wait until a phone is ringing/connected/idle."""
        deadline = time.monotonic() + timeout
        st: dict = {}
        while time.monotonic() < deadline:
            st = self.station_state(ext)
            if st["state"] == state:
                return st
            time.sleep(0.05)
        raise AssertionError(f"station {ext} not {state} within {timeout}s: {st}")

    correlation = None  # set by make_box from the shared `correlate` fixture

    def heard(self, call_id: str) -> np.ndarray:
        """What the caller heard."""
        return read_wav(self.api("GET", f"/sim/calls/{call_id}/heard.wav"))

    def prompt_audio(self, prompt_id: str, language: str) -> np.ndarray:
        """The prompt audio the box generated (from its prompt cache)."""
        files = sorted((self.prompts_dir / "cache").glob(f"{prompt_id}-{language}-*.wav"))
        assert files, f"prompt {prompt_id}/{language} was never generated"
        return read_wav(files[-1].read_bytes())

    def db(self) -> sqlite3.Connection:
        """A read connection to the box's SQLite database."""
        con = sqlite3.connect(self.d.state / "hotline.db", timeout=10)
        con.row_factory = sqlite3.Row
        return con

    def cdr(self, call_uuid: str, timeout: float = 10.0) -> dict:
        """The CDR row of a call (waits until written)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.db() as con:
                row = con.execute("SELECT * FROM cdrs WHERE call_uuid = ?", (call_uuid,)).fetchone()
            if row is not None:
                return dict(row)
            time.sleep(0.1)
        raise AssertionError(f"no CDR for {call_uuid}")

    def legs(self, call_uuid: str) -> list[dict]:
        """Agent leg CDRs of a call."""
        with self.db() as con:
            return [dict(r) for r in con.execute("SELECT * FROM cdrs WHERE parent_uuid = ? ORDER BY offered_at",
                                                  (call_uuid,))]


@pytest.fixture(scope="session")
def prompt_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One prompts directory for every box in the run, so TTS runs once per prompt."""
    return tmp_path_factory.mktemp("prompts")


@pytest.fixture
def make_box(daemon_factory, tmp_path: Path, prompt_cache: Path, hotline_bin: str, espeak: str, correlate):
    """Start a box with configuration overrides (merged into etc/hotline.yaml)."""
    def make(overrides: dict | None = None, state: Path | None = None) -> Box:
        base = yaml.safe_load((REPO / "etc" / "hotline.yaml").read_text())
        base = deep_merge(base, {"engine": {"speed": 4.0, "record_stereo": False},  # mono unless a test asks
                                 "paths": {"prompts": str(prompt_cache), "flows": str(REPO / "etc" / "flows"),
                                           "prompt_manifest": str(REPO / "etc" / "prompts" / "manifest.yaml")},
                                 "logging": {"level": "info"}, "routes": []})  # engine tests: built-in flow
        cfg = deep_merge(base, overrides or {})
        state = state or tmp_path / "state"
        path = tmp_path / "hotline.yaml"
        path.write_text(yaml.safe_dump(cfg))
        state.mkdir(parents=True, exist_ok=True)
        env = {"HOTLINE_STATE_DIR": str(state)}
        # demo-setup creates or upgrades the schema itself (a separate ``db upgrade`` cost a second per box)
        subprocess.run([hotline_bin, "-c", str(path), "demo-setup", "--state", str(state)], check=True,
                       capture_output=True, env={**__import__("os").environ, **env}, timeout=60)
        d = daemon_factory(config=path, state=state)
        box = Box(d, (state / "qa-token").read_text().strip())
        box.correlation = correlate
        box.prompts_dir = Path(cfg["paths"]["prompts"])
        return box
    return make
