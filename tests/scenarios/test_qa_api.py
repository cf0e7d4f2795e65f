"""The QA API and CLI as an outside program uses them: errors, auth, live media, offline DTMF analysis."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import urllib.request

import numpy as np
import pytest
import tornado.websocket

from hotline.drivers.common.tones import dtmf_tone


def test_bad_requests_get_json_errors(make_box) -> None:
    """Every malformed request is a 4xx with a JSON message naming the problem; the engine keeps going."""
    box = make_box()
    cases = [
        ("POST", "/sim/calls", b"not json", 400, "valid JSON"),
        ("POST", "/sim/calls", json.dumps([1, 2]).encode(), 400, "JSON object"),
        ("POST", "/sim/calls", json.dumps({"to": "8001"}).encode(), 400, "from"),
        ("GET", "/sim/calls/00000000-0000-0000-0000-000000000000", None, 404, "no simulated call"),
        ("POST", "/sim/stations/9999/answer", b"{}", 404, "no simulated station"),
        ("POST", "/sim/stations/1001/answer", b"{}", 409, "not ringing"),
        ("POST", "/sim/lines/nope/faults", b'{"down": true}', 404, "no simulated line"),
        ("POST", "/sim/lines/sim0-t3/faults", b'{"lightning": 1}', 400, "unknown fault"),
    ]
    for method, path, body, status, text in cases:
        got = box.api(method, path, raw=body)
        assert got["_status"] == status and text in got["error"], (method, path, got)
    cid = box.call()
    box.wait(cid, "answered")
    for body, text in [({"digits": "12x"}, "not a DTMF key"), ({"digits": ""}, "non-empty"),
                       ({"digits": "1", "mode": "smoke"}, "mode"), ({"digits": "1", "tone_ms": -5}, "tone_ms")]:
        got = box.api("POST", f"/sim/calls/{cid}/dtmf", body)
        assert got["_status"] == 400 and text in got["error"], got
    got = box.api("POST", f"/sim/calls/{cid}/audio", raw=b"RIFF....WAVEjunk")
    assert got["_status"] == 400 and "audio" in got["error"], got
    assert box.state(cid)["state"] == "answered", "a bad request disturbed the call"
    box.api("DELETE", f"/sim/calls/{cid}", expect=200)
    got = box.api("DELETE", f"/sim/calls/{cid}")
    assert got["_status"] == 409


def test_auth_and_roles(make_box, hotline_bin) -> None:
    """No token: 401; an agent token: 403 on QA routes; unknown routes are not revealed to strangers."""
    box = make_box()
    for path in ("/api/v1/sim/stations", "/api/v1/calls", "/api/v1/nowhere"):
        req = urllib.request.Request(box.d.url + path)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=5)
        assert err.value.code == 401
    out = subprocess.run([hotline_bin, "-c", str(box.d.config), "user", "add", "ann", "--role", "agent", "--token"],
                         env=box.d.env, capture_output=True, text=True, check=True).stdout
    agent = type(box)(box.d, out.strip().splitlines()[-1])
    assert agent.api("GET", "/sim/stations")["_status"] == 403
    assert box.api("GET", "/sim/stations")["_status"] == 200


def test_media_websocket_both_ways(make_box) -> None:
    """An outside program is the caller over the WebSocket: it hears the prompt and its DTMF frames are detected.
    Real time: the reception waits 4 s of media time for keys, which a 4x clock on a loaded box can miss."""
    box = make_box({"engine": {"speed": 1.0}})
    cid = box.call()
    box.wait(cid, "answered")
    url = box.d.url.replace("http", "ws") + f"/api/v1/sim/calls/{cid}/media"

    async def talk() -> int:
        req = tornado.httpclient.HTTPRequest(url, headers={"Authorization": f"Bearer {box.token}"})
        ws = await tornado.websocket.websocket_connect(req)
        received = 0
        audio = np.concatenate([dtmf_tone(d, 80) for d in "1"] + [np.zeros(640, np.int16)] +
                               [dtmf_tone("0", 80), np.zeros(640, np.int16), dtmf_tone("0", 80),
                                np.zeros(640, np.int16), dtmf_tone("2", 80), np.zeros(640, np.int16),
                                dtmf_tone("#", 80), np.zeros(640, np.int16)])
        for i in range(0, len(audio), 160):
            await ws.write_message(audio[i:i + 160].astype("<i2").tobytes(), binary=True)
            msg = await asyncio.wait_for(ws.read_message(), 5)
            assert isinstance(msg, bytes) and len(msg) == 320
            received += 1
        ws.close()
        return received
    import tornado.httpclient
    assert asyncio.run(talk()) >= 10
    box.wait_event(cid, "ivr.step", step="route", digits="1002")
    # A cross-origin browser handshake is refused.
    async def cross_origin() -> None:
        req = tornado.httpclient.HTTPRequest(url, headers={"Authorization": f"Bearer {box.token}",
                                                           "Origin": "http://evil.example"})
        await tornado.websocket.websocket_connect(req)
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        asyncio.run(cross_origin())
    assert err.value.code == 403


def test_sim_cli_and_offline_dtmf_analysis(make_box, hotline_bin, tmp_path) -> None:
    """`hotline sim` drives a call; `hotline dsp dtmf` finds the caller's keys in the call recording.

    Event-driven: the keys go in as soon as the welcome prompt starts (the journal's media.played), over the
    prompt; the stereo recording keeps them on the caller's channel, so no wait for the prompt to end. Real
    time (speed 1): the reception's 4 s wait for the first key is 4 s of wall time even on a loaded box."""
    box = make_box({"engine": {"speed": 1.0, "record_stereo": True}})
    env = {**box.d.env}
    run = lambda *a: subprocess.run([hotline_bin, "-c", str(box.d.config), "sim", *a], env=env,  # noqa: E731
                                    capture_output=True, text=True, timeout=30)
    out = run("call", "--from", "13800138000", "--to", "8001", "-q")   # -q: the id alone, for scripts
    assert out.returncode == 0, out.stderr
    cid = out.stdout.strip()
    assert run("wait", cid, "media.played").returncode == 0   # the welcome prompt started
    assert run("dtmf", cid, "1001").returncode == 0          # a real extension: the call stays up (ringing)
    box.wait_event(cid, "ivr.step", step="route", digits="1001")
    assert run("hangup", cid).returncode == 0
    waited = run("wait", cid, "ended")
    assert waited.returncode == 0 and json.loads(waited.stdout)["state"] == "ended", waited.stderr
    never = run("wait", cid, "queue.joined", "--timeout", "0.3")
    assert never.returncode == 1 and "no queue.joined within 0.3 s" in never.stderr, never.stderr
    wav = tmp_path / "heard.wav"
    assert run("heard", cid, "-o", str(wav)).returncode == 0 and wav.stat().st_size > 44
    assert run("hangup", cid).returncode == 1
    rec = box.cdr(cid)["recording"]
    box.wait_event(cid, "recording.closed")
    dsp = subprocess.run([hotline_bin, "dsp", "dtmf", rec], capture_output=True, text=True, timeout=60)
    assert dsp.returncode == 0, dsp.stderr
    found = [line.split() for line in dsp.stdout.splitlines()]
    assert [f[1] for f in found] == ["1", "0", "0", "1"] and {f[2] for f in found} == {"caller"}, dsp.stdout
    bad = subprocess.run([hotline_bin, "dsp", "dtmf", str(tmp_path / "missing.wav")], capture_output=True,
                         text=True, timeout=30)
    assert bad.returncode != 0 and "missing.wav" in bad.stdout + bad.stderr


KEYS_OVER_PROMPT = """\
flow: keys_over_prompt
blocks:
  main:
    - answer
    - play: printer_help
    - collect: {var: code, max_digits: 5, timeout: 5}
"""


def test_dsp_dtmf_finds_keys_pressed_over_a_prompt_in_a_real_recording(make_box, hotline_bin, tmp_path) -> None:
    """A caller presses five keys while the menu prompt plays (no barge-in: the prompt goes on under them).
    The live engine hears all five; `hotline dsp dtmf` on the stereo recording finds all five on the caller's
    channel and says so, where mixing the channels (what a mono recording holds) loses some."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "keys_over_prompt.yaml").write_text(KEYS_OVER_PROMPT)
    box = make_box({"engine": {"speed": 1.0, "record_stereo": True}, "paths": {"flows": str(flows)},
                    "routes": [{"dialed": "8009", "flow": "keys_over_prompt"}]})
    cid = box.call(to="8009")
    box.wait_event(cid, "media.played", prompt="printer_help")
    import time
    deadline = time.monotonic() + 20
    while True:  # until the caller hears speech (TTS starts with a short silence)
        heard_now = box.heard(cid).astype(float)
        if heard_now.size > 1600 and np.sqrt(np.mean(heard_now[-1600:] ** 2)) > 300:
            break
        assert time.monotonic() < deadline, "the prompt never became audible"
        time.sleep(0.05)
    box.api("POST", f"/sim/calls/{cid}/dtmf", {"digits": "13579"}, expect=202)
    box.wait_event(cid, "ivr.step", step="collect", value="13579", timeout=60)  # after the whole prompt
    box.wait(cid, "ended")
    box.wait_event(cid, "recording.closed")
    rec = box.cdr(cid)["recording"]
    from hotline.daemon.media.wavio import read_wav
    audio = read_wav(rec)
    assert audio.channels == 2
    dsp = subprocess.run([hotline_bin, "dsp", "dtmf", rec], capture_output=True, text=True, timeout=60)
    assert dsp.returncode == 0, dsp.stderr
    found = [line.split() for line in dsp.stdout.splitlines()]
    assert "".join(f[1] for f in found) == "13579" and {f[2] for f in found} == {"caller"}, dsp.stdout
    # the keys really were pressed while the prompt played: between its first and last audible 20 ms
    heard = audio.samples[:, 1]
    frames = heard[: len(heard) // 160 * 160].reshape(-1, 160)
    loud = np.flatnonzero(np.sqrt((frames ** 2).mean(axis=1)) > 300)
    assert loud.size, "the prompt is not in the recording's right channel"
    prompt_from, prompt_to = loud[0] * 0.02, (loud[-1] + 1) * 0.02
    for start, digit, _ in found:
        assert prompt_from < float(start) < prompt_to, \
            f"key {digit} at {start} s is outside the prompt ({prompt_from:.2f}-{prompt_to:.2f} s)"
    mixed = subprocess.run([hotline_bin, "dsp", "dtmf", "--channel", "mixed", rec], capture_output=True, text=True,
                           timeout=60)
    assert mixed.returncode == 0 and len(mixed.stdout.splitlines()) < 5, mixed.stdout
