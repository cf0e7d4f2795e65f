"""Tones: the dBm0 reference, DTMF synthesis, and the CN/US call-progress profiles played frame by frame."""
from __future__ import annotations

import math

import numpy as np
import pytest

from hotline.drivers.common import tones
from hotline.drivers.common.tones import ToneGenerator, ToneName, ToneSpec

RATE = 8000


def spectrum_peaks(x: np.ndarray, count: int) -> list[float]:
    """Frequencies (Hz, 1 Hz resolution) of the ``count`` strongest spectral peaks."""
    mag = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(x.size), RATE))
    peaks = [i for i in range(1, mag.size - 1) if mag[i] >= mag[i - 1] and mag[i] > mag[i + 1]]
    return sorted(sorted(peaks, key=lambda i: -mag[i])[:count])


def tone_level_dbm0(x: np.ndarray, freq: float) -> float:
    """Level in dBm0 of the component of ``x`` at ``freq`` (least squares fit of a sine)."""
    n = np.arange(x.size)
    basis = np.stack([np.cos(2 * np.pi * freq * n / RATE), np.sin(2 * np.pi * freq * n / RATE)], 1)
    coef, *_ = np.linalg.lstsq(basis, x.astype(np.float64), rcond=None)
    amplitude = math.hypot(*coef)
    return 20 * math.log10(amplitude / 32767) + tones.DBM0_FULL_SCALE_SINE


def on_off_pattern(x: np.ndarray, frame: int = 80) -> list[tuple[bool, int]]:
    """Run-length encoding of 10 ms frames being loud (True) or silent, in ms."""
    loud = [bool(np.abs(x[i:i + frame]).max() > 1000) for i in range(0, x.size, frame)]
    runs: list[tuple[bool, int]] = []
    for value in loud:
        if runs and runs[-1][0] == value:
            runs[-1] = (value, runs[-1][1] + 10)
        else:
            runs.append((value, 10))
    return runs


def test_dbm0_reference_is_the_g711_one() -> None:
    """0 dBm0 is a sine 3.14 dB below digital full scale; levels are per frequency."""
    assert tones.dbm0_to_amplitude(3.14) == pytest.approx(32767)
    assert tones.dbm0_to_amplitude(0.0) == pytest.approx(22826.4, abs=0.1)
    x = tones.dtmf_tone("5", 200, level_dbm0=-10)
    assert tone_level_dbm0(x, 770) == pytest.approx(-10, abs=0.02)
    assert tone_level_dbm0(x, 1336) == pytest.approx(-10, abs=0.02)
    assert tones.signal_dbm0(x) == pytest.approx(-10 + 10 * math.log10(2), abs=0.05)


@pytest.mark.parametrize("digit", list(tones.DTMF_KEYS))
def test_every_key_has_its_two_frequencies(digit: str) -> None:
    """Each key's burst contains exactly its row and column frequency."""
    x = tones.dtmf_tone(digit, 100)
    assert x.dtype == np.int16 and x.size == 800
    low, high = tones.dtmf_freqs(digit)
    assert spectrum_peaks(x, 2) == [low, high]


def test_twist_offset_and_phase() -> None:
    """Twist moves the high tone's level, offsets move frequencies, phase sets the start."""
    x = tones.dtmf_tone("1", 500, level_dbm0=-20, twist_db=-8, freq_offset=(0.015, -0.015))
    assert tone_level_dbm0(x, 697 * 1.015) == pytest.approx(-20, abs=0.05)
    assert tone_level_dbm0(x, 1209 * 0.985) == pytest.approx(-28, abs=0.05)
    assert spectrum_peaks(x, 2) == [round(697 * 1.015), round(1209 * 0.985)]
    cosine = tones.dtmf_tone("1", 1, phase=(math.pi / 2, math.pi / 2))
    assert cosine[0] == round(2 * tones.dbm0_to_amplitude(-10))
    with pytest.raises(ValueError, match="not a DTMF key"):
        tones.dtmf_tone("E", 40)


