"""Message waiting to an agent's phone on an FXS port of the DAHDI driver: the lamp is lit and cleared by FSK
messages sent to the on-hook phone through on-hook transfer, as a real card delivers them."""
from __future__ import annotations

import numpy as np

from hotline.drivers.analog.mwi import detect_mwi
from hotline.drivers.dahdi.fakekernel import FakeDahdi


def lockstep(k: FakeDahdi, blocks: int) -> None:
    """``blocks`` × 20 ms of card time, the span thread keeping up with each block."""
    for _ in range(blocks):
        k.advance(1)
        k.settle()


def sent_to(k: FakeDahdi, channo: int) -> np.ndarray:
    """What the on-hook phone received by on-hook transfer so far (and forget it)."""
    parts = list(k.channels[channo].heard_oht)
    k.channels[channo].heard_oht.clear()
    return np.concatenate(parts) if parts else np.zeros(0, np.int16)


def test_message_waiting_lamp_lit_and_cleared_on_an_fxs_phone(card) -> None:
    """With mwi: true, message_waiting(True) on extension 1001 sends an FSK 'messages waiting' message to that
    phone only, while it is on hook; message_waiting(False) clears it. Without mwi: the phone gets nothing."""
    k = FakeDahdi.analog(fxo=0, fxs=2)
    drv, _ = card(k, fxs="1-2", extensions=["1001", "1002"], mwi=True)
    phone, other = drv.lines
    phone.message_waiting(True)
    lockstep(k, 150)
    assert detect_mwi(sent_to(k, 1)) is True, "the phone did not get the message-waiting message"
    assert len(sent_to(k, 2)) == 0, "the other phone got audio"
    phone.message_waiting(False)
    lockstep(k, 150)
    assert detect_mwi(sent_to(k, 1)) is False, "the lamp was not cleared"


def test_no_message_waiting_without_mwi(card) -> None:
    """Phones that do not understand the FSK message (mwi: false, the default) are sent nothing."""
    k = FakeDahdi.analog(fxo=0, fxs=1)
    drv, _ = card(k, fxs="1")
    drv.lines[0].message_waiting(True)
    lockstep(k, 150)
    assert len(sent_to(k, 1)) == 0


class _Stations:
    """The part of the device registry the lamps look at: station lines by extension."""

    def __init__(self, lines) -> None:
        self.lines = {ln.extension: ln for ln in lines}

    def station(self, extension: str):
        return self.lines.get(extension)


def test_a_voicemail_lights_the_fxs_phones_lamp_and_reading_it_clears_it(card, tmp_path) -> None:
    """The daemon's message lamps (daemon/calls/mwi.py) over the real DAHDI driver: a new unread voicemail in
    mailbox 1001 lights extension 1001's lamp by FSK on its FXS port; once it is read the lamp is cleared; the
    other phone and a mailbox of no extension send nothing."""
    import asyncio

    from hotline.daemon.calls.mwi import MessageLamps
    from hotline.daemon.service.lookups import create_voicemail
    from hotline.daemon.store import migrations
    from hotline.daemon.store.db import Store
    from hotline.daemon.store.service_models import Voicemail

    k = FakeDahdi.analog(fxo=0, fxs=2)
    drv, _ = card(k, fxs="1-2", extensions=["1001", "1002"], mwi=True)
    store = Store(f"sqlite:///{tmp_path / 'h.db'}")
    store.open()
    try:
        store.write_sync(migrations.upgrade, store.db)
        lamps = MessageLamps(store, _Stations(drv.lines))

        async def scenario() -> None:
            row = store.write_sync(create_voicemail, "1001", str(tmp_path / "m1.wav"))
            await lamps.on_voicemail(row)
            assert await lamps.refresh("general") is None             # no extension of that name: no lamp
            lockstep(k, 150)
            assert detect_mwi(sent_to(k, 1)) is True, "the phone's lamp was not lit"
            assert len(sent_to(k, 2)) == 0
            store.write_sync(lambda: Voicemail.update(unread=False).where(Voicemail.id == row["id"]).execute())
            assert await lamps.refresh("1001") is False
            lockstep(k, 150)
            assert detect_mwi(sent_to(k, 1)) is False, "the lamp was not cleared"
        asyncio.run(scenario())
    finally:
        store.close()
