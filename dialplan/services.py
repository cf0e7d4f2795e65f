"""What flows need from the rest of the box (data, time rules, tasks), as a protocol the daemon implements."""
from __future__ import annotations

from typing import Any, Protocol


class FlowServices(Protocol):
    """Services a running flow may call; every method is safe to await from a call's task."""

    async def lookup(self, table: str, by: str, value: str) -> dict | None:
        """A row of an allow-listed data table, or None."""

    async def customer_by_caller(self, number: str) -> dict | None:
        """The customer whose phone number called, or None."""

    async def verify_pin(self, member_no: str, pin: str) -> dict | None:
        """The member when the PIN matches, else None."""

    async def blacklisted(self, number: str) -> str | None:
        """The reason when the number is blocked, else None."""

    async def time_state(self, schedule: str) -> str:
        """'open', 'closed' or 'holiday' for a named schedule right now (override switch honoured)."""

    async def create(self, kind: str, **fields: Any) -> dict:
        """Create a ticket, callback, fax job, voicemail or survey answer; returns the row."""

    async def fax_on_call(self, job_id: int, call_uuid: str) -> dict | None:
        """Send a queued same-call fax job back on the call now (the box is the calling fax machine); the job's
        final row: sent, or failed with the reason."""

    async def enter_queue(self, queue: str, ctx: Any, vip: bool = False) -> str | None:
        """Wait in an ACD queue; the outcome (completed, callback, voicemail, no_agents, full, timeout),
        or None when the ACD has no such queue."""

    async def queue_members(self, queue: str) -> list[str]:
        """Station extensions that serve a queue."""

    async def last_agent(self, number: str) -> str | None:
        """The extension that last talked with this caller number, or None."""

    async def save_prompt(self, prompt_id: str, language: str, samples: Any) -> None:
        """Store a prompt recorded by phone."""
