"""WAV reading of every common layout (and espeak-ng's bogus headers), resampling to 8 kHz, writing."""
from __future__ import annotations

import shutil
import struct
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from hotline.daemon.media import wavio
from hotline.drivers.common import g711
from hotline.daemon.media.wavio import WavError


def riff(fmt_tag: int, channels: int, rate: int, bits: int, payload: bytes,
         data_size: int | None = None, riff_size: int | None = None, extra: bytes = b"") -> bytes:
    """A hand-built WAV image; sizes can be forced to bogus values."""
    block = channels * ((bits + 7) // 8)
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
            + b"data" + struct.pack("<I", len(payload) if data_size is None else data_size) + payload)
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def sine(freq: float, rate: int, seconds: float, amplitude: float = 10000.0) -> np.ndarray:
    """A float sine wave."""
    return amplitude * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)


def level_at(x: np.ndarray, freq: float, rate: int = 8000) -> float:
    """Amplitude of the component of ``x`` at ``freq`` (least squares fit)."""
    n = np.arange(x.size)
    basis = np.stack([np.cos(2 * np.pi * freq * n / rate), np.sin(2 * np.pi * freq * n / rate)], 1)
    coef, *_ = np.linalg.lstsq(basis, x.astype(np.float64), rcond=None)
    return float(np.hypot(*coef))


def test_write_then_read_round_trip_and_python_wave_agrees(tmp_path: Path) -> None:
    """write_wav output is byte-for-byte what the standard library reads, and reads back equal."""
    samples = np.arange(-4000, 4000, 7, dtype=np.int16)
    path = tmp_path / "out.wav"
    wavio.write_wav(path, samples)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert np.array_equal(np.frombuffer(w.readframes(w.getnframes()), "<i2"), samples)
    audio = wavio.read_wav(path)
    assert (audio.rate, audio.channels, audio.sample_width) == (8000, 1, 2)
    assert np.array_equal(wavio.read_wav_8k(path), samples)
    stereo = np.stack([samples, -samples], axis=1)
    image = wavio.wav_bytes(stereo, rate=16000, channels=2)
    parsed = wavio.parse_wav(image)
    assert parsed.channels == 2 and np.array_equal(parsed.samples[:, 1], -samples)
    assert parsed.duration_s == pytest.approx(samples.size / 16000)


@pytest.mark.parametrize("bits, encode", [
    (8, lambda x: (np.round(x / 256) + 128).astype(np.uint8).tobytes()),
    (16, lambda x: np.round(x).astype("<i2").tobytes()),
    (24, lambda x: b"".join(int(v).to_bytes(3, "little", signed=True) for v in np.round(x * 256))),
    (32, lambda x: np.round(x * 65536).astype("<i4").tobytes()),
])
def test_pcm_widths_decode_to_int16_scale(bits: int, encode) -> None:
    """8-bit unsigned, 16/24/32-bit signed PCM all decode to the same int16-scale signal."""
    x = sine(1000, 8000, 0.1, 8000.0)
    audio = wavio.parse_wav(riff(1, 1, 8000, bits, encode(x)), "w.wav")
    tolerance = 256 if bits == 8 else 1
    assert np.abs(audio.samples[:, 0] - x).max() <= tolerance


def test_float_g711_and_extensible_formats() -> None:
    """IEEE float, µ-law/A-law and WAVE_FORMAT_EXTENSIBLE (PCM sub-format) files decode."""
    x = sine(700, 8000, 0.05, 12000.0)
    as_float = wavio.parse_wav(riff(3, 1, 8000, 32, (x / 32768).astype("<f4").tobytes()))
    assert np.abs(as_float.samples[:, 0] - x).max() < 0.01
    codes = g711.ulaw_encode(x)
    mulaw = wavio.parse_wav(riff(7, 1, 8000, 8, codes.tobytes()))
    assert np.array_equal(mulaw.samples[:, 0], g711.ulaw_decode(codes))
    alaw = wavio.parse_wav(riff(6, 1, 8000, 8, g711.alaw_encode(x).tobytes()))
    assert np.abs(alaw.samples[:, 0] - x).max() < 400
    pcm = np.round(x).astype("<i2")
    ext = struct.pack("<HHIIHHHHIH14s", 0xFFFE, 1, 8000, 16000, 2, 16, 22, 16, 4, 1, b"\x00" * 14)
    image = b"RIFF" + struct.pack("<I", 0) + b"WAVEfmt " + struct.pack("<I", len(ext)) + ext
    image += b"data" + struct.pack("<I", pcm.nbytes) + pcm.tobytes()
    assert np.array_equal(wavio.parse_wav(image).samples[:, 0], pcm)


