"""Country profiles and per-port settings of analog signalling: ring cadence, caller-ID timing, answer and hang-up rules."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from ..common.callerid_audio import CidStandard
from ..common.callprogress import get_country
from ..common.tones import get_profile

__all__ = ["AnalogCountry", "COUNTRIES", "get_analog_country", "AnswerMode", "CidMode", "AnalogSettings"]


@dataclass(frozen=True)
class AnalogCountry:
    """How lines ring and carry caller ID in one country; ``tones`` names the call-progress profile."""

    code: str
    ring_on_ms: float  # one burst of ringing
    ring_off_ms: float  # the pause after it
    callerid: CidStandard  # what the box sends to its phones unless a port says otherwise
    cid_delay_ms: float  # FSK caller ID starts this long after the first ring ends
    tones: str  # drivers.common.callprogress / tones profile code


COUNTRIES: dict[str, AnalogCountry] = {
    # YD/T 1277: FSK (Bell 202) between the first and second ring; many exchanges send DTMF before the ring
    "cn": AnalogCountry("cn", 1000.0, 4000.0, CidStandard.CN, 600.0, "cn"),
    # Telcordia GR-30: Bell 202 FSK at least 500 ms after the first ring
    "us": AnalogCountry("us", 2000.0, 4000.0, CidStandard.BELL, 500.0, "us"),
}


def get_analog_country(code: str) -> AnalogCountry:
    """The profile of a country code such as "cn" or "US"; KeyError names the known ones."""
    try:
        return COUNTRIES[code.lower()]
    except KeyError:
        raise KeyError(f"no analog line profile for {code!r} (known: {', '.join(sorted(COUNTRIES))})") from None


class AnswerMode(enum.Enum):
    """How an FXO port learns that the number it dialled answered."""

    POLARITY = "polarity"  # the exchange reverses polarity on answer
    PROGRESS = "progress"  # call-progress detection: voice on the line, or ringback that stops
    IMMEDIATE = "immediate"  # answered as soon as dialling is done (lines that give no sign at all)


class CidMode(enum.Enum):
    """Whether an FXO port waits for caller ID before it posts ``Ringing``."""

    AUTO = "auto"  # any format, before the first ring, after a polarity reversal or between rings
    NONE = "none"  # the line sends none: Ringing at the first ring


@dataclass(frozen=True)
class AnalogSettings:
    """Signalling settings of one analog port; every time is in seconds unless named ``_ms``."""

    country: str = "cn"
    callerid: CidMode = CidMode.AUTO  # FXO: receiving
    callerid_send: CidStandard | None = None  # FXS: what the phone understands (None: the country's)
    answer: AnswerMode = AnswerMode.PROGRESS
    hangup_on_polarity: bool = False  # FXO: a polarity reversal in a call means the far end hung up
    busy_disconnect: bool = True  # FXO: busy, congestion or dial tone in a call means the far end hung up
    polarity_guard: float = 0.6  # FXO: polarity reversals this soon after going off hook are ignored
    ring_timeout: float | None = None  # FXO: no ring for this long ends an unanswered call (None: off + 2.5 s)
    dial_delay: float = 1.0  # FXO: seconds after seizure before dialling, without waiting for dial tone
    wait_dialtone: bool = False  # FXO: dial only after dial tone is heard (fail as congestion without it)
    dialtone_timeout: float = 5.0
    dtmf_on_ms: float = 100.0  # FXO dialling
    dtmf_off_ms: float = 100.0
    dtmf_level_dbm0: float = -7.0
    no_answer: float = 60.0  # FXO: an outgoing call not answered by then is given up
    voice_ms: float = 400.0  # FXO, answer by progress: this much voice (loud, not a tone) means answered
    flash_ms: float = 600.0  # FXO: length of the box's own hook flash
    flash_min_ms: float = 80.0  # FXS: shorter on-hook is a bounce
    flash_max_ms: float = 1000.0  # FXS: longer on-hook is a hang-up (0: the hardware times flashes itself)
    station_dialtone: bool = False  # FXS: the port gives dial tone and reports digits itself
    digit_timeout: float = 4.0  # FXS: digit collection ends this long after the last digit
    station_hangup_tone: bool = True  # FXS: busy tone when the box ends a call and the phone is still off hook
    mwi: bool = False  # FXS: the phone shows message waiting from FSK messages

    def __post_init__(self) -> None:
        get_analog_country(self.country)
        get_country(self.profile.tones)
        get_profile(self.profile.tones)
        for name in ("polarity_guard", "dial_delay", "dialtone_timeout", "dtmf_on_ms", "dtmf_off_ms", "no_answer",
                     "voice_ms", "flash_ms", "flash_min_ms", "flash_max_ms", "digit_timeout"):
            if getattr(self, name) < 0:
                raise ValueError(f"analog setting {name}: must not be negative, got {getattr(self, name)!r}")
        if self.flash_max_ms and self.flash_max_ms <= self.flash_min_ms:
            raise ValueError("analog setting flash_max_ms: must be 0 or above flash_min_ms")

    @property
    def profile(self) -> AnalogCountry:
        """The country profile."""
        return get_analog_country(self.country)

    @property
    def send_standard(self) -> CidStandard:
        """The caller-ID standard the port sends to its phone."""
        return self.callerid_send or self.profile.callerid

    @property
    def ring_timeout_s(self) -> float:
        """Seconds without ringing after which a caller has given up."""
        return self.ring_timeout if self.ring_timeout is not None else self.profile.ring_off_ms / 1000 + 2.5
