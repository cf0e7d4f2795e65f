"""Prompts: audio by id and language, generated with espeak-ng when no recording exists, cached at 8 kHz."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np

from .errors import HotlineError
from .media.wavio import parse_wav, read_wav_8k, to_mono_8k, write_wav

log = logging.getLogger("hotline.prompts")

VOICES = {"zh_CN": "cmn-latn-pinyin", "en_US": "en-us"}

# Built-in prompts of the engine's minimal flow; Mandarin is written in pinyin with tone
# numbers because Debian's espeak-ng reads Chinese characters as pinyin spelled in English.
BUILTIN = {
    "welcome": {"zh_CN": "huan1 ying2 zhi4 dian4 fu2 wu4 re4 xian4. qing3 shu1 ru4 fen1 ji1 hao4, huo4 qing3 shao1 hou4.",
                "en_US": "Welcome to the service hotline. Enter an extension, or hold for an operator."},
    "sorry": {"zh_CN": "dui4 bu4 qi3, zuo4 xi2 zan4 shi2 wu2 fa3 jie1 ting1. zai4 jian4.",
              "en_US": "Sorry, nobody can take your call right now. Goodbye."},
    "invalid": {"zh_CN": "shu1 ru4 you3 wu4.", "en_US": "That extension does not exist."},
}


class TtsError(HotlineError):
    """Speech could not be generated."""


def synthesize(text: str, language: str, out: Path) -> np.ndarray:
    """Speak ``text`` with espeak-ng into an 8 kHz WAV file and return the samples (blocking)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise TtsError("espeak-ng is not installed (apt-get install espeak-ng)")
    voice = VOICES.get(language, "en-us")
    try:  # arguments as a list: no shell, text cannot inject anything
        proc = subprocess.run([exe, "-v", voice, "-s", "150", "--stdout", text], capture_output=True,
                              timeout=30, check=True)
    except (subprocess.SubprocessError, OSError) as exc:
        raise TtsError(f"espeak-ng failed for {language}: {exc}") from None
    samples = to_mono_8k(parse_wav(proc.stdout, f"espeak-ng {voice}"))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    write_wav(tmp, samples)
    tmp.replace(out)
    return samples


class PromptLibrary:
    """Finds prompt audio: an uploaded file first, else cached TTS, else TTS now."""

    def __init__(self, prompts_dir: Path, default_language: str = "zh_CN"):
        self.dir = prompts_dir
        self.default_language = default_language
        self.texts: dict[str, dict[str, str]] = {k: dict(v) for k, v in BUILTIN.items()}
        self._cache: dict[tuple[str, str], np.ndarray] = {}

    def _load(self, prompt_id: str, language: str) -> np.ndarray:
        recorded = self.dir / language / f"{prompt_id}.wav"
        if recorded.exists():
            return read_wav_8k(recorded)
        texts = self.texts.get(prompt_id)
        if texts is None:
            raise TtsError(f"no prompt {prompt_id!r}")
        lang = language if language in texts else ("en_US" if "en_US" in texts else next(iter(texts)))
        text = texts[lang]
        digest = hashlib.sha256(f"{lang}\0{text}".encode()).hexdigest()[:16]
        cached = self.dir / "cache" / f"{prompt_id}-{lang}-{digest}.wav"
        if cached.exists():
            return read_wav_8k(cached)
        return synthesize(text, lang, cached)

    async def get(self, prompt_id: str, language: str | None = None) -> np.ndarray:
        """The prompt's samples (8 kHz int16), generating and caching them if needed."""
        key = (prompt_id, language or self.default_language)
        if key not in self._cache:
            loop = asyncio.get_running_loop()
            self._cache[key] = await loop.run_in_executor(None, self._load, *key)
        return self._cache[key]

    async def speak(self, text: str, language: str | None = None) -> np.ndarray:
        """Dynamic speech, cached by text."""
        lang = language or self.default_language
        digest = hashlib.sha256(f"{lang}\0{text}".encode()).hexdigest()[:16]
        cached = self.dir / "cache" / f"tts-{digest}.wav"
        loop = asyncio.get_running_loop()
        if cached.exists():
            return await loop.run_in_executor(None, read_wav_8k, cached)
        return await loop.run_in_executor(None, synthesize, text, lang, cached)
