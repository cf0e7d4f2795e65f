"""The modem line state machine, driven by parsed inputs only (no port, no thread, no clock)."""
from __future__ import annotations

from hotline.drivers.base import (AnswerConfirmed, Answered, DigitReceived, Duplex, HangupCause, HungUp, Progress,
                                  Ringing, Seized, ToneDetected, ToneKind)
from hotline.drivers.modem.at import Result
from hotline.drivers.modem.dle import DleEvent, DleKind
from hotline.drivers.modem.state import (AudioMode, CidLine, Code, Command, Dialect, Dle, LineMachine, LineState, Post,
                                         Send, SendRaw, SetAudio, Stalled, Tick)

HALF = Dialect(duplex=Duplex.HALF, dtmf_shielded=True)
FULL = Dialect(duplex=Duplex.FULL)


def events(actions):
    return [a.event for a in actions if isinstance(a, Post)]


def sends(actions):
    return [a.text for a in actions if isinstance(a, Send)]


def dle(kind, digit=None):
    return DleEvent(kind, 0, digit)


def ring_with_cid(m: LineMachine, t=0.0):
    out = m.feed(Code(Result.RING, t))
    assert events(out) == [Seized("m0")] and m.state is LineState.SEIZED
    for key, value in (("date", "1207"), ("time", "0712"), ("number", "5551234"), ("name", "ZHANG WEI")):
        assert m.feed(CidLine(key, value, t + 0.5)) == []
    return m.feed(Tick(t + 0.5 + 0.8))


def answer(m: LineMachine, t=2.0):
    out = m.feed(Command("answer", now=t))
    assert sends(out) == ["AT+FCLASS=8"] and m.state is LineState.ANSWERING
    assert sends(m.feed(Code(Result.OK, t))) == ["AT+VLS=1"]
    out = m.feed(Code(Result.VCON, t))
    assert events(out) == [AnswerConfirmed("m0")]
    return out


def test_ring_caller_id_answer_confirm_then_audio_mode():
    m = LineMachine("m0", HALF, number="8001")
    assert events(ring_with_cid(m)) == [Ringing("m0", "5551234", "ZHANG WEI", "8001")]
    assert m.state is LineState.RINGING
    out = answer(m)
    assert sends(out) == ["AT+VTX"]  # half duplex: the box's output plays first
    assert not any(isinstance(a, SetAudio) and a.mode is not AudioMode.NONE for a in out)  # no audio before CONNECT
    out = m.feed(Code(Result.CONNECT, 2.1))
    assert SetAudio(AudioMode.TX) in out and m.state is LineState.PLAYING


def test_second_ring_without_caller_id_makes_ringing_final_and_private_number_gives_reason():
    m = LineMachine("m0", HALF)
    m.feed(Code(Result.RING, 0.0))
    assert events(m.feed(Code(Result.RING, 6.0))) == [Ringing("m0", "", "", "")]
    m2 = LineMachine("m0", HALF)
    m2.feed(Code(Result.RING, 0.0))
    m2.feed(CidLine("number", "P", 0.5))
    assert events(m2.feed(Tick(1.5))) == [Ringing("m0", "", "private", "")]


def test_caller_gives_up_before_answer():
    m = LineMachine("m0", HALF)
    ring_with_cid(m)
    m.feed(Code(Result.RING, 6.0))
    assert events(m.feed(Tick(20.0))) == [HungUp("m0", HangupCause.NORMAL)]
    assert m.state is LineState.IDLE


def test_full_duplex_uses_vtr():
    m = LineMachine("m0", FULL)
    ring_with_cid(m)
    assert sends(answer(m)) == ["AT+VTR"]
    assert SetAudio(AudioMode.DUPLEX) in m.feed(Code(Result.CONNECT, 2.2))


def playing(dialect=HALF) -> LineMachine:
    m = LineMachine("m0", dialect)
    ring_with_cid(m)
    answer(m)
    m.feed(Code(Result.CONNECT, 2.1))
    return m


def test_half_duplex_switches_to_record_and_back_when_the_box_listens():
    m = playing()
    out = m.feed(Command("listen", now=3.0))
    assert out[:2] == [SetAudio(AudioMode.NONE), SendRaw(b"\x10\x03")]  # end of play
    assert sends(m.feed(Code(Result.VCON, 3.1))) == ["AT+VRX"]
    assert SetAudio(AudioMode.RX) in m.feed(Code(Result.CONNECT, 3.2))
    assert m.state is LineState.RECORDING
    out = m.feed(Command("stop_listen", now=5.0))
    assert SendRaw(b"\x10!") in out
    m.feed(Dle(dle(DleKind.END_OF_STREAM), 5.1))
    assert sends(m.feed(Code(Result.OK, 5.1))) == ["AT+VTX"]
    m.feed(Code(Result.CONNECT, 5.2))
    assert m.state is LineState.PLAYING


