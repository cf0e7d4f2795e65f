"""The table of known USB voice/fax modems by VID:PID, each with its chipset profile and the source that names it.

Only IDs a public source confirms are listed; each entry says which. Sources:

- ``usb.ids``: the USB ID repository (github.com/usbids/usbids, usb.ids at 5e867ca, 2026-06-10),
  the list ``lsusb`` prints names from.
- ``cdc-acm``: Linux drivers/usb/class/cdc-acm.c, table ``acm_ids`` (quirk entries for modems whose
  descriptors need help; the comment there names the product).

Voice support is claimed (``Kind.VOICE_MODEM``) only where a project that drives the modem in voice mode
names it: callattendant and CallAttendantNext (USR5637, Zoom 3095, "any device using a Conexant CX930xx"),
NCID's announce-hangup guide (USR5637, CX93001). Everything else is ``FAX_MODEM``: the box still offers it,
with its profile, and the driver's identification (ATI, AT+FCLASS=?) decides whether voice works.
``SOFT_MODEM`` entries are host-signal modems that need a vendor driver: listed so discovery can say why
they will not work, never offered as a device.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

USB_IDS = "usb.ids (github.com/usbids/usbids @5e867ca)"
CDC_ACM = "Linux drivers/usb/class/cdc-acm.c acm_ids"

# Profile names of drivers/modem/profiles.py (defined by the modem driver; "default" is the conservative one).
PROFILES = ("conexant", "usr", "agere", "zoom", "default")


class Kind(enum.Enum):
    """What a known device is, as far as the sources say."""

    VOICE_MODEM = "voice_modem"  # a controller modem a voice-mode project confirms
    FAX_MODEM = "fax_modem"      # a controller data/fax modem; voice mode unconfirmed (the driver checks)
    SOFT_MODEM = "soft_modem"    # host-signal modem: needs a vendor driver, unusable here


@dataclass(frozen=True)
class KnownDevice:
    """One row of the table."""

    vid: int
    pid: int
    name: str
    kind: Kind
    profile: str
    source: str
    note: str = ""

    @property
    def usable(self) -> bool:
        """Whether the box can drive it over its serial node."""
        return self.kind is not Kind.SOFT_MODEM

    @property
    def id(self) -> str:
        """``vvvv:pppp`` as lsusb prints it."""
        return f"{self.vid:04x}:{self.pid:04x}"


V, F, S = Kind.VOICE_MODEM, Kind.FAX_MODEM, Kind.SOFT_MODEM

KNOWN: tuple[KnownDevice, ...] = (
    # U.S. Robotics
    KnownDevice(0x0BAF, 0x0303, "U.S. Robotics USR5637 56K Faxmodem", V, "usr", USB_IDS,
                "voice mode used by callattendant, CallAttendantNext and NCID"),
    KnownDevice(0x0BAF, 0x00EC, "U.S. Robotics 56K Faxmodem", F, "usr", USB_IDS),
    KnownDevice(0x0BAF, 0x6112, "U.S. Robotics FaxModem Model 5633", F, "usr", USB_IDS),
    KnownDevice(0x04C1, 0x3021, "U.S. Robotics (3Com) 56k Voice FaxModem Pro", F, "usr", USB_IDS,
                "named a voice modem by usb.ids; no voice-mode project confirms it"),
    KnownDevice(0x0506, 0x3021, "U.S. Robotics 56000 Voice FaxModem Pro (3Com)", F, "usr", USB_IDS,
                "named a voice modem by usb.ids; no voice-mode project confirms it"),
    # Conexant (Rockwell) controller modems and boxes built on them
    KnownDevice(0x0572, 0x1340, "Conexant CX93010 ACF Modem", V, "conexant", USB_IDS,
                "CX930xx: voice mode used by callattendant"),
    KnownDevice(0x0572, 0x1321, "Conexant USB MODEM CX93010", V, "conexant", CDC_ACM,
                "no CDC union descriptor (kernel quirk NO_UNION_NORMAL)"),
    KnownDevice(0x0572, 0x1324, "Conexant USB MODEM RD02-D400 (Dell)", F, "conexant", CDC_ACM,
                "callattendant: needs a firmware patch before voice mode works"),
    KnownDevice(0x0572, 0x1328, "Conexant-based TrendNet TFM-561 / Shiro-Aztech UM-3100", F, "conexant",
                f"{USB_IDS}; {CDC_ACM}"),
    KnownDevice(0x0572, 0x1329, "Hummingbird huc56s (Conexant)", F, "conexant", CDC_ACM),
    KnownDevice(0x0572, 0x1349, "Hiro (Conexant) USB MODEM H50228", F, "conexant", CDC_ACM),
    KnownDevice(0x0572, 0x1252, "Conexant HCF V90 Data Fax Voice Modem", S, "conexant", USB_IDS,
                "HCF: host-controlled, needs a vendor driver"),
    KnownDevice(0x0572, 0x1300, "Conexant SoftK56 Data Fax Voice CARP", S, "conexant", USB_IDS,
                "soft modem, needs a vendor driver"),
    # Zoom Telephonics
    KnownDevice(0x0803, 0x3095, "Zoom V.92 56K Mini External Modem Model 3095", V, "zoom",
                f"{USB_IDS}; {CDC_ACM}", "voice mode used by CallAttendantNext"),
    KnownDevice(0x0803, 0x1300, "Zoom V92 Faxmodem", F, "zoom", USB_IDS),
    KnownDevice(0x0572, 0x1253, "Zoom V.92 Faxmodem (Conexant ID)", F, "zoom", USB_IDS),
    # Agere / Lucent
    KnownDevice(0x047E, 0xF101, "Agere (Lucent) Atlas Modem", F, "agere", USB_IDS),
    KnownDevice(0x045A, 0x0B4A, "SupraMax 2890 56K Modem [Lucent Atlas]", F, "agere", USB_IDS),
    KnownDevice(0x047E, 0x2892, "Agere Systems Soft Modem", S, "agere", USB_IDS, "soft modem, needs a vendor driver"),
    # ZyXEL (ZyDAS IDs)
    KnownDevice(0x0ACE, 0x1602, "ZyXEL Omni FaxModem 56K", F, "default", f"{USB_IDS}; {CDC_ACM}",
                "kernel quirk SINGLE_RX_URB"),
    KnownDevice(0x0ACE, 0x1608, "ZyXEL Omni FaxModem 56K UNO", F, "default", f"{USB_IDS}; {CDC_ACM}",
                "kernel quirk SINGLE_RX_URB (firmware bug)"),
    KnownDevice(0x0ACE, 0x1611, "ZyXEL Omni FaxModem 56K Plus", F, "default", f"{USB_IDS}; {CDC_ACM}",
                "kernel quirk SINGLE_RX_URB (firmware bug)"),
)

_BY_ID = {(d.vid, d.pid): d for d in KNOWN}


def lookup(vid: int, pid: int) -> KnownDevice | None:
    """The table's entry for a VID:PID, or None."""
    return _BY_ID.get((vid, pid))
