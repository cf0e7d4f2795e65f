"""A DAHDI device's settings: channel ranges ("1-4,6"), FXO and FXS ports, extensions, country; every problem
named with the device and key, all reported at once."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import abi
from .channel import Role

CALLERID_SEND = ("cn", "bell", "etsi", "dtmf-a", "dtmf-d")   # drivers.common.callerid_audio.CidStandard
ANSWER_MODES = ("progress", "polarity", "immediate")   # drivers.analog.profiles.AnswerMode
SIGNALLINGS = ("mfcr2",)
R2_VARIANTS = ("cn", "itu", "ar", "br", "co", "cz", "ec", "mx", "ph", "ve")   # drivers.dahdi.r2lib.VARIANTS
R2_CATEGORIES = ("national", "national_priority", "international", "international_priority", "collect", "test")
COUNTRIES = ("cn", "us", "uk", "de", "fr", "it", "jp", "au", "br", "in")
_RANGE = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?")
_EXTENSION = re.compile(r"[0-9]{1,16}")
MAX_CHANNEL = 1023  # DAHDI_MAX_CHANNELS - 1


def parse_ranges(text: str) -> list[int]:
    """Channel numbers of a range list like "1-4,6,9-10" (ascending ranges, channels 1 to 1023); ValueError with the
    bad part otherwise."""
    out: list[int] = []
    if not str(text).strip():
        return out
    for part in str(text).split(","):
        m = _RANGE.fullmatch(part)
        if not m:
            raise ValueError(f"{part.strip()!r} is not a channel or range (like 1-4,6)")
        first, last = int(m.group(1)), int(m.group(2) or m.group(1))
        if not 1 <= first <= last <= MAX_CHANNEL:
            raise ValueError(f"{part.strip()!r}: channels run from 1 to {MAX_CHANNEL}, low to high")
        out.extend(range(first, last + 1))
    return out


def format_ranges(channels: list[int]) -> str:
    """The shortest range list for channel numbers ([1, 2, 3, 5] -> "1-3,5")."""
    out, run = [], []
    for c in sorted(set(channels)):
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [c]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


@dataclass(frozen=True)
class Port:
    """One configured channel."""

    channo: int
    role: Role
    extension: str = ""


@dataclass
class Plan:
    """The device's settings, checked."""

    ports: list[Port] = field(default_factory=list)
    law: abi.Law = abi.Law.DEFAULT
    country: str = "cn"
    echo_taps: int = 128
    rx_gain: float = 0.0
    tx_gain: float = 0.0
    device: str = abi.CHANNEL_DEVICE
    r2: dict[str, Any] = field(default_factory=dict)        # E1 MFC/R2 settings (variant, max_ani, ...)
    problems: list[str] = field(default_factory=list)      # "DEVICE: key: what is wrong"
    issues: list[tuple[str, str]] = field(default_factory=list)  # (key, what is wrong)


