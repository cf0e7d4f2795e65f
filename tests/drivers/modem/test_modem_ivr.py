"""The 8001 menu's steps over a modem line: a real daemon opens the virtual modem's pty (the emulator runs in this
process, as a caller's telephone would), the caller rings with caller ID, hears the prompts, presses keys (DTMF
reported by the modem as DLE codes), hears a product's price said as money, leaves a voicemail (a half-duplex modem
switches to +VRX for it) and asks for a callback, on a full-duplex and a half-duplex chipset."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from hotline.drivers.modem.virtual import CallState
from hotline.drivers.modem.virtual.ptyrun import PtyModem

CALLER = "13800138000"
MENU_FLOW = """\
flow: modem_menu
title: {en_US: The 8001 menu over a modem line}
languages: [en_US]
start: main
blocks:
  main:
    - answer
    - menu:
        prompt: printer_main_menu
        options: {"1": product, "2": message, "3": callback}
        invalid_prompt: invalid_key
        fallback: bye
  product:
    - collect: {var: model, prompt: enter_model, min_digits: 3, max_digits: 6, on_fail: bye}
    - lookup: {table: products, by: model, value: "${model}", into: product, not_found: bye}
    - play: product_price
    - say: {value: "${product.price}", as: money}
    - hangup: goodbye
  message:
    - voicemail: {mailbox: printers, greeting: voicemail_greeting, max_seconds: 20, saved_prompt: voicemail_saved}
    - hangup: goodbye
  callback:
    - callback_request: {prompt: callback_offer, number_prompt: enter_callback_number, done_prompt: callback_done,
                         queue: printers}
    - hangup: goodbye
  bye:
    - hangup: goodbye
"""
PROFILES = pytest.mark.parametrize("profile", ["conexant", "emu-half"])  # full duplex (+VTR), half duplex


@pytest.fixture(scope="module")
def prompt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One prompts directory for the module, so TTS runs once per prompt."""
    return tmp_path_factory.mktemp("modem-prompts")


@pytest.fixture
def modem_box(prepared_box, prompt_dir, hotline_bin):
    """modem_box(profile) -> (daemon, far end): a box whose only trunk is a virtual modem on a pty."""
    made: list = []

    def make(profile: str):
        pty = PtyModem(profile, name=f"ivr-{profile}-{os.getpid()}-{len(made)}")
        made.append(pty)
        box = prepared_box(flows={"modem_menu": MENU_FLOW}, routes={"8001": "modem_menu"}, start=False,
                           config={"devices": [{"name": "modem0", "driver": "modem", "port": pty.path,
                                                "number": "8001", "profile": "auto"},
                                               {"name": "sim0", "driver": "sim", "trunks": 0, "stations": ["1001"]}],
                                   "paths": {"prompts": str(prompt_dir)}})
        env = {**os.environ, "HOTLINE_STATE_DIR": str(box.state)}
        for args in (["demo-setup", "--state", str(box.state)], ["demo-data"]):
            subprocess.run([hotline_bin, "-c", str(box.config), *args], env=env, check=True, capture_output=True,
                           timeout=120)
        box.start()
        wait_until(lambda: "event=device_up device=modem0" in box.output(), 20, "modem0 up")
        box.far = pty.far
        return box, pty.far
    yield make
    for pty in made:
        pty.close()


def wait_until(pred, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.1)


def rows(box, sql: str, *args) -> list[dict]:
    with sqlite3.connect(box.state / "hotline.db") as con:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(sql, args)]


def events(box, kind: str) -> list[dict]:
    return rows(box, "SELECT * FROM events WHERE kind = ? ORDER BY id", kind)


def wait_event(box, kind: str, timeout: float = 30.0) -> dict:
    end = time.monotonic() + timeout
    while not events(box, kind):
        if time.monotonic() > end:
            kinds = [(e["kind"], e["data"][:300]) for e in rows(box, "SELECT kind, data FROM events ORDER BY id")]
            raise AssertionError(f"no {kind} event within {timeout} s; events: {kinds}\n{box.output()[-6000:]}\n"
                                 f"{box.far.modem.status()}")
        time.sleep(0.1)
    return events(box, kind)[-1]


def steps(box, step: str) -> list[dict]:
    """The flow's steps of this kind so far (journal ivr.step), their data decoded."""
    out = [json.loads(e["data"]) for e in events(box, "ivr.step")]
    return [d for d in out if d.get("step") == step]


def wait_step(box, step: str, timeout: float = 30.0) -> dict:
    wait_until(lambda: steps(box, step), timeout, f"flow step {step}")
    return steps(box, step)[-1]


