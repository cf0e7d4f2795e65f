"""Pure parsing of what a voice modem prints in command mode: result codes, caller-ID blocks, identification
(ATI/ATI3/ATI9) and the +VSM=? list of voice formats. No I/O: every function takes text and returns values."""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from .profiles import Encoding, VoiceFormat


class Result(enum.Enum):
    """A final or unsolicited result code (verbose form, ATV1)."""

    OK = "OK"
    ERROR = "ERROR"
    RING = "RING"
    NO_CARRIER = "NO CARRIER"
    BUSY = "BUSY"
    NO_DIALTONE = "NO DIALTONE"
    NO_ANSWER = "NO ANSWER"
    CONNECT = "CONNECT"
    VCON = "VCON"
    RINGING = "RINGING"      # some modems report the far end ringing while dialling
    DELAYED = "DELAYED"
    BLACKLISTED = "BLACKLISTED"


# result codes that end a command (the others arrive unsolicited)
FINAL = frozenset({Result.OK, Result.ERROR, Result.NO_CARRIER, Result.BUSY, Result.NO_DIALTONE,
                   Result.NO_ANSWER, Result.CONNECT, Result.VCON, Result.DELAYED, Result.BLACKLISTED})
_BY_TEXT = {r.value: r for r in Result}
_NUMERIC = {"0": Result.OK, "1": Result.CONNECT, "2": Result.RING, "3": Result.NO_CARRIER, "4": Result.ERROR,
            "6": Result.NO_DIALTONE, "7": Result.BUSY, "8": Result.NO_ANSWER}


def parse_result(line: str, numeric: bool = False) -> Result | None:
    """The result code a response line is, or None (an information line). ``CONNECT 33600`` counts as CONNECT;
    numeric codes (ATV0) are only recognised when ``numeric`` is set, so an ATI line "0" stays information."""
    text = line.strip().upper()
    if not text:
        return None
    if text in _BY_TEXT:
        return _BY_TEXT[text]
    if text.startswith("CONNECT ") or text.startswith("CONNECT/"):
        return Result.CONNECT
    if numeric and text in _NUMERIC:
        return _NUMERIC[text]
    return None


# ---- caller ID -----------------------------------------------------------------------------------------------

class CallerIdReason(enum.Enum):
    """Why a caller-ID field holds no value."""

    NONE = ""                   # the value is there
    PRIVATE = "private"         # "P": the caller withheld it
    UNAVAILABLE = "unavailable"  # "O": out of area, the network does not know it


# Bellcore/ETSI as modems print them: "O" = out of area (unavailable), "P" = private (withheld)
_REASONS = {"O": CallerIdReason.UNAVAILABLE, "P": CallerIdReason.PRIVATE}
_CID_KEYS = {"DATE": "date", "TIME": "time", "NMBR": "number", "NAME": "name", "MESG": "message",
             "DDN_NMBR": "dialed", "DDN": "dialed"}
_CID_LINE = re.compile(r"^\s*(DATE|TIME|NMBR|NAME|MESG|DDN_NMBR|DDN)\s*[=:]\s*(.*?)\s*$", re.IGNORECASE)


@dataclass
class CallerId:
    """One call's caller-ID block as the modem printed it between the first and second ring."""

    date: str = ""
    time: str = ""
    number: str = ""
    name: str = ""
    dialed: str = ""
    number_reason: CallerIdReason = CallerIdReason.NONE
    name_reason: CallerIdReason = CallerIdReason.NONE
    fields: int = 0  # how many lines were taken

    @property
    def reason(self) -> str:
        """Why there is no number (``private``, ``unavailable``) or "" when there is one."""
        return self.number_reason.value


def parse_cid_line(line: str) -> tuple[str, str] | None:
    """``("number", "5551234")`` for a caller-ID line such as ``NMBR = 5551234``, None for any other line."""
    m = _CID_LINE.match(line)
    if not m:
        return None
    return _CID_KEYS[m.group(1).upper()], m.group(2)