def test_dtmf_bracketed_counts_at_the_end_with_duration_and_plain_digits_at_once():
    m = playing()
    assert events(m.feed(Dle(dle(DleKind.DTMF, "4"), 3.0))) == []
    assert events(m.feed(Dle(dle(DleKind.DTMF_END, "4"), 3.12))) == [DigitReceived("m0", "4", 120.0)]
    plain = playing(Dialect(duplex=Duplex.HALF, dtmf_shielded=False))
    assert events(plain.feed(Dle(dle(DleKind.DTMF, "#"), 3.0))) == [DigitReceived("m0", "#", 0.0)]


def test_digits_pressed_while_the_answer_is_being_confirmed_come_after_answer_confirmed():
    for dialect in (FULL, HALF):
        m = LineMachine("m0", dialect)
        ring_with_cid(m)
        m.feed(Command("answer", now=2.0))
        m.feed(Code(Result.OK, 2.0))  # AT+FCLASS=8; AT+VLS=1 is out: the line is off hook
        assert events(m.feed(Dle(dle(DleKind.DTMF, "4"), 2.05))) == []
        m.feed(Dle(dle(DleKind.DTMF_END, "4"), 2.15))
        assert events(m.feed(Code(Result.VCON, 2.2))) == [AnswerConfirmed("m0"), DigitReceived("m0", "4", 0.0)]


def test_full_duplex_stream_ended_by_the_modem_then_no_carrier_hangs_up():
    m = LineMachine("m0", FULL)
    ring_with_cid(m)
    m.feed(Command("answer", now=2.0))
    m.feed(Code(Result.OK, 2.0))
    m.feed(Code(Result.VCON, 2.0))
    m.feed(Code(Result.CONNECT, 2.1))
    assert m.state is LineState.DUPLEX
    out = m.feed(Dle(dle(DleKind.END_OF_STREAM), 5.0))  # DLE ETX: the far end is gone
    assert SetAudio(AudioMode.NONE) in out and m.state is LineState.VOICE
    out = m.feed(Code(Result.NO_CARRIER, 5.01))
    assert [type(e) for e in events(out)] == [HungUp]


def test_an_idle_modem_is_checked_with_at_and_a_silent_one_stalls():
    m = LineMachine("m0", HALF)
    assert sends(m.feed(Tick(100.0))) == []
    assert sends(m.feed(Tick(129.0))) == []
    assert sends(m.feed(Tick(131.0))) == ["AT"]  # 30 s of quiet on an idle line
    m.feed(Code(Result.OK, 131.1))
    assert sends(m.feed(Tick(150.0))) == [] and not m.busy
    assert sends(m.feed(Tick(162.0))) == ["AT"]
    out = m.feed(Tick(167.5))  # no answer within 5 s: the modem stalls
    assert [a for a in out if isinstance(a, Stalled)] == [Stalled("AT")]


def test_a_call_answered_while_the_idle_check_is_out_waits_for_its_ok():
    m = LineMachine("m0", HALF, number="8001")
    m.feed(Tick(100.0))
    assert sends(m.feed(Tick(131.0))) == ["AT"]
    ring_with_cid(m, t=131.01)  # RING and caller ID arrive before the OK
    assert sends(m.feed(Command("answer", now=132.5))) == []  # not yet: the next OK belongs to the AT
    assert sends(m.feed(Code(Result.OK, 132.6))) == ["AT+FCLASS=8"]
    assert sends(m.feed(Code(Result.OK, 132.7))) == ["AT+VLS=1"]
    assert events(m.feed(Code(Result.VCON, 132.8))) == [AnswerConfirmed("m0")]


def test_digit_outside_a_call_is_ignored():
    m = LineMachine("m0", HALF)
    assert m.feed(Dle(dle(DleKind.DTMF, "1"), 1.0)) == []


def test_busy_tone_ends_the_call_and_goes_on_hook():
    m = playing()
    out = m.feed(Dle(dle(DleKind.BUSY), 4.0))
    assert events(out) == [HungUp("m0", HangupCause.BUSY)]
    assert SendRaw(b"\x10\x03") in out and m.state is LineState.HANGING_UP
    assert sends(m.feed(Code(Result.VCON, 4.1))) == ["ATH0"]
    m.feed(Code(Result.OK, 4.2))
    assert m.state is LineState.IDLE


def test_no_carrier_and_loop_break_hang_up():
    m = playing()
    m.feed(Command("listen", now=3.0))
    m.feed(Code(Result.VCON, 3.1))
    m.feed(Code(Result.CONNECT, 3.2))
    assert events(m.feed(Dle(dle(DleKind.LOOP_BREAK), 4.0))) == [HungUp("m0", HangupCause.NORMAL)]
    m2 = playing()
    m2.feed(Command("hangup", now=3.0))  # the box hangs up while the modem plays
    m2.feed(Code(Result.VCON, 3.1))
    m2.feed(Code(Result.OK, 3.2))
    assert m2.state is LineState.IDLE


