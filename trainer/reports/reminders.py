"""Who needs reminding: holders whose current certificate is in its renewal window or grace,
listed for every manager whose part of the organisation includes them."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select

from trainer import localtime
from trainer.certification import policy, service
from trainer.certification.models import Certificate
from trainer.config import Settings
from trainer.db import Database
from trainer.people.models import Unit, User, UserRole
from trainer.reports.exports import Cell, csv_lines


@dataclass(frozen=True)
class Reminder:
    manager: str
    manager_email: str | None
    holder: str
    holder_name: str
    unit: str | None
    course_id: str
    number: str
    state: str
    expires_at: datetime
    days_left: int
    # The installation's zone: the expiry is written as the day it is there, naming the zone.
    time_zone: ZoneInfo = field(default_factory=localtime.default_zone)

    @property
    def expires_on(self) -> str:
        return localtime.local_date(self.expires_at, self.time_zone).isoformat()


COLUMNS = [
    "manager",
    "manager_email",
    "holder",
    "holder_name",
    "unit",
    "course_id",
    "number",
    "state",
    "expires_at",
    "days_left",
    "time_zone",  # of expires_at's day
]


def due(database: Database, now: datetime) -> list[Reminder]:
    with database.session() as db:
        holders = db.execute(
            select(Certificate, User.username, Unit.lineage)
            .join(User, User.id == Certificate.user_id)
            .outerjoin(Unit, Unit.id == User.unit_id)
            .where(Certificate.is_current.is_(True), User.is_active.is_(True))
        ).all()
        managers = db.execute(
            select(User.username, User.email, Unit.lineage)
            .join(UserRole, UserRole.user_id == User.id)
            .join(Unit, Unit.id == User.unit_id)
            .where(UserRole.role == "manager", User.is_active.is_(True))
        ).all()
    reminders = []
    for certificate, holder, lineage in holders:
        facts = service.facts(certificate)
        state = policy.state_at(facts, now)
        if state not in policy.RENEWABLE:
            continue
        for manager, email, manager_lineage in managers:
            if lineage is not None and lineage.startswith(manager_lineage):
                reminders.append(
                    Reminder(
                        manager,
                        email,
                        holder,
                        certificate.holder_name,
                        certificate.unit_path,
                        certificate.course_id,
                        certificate.number,
                        state.value,
                        certificate.expires_at,
                        policy.days_left(facts, now),
                        database.time_zone,
                    )
                )
    return sorted(reminders, key=lambda r: (r.manager, r.days_left, r.holder))


def to_csv(reminders: list[Reminder]) -> str:
    """UTF-8 with a byte-order mark, so spreadsheet programs read Chinese names right; names and
    units come from people, so cells that would run as formulas are quoted (as page exports)."""
    rows: Iterator[list[Cell]] = (
        [
            r.manager,
            r.manager_email or "",
            r.holder,
            r.holder_name,
            r.unit or "",
            r.course_id,
            r.number,
            r.state,
            r.expires_on,
            r.days_left,
            r.time_zone.key,
        ]
        for r in reminders
    )
    return "".join(csv_lines(COLUMNS, rows))


class Sender(Protocol):
    """Where reminders go: email by SMTP here; another channel (SMS, a government messaging
    system) is one more class with this method."""

    def send(self, to: str, subject: str, body: str) -> None: ...


class SmtpSender:
    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host:
            raise ValueError("set TRAINER_SMTP_HOST to send email")
        self.settings = settings

    def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)  # UTF-8: Chinese names arrive intact
        settings = self.settings
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
            if self.settings.smtp_user:
                smtp.login(self.settings.smtp_user, self.settings.smtp_password)
            smtp.send_message(message)


def send_all(reminders: list[Reminder], sender: Sender) -> tuple[int, list[str]]:
    """One message per manager listing their holders due; returns (sent, managers without email)."""
    by_manager: dict[str, list[Reminder]] = {}
    for reminder in reminders:
        by_manager.setdefault(reminder.manager, []).append(reminder)
    sent, unreachable = 0, []
    for manager, items in by_manager.items():
        email = items[0].manager_email
        if not email:
            unreachable.append(manager)
            continue
        lines = [
            f"- {r.holder_name} ({r.unit or ''}): {r.course_id}, certificate {r.number}, {r.state}, "
            f"expires {r.expires_on} ({r.time_zone.key}), {r.days_left} days left"
            for r in items
        ]
        body = "Certificates in your area that need renewing:\n\n" + "\n".join(lines) + "\n"
        sender.send(email, f"Renewals due: {len(items)} certificate(s)", body)
        sent += 1
    return sent, unreachable
