"""Talk-off: Mandarin and English speech (espeak-ng) and synthetic music produce no DTMF digits.

The speech is synthesized at test time with espeak-ng (missing espeak-ng fails the
test, it is never skipped), converted to 8 kHz with our own WAV reader and
resampler, and played through the detector exactly as the engine would, at
several levels. scripts/dtmf-suite imports this file to measure the same
corpora at greater length for docs/dtmf.md.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hotline.daemon.media import wavio
from hotline.drivers.common import tones
from hotline.daemon.cli.dsp import detect_batch

RATE = 8000

MANDARIN = [
    "ni3 hao3, huan1 ying2 zhi4 dian4 ke4 hu4 fu2 wu4 zhong1 xin1. cha2 xun2 zhang4 dan1 qing3 "
    "an4 yi1, ban4 li3 ye4 wu4 qing3 an4 er4, ren2 gong1 fu2 wu4 qing3 an4 ling2.",
    "nin2 de5 dian4 hua4 yi3 jing1 jie1 tong1, wo3 men5 de5 ke4 fu2 ren2 yuan2 zheng4 zai4 mang2, "
    "qing3 nai4 xin1 deng3 dai4, xie4 xie4 nin2 de5 li3 jie3 he2 zhi1 chi2.",
    "jin1 tian1 tian1 qi4 hen3 hao3, wo3 men5 yi4 qi3 qu4 gong1 yuan2 san4 bu4 ba5. ming2 tian1 "
    "xia4 wu3 san1 dian3 ban4, zai4 bei3 jing1 huo3 che1 zhan4 jian4 mian4.",
    "nin2 de5 zhang4 hu4 yu2 e2 wei2 yi4 bai3 er4 shi2 san1 yuan2 si4 jiao3 wu3 fen1, qing3 zai4 "
    "ben3 yue4 er4 shi2 wu3 ri4 qian2 jiao3 fei4, yi3 mian3 ying3 xiang3 shi3 yong4.",
    "ru2 guo3 nin2 dui4 wo3 men5 de5 fu2 wu4 you3 ren4 he2 yi4 jian4, huan1 ying2 bo1 da3 tou2 "
    "su4 re4 xian4 yao1 er4 san1 si4 wu3 liu4 qi1 ba1 jiu3 ling2, wo3 men5 jiang1 jin4 kuai4 chu3 li3.",
    "zhong1 guo2 shi4 yi2 ge4 you3 zhe5 wu3 qian1 nian2 li4 shi3 de5 gu3 lao3 guo2 jia1, chang2 "
    "cheng2, gu4 gong1 he2 bing1 ma3 yong3 dou1 shi4 zhu4 ming2 de5 ming2 sheng4 gu3 ji4.",
]
ENGLISH = [
    "Hello and welcome to the customer service center. For billing questions, press one. For "
    "technical support, press two. To speak with an operator, press zero or stay on the line.",
    "Your call is important to us. All of our agents are currently busy helping other customers. "
    "Your estimated waiting time is four minutes and thirty seconds. Thank you for your patience.",
    "Please enter your account number followed by the pound key. Your account number is printed "
    "in the upper right corner of your monthly statement, next to the date of issue.",
    "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. Peter "
    "Piper picked a peck of pickled peppers; how many pickled peppers did Peter Piper pick?",
    "Your balance is one thousand two hundred thirty four dollars and fifty six cents. Your next "
    "payment of ninety nine dollars is due on March twenty first, two thousand twenty five.",
    "Nine eight seven six five four three two one zero. Oh one, two, three, four, five, six, seven, "
    "eight, nine. Star, pound, hash. Eleven, twelve, thirteen, seventeen, ninety, one hundred.",
]
VOICES = {"cmn-latn-pinyin": MANDARIN, "en-us": ENGLISH}
SPEEDS_PITCHES = ((120, 20), (170, 50), (220, 80))  # espeak-ng -s words/min, -p 0-99


def speech_corpus(workdir: Path, voice: str,
                  variants: tuple[tuple[int, int], ...] = SPEEDS_PITCHES) -> list[np.ndarray]:
    """Every text of ``voice`` at every (speed, pitch), spoken by espeak-ng, as 8 kHz int16."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.fail("espeak-ng is required for the talk-off tests: apt-get install espeak-ng")
    jobs = []
    for k, text in enumerate(VOICES[voice]):
        for speed, pitch in variants:
            path = workdir / f"{voice}-{k}-{speed}-{pitch}.wav"
            cmd = [espeak, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), text]
            jobs.append((path, subprocess.Popen(cmd, stderr=subprocess.PIPE)))
    for path, job in jobs:
        _, err = job.communicate(timeout=60)
        assert job.returncode == 0, f"espeak-ng failed: {err.decode(errors='replace')}"
    return [wavio.read_wav_8k(path) for path, _ in jobs]


def _note(freq: float, n: int, rng: np.random.Generator, rolloff: float) -> np.ndarray:
    """One instrument note: harmonics falling off as 1/h**rolloff, vibrato, attack and decay."""
    t = np.arange(n) / RATE
    vibrato = rng.uniform(0, 0.006) * np.sin(2 * np.pi * rng.uniform(4, 7) * t) if rng.random() < 0.5 else 0
    phase = 2 * np.pi * freq * (t + np.cumsum(np.broadcast_to(vibrato, t.shape)) / RATE)
    x = np.zeros(n)
    for h in range(1, 12):
        if freq * h > 3900:
            break
        weight = 1.0 if h == 1 else rng.uniform(0.5, 1.2)
        x += weight / h ** rolloff * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    attack = min(n, int(rng.uniform(5, 40) * 8))
    envelope = np.exp(-t * rng.uniform(0, 4))
    envelope[:attack] *= np.linspace(0, 1, attack)
    envelope[-min(n, 160):] *= np.linspace(1, 0, min(n, 160))
    return x * envelope


