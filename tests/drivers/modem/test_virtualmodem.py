"""The virtual modem at the byte level, through pyserial's serial_for_url("virtualmodem://..."), as a driver sees it."""
from __future__ import annotations

import itertools
import logging
import time

import numpy as np
import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st
from serial.serialutil import SerialException

from hotline.drivers.modem import dle, virtual
from hotline.drivers.modem.codec import VoiceCodec
from hotline.drivers.modem.dle import DleDecoder, DleEvent, DleKind
from hotline.drivers.modem.profiles import PROFILES, Encoding, identify
from hotline.drivers.modem.virtual import CallState
from hotline.drivers.modem.virtual.protocol_virtualmodem import parse_url

_names = itertools.count()


@pytest.fixture(autouse=True)
def _registered():
    virtual.register()
    yield
    virtual.forget_all()


class Dte:
    """The test's side of a virtual modem port: send a command, read until its final result code."""

    def __init__(self, profile: str = "default", **kw) -> None:
        self.name = f"t{next(_names)}"
        self.port = serial.serial_for_url(f"virtualmodem://{profile}?name={self.name}", timeout=0.05, **kw)
        self.far = virtual.far_end(self.name)
        self.buf = bytearray()

    def read_until(self, *needles: bytes, timeout: float = 5.0) -> bytes:
        """Read until any needle is in what was read (returns and consumes all of it); AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for needle in needles:
                at = self.buf.find(needle)
                if at >= 0:
                    out = bytes(self.buf[:at + len(needle)])
                    del self.buf[:at + len(needle)]
                    return out
            self.buf += self.port.read(4096)
        raise AssertionError(f"none of {needles} within {timeout} s; got {bytes(self.buf)[-300:]!r}")

    def at(self, command: str, final: tuple[bytes, ...] = (b"OK\r\n", b"ERROR\r\n", b"CONNECT\r\n",
                                                            b"VCON\r\n", b"NO CARRIER\r\n")) -> str:
        """Send one command line; return everything up to and including its final result, as text."""
        self.port.write(command.encode() + b"\r")
        return self.read_until(*final).decode("latin-1")

    def voice_off_hook(self, answer: bool = True) -> None:
        """E0, voice class and (optionally) answer a ringing call with +VLS=1."""
        assert self.at("ATE0").endswith("OK\r\n")
        assert self.at("AT+FCLASS=8") == "\r\nOK\r\n"
        if answer:
            self.far.ring("5551234", rings=5, period=2.0)
            self.read_until(b"RING\r\n")
            assert self.at("AT+VLS=1") == "\r\nOK\r\n"
            assert self.far.wait_for(CallState.CONNECTED, 2)

    def collect(self, seconds: float) -> bytes:
        """Everything the modem sends for `seconds` (plus what was already buffered)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.buf += self.port.read(8192)
        out = bytes(self.buf)
        self.buf.clear()
        return out


def _decode(data: bytes) -> tuple[bytes, list[DleEvent]]:
    audio, events = bytearray(), []
    for part in DleDecoder().feed(data):
        if isinstance(part, bytes):
            audio += part
        else:
            events.append(part)
    return bytes(audio), events


def _codes(data: bytes) -> bytes:
    """The code bytes after each DLE in a shielded stream (DLE DLE, a data byte, skipped)."""
    out, i = bytearray(), 0
    while (i := data.find(b"\x10", i)) >= 0 and i + 1 < len(data):
        if data[i + 1] != 0x10:
            out.append(data[i + 1])
        i += 2
    return bytes(out)


# -- commands ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_identification_lines_per_profile(profile: str) -> None:
    """ATI/ATI3/ATI9 answer with the profile's info line before OK (vgetty waits for it), E0/V1 spacing."""
    dte, p = Dte(profile), PROFILES[profile]
    assert dte.at("ATE0") == "ATE0\r\r\nOK\r\n"           # echoed before E0 takes effect
    assert dte.at("ATI") == f"\r\n{p.ati}\r\n\r\nOK\r\n"
    assert dte.at("ATI3") == f"\r\n{p.ati3}\r\n\r\nOK\r\n"
    assert dte.at("ATI9") == f"\r\n{p.ati9}\r\n\r\nOK\r\n"
    assert identify({"ATI": p.ati, "ATI3": p.ati3, "ATI9": p.ati9}) is p   # the driver would recognise it


