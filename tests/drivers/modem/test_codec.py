"""Voice codecs of the +VSM formats: round trips, streaming state across odd chunks, byte rates."""
from __future__ import annotations

import numpy as np
import pytest

from hotline.drivers.modem.codec import ImaAdpcm, LinearResampler, VoiceCodec
from hotline.drivers.modem.profiles import Encoding

_STEPS = [
    7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 21, 23, 25, 28, 31, 34, 37, 41, 45, 50, 55, 60, 66, 73, 80, 88,
    97, 107, 118, 130, 143, 157, 173, 190, 209, 230, 253, 279, 307, 337, 371, 408, 449, 494, 544, 598, 658,
    724, 796, 876, 963, 1060, 1166, 1282, 1411, 1552, 1707, 1878, 2066, 2272, 2499, 2749, 3024, 3327, 3660,
    4026, 4428, 4871, 5358, 5894, 6484, 7132, 7845, 8630, 9493, 10442, 11487, 12635, 13899, 15289, 16818,
    18500, 20350, 22385, 24623, 27086, 29794, 32767,
]
_INDEX = [-1, -1, -1, -1, 2, 4, 6, 8, -1, -1, -1, -1, 2, 4, 6, 8]


class _ReferenceAdpcm:
    """The IMA/DVI recommendation written out sample by sample (the former product code): the reference."""

    def __init__(self) -> None:
        self.predictor, self.index = 0, 0

    def _step(self, nibble: int) -> int:
        step = _STEPS[self.index]
        diff = (step >> 3) + (step if nibble & 4 else 0) + (step >> 1 if nibble & 2 else 0) \
            + (step >> 2 if nibble & 1 else 0)
        pred = self.predictor - diff if nibble & 8 else self.predictor + diff
        self.predictor = min(32767, max(-32768, pred))
        self.index = min(88, max(0, self.index + _INDEX[nibble]))
        return self.predictor

    def decode(self, data: bytes) -> list[int]:
        return [self._step(n) for b in data for n in (b & 0x0F, b >> 4)]

    def encode(self, values: list[int]) -> bytes:
        nibbles = []
        for value in values:
            diff = value - self.predictor
            nibble, diff, step = (8 if diff < 0 else 0), abs(diff), _STEPS[self.index]
            for bit, part in ((4, step), (2, step >> 1), (1, step >> 2)):
                if diff >= part:
                    nibble |= bit
                    diff -= part
            self._step(nibble)
            nibbles.append(nibble)
        return bytes(lo | hi << 4 for lo, hi in zip(nibbles[::2], nibbles[1::2]))


def _speechlike(n: int = 16000) -> np.ndarray:
    t = np.arange(n) / 8000.0
    x = 6000 * np.sin(2 * np.pi * 440 * t) + 3000 * np.sin(2 * np.pi * 1230 * t + 1.0)
    return (x * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.int16)


def _snr_db(ref: np.ndarray, out: np.ndarray) -> float:
    ref, out = ref.astype(np.float64), out[:ref.size].astype(np.float64)
    return float(10 * np.log10((ref ** 2).sum() / max(((ref - out) ** 2).sum(), 1e-9)))


