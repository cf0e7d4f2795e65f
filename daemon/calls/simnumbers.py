"""QA far ends for numbers the box dials: a client claims a number, and when the box dials it through a
simulated trunk the call rings at the client, which answers it and exchanges audio (the WebSocket
``GET /api/v1/sim/numbers/{number}/media``). An unclaimed number answers by itself after answer_delay.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from hotline.drivers.base import HangupCause, HungUp
from hotline.drivers.sim.card import FarState, SimCard, SimLine

from .simctl import SimError

NUMBER_RE = re.compile(r"[0-9*#+]{1,32}")


class NumberClient(Protocol):
    """Who answers a claimed number (the WebSocket handler)."""

    def on_ring(self, line: str, call_uuid: str | None) -> None:
        """The box dialled the number: it rings here."""

    def on_end(self, by: str) -> None:
        """The call ended ("box" hung up, or "far": the client's side did)."""


@dataclass
class Claim:
    """A claimed number and the call ringing or connected at it."""

    number: str
    client: NumberClient
    card: SimCard | None = None
    line: SimLine | None = None
    listener: Any = None


class SimNumbers:
    """Claims of dialled numbers by QA clients, tied to the simulated cards and the call manager."""

    def __init__(self, sim: Any, calls: Any):
        self.sim = sim
        self.calls = calls
        self.claims: dict[str, Claim] = {}
        calls.on_leg_ended.append(self._leg_ended)

    def claim(self, number: str, client: NumberClient) -> Claim:
        """Answer ``number`` from now on (409 when another client has it)."""
        if not isinstance(number, str) or not NUMBER_RE.fullmatch(number):
            raise SimError("number: 1-32 digits, * # or +")
        if number in self.claims:
            raise SimError(f"number {number} is already answered by another client", 409)
        cards = self.sim._cards()
        if not cards:
            raise SimError("no simulated card is up", 409)
        claim = Claim(number, client)
        self.claims[number] = claim
        for card in cards:
            card.answerers[number] = lambda line, dialed, card=card: self._ringing(claim, card, line)
        return claim

    def release(self, number: str, client: NumberClient) -> None:
        """Stop answering; a call in progress at the client is hung up."""
        claim = self.claims.get(number)
        if claim is None or claim.client is not client:
            return
        del self.claims[number]
        for card in self.sim._cards():
            card.answerers.pop(number, None)
        if claim.line is not None and claim.card is not None:
            claim.card.far_hangup(claim.line)
            self._unhook(claim)

    def _ringing(self, claim: Claim, card: SimCard, line: SimLine) -> None:
        if claim.line is not None:  # one call at a time: a second dial of the number finds it busy
            line.far.state = FarState.IDLE
            card.sink(HungUp(line.name, cause=HangupCause.BUSY))
            return
        claim.card, claim.line = card, line
        leg = self.calls.owner.get(line.name)
        claim.client.on_ring(line.name, leg.call.uuid if leg is not None else None)

    def answer(self, number: str, listener: Any) -> str:
        """The client picks up the ringing call; ``listener(frame)`` gets what the box sends from now on."""
        claim = self._claim(number)
        if claim.line is None or claim.line.far.state is not FarState.RINGING:
            raise SimError(f"nothing rings at {number}", 409)
        claim.listener = listener
        claim.line.far.listeners.append(listener)
        claim.card.far_answer(claim.line)
        return claim.line.name

    def send(self, number: str, samples: np.ndarray) -> None:
        """Audio from the client to the box (ignored while nothing is connected: SimError 409)."""
        claim = self._claim(number)
        if claim.line is None or claim.line.far.state is not FarState.CONNECTED:
            raise SimError(f"no call connected at {number}", 409)
        claim.card.far_send_live(claim.line, samples)

    def hangup(self, number: str) -> None:
        """The client hangs up (or rejects a ringing call)."""
        claim = self._claim(number)
        if claim.line is None:
            raise SimError(f"no call at {number}", 409)
        claim.card.far_hangup(claim.line)
        self._unhook(claim)
        claim.client.on_end("far")

    def _claim(self, number: str) -> Claim:
        claim = self.claims.get(number)
        if claim is None:
            raise SimError(f"number {number} is not claimed", 404)
        return claim

    def _unhook(self, claim: Claim) -> None:
        if claim.line is not None and claim.listener in claim.line.far.listeners:
            claim.line.far.listeners.remove(claim.listener)
        claim.card, claim.line, claim.listener = None, None, None

    def _leg_ended(self, leg: Any) -> None:
        """The box ended the call on a claimed number's line: tell the client."""
        for claim in list(self.claims.values()):
            if claim.line is not None and claim.line.name == leg.line.name:
                self._unhook(claim)
                claim.client.on_end("box")