def test_echo_numeric_results_errors_and_compound_lines() -> None:
    """E1 echoes, V0 gives digits, unknown commands are ERROR, a compound line runs every command once."""
    dte = Dte()
    assert dte.at("AT") == "AT\r\r\nOK\r\n"
    assert dte.at("ATE0V0", final=(b"\r0\r",)) == "ATE0V0\r0\r"
    assert dte.at("AT+NOPE", final=(b"4\r",)) == "4\r"
    assert dte.at("ATV1") == "\r\nOK\r\n"
    assert dte.at("AT+FCLASS=8;+VRA=70;+VRN=10") == "\r\nOK\r\n"
    assert dte.at("AT+VRA?;+VRN?") == "\r\n70\r\n\r\n10\r\n\r\nOK\r\n"
    assert dte.at("AT+FCLASS=?") == "\r\n0,1,8\r\n\r\nOK\r\n"
    assert dte.at("AT+FCLASS=5") == "\r\nERROR\r\n"
    assert dte.at("ATS0?") == "\r\n000\r\n\r\nOK\r\n"
    assert dte.at("AT" + "E" * 300) == "\r\nERROR\r\n"      # an over-long line is refused, not a crash


def test_vsm_lists_and_selects_formats() -> None:
    """+VSM=? lists the profile's formats (USR with its "+VSM: " prefix); an unoffered format or rate is ERROR."""
    usr = Dte("usr")
    usr.at("ATE0")
    listing = usr.at("AT+VSM=?")
    assert '+VSM: 131,"ULAW",8,0,(7200,8000),(0),(0)' in listing
    adpcm = Dte("emu-adpcm7200")
    adpcm.at("ATE0")
    assert adpcm.at("AT+VSM=?") == '\r\n129,"IMA ADPCM",4,0,(7200),(0),(0)\r\n\r\nOK\r\n'
    assert adpcm.at("AT+VSM=129,8000") == "\r\nERROR\r\n"
    assert adpcm.at("AT+VSM=1,8000") == "\r\nERROR\r\n"
    assert adpcm.at("AT+VSM=129,7200") == "\r\nOK\r\n"
    assert adpcm.at("AT+VSM?") == "\r\n129,7200,0,0\r\n\r\nOK\r\n"


# -- incoming calls ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("number,name", [("5551234", "ALICE"), ("P", "P"), ("O", None)])
def test_ring_with_caller_id_between_rings(number: str, name: str | None) -> None:
    """RING, then DATE/TIME/NMBR/NAME (P withheld, O unavailable), then the next RING."""
    dte = Dte("conexant")
    dte.at("ATE0")
    assert dte.at("AT+VCID=1") == "\r\nOK\r\n"
    dte.far.ring(number, name, rings=3, period=1.0)
    text = dte.read_until(b"RING\r\n", timeout=3).decode()
    text += dte.read_until(b"RING\r\n", timeout=3).decode()
    lines = [ln for ln in text.split("\r\n") if ln]
    assert lines[0] == "RING" and lines[-1] == "RING"
    assert lines[1].startswith("DATE = ") and lines[2].startswith("TIME = ")
    assert lines[3] == f"NMBR = {number}"
    assert lines[4:-1] == ([f"NAME = {name}"] if name else [])


def test_caller_id_spelling_follows_the_chipset() -> None:
    """U.S. Robotics takes AT#CID=1 and refuses AT+VCID=1; Conexant the other way round."""
    usr, cx = Dte("usr"), Dte("conexant")
    usr.at("ATE0")
    cx.at("ATE0")
    assert usr.at("AT+VCID=1") == "\r\nERROR\r\n" and usr.at("AT#CID=1") == "\r\nOK\r\n"
    assert cx.at("AT#CID=1") == "\r\nERROR\r\n" and cx.at("AT+VCID=1") == "\r\nOK\r\n"


