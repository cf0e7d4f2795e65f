"""The modem's pure parsing: result codes, caller-ID blocks, identification and +VSM=? lists (tables + hypothesis)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from hotline.drivers.modem import at, profiles
from hotline.drivers.modem.at import CallerId, CallerIdReason, Result
from hotline.drivers.modem.init import LineReader
from hotline.drivers.modem.profiles import Encoding, Quirk


@pytest.mark.parametrize("line,want", [
    ("OK", Result.OK), ("ok", Result.OK), (" ERROR ", Result.ERROR), ("RING", Result.RING),
    ("NO CARRIER", Result.NO_CARRIER), ("BUSY", Result.BUSY), ("NO DIALTONE", Result.NO_DIALTONE),
    ("NO ANSWER", Result.NO_ANSWER), ("CONNECT", Result.CONNECT), ("CONNECT 33600", Result.CONNECT),
    ("VCON", Result.VCON), ("56000", None), ("NMBR = 5551234", None), ("", None), ("0", None),
])
def test_result_codes(line, want):
    assert at.parse_result(line) is want


def test_numeric_result_codes_only_when_asked():
    assert at.parse_result("0", numeric=True) is Result.OK
    assert at.parse_result("3", numeric=True) is Result.NO_CARRIER


@pytest.mark.parametrize("lines,number,name,reason,name_reason", [
    (["DATE = 1207", "TIME = 0712", "NMBR = 5551234", "NAME = ZHANG WEI"], "5551234", "ZHANG WEI", "", ""),
    (["DATE=1207", "TIME=0712", "NMBR=O", "NAME=O"], "", "", "unavailable", "unavailable"),
    (["NMBR = P", "NAME = P"], "", "", "private", "private"),
    (["NMBR: 010-8888 6666", "NAME: Li"], "01088886666", "Li", "", ""),
    (["nmbr = +8613800138000"], "+8613800138000", "", "", ""),
])
def test_caller_id_blocks(lines, number, name, reason, name_reason):
    cid = CallerId()
    for ln in lines:
        key, value = at.parse_cid_line(ln)
        at.apply_cid(cid, key, value)
    assert (cid.number, cid.name, cid.reason, cid.name_reason.value) == (number, name, reason, name_reason)
    assert cid.fields == len(lines)


def test_lines_that_are_not_caller_id():
    for ln in ("RING", "OK", "NUMBER = 5", "NMBRX = 1", "56000"):
        assert at.parse_cid_line(ln) is None


def _answers(p: profiles.ChipsetProfile) -> dict[str, list[str]]:
    return {"ATI": [p.ati], "ATI3": [p.ati3], "ATI9": [p.ati9]}


@pytest.mark.parametrize("name", ["conexant", "usr", "agere", "zoom", "emu-half", "emu-adpcm7200"])
def test_identification_picks_the_profile_and_names_the_modem(name):
    p = profiles.PROFILES[name]
    answers = _answers(p)
    ident = at.identify(answers, [",".join(p.fclass)])
    assert profiles.identify({k: "\n".join(v) for k, v in answers.items()}) is p
    assert ident.model and ident.has_voice
    assert ident.classes == p.fclass


def test_identity_manufacturer_and_classes():
    ident = at.identify({"ATI": ["5601"], "ATI3": ["U.S. Robotics 56K FAX EXT V1.0"]}, ["(0-2,8)"])
    assert ident.manufacturer == "U.S. Robotics"
    assert ident.model == "U.S. Robotics 56K FAX EXT V1.0"
    assert ident.classes == ("0", "1", "2", "8")
    assert not at.identify({"ATI": ["x"]}, ["0,1,2"]).has_voice


@pytest.mark.parametrize("name,code,enc", [
    ("conexant", 1, Encoding.UNSIGNED_PCM8), ("usr", 131, Encoding.ULAW), ("agere", 131, Encoding.ULAW),
    ("zoom", 131, Encoding.ULAW), ("default", 1, Encoding.UNSIGNED_PCM8), ("emu-half", 4, Encoding.ULAW),
])
def test_format_choice_prefers_8khz_g711_then_8bit_linear(name, code, enc):
    p = profiles.PROFILES[name]
    prefix = "+VSM: " if p.quirks & Quirk.VSM_PREFIX else ""
    offered = at.parse_vsm([prefix + f.vsm_line() for f in p.formats] + ["OK"])
    assert [f.code for f in offered] == [f.code for f in p.formats]
    fmt, rate = at.choose_format(offered)
    assert (fmt.code, fmt.encoding, rate) == (code, enc, 8000)


def test_adpcm_only_modem_is_refused_with_what_it_offers():
    p = profiles.PROFILES["emu-adpcm7200"]
    offered = at.parse_vsm([f.vsm_line() for f in p.formats])
    with pytest.raises(at.FormatRefused, match=r"129 IMA ADPCM \(7200 Hz\)"):
        at.choose_format(offered, decodable=())
    assert at.choose_format(offered)[1] == 7200  # once a decoder exists it would be chosen at its own rate


@pytest.mark.parametrize("line,code,rates", [
    ('128,"8-BIT LINEAR",(7200,8000,11025)', 128, (7200, 8000, 11025)),
    ('+VSM: 131,"G.711 U-LAW",8,0,8000,0,0', 131, (8000,)),
    ('132,"A-LAW",8,0,(7200-8000),(0),(0)', 132, (7200, 8000)),
])
def test_vsm_line_variants(line, code, rates):
    f = at.parse_vsm_line(line)
    assert (f.code, f.rates) == (code, rates)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_parsers_never_raise_on_any_text(text):
    at.parse_result(text)
    at.parse_vsm_line(text)
    parsed = at.parse_cid_line(text)
    if parsed:
        at.apply_cid(CallerId(), *parsed)
    at.identify({"ATI": [text]}, [text])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=20))
def test_line_reader_splits_any_bytes_into_bounded_lines(chunks):
    reader = LineReader(limit=64)
    for c in chunks:
        for line in reader.feed(c):
            assert line and "\r" not in line and "\n" not in line
        assert len(reader.buf) <= 64