@pytest.mark.parametrize("code, name, freqs, level, cadence", [
    ("CN", ToneName.DIAL, (450.0,), -10.0, ()),
    ("CN", ToneName.RINGBACK, (450.0,), -10.0, (1000, 4000)),
    ("CN", ToneName.BUSY, (450.0,), -10.0, (350, 350)),
    ("CN", ToneName.CONGESTION, (450.0,), -10.0, (700, 700)),
    ("US", ToneName.DIAL, (350.0, 440.0), -13.0, ()),
    ("US", ToneName.RINGBACK, (440.0, 480.0), -19.0, (2000, 4000)),
    ("US", ToneName.BUSY, (480.0, 620.0), -24.0, (500, 500)),
    ("US", ToneName.CONGESTION, (480.0, 620.0), -24.0, (250, 250)),
    ("US", ToneName.BEEP, (1000.0,), -10.0, (250, 0)),
])
def test_profiles_follow_the_national_plans(code, name, freqs, level, cadence) -> None:
    """Frequencies, levels and cadences of the shipped CN and US tone plans."""
    spec = tones.get_profile(code).tone(name)
    assert (spec.freqs, spec.level_dbm0, spec.cadence_ms) == (freqs, level, cadence)
    x = tones.render_tone(spec, 1000 if not cadence else min(sum(cadence), 2000))
    assert spectrum_peaks(x[: min(x.size, 2000)], len(freqs)) == [int(f) for f in freqs]
    assert tone_level_dbm0(x[400:2000] if not cadence else x[400:1600], freqs[0]) == pytest.approx(
        level, abs=0.1)


def test_cadence_continues_across_frames() -> None:
    """Frames from the generator join into the rendered tone, with the on/off timing kept."""
    gen = ToneGenerator.for_profile("CN", "busy")
    frames = [gen.next_frame() for _ in range(140)]  # 2.8 s
    assert all(f.shape == (160,) and f.dtype == np.int16 for f in frames)
    joined = np.concatenate(frames)
    assert np.array_equal(joined, tones.render_tone(("CN", "busy"), 2800))
    pattern = on_off_pattern(joined)
    assert pattern[:4] == [(True, 350), (False, 350), (True, 350), (False, 350)]
    # The phase is continuous across the frame joins: no jump bigger than a sine's slope.
    steady = joined[800:2400].astype(np.float64)
    slope = 2 * np.pi * 450 / RATE * tones.dbm0_to_amplitude(-10)
    assert np.abs(np.diff(steady)).max() <= slope * 1.01


def test_ringback_and_one_shot_beep() -> None:
    """US ringback is 2 s on / 4 s off; a beep plays once and then the generator is finished."""
    us = tones.render_tone(("US", ToneName.RINGBACK), 7000)
    assert on_off_pattern(us)[:3] == [(True, 2000), (False, 4000), (True, 1000)]
    beep = ToneGenerator.for_profile(tones.get_profile("US"), ToneName.BEEP)
    frames = list(beep)
    assert len(frames) == 13 and beep.finished  # 250 ms = 12.5 frames
    assert not np.any(beep.next_frame())
    beep.reset()
    assert not beep.finished and np.any(beep.next_frame())
    dial = ToneGenerator(tones.get_profile("CN").tone("dial"))
    assert not dial.finished and np.any(dial.next_frame())


def test_errors_name_what_is_wrong() -> None:
    """Unknown profiles and tone names, and impossible specs, are refused with clear messages."""
    with pytest.raises(KeyError, match="unknown tone profile 'XX'.*CN, US"):
        tones.get_profile("XX")
    with pytest.raises(KeyError, match="no tone 'howler'"):
        tones.get_profile("us").tone("howler")
    with pytest.raises(ValueError):
        ToneSpec((), -10)
    with pytest.raises(ValueError):
        ToneSpec((440.0,), -10, (), repeat=False)
