"""Who needs reminding: holders whose current certificate is in its renewal window or grace,
listed for every manager whose part of the organisation includes them.

`trainer reminders` prints this list (or writes it as CSV); the managers' weekly digests that
`trainer notify` queues and emails are made from the same list (trainer.notifications.due)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from trainer import localtime
from trainer.certification import policy, service
from trainer.certification.models import Certificate
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
    manager_id: int = 0

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
            select(User.username, User.email, Unit.lineage, User.id)
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
        for manager, email, manager_lineage, manager_id in managers:
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
                        manager_id,
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