def ring_and_connect(far) -> None:
    far.ring(CALLER, "ZHANG WEI", rings=6, period=1.0)
    assert far.wait_for(CallState.CONNECTED, 15), "the box did not answer the modem line"


def hears_speech(far, after: float, seconds: float = 0.5) -> bool:
    """The far end heard something louder than line noise after `after` seconds of the call."""
    pcm = far.heard()[int(after * 8000):]
    return pcm.size >= seconds * 8000 and float(np.abs(pcm.astype(np.int32)).max()) > 2000


def press(far, digits: str) -> None:
    far.send_dtmf(digits)
    wait_until(lambda: not far.speaking, 10, "keys sent")


def tone(freq: float, seconds: float) -> np.ndarray:
    return (9000 * np.sin(2 * np.pi * freq * np.arange(int(seconds * 8000)) / 8000)).astype(np.int16)


@PROFILES
def test_menu_lookup_and_say_over_a_modem_line(modem_box, profile) -> None:
    box, far = modem_box(profile)
    ring_and_connect(far)
    wait_until(lambda: hears_speech(far, 0.0), 15, "the menu prompt")  # audio only after the answer was confirmed
    press(far, "1")
    assert wait_step(box, "menu.key")["target"] == "product"
    press(far, "1020#")
    at = far.heard_seconds()
    said = wait_step(box, "say", 40)
    assert said["kind"] == "money" and float(said["value"]) > 0, said
    assert wait_step(box, "lookup")["found"] is True
    wait_until(lambda: rows(box, "SELECT * FROM cdrs"), 60, "the call's record")
    cdr = rows(box, "SELECT * FROM cdrs")[0]
    assert (cdr["caller_id"], cdr["dialed"], cdr["line"]) == (CALLER, "8001", "modem0")
    assert hears_speech(far, at, 2.0)  # the price was said to the caller


def dominant_hz(pcm: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(float)))
    return float(np.argmax(spectrum[1:]) + 1) * 8000 / pcm.size


@PROFILES
def test_voicemail_records_the_caller_over_a_modem_line(modem_box, profile) -> None:
    """The caller leaves a message: the box listens (a half-duplex modem switches to +VRX), the caller's
    700 Hz lands in the voicemail file, # ends it and the caller hears the saved prompt."""
    box, far = modem_box(profile)
    ring_and_connect(far)
    wait_until(lambda: hears_speech(far, 0.0), 15, "the menu prompt")
    press(far, "2")
    wait_until(lambda: any('"voicemail_greeting"' in e["data"] for e in events(box, "media.played")), 20,
               "the voicemail greeting")
    time.sleep(5.0)  # "Please leave a message after the tone, then press the hash key." and the beep
    if profile == "emu-half":
        assert box.far.modem.status()["state"] == "voice_rx"  # the modem records instead of playing
    far.speak(tone(700, 3.0))
    wait_until(lambda: not far.speaking, 10, "the caller's message")
    press(far, "#")
    wait_until(lambda: rows(box, "SELECT * FROM voicemails"), 30, "the voicemail")
    [vm] = rows(box, "SELECT * FROM voicemails")
    assert (vm["mailbox"], vm["caller_number"]) == ("printers", CALLER)
    with wave.open(vm["path"]) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        rate = w.getframerate()
    loud = pcm[np.abs(pcm.astype(np.int32)) > 3000]
    assert loud.size >= 2.0 * rate, f"{loud.size / rate:.2f} s of the caller's tone recorded"
    voiced = pcm[np.convolve(np.abs(pcm.astype(float)) > 3000, np.ones(80), "same") > 40]
    assert abs(dominant_hz(voiced[: 2 * rate]) * 8000 / rate - 700) < 15
    wait_until(lambda: any('"voicemail_saved"' in e["data"] for e in events(box, "media.played")), 20,
               "the saved prompt")


@PROFILES
def test_callback_request_on_the_caller_id_of_a_modem_line(modem_box, profile) -> None:
    """3 asks for a callback; 1 takes the number the modem's caller ID gave."""
    box, far = modem_box(profile)
    ring_and_connect(far)
    wait_until(lambda: hears_speech(far, 0.0), 15, "the menu prompt")
    press(far, "3")
    wait_until(lambda: any('"callback_offer"' in e["data"] for e in events(box, "media.played")), 20,
               "the callback offer")
    press(far, "1")
    wait_until(lambda: rows(box, "SELECT * FROM callbacks"), 30, "the callback request")
    [cb] = rows(box, "SELECT * FROM callbacks")
    assert (cb["number"], cb["queue"]) == (CALLER, "printers")
    wait_until(lambda: any('"callback_done"' in e["data"] for e in events(box, "media.played")), 20,
               "the confirmation")
