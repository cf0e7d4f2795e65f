"""Caller ID against spandsp's ADSI (libspandsp2 through ctypes), both ways, for every format.

Our generator -> spandsp's receiver; spandsp's transmitter -> our detector. spandsp's FSK receiver
ignores carriers below about -26 dBm0 (Bell 202) / -32 dBm0 (V.23) by design, so that direction is
checked from -3 to -20 dBm0; the other direction scales spandsp's audio over the whole -3 to -40 dBm0.
"""
from __future__ import annotations

import numpy as np
import pytest

from hotline.drivers.common import tones
from hotline.drivers.common.callerid import MDMF, SDMF, Absence, CallerId, decode_message, encode_message
from hotline.drivers.common.callerid_audio import CidStandard, detect_callerid, generate_callerid
from hotline.drivers.common.callerid_dtmf import dtmf_callerid_digits
from hotline.drivers.common.spandsp_adsi import AdsiReceiver, AdsiStandard, AdsiTransmitter, SpandspAdsiError

PEER = {CidStandard.BELL: AdsiStandard.CLASS, CidStandard.CN: AdsiStandard.CLASS, CidStandard.ETSI: AdsiStandard.CLIP,
        CidStandard.DTMF_A: AdsiStandard.CLIP_DTMF, CidStandard.DTMF_D: AdsiStandard.CLIP_DTMF}
CALLERS = {
    CidStandard.BELL: CallerId("4155550123", "SMITH JOHN", "12071130"),
    CidStandard.ETSI: CallerId("0612345678", "Françoise", "12071130"),
    CidStandard.CN: CallerId("13812345678", "王小明", "12071130"),
}


@pytest.fixture(scope="module", autouse=True)
def spandsp_loaded() -> None:
    """libspandsp2 must be installed (scripts/setup-env test does it): a missing library fails, never skips."""
    try:
        AdsiReceiver(AdsiStandard.CLASS).close()
    except SpandspAdsiError as exc:
        pytest.fail(str(exc))


def _noisy(x: np.ndarray, level_dbm0: float, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Silence around ``x`` and white noise ``snr_db`` below ``level_dbm0``."""
    y = np.concatenate([np.zeros(int(rng.integers(800, 2400))), x.astype(np.float64), np.zeros(2400)])
    power = tones.dbm0_to_amplitude(level_dbm0) ** 2 / 2
    return np.clip(np.rint(y + rng.standard_normal(y.size) * np.sqrt(power / 10 ** (snr_db / 10))), -32768, 32767)


FSK_CASES = [(s, t) for s in (CidStandard.BELL, CidStandard.ETSI, CidStandard.CN) for t in (SDMF, MDMF)]
FSK_IDS = [f"{s.value}-{'sdmf' if t == SDMF else 'mdmf'}" for s, t in FSK_CASES]


def _fsk_caller(standard: CidStandard, message_type: int) -> CallerId:
    cid = CALLERS[standard]
    return CallerId(cid.number, time=cid.time) if message_type == SDMF else cid


@pytest.mark.parametrize("standard, message_type", FSK_CASES, ids=FSK_IDS)
def test_our_fsk_is_read_by_spandsp(standard: CidStandard, message_type: int) -> None:
    """Our audio, -3 to -20 dBm0 with 20 dB SNR: spandsp delivers the same bytes, checksum verified by it."""
    rng = np.random.default_rng(message_type)
    cid = _fsk_caller(standard, message_type)
    for level in (-3.0, -10.0, -13.5, -20.0):
        audio = generate_callerid(cid, standard, message_type == SDMF, level, phase=rng.uniform(0, 6.3))
        rx = AdsiReceiver(PEER[standard])
        try:
            got = rx.feed(_noisy(audio, level, 20.0, rng))
        finally:
            rx.close()
        expected = encode_message(cid, message_type, standard is CidStandard.CN)[:-1]
        assert got == [expected], level


@pytest.mark.parametrize("standard, message_type", FSK_CASES, ids=FSK_IDS)
def test_spandsp_fsk_is_read_by_us(standard: CidStandard, message_type: int) -> None:
    """spandsp's audio scaled to -3 ... -40 dBm0, clean and at 20 dB SNR: our detector finds the caller."""
    rng = np.random.default_rng(100 + message_type)
    cid = _fsk_caller(standard, message_type)
    tx = AdsiTransmitter(PEER[standard])
    try:
        audio = tx.send(encode_message(cid, message_type, standard is CidStandard.CN)[:-1]).astype(np.float64)
    finally:
        tx.close()
    modem = "bell202" if PEER[standard] is AdsiStandard.CLASS else "v23"
    kind = f"{modem}-{'sdmf' if message_type == SDMF else 'mdmf'}"
    own = tones.signal_dbm0(audio[audio != 0])
    for level in (-3.0, -13.5, -25.0, -40.0):
        scaled = audio * 10 ** ((level - own) / 20)
        for snr in (60.0, 20.0):
            found = detect_callerid(_noisy(scaled, level, snr, rng))
            assert [(f.format, f.callerid) for f in found] == [(kind, cid)], (level, snr)


DTMF_CASES = [(s, c) for s in (CidStandard.DTMF_A, CidStandard.DTMF_D)
              for c in (CallerId("13812345678"), CallerId(number_absent=Absence.PRIVATE))]


@pytest.mark.parametrize("standard, cid", DTMF_CASES, ids=[f"{s.value}-{c.shown_number}" for s, c in DTMF_CASES])
def test_dtmf_both_ways(standard: CidStandard, cid: CallerId) -> None:
    """Our DTMF strings are read by spandsp's CLIP-DTMF receiver, and spandsp's by us, -3 to -40 dBm0 per tone."""
    rng = np.random.default_rng(7)
    digits = dtmf_callerid_digits(cid, standard.value[-1].upper())
    tx = AdsiTransmitter(AdsiStandard.CLIP_DTMF)
    try:
        theirs = tx.send(digits.encode("ascii")).astype(np.float64)  # spandsp's default: -10 dBm0 per tone
    finally:
        tx.close()
    for level in (-3.0, -13.5, -25.0, -40.0):
        ours = generate_callerid(cid, standard, level_dbm0=level)
        rx = AdsiReceiver(AdsiStandard.CLIP_DTMF)
        try:
            got = rx.feed(_noisy(ours, level, 20.0, rng))
        finally:
            rx.close()
        assert got == [digits.encode("ascii")], level
        found = detect_callerid(_noisy(theirs * 10 ** ((level + 10) / 20), level, 20.0, rng))
        assert [(f.format, f.callerid) for f in found] == [(standard.value, cid)], level


def test_spandsp_messages_parse_as_ours() -> None:
    """What spandsp's receiver delivers (no checksum) is a message our parser accepts once the checksum is added."""
    cid = CALLERS[CidStandard.CN]
    rx = AdsiReceiver(AdsiStandard.CLASS)
    try:
        (got,) = rx.feed(np.concatenate([np.zeros(800), generate_callerid(cid, CidStandard.CN), np.zeros(800)]))
    finally:
        rx.close()
    assert decode_message(got + bytes(((-sum(got)) & 0xFF,))) == cid
