"""Hypothesis over the SIP transaction and dialog layer: sequences of INVITE, ACK, CANCEL, BYE, PRACK, INFO,
retransmissions, responses to transactions that do not exist, mismatched branches and CSeqs, RFC 2543 requests
without a branch and floods of headers, interleaved with the engine answering, hanging up and refusing, and with
time passing. No handler fails, calls never exceed the lines, and once everything is over and the timers have
run out every table is empty again."""
from __future__ import annotations

import socket

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hotline.drivers.base import HangupCause, Ringing
from hotline.drivers.sip.endpoint import Endpoint
from hotline.drivers.sip.rtp import PortPool
from hotline.drivers.sip.timers import Timers

LINES = ["sip0-1", "sip0-2"]
SDP = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9000 RTP/AVP 0 101\r\n"
       b"a=rtpmap:101 telephone-event/8000\r\n")


class Clock:
    """Time the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _rtp_range() -> tuple[int, int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1] // 2 * 2
    base = base if base < 64000 else 30000
    return base, base + 20


def _endpoint(clock: Clock) -> tuple[Endpoint, list, list]:
    events: list = []
    sent: list = []
    first, last = _rtp_range()
    ep = Endpoint(host="127.0.0.1", port=0, rtp=PortPool("127.0.0.1", first, last), media_host="127.0.0.1",
                  lines=list(LINES), peers={"lab": ("127.0.0.1", 0)}, sink=events.append)
    ep.timers = Timers(clock=clock)
    ep._send = lambda data, dest: sent.append((data, dest))   # the fake transport: what the box sends
    return ep, events, sent


message = st.fixed_dictionaries({
    "kind": st.sampled_from(["INVITE", "INVITE", "INVITE", "ACK", "ACK", "CANCEL", "BYE", "PRACK", "INFO", "OPTIONS",
                             "REFER", "response"]),
    "call": st.sampled_from([0, 0, 1, 2]),
    "branch": st.sampled_from(["z9hG4bKa", "z9hG4bKa", "z9hG4bKb", "z9hG4bKc", "", "rfc2543"]),
    "cseq": st.sampled_from([1, 1, 1, 2, 3, 4294967295]),
    "to_tag": st.sampled_from([None, "box", "box", "wrong"]),
    "source": st.sampled_from([("127.0.0.1", 5070)] * 4 + [("127.0.0.1", 5071), ("192.0.2.9", 5070)]),
    "sdp": st.sampled_from([True, True, True, False]),
    "headers": st.sampled_from([0, 0, 3, 60, 95]),
    "status": st.sampled_from([100, 180, 200, 401, 481, 487, 500]),
})
engine = st.fixed_dictionaries({"kind": st.sampled_from(["answer", "answer", "hangup", "reject", "time"]),
                                "line": st.sampled_from(LINES), "seconds": st.sampled_from([0.1, 0.6, 4.5, 33.0, 190.0])})


def _build(m: dict, box_tags: dict[int, str]) -> bytes:
    call_id = f"fz{m['call']}@127.0.0.1"
    to = "<sip:8001@127.0.0.1>"
    if m["to_tag"] == "box" and m["call"] in box_tags:
        to += f";tag={box_tags[m['call']]}"
    elif m["to_tag"] == "wrong":
        to += ";tag=nobody"
    branch = f";branch={m['branch']}" if m["branch"] else ""
    via = f"Via: SIP/2.0/UDP {m['source'][0]}:{m['source'][1]}{branch}\r\n"
    extra = "".join(f"X-Flood-{i}: {'x' * 20}\r\n" for i in range(m["headers"]))
    body = SDP if m["sdp"] and m["kind"] == "INVITE" else b""
    ctype = "Content-Type: application/sdp\r\n" if body else ""
    head_fields = (f"{via}From: <sip:137@127.0.0.1>;tag=far{m['call']}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
                   f"Max-Forwards: 70\r\nContact: <sip:far@{m['source'][0]}:{m['source'][1]}>\r\n{extra}{ctype}"
                   f"Content-Length: {len(body)}\r\n\r\n")
    if m["kind"] == "response":
        start = f"SIP/2.0 {m['status']} Whatever\r\n"
        cseq = f"CSeq: {m['cseq']} INVITE\r\n"
    else:
        method = m["kind"]
        start = f"{method} sip:8001@127.0.0.1 SIP/2.0\r\n"
        cseq = f"CSeq: {m['cseq']} {method}\r\n"
    return (start + cseq + head_fields).encode() + body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(message, message, engine), min_size=1, max_size=40))
def test_message_sequences_never_fail_a_handler_and_leave_no_state(steps: list[dict]) -> None:
    clock = Clock()
    ep, events, sent = _endpoint(clock)
    box_tags: dict[int, str] = {}
    try:
        for step in steps:
            if step["kind"] == "time":
                clock.now += step["seconds"]
                ep.timers.run_due()
            elif step["kind"] in ("answer", "hangup", "reject"):
                if step["kind"] == "answer":
                    ep.answer(step["line"])
                elif step["kind"] == "hangup":
                    ep.hangup(step["line"])
                else:
                    ep.reject(step["line"], HangupCause.BUSY)
            else:
                ep._datagram(_build(step, box_tags), step["source"])
            for data, _ in sent:   # learn the box's To tag per call, so later requests can be in the dialog
                if data.startswith(b"SIP/2.0 ") and b";tag=" in data:
                    for n in range(3):
                        if b"Call-ID: fz%d@" % n in data:
                            line = next(ln for ln in data.split(b"\r\n") if ln.lower().startswith(b"to:"))
                            if b";tag=" in line:
                                box_tags[n] = line.split(b";tag=")[1].split(b";")[0].decode()
            sent.clear()
            assert ep.stats.internal_errors == 0
            assert len(ep.calls) <= len(LINES)
        offered = sum(isinstance(e, Ringing) for e in events)
        event(f"calls offered: {min(offered, 3)}")
        confirmed = sum(type(e).__name__ == "AnswerConfirmed" for e in events)
        event(f"calls answered and confirmed: {min(confirmed, 2)}")
        # The engine ends whatever is left; then every timer runs out (64*T1 and the rest).
        for line in LINES:
            ep.hangup(line)
        for _ in range(40):
            clock.now += 5.0
            ep.timers.run_due()
        assert ep.stats.internal_errors == 0
        assert ep.calls == {}
        assert ep._answered == {} and ep._acks == {} and ep.notifies == {}, (ep._answered, ep._acks)
        assert len(ep.timers) == 0 and ep.timers._cancelled == set(), (ep.timers._heap, ep.timers._cancelled)
        assert offered <= sum(1 for s in steps if s["kind"] == "INVITE")
    finally:
        ep.stop()


def test_an_acked_refusal_is_forgotten_after_timer_i_and_a_timed_out_one_leaves_no_timer() -> None:
    """A 403 that is ACKed stops being resent at once and its transaction is forgotten T4 (5 s) later; one never
    ACKed is resent until 64*T1 and then forgotten; neither leaves a handle in the timers."""
    clock = Clock()
    ep, _, sent = _endpoint(clock)
    stranger = ("192.0.2.9", 5070)
    try:
        for call, ack in ((0, True), (1, False)):
            step = {"kind": "INVITE", "call": call, "branch": f"z9hG4bK{call}", "cseq": 1, "to_tag": None,
                    "source": stranger, "sdp": True, "headers": 0, "status": 100}
            ep._datagram(_build(step, {}), stranger)
            assert sent[-1][0].startswith(b"SIP/2.0 403 ")
            if ack:
                ep._datagram(_build({**step, "kind": "ACK"}, {}), stranger)
        assert len(ep._answered) == 2 and len(ep._acks) == 1
        sent.clear()
        clock.now += 5.5
        ep.timers.run_due()
        assert len(ep._answered) == 1                      # the ACKed one is gone after T4
        assert all(dest == stranger for _, dest in sent)   # the other one is resent
        for _ in range(8):
            clock.now += 4.0
            ep.timers.run_due()
        assert ep._answered == {} and ep._acks == {}
        assert len(ep.timers) == 0 and ep.timers._cancelled == set()
    finally:
        ep.stop()


def test_rfc2543_invites_without_a_branch_are_separate_transactions() -> None:
    """Two INVITEs without a branch (RFC 2543) are two transactions: each gets its own answer, not a resend of the
    first one's (they shared the empty branch)."""
    clock = Clock()
    ep, _, sent = _endpoint(clock)
    stranger = ("192.0.2.9", 5070)
    try:
        for call in (0, 1):
            ep._datagram(_build({"kind": "INVITE", "call": call, "branch": "", "cseq": 1, "to_tag": None,
                                 "source": stranger, "sdp": True, "headers": 0, "status": 100}, {}), stranger)
            assert sent[-1][0].startswith(b"SIP/2.0 403 ") and b"Call-ID: fz%d@" % call in sent[-1][0]
    finally:
        ep.stop()


