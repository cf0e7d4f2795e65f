"""Tone synthesis at 8 kHz int16: DTMF digits and per-country call-progress tones.

Level reference (the G.711 convention, as in ITU-T G.711 and spandsp): a sine
wave whose peak is digital full scale (32767) is **+3.14 dBm0**. So a sine of
level ``L`` dBm0 has peak amplitude ``32767 * 10 ** ((L - 3.14) / 20)``:
0 dBm0 is a peak of about 22,826 (RMS about 16,141, i.e. 3.14 dB below a
full-scale sine). Levels are always per frequency: a two-frequency tone at
-10 dBm0 has each component at -10 dBm0 (ITU-T Q.24 convention for DTMF).
"""
from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "DBM0_FULL_SCALE_SINE",
    "DTMF_KEYS",
    "DTMF_LOW",
    "DTMF_HIGH",
    "ToneName",
    "ToneSpec",
    "ToneProfile",
    "ToneGenerator",
    "PROFILES",
    "get_profile",
    "dbm0_to_amplitude",
    "signal_dbm0",
    "dtmf_freqs",
    "dtmf_tone",
    "render_tone",
]

#: Level in dBm0 of a sine whose peak is digital full scale (32767).
DBM0_FULL_SCALE_SINE = 3.14
#: The 16 DTMF keys in keypad order (row by row).
DTMF_KEYS = "123A456B789C*0#D"
#: Low-group (row) frequencies in Hz.
DTMF_LOW = (697.0, 770.0, 852.0, 941.0)
#: High-group (column) frequencies in Hz.
DTMF_HIGH = (1209.0, 1336.0, 1477.0, 1633.0)

_RAMP_MS = 2.0  # raised-cosine rise/fall at every tone burst edge, against clicks


def dbm0_to_amplitude(level_dbm0: float) -> float:
    """Peak amplitude (int16 scale) of a sine at ``level_dbm0``."""
    return 32767.0 * 10.0 ** ((level_dbm0 - DBM0_FULL_SCALE_SINE) / 20.0)


def signal_dbm0(samples: np.ndarray) -> float:
    """Power level of a signal in dBm0 (a sine of that level has the same mean power)."""
    x = np.asarray(samples, dtype=np.float64)
    power = float(np.mean(x * x)) if x.size else 0.0
    ref = dbm0_to_amplitude(0.0) ** 2 / 2.0
    return 10.0 * math.log10(power / ref) if power > 0 else -math.inf