@pytest.mark.parametrize("encoding,min_snr", [
    (Encoding.ULAW, 30), (Encoding.ALAW, 30), (Encoding.UNSIGNED_PCM8, 25), (Encoding.SIGNED_PCM8, 25),
    (Encoding.LINEAR16, 90), (Encoding.IMA_ADPCM4, 18),
])
def test_round_trip_in_odd_chunks(encoding: Encoding, min_snr: float) -> None:
    """Encoding and decoding in chunks of odd sizes loses no sample and keeps the format's fidelity."""
    x = _speechlike()
    enc, dec = VoiceCodec(encoding), VoiceCodec(encoding)
    sizes = [1, 7, 159, 160, 33, 801]
    out, pos, i = [], 0, 0
    while pos < x.size:
        chunk = x[pos:pos + sizes[i % len(sizes)]]
        data = enc.encode(chunk)
        # split the line bytes unevenly too (a 16-bit sample may straddle two reads)
        out += [dec.decode(data[:len(data) // 3]), dec.decode(data[len(data) // 3:])]
        pos += chunk.size
        i += 1
    y = np.concatenate(out)
    assert abs(y.size - x.size) <= 1
    assert _snr_db(x[:y.size], y) > min_snr


@pytest.mark.parametrize("encoding,rate,bps", [
    (Encoding.ULAW, 8000, 8000), (Encoding.LINEAR16, 8000, 16000), (Encoding.IMA_ADPCM4, 7200, 3600),
    (Encoding.UNSIGNED_PCM8, 11025, 11025),
])
def test_bytes_per_second(encoding: Encoding, rate: int, bps: int) -> None:
    """A second of 8 kHz audio becomes the format's line bytes per second (pacing depends on it)."""
    codec = VoiceCodec(encoding, rate)
    assert codec.bytes_per_second == bps
    data = b"".join(codec.encode(c) for c in np.array_split(_speechlike(8000), 50))
    assert abs(len(data) - bps) <= 2


def test_silence_bytes() -> None:
    """Silence is 0x80 in unsigned PCM, 0xFF in µ-law, 0xD5 in A-law: what the modem sends on a quiet line."""
    assert VoiceCodec(Encoding.UNSIGNED_PCM8).silence_byte == 0x80
    assert VoiceCodec(Encoding.ULAW).encode(np.zeros(4, np.int16)) == b"\xff" * 4
    assert VoiceCodec(Encoding.ALAW).silence_byte == 0xD5


def test_ima_adpcm_known_vector() -> None:
    """IMA ADPCM by hand: low nibble 7 from rest decodes to 11 (step 7: 7+3+1), then nibble 0 adds 16>>3 = 2."""
    dec = ImaAdpcm()
    out = dec.decode(bytes([0x07]))
    assert out.tolist() == [11, 13]
    assert dec.index == 7


@pytest.mark.parametrize("seed,kind", [(1, "noise"), (2, "noise"), (3, "loud"), (4, "speech"), (5, "clipping")])
def test_ima_adpcm_bit_exact_with_reference(seed: int, kind: str) -> None:
    """The C codec gives the reference's bytes and samples exactly, chunk after odd chunk (state carried)."""
    rng = np.random.default_rng(seed)
    x = {"noise": lambda: rng.integers(-32768, 32768, 4001),
         "loud": lambda: rng.integers(-2000, 2000, 4001) * 16,
         "speech": lambda: _speechlike(4001).astype(np.int64) + rng.integers(-300, 300, 4001),
         "clipping": lambda: np.clip(_speechlike(4001).astype(np.int64) * 8, -32768, 32767)}[kind]().astype(np.int16)
    enc, dec, ref_enc, ref_dec = ImaAdpcm(), ImaAdpcm(), _ReferenceAdpcm(), _ReferenceAdpcm()
    chunks = np.split(x, np.cumsum(rng.integers(1, 400, 40)))
    data = b"".join(enc.encode(c) for c in chunks)
    expected = ref_enc.encode(x.tolist())
    assert data == expected
    parts = [expected[a:b] for a, b in zip([0, 1, 2, 333], [1, 2, 333, None])]
    assert np.concatenate([dec.decode(p) for p in parts]).tolist() == ref_dec.decode(expected)
    assert (dec.predictor, dec.index) == (ref_dec.predictor, ref_dec.index)


def test_resampler_keeps_rate_over_chunks() -> None:
    """7,200 -> 8,000 Hz in chunks of any size yields 10/9 as many samples, with no clicks at chunk joins."""
    up = LinearResampler(7200, 8000)
    t = np.arange(7200) / 7200.0
    x = (8000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)
    y = np.concatenate([up(c) for c in np.array_split(x, 97)])
    assert abs(y.size - 8000) <= 1
    assert np.abs(np.diff(y.astype(np.int32))).max() < 2 * 8000 * np.sin(np.pi * 300 / 8000) + 50


def test_two_bit_vendor_adpcm_refused_clearly() -> None:
    """The vendor 2-bit ADPCM has no codec: a clear ValueError, never silent noise."""
    with pytest.raises(ValueError, match="2-bit"):
        VoiceCodec(Encoding.ADPCM2)
