"""Chipset profiles: every profile is consistent, and real chipsets' ATI answers identify the right one."""
from __future__ import annotations

import pytest

from hotline.drivers.modem.profiles import (
    DEFAULT, PROFILES, ChipsetProfile, Encoding, HangupSignal, Quirk, get_profile, identify,
)

REQUIRED = {"conexant", "usr", "agere", "zoom", "default", "emu-half", "emu-adpcm7200"}


def test_all_profiles_present() -> None:
    """The chipsets the issue names, the conservative default and both emulator profiles exist."""
    assert REQUIRED <= set(PROFILES)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_profile_consistent(name: str) -> None:
    """The preferred format is offered at the preferred rate; voice class 8 is listed; commands are spelt."""
    p = PROFILES[name]
    assert isinstance(p, ChipsetProfile)
    assert p.preferred_rate in p.preferred_format.rates
    assert "8" in p.fclass
    assert p.caller_id_command in ("AT+VCID=1", "AT#CID=1")
    assert p.hangup_command.startswith("ATH")
    assert p.ati and p.ati3 and p.ati9, "vgetty waits for an info line for ATI, ATI3 and ATI9"
    assert p.full_duplex == (not p.quirks & Quirk.NO_VTR)
    if any(8000 in f.rates and f.bits == 8 for f in p.formats):
        assert p.preferred_rate == 8000 and p.preferred_format.bits == 8, "8 kHz 8-bit preferred when offered"
    assert identify({"ATI": p.ati, "ATI3": p.ati3, "ATI9": p.ati9}) is (DEFAULT if name == "default" else p)


@pytest.mark.parametrize(("answers", "expected"), [
    ({"ATI": "56000", "ATI3": "CX93001-EIS_V0.2002-V92"}, "conexant"),
    ({"ATI": "RCV336DPFSP Rev 44BC"}, "conexant"),
    ({"ATI": "5601", "ATI3": "U.S. Robotics 56K Message"}, "usr"),
    ({"ATI": "3366"}, "usr"),
    ({"ATI": "AEIGPM560LKTF1"}, "agere"),
    ({"ATI": "Venus V.90 USB U052099a"}, "agere"),
    ({"ATI": "Zoom V.90 PCI I030100gV -H Z207"}, "zoom"),
    ({"ATI": "ERROR", "ATI3": "", "ATI9": "OK"}, "default"),
    ({}, "default"),
])
def test_identify_real_answers(answers: dict, expected: str) -> None:
    """Answers seen from real modems (mgetty's detect.c table) pick the right profile; unknown ones the default."""
    assert identify(answers).name == expected


def test_special_profiles() -> None:
    """The emulator's half-duplex profile hangs up by busy tone; the ADPCM one offers only 7,200 Hz ADPCM."""
    half, adpcm = PROFILES["emu-half"], PROFILES["emu-adpcm7200"]
    assert not half.full_duplex and half.hangup_signal is HangupSignal.BUSY_TONE
    assert [(f.encoding, f.rates) for f in adpcm.formats] == [(Encoding.IMA_ADPCM4, (7200,))]
    assert PROFILES["usr"].caller_id_command == "AT#CID=1"


def test_vsm_line_and_errors() -> None:
    """+VSM=? lines follow V.253's layout; unknown names and codes raise errors that name them."""
    assert PROFILES["usr"].format(131).vsm_line() == '131,"ULAW",8,0,(7200,8000),(0),(0)'
    with pytest.raises(KeyError, match="nosuch"):
        get_profile("nosuch")
    with pytest.raises(KeyError, match="no \\+VSM format 99"):
        PROFILES["default"].format(99)
