"""Caller ID: message layouts (table tests), and every format through audio at -3 to -40 dBm0, clean and in noise."""
from __future__ import annotations

import numpy as np
import pytest

from hotline.drivers.common import tones
from hotline.drivers.common.callerid import (MDMF, SDMF, Absence, CallerId, MessageError, decode_message,
                                             decode_name, encode_message)
from hotline.drivers.common.callerid_audio import CidStandard, detect_callerid, generate_callerid
from hotline.drivers.common.callerid_dtmf import dtmf_callerid_digits, parse_dtmf_callerid
from hotline.drivers.common.fsk import SPECS, FskMode, FskSpec, async_bits, modulate

RATE = 8000
LEVELS = (-3.0, -13.5, -25.0, -40.0)
FORMAT = {CidStandard.BELL: "bell202", CidStandard.ETSI: "v23", CidStandard.CN: "bell202",
          CidStandard.DTMF_A: "dtmf-a", CidStandard.DTMF_D: "dtmf-d"}


def test_sdmf_bytes_match_the_gr30_example() -> None:
    """The classic GR-30 SDMF example (Sept 30, 12:24, 609-555-1212) byte for byte, checksum 0x51."""
    message = encode_message(CallerId("6095551212", time="09301224"), SDMF)
    assert message.hex(" ") == "04 12 30 39 33 30 31 32 32 34 36 30 39 35 35 35 31 32 31 32 51"
    assert decode_message(message) == CallerId("6095551212", time="09301224")


@pytest.mark.parametrize("cid, chinese", [
    (CallerId("13812345678", "张三丰", "12071130"), True),
    (CallerId("0612345678", "Jürgen Müller", "01010000"), False),
    (CallerId(number_absent=Absence.PRIVATE, name_absent=Absence.PRIVATE, time="03150930"), False),
    (CallerId(number_absent=Absence.UNAVAILABLE), False),
    (CallerId("4155550100"), False),
])
def test_mdmf_round_trip_of_the_bytes(cid: CallerId, chinese: bool) -> None:
    """Parameters in, the same parameters out; names keep their script (GB 2312 or Latin-1)."""
    message = encode_message(cid, MDMF, chinese)
    assert message[0] == MDMF and message[1] == len(message) - 3 and sum(message) & 0xFF == 0
    assert decode_message(message) == cid


@pytest.mark.parametrize("raw, why", [
    (bytes.fromhex("041230393330313232343630393535353132313250"), "checksum"),
    (bytes.fromhex("0412303933"), "not a caller-ID message"),
    (bytes.fromhex("06033031325b"), "not a caller-ID message"),
    (bytes((0x80, 3, 0x02, 9, 0x31)) + bytes(((-(0x80 + 3 + 2 + 9 + 0x31)) & 0xFF,)), "past the end"),
])
def test_bad_messages_are_refused_with_a_reason(raw: bytes, why: str) -> None:
    """A wrong checksum, a truncated message, another message type or a broken parameter: MessageError."""
    with pytest.raises(MessageError, match=why):
        decode_message(raw)


def test_bad_caller_fields_are_refused() -> None:
    """Letters in a number, a wrong date, SDMF with a name: refused when built, never sent."""
    with pytest.raises(MessageError, match="caller number"):
        CallerId("555-CALL-NOW")
    with pytest.raises(MessageError, match="MMDDHHMM"):
        CallerId("123", time="13011200")
    with pytest.raises(MessageError, match="SDMF carries no name"):
        encode_message(CallerId("123", "Bob", "01011200"), SDMF)


def test_names_decode_in_their_script() -> None:
    """ASCII as is; GB 2312 bytes as Chinese; other 8-bit text as Latin-1."""
    assert decode_name(b"DOE JOHN") == "DOE JOHN"
    assert decode_name("客服中心".encode("gb2312")) == "客服中心"
    assert decode_name("Müller".encode("latin-1")) == "Müller"


@pytest.mark.parametrize("digits, framing, cid", [
    ("A13812345678C", "A", CallerId("13812345678")),
    ("A13812345678#", "A", CallerId("13812345678")),
    ("A0101234567D0207654321C", "A", CallerId("0101234567")),
    ("B00C", "A", CallerId(number_absent=Absence.UNAVAILABLE)),
    ("B10C", "A", CallerId(number_absent=Absence.PRIVATE)),
    ("D0287654321C", "D", CallerId("0287654321")),
    ("D1#", "D", CallerId(number_absent=Absence.PRIVATE)),
    ("D3#", "D", CallerId(number_absent=Absence.UNAVAILABLE)),
])
def test_dtmf_strings(digits: str, framing: str, cid: CallerId) -> None:
    """ETSI/China A-framing and Taiwan/China D-framing, including the absence codes."""
    assert parse_dtmf_callerid(digits) == (framing, cid)


@pytest.mark.parametrize("digits", ["13812345678C", "A123", "D12#", "B55C", "AC"])
def test_dtmf_strings_that_are_not_caller_id(digits: str) -> None:
    """No start letter, no end, an unknown code or nothing inside: not caller ID."""
    with pytest.raises(MessageError):
        parse_dtmf_callerid(digits)


