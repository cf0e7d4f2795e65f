"""AT commands of the virtual modem: a parser and one small handler per command (V.250 basics, V.253 voice subset).

A handler gets (modem, op, arg) under the modem's lock and returns a Result;
information text goes out through modem.info() before it.
"""
from __future__ import annotations

import re
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Callable

import numpy as np

from hotline.drivers.common.tones import dtmf_tone
from hotline.drivers.modem.profiles import Quirk
from hotline.drivers.modem.virtual.far_end import CallState, IncomingCall
from hotline.drivers.modem.virtual.results import DialPlan, ModemState, Result

if TYPE_CHECKING:
    from hotline.drivers.modem.virtual.modem import VirtualModem


class Op(Enum):
    """The form an AT command was given in."""

    ACTION = ""     # AT+VTX, ATA, ATE1 (basic commands carry their digits as arg)
    SET = "="       # AT+VLS=1
    READ = "?"      # AT+VLS?
    TEST = "=?"     # AT+VLS=?


Handler = Callable[["VirtualModem", Op, str], Result]
COMMANDS: dict[str, Handler] = {}


def command(*names: str) -> Callable[[Handler], Handler]:
    """Register a handler under one or more command names ("E", "&F", "+VLS")."""
    def register(fn: Handler) -> Handler:
        for name in names:
            COMMANDS[name] = fn
        return fn
    return register


_BASIC = re.compile(r"(&?[A-Z])(\d*)")
_EXTENDED = re.compile(r"([+#][A-Z][A-Z0-9]*)(=\?|=|\?)?")


def execute(modem: VirtualModem, body: str) -> Result:
    """Run the commands after "AT" in order; stop at the first that is not OK."""
    i, text = 0, body
    result = Result.OK
    while i < len(text):
        c = text[i]
        if c in " ;":
            i += 1
            continue
        upper = text[i:].upper()
        if c in "+#":
            m = _EXTENDED.match(upper)
            if not m:
                return Result.ERROR
            start = i + m.end()
            end = text.find(";", start)
            end = len(text) if end < 0 else end
            name, op = m.group(1), Op(m.group(2) or "")
            arg = text[start:end].strip()
            i = end
        elif upper[0] == "D":
            name, op, arg = "D", Op.ACTION, text[i + 1:]
            i = len(text)
        elif upper[0] == "S":
            m = re.match(r"S(\d+)(=\d*|\?)?", upper)
            if not m:
                return Result.ERROR
            name, op = "S", Op.READ if m.group(2) == "?" else Op.SET
            arg = m.group(1) + ("" if op is Op.READ else (m.group(2) or "="))
            i += m.end()
        else:
            m = _BASIC.match(upper)
            if not m:
                return Result.ERROR
            name, op, arg = m.group(1), Op.ACTION, m.group(2)
            i += m.end()
        handler = COMMANDS.get(name)
        if handler is None:
            return Result.ERROR
        result = handler(modem, op, arg)
        if result is not Result.OK:
            return result
    return result


def _int(arg: str, default: int = 0) -> int:
    return int(arg) if arg.isdigit() else default


def _flag(modem: VirtualModem, attr: str, arg: str) -> Result:
    value = _int(arg)
    if value not in (0, 1):
        return Result.ERROR
    setattr(modem.settings, attr, bool(value))
    return Result.OK


def _voice_mode(modem: VirtualModem) -> bool:
    return modem.settings.fclass == "8"


# -- V.250 basics -------------------------------------------------------------------------------------
@command("E")
def _at_E(modem: VirtualModem, op: Op, arg: str) -> Result:
    """E0/E1: command echo."""
    return _flag(modem, "echo", arg)


@command("V")
def _at_V(modem: VirtualModem, op: Op, arg: str) -> Result:
    """V0/V1: numeric or verbose result codes."""
    return _flag(modem, "verbose", arg)


@command("Q")
def _at_Q(modem: VirtualModem, op: Op, arg: str) -> Result:
    """Q0/Q1: result codes on or off."""
    return _flag(modem, "quiet", arg)


@command("Z", "&F")
def _at_Z(modem: VirtualModem, op: Op, arg: str) -> Result:
    """Z / &F: hang up and restore the factory settings."""
    modem.go_on_hook()
    modem._reset_state()
    return Result.OK


@command("I")
def _at_I(modem: VirtualModem, op: Op, arg: str) -> Result:
    """ATI, ATI3, ATI9: the identification lines a profile answers (other numbers: ERROR)."""
    text = {0: modem.profile.ati, 3: modem.profile.ati3, 9: modem.profile.ati9}.get(_int(arg))
    if text is None:
        return Result.ERROR
    modem.info(text)
    return Result.OK