def test_bogus_sizes_and_extra_chunks_are_tolerated() -> None:
    """espeak-ng --stdout style sizes (0x7ffff000), zero/0xffffffff sizes and LIST chunks."""
    pcm = np.round(sine(440, 22050, 0.2)).astype("<i2").tobytes()
    for bogus in (0x7FFFF000, 0xFFFFFFFF, 0):
        audio = wavio.parse_wav(riff(1, 1, 22050, 16, pcm, data_size=bogus, riff_size=bogus))
        assert audio.samples.shape == (len(pcm) // 2, 1)
    listed = riff(1, 1, 22050, 16, pcm, extra=b"LIST" + struct.pack("<I", 5) + b"INFOx\x00")
    assert wavio.parse_wav(listed).samples.shape[0] == len(pcm) // 2
    odd = riff(1, 2, 22050, 16, pcm + b"\x01\x02\x03")  # a truncated last frame is dropped
    assert wavio.parse_wav(odd).samples.shape == (len(pcm) // 4, 2)


def test_real_espeak_ng_stdout_and_file_output(tmp_path: Path) -> None:
    """espeak-ng's piped output (bogus header) reads the same as its file output."""
    espeak = shutil.which("espeak-ng")
    assert espeak, "espeak-ng is required for the media tests: apt-get install espeak-ng"
    text = "Press one for sales, two for support."
    piped = subprocess.run([espeak, "-v", "en-us", "--stdout", text], capture_output=True, check=True)
    assert struct.unpack("<I", piped.stdout[4:8])[0] != len(piped.stdout) - 8  # really bogus
    out = tmp_path / "say.wav"
    subprocess.run([espeak, "-v", "en-us", "-w", str(out), text], check=True)
    from_pipe, from_file = wavio.parse_wav(piped.stdout, "<stdout>"), wavio.read_wav(out)
    assert from_pipe.rate == from_file.rate == 22050
    assert np.array_equal(from_pipe.samples, from_file.samples)


@pytest.mark.parametrize("rate", [11025, 16000, 22050, 44100, 48000])
def test_resampling_keeps_the_band_and_rejects_aliases(rate: int) -> None:
    """A 1 kHz and a 3 kHz tone keep level and pitch; a 5 kHz tone (an alias at 3 kHz) is gone."""
    for freq in (1000.0, 3000.0):
        y = wavio.resample(sine(freq, rate, 0.5), rate, 8000)
        assert y.size == 4000
        assert level_at(y[400:-400], freq) == pytest.approx(10000, rel=0.01)
    if rate > 10000:
        alias = wavio.resample(sine(5000, rate, 0.5), rate, 8000)
        assert np.sqrt(np.mean(alias[400:-400] ** 2)) < 10000 * 10 ** (-60 / 20)


def test_to_8k_mono_matches_sox(tmp_path: Path) -> None:
    """Our 8 kHz mono conversion of a stereo 44.1 kHz file agrees with sox's."""
    sox = shutil.which("sox")
    assert sox, "sox is required for the media tests: apt-get install sox"
    rng = np.random.default_rng(3)
    left = sine(600, 44100, 1.0) + sine(1800, 44100, 1.0, 3000) + rng.normal(0, 300, 44100)
    right = sine(900, 44100, 1.0)
    src = tmp_path / "in.wav"
    wavio.write_wav(src, np.stack([left, right], 1), rate=44100, channels=2)
    ref_path = tmp_path / "sox.wav"
    subprocess.run([sox, str(src), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer",
                    str(ref_path)], check=True)
    ours, theirs = wavio.read_wav_8k(src).astype(float), wavio.read_wav_8k(ref_path).astype(float)
    n = min(ours.size, theirs.size)
    assert abs(ours.size - theirs.size) <= 1
    assert np.corrcoef(ours[200:n - 200], theirs[200:n - 200])[0, 1] > 0.995


@pytest.mark.parametrize("image, problem", [
    (b"not a wav file at all", "not a RIFF/WAVE file"),
    (b"RIFF\x04\x00\x00\x00WAVE" + b"data\x04\x00\x00\x00\x00\x00\x00\x00", "no fmt chunk"),
    (riff(1, 1, 8000, 16, b"")[:36], "no data chunk"),
    (riff(2, 1, 8000, 4, b"\x00" * 64), "compressed or unknown audio format 0x0002"),
    (riff(1, 1, 8000, 16, b""), "no audio samples"),
    (riff(1, 0, 8000, 16, b"\x00\x00"), "0 channels"),
])
def test_bad_files_raise_wav_error_naming_file_and_problem(tmp_path: Path, image: bytes,
                                                           problem: str) -> None:
    """Each broken file gets a WavError that says which file and what is wrong."""
    path = tmp_path / "broken.wav"
    path.write_bytes(image)
    with pytest.raises(WavError) as info:
        wavio.read_wav(path)
    assert str(path) in str(info.value) and problem in str(info.value)


def test_missing_file_is_a_wav_error(tmp_path: Path) -> None:
    """A file that cannot be opened is reported like any other unreadable WAV."""
    with pytest.raises(WavError, match="nope.wav: cannot read"):
        wavio.read_wav_8k(tmp_path / "nope.wav")


@pytest.mark.parametrize("rate", [1, 100, 3999, 384001, 4_000_000])
def test_absurd_sample_rates_are_refused_before_decoding(rate: int) -> None:
    """A 1 Hz WAV would be resampled into 8,000 times as many samples (18 s on the event loop): refused."""
    image = riff(1, 1, rate, 16, np.zeros(100_000, "<i2").tobytes())
    with pytest.raises(wavio.WavError, match=f"a sample rate of {rate} Hz is not supported"):
        wavio.parse_wav(image, "caller.wav")


def test_length_limit_is_checked_before_decoding() -> None:
    """max_seconds refuses long audio by its header and size, naming both lengths."""
    image = riff(1, 1, 8000, 16, np.zeros(8000 * 11, "<i2").tobytes())
    with pytest.raises(wavio.WavError, match="11 s of audio, at most 10 s"):
        wavio.parse_wav(image, "caller.wav", max_seconds=10)
    assert wavio.parse_wav(image, "caller.wav", max_seconds=12).duration_s == 11
