"""Message-waiting lamps: a mailbox with unread voicemail lights the lamp of its extension's phone, and the lamp
goes out when the last unread message is heard (marked read) or deleted.

A mailbox belongs to an extension when ``voicemail.mailboxes.<name>.extension`` says so, or when it is named after
an extension that has a station (``voicemail: {mailbox: "1001"}``). The lamp is set through the line contract
(``Line.message_waiting``): an FXS port sends the FSK message-waiting message once the phone is on hook, a SIP
phone gets an unsolicited NOTIFY (message-summary), a simulated phone shows it in ``/api/v1/sim/stations``; other
lines ignore it.
"""
from __future__ import annotations

import logging
from typing import Any

from ..store.service_models import Voicemail

log = logging.getLogger("hotline.calls")


def unread_count(mailboxes: list[str]) -> int:
    """Unread messages in these mailboxes (store read)."""
    return Voicemail.select().where(Voicemail.mailbox.in_(mailboxes), Voicemail.unread == True).count()  # noqa: E712


class MessageLamps:
    """Keeps each extension's lamp in step with its mailboxes' unread messages."""

    def __init__(self, store: Any, devices: Any, extensions: dict[str, str] | None = None):
        self.store = store
        self.devices = devices
        self.extensions = dict(extensions or {})   # mailbox -> extension, from voicemail.mailboxes.<name>.extension
        self.lit: dict[str, bool] = {}             # extension -> the lamp state last sent

    def extension_of(self, mailbox: str) -> str | None:
        """The extension whose lamp a mailbox drives (None: no station has it)."""
        ext = self.extensions.get(mailbox, mailbox)
        return ext if self.devices.station(ext) is not None else None

    def mailboxes_of(self, extension: str) -> list[str]:
        """Every mailbox that drives an extension's lamp."""
        named = [extension] if self.extensions.get(extension, extension) == extension else []   # unless mapped away
        return named + [box for box, ext in self.extensions.items() if ext == extension and box != extension]

    async def refresh(self, mailbox: str) -> bool | None:
        """Set the lamp of the mailbox's extension from the unread count; the state set (None: no lamp)."""
        ext = self.extension_of(mailbox)
        if ext is None:
            return None
        on = await self.store.read(unread_count, self.mailboxes_of(ext)) > 0
        line = self.devices.station(ext)
        if line is None:
            return None
        line.message_waiting(on)
        if self.lit.get(ext) != on:
            log.info("event=message_waiting extension=%s line=%s on=%s mailbox=%s", ext, line.name, on, mailbox)
        self.lit[ext] = on
        return on

    async def on_voicemail(self, row: dict) -> None:
        """A new message was stored (a BoxServices.on_voicemail hook)."""
        await self.refresh(str(row.get("mailbox") or ""))
