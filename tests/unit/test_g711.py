"""G.711 µ-law and A-law tables agree bit for bit with the ITU/Sun reference (CPython's audioop)."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

from hotline.drivers.common import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop  # removed in Python 3.13; the reference while we have it
    except ImportError:  # pragma: no cover - depends on the interpreter
        audioop = None

needs_audioop = pytest.mark.skipif(
    audioop is None, reason=f"no audioop in Python {sys.version_info[:2]}: the SHA-256 test covers it")

ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))
# SHA-256 of the encoding of all 65,536 samples, as produced by audioop (Python 3.11): keeps
# the tables checked bit for bit on interpreters that no longer ship audioop.
ULAW_TABLE_SHA256 = "81d633c9e6972a18c74a58720b96cb8ca0bdd096d4060b646dd708c3b846019a"
ALAW_TABLE_SHA256 = "38488f6fd710f4686360edc4d38639f96c491595ef93f8eb8d62d5e07ca6ce7b"


@needs_audioop
def test_ulaw_encode_matches_reference_for_every_sample() -> None:
    """Every one of the 65,536 int16 values encodes exactly as audioop.lin2ulaw does."""
    assert g711.ulaw_encode(ALL_SAMPLES).tobytes() == audioop.lin2ulaw(ALL_SAMPLES.tobytes(), 2)


@needs_audioop
def test_alaw_encode_matches_reference_for_every_sample() -> None:
    """Every int16 value encodes exactly as audioop.lin2alaw does."""
    assert g711.alaw_encode(ALL_SAMPLES).tobytes() == audioop.lin2alaw(ALL_SAMPLES.tobytes(), 2)


@needs_audioop
def test_decoders_match_reference_for_every_code() -> None:
    """All 256 codes of both laws decode as audioop does."""
    assert g711.ulaw_decode(ALL_CODES).tobytes() == audioop.ulaw2lin(ALL_CODES, 2)
    assert g711.alaw_decode(ALL_CODES).tobytes() == audioop.alaw2lin(ALL_CODES, 2)


def test_encode_tables_match_the_recorded_reference() -> None:
    """The full encode tables hash to what audioop produced, with or without audioop."""
    assert hashlib.sha256(g711.ulaw_encode(ALL_SAMPLES).tobytes()).hexdigest() == ULAW_TABLE_SHA256
    assert hashlib.sha256(g711.alaw_encode(ALL_SAMPLES).tobytes()).hexdigest() == ALAW_TABLE_SHA256


@pytest.mark.parametrize("law, decode", [("u-law", g711.ulaw_decode), ("a-law", g711.alaw_decode)])
def test_decoders_match_sox(law: str, decode) -> None:
    """sox, a codec nobody here wrote, decodes all 256 codes of both laws exactly as we do."""
    sox = shutil.which("sox")
    assert sox, "sox is required for the media tests: apt-get install sox"
    out = subprocess.run([sox, "-t", "raw", "-r", "8000", "-e", law, "-b", "8", "-c", "1", "-",
                          "-t", "raw", "-e", "signed-integer", "-b", "16", "-"],
                         input=ALL_CODES, capture_output=True, check=True).stdout
    assert np.array_equal(np.frombuffer(out, dtype="<i2"), decode(ALL_CODES))


def test_silence_codes() -> None:
    """A zero sample is 0xFF in µ-law and 0xD5 in A-law (which has no zero: it decodes to 8)."""
    zeros = np.zeros(4, dtype=np.int16)
    assert set(g711.ulaw_encode(zeros).tolist()) == {g711.ULAW_SILENCE}
    assert set(g711.alaw_encode(zeros).tolist()) == {g711.ALAW_SILENCE}
    assert g711.ulaw_decode(bytes([g711.ULAW_SILENCE])).tolist() == [0]
    assert g711.alaw_decode(bytes([g711.ALAW_SILENCE])).tolist() == [8]


@pytest.mark.parametrize("encode, decode", [(g711.ulaw_encode, g711.ulaw_decode),
                                            (g711.alaw_encode, g711.alaw_decode)])
def test_round_trip_error_is_within_half_a_quantization_step(encode, decode) -> None:
    """decode(encode(x)) stays within the segment's step size: about 3 % of the sample."""
    back = decode(encode(ALL_SAMPLES)).astype(np.int64)
    error = np.abs(back - ALL_SAMPLES)
    assert np.all(error <= np.maximum(np.abs(ALL_SAMPLES.astype(np.int64)) // 16, 16))
    # Decoding a code and encoding it again gives the same code (the tables are consistent).
    codes = np.arange(256, dtype=np.uint8)
    again = encode(decode(codes))
    if encode is g711.ulaw_encode:  # 0x7F and 0xFF both mean zero in µ-law
        again[codes == 0x7F] = 0x7F
    assert np.array_equal(again, codes)


def test_shapes_dtypes_and_inputs() -> None:
    """Frames of any shape keep their shape; floats are rounded and clipped; bytes decode."""
    frames = np.arange(-800, 800, 5, dtype=np.int16).reshape(2, 160)
    codes = g711.ulaw_encode(frames)
    assert codes.shape == (2, 160) and codes.dtype == np.uint8
    assert g711.ulaw_decode(codes).shape == (2, 160)
    assert g711.ulaw_decode(codes).dtype == np.int16
    as_float = g711.alaw_encode(np.array([0.4, 99999.0, -99999.0]))
    assert as_float.tolist() == g711.alaw_encode(np.array([0, 32767, -32768], dtype=np.int16)).tolist()
    assert g711.alaw_decode(bytearray(b"\xd5\x55")).tolist() == g711.alaw_decode(
        np.array([0xD5, 0x55], dtype=np.uint8)).tolist()
