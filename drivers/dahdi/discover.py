"""What DAHDI cards this box has, from /proc/dahdi (spans and channels the kernel registered) and
/etc/dahdi/system.conf (how dahdi_cfg configured them), as ready device sections for ``hotline devices probe`` and
the panel's "add device"."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import format_ranges, parse_ranges

PROC_DIR = "/proc/dahdi"
SYSTEM_CONF = "/etc/dahdi/system.conf"


def proc_dir() -> str:
    """/proc/dahdi, or $HOTLINE_DAHDI_PROC (tests, a copy taken from another box)."""
    return os.environ.get("HOTLINE_DAHDI_PROC") or PROC_DIR


def system_conf() -> str:
    """/etc/dahdi/system.conf, or $HOTLINE_DAHDI_CONF."""
    return os.environ.get("HOTLINE_DAHDI_CONF") or SYSTEM_CONF

_SPAN = re.compile(r'Span (\d+): (\S+) "([^"]*)"(.*)')
_CHAN = re.compile(r"\s*(\d+) (\S+)(?: (.*))?")
_ALARMS = ("BLUE", "YELLOW", "RED", "LOOP", "RECOVERING", "NOTOPEN")
# zones dahdi's loadzone= knows, to Hotline's country setting
_ZONES = {"cn": "cn", "us": "us", "us-old": "us", "uk": "uk", "de": "de", "fr": "fr", "it": "it", "jp": "jp",
          "au": "au", "br": "br", "in": "in"}


@dataclass
class ProcChannel:
    """One channel line of /proc/dahdi/N."""

    channo: int
    name: str
    sig: str = ""       # FXSKS, FXOKS, ... ("" when unconfigured)
    in_use: bool = False
    alarms: list[str] = field(default_factory=list)


@dataclass
class ProcSpan:
    """One /proc/dahdi/N file."""

    spanno: int
    name: str
    desc: str
    alarms: list[str] = field(default_factory=list)
    channels: list[ProcChannel] = field(default_factory=list)


def read_proc(proc_dir: str | os.PathLike = PROC_DIR) -> list[ProcSpan]:
    """Spans and channels the kernel registered (empty when DAHDI is not loaded)."""
    base = Path(proc_dir)
    if not base.is_dir():
        return []
    spans = []
    for path in sorted((p for p in base.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)):
        try:
            spans.extend(parse_proc_span(path.read_text(errors="replace")))
        except OSError:
            continue
    return spans


def parse_proc_span(text: str) -> list[ProcSpan]:
    """One /proc/dahdi/N file's span (a list of 0 or 1 span: garbage gives none)."""
    span: ProcSpan | None = None
    for raw in text.splitlines():
        m = _SPAN.match(raw.strip())
        if m:
            span = ProcSpan(int(m.group(1)), m.group(2), m.group(3),
                            [w for w in m.group(4).split() if w in _ALARMS])
            continue
        if span is None or not raw.startswith("\t"):
            continue
        m = _CHAN.fullmatch(raw.rstrip())
        if not m:
            continue
        rest = (m.group(3) or "").split()
        sig = rest[0] if rest and rest[0] not in ("(In", "Reserved") and not rest[0].startswith("(") else ""
        span.channels.append(ProcChannel(int(m.group(1)), m.group(2), sig if sig != "Unconfigured" else "",
                                         "(In use)" in (m.group(3) or ""), [w for w in rest if w in _ALARMS]))
    return [span] if span is not None else []


