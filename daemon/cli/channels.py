"""Which channel of a call recording the offline ``hotline dsp`` tools read (caller, other side, or both mixed)."""
from __future__ import annotations

import enum

import numpy as np

from ..media.wavio import WavAudio, to_mono_8k

__all__ = ["DtmfChannel", "_channel_audio"]


class DtmfChannel(enum.Enum):
    """Which audio of a recording ``hotline dsp dtmf`` listens to."""

    CALLER = "caller"  # left channel of a stereo recording: the caller's own voice and keys
    OTHER = "other"    # right channel: what the caller heard (prompts, the agent)
    MIXED = "mixed"    # a mono recording (caller and prompts mixed), or both channels mixed


def _channel_audio(audio: WavAudio, channel: DtmfChannel) -> np.ndarray:
    """The chosen channel at 8 kHz, int16."""
    if channel is DtmfChannel.MIXED:
        return to_mono_8k(audio)
    column = 0 if channel is DtmfChannel.CALLER else 1
    one = WavAudio(audio.rate, 1, audio.sample_width, audio.format, audio.samples[:, column:column + 1])
    return to_mono_8k(one)
