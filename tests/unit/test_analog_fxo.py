"""drivers/analog FXO machine with real line audio: caller ID in every format, answer, outbound calls, hang-up signals."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from hotline.drivers.analog.fxo import FxoState
from hotline.drivers.analog.profiles import AnalogSettings, AnswerMode, CidMode
from hotline.drivers.analog.signals import LineSignal as S
from hotline.drivers.base import (Answered, AnswerConfirmed, HangupCause, HungUp, LineDown, LineUp, Progress,
                                  Ringing, Seized, ToneDetected)
from hotline.drivers.common.callerid import CallerId
from hotline.drivers.common.callerid_audio import generate_callerid
from hotline.drivers.common.callerid_dtmf import dtmf_digits
from hotline.drivers.common.tones import render_tone


def _load(name: str):
    """A helper module next to this file (tests are not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


rig_mod = _load("analog_rig")
Rig = rig_mod.Rig

CALLER = CallerId(number="13812345678", name="王小明", time="12071130")

# (id, country, standard, how the line sends it)
INCOMING = [
    ("bell202-us-between-rings", "us", "bell", "between"),
    ("bell202-cn-between-rings", "cn", "cn", "between"),
    ("v23-etsi-between-rings", "cn", "etsi", "between"),
    ("dtmf-a-before-ring", "cn", "dtmf-a", "before"),
    ("dtmf-d-before-ring", "cn", "dtmf-d", "before"),
    ("polarity-then-v23", "cn", "etsi", "polarity"),
    ("polarity-then-bell202", "cn", "cn", "polarity"),
]


@pytest.mark.parametrize("country, standard, how", [c[1:] for c in INCOMING], ids=[c[0] for c in INCOMING])
def test_incoming_call_rings_with_the_caller_the_line_sent(country: str, standard: str, how: str) -> None:
    """Seized at the first sign, Ringing once with the decoded caller (as soon as it is final), answer, far hang-up."""
    rig = Rig(["fxo"], AnalogSettings(country=country))
    profile = rig.ports[0].settings.profile
    on, off = profile.ring_on_ms / 1000, profile.ring_off_ms / 1000
    dtmf = standard.startswith("dtmf")
    cid = CallerId(number=CALLER.number) if dtmf else (
        CallerId(number=CALLER.number, name="Li Wei", time=CALLER.time) if standard != "cn" else CALLER)
    audio = generate_callerid(cid, standard)
    if how == "between":
        rig.rings(0, 3, on, off)
        cid_end = rig.play(0, audio, after=on + profile.cid_delay_ms / 1000)
        first_ring = 0.0
    else:
        if how == "polarity":
            rig.signal(0, S.POLARITY)
        cid_end = rig.play(0, audio, after=0.3)
        first_ring = cid_end + 0.5
        rig.rings(0, 3, on, off, start=first_ring)
    assert rig.run(12, until=lambda: rig.of(Ringing))
    (t_seized, _), = rig.of(Seized)
    (t_ring, ringing), = rig.of(Ringing)
    if dtmf:  # the message itself seizes the line once it is complete
        assert cid_end - 0.15 < t_seized <= cid_end + 0.1
    else:  # the first ring or the polarity reversal
        assert t_seized < 0.03
    assert (ringing.caller_id, ringing.caller_name) == (cid.number, cid.name)
    if how == "between":
        assert cid_end < t_ring <= cid_end + 0.2 < on + off  # final before the second ring
    else:
        assert abs(t_ring - first_ring) < 0.03  # at the first ring
    assert rig.ports[0].caller_format.startswith({"bell": "bell202", "cn": "bell202", "etsi": "v23"}.get(
        standard, standard))
    rig.run(2.0)
    assert len(rig.of(Ringing)) == 1  # later rings are repeats
    rig.ports[0].answer(rig.now)
    assert rig.hw[0].hook and rig.of(AnswerConfirmed)
    rig.run(1.0)
    rig.signal(0, S.ONHOOK)  # loop current drops
    rig.run(0.1)
    assert [e.cause for _, e in rig.of(HungUp)] == [HangupCause.NORMAL]
    assert not rig.hw[0].hook and rig.ports[0].state is FxoState.IDLE


def test_no_caller_id_rings_at_the_second_ring_and_none_mode_at_the_first() -> None:
    """A line that sends nothing: Ringing without caller at the second ring; with callerid none, at the first."""
    rig = Rig(["fxo"])
    rig.rings(0, 2, 1.0, 4.0)
    rig.run(6, until=lambda: rig.of(Ringing))
    (t, ev), = rig.of(Ringing)
    assert ev.caller_id == "" and abs(t - 5.0) < 0.03
    fast = Rig(["fxo"], AnalogSettings(callerid=CidMode.NONE))
    fast.rings(0, 1, 1.0, 4.0)
    fast.run(0.1)
    assert fast.kinds(0) == ["Seized", "Ringing"]


def test_caller_gives_up_between_rings() -> None:
    """The rings stop: HungUp after the ring timeout, and the port is free again."""
    rig = Rig(["fxo"])
    rig.rings(0, 2, 1.0, 4.0)
    rig.run(14)
    assert rig.kinds(0) == ["Seized", "Ringing", "HungUp"]
    t_hang = rig.of(HungUp)[0][0]
    assert 6.0 + rig.ports[0].settings.ring_timeout_s <= t_hang < 6.1 + rig.ports[0].settings.ring_timeout_s
    assert rig.ports[0].state is FxoState.IDLE


def test_refused_call_rings_out_silently() -> None:
    """The box refuses (no agent, overload): an analog line cannot, so the port lets it ring out, posting nothing."""
    rig = Rig(["fxo"], AnalogSettings(callerid=CidMode.NONE))
    rig.rings(0, 3, 1.0, 4.0)
    rig.run(0.1)
    rig.ports[0].hangup(rig.now)
    rig.run(20)
    assert rig.kinds(0) == ["Seized", "Ringing"] and rig.ports[0].state is FxoState.IDLE


def _answered_rig(ports: int = 1, **settings) -> Rig:
    rig = Rig(["fxo"] * ports, AnalogSettings(callerid=CidMode.NONE, **settings))
    for i in range(ports):
        rig.rings(i, 1, 1.0, 4.0)
    rig.run(0.1)
    for port in rig.ports:
        port.answer(rig.now)
    return rig


def test_hangup_by_polarity_only_where_configured() -> None:
    """A polarity reversal in a call is the far end's hang-up with hangup_on_polarity, and nothing without it."""
    rig = _answered_rig(hangup_on_polarity=True)
    rig.signal(0, S.POLARITY)  # too soon after answering: the line settling
    rig.run(1.0)
    assert not rig.of(HungUp)
    rig.signal(0, S.POLARITY)
    rig.run(0.1)
    assert [e.cause for _, e in rig.of(HungUp)] == [HangupCause.NORMAL]
    plain = _answered_rig()
    plain.run(1.0)
    plain.signal(0, S.POLARITY)
    plain.run(0.1)
    assert not plain.of(HungUp) and plain.ports[0].state is FxoState.CONNECTED


def test_busy_tone_hangup_under_two_seconds_on_the_china_cadence() -> None:
    """20 calls end by busy tone only (no other signal), at random phases after speech-like sound: each hangs up,
    on hook, within 2 s of the tone's start (the figure goes in docs/dsp.md)."""
    rng = np.random.default_rng(16)
    rig = _answered_rig(20)
    talk = _load("test_dtmf_talkoff").music_corpus(8, seed=3)
    starts = []
    for i in range(20):
        lead, gap = int(rng.integers(0, 8000)), int(rng.integers(0, 800))  # gaps off the 20 ms frame grid
        rig.play(i, talk[lead:lead + 24000])
        starts.append(rig.play(i, np.zeros(gap, dtype=np.int16)) - rig.now)
        rig.play(i, render_tone(("CN", "busy"), 6000))
    t0 = rig.now
    rig.run(9)
    hung = {e.line: t - t0 for t, e in rig.of(HungUp)}
    delays = [hung[f"p{i}"] - starts[i] for i in range(20)]
    assert all(0.7 < d < 2.0 for d in delays), delays
    assert all(not hw.hook for hw in rig.hw)
    print(f"busy-tone hang-up (cn): min {min(delays):.2f} s, median {np.median(delays):.2f} s, "
          f"max {max(delays):.2f} s over 20 calls")


def test_no_false_hangup_on_talkoff_speech_and_music(tmp_path: Path) -> None:
    """The DTMF suite's Mandarin and English speech and its music, on 16 calls in progress at three levels:
    no call is hung up (positive control: the busy-tone test above)."""
    talkoff = _load("test_dtmf_talkoff")
    clips = [c for voice in ("cmn-latn-pinyin", "en-us")
             for c in talkoff.speech_corpus(tmp_path, voice, variants=((170, 50),))]
    audio = np.concatenate(clips + [talkoff.music_corpus(60, seed=11)]).astype(np.float64)
    slots = 16
    size = audio.size // (slots // 2) // 160 * 160
    rig = _answered_rig(slots * 3 // 2 // 2 * 2)  # 24 calls: 8 channels of material x 3 levels
    for k, gain in enumerate((-20.0, 0.0, 6.0)):
        for j in range(8):
            piece = np.clip(audio[j * size:(j + 1) * size] * 10 ** (gain / 20), -32768, 32767)
            rig.play(k * 8 + j, piece.astype(np.int16))
    minutes = 3 * 8 * size / 8000 / 60
    rig.run(size / 8000 + 0.5)
    assert minutes > 6
    assert not rig.of(HungUp) and all(p.state is FxoState.CONNECTED for p in rig.ports)
    assert not [e for _, e in rig.of(ToneDetected)]


def _dialled(rig: Rig, port: int = 0) -> str:
    return "".join(key for _, key in dtmf_digits(rig.hw[port].audio()))


@pytest.mark.parametrize("mode", ["polarity", "progress"])
def test_outbound_call_dials_and_detects_the_answer(mode: str) -> None:
    """Seize, dial real DTMF, hear ringback (Progress), then the answer: by polarity reversal, or by the far end's
    voice (a sound that is no tone) when the line gives no polarity."""
    rig = Rig(["fxo"], AnalogSettings(answer=AnswerMode(mode)))
    rig.ports[0].dial("8001234", rig.now)
    assert rig.hw[0].hook
    rig.run(3.0)
    assert _dialled(rig) == "8001234" and rig.ports[0].state is FxoState.AWAITING_ANSWER
    rig.play(0, render_tone(("CN", "ringback"), 11000))
    rig.run(11.0)
    assert rig.kinds(0) == ["Progress"] and rig.of(Progress)[0][1].line == "p0"
    voice_at = rig.now
    if mode == "polarity":
        rig.signal(0, S.POLARITY)
    else:
        rig.play(0, _load("test_dtmf_talkoff").music_corpus(3, seed=5))
    assert rig.run(2.0, until=lambda: rig.of(Answered))
    assert rig.of(Answered)[0][0] - voice_at < (0.1 if mode == "polarity" else 0.6)
    assert rig.ports[0].state is FxoState.CONNECTED


@pytest.mark.parametrize("tone, cause", [("busy", HangupCause.BUSY), ("congestion", HangupCause.CONGESTION)])
def test_outbound_call_to_a_busy_number(tone: str, cause: HangupCause) -> None:
    """Busy or congestion after dialling: HungUp with that cause, on hook."""
    rig = Rig(["fxo"])
    rig.ports[0].dial("114", rig.now)
    rig.run(2.0)
    rig.play(0, render_tone(("CN", tone), 5000))
    rig.run(5.0)
    assert [e.cause for _, e in rig.of(HungUp)] == [cause] and not rig.hw[0].hook


def test_wait_for_dial_tone_and_no_answer() -> None:
    """With wait_dialtone the digits go only after dial tone; no dial tone is congestion; no answer gives up."""
    rig = Rig(["fxo", "fxo"], AnalogSettings(wait_dialtone=True, dialtone_timeout=3.0, no_answer=5.0))
    rig.play(0, render_tone(("CN", "dial"), 2500))
    for port in rig.ports:
        port.dial("12", rig.now)
    rig.run(1.4)
    assert _dialled(rig, 0) == ""  # dial tone takes 1.5 s to be sure of
    rig.run(1.0)
    assert _dialled(rig, 0) == "12"
    rig.run(1.0)
    assert [(e.line, e.cause) for _, e in rig.of(HungUp)] == [("p1", HangupCause.CONGESTION)]
    rig.run(6.0)
    assert [(e.line, e.cause) for _, e in rig.of(HungUp)][1:] == [("p0", HangupCause.NO_ANSWER)]


def test_alarm_takes_the_line_down_and_back() -> None:
    """A span alarm mid-call: LineDown, on hook, nothing else until NOALARM brings LineUp."""
    rig = _answered_rig()
    rig.ports[0].on_signal(S.ALARM, rig.now, "span 1: red alarm (loss of signal)")
    rig.run(0.1)
    rig.signal(0, S.RING_BEGIN)
    rig.run(0.1)
    assert rig.kinds(0)[-1] == "LineDown" and not rig.hw[0].hook
    rig.ports[0].dial("1", rig.now)
    rig.signal(0, S.NOALARM)
    rig.run(0.1)
    assert rig.kinds(0)[-2:] == ["HungUp", "LineUp"] and isinstance(rig.events[-1][1], LineUp)
    assert rig.of(LineDown)[0][1].reason == "span 1: red alarm (loss of signal)"
    assert rig.ports[0].state is FxoState.IDLE


def test_bad_number_is_refused_with_its_characters() -> None:
    rig = Rig(["fxo"])
    with pytest.raises(ValueError, match=r"p0: cannot dial '12x': 'x'"):
        rig.ports[0].dial("12x", 0.0)
    assert rig.ports[0].state is FxoState.IDLE and not rig.hw[0].hook


def test_own_hook_flash_is_not_the_far_end_hanging_up() -> None:
    """flash() flashes the hardware; the loop-current drop it causes is not a hang-up, one after it is."""
    rig = _answered_rig()
    rig.run(1.0)
    rig.ports[0].flash(rig.now)
    assert rig.hw[0].actions[-1][1] == "flash"
    rig.signal(0, S.ONHOOK)
    rig.run(0.5)
    assert not rig.of(HungUp) and rig.ports[0].state is FxoState.CONNECTED
    rig.run(0.5)
    rig.signal(0, S.ONHOOK)
    rig.run(0.1)
    assert [e.cause for _, e in rig.of(HungUp)] == [HangupCause.NORMAL]


def test_polarity_without_caller_id_or_ring_is_released() -> None:
    """A polarity reversal seizes the line; when neither caller ID nor a ring follows, HungUp frees it."""
    rig = Rig(["fxo"])
    rig.signal(0, S.POLARITY)
    rig.run(rig.ports[0].settings.ring_timeout_s + 0.2)
    assert rig.kinds(0) == ["Seized", "HungUp"] and rig.ports[0].state is FxoState.IDLE