def test_caller_gives_up_after_its_rings() -> None:
    """A call nobody answers rings `rings` times and the far end counts it as missed."""
    dte = Dte()
    dte.far.ring(rings=2, period=0.3)
    assert dte.far.wait_for(CallState.IDLE, 3)
    assert dte.far.missed == 1
    assert dte.collect(0.1).count(b"RING") == 2


def test_ata_answers_with_vcon_in_voice_class() -> None:
    """ATA on a ringing line in +FCLASS=8 gives VCON and connects the far end; with nothing ringing NO CARRIER."""
    dte = Dte()
    dte.voice_off_hook(answer=False)
    assert dte.at("ATA") == "\r\nNO CARRIER\r\n"
    dte.far.ring(rings=3, period=1.0)
    dte.read_until(b"RING\r\n")
    assert dte.at("ATA") == "\r\nVCON\r\n"
    assert dte.far.state is CallState.CONNECTED


# -- audio --------------------------------------------------------------------------------------------------
def test_receive_is_paced_at_8000_bytes_per_second_and_carries_far_speech(correlate) -> None:
    """+VRX delivers the far end's speech at 8,000 bytes/s (8-bit formats), DLE-shielded; DLE ! ends with DLE ETX OK."""
    dte = Dte("default")
    dte.voice_off_hook()
    t = np.arange(16000) / 8000.0
    speech = (8000 * np.sin(2 * np.pi * 440 * t) * np.sin(2 * np.pi * 3 * t)).astype(np.int16)
    dte.far.speak(speech)
    assert dte.at("AT+VRX") == "\r\nCONNECT\r\n"
    start = time.monotonic()
    data = dte.collect(1.5)
    elapsed = time.monotonic() - start
    audio, events = _decode(data)
    rate = len(audio) / elapsed
    assert 8000 * 0.85 < rate < 8000 * 1.15, f"{rate:.0f} bytes/s"
    pcm = VoiceCodec(Encoding.UNSIGNED_PCM8).decode(audio)
    assert correlate(pcm, speech[4000:8000]) > 0.95
    dte.port.write(dle.dle("!"))
    assert dte.read_until(b"OK\r\n").endswith(b"\x10\x03\r\nOK\r\n")


@pytest.mark.parametrize("profile,expected", [
    ("emu-half", [(DleKind.DTMF, "4"), (DleKind.DTMF_END, "4")]),   # DLE / DLE 4 DLE ~
    ("default", [(DleKind.DTMF, "4")]),                              # plain DLE 4
])
def test_dtmf_reported_as_dle_codes(profile: str, expected: list) -> None:
    """A key the far end presses reaches the DTE as the profile's DLE spelling, once per press."""
    dte = Dte(profile)
    dte.voice_off_hook()
    assert dte.at("AT+VRX") == "\r\nCONNECT\r\n"
    dte.far.send_dtmf("4")
    data = dte.collect(0.6)
    codes = b"/4~" if PROFILES[profile].dtmf_shielded else b"4"
    assert _codes(data) == codes          # the bytes DLE / DLE 4 DLE ~ (or DLE 4) in the stream
    _, events = _decode(data)
    assert [(e.kind, e.digit) for e in events if e.kind in (DleKind.DTMF, DleKind.DTMF_END)] == expected


def test_dtmf_audio_is_real_tones() -> None:
    """The keys are in the received audio too (a software detector could find them)."""
    dte = Dte("emu-half")
    dte.voice_off_hook()
    dte.at("AT+VRX")
    dte.far.send_dtmf("7", on_ms=200)
    audio, _ = _decode(dte.collect(0.8))
    pcm = VoiceCodec(Encoding.ULAW).decode(audio).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm))
    freqs = np.fft.rfftfreq(pcm.size, 1 / 8000)
    top = sorted(freqs[np.argsort(spectrum)[-40:]])
    assert any(abs(f - 852) < 10 for f in top) and any(abs(f - 1209) < 10 for f in top)