def test_an_invite_with_a_bad_contact_is_refused_before_an_rtp_port_is_taken() -> None:
    clock = Clock()
    ep, events, sent = _endpoint(clock)
    opened: list = []
    real_open = ep.rtp.open
    ep.rtp.open = lambda: opened.append(1) or real_open()
    try:
        data = _build({"kind": "INVITE", "call": 0, "branch": "z9hG4bKc", "cseq": 1, "to_tag": None,
                       "source": ("127.0.0.1", 5070), "sdp": True, "headers": 0, "status": 100}, {})
        ep._datagram(data.replace(b"Contact: <sip:far@127.0.0.1:5070>", b"Contact: <sip:far@127.0.0.1:5070"),
                     ("127.0.0.1", 5070))
        assert sent[-1][0].startswith(b"SIP/2.0 400 ") and opened == [] and ep.calls == {} and events == []
        assert ep.stats.malformed == 1 and ep.stats.internal_errors == 0
    finally:
        ep.stop()


def test_cancelling_a_timer_that_already_ran_leaves_nothing_behind() -> None:
    """A retransmission stopped twice (the ACK, then the hang-up) cancelled a handle that had run: the cancelled set
    grew for ever and the count of timers went negative."""
    clock = Clock()
    timers = Timers(clock=clock)
    ran: list = []
    handle = timers.call_later(0.5, lambda: ran.append(1))
    clock.now += 1
    timers.run_due()
    timers.cancel(handle)
    timers.cancel(handle)
    assert ran == [1] and len(timers) == 0 and timers._cancelled == set() and timers._heap == []
