"""What is required of whom, and where a required person stands: pure functions, no database.

States of a required (person, course), in the order the pages show them:
- `valid`, `due_for_renewal`, `grace`: their current certificate is in that state (compliant);
- `expired`: their certificate ran out (past its grace period), whatever the due date says: a
  manager sees a lapsed renewal apart from a qualification never obtained;
- `not_yet_certified`: no live certificate (none, or suspended or revoked) and the due date is
  still ahead;
- `overdue`: no live certificate and the due date has passed.

The due date is a day in the configured time zone and the whole day counts: someone required
"by 2027-03-31" in Asia/Shanghai becomes overdue at 2027-04-01 00:00 there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from trainer.i18n import N_

REQUIRED_STATES = ("valid", "due_for_renewal", "grace", "expired", "not_yet_certified", "overdue")
COMPLIANT = frozenset({"valid", "due_for_renewal", "grace"})
STATE_LABELS = {
    "valid": N_("Valid"),
    "due_for_renewal": N_("Due for renewal"),
    "grace": N_("Grace period"),
    "expired": N_("Expired"),
    "not_yet_certified": N_("Not yet certified"),
    "overdue": N_("Overdue"),
}
# Roles a requirement may name (admins are not required anything as admins).
ROLES = ("inspector", "manager", "trainer")
MAX_DUE_YEARS = 10  # a due date further ahead is a typing mistake


@dataclass(frozen=True)
class Target:
    """An active assignment as far as deciding whom it covers goes."""

    id: int
    course_id: str
    kind: str  # unit | role | person
    lineage: str
    role: str | None
    person_id: int | None
    due: date


@dataclass(frozen=True)
class Person:
    id: int
    lineage: str | None  # their unit's; None without a unit
    roles: frozenset[str]


def covers(target: Target, person: Person) -> bool:
    """Is `person` (active) required the target's course by this assignment?"""
    if target.kind == "person":
        return target.person_id == person.id
    if person.lineage is None or not person.lineage.startswith(target.lineage):
        return False
    if target.kind == "unit":
        return "inspector" in person.roles
    return target.role in person.roles


def required_of(targets: Iterable[Target], person: Person) -> dict[str, date]:
    """Course id -> the earliest due date among the targets covering `person`."""
    due: dict[str, date] = {}
    for target in targets:
        if covers(target, person) and (target.course_id not in due or target.due < due[target.course_id]):
            due[target.course_id] = target.due
    return due


def overdue_from(due: date, zone: ZoneInfo) -> datetime:
    """The first moment (aware UTC) after the due day, in `zone`."""
    return datetime.combine(due + timedelta(days=1), time(0), zone).astimezone(ZoneInfo("UTC"))


def state_of(certificate_state: str | None, due: date, now: datetime, zone: ZoneInfo) -> str:
    """A required person's state, from their current certificate's state (trainer.certification
    .policy's value; None without a current certificate) and the due date."""
    if certificate_state in COMPLIANT:
        return certificate_state
    if certificate_state == "expired":
        return "expired"
    return "overdue" if now >= overdue_from(due, zone) else "not_yet_certified"


def next_change(state: str, due: date, now: datetime, zone: ZoneInfo) -> datetime | None:
    """When a required person's state changes by the due date alone (the certificate's own dates
    are the certificate's business): a person not yet certified becomes overdue."""
    if state != "not_yet_certified":
        return None
    moment = overdue_from(due, zone)
    return moment if moment > now else None