def dtmf_freqs(digit: str) -> tuple[float, float]:
    """The (low, high) frequencies of a DTMF key ('0'-'9', '*', '#', 'A'-'D')."""
    key = digit.upper()
    if len(key) != 1 or key not in DTMF_KEYS:
        raise ValueError(f"not a DTMF key: {digit!r}")
    index = DTMF_KEYS.index(key)
    return DTMF_LOW[index // 4], DTMF_HIGH[index % 4]


def dtmf_tone(
    digit: str,
    ms: float,
    level_dbm0: float = -10.0,
    twist_db: float = 0.0,
    freq_offset: float | tuple[float, float] = 0.0,
    rate: int = 8000,
    phase: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Render one DTMF digit as int16 samples.

    ``level_dbm0`` is the level of the low-group tone; the high-group tone is
    at ``level_dbm0 + twist_db`` (positive twist = high tone stronger, "reverse
    twist"; negative = low tone stronger, "normal twist"), as in spandsp's
    ``dtmf_tx_set_level``. ``freq_offset`` is a fractional frequency error
    (0.015 = +1.5 %) applied to both tones, or a ``(low, high)`` pair.
    ``phase`` gives the starting phase of each tone in radians. No edge ramp
    is applied: the burst is exactly ``ms`` long, as a DTMF sender would key it.
    """
    low, high = dtmf_freqs(digit)
    off_low, off_high = freq_offset if isinstance(freq_offset, tuple) else (freq_offset, freq_offset)
    n = np.arange(int(round(ms * rate / 1000.0)), dtype=np.float64)
    a_low = dbm0_to_amplitude(level_dbm0)
    a_high = dbm0_to_amplitude(level_dbm0 + twist_db)
    x = a_low * np.sin(2 * np.pi * low * (1 + off_low) * n / rate + phase[0])
    x += a_high * np.sin(2 * np.pi * high * (1 + off_high) * n / rate + phase[1])
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


class ToneName(enum.Enum):
    """Call-progress tones every profile provides."""

    DIAL = "dial"
    RINGBACK = "ringback"
    BUSY = "busy"
    CONGESTION = "congestion"
    BEEP = "beep"


@dataclass(frozen=True)
class ToneSpec:
    """One call-progress tone: frequencies, per-frequency level and on/off cadence.

    ``cadence_ms`` alternates on and off durations (``(350, 350)`` = 0.35 s on,
    0.35 s off); an empty cadence is a continuous tone. With ``repeat=False``
    the cadence plays once and the tone is then finished (a beep).
    """

    freqs: tuple[float, ...]
    level_dbm0: float
    cadence_ms: tuple[float, ...] = ()
    repeat: bool = True

    def __post_init__(self) -> None:
        if not self.freqs:
            raise ValueError("a tone needs at least one frequency")
        if any(ms < 0 for ms in self.cadence_ms) or (self.cadence_ms and sum(self.cadence_ms) <= 0):
            raise ValueError(f"bad cadence {self.cadence_ms!r}")
        if not self.cadence_ms and not self.repeat:
            raise ValueError("a one-shot tone needs a cadence (its length)")

    def total_samples(self, rate: int = 8000) -> int | None:
        """Length of a one-shot tone in samples, or None for a repeating/continuous one."""
        if self.repeat:
            return None
        return int(round(sum(self.cadence_ms) * rate / 1000.0))

    def synth(self, start: int, count: int, rate: int = 8000) -> np.ndarray:
        """Samples ``start .. start+count`` of this tone (float64, int16 scale)."""
        n = np.arange(start, start + count, dtype=np.int64)
        envelope = self._envelope(n, rate)
        t = n.astype(np.float64) / rate
        x = np.zeros(count, dtype=np.float64)
        amplitude = dbm0_to_amplitude(self.level_dbm0)
        for freq in self.freqs:
            # Phase from the absolute index keeps frames continuous.
            x += amplitude * np.sin(2 * np.pi * ((freq * t) % 1.0))
        return x * envelope

    def _envelope(self, n: np.ndarray, rate: int) -> np.ndarray:
        """On/off gate with raised-cosine edges for absolute sample indices ``n``."""
        ramp = max(1.0, _RAMP_MS * rate / 1000.0)
        if not self.cadence_ms:
            rise = np.clip((n + 0.5) / ramp, 0.0, 1.0)
            return 0.5 - 0.5 * np.cos(np.pi * rise)
        bounds = np.round(np.cumsum((0.0,) + tuple(self.cadence_ms)) * rate / 1000.0).astype(np.int64)
        cycle = int(bounds[-1])
        pos = n % cycle
        env = np.zeros(n.shape, dtype=np.float64)
        for i in range(0, len(self.cadence_ms), 2):  # on segments are the even entries
            begin, end = int(bounds[i]), int(bounds[i + 1])
            inside = (pos >= begin) & (pos < end)
            edge = np.minimum(pos - begin + 0.5, end - pos - 0.5) / ramp
            env = np.where(inside, 0.5 - 0.5 * np.cos(np.pi * np.clip(edge, 0.0, 1.0)), env)
        if not self.repeat:
            env = np.where(n < cycle, env, 0.0)
        return env


@dataclass(frozen=True)
class ToneProfile:
    """The call-progress tones of one country."""

    code: str
    name: str
    tones: Mapping[ToneName, ToneSpec] = field(default_factory=dict)

    def tone(self, name: ToneName | str) -> ToneSpec:
        """The spec of a named tone (a ToneName or its value such as "busy")."""
        try:
            key = name if isinstance(name, ToneName) else ToneName(str(name).lower())
            return self.tones[key]
        except (ValueError, KeyError):
            known = ", ".join(t.value for t in self.tones)
            raise KeyError(f"profile {self.code} has no tone {name!r} (known: {known})") from None


PROFILES: dict[str, ToneProfile] = {
    "CN": ToneProfile(
        code="CN",
        name="China (YD/T 1169 style)",
        tones={
            ToneName.DIAL: ToneSpec((450.0,), -10.0),
            ToneName.RINGBACK: ToneSpec((450.0,), -10.0, (1000, 4000)),
            ToneName.BUSY: ToneSpec((450.0,), -10.0, (350, 350)),
            ToneName.CONGESTION: ToneSpec((450.0,), -10.0, (700, 700)),
            # One 400 ms burst of 450 Hz, like the Chinese call-waiting tone.
            ToneName.BEEP: ToneSpec((450.0,), -10.0, (400, 0), repeat=False),
        },
    ),
    "US": ToneProfile(
        code="US",
        name="North America (precise tone plan)",
        tones={
            ToneName.DIAL: ToneSpec((350.0, 440.0), -13.0),
            ToneName.RINGBACK: ToneSpec((440.0, 480.0), -19.0, (2000, 4000)),
            ToneName.BUSY: ToneSpec((480.0, 620.0), -24.0, (500, 500)),
            ToneName.CONGESTION: ToneSpec((480.0, 620.0), -24.0, (250, 250)),
            ToneName.BEEP: ToneSpec((1000.0,), -10.0, (250, 0), repeat=False),
        },
    ),
}


def get_profile(code: str) -> ToneProfile:
    """The tone profile for a country code such as "CN" or "US"."""
    try:
        return PROFILES[code.upper()]
    except KeyError:
        raise KeyError(f"unknown tone profile {code!r} (known: {', '.join(sorted(PROFILES))})") from None


class ToneGenerator:
    """Plays a tone frame by frame; phase and cadence continue across frames."""

    def __init__(self, spec: ToneSpec, rate: int = 8000, frame: int = 160) -> None:
        self.spec = spec
        self.rate = rate
        self.frame = frame
        self.position = 0  # next sample index from the start of the tone

    @classmethod
    def for_profile(cls, profile: str | ToneProfile, name: ToneName | str, **kwargs: int) -> ToneGenerator:
        """A generator for the named tone of a profile (code or ToneProfile)."""
        prof = get_profile(profile) if isinstance(profile, str) else profile
        return cls(prof.tone(name), **kwargs)

    @property
    def finished(self) -> bool:
        """True once a one-shot tone has played completely (never for repeating tones)."""
        total = self.spec.total_samples(self.rate)
        return total is not None and self.position >= total

    def reset(self) -> None:
        """Start the tone again from the beginning of its cadence."""
        self.position = 0

    def next_frame(self) -> np.ndarray:
        """The next frame of int16 samples (zeros after a one-shot tone ends)."""
        x = self.spec.synth(self.position, self.frame, self.rate)
        self.position += self.frame
        return np.clip(np.rint(x), -32768, 32767).astype(np.int16)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield frames until the tone is finished (forever for repeating tones)."""
        while not self.finished:
            yield self.next_frame()


def render_tone(
    tone: ToneSpec | tuple[str, ToneName | str], ms: float, rate: int = 8000
) -> np.ndarray:
    """Render ``ms`` milliseconds of a tone (a ToneSpec or a (profile, name) pair) as int16."""
    spec = tone if isinstance(tone, ToneSpec) else get_profile(tone[0]).tone(tone[1])
    x = spec.synth(0, int(round(ms * rate / 1000.0)), rate)
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)