@command("+GMI", "+FMI")
def _at_GMI(modem: VirtualModem, op: Op, arg: str) -> Result:
    """Manufacturer."""
    modem.info(modem.profile.vendor)
    return Result.OK


@command("+GMM", "+FMM")
def _at_GMM(modem: VirtualModem, op: Op, arg: str) -> Result:
    """Model."""
    modem.info(modem.profile.ati3)
    return Result.OK


@command("+GMR", "+FMR")
def _at_GMR(modem: VirtualModem, op: Op, arg: str) -> Result:
    """Revision."""
    modem.info(modem.profile.ati)
    return Result.OK


@command("X", "M", "L", "B", "N", "W", "&C", "&D", "&K", "&S", "&H", "&R", "&I", "&W", "&V")
def _at_accepted(modem: VirtualModem, op: Op, arg: str) -> Result:
    """Settings with no effect on an emulated line (speaker, result set, flow control, DTR use)."""
    return Result.OK


@command("S")
def _at_S(modem: VirtualModem, op: Op, arg: str) -> Result:
    """Sn=v / Sn?: S-registers (S0 auto-answer rings, S8 comma pause)."""
    reg, _, value = arg.partition("=")
    number = int(reg)
    if op is Op.READ:
        modem.info(f"{modem.settings.s.get(number, 0):03d}")
        return Result.OK
    if value and not value.isdigit() or int(value or 0) > 255:
        return Result.ERROR
    modem.settings.s[number] = int(value or 0)
    return Result.OK


@command("H")
def _at_H(modem: VirtualModem, op: Op, arg: str) -> Result:
    """H0 hangs up, H1 takes the line."""
    if _int(arg) == 1:
        modem.go_off_hook()
    else:
        modem.go_on_hook()
    return Result.OK


@command("A")
def _at_A(modem: VirtualModem, op: Op, arg: str) -> Result:
    """ATA: answer; VCON in voice mode, NO CARRIER when nothing rings. In a fax class on a call already off hook
    in voice (the DTE heard DLE c and sent +FCLASS=2), ATA starts the answering fax handshake on the same call."""
    if modem.far.state is not CallState.RINGING:
        if modem.off_hook and modem.far.state is CallState.CONNECTED and modem.settings.fclass in ("2", "2.0"):
            return modem.fax2_answer()
        return Result.NO_CARRIER
    if modem.settings.fclass in ("2", "2.0"):
        return modem.fax2_answer()
    modem.go_off_hook()
    if _voice_mode(modem):
        modem.settings.vls = 1
        return Result.VCON
    return Result.NO_CARRIER   # no data modem on the far end


@command("D")
def _at_D(modem: VirtualModem, op: Op, arg: str) -> Result:
    """ATD: tone/pulse digits, W waits for dial tone, comma pauses S8 s, ! flashes; answers later."""
    steps: list[tuple[str, float, str]] = []
    digits, pulse = "", False
    for c in arg.upper():
        if c == "T":
            pulse = False
        elif c == "P":
            pulse = True
        elif c == "W":
            steps.append(("wait_dial_tone", 0.5, ""))
        elif c == ",":
            steps.append(("pause", float(modem.settings.s.get(8, 2)), ""))
        elif c == "!":
            steps.append(("flash", 0.5, ""))
        elif c in "0123456789*#ABCD":
            digits += c
            steps.append(("pulse" if pulse else "tone", (0.1 * (int(c) or 10) + 0.7) if pulse and c.isdigit()
                          else 0.14, c))
        elif c in " -()":
            continue
        elif c == ";":
            break
        else:
            return Result.ERROR
    modem.begin_dial(DialPlan(steps=steps, digits=digits))
    return Result.NONE


