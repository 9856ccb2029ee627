"""Who needs reminding: holders whose current certificate is in its renewal window or grace,
listed for every manager whose part of the organisation includes them."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from trainer.certification import policy, service
from trainer.certification.models import Certificate
from trainer.db import Database
from trainer.people.models import Unit, User, UserRole


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
                    )
                )
    return sorted(reminders, key=lambda r: (r.manager, r.days_left, r.holder))


def to_csv(reminders: list[Reminder]) -> str:
    """UTF-8 with a byte-order mark, so spreadsheet programs read Chinese names right."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for r in reminders:
        writer.writerow(
            [
                r.manager,
                r.manager_email or "",
                r.holder,
                r.holder_name,
                r.unit or "",
                r.course_id,
                r.number,
                r.state,
                r.expires_at.date().isoformat(),
                r.days_left,
            ]
        )
    return "\ufeff" + out.getvalue()
