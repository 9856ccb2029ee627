"""Email: the channel notifications go out through (TRAINER_SMTP_* settings)."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from trainer.config import Settings


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "text/calendar; method=PUBLISH"
    text: str


class Sender(Protocol):
    """Where notifications go: email by SMTP here; another channel (SMS, a government messaging
    system) is one more class with this method. It raises on failure: the run records the
    error and tries again next time."""

    def send(self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()) -> None: ...


def message(
    sender: str, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    mail.set_content(body)  # UTF-8: Chinese names arrive intact
    for attachment in attachments:
        maintype, _, rest = attachment.content_type.partition("/")
        subtype, *parameters = [part.strip() for part in rest.split(";")]
        params = dict(p.split("=", 1) for p in parameters if "=" in p)
        mail.add_attachment(
            attachment.text.encode("utf-8"),
            maintype=maintype,
            subtype=subtype,
            filename=attachment.filename,
            params={"charset": "utf-8", **params},
        )
    return mail


class SmtpSender:
    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host:
            raise ValueError("set TRAINER_SMTP_HOST to send email")
        self.settings = settings

    def send(self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()) -> None:
        settings = self.settings
        mail = message(settings.smtp_from, to, subject, body, attachments)
        # A verifying context: starttls() without one checks neither the certificate nor the
        # host name (Python 3.11), so anyone on the path could read TRAINER_SMTP_PASSWORD.
        context = ssl.create_default_context(cafile=settings.smtp_ca_file or None)
        smtp = (
            smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=30, context=context)
            if settings.smtp_implicit_tls
            else smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30)
        )
        with smtp:
            if settings.smtp_starttls and not settings.smtp_implicit_tls:
                smtp.starttls(context=context)
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(mail)
