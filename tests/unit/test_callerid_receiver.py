"""The streaming caller-ID receiver: many lines, 20 ms at a time, every format, in noise and after resets."""
from __future__ import annotations

import numpy as np
import pytest

from hotline.drivers.common import tones
from hotline.drivers.common.callerid import Absence, CallerId
from hotline.drivers.common.callerid_audio import CidStandard, generate_callerid
from hotline.drivers.common.callerid_receiver import CallerIdReceiver
from hotline.drivers.common.dtmf import FRAME

RATE = 8000


def stream(receiver: CallerIdReceiver, lines: np.ndarray) -> list[tuple[int, int, str, CallerId]]:
    """Feed (slots, samples) audio tick by tick; (tick, slot, format, caller) per message."""
    out = []
    for tick in range(lines.shape[1] // FRAME):
        for slot, found in receiver.process(lines[:, tick * FRAME:(tick + 1) * FRAME]):
            out.append((tick, slot, found.format, found.callerid, found.sample))
    return out


def test_every_format_on_its_own_line_at_once() -> None:
    """16 lines: each format on two lines at random starts and levels, in line noise, and silent lines."""
    rng = np.random.default_rng(9)
    callers = {CidStandard.BELL: CallerId("4155550123", "SMITH JOHN", "12071130"),
               CidStandard.ETSI: CallerId("0612345678", "Françoise", "12071130"),
               CidStandard.CN: CallerId("13812345678", "王小明", "12071130"),
               CidStandard.DTMF_A: CallerId("13812345678"),
               CidStandard.DTMF_D: CallerId(number_absent=Absence.PRIVATE)}
    kinds = {CidStandard.BELL: "bell202-mdmf", CidStandard.ETSI: "v23-mdmf", CidStandard.CN: "bell202-mdmf",
             CidStandard.DTMF_A: "dtmf-a", CidStandard.DTMF_D: "dtmf-d"}
    plan = [s for s in CidStandard for _ in range(2)] + [None] * 6
    lines = np.zeros((len(plan), 6 * RATE))
    starts = {}
    for slot, standard in enumerate(plan):
        lines[slot] += rng.standard_normal(lines.shape[1]) * tones.dbm0_to_amplitude(-62) / np.sqrt(2)
        if standard is not None:
            level = float(rng.uniform(-40, -5))
            audio = generate_callerid(callers[standard], standard, level_dbm0=level, phase=rng.uniform(0, 6.3))
            starts[slot] = int(rng.integers(0, 2 * RATE))
            lines[slot, starts[slot]:starts[slot] + audio.size] += audio
    found = stream(CallerIdReceiver(len(plan)), lines)
    assert sorted((slot, kind, cid) for _, slot, kind, cid, _ in found) == [
        (slot, kinds[s], callers[s]) for slot, s in enumerate(plan) if s is not None]
    for tick, slot, _, _, sample in found:
        assert abs(sample - starts[slot]) <= 80
        assert (tick + 1) * FRAME - sample < 3 * RATE  # reported soon after the message


def test_message_inside_long_loud_noise_is_found() -> None:
    """Noise above the burst threshold for 9 s never goes quiet: the message at 6.5 s is still decoded."""
    rng = np.random.default_rng(4)
    line = rng.standard_normal(10 * RATE) * tones.dbm0_to_amplitude(-45) / np.sqrt(2)
    cid = CallerId("13800000000", time="01010000")
    audio = generate_callerid(cid, CidStandard.CN, sdmf=True, level_dbm0=-20)
    line[52000:52000 + audio.size] += audio
    found = stream(CallerIdReceiver(1), line[None, :])
    assert [(kind, c) for _, _, kind, c, _ in found] == [("bell202-sdmf", cid)]


def test_reset_drops_a_message_in_progress() -> None:
    """A slot reset halfway through a DTMF string gives no message; the next complete one is found."""
    cid = CallerId("02012345678")
    audio = generate_callerid(cid, CidStandard.DTMF_A).astype(np.float64)
    line = np.concatenate([audio, np.zeros(RATE), audio, np.zeros(RATE)])
    receiver = CallerIdReceiver(1)
    half = audio.size // 2 // FRAME
    found = []
    for tick in range(line.size // FRAME):
        if tick == half:
            receiver.reset(0)
        found += receiver.process(line[None, tick * FRAME:(tick + 1) * FRAME])
    assert [(f.format, f.callerid) for _, f in found] == [("dtmf-a", cid)]
    with pytest.raises(ValueError, match="shape"):
        receiver.process(np.zeros((2, FRAME)))
