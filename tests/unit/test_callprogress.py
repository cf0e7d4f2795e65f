"""Call-progress tones: every tone of the cn and us profiles, SIT and fax tones, busy-detect time, and talk-off."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hotline.daemon.media import wavio
from hotline.drivers.common import tones
from hotline.drivers.base import ToneDetected, ToneKind
from hotline.drivers.common.callprogress import FRAME, CallProgressDetector, ToneEvent, detect_tones, get_country
from hotline.drivers.common.tones import ToneSpec, render_tone

RATE = 8000


def talkoff_corpora():
    """tests/unit/test_dtmf_talkoff.py: the speech and music the DTMF talk-off tests use."""
    path = Path(__file__).with_name("test_dtmf_talkoff.py")
    spec = importlib.util.spec_from_file_location("dtmf_talkoff_corpora", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _line(x: np.ndarray, lead: int, level_dbm0: float, snr_db: float | None, rng: np.random.Generator,
          tail: int = 8000) -> np.ndarray:
    """``x`` after ``lead`` samples, with white noise ``snr_db`` below ``level_dbm0`` over the whole line."""
    y = np.concatenate([np.zeros(lead), x.astype(np.float64), np.zeros(tail)])
    if snr_db is not None:
        y += rng.standard_normal(y.size) * tones.dbm0_to_amplitude(level_dbm0 - snr_db) / np.sqrt(2)
    return y


def _scaled(spec: ToneSpec, level: float) -> ToneSpec:
    return ToneSpec(spec.freqs, level, spec.cadence_ms, spec.repeat)


PROFILE_TONES = [(c, k) for c in ("CN", "US") for k in ("dial", "ringback", "busy", "congestion")]


@pytest.mark.parametrize("country, name", PROFILE_TONES, ids=[f"{c}-{k}" for c, k in PROFILE_TONES])
@pytest.mark.parametrize("level, snr", [(-10.0, None), (-30.0, 20.0), (-24.0, 12.0)], ids=["loud", "quiet", "noisy"])
def test_profile_tones_are_named_with_start_and_end(country: str, name: str, level: float, snr: float | None) -> None:
    """11 s of each tone (the product's own generator): one finding, the right kind, start and end within 60 ms."""
    rng = np.random.default_rng(len(name) + int(-level))
    spec = _scaled(tones.get_profile(country).tone(name), level)
    lead = int(rng.integers(1000, 5000))
    signal = render_tone(spec, 11000)
    found = detect_tones(_line(signal, lead, level, snr, rng), country.lower())
    assert [k.value for _, _, k in found] == [name]
    start, end, _ = found[0]
    bounds = np.round(np.cumsum((0.0,) + spec.cadence_ms) * 8).astype(int) if spec.cadence_ms else None
    if bounds is None:
        last_end = signal.size
    else:  # the end of the last complete burst
        cycle = int(bounds[-1])
        last_end = max(c * cycle + int(bounds[1]) for c in range(signal.size // cycle + 1)
                       if c * cycle + int(bounds[1]) <= signal.size)
    assert abs(start - lead) <= 480 and abs(end - (lead + last_end)) <= 480, (start - lead, end - lead, last_end)


def test_sit_cng_and_ced() -> None:
    """The three SIT segments, the fax calling tone (0.5 s on, 3 s off) and the answer tone (2100 Hz)."""
    sit = np.concatenate([render_tone(ToneSpec((f,), -20.0, (ms, 0), False), ms)
                          for f, ms in ((985.2, 380), (1428.5, 276), (1776.7, 380))])
    cng = render_tone(ToneSpec((1100.0,), -15.0, (500, 3000)), 7500)
    ced = render_tone(ToneSpec((2100.0,), -12.0), 3300)
    rng = np.random.default_rng(3)
    for signal, kind in ((sit, ToneKind.SIT), (cng, ToneKind.FAX_CNG), (ced, ToneKind.FAX_CED)):
        for country in ("cn", "us"):
            found = detect_tones(_line(signal, 2000, -15.0, 25.0, rng), country)
            assert [k for _, _, k in found] == [kind], (country, kind)
            assert abs(found[0][0] - 2000) <= 480


def test_a_lone_burst_or_wrong_cadence_is_not_busy() -> None:
    """One 350 ms burst, and 450 Hz at 0.2 s on / 0.2 s off (no Chinese tone), give nothing."""
    single = render_tone(ToneSpec((450.0,), -10.0, (350, 0), False), 350)
    fast = render_tone(ToneSpec((450.0,), -10.0, (200, 200)), 4000)
    for signal in (single, fast):
        assert detect_tones(_line(signal, 1000, -10, None, np.random.default_rng(0)), "cn") == []


def test_busy_detect_time_on_the_china_cadence() -> None:
    """100 hang-ups at random moments, -10 to -35 dBm0, 15-30 dB SNR: busy found in every one, under 2 s."""
    rng = np.random.default_rng(42)
    trials = 100
    detector = CallProgressDetector(trials, "cn")
    starts = rng.integers(0, 8000, trials)
    seconds = 6
    x = np.zeros((trials, seconds * RATE))
    for k in range(trials):
        level = rng.uniform(-35, -10)
        busy = render_tone(_scaled(tones.get_profile("CN").tone("busy"), level), 4000).astype(np.float64)
        x[k, starts[k]:starts[k] + busy.size] = busy
        x[k] += rng.standard_normal(x.shape[1]) * tones.dbm0_to_amplitude(level - rng.uniform(15, 30)) / np.sqrt(2)
    found: dict[int, int] = {}
    for tick in range(x.shape[1] // FRAME):
        for event in detector.process(x[:, tick * FRAME:(tick + 1) * FRAME]):
            if event.end_sample is None:
                assert event.kind is ToneKind.BUSY and event.slot not in found
                found[event.slot] = (tick + 1) * FRAME
    delays = np.array([found[k] - starts[k] for k in range(trials)]) / RATE
    assert len(found) == trials
    assert delays.max() < 2.0 and delays.min() > 0.7, (delays.min(), delays.max())


def test_slots_are_independent_and_reset() -> None:
    """Busy on one slot, dial on another, silence on a third; a reset slot starts over."""
    detector = CallProgressDetector(3, get_country("cn"))
    busy = render_tone(("CN", "busy"), 3000)
    dial = render_tone(("CN", "dial"), 3000)
    kinds: dict[int, list[str]] = {0: [], 1: [], 2: []}
    for tick in range(busy.size // FRAME):
        frames = np.stack([busy[tick * FRAME:(tick + 1) * FRAME], dial[tick * FRAME:(tick + 1) * FRAME],
                           np.zeros(FRAME)])
        for event in detector.process(frames):
            if event.end_sample is None:
                kinds[event.slot].append(event.kind.value)
    assert kinds == {0: ["busy"], 1: ["dial"], 2: []}
    assert ToneEvent(0, ToneKind.BUSY, 0).detected("fxo1") == ToneDetected("fxo1", kind=ToneKind.BUSY)
    detector.reset(0)  # a new call on slot 0: busy again, timed from the reset
    late = np.concatenate([np.zeros(800), busy])
    starts = []
    for tick in range(late.size // FRAME):
        frames = np.stack([late[tick * FRAME:(tick + 1) * FRAME], np.zeros(FRAME), np.zeros(FRAME)])
        starts += [e.start_sample for e in detector.process(frames) if e.slot == 0 and e.end_sample is None]
    assert len(starts) == 1 and abs(starts[0] - 800) <= 160
    with pytest.raises(ValueError, match="shape"):
        detector.process(np.zeros((2, FRAME)))


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[np.ndarray]]:
    """The DTMF talk-off speech: Mandarin and English, three speeds and pitches each."""
    corpora = talkoff_corpora()
    workdir: Path = tmp_path_factory.mktemp("speech")
    return {voice: corpora.speech_corpus(workdir, voice) for voice in corpora.VOICES}


def tones_found(clips: list[np.ndarray], country: str, gains_db: tuple[float, ...], slots: int) -> list[str]:
    """Cut the clips into ``slots`` channels, play them at each gain, return every tone found."""
    audio = np.concatenate(clips).astype(np.float64)
    size = audio.size // slots // FRAME * FRAME
    channels = np.stack([audio[k * size:(k + 1) * size] * 10 ** (g / 20) for g in gains_db for k in range(slots)])
    detector = CallProgressDetector(len(channels), country)
    events = []
    for tick in range(size // FRAME):
        events += detector.process(channels[:, tick * FRAME:(tick + 1) * FRAME])
    return [f"{e.kind.value}@{e.slot}:{e.start_sample}" for e in events + detector.flush()]


@pytest.mark.parametrize("country", ["cn", "us"])
def test_no_tones_in_speech(speech: dict[str, list[np.ndarray]], country: str) -> None:
    """Over 5 minutes of speech in 8 long channels at three levels: no tone at all, so no busy hang-up."""
    clips = speech["cmn-latn-pinyin"] + speech["en-us"]
    assert sum(c.size for c in clips) / RATE > 300
    assert tones_found(clips, country, (-20.0, 0.0, 6.0), slots=8) == []


@pytest.mark.parametrize("country", ["cn", "us"])
def test_no_tones_in_music(country: str) -> None:
    """Four minutes of the DTMF suite's synthetic music (chords, arpeggios, sweeps) at three levels: nothing."""
    assert tones_found([talkoff_corpora().music_corpus(240, seed=11)], country, (-15.0, 0.0, 8.0), slots=8) == []


def test_positive_control_busy_after_speech(speech: dict[str, list[np.ndarray]]) -> None:
    """The same speech followed by a busy tone is reported busy: the talk-off test can fail."""
    talk = speech["cmn-latn-pinyin"][0][:40000].astype(np.float64)
    line = np.concatenate([talk, render_tone(("CN", "busy"), 3000)])
    found = detect_tones(line, "cn")
    assert [k.value for _, _, k in found] == ["busy"]
    assert abs(found[0][0] - talk.size) <= 480


SOX_TONES = [  # (country, sox synth effects, kind): tones made by another program than ours
    ("cn", ["synth", "0.35", "sine", "450", "vol", "0.2", "pad", "0", "0.35", "repeat", "5"], "busy"),
    ("cn", ["synth", "0.7", "sine", "450", "vol", "0.05", "pad", "0", "0.7", "repeat", "3"], "congestion"),
    ("cn", ["synth", "1", "sine", "450", "vol", "0.2", "pad", "0", "4", "repeat", "2"], "ringback"),
    ("us", ["synth", "2", "sine", "440", "sine", "480", "remix", "-", "vol", "0.1", "pad", "0", "4",
            "repeat", "1"], "ringback"),
    ("us", ["synth", "0.25", "sine", "480", "sine", "620", "remix", "-", "vol", "0.1", "pad", "0", "0.25",
            "repeat", "7"], "congestion"),
    ("us", ["synth", "3", "sine", "350", "sine", "440", "remix", "-", "vol", "0.1"], "dial"),
    ("us", ["synth", "0.5", "sine", "1100", "vol", "0.1", "pad", "0", "3", "repeat", "1"], "fax_cng"),
    ("cn", ["synth", "3", "sine", "2100", "vol", "0.1"], "fax_ced"),
]


@pytest.mark.parametrize("country, effects, kind", SOX_TONES, ids=[f"{c}-{k}" for c, _, k in SOX_TONES])
def test_tones_made_by_sox(tmp_path: Path, country: str, effects: list[str], kind: str) -> None:
    """sox synthesizes each tone (an independent generator): found once, the right kind, from its start."""
    sox = shutil.which("sox")
    if sox is None:
        pytest.fail("sox is required (apt-get install sox)")
    path = tmp_path / f"{kind}.wav"
    subprocess.run([sox, "-n", "-r", "8000", "-b", "16", "-c", "1", str(path), *effects, "pad", "0.5", "0.5"],
                   check=True, capture_output=True, timeout=30)
    found = detect_tones(wavio.read_wav_8k(path), country)
    assert [k.value for _, _, k in found] == [kind]
    assert abs(found[0][0] - 4000) <= 480