def test_transmit_unshields_paces_and_ends_with_ok_after_playback() -> None:
    """+VTX: DLE DLE is one 0x10 byte, the far end hears exactly what was sent, in real time; DLE ETX -> OK."""
    dte = Dte("default", write_timeout=10)
    dte.voice_off_hook()
    assert dte.at("AT+VTX") == "\r\nCONNECT\r\n"
    payload = bytes((np.arange(8000) * 7 % 256).astype(np.uint8))   # 1 s, includes 0x10 bytes
    assert payload.count(0x10) > 10
    start = time.monotonic()
    dte.port.write(dle.shield(payload) + dle.dle(dle.ETX))
    dte.read_until(b"OK\r\n", timeout=5)
    took = time.monotonic() - start
    assert 0.9 < took < 1.6, f"1 s of audio took {took:.2f} s"
    heard = dte.far.heard()
    sent = VoiceCodec(Encoding.UNSIGNED_PCM8).decode(payload)
    at = int(np.flatnonzero(heard)[0])
    assert np.array_equal(heard[at:at + sent.size], sent)


def test_transmit_flow_control_blocks_the_writer() -> None:
    """The modem buffers about 2 s: writing 4 s of audio blocks the writer (CTS low) until it has played out."""
    dte = Dte("default", write_timeout=15)
    dte.voice_off_hook()
    dte.at("AT+VTX")
    start = time.monotonic()
    dte.port.write(b"\x80" * 32000)
    took = time.monotonic() - start
    assert took > 1.5, f"4 s of audio accepted in {took:.2f} s: no flow control"
    dte.port.write_timeout = 0.3
    with pytest.raises(serial.SerialTimeoutException):
        dte.port.write(b"\x80" * 32000)
    assert not dte.port.cts
    dte.port.write(dle.dle("!"))
    assert dte.read_until(b"OK\r\n").endswith(b"OK\r\n")
    assert dte.port.cts


def test_full_duplex_only_where_the_chipset_has_it() -> None:
    """+VTR is ERROR on a half-duplex profile; on Conexant DLE ETX ends the transmit half and receive goes on."""
    half = Dte("emu-half")
    half.voice_off_hook()
    assert half.at("AT+VTR") == "\r\nERROR\r\n"
    full = Dte("conexant")
    full.voice_off_hook()
    assert full.at("AT+VTR") == "\r\nCONNECT\r\n"
    full.port.write(b"\x80" * 800 + dle.dle(dle.ETX))
    data = full.collect(0.5)
    assert len(data) > 3000 and b"OK" not in data        # still receiving
    full.port.write(dle.dle("!"))
    assert full.read_until(b"OK\r\n").endswith(b"\x10\x03\r\nOK\r\n")


def test_adpcm_7200_profile_runs_at_3600_bytes_per_second(correlate) -> None:
    """The 7,200 Hz IMA ADPCM-only modem sends 3,600 bytes/s; decoded and resampled, the speech is intact."""
    dte = Dte("emu-adpcm7200")
    dte.voice_off_hook()
    t = np.arange(16000) / 8000.0
    speech = (8000 * np.sin(2 * np.pi * 500 * t) * np.sin(2 * np.pi * 2 * t)).astype(np.int16)
    dte.far.speak(speech)
    dte.at("AT+VRX")
    start = time.monotonic()
    audio, _ = _decode(dte.collect(1.5))
    rate = len(audio) / (time.monotonic() - start)
    assert 3600 * 0.85 < rate < 3600 * 1.15, f"{rate:.0f} bytes/s"
    pcm = VoiceCodec(Encoding.IMA_ADPCM4, 7200).decode(audio)
    assert correlate(pcm, speech[4000:8000]) > 0.9


def test_silence_and_quiet_reports() -> None:
    """No voice for the +VSD time: DLE s; voice and then quiet: DLE q (Agere-like chips only ever say s)."""
    dte = Dte("default")
    dte.voice_off_hook()
    dte.at("AT+VSD=128,5")
    dte.at("AT+VRX")
    _, events = _decode(dte.collect(0.8))
    assert [e.kind for e in events] == [DleKind.SILENCE]
    dte.port.write(dle.dle("!"))
    dte.read_until(b"OK\r\n")
    dte.far.speak((6000 * np.sin(np.arange(1600) * 0.3)).astype(np.int16))
    dte.at("AT+VRX")
    _, events = _decode(dte.collect(1.0))
    assert [e.kind for e in events] == [DleKind.QUIET]


