"""The CallContext facade: everything a flow may do to a call, without seeing drivers."""
from __future__ import annotations

import enum
from typing import Any, Protocol


class ConnectResult(enum.Enum):
    """How an attempt to reach a station or number ended."""

    COMPLETED = "completed"        # talked, then someone hung up
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    UNAVAILABLE = "unavailable"    # no such extension, line down, no free trunk
    TRANSFERRED = "transferred"    # the call went on to someone else
    FAX = "fax"                    # a fax machine answered the number (its answer tone): the call was ended


class CallContext(Protocol):
    """A call as seen by a flow."""

    uuid: str
    caller_id: str
    caller_name: str
    dialed: str
    direction: str
    language: str
    vars: dict[str, Any]

    async def answer(self) -> None:
        """Answer the call."""

    async def hangup(self) -> None:
        """End the call."""

    async def play_prompt(self, prompt_id: str, barge_in: bool = False) -> str | None:
        """Play a prompt; with barge_in a key press stops it and is returned."""

    async def play_tone(self, name: str, seconds: float | None = None, until_digit: bool = False) -> str | None:
        """Play a call-progress tone (dial, ringback, busy, congestion, beep)."""

    async def collect(self, max_digits: int, timeout: float = 5.0, inter_digit_timeout: float = 3.0,
                      terminator: str = "#", first: str | None = None, total_timeout: float | None = None) -> str:
        """Collect up to max_digits keys."""

    async def play_file(self, name: str, barge_in: bool = False) -> str | None:
        """Play a WAV file from the prompts directory (no path outside it)."""

    async def connect(self, extension: str, ring_timeout: float = 30.0) -> ConnectResult:
        """Ring a station and bridge the caller to it until one side hangs up."""

    async def dial_out(self, number: str, ring_timeout: float = 30.0) -> ConnectResult:
        """Dial a number through a free trunk and bridge the caller to it."""

    def step(self, name: str, **data: Any) -> None:
        """Record an IVR step in the journal."""

    async def sleep(self, seconds: float) -> None:
        """Wait (on media time)."""

    def push_back(self, key: str) -> None:
        """Keep a key that stopped a prompt for the next step to use."""

    def take_pushed(self) -> str | None:
        """The key kept by push_back, once."""

    async def play_audio(self, samples: Any, barge_in: bool = False) -> str | None:
        """Play raw 8 kHz samples."""

    async def say_tokens(self, tokens: list[str], text: str, barge_in: bool = False) -> str | None:
        """Speak say-tokens from recorded digit prompts, or ``text`` with TTS when some are missing."""

    async def speak(self, text: str, barge_in: bool = False) -> str | None:
        """Speak dynamic text with TTS in the call's language."""

    async def record(self, max_seconds: float, silence_seconds: float, beep: bool = True) -> Any:
        """Record what the caller says until # , silence or max_seconds; the samples."""

    def feature_code(self, code: str) -> bool:
        """A feature code dialled on a station (agent login/logout/ready/not ready); True when done."""

    async def connect_any(self, extensions: list[str], ring_timeout: float = 30.0) -> ConnectResult:
        """Ring several stations at once; the first to answer is bridged."""
