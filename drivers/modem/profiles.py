"""Chipset profiles: how each family of voice modem identifies itself and spells its V.253 dialect.

Pure data, no I/O. The driver identifies a modem from its ATI/ATI3/ATI9
answers (identify()); the emulator plays a profile back to the driver.
Sources, checked 2026-12-07 (spellings, not code, were taken):
- mgetty 1.2 voice/libvoice/detect.c (ATI answers per chipset: "56000"/"336"
  Rockwell, "5601"/"3361" U.S. Robotics, "AEIGPM560LKTF1" and the Zoom
  "... Z207" strings Lucent/Agere), IS_101.c (DLE letters), V253modem.c (the
  V.253 command subset, AT+VCID=1), Lucent.c (+VSM 128..132, DLE s quirk).
- Conexant "AT Commands for CX81801/CX06833/CX81300/CX06827" and Rockwell
  RC56 manuals: +VSM=? lines 1 UNSIGNED PCM, 129 IMA ADPCM, 140/141 ADPCM.
- U.S. Robotics 56K command reference: +VSM=? lines 1, 128..133 at 7200/8000.
ATI9 answers are Plug-and-Play strings; where no real sample was found the
text is marked "guessed" and is never used to recognise a chipset.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum, Flag, auto
from typing import Mapping


class Encoding(Enum):
    """How a +VSM format packs samples."""

    UNSIGNED_PCM8 = "u8"       # 8-bit linear, 0x80 is silence
    SIGNED_PCM8 = "s8"
    LINEAR16 = "s16le"         # 16-bit signed little-endian
    ULAW = "ulaw"              # G.711 µ-law
    ALAW = "alaw"              # G.711 A-law
    IMA_ADPCM4 = "ima_adpcm4"  # IMA/DVI ADPCM, 4 bits, low nibble first
    ADPCM2 = "adpcm2"          # vendor 2-bit ADPCM (never chosen by us)


@dataclass(frozen=True)
class VoiceFormat:
    """One line of AT+VSM=?: code, the chipset's name for it, bits per sample, rates, encoding."""

    code: int
    name: str
    bits: int
    rates: tuple[int, ...]
    encoding: Encoding

    def vsm_line(self) -> str:
        """Render the format as a V.253 AT+VSM=? answer line."""
        rates = ",".join(str(r) for r in self.rates)
        return f'{self.code},"{self.name}",{self.bits},0,({rates}),(0),(0)'


class HangupSignal(Enum):
    """How the line tells this modem that the far end hung up."""

    NO_CARRIER = "no_carrier"    # result code after DLE ETX / leaving voice mode
    LOOP_BREAK = "loop_break"    # DLE l: loop current interrupted
    BUSY_TONE = "busy_tone"      # only the exchange's busy tone (DLE b); common on Chinese lines


class Quirk(Flag):
    """Deviations from plain V.253 the driver must know about."""

    NONE = 0
    SILENCE_ONLY = auto()        # DLE s means any silence (Lucent/Agere: no DLE q), mgetty Lucent.c
    VSM_PREFIX = auto()          # AT+VSM=? lines start with "+VSM: " (USR command reference)
    ABORT_CARET = auto()         # receive is stopped with DLE ^ rather than DLE !
    VLS0_BEFORE_HANGUP = auto()  # drop the line with AT+VLS=0 before ATH or the relay stays closed
    NO_VTR = auto()              # AT+VTR answers ERROR: half duplex only
    CLASS2_RX_MSB = auto()       # class 2 (not 2.0) +FDR data comes MSB first whatever +FBOR says (Rockwell;
                                 # efax and HylaFAX expect it: ModemRecvFillOrder)


def _formats(*rows: tuple[int, str, int, tuple[int, ...], Encoding]) -> tuple[VoiceFormat, ...]:
    return tuple(VoiceFormat(*row) for row in rows)


@dataclass(frozen=True)
class ChipsetProfile:
    """What one chipset family answers and how it spells the V.253 voice commands."""

    name: str
    vendor: str
    ati: str                        # answer line to ATI
    ati3: str                       # answer line to ATI3
    ati9: str                       # answer line to ATI9 (PnP id)
    recognise: tuple[str, ...]      # regexes searched in the ATI/ATI3/ATI9 answers
    fclass: tuple[str, ...]         # AT+FCLASS=? classes
    formats: tuple[VoiceFormat, ...]
    preferred: int                  # +VSM code to use (an 8 kHz 8-bit format when offered)
    preferred_rate: int
    caller_id_command: str          # "AT+VCID=1" or "AT#CID=1"
    full_duplex: bool               # AT+VTR works
    dtmf_shielded: bool             # DLE / DLE d DLE ~ rather than plain DLE d
    hangup_command: str
    hangup_signal: HangupSignal
    quirks: Quirk = Quirk.NONE
    notes: str = field(default="", compare=False)
    vls_line: tuple[int, ...] = (1,)    # +VLS values that connect the phone line (take it off hook)
    vls_other: tuple[int, ...] = ()     # further +VLS values accepted (handset, speaker, microphone)

    def format(self, code: int) -> VoiceFormat:
        """Return the offered format with this +VSM code (KeyError if the chipset lacks it)."""
        for fmt in self.formats:
            if fmt.code == code:
                return fmt
        raise KeyError(f"profile {self.name}: no +VSM format {code}")

    @property
    def preferred_format(self) -> VoiceFormat:
        """The format the driver selects with AT+VSM=<preferred>,<preferred_rate>."""
        return self.format(self.preferred)

    def matches(self, answers: Mapping[str, str]) -> bool:
        """True when any recognise pattern occurs in the ATI/ATI3/ATI9 answers given."""
        text = "\n".join(answers.values())
        return any(re.search(p, text, re.IGNORECASE | re.MULTILINE) for p in self.recognise)