def test_busy_tone_and_fax_calling_tone_reported() -> None:
    """Busy tone on the line gives DLE b, the fax calling tone DLE c."""
    dte = Dte("default")
    dte.voice_off_hook()
    dte.at("AT+VRX")
    dte.far.busy_tone()
    _, events = _decode(dte.collect(1.8))
    assert DleKind.BUSY in [e.kind for e in events]
    dte.far.cng()
    _, events = _decode(dte.collect(0.8))
    assert DleKind.FAX_CNG in [e.kind for e in events]


@pytest.mark.parametrize("profile,expect", [
    ("default", b"\x10\x03\r\nNO CARRIER\r\n"),   # NO CARRIER chipsets
    ("conexant", b"\x10l"),                       # loop-current break
    ("emu-half", b"\x10b"),                       # only the exchange's busy tone says so
])
def test_far_hangup_is_signalled_as_the_chipset_does(profile: str, expect: bytes) -> None:
    """The caller hangs up during +VRX: NO CARRIER, DLE l or (like many Chinese lines) nothing but busy tone."""
    dte = Dte(profile)
    dte.voice_off_hook()
    dte.at("AT+VRX")
    dte.collect(0.1)
    dte.far.hangup()
    data = dte.collect(2.0).replace(b"\x10\x10", b"")
    assert expect in data


def test_on_hook_ends_the_far_call_and_dtr_drop_hangs_up() -> None:
    """ATH0 ends the far end's call; dropping DTR (as a tty with &D2 would) does too."""
    dte = Dte()
    dte.voice_off_hook()
    assert dte.at("ATH0") == "\r\nOK\r\n"
    assert dte.far.state is CallState.IDLE
    dte.voice_off_hook()
    dte.port.dtr = False
    assert dte.far.wait_for(CallState.IDLE, 1)


# -- dialling ---------------------------------------------------------------------------------------------
def test_dial_answer_and_busy() -> None:
    """ATD plays the digits to the far end, VCON when it answers; BUSY when it answers with busy tone."""
    dte = Dte()
    dte.at("ATE0")
    dte.at("AT+FCLASS=8")
    dte.port.write(b"ATDT8001\r")
    assert dte.far.wait_dialled(5) == "8001"
    dte.far.answer()
    assert dte.read_until(b"VCON\r\n", b"BUSY\r\n", timeout=3).endswith(b"VCON\r\n")
    assert dte.at("ATH0") == "\r\nOK\r\n"
    dte.far.busy_tone()
    dte.port.write(b"ATD8002\r")
    assert dte.read_until(b"VCON\r\n", b"BUSY\r\n", timeout=5).endswith(b"BUSY\r\n")


# -- faults -----------------------------------------------------------------------------------------------
def test_unplug_breaks_the_port_until_replug() -> None:
    """Unplugged: read and reopen raise SerialException; after replug a new port works (the old one stays dead)."""
    dte = Dte()
    dte.at("ATE0")
    dte.far.unplug()
    with pytest.raises(SerialException):
        dte.port.read(1)
    with pytest.raises(SerialException):
        dte.port.write(b"AT\r")
    url = f"virtualmodem://default?name={dte.name}"
    with pytest.raises(SerialException, match="unplugged"):
        serial.serial_for_url(url)
    dte.far.replug()
    with pytest.raises(SerialException):
        dte.port.read(1)
    again = serial.serial_for_url(url, timeout=1)
    again.write(b"ATI\r")
    time.sleep(0.2)
    assert again.read(200) == b"ATI\r\r\nV.253 voice modem\r\n\r\nOK\r\n"    # power-on state: echo is back on


