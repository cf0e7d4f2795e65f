"""``hotline dsp callerid`` and ``hotline dsp tones``: what the analog-line detectors find in a recording.

A technician records a line (or takes a call recording) and checks it: caller ID in any format
(detected automatically) as ``TIME_S FORMAT NUMBER NAME``, call-progress tones as
``START_S END_S KIND`` with the country profile of the configuration (``--country`` overrides);
``--json`` prints one JSON object per line instead. A stereo recording is read on the line's
channel (left, the caller's side) unless ``--channel`` says otherwise.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

import numpy as np

from hotline.drivers.common.callerid_audio import detect_callerid
from hotline.drivers.common.callprogress import COUNTRIES, detect_tones
from ..box.config import ConfigError
from ..media.wavio import WavError, read_wav
from .common import _load
from .channels import DtmfChannel, _channel_audio

__all__ = ["callerid_file_main", "tones_file_main", "register"]

RATE = 8000


def _audio(path: str, channel: str | None, tool: str, err: TextIO) -> np.ndarray | None:
    """The chosen channel of a WAV file at 8 kHz, or None after printing why not."""
    try:
        audio = read_wav(path)
    except WavError as exc:
        print(f"hotline dsp {tool}: {exc}", file=err)
        return None
    chosen = DtmfChannel(channel) if channel else (DtmfChannel.CALLER if audio.channels == 2 else DtmfChannel.MIXED)
    if chosen is not DtmfChannel.MIXED and audio.channels != 2:
        print(f"hotline dsp {tool}: {path}: --channel {chosen.value} needs a stereo recording; this file has "
              f"{audio.channels} channel(s)", file=err)
        return None
    return _channel_audio(audio, chosen)


def callerid_file_main(path: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr, channel: str | None = None,
                       as_json: bool = False) -> int:
    """Print each caller-ID message in the file: ``TIME_S FORMAT NUMBER NAME`` (``-`` for a field not sent)."""
    samples = _audio(path, channel, "callerid", err)
    if samples is None:
        return 2
    for found in detect_callerid(samples):
        cid = found.callerid
        name = cid.name or (cid.name_absent.value if cid.name_absent else "")
        if as_json:
            print(json.dumps({"time_s": round(found.seconds, 3), "format": found.format, "number": cid.number,
                              "name": cid.name, "datetime": cid.time,
                              "number_absent": cid.number_absent.value if cid.number_absent else None,
                              "name_absent": cid.name_absent.value if cid.name_absent else None},
                             ensure_ascii=False), file=out)
        else:
            print(f"{found.seconds:.3f} {found.format} {cid.shown_number or '-'} {name or '-'}", file=out)
    return 0


def _configured_country(args: argparse.Namespace, err: TextIO) -> str:
    """The tone profile of the configuration (locale.tone_profile), or cn when there is no usable configuration."""
    try:
        return str(_load(args)["locale"]["tone_profile"]).lower()
    except ConfigError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "unreadable"
        print(f"hotline dsp tones: no usable configuration ({first}): using country cn (--country to choose)",
              file=err)
        return "cn"


def tones_file_main(path: str, country: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr,
                    channel: str | None = None, as_json: bool = False) -> int:
    """Print each call-progress tone in the file: ``START_S END_S KIND`` (start = the pattern's first burst)."""
    if country.lower() not in COUNTRIES:
        print(f"hotline dsp tones: --country {country!r}: expected one of {', '.join(sorted(COUNTRIES))}", file=err)
        return 2
    samples = _audio(path, channel, "tones", err)
    if samples is None:
        return 2
    for start, end, kind in detect_tones(samples, country.lower()):
        if as_json:
            print(json.dumps({"start_s": round(start / RATE, 3), "end_s": round(end / RATE, 3), "kind": kind.value,
                              "country": country.lower()}), file=out)
        else:
            print(f"{start / RATE:.3f} {end / RATE:.3f} {kind.value}", file=out)
    return 0


def register(dsub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``hotline dsp callerid FILE`` and ``hotline dsp tones FILE [--country cn|us]``."""
    channel_help = ("caller (left of a stereo recording: the line, the default for stereo), other (right) or "
                    "mixed (the default for mono)")
    cid = dsub.add_parser("callerid", help="print the caller ID in a WAV file as 'time_s format number name' "
                          "(Bell 202 / V.23 FSK, SDMF / MDMF, DTMF A...C / D...C, found automatically)",
                          parents=[common])
    cid.add_argument("file")
    cid.add_argument("--channel", choices=[c.value for c in DtmfChannel], default=None, help=channel_help)
    cid.add_argument("--json", action="store_true", help="one JSON object per line")
    cid.set_defaults(fn=lambda args: callerid_file_main(args.file, channel=args.channel, as_json=args.json))
    tn = dsub.add_parser("tones", help="print the call-progress tones in a WAV file as 'start_s end_s kind' "
                         "(dial, ringback, busy, congestion, sit, fax_cng, fax_ced)", parents=[common])
    tn.add_argument("file")
    tn.add_argument("--country", default=None, help=f"tone profile: {', '.join(sorted(COUNTRIES))} "
                    "(default: locale.tone_profile of the configuration)")
    tn.add_argument("--channel", choices=[c.value for c in DtmfChannel], default=None, help=channel_help)
    tn.add_argument("--json", action="store_true", help="one JSON object per line")

    def run_tones(args: argparse.Namespace) -> int:
        country = args.country or _configured_country(args, sys.stderr)
        return tones_file_main(args.file, country, channel=args.channel, as_json=args.json)
    tn.set_defaults(fn=run_tones)