def music_corpus(seconds: float, seed: int) -> np.ndarray:
    """Chords, arpeggios over a held bass and harmonic sweeps, at -15 dBm0."""
    rng = np.random.default_rng(seed)
    pieces, total = [], 0
    while total < seconds * RATE:
        kind = len(pieces) % 3
        tuning = 440 * 2 ** (rng.uniform(-0.1, 0.1) / 12)
        pitch = lambda m: tuning * 2 ** ((m - 69) / 12)  # noqa: E731 - MIDI note -> Hz
        rolloff = rng.uniform(0.5, 2.0)
        if kind == 0:  # a chord of 2-4 notes
            root, n = int(rng.integers(48, 80)), int(rng.uniform(150, 900) * 8)
            notes = [root] + [root + int(i) for i in rng.choice([3, 4, 7, 10, 12, 14, 16, 19, 24],
                                                                int(rng.integers(1, 4)), replace=False)]
            x = sum(_note(pitch(m), n, rng, rolloff) for m in notes)
        elif kind == 1:  # an arpeggio, often over a held note
            root, n = int(rng.integers(55, 80)), int(rng.uniform(60, 200) * 8)
            steps = [0, 4, 7, 12, 16, 12, 7, 4] if rng.random() < 0.5 else [0, 3, 7, 10, 12, 15, 19, 24]
            x = np.concatenate([_note(pitch(root + s), n, rng, rolloff) for s in steps])
            if rng.random() < 0.6:
                x = x + 0.8 * _note(pitch(root + int(rng.choice([-12, -5, 12, 19]))), x.size, rng, rolloff)
        else:  # one or two sweeps with harmonics
            n = int(rng.uniform(200, 2000) * 8)
            t = np.arange(n) / RATE
            f0, f1 = rng.uniform(200, 2000, 2)
            x = np.zeros(n)
            for voice in range(int(rng.integers(1, 3))):
                if voice:
                    f0, f1 = f0 * rng.uniform(1.2, 2.5), f1 * rng.uniform(1.2, 2.5)
                phase = 2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * t[-1]))
                for h in range(1, 4):
                    x += np.sin(h * phase) / h ** rng.uniform(0.5, 2)
        pieces.append(x)
        total += x.size
    music = np.concatenate(pieces)
    return music * tones.dbm0_to_amplitude(-15) / np.sqrt(2 * np.mean(music ** 2))


def digits_found(clips: list[np.ndarray], gains_db: tuple[float, ...], slots: int = 48) -> list[str]:
    """Cut the clips into ``slots`` channels, play them at each gain, return every digit found."""
    audio = np.concatenate(clips).astype(np.float64)
    size = audio.size // slots
    channels = [audio[k * size:(k + 1) * size] * 10 ** (g / 20) for g in gains_db for k in range(slots)]
    return [f"{t.hit.digit}@{t.hit.slot}:{t.hit.start_sample}"
            for hits in detect_batch(channels) for t in hits]


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[np.ndarray]]:
    """Both languages, all speeds and pitches (about 6 minutes of speech)."""
    workdir = tmp_path_factory.mktemp("speech")
    return {voice: speech_corpus(workdir, voice) for voice in VOICES}


@pytest.mark.parametrize("voice", list(VOICES))
def test_no_digits_in_speech(speech: dict[str, list[np.ndarray]], voice: str) -> None:
    """Minutes of speech at normal, loud and quiet levels produce no digit at all."""
    seconds = sum(c.size for c in speech[voice]) / RATE
    assert seconds > 150, f"only {seconds:.0f} s of {voice} speech"
    level = tones.signal_dbm0(np.concatenate(speech[voice]))
    assert -25 < level < -8  # espeak-ng speaks at a normal telephone level
    assert digits_found(speech[voice], gains_db=(-20.0, 0.0, 6.0)) == []


def test_no_digits_in_music() -> None:
    """Four minutes of chords, arpeggios and sweeps with harmonics, at three levels."""
    music = music_corpus(240, seed=11)
    assert music.size >= 240 * RATE
    assert digits_found([music], gains_db=(-15.0, 0.0, 8.0)) == []


def test_positive_control_digits_next_to_speech_and_music(speech: dict[str, list[np.ndarray]]) -> None:
    """The same channels with a real digit in front of the talk are detected: the test can fail."""
    clips = [speech["en-us"][0][:16000], speech["cmn-latn-pinyin"][1][:16000], music_corpus(2, 3)]
    channels = []
    for k, clip in enumerate(clips):
        digit = tones.DTMF_KEYS[5 * k + 1]
        channels.append(np.concatenate([np.zeros(800), tones.dtmf_tone(digit, 60, -15),
                                        np.zeros(1600), clip]))
    found = [[t.hit.digit for t in hits] for hits in detect_batch(channels)]
    assert found == [["2"], ["6"], ["C"]]