def test_garbage_stall_and_stuck_echo() -> None:
    """Garbage bytes arrive verbatim; a stalled modem answers nothing, then recovers; stuck echo never says OK."""
    dte = Dte()
    dte.at("ATE0")
    dte.far.garbage(b"\xff\x00\x10junk\r\n")
    assert dte.read_until(b"junk\r\n") == b"\xff\x00\x10junk\r\n"
    dte.far.stall(0.6)
    dte.port.write(b"AT\r")
    assert dte.collect(0.4) == b""
    time.sleep(0.3)
    assert dte.at("AT") == "\r\nOK\r\n"
    dte.far.stuck_echo = True
    dte.port.write(b"ATI\r")
    assert dte.collect(0.4) == b"ATI\r\n"
    dte.far.stuck_echo = False
    assert dte.at("AT") == "\r\nOK\r\n"


def test_no_carrier_switch_during_receive() -> None:
    """no_carrier(): DLE ETX ends the receive stream, then NO CARRIER, and the line is on hook."""
    dte = Dte("conexant")
    dte.voice_off_hook()
    dte.at("AT+VRX")
    dte.collect(0.1)
    dte.far.no_carrier()
    assert dte.read_until(b"NO CARRIER\r\n").endswith(b"\x10\x03\r\nNO CARRIER\r\n")
    assert dte.far.state is CallState.IDLE


# -- URLs -------------------------------------------------------------------------------------------------
def test_url_parsing_and_clear_errors() -> None:
    """virtualmodem://PROFILE?name=NAME; unknown profiles and options are named in the error."""
    assert parse_url("virtualmodem://usr?name=line1") == ("usr", "line1")
    assert parse_url("virtualmodem://zoom") == ("zoom", "zoom")
    with pytest.raises(SerialException, match="unknown modem profile 'nokia'.*conexant"):
        serial.serial_for_url("virtualmodem://nokia")
    with pytest.raises(SerialException, match="unknown option.*speed"):
        serial.serial_for_url("virtualmodem://usr?speed=9")
    serial.serial_for_url("virtualmodem://usr?name=same")
    with pytest.raises(SerialException, match="is a usr modem"):
        serial.serial_for_url("virtualmodem://zoom?name=same")


# -- hostile input ----------------------------------------------------------------------------------------
_TOKENS = [b"AT", b"+VTX", b"+VRX", b"+VTR", b"+FCLASS=8", b"\r", b"\x10", b"\x10\x03", b"+VLS=1", b"D12,3",
           b"+VTS=[", b"+VTS=1,2", b"=?", b"?", b";", b"+VSM=", b"129,7200", b"#CID=", b"E0", b"V0", b"Q1", b"H",
           b"&F", b"I9", b"+VSD=,,", b"\x00", b"\xff\xfe", b"\x08"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=24), st.sampled_from(_TOKENS)), max_size=30))
def test_any_dte_bytes_leave_a_modem_that_still_answers(chunks: list[bytes]) -> None:
    """Whatever the DTE writes (junk, half commands, voice data), nothing raises and the modem then answers AT."""
    errors: list[logging.LogRecord] = []
    catcher = logging.Handler(logging.ERROR)
    catcher.emit = errors.append
    logging.getLogger("hotline.virtualmodem").addHandler(catcher)
    try:
        _hostile(chunks)
    finally:
        logging.getLogger("hotline.virtualmodem").removeHandler(catcher)
    assert not errors, [r.getMessage() for r in errors]


def _hostile(chunks: list[bytes]) -> None:
    dte = Dte("conexant")
    dte.far.ring(rings=50, period=0.5)
    for chunk in chunks:
        dte.port.write(chunk)
    for _ in range(4):
        dte.port.write(b"\x10!\r")
        time.sleep(0.05)
        dte.port.write(b"ATZ\r")
        time.sleep(0.05)
        dte.collect(0.05)
        dte.port.write(b"AT\r")
        if b"OK\r\n" in dte.collect(0.3):
            break
    else:
        raise AssertionError(f"modem no longer answers after {chunks!r}")
    virtual.forget(dte.name)


def test_a_failing_handler_answers_error(monkeypatch) -> None:
    """A command whose handler raises gives ERROR and the modem carries on."""
    from hotline.drivers.modem.virtual import commands

    def broken(modem, op, arg):
        raise ZeroDivisionError("boom")

    monkeypatch.setitem(commands.COMMANDS, "+GMI", broken)
    dte = Dte()
    dte.at("ATE0")
    assert dte.at("AT+GMI") == "\r\nERROR\r\n"
    assert dte.at("AT") == "\r\nOK\r\n"


