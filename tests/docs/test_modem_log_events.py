"""Every log event the modem driver emits (``event=NAME`` in drivers/modem) is explained in docs/modems.md, the
technician's guide, and the guide has no placeholder left."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "modems.md"
LOG_CALL = re.compile(r"\blog\.(?:debug|info|warning|error|exception|critical)\(\s*\"event=([a-z_]+)")


def emitted_events() -> dict[str, str]:
    """event name -> the file that logs it, for every log call of drivers/modem (the emulator included)."""
    found: dict[str, str] = {}
    for path in sorted((REPO / "drivers" / "modem").rglob("*.py")):
        text = path.read_text()
        for m in LOG_CALL.finditer(text):
            found.setdefault(m.group(1), str(path.relative_to(REPO)))
        # a level chosen at run time: (log.warning if ok else log.error)("event=...", ...)
        for m in re.finditer(r"\(log\.\w+ if .*? else log\.\w+\)\(\s*\"event=([a-z_]+)", text, re.S):
            found.setdefault(m.group(1), str(path.relative_to(REPO)))
    return found


def test_every_modem_log_event_is_in_the_technicians_guide() -> None:
    events = emitted_events()
    # the scan itself works: the driver's well-known events are found
    assert {"modem_identified", "modem_stalled", "modem_lost", "modem_back", "modem_garbage",
            "usb_reset"} <= set(events), events
    guide = GUIDE.read_text()
    missing = {name: where for name, where in events.items() if f"event={name}" not in guide}
    assert not missing, f"log events not explained in docs/modems.md (name: file): {missing}"


def test_the_guide_has_no_placeholder_left() -> None:
    guide = GUIDE.read_text()
    for marker in ("To be written", "adds the log events", "TODO", "TBD"):
        assert marker not in guide, marker