def apply_cid(cid: CallerId, key: str, value: str) -> None:
    """Fold one parsed caller-ID line into ``cid`` (O and P become reasons, not numbers or names)."""
    cid.fields += 1
    if key == "number":
        if value.upper() in _REASONS:
            cid.number, cid.number_reason = "", _REASONS[value.upper()]
        else:
            cid.number = "".join(ch for ch in value if ch.isdigit() or ch in "+*#")[:32]
    elif key == "name":
        if value.upper() in _REASONS:
            cid.name, cid.name_reason = "", _REASONS[value.upper()]
        else:
            cid.name = "".join(ch for ch in value if ch.isprintable())[:64]
    elif key in ("date", "time"):
        setattr(cid, key, value[:8])
    elif key == "dialed":
        cid.dialed = "".join(ch for ch in value if ch.isdigit() or ch in "+*#")[:32]


# ---- identification -----------------------------------------------------------------------------------------

@dataclass
class Identity:
    """What a modem said about itself (ATI, ATI3, ATI9 and +FCLASS=?)."""

    manufacturer: str = ""
    model: str = ""
    revision: str = ""
    info: dict[str, list[str]] = field(default_factory=dict)  # command -> information lines
    classes: tuple[str, ...] = ()  # +FCLASS=? : "0", "1", "1.0", "2", "8" ...

    @property
    def text(self) -> str:
        """Every information line in one upper-case string (for profile matching)."""
        return " ".join(" ".join(v) for v in self.info.values()).upper()

    @property
    def has_voice(self) -> bool:
        """True when the modem offers service class 8 (voice)."""
        return "8" in self.classes or "8.0" in self.classes


_MAKERS = (("CONEXANT", "Conexant"), ("ROCKWELL", "Rockwell"), ("U.S. ROBOTICS", "U.S. Robotics"),
           ("USROBOTICS", "U.S. Robotics"), ("USR", "U.S. Robotics"), ("AGERE", "Agere"), ("LSI", "LSI"),
           ("LUCENT", "Lucent"), ("ZOOM", "Zoom"), ("MULTITECH", "Multi-Tech"), ("MULTI-TECH", "Multi-Tech"),
           ("TOPIC", "Topic"), ("CIRRUS", "Cirrus Logic"), ("MOTOROLA", "Motorola"))


def parse_classes(lines: list[str]) -> tuple[str, ...]:
    """The service classes of an +FCLASS=? answer, e.g. ``0,1,1.0,2,8`` or ``(0-2,8)``."""
    out: list[str] = []
    for line in lines:
        text = line.upper().replace("+FCLASS:", "").replace("(", "").replace(")", "").strip()
        for part in text.split(","):
            part = part.strip()
            m = re.fullmatch(r"(\d+)-(\d+)", part)
            if m and int(m.group(2)) - int(m.group(1)) < 16:
                out.extend(str(i) for i in range(int(m.group(1)), int(m.group(2)) + 1))
            elif re.fullmatch(r"\d+(\.\d+)?", part):
                out.append(part)
    return tuple(dict.fromkeys(out))


def identify(info: dict[str, list[str]], classes: list[str] | None = None) -> Identity:
    """An Identity from the information lines each identification command printed (``{"ATI": [...], ...}``)."""
    ident = Identity(info={k: [ln.strip() for ln in v if ln.strip()] for k, v in info.items()},
                     classes=parse_classes(classes or []))
    text = ident.text
    for key, maker in _MAKERS:
        if re.search(r"(?<![A-Z])" + re.escape(key) + r"(?![A-Z])", text):
            ident.manufacturer = maker
            break
    # the model is the most descriptive line: ATI3 usually names it, else ATI / ATI9's first non-numeric line
    for cmd in ("ATI3", "ATI9", "ATI", "ATI4", "ATI6"):
        for ln in ident.info.get(cmd, []):
            if re.search(r"[A-Za-z]", ln) and not ln.upper().startswith(("OK", "ERROR")):
                ident.model = ln[:80]
                break
        if ident.model:
            break
    m = re.search(r"\b[VR]?(\d+\.\d+[\w.\-]*)", " ".join(ident.info.get("ATI3", []) + ident.info.get("ATI", [])))
    if m:
        ident.revision = m.group(1)[:20]
    return ident


# ---- voice formats (+VSM=?) ---------------------------------------------------------------------------------