def step_dial(modem: VirtualModem, now: float) -> None:
    """Advance an ATD by the clock: play digits to the line, then wait for the far end."""
    plan = modem._dial
    assert plan is not None
    if plan.steps:
        kind, seconds, digit = plan.steps[0]
        if kind == "wait_dial_tone" and not modem.far.dial_tone_present:
            modem._end_dial(Result.NO_DIALTONE)
            return
        if now - plan.step_started < seconds:
            return
        plan.steps.pop(0)
        plan.step_started = now
        if kind == "tone":
            modem.queue_vts(dtmf_tone(digit, 100))
        elif kind == "flash":
            modem.far.on_flash()
        if not plan.steps and plan.digits:
            modem.far.on_dialled(plan.digits)
        elif not plan.steps:
            modem._end_dial(Result.OK)   # a flash or pause only
        return
    if modem.far.state is CallState.CONNECTED:
        modem.settings.vls = 1
        if modem.settings.fclass in ("2", "2.0"):
            modem._dial = None
            modem.state = ModemState.COMMAND
            modem.result(modem.fax2_dialled())
            return
        modem._end_dial(Result.VCON if _voice_mode(modem) else Result.CONNECT)
    elif modem.far.busy_on_dial:
        modem.far.busy_on_dial = False
        modem.far.on_hook()
        modem._end_dial(Result.BUSY)
    elif now - plan.step_started > 60.0:
        modem.far.on_hook()
        modem._end_dial(Result.NO_ANSWER)


