"""What the virtual modem is doing and says: its data states, V.250 result codes, DTE-set registers, an ATD plan."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class ModemState(Enum):
    """What the modem does with bytes from the DTE."""

    COMMAND = "command"        # AT commands (on or off hook)
    VOICE_TX = "voice_tx"      # +VTX: DLE-shielded audio to the line
    VOICE_RX = "voice_rx"      # +VRX: line audio to the DTE
    VOICE_DUPLEX = "voice_duplex"  # +VTR
    DIALING = "dialing"        # ATD in progress: any byte aborts
    FAX_TX = "fax_tx"          # class 2/2.0 +FDT: DLE-shielded page data from the DTE
    FAX_RX = "fax_rx"          # class 2/2.0 +FDR: waiting for the DTE's DC2, then page data to it


class Result(Enum):
    """V.250 final result codes (verbose text, numeric code)."""

    OK = ("OK", 0)
    CONNECT = ("CONNECT", 1)
    RING = ("RING", 2)
    NO_CARRIER = ("NO CARRIER", 3)
    ERROR = ("ERROR", 4)
    NO_DIALTONE = ("NO DIALTONE", 6)
    BUSY = ("BUSY", 7)
    NO_ANSWER = ("NO ANSWER", 8)
    VCON = ("VCON", 9)
    NONE = ("", -1)            # the command answers later (ATD, +VTS)


@dataclass
class Settings:
    """Registers the DTE can set; &F / Z restore these defaults."""

    echo: bool = True
    verbose: bool = True
    quiet: bool = False
    fclass: str = "0"
    vsm: tuple[int, int] = (0, 0)     # (code, rate); (0, 0) = profile's preferred
    vls: int = 0
    caller_id: int = 0
    vsd: tuple[int, int] = (128, 50)  # sensitivity, silence interval in 0.1 s
    vit: int = 0
    vgt: int = 128
    vgr: int = 128
    vra: int = 50
    vrn: int = 10
    s: dict[int, int] = field(default_factory=lambda: {0: 0, 3: 13, 4: 10, 5: 8, 7: 50, 8: 2})


@dataclass
class DialPlan:
    """An ATD in progress: steps (kind, seconds, text) consumed by the clock."""

    steps: list[tuple[str, float, str]]
    digits: str = ""
    started: float = 0.0
    step_started: float = 0.0
