"""Voicemail to e-mail: each new message is queued in the mail outbox to its mailbox's addresses (``voicemail:``
in hotline.yaml), with the recording attached as WAV, or as MP3 when ``attach: mp3`` and lame is installed."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import tornado.locale
from playhouse.shortcuts import model_to_dict

from ..store.service_models import Voicemail
from .outbox import Mail, MailKind, Outbox

log = logging.getLogger("hotline.mail")
LAME_SECONDS = 120.0     # an encoder still running after this long is stopped (the WAV goes instead)


@dataclass(frozen=True)
class VoicemailMailSettings:
    """``voicemail:`` of hotline.yaml, with the box's language and time zone."""

    mail_to: tuple[str, ...] = ()
    mailboxes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    attach: str = "wav"
    language: str = "zh_CN"
    timezone: str = "Asia/Shanghai"

    @classmethod
    def from_config(cls, cfg: Any) -> "VoicemailMailSettings":
        """From the loaded configuration."""
        vm = cfg["voicemail"]
        return cls(tuple(vm["mail_to"]), {k: tuple(v["mail_to"]) for k, v in vm["mailboxes"].items()},
                   vm["attach"], vm["language"] or cfg["locale"]["language"], cfg["locale"]["timezone"])

    def recipients(self, mailbox: str) -> tuple[str, ...]:
        """Where a mailbox's messages go: its own addresses, else voicemail.mail_to."""
        own = self.mailboxes.get(mailbox)
        return own if own else self.mail_to


def mp3_of(wav: Path) -> bytes | None:
    """The WAV as MP3 through lame (None when lame is missing or fails: the WAV is attached instead)."""
    lame = shutil.which("lame")
    if lame is None:
        return None
    with tempfile.TemporaryDirectory(prefix="hotline-vm-") as tmp:
        out = Path(tmp) / "message.mp3"
        try:
            subprocess.run([lame, "--quiet", "-V", "6", str(wav), str(out)], check=True, timeout=LAME_SECONDS,
                           stdin=subprocess.DEVNULL, capture_output=True)
            return out.read_bytes()
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("event=voicemail_mp3_failed path=%s error=%r", wav, str(exc)[:200])
            return None


def voicemail_mail(row: dict, settings: VoicemailMailSettings) -> Mail:
    """The mail of one message, with its audio (blocking: reads and maybe encodes the file)."""
    t = tornado.locale.get(settings.language).translate
    caller = row["caller_number"] or t("unknown caller")
    seconds = round(float(row["seconds"] or 0), 1)
    at = dt.datetime.fromtimestamp(row["created_at"], ZoneInfo(settings.timezone))
    wav = Path(row["path"])
    audio = mp3_of(wav) if settings.attach == "mp3" else None
    stamp = at.strftime("%Y%m%d-%H%M%S")
    if audio is not None:
        attachment = (f"voicemail-{stamp}-{row['id']}.mp3", "audio/mpeg", audio)
    else:
        attachment = (f"voicemail-{stamp}-{row['id']}.wav", "audio/wav", wav.read_bytes())
    values = {"caller": caller, "mailbox": row["mailbox"], "seconds": seconds}
    subject = t("Voicemail from %(caller)s in mailbox %(mailbox)s (%(seconds)s s)") % values
    body = "\n".join([
        t("A new voicemail was left."), "",
        t("From: %(caller)s") % values,
        t("Mailbox: %(mailbox)s") % values,
        t("Length: %(seconds)s s") % values,
        t("Left at: %(time)s") % {"time": f"{at:%Y-%m-%d %H:%M:%S} ({settings.timezone})"},
        "", t("The recording is attached; it is also on the panel's voicemail page.")]) + "\n"
    return Mail(subject, body, [attachment])


def voicemail_row(vm_id: int) -> dict | None:
    """One message (database thread)."""
    row = Voicemail.get_or_none(Voicemail.id == vm_id)
    return model_to_dict(row) if row is not None else None


class VoicemailMailer:
    """Queues a mail for each new message (``on_voicemail``, called where messages are stored) and builds it."""

    def __init__(self, store: Any, outbox: Outbox, settings: VoicemailMailSettings):
        self.store = store
        self.outbox = outbox
        self.settings = settings
        outbox.register(MailKind.VOICEMAIL, self.build_mail)

    async def on_voicemail(self, row: dict) -> None:
        """A message was stored: mail it when its mailbox has addresses."""
        to = self.settings.recipients(row["mailbox"])
        if to:
            await self.outbox.submit(MailKind.VOICEMAIL, row["id"], to)

    async def build_mail(self, vm_id: int) -> Mail | None:
        """The mail of message ``vm_id`` (None when it was deleted)."""
        row = await self.store.read(voicemail_row, vm_id)
        if row is None:
            return None
        return await asyncio.get_running_loop().run_in_executor(None, voicemail_mail, row, self.settings)