E = Encoding
_R3 = (7200, 8000, 11025)

CONEXANT = ChipsetProfile(
    name="conexant", vendor="Rockwell/Conexant (CX930xx and kin)",
    ati="56000", ati3="CX93001-EIS_V0.2002-V92", ati9="(1.0CXT0200\\MODEM\\V92 guessed)",
    recognise=(r"^CX9\d{3}", r"\bRCV\d{3}", r"\bConexant\b", r"\bRockwell\b"),
    fclass=("0", "1", "1.0", "2", "8"),
    formats=_formats(
        (1, "UNSIGNED PCM", 8, _R3, E.UNSIGNED_PCM8),
        (129, "IMA ADPCM", 4, (7200, 8000), E.IMA_ADPCM4),
        (130, "UNSIGNED PCM", 8, _R3, E.UNSIGNED_PCM8),
        (140, "2 Bit ADPCM", 2, _R3, E.ADPCM2),
        (141, "4 Bit ADPCM", 4, _R3, E.IMA_ADPCM4),
    ),
    preferred=1, preferred_rate=8000, caller_id_command="AT+VCID=1",
    full_duplex=True, dtmf_shielded=False, hangup_command="ATH0",
    hangup_signal=HangupSignal.LOOP_BREAK, quirks=Quirk.CLASS2_RX_MSB,
    notes="ATI '56000' is shared by many Rockwell parts (mgetty detect.c); ATI3 names the chip.",
)

USR = ChipsetProfile(
    name="usr", vendor="U.S. Robotics (Sportster/Courier 56K, 5686 family)",
    ati="5601", ati3="U.S. Robotics 56K FAX EXT V1.0", ati9="(1.0USR9100\\Modem\\PNPC107\\U.S. Robotics 56K Message)FF",
    recognise=(r"U\.?S\.? ?Robotics", r"^(5601|3361|3362|3366|2886|1445)$", r"USR\d{4}"),
    fclass=("0", "1", "2.0", "8"),
    formats=_formats(
        (1, "UNSIGNED PCM", 8, (7200, 8000), E.UNSIGNED_PCM8),
        (128, "8-BIT LINEAR", 8, (7200, 8000), E.UNSIGNED_PCM8),
        (129, "ADPCM", 4, (7200, 8000), E.IMA_ADPCM4),
        (130, "UNSIGNED PCM", 8, (7200, 8000), E.UNSIGNED_PCM8),
        (131, "ULAW", 8, (7200, 8000), E.ULAW),
        (132, "ALAW", 8, (7200, 8000), E.ALAW),
        (133, "LINEAR", 16, (7200, 8000), E.LINEAR16),
    ),
    preferred=131, preferred_rate=8000, caller_id_command="AT#CID=1",
    full_duplex=False, dtmf_shielded=False, hangup_command="ATH0",
    hangup_signal=HangupSignal.NO_CARRIER, quirks=Quirk.VSM_PREFIX | Quirk.NO_VTR,
    notes="PnP string from mgetty detect.c comments; caller ID through the #CID command set.",
)

AGERE = ChipsetProfile(
    name="agere", vendor="Agere/LSI (Lucent Venus, SV92 soft modems)",
    ati="AEIGPM560LKTF1", ati3="Agere SoftModem Version 2.1.80", ati9="(1.0LSI0001\\MODEM\\Agere guessed)",
    recognise=(r"\bAgere\b", r"\bLucent\b", r"AEIGPM\d+", r"Venus V\.9\d", r"\bLSI\b"),
    fclass=("0", "1", "8"),
    formats=_formats(
        (128, "8-BIT LINEAR", 8, _R3, E.UNSIGNED_PCM8),
        (129, "16-BIT LINEAR", 16, _R3, E.LINEAR16),
        (130, "8-BIT ALAW", 8, (8000,), E.ALAW),
        (131, "8-BIT ULAW", 8, (8000,), E.ULAW),
        (132, "IMA ADPCM", 4, _R3, E.IMA_ADPCM4),
    ),
    preferred=131, preferred_rate=8000, caller_id_command="AT+VCID=1",
    full_duplex=False, dtmf_shielded=True, hangup_command="ATH0",
    hangup_signal=HangupSignal.LOOP_BREAK,
    quirks=Quirk.SILENCE_ONLY | Quirk.VLS0_BEFORE_HANGUP | Quirk.NO_VTR,
    notes="+VSM 128..132 and the lone DLE s from mgetty Lucent.c; A-law/µ-law order there is 130/131. "
          "+VLS 1 is the line, 5/7 the line with speaker/microphone, and vgetty's IS-101 answer sends +VLS=2.",
    vls_line=(1, 2, 5, 7), vls_other=(4, 6),
)