def test_dtmf_strings_are_built_as_parsed() -> None:
    """The generator's strings are what the parser reads back."""
    for framing in "AD":
        for cid in (CallerId("13812345678"), CallerId(number_absent=Absence.PRIVATE),
                    CallerId(number_absent=Absence.UNAVAILABLE)):
            assert parse_dtmf_callerid(dtmf_callerid_digits(cid, framing)) == (framing, cid)


def _caller(standard: CidStandard, sdmf: bool) -> CallerId:
    """A caller with every field the standard's message can carry."""
    if standard in (CidStandard.DTMF_A, CidStandard.DTMF_D):
        return CallerId("13812345678")
    if sdmf:
        return CallerId("13812345678", time="12071130")
    name = {CidStandard.CN: "王小明", CidStandard.ETSI: "Françoise"}.get(standard, "SMITH JOHN")
    return CallerId("13812345678", name, "12071130")


def line(signal: np.ndarray, level_dbm0: float, snr_db: float | None, rng: np.random.Generator,
         lead: int) -> np.ndarray:
    """The signal after ``lead`` samples of silence, with white noise ``snr_db`` below its level."""
    x = np.concatenate([np.zeros(lead), signal.astype(np.float64), np.zeros(2400)])
    if snr_db is not None:
        power = tones.dbm0_to_amplitude(level_dbm0) ** 2 / 2
        x += rng.standard_normal(x.size) * np.sqrt(power / 10 ** (snr_db / 10))
    return np.clip(np.rint(x), -32768, 32767)


CASES = [(s, sdmf) for s in CidStandard for sdmf in (False, True)
         if not (sdmf and s in (CidStandard.DTMF_A, CidStandard.DTMF_D))]


@pytest.mark.parametrize("standard, sdmf", CASES, ids=[f"{s.value}-{'sdmf' if d else 'mdmf'}" for s, d in CASES])
@pytest.mark.parametrize("snr_db", [None, 20.0], ids=["clean", "snr20"])
def test_round_trip_through_audio(standard: CidStandard, sdmf: bool, snr_db: float | None) -> None:
    """Every format at -3, -13.5, -25 and -40 dBm0, random phase and start: found once, exact, at its start."""
    rng = np.random.default_rng(hash((standard.value, sdmf, snr_db)) & 0xFFFF)
    cid = _caller(standard, sdmf)
    kind = FORMAT[standard] + ("" if standard.value.startswith("dtmf") else "-sdmf" if sdmf else "-mdmf")
    for level in LEVELS:
        for _ in range(3):
            lead = int(rng.integers(800, 4000))
            audio = generate_callerid(cid, standard, sdmf, level, phase=rng.uniform(0, 2 * np.pi))
            found = detect_callerid(line(audio, level, snr_db, rng, lead))
            assert [(f.format, f.callerid) for f in found] == [(kind, cid)], (level, snr_db)
            assert abs(found[0].sample - lead) <= 80, (level, found[0].sample, lead)


def test_two_calls_in_one_recording_come_out_in_order() -> None:
    """DTMF caller ID, then a V.23 one four seconds later: two findings with their times."""
    first = generate_callerid(CallerId("02012345678"), CidStandard.DTMF_D)
    second = generate_callerid(CallerId("13800000000", "Ann", "02290800"), CidStandard.ETSI)
    audio = np.concatenate([np.zeros(4000), first, np.zeros(32000 - first.size), second, np.zeros(4000)])
    found = detect_callerid(audio)
    assert [(f.format, f.callerid.number) for f in found] == [("dtmf-d", "02012345678"),
                                                              ("v23-mdmf", "13800000000")]
    assert [round(f.seconds, 1) for f in found] == [0.5, 4.5]


def test_nothing_in_silence_noise_and_broken_messages() -> None:
    """Noise alone, and a message whose checksum byte was damaged, give no caller ID at all."""
    rng = np.random.default_rng(5)
    assert detect_callerid(rng.standard_normal(8000 * 10) * 3000) == []
    message = encode_message(CallerId("13812345678", time="12071130"), SDMF)
    for checksum, expected in ((message[-1], ["bell202-sdmf"]), ((message[-1] + 1) & 0xFF, [])):
        bits = np.concatenate([np.arange(300) % 2, np.ones(180), async_bits(message[:-1] + bytes((checksum,))),
                               np.ones(4)])
        audio = np.concatenate([np.zeros(800), modulate(bits, FskMode.BELL202)])
        assert [f.format for f in detect_callerid(audio)] == expected


@pytest.mark.parametrize("mode", list(FskMode))
@pytest.mark.parametrize("error", [-0.015, 0.015])
def test_fsk_senders_off_their_tolerances(mode: FskMode, error: float) -> None:
    """Both frequencies and the bit rate 1.5 % off (GR-30 allows 1 %): still decoded, still the right modem."""
    nominal = SPECS[mode]
    skewed = FskSpec(nominal.mark_hz * (1 + error), nominal.space_hz * (1 + error), nominal.baud * (1 + error))
    cid = CallerId("13812345678", "ZHANG SAN", "12071130")
    message = encode_message(cid, MDMF)
    bits = np.concatenate([np.arange(300) % 2, np.ones(180), async_bits(message), np.ones(4)])
    audio = np.concatenate([np.zeros(1000), modulate(bits, mode, -20.0, spec=skewed), np.zeros(1000)])
    assert [(f.format, f.callerid) for f in detect_callerid(audio)] == [(f"{mode.value}-mdmf", cid)]