def _encoding(name: str, bits: int) -> Encoding | None:
    """The encoding a +VSM format name means, or None for one the driver does not know."""
    n = name.upper().replace(" ", "")
    if "U-LAW" in n or "ULAW" in n or "G711U" in n or "G.711U" in n:
        return Encoding.ULAW
    if "A-LAW" in n or "ALAW" in n or "G711A" in n or "G.711A" in n:
        return Encoding.ALAW
    if "ADPCM" in n:
        return Encoding.IMA_ADPCM4 if bits == 4 or "IMA" in n or "4BIT" in n else Encoding.ADPCM2
    if "PCM" in n or "LINEAR" in n:
        if bits == 16 or "16-BIT" in n:
            return Encoding.LINEAR16
        if bits == 8 or "8-BIT" in n:
            return Encoding.SIGNED_PCM8 if "SIGNED" in n and "UNSIGNED" not in n else Encoding.UNSIGNED_PCM8
    return None


def _split_top(text: str) -> list[str]:
    """Split at commas outside parentheses and quotes."""
    parts, depth, quoted, cur = [], 0, False, []
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0 and not quoted:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def _rates(text: str) -> tuple[int, ...]:
    out: list[int] = []
    for part in text.strip().strip("()").split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            out.extend(r for r in (7200, 8000, 11025) if lo <= r <= hi)
        elif part.isdigit():
            out.append(int(part))
    return tuple(r for r in out if 1000 <= r <= 48000)


def parse_vsm_line(line: str) -> VoiceFormat | None:
    """One line of +VSM=? (``131,"G.711 U-LAW",8,0,(8000),(0),(0)``, ``+VSM: 1,"UNSIGNED PCM",8,0,(8000)...`` or the
    short ``128,"8-BIT LINEAR",(7200,8000)``), or None when the line is not a format the driver knows."""
    text = line.strip()
    if text.upper().startswith("+VSM:"):
        text = text[5:].strip()
    parts = _split_top(text)
    if len(parts) < 3 or not parts[0].isdigit() or len(parts[0]) > 4 \
            or not (len(parts[1]) >= 2 and parts[1].startswith('"') and parts[1].endswith('"')):
        return None
    name = parts[1][1:-1][:40]
    bits_text, rate_text = (parts[2], parts[4]) if len(parts) >= 5 else ("", parts[2])
    bits = int(bits_text) if bits_text.isdigit() and len(bits_text) < 3 else (16 if "16" in name else 8)
    rates = _rates(rate_text)
    encoding = _encoding(name, bits)
    if not rates or encoding is None:
        return None
    return VoiceFormat(int(parts[0]), name, bits, rates, encoding)


def parse_vsm(lines: list[str]) -> list[VoiceFormat]:
    """Every known format of a +VSM=? answer (other lines are skipped)."""
    return [f for f in (parse_vsm_line(ln) for ln in lines) if f is not None]


# encodings the driver carries at 8 kHz, best first (the elastic buffers move G.711; 8-bit linear is one table
# lookup away); then the ones it decodes and resamples
PREFERENCE = (Encoding.ULAW, Encoding.ALAW, Encoding.UNSIGNED_PCM8, Encoding.SIGNED_PCM8)
RESAMPLED = (Encoding.IMA_ADPCM4,)


class FormatRefused(ValueError):
    """The modem offers no voice format the driver can carry."""


def choose_format(formats: list[VoiceFormat], decodable: tuple[Encoding, ...] = RESAMPLED) -> tuple[VoiceFormat, int]:
    """The best format and its sample rate: mu-law, A-law, 8-bit linear at 8 kHz first, else a ``decodable`` one
    at its own rate (resampled to 8 kHz). Raises FormatRefused naming what was offered otherwise."""
    for enc in PREFERENCE:
        for f in formats:
            if f.encoding is enc and 8000 in f.rates:
                return f, 8000
    for enc in decodable:
        for f in formats:
            if f.encoding is enc:
                return f, (8000 if 8000 in f.rates else min(f.rates, key=lambda r: abs(r - 8000)))
    offered = "; ".join(f"{f.code} {f.name} ({'/'.join(str(r) for r in f.rates)} Hz)" for f in formats) or "none"
    raise FormatRefused(f"no usable voice format: the modem offers {offered}; the driver needs 8 kHz mu-law, "
                        "A-law or 8-bit linear, or IMA ADPCM (resampled)")