def read_system_conf(path: str | os.PathLike = SYSTEM_CONF) -> dict[str, Any]:
    """The channel signalling and zone of /etc/dahdi/system.conf: {"fxo": [...], "fxs": [...], "country": ...};
    an FXO port is configured with fxs* signalling and an FXS port with fxo*."""
    out: dict[str, Any] = {"fxo": [], "fxs": [], "e1": [], "country": None, "echocanceller": []}
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return out
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if "=" not in line:
            continue
        key, value = (s.strip() for s in line.split("=", 1))
        key = key.lower()
        try:
            if key in ("fxsks", "fxsls", "fxsgs"):
                out["fxo"] += parse_ranges(value)
            elif key in ("fxoks", "fxols", "fxogs"):
                out["fxs"] += parse_ranges(value)
            elif key == "cas":     # cas=1-15:1101 (E1 timeslots with channel-associated signalling: MFC/R2)
                out["e1"] += parse_ranges(value.split(":", 1)[0])
            elif key == "echocanceller":
                out["echocanceller"] += parse_ranges(value.split(",", 1)[1]) if "," in value else []
        except ValueError:
            continue
        if key in ("loadzone", "defaultzone") and out["country"] is None:
            out["country"] = _ZONES.get(value.lower())
    return out


def probe(proc: str | os.PathLike | None = None, conf_path: str | os.PathLike | None = None) -> list[dict]:
    """Ready device sections (driver dahdi, fxo/fxs ranges, country) for the analog channels DAHDI has configured,
    one per card (the part of the span name before the first slash), with what the kernel says about them."""
    spans = read_proc(proc if proc is not None else proc_dir())
    conf = read_system_conf(conf_path if conf_path is not None else system_conf())
    fxo_conf, fxs_conf, e1_conf = set(conf["fxo"]), set(conf["fxs"]), set(conf.get("e1", []))
    cards: dict[str, dict[str, Any]] = {}
    for span in spans:
        card = span.name.split("/", 1)[0].lower()
        entry: dict[str, Any] = cards.setdefault(card, {"fxo": [], "fxs": [], "e1": [], "spans": [], "in_use": []})
        entry["spans"].append({"span": span.spanno, "name": span.name, "description": span.desc,
                               "alarms": span.alarms, "channels": len(span.channels)})
        for ch in span.channels:
            sig = ch.sig.upper()
            if sig == "CAS" or ch.channo in e1_conf:
                entry["e1"].append(ch.channo)
            elif sig.startswith("FXS") or ch.channo in fxo_conf:
                entry["fxo"].append(ch.channo)
            elif sig.startswith("FXO") or ch.channo in fxs_conf:
                entry["fxs"].append(ch.channo)
            if ch.in_use:
                entry["in_use"].append(ch.channo)
    out = []
    for i, (card, entry) in enumerate(sorted(cards.items())):
        if not entry["fxo"] and not entry["fxs"] and not entry["e1"]:
            continue
        section: dict[str, Any] = {"driver": "dahdi", "name": f"card{i}"}
        if entry["fxo"]:
            section["fxo"] = format_ranges(entry["fxo"])
        if entry["fxs"]:
            section["fxs"] = format_ranges(entry["fxs"])
        if entry["e1"]:   # CAS on an E1: MFC/R2, China's variant unless the technician says otherwise
            section.update(e1=format_ranges(entry["e1"]), signalling="mfcr2", r2_variant="cn")
        section["country"] = conf["country"] or "cn"
        section["card"] = card
        section["spans"] = "; ".join(f"{s['span']} {s['name']} ({s['channels']} channels)" for s in entry["spans"])
        section["alarms"] = "; ".join(f"span {s['span']}: {' '.join(s['alarms'])}" for s in entry["spans"]
                                      if s["alarms"])
        section["in_use"] = format_ranges(entry["in_use"])
        out.append(section)
    return out


CONFIG_KEYS = ("name", "driver", "fxo", "fxs", "e1", "signalling", "r2_variant", "country")


def yaml_entry(section: dict) -> str:
    """The devices: list item to paste into hotline.yaml for one discovered card."""
    out = [f"  - name: {section['name']}", "    driver: dahdi"]
    for key in ("fxo", "fxs", "e1"):
        if section.get(key):
            out.append(f'    {key}: "{section[key]}"')
    for key in ("signalling", "r2_variant"):
        if section.get(key):
            out.append(f"    {key}: {section[key]}")
    out.append(f"    country: {section.get('country') or 'cn'}")
    return "\n".join(out) + "\n"