def check(device: str, s: dict[str, Any]) -> Plan:
    """The plan for a device section, with every problem in ``problems`` as "DEVICE: key: what is wrong"."""
    plan, bad = Plan(), []  # type: Plan, list[tuple[str, str]]
    channels: dict[str, list[int]] = {}
    for key in ("fxo", "fxs", "e1"):
        try:
            channels[key] = parse_ranges(str(s.get(key) or ""))
        except ValueError as exc:
            bad.append((key, f"{exc}"))
            channels[key] = []
    for a, b in (("fxo", "fxs"), ("fxo", "e1"), ("fxs", "e1")):
        both = sorted(set(channels[a]) & set(channels[b]))
        if both:
            bad.append((b, f"channels {format_ranges(both)} are also listed under {a}: a port is one or the "
                           "other"))
    bad.extend(_check_r2(s, channels["e1"], plan))
    if not any(channels.values()) and not any(k in s and s[k] for k in ("fxo", "fxs", "e1")):
        bad.append(("fxo", 'no channels configured: give fxo: and/or fxs: (like fxo: "1-4" and fxs: "5-8")'))
    extensions = [str(e) for e in (s.get("extensions") or [])]
    fxs = channels["fxs"]
    if extensions and len(extensions) != len(fxs):
        bad.append(("extensions", f"{len(extensions)} given for {len(fxs)} fxs channels "
                                  f"({format_ranges(fxs) or 'none'}): one extension per FXS port, in channel order"))
    for e in extensions:
        if not _EXTENSION.fullmatch(e):
            bad.append(("extensions", f"{e!r} is not an extension number (digits)"))
    dup = sorted({e for e in extensions if extensions.count(e) > 1})
    if dup:
        bad.append(("extensions", f"{', '.join(dup)} listed twice"))
    if not extensions:
        extensions = [str(c) for c in fxs]  # by default a station's extension is its channel number
    country = str(s.get("country") or "cn").lower()
    if country not in COUNTRIES:
        bad.append(("country", f"unknown {country!r}; known: {', '.join(COUNTRIES)}"))
    law = str(s.get("law") or "default").lower()
    laws = {"default": abi.Law.DEFAULT, "alaw": abi.Law.ALAW, "ulaw": abi.Law.MULAW, "mulaw": abi.Law.MULAW}
    if law not in laws:
        bad.append(("law", f"{law!r}; expected default, alaw or ulaw"))
    taps = s.get("echo_cancel", 128)
    if not isinstance(taps, int) or isinstance(taps, bool) or not (taps == 0 or 32 <= taps <= 1024):
        bad.append(("echo_cancel", f"{taps!r}; expected 0 (off) or 32 to 1024 taps (8 per ms)"))
        taps = 0
    for key in ("rx_gain", "tx_gain"):
        v = s.get(key, 0.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not -24.0 <= float(v) <= 24.0:
            bad.append((key, f"{v!r}; expected dB from -24 to 24"))
    answer = str(s.get("answer") or "progress").lower()
    if answer not in ANSWER_MODES:
        bad.append(("answer", f"{answer!r}; expected {', '.join(ANSWER_MODES)}"))
    sends = str(s.get("callerid_send") or "").lower()
    if sends and sends not in CALLERID_SEND:
        bad.append(("callerid_send", f"{sends!r}; expected {', '.join(CALLERID_SEND)}"))
    for key in ("hangup_on_polarity", "busy_disconnect", "mwi"):
        if key in s and not isinstance(s[key], bool):
            bad.append((key, f"{s[key]!r}; expected true or false"))
    plan.ports = [Port(c, Role.E1) for c in channels["e1"]] + [Port(c, Role.FXO) for c in channels["fxo"]] + \
        [Port(c, Role.FXS, extensions[i] if i < len(extensions) else str(c)) for i, c in enumerate(fxs)]
    plan.ports.sort(key=lambda p: p.channo)
    plan.law, plan.country, plan.echo_taps = laws.get(law, abi.Law.DEFAULT), country, int(taps)
    plan.rx_gain = float(s.get("rx_gain") or 0.0) if not any(k == "rx_gain" for k, _ in bad) else 0.0
    plan.tx_gain = float(s.get("tx_gain") or 0.0) if not any(k == "tx_gain" for k, _ in bad) else 0.0
    plan.device = str(s.get("device") or abi.CHANNEL_DEVICE)
    plan.issues = bad
    plan.problems = [f"{device}: {key}: {msg}" for key, msg in bad]
    return plan


def _check_r2(s: dict[str, Any], e1: list[int], plan: Plan) -> list[tuple[str, str]]:
    """The E1 keys: signalling (mfcr2), the R2 variant, digit counts, category and the ANI sent on calls out."""
    bad: list[tuple[str, str]] = []
    signalling = str(s.get("signalling") or "").lower()
    if e1 and not signalling:
        bad.append(("signalling", "missing: E1 channels need the line signalling the exchange uses (mfcr2)"))
    elif signalling and signalling not in SIGNALLINGS:
        bad.append(("signalling", f"{signalling!r}; expected {', '.join(SIGNALLINGS)} (ISDN PRI is not supported "
                                  "yet)"))
    elif signalling and not e1:
        bad.append(("e1", f"signalling {signalling} is set but no e1 channels are listed (like e1: \"1-15,17-31\")"))
    dchan = [c for c in e1 if (c - 1) % 31 == 15]
    if dchan:
        bad.append(("e1", f"channel {format_ranges(dchan)} is timeslot 16 of an E1 span: it carries the CAS bits, "
                          "not a call (give 1-15,17-31 for the first span)"))
    variant = str(s.get("r2_variant") or "cn").lower()
    if variant not in R2_VARIANTS:
        bad.append(("r2_variant", f"unknown {variant!r}; known: {', '.join(R2_VARIANTS)}"))
    r2: dict[str, Any] = {"variant": variant}
    for key, default in (("r2_max_ani", 10), ("r2_max_dnis", 4)):
        v = s.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 80:
            bad.append((key, f"{v!r}; expected a digit count from 1 to 80"))
            v = default
        r2[key[3:]] = v
    category = str(s.get("r2_category") or "national").lower()
    if category not in R2_CATEGORIES:
        bad.append(("r2_category", f"{category!r}; expected {', '.join(R2_CATEGORIES)}"))
        category = "national"
    r2["category"] = category
    ani = str(s.get("r2_ani") or "")
    if ani and not ani.isdigit():
        bad.append(("r2_ani", f"{ani!r} is not a number (digits only)"))
        ani = ""
    r2["ani"] = ani
    for key in ("r2_immediate_accept", "r2_skip_category"):
        if key in s and not isinstance(s[key], bool):
            bad.append((key, f"{s[key]!r}; expected true or false"))
        r2[key[3:]] = bool(s.get(key, False)) if isinstance(s.get(key, False), bool) else False
    plan.r2 = r2
    return bad
