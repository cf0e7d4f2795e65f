"""Sending one mail through the SMTP server of hotline.yaml's ``mail:`` section (blocking: run it in a thread)."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any, Sequence

__all__ = ["send_mail"]


def send_mail(mail: dict, to: Sequence[str], subject: str, body: str,
              attachments: Sequence[tuple[str, str, bytes]] = ()) -> None:
    """Deliver one mail through the configured SMTP server (blocking: run it in a worker thread); raises
    OSError / smtplib errors on failure. attachments: (filename, MIME type, bytes)."""
    msg = EmailMessage()
    msg["From"] = mail["sender"]
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg.set_content(body)
    for filename, mime, data in attachments:
        main, sub = mime.split("/", 1)
        msg.add_attachment(data, maintype=main, subtype=sub, filename=filename)
    password = None
    if mail["password_file"]:
        with open(mail["password_file"], encoding="utf-8") as f:
            password = f.read().strip()
    cls = smtplib.SMTP_SSL if mail["ssl"] else smtplib.SMTP
    kwargs: dict[str, Any] = {"timeout": mail["timeout"]}
    if mail["ssl"]:
        kwargs["context"] = ssl.create_default_context()
    with cls(mail["smtp_host"], mail["smtp_port"], **kwargs) as smtp:
        if mail["starttls"] and not mail["ssl"]:
            smtp.starttls(context=ssl.create_default_context())
        if mail["username"]:
            smtp.login(mail["username"], password or "")
        smtp.send_message(msg)