def test_tones_become_contract_events_and_silence_is_counted():
    m = playing()
    assert events(m.feed(Dle(dle(DleKind.FAX_CNG), 3.0))) == [ToneDetected("m0", ToneKind.FAX_CNG)]
    assert events(m.feed(Dle(dle(DleKind.DIAL_TONE), 3.0))) == [ToneDetected("m0", ToneKind.DIAL)]
    m.feed(Dle(dle(DleKind.SILENCE), 3.0))
    m.feed(Dle(dle(DleKind.QUIET), 3.0))
    m.feed(Dle(dle(DleKind.UNKNOWN), 3.0))
    assert (m.counters["silence"], m.counters["quiet"], m.counters["garbage"]) == (1, 1, 1)


def test_dial_out_busy_and_answered():
    m = LineMachine("m0", HALF)
    assert sends(m.feed(Command("dial", "T5551234", 0.0))) == ["AT+FCLASS=8"]
    assert sends(m.feed(Code(Result.OK, 0.1))) == ["ATDT5551234"]
    out = m.feed(Code(Result.BUSY, 5.0))
    assert events(out) == [HungUp("m0", HangupCause.BUSY)] and sends(out) == ["ATH0"]
    m.feed(Code(Result.OK, 5.1))
    m.feed(Command("dial", "5551234", 6.0))
    m.feed(Code(Result.OK, 6.1))
    assert events(m.feed(Dle(dle(DleKind.RINGBACK), 7.0))) == [Progress("m0")]
    out = m.feed(Code(Result.VCON, 9.0))
    assert events(out) == [Answered("m0")] and sends(out) == ["AT+VTX"]


def test_flash_stops_audio_flashes_and_resumes():
    m = playing()
    out = m.feed(Command("flash", now=3.0))
    assert SendRaw(b"\x10\x03") in out
    assert sends(m.feed(Code(Result.VCON, 3.1))) == [HALF.flash]
    assert sends(m.feed(Code(Result.OK, 3.2))) == ["AT+VTX"]


def test_a_command_without_answer_stalls():
    m = LineMachine("m0", HALF)
    ring_with_cid(m)
    m.feed(Command("answer", now=2.0))
    assert [a for a in m.feed(Tick(8.0)) if isinstance(a, Stalled)] == [Stalled("AT+FCLASS=8")]


def test_a_hang_up_the_modem_never_confirms_stalls_on_a_readable_command():
    from hotline.drivers.modem.session import readable
    m = playing()
    m.feed(Command("hangup", now=3.0))  # DLE ETX ends the box's audio; the modem never says VCON/OK
    [stalled] = [a for a in m.feed(Tick(9.0)) if isinstance(a, Stalled)]
    assert readable(stalled.command) == "DLE ETX"  # what the log and the panel show, not raw control bytes


def test_port_lost_ends_the_call_with_line_down():
    m = playing()
    assert events(m.port_lost()) == [HungUp("m0", HangupCause.LINE_DOWN)]
    assert m.state is LineState.DOWN
    assert m.feed(Code(Result.RING, 1.0)) == []  # nothing happens on a line that is down
    m.port_back()
    assert m.state is LineState.IDLE


def test_answer_error_ends_the_call():
    m = LineMachine("m0", HALF)
    ring_with_cid(m)
    m.feed(Command("answer", now=2.0))
    out = m.feed(Code(Result.ERROR, 2.1))
    assert events(out) == [HungUp("m0", HangupCause.REJECTED)]


def test_a_call_in_voice_becomes_a_fax_and_ends_idle():
    """fax_begin: the DLE bytes that end the current audio mode (DLE CAN DLE ETX while playing, the dialect's stop
    while recording), the line FAX with nothing pending; fax_end: idle, ready for the next RING."""
    m = LineMachine("m0", HALF, number="8001")
    ring_with_cid(m)
    answer(m)
    m.feed(Code(Result.CONNECT, 2.1))
    assert m.state is LineState.PLAYING
    assert m.fax_begin() == b"\x10\x18\x10\x03" and m.state is LineState.FAX and not m.busy
    m.fax_end(9.0)
    assert m.state is LineState.IDLE
    assert events(ring_with_cid(m, 10.0)) == [Ringing("m0", "5551234", "ZHANG WEI", "8001")]
    ringing = LineMachine("m1", FULL)
    ringing.feed(Code(Result.RING, 0.0))
    assert ringing.fax_begin() == b"" and ringing.state is LineState.FAX   # a fax line: nothing to stop
