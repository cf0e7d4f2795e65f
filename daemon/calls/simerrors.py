"""Why a QA (simulator) request was refused, with the HTTP status to answer: shared by the sim card's control and
the virtual modem lines'."""
from __future__ import annotations

from hotline.daemon.errors import HotlineError

__all__ = ["SimError", "SimCallRefused"]


class SimError(HotlineError):
    """A QA request cannot be carried out; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class SimCallRefused(SimError):
    """The box refused the call QA placed (admission control): 503 with Retry-After, the call's id and why."""

    RETRY_AFTER = {"overload": 1, "channel_limit": 5, "draining": 30}

    def __init__(self, call_id: str, line: str, reason: str):
        super().__init__(f"the box refused the call: {reason}", 503)
        self.call_id, self.line, self.reason = call_id, line, reason
        self.retry_after = self.RETRY_AFTER.get(reason, 5)
