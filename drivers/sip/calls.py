"""One SIP call's state and dialog identifiers, and the status codes that map to hang-up causes."""
from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from typing import Any

from hotline.drivers.base import HangupCause

from .message import Request
from .rtp import RtpStream
from .timers import Retransmit

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REGISTER, REFER, PRACK"
REJECT_STATUS = {HangupCause.BUSY: (486, "Busy Here"), HangupCause.CONGESTION: (503, "Service Unavailable"),
                 HangupCause.REJECTED: (603, "Decline"), HangupCause.NO_ANSWER: (480, "Temporarily Unavailable")}
FAIL_CAUSE = {486: HangupCause.BUSY, 600: HangupCause.BUSY, 408: HangupCause.NO_ANSWER,
              480: HangupCause.NO_ANSWER, 487: HangupCause.NO_ANSWER, 503: HangupCause.CONGESTION,
              603: HangupCause.REJECTED, 403: HangupCause.REJECTED, 404: HangupCause.REJECTED}


class CallState(enum.Enum):
    """Where one SIP call stands."""

    OFFERED = "offered"        # INVITE received, the box has not answered
    ANSWERING = "answering"    # 200 OK sent, waiting for the ACK
    UP = "up"                  # confirmed, media flows
    DIALLING = "dialling"      # the box sent an INVITE
    ENDED = "ended"


@dataclass
class SipCall:
    """One call on one line: its dialog identifiers, the peer and the media stream."""

    line: str
    call_id: str
    local_tag: str
    peer: tuple[str, int]
    stream: RtpStream
    state: CallState
    remote_tag: str = ""
    invite: Request | None = None        # the INVITE that opened the call (incoming or ours)
    remote_target: str = ""              # where in-dialog requests go (the peer's Contact)
    local_uri: str = ""
    remote_uri: str = ""
    cseq: int = 1
    outbound: bool = False
    retransmit: Retransmit | None = None
    last_response: bytes = b""
    branch: str = ""
    station: bool = False                # a registered phone's call (rung by the box, or placed by the phone)
    dialled: str = ""                    # what a phone dialled (its own INVITE's Request-URI user)
    referral: Any = None                 # a REFER being carried out (refer.Referral)
    challenged: bool = False             # our INVITE already answered a trunk's digest challenge
    held: bool = False                   # the phone put this call (a caller the box rang it for) on hold
    consult: bool = False                # the phone's consultation call while its caller holds (attended transfer)
    rseq: int = 0                        # RSeq of our reliable provisional response (100rel), 0: none sent
    prack_wait: Retransmit | None = None # our reliable 180, resent until the caller's PRACK
    answer_waiting: bool = False         # the engine answered before that PRACK: the 200 OK goes after it


def new_tag() -> str:
    """A random dialog tag or Call-ID part."""
    return secrets.token_hex(8)


def new_branch() -> str:
    """A transaction branch with the RFC 3261 magic cookie."""
    return "z9hG4bK" + secrets.token_hex(10)
