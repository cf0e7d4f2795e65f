"""Prompts: audio by id and language — a recorded file first, else espeak-ng speech of the manifest text, cached."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ..errors import HotlineError
from ..media.wavio import parse_wav, read_wav_8k, to_mono_8k, write_wav
from hotline.dialplan import safe_yaml

from ..errors import HotlineError
from ..media.wavio import parse_wav, read_wav_8k, to_mono_8k, write_wav

log = logging.getLogger("hotline.prompts")

VOICES = {"zh_CN": "cmn-latn-pinyin", "en_US": "en-us"}
LOCALES = ("zh_CN", "en_US")
FALLBACK = {"zh_CN": "en_US", "en_US": "zh_CN"}
_CJK = re.compile(r"[\u3400-\u9fff]")
_DIGITS_ZH = dict(zip("0123456789", "ling2 yi1 er4 san1 si4 wu3 liu4 qi1 ba1 jiu3".split()))
_PUNCT = str.maketrans({"，": ", ", "。": ". ", "；": "; ", "：": ": ", "？": "? ", "！": "! ", "、": ", ",
                        "（": " ", "）": " ", "“": " ", "”": " "})

# Prompts of the built-in reception flow (used when no YAML flow is routed).
BUILTIN = {
    "welcome": {"zh_CN": "欢迎致电服务热线。请输入分机号，或请稍候。",
                "en_US": "Welcome to the service hotline. Enter an extension, or hold for an operator."},
    "sorry": {"zh_CN": "对不起，坐席暂时无法接听。再见。", "en_US": "Sorry, nobody can take your call right now. Goodbye."},
    "invalid": {"zh_CN": "输入有误。", "en_US": "That extension does not exist."},
}


class TtsError(HotlineError):
    """Speech could not be generated."""


def speakable(text: str, language: str) -> str:
    """Text espeak-ng reads well: Mandarin as pinyin with tone numbers (Debian's voice reads pinyin)."""
    if language != "zh_CN" or not _CJK.search(text):
        return text
    from pypinyin import Style, lazy_pinyin
    parts = lazy_pinyin(text.translate(_PUNCT), style=Style.TONE3, neutral_tone_with_five=True,
                        errors=lambda chars: [" ".join(_DIGITS_ZH.get(c, c) for c in chars)])
    return re.sub(r"\s+", " ", " ".join(parts)).strip()


def synthesize(text: str, language: str, out: Path) -> np.ndarray:
    """Speak ``text`` with espeak-ng into an 8 kHz WAV file and return the samples (blocking)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise TtsError("espeak-ng is not installed (apt-get install espeak-ng)")
    voice = VOICES.get(language, "en-us")
    try:  # arguments as a list: no shell, text cannot inject anything
        proc = subprocess.run([exe, "-v", voice, "-s", "150", "--stdout", "--", speakable(text, language)],
                              capture_output=True, timeout=60, check=True)
        samples = to_mono_8k(parse_wav(proc.stdout, f"espeak-ng {voice}"))
    except (subprocess.SubprocessError, OSError, ValueError) as exc:
        raise TtsError(f"espeak-ng failed for {language}: {exc}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    write_wav(tmp, samples)
    tmp.replace(out)
    return samples


def load_manifest(path: Path) -> dict[str, dict[str, str]]:
    """Prompt id -> locale -> text; a broken manifest raises with the file and line."""
    if not path.exists():
        return {}
    try:
        data = safe_yaml.load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise HotlineError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise HotlineError(f"{path}: expected a mapping of prompt ids")
    out: dict[str, dict[str, str]] = {}
    for pid, texts in data.items():
        if not isinstance(texts, dict) or not all(k in LOCALES and isinstance(v, str) for k, v in texts.items()):
            raise HotlineError(f"{path}: prompt {pid!r}: expected zh_CN: text and/or en_US: text")
        out[str(pid)] = dict(texts)
    return out


@dataclass(frozen=True)
class PromptIndex:
    """Which prompts can be played: a recorded or uploaded file, or a text to speak."""

    dir: Path
    texts: dict[str, dict[str, str]]

    def exists(self, prompt_id: str, language: str) -> bool:
        """True when the prompt can be played in this language without falling back."""
        return (self.dir / language / f"{prompt_id}.wav").exists() or language in self.texts.get(prompt_id, {})


class PromptLibrary:
    """Finds prompt audio: a recorded or uploaded file first, else cached speech, else speech now."""

    def __init__(self, prompts_dir: Path, default_language: str = "zh_CN", manifest: Path | None = None):
        self.dir = prompts_dir
        self.default_language = default_language
        self.texts: dict[str, dict[str, str]] = {k: dict(v) for k, v in BUILTIN.items()}
        if manifest is not None:
            self.texts.update(load_manifest(manifest))
        self._cache: dict[tuple[str, str], np.ndarray] = {}

    def recorded(self, prompt_id: str, language: str) -> Path:
        """Where a recorded or uploaded version of a prompt lives."""
        return self.dir / language / f"{prompt_id}.wav"

    def exists(self, prompt_id: str, language: str) -> bool:
        """True when the prompt can be played in this language without falling back."""
        return self.index().exists(prompt_id, language)

    def index(self) -> "PromptIndex":
        """Which prompts exist, without the audio: what a flow check needs (picklable, for a worker process)."""
        return PromptIndex(self.dir, self.texts)

    def _load(self, prompt_id: str, language: str) -> np.ndarray:
        for lang in (language, FALLBACK.get(language, language)):
            recorded = self.recorded(prompt_id, lang)
            if recorded.exists():
                return read_wav_8k(recorded)
            text = self.texts.get(prompt_id, {}).get(lang)
            if text is not None:
                if lang != language:
                    log.warning("event=prompt_fallback prompt=%s wanted=%s used=%s", prompt_id, language, lang)
                return self._tts_cached(text, lang, prompt_id)
        raise TtsError(f"no prompt {prompt_id!r} in {language} or {FALLBACK.get(language)}")

    def _tts_cached(self, text: str, language: str, label: str = "tts") -> np.ndarray:
        digest = hashlib.sha256(f"{language}\0{text}".encode()).hexdigest()[:16]
        cached = self.dir / "cache" / f"{label}-{language}-{digest}.wav"
        if cached.exists():
            return read_wav_8k(cached)
        return synthesize(text, language, cached)

    async def get(self, prompt_id: str, language: str | None = None) -> np.ndarray:
        """The prompt's samples (8 kHz int16), generating and caching them if needed."""
        key = (prompt_id, language or self.default_language)
        if key not in self._cache:
            loop = asyncio.get_running_loop()
            self._cache[key] = await loop.run_in_executor(None, self._load, *key)
        return self._cache[key]

    async def speak(self, text: str, language: str | None = None) -> np.ndarray:
        """Dynamic speech, cached on disk by text."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._tts_cached, text, language or self.default_language)

    async def tokens(self, tokens: list[str], language: str) -> np.ndarray | None:
        """Concatenated recorded say-prompts (``say/<lang>/<token>.wav``), or None when one is missing."""
        paths = [self.dir / "say" / language / f"{t}.wav" for t in tokens]
        if not paths or not all(p.exists() for p in paths):
            return None
        loop = asyncio.get_running_loop()
        parts = await loop.run_in_executor(None, lambda: [read_wav_8k(p) for p in paths])
        return np.concatenate(parts)

    def save(self, prompt_id: str, language: str, samples: np.ndarray) -> Path:
        """Store a recorded prompt (by phone or upload) so it replaces the synthesized one."""
        path = self.recorded(prompt_id, language)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        write_wav(tmp, samples)
        tmp.replace(path)
        self._cache.pop((prompt_id, language), None)
        return path