# -- V.253 voice --------------------------------------------------------------------------------------
@command("+FCLASS")
def _at_FCLASS(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+FCLASS: service class (8 = voice)."""
    if op is Op.TEST:
        modem.info(",".join(modem.profile.fclass))
    elif op is Op.READ:
        modem.info(modem.settings.fclass)
    elif op is Op.SET:
        if arg not in modem.profile.fclass:
            return Result.ERROR
        modem.settings.fclass = arg
    return Result.OK


@command("+VSM")
def _at_VSM(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+VSM: compression method and sample rate."""
    prefix = "+VSM: " if modem.profile.quirks & Quirk.VSM_PREFIX else ""
    if op is Op.TEST:
        for fmt in modem.profile.formats:
            modem.info(prefix + fmt.vsm_line())
        return Result.OK
    if op is Op.READ:
        code, rate = modem.vsm
        modem.info(f"{prefix}{code},{rate},0,0")
        return Result.OK
    parts = [p.strip() for p in arg.split(",")]
    try:
        fmt = modem.profile.format(int(parts[0]))
        rate = int(parts[1]) if len(parts) > 1 and parts[1] else fmt.rates[0]
    except (KeyError, ValueError):
        return Result.ERROR
    if rate not in fmt.rates:
        return Result.ERROR
    modem.settings.vsm = (fmt.code, rate)
    return Result.OK


@command("+VLS")
def _at_VLS(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+VLS: analog source/destination; 0 = on hook; the profile's line values take the line (answering a ring)."""
    p = modem.profile
    if op is Op.TEST:
        modem.info(",".join(str(v) for v in sorted({0, *p.vls_line, *p.vls_other})))
        return Result.OK
    if op is Op.READ:
        modem.info(str(modem.settings.vls))
        return Result.OK
    value = _int(arg, -1)
    if value not in (0, *p.vls_line, *p.vls_other) or not _voice_mode(modem):
        return Result.ERROR
    if value in p.vls_line:
        modem.go_off_hook()
    else:
        modem.go_on_hook()   # no device, or a local one only (speaker, microphone): the line is released
    modem.settings.vls = value
    return Result.OK


def _caller_id(modem: VirtualModem, op: Op, arg: str, spelling: str) -> Result:
    if modem.profile.caller_id_command.split("=")[0] != "AT" + spelling:
        return Result.ERROR   # this chipset spells caller ID the other way
    if op is Op.TEST:
        modem.info("(0-2)")
    elif op is Op.READ:
        modem.info(str(modem.settings.caller_id))
    elif op is Op.SET:
        value = _int(arg, -1)
        if value not in (0, 1, 2):
            return Result.ERROR
        modem.settings.caller_id = value
    return Result.OK


@command("+VCID")
def _at_VCID(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+VCID=1: formatted caller ID between the first and second RING (V.253 spelling)."""
    return _caller_id(modem, op, arg, "+VCID")


@command("#CID")
def _at_CID(modem: VirtualModem, op: Op, arg: str) -> Result:
    """#CID=1: formatted caller ID (U.S. Robotics and older Rockwell spelling)."""
    return _caller_id(modem, op, arg, "#CID")


def send_caller_id(modem: VirtualModem, call: IncomingCall) -> None:
    """Print the caller-ID block: DATE, TIME, NMBR, NAME (O = unavailable, P = withheld)."""
    now = datetime.now()
    modem.info(f"DATE = {now:%m%d}")
    modem.info(f"TIME = {now:%H%M}")
    if call.number is not None:
        modem.info(f"NMBR = {call.number}")
    if call.name is not None:
        modem.info(f"NAME = {call.name}")


def _voice_state(modem: VirtualModem, state: ModemState) -> Result:
    if not _voice_mode(modem) or not modem.off_hook:
        return Result.ERROR
    modem.result(Result.CONNECT)
    modem.start_voice(state)
    return Result.NONE


@command("+VTX")
def _at_VTX(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+VTX: play DLE-shielded audio to the line until DLE ETX."""
    return _voice_state(modem, ModemState.VOICE_TX)


@command("+VRX")
def _at_VRX(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+VRX: send the line's audio to the DTE until DLE ! (or DLE ^)."""
    return _voice_state(modem, ModemState.VOICE_RX)


@command("+VTR")
def _at_VTR(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+VTR: full duplex (ERROR on half-duplex chipsets); DLE ETX ends the transmit half, DLE ! both."""
    if not modem.profile.full_duplex:
        return Result.ERROR
    return _voice_state(modem, ModemState.VOICE_DUPLEX)


def _pair(modem: VirtualModem, op: Op, arg: str, attr: str, test: str) -> Result:
    """A setting of one or two numbers: store on SET, print on READ, ranges on TEST."""
    if op is Op.TEST:
        modem.info(test)
        return Result.OK
    current = getattr(modem.settings, attr)
    if op is Op.READ:
        modem.info(",".join(str(v) for v in current) if isinstance(current, tuple) else str(current))
        return Result.OK
    parts = [p.strip() for p in arg.split(",")]
    if not all(p.isdigit() for p in parts if p) or any(int(p) > 255 for p in parts if p):
        return Result.ERROR
    if isinstance(current, tuple):
        values = tuple(int(p) if p else old for p, old in zip(parts + [""] * len(current), current))
        setattr(modem.settings, attr, values)
    else:
        setattr(modem.settings, attr, int(parts[0]) if parts[0] else current)
    return Result.OK


@command("+VSD")
def _at_VSD(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+VSD=sensitivity,interval: silence detection for DLE q / DLE s (interval in 0.1 s)."""
    return _pair(modem, op, arg, "vsd", "(0-255),(0-255)")


@command("+VIT")
def _at_VIT(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+VIT: DTE inactivity timer (stored)."""
    return _pair(modem, op, arg, "vit", "(0-255)")


@command("+VGT")
def _at_VGT(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+VGT: transmit gain (stored)."""
    return _pair(modem, op, arg, "vgt", "(0-255)")


@command("+VGR")
def _at_VGR(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+VGR: receive gain (stored)."""
    return _pair(modem, op, arg, "vgr", "(0-255)")


@command("+VRA")
def _at_VRA(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+VRA: ringback-goes-away timer (stored)."""
    return _pair(modem, op, arg, "vra", "(0-255)")


@command("+VRN")
def _at_VRN(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+VRN: ringback-never-came timer (stored)."""
    return _pair(modem, op, arg, "vrn", "(0-255)")


@command("+VNH", "+VDR", "+VTD", "+VPR", "+IFC", "+FLO", "+VEM", "+VIP")
def _at_stored(modem: VirtualModem, op: Op, arg: str) -> Result:
    """Voice settings accepted without effect on the emulated line (hang-up control, ring report, flow)."""
    if op is Op.READ or op is Op.TEST:
        modem.info("0")
    return Result.OK


@command("+VTS")
def _at_VTS(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+VTS: play DTMF digits or [f1,f2,duration] tones to the line; OK when they have played."""
    if not modem.off_hook or not _voice_mode(modem):
        return Result.ERROR
    if op is Op.TEST:
        modem.info("(200-3300),(200-3300),(0-500)")
        return Result.OK
    tones = []
    for item in re.findall(r"\[[^\]]*\]|\{[^}]*\}|[^,]+", arg):
        item = item.strip()
        if item.startswith("["):
            f = [p.strip() for p in item[1:-1].split(",")] + ["", "", ""]
            dur = (_int(f[2], modem.settings.s.get(11, 10) or 10)) / 100.0
            n = np.arange(int(dur * 8000)) / 8000.0
            x = sum(4000.0 * np.sin(2 * np.pi * int(fr) * n) for fr in f[:2] if fr.isdigit() and int(fr))
            tones.append(np.asarray(x if not np.isscalar(x) else np.zeros(n.size), dtype=np.int16))
        elif len(item) == 1 and item.upper() in "0123456789*#ABCD":
            tones.append(dtmf_tone(item.upper(), 100))
        else:
            return Result.ERROR
    if not tones:
        return Result.ERROR
    modem.queue_vts(np.concatenate(tones))
    return Result.NONE