ZOOM = ChipsetProfile(
    name="zoom", vendor="Zoom (Lucent/Agere based serial and PCI models)",
    ati="Zoom V.90 Serial s052099g -I Z207", ati3="Zoom V.90 Serial", ati9="(1.0ZOOM\\MODEM\\Z207 guessed)",
    recognise=(r"^Zoom\b", r"\bZ207\b"),
    fclass=("0", "1", "8"),
    formats=AGERE.formats,
    preferred=131, preferred_rate=8000, caller_id_command="AT+VCID=1",
    full_duplex=False, dtmf_shielded=True, hangup_command="ATH0",
    hangup_signal=HangupSignal.LOOP_BREAK, quirks=Quirk.SILENCE_ONLY | Quirk.NO_VTR,
    notes="ATI strings from mgetty detect.c (Debian patches); the chip inside is Lucent.",
    vls_line=(1, 2, 5, 7), vls_other=(4, 6),
)

DEFAULT = ChipsetProfile(
    name="default", vendor="unknown V.253 voice modem (conservative)",
    ati="V.253 voice modem", ati3="Generic V.253", ati9="(1.0GEN0000\\MODEM\\V.253 guessed)",
    recognise=(),
    fclass=("0", "1", "8"),
    formats=_formats((1, "UNSIGNED PCM", 8, (8000,), E.UNSIGNED_PCM8)),
    preferred=1, preferred_rate=8000, caller_id_command="AT+VCID=1",
    full_duplex=False, dtmf_shielded=False, hangup_command="ATH0",
    hangup_signal=HangupSignal.NO_CARRIER, quirks=Quirk.NO_VTR,
    notes="Only what V.253 makes mandatory: +VSM=1 8-bit unsigned PCM at 8 kHz, half duplex.",
)

EMU_HALF = ChipsetProfile(
    name="emu-half", vendor="Hotline virtual modem, half duplex",
    ati="Hotline virtual modem", ati3="Hotline virtual modem emu-half", ati9="(1.0HTL0001\\MODEM\\emu-half)",
    recognise=(r"Hotline virtual modem emu-half",),
    fclass=("0", "8"),
    formats=_formats(
        (1, "UNSIGNED PCM", 8, (8000,), E.UNSIGNED_PCM8),
        (4, "G711U", 8, (8000,), E.ULAW),
    ),
    preferred=4, preferred_rate=8000, caller_id_command="AT+VCID=1",
    full_duplex=False, dtmf_shielded=True, hangup_command="ATH0",
    hangup_signal=HangupSignal.BUSY_TONE, quirks=Quirk.NO_VTR,
    notes="For tests: a line that hangs up only with busy tone, like many Chinese exchanges.",
)

EMU_ADPCM = ChipsetProfile(
    name="emu-adpcm7200", vendor="Hotline virtual modem, 7,200 Hz IMA ADPCM only",
    ati="Hotline virtual modem", ati3="Hotline virtual modem emu-adpcm7200", ati9="(1.0HTL0002\\MODEM\\emu-adpcm7200)",
    recognise=(r"Hotline virtual modem emu-adpcm7200",),
    fclass=("0", "8"),
    formats=_formats((129, "IMA ADPCM", 4, (7200,), E.IMA_ADPCM4)),
    preferred=129, preferred_rate=7200, caller_id_command="AT+VCID=1",
    full_duplex=True, dtmf_shielded=False, hangup_command="ATH0",
    hangup_signal=HangupSignal.NO_CARRIER,
    notes="For tests: forces the driver to resample 7,200 <-> 8,000 Hz and decode ADPCM.",
)

PROFILES: dict[str, ChipsetProfile] = {
    p.name: p for p in (CONEXANT, USR, AGERE, ZOOM, DEFAULT, EMU_HALF, EMU_ADPCM)
}

# Most specific first: Zoom boxes carry Lucent chips, emulator names mention nothing real.
_IDENTIFY_ORDER = (EMU_HALF, EMU_ADPCM, ZOOM, USR, AGERE, CONEXANT)


def identify(answers: Mapping[str, str]) -> ChipsetProfile:
    """Pick the profile whose patterns match the ATI/ATI3/ATI9 answers; DEFAULT when none does."""
    for profile in _IDENTIFY_ORDER:
        if profile.matches(answers):
            return profile
    return DEFAULT


def get_profile(name: str) -> ChipsetProfile:
    """Return the named profile, or raise KeyError listing the known names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown modem profile {name!r}; known: {', '.join(PROFILES)}") from None