# -- the far end's scripting ------------------------------------------------------------------------------
def test_speak_a_wav_any_rate_and_go_silent(tmp_path, correlate) -> None:
    """speak() takes a stereo 16 kHz WAV (resampled to 8 kHz mono); silence() cuts it off at once."""
    import wave

    t = np.arange(16000 * 3) / 16000.0
    tone = (7000 * np.sin(2 * np.pi * 600 * t) * np.sin(2 * np.pi * 1.5 * t)).astype("<i2")
    path = tmp_path / "caller.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(np.repeat(tone, 2).tobytes())
    dte = Dte("emu-half")
    dte.voice_off_hook()
    assert dte.far.speak(path) == pytest.approx(3.0, abs=0.01)
    dte.at("AT+VRX")
    audio, _ = _decode(dte.collect(1.0))
    pcm = VoiceCodec(Encoding.ULAW).decode(audio)
    expected = tone[::2][2000:6000]
    assert correlate(pcm, expected) > 0.95
    dte.far.silence()
    assert not dte.far.speaking
    dte.collect(0.1)
    audio, _ = _decode(dte.collect(0.5))
    assert np.abs(VoiceCodec(Encoding.ULAW).decode(audio).astype(np.int32)).max() < 100


def test_speak_refuses_a_file_that_is_not_a_wav(tmp_path) -> None:
    """A bad prompt file is a clear ValueError naming the file, not noise on the line."""
    bad = tmp_path / "prompt.wav"
    bad.write_bytes(b"this is not RIFF")
    far = virtual.far_end("nowav")
    with pytest.raises(ValueError, match="prompt.wav: not a PCM WAV"):
        far.speak(bad)


# -- keys before the answer, AT after line noise -----------------------------------------------------------
@pytest.mark.parametrize("profile,when", [
    ("default", "ringing"),          # pressed while it still rings
    ("emu-half", "ringing"),
    ("default", "answered"),         # off hook (+VLS=1) but no audio state yet
])
def test_keys_queued_before_audio_flows_all_arrive_in_order(profile: str, when: str) -> None:
    """Keys the caller presses before the modem carries audio wait for +VRX and then all arrive, none dropped."""
    dte = Dte(profile)
    assert dte.at("ATE0").endswith("OK\r\n") and dte.at("AT+FCLASS=8") == "\r\nOK\r\n"
    dte.far.ring("5551234", rings=5, period=2.0)
    dte.read_until(b"RING\r\n")
    if when == "ringing":
        dte.far.send_dtmf("19#", on_ms=60, off_ms=60)
        time.sleep(0.5)                     # the keys' time passes while it rings
    assert dte.at("AT+VLS=1") == "\r\nOK\r\n"
    if when == "answered":
        dte.far.send_dtmf("19#", on_ms=60, off_ms=60)
        time.sleep(0.5)
    assert dte.at("AT+VRX") == "\r\nCONNECT\r\n"
    data = dte.collect(0.6)
    digits = [e.digit for e in _decode(data)[1] if e.kind is DleKind.DTMF]
    assert digits == ["1", "9", "#"]


@pytest.mark.parametrize("noise", [b"\xff\xfe\x80", b"~~~ +++", b"x", b"a", b"NO CARRIER"])
def test_at_found_after_line_noise(noise: bytes) -> None:
    """Garbage before the AT prefix on the same line is dropped, as a real modem does; the command still runs."""
    dte = Dte("default")
    assert dte.at("ATE0").endswith("OK\r\n")
    dte.port.write(noise + b"ATI3\r")
    assert dte.read_until(b"OK\r\n") == f"\r\n{PROFILES['default'].ati3}\r\n\r\nOK\r\n".encode()


def test_a_line_without_at_is_ignored() -> None:
    """Noise alone gets no answer (no ERROR either); the next command is answered normally."""
    dte = Dte("default")
    assert dte.at("ATE0").endswith("OK\r\n")
    dte.port.write(b"\xff\xfe garbage\r")
    assert dte.at("AT") == "\r\nOK\r\n"
