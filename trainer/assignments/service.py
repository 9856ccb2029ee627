"""Required qualifications: requiring a course of a unit, a role or named people by a due date,
withdrawing that, and reading what is required of whom.

Who may do what (trainer.access's roles; object rules here, as the other services do):
- admins require anything of anyone, a role across the whole organisation included;
- managers require within their part of the organisation: a unit inside it, a role inside a
  unit of it (their own unit unless they name one below), a person inside it; they withdraw
  what lies inside it;
- a manager sees the assignments inside their part and those made above it that cover their
  people (read-only: theirs to follow, not to withdraw);
- for anyone else an assignment does not exist (404, not 403).

Every change is audited and queues the units it touches for a recount of the compliance tallies
(trainer.tallies.changes), in the caller's transaction. Services take the caller's session (the
request's unit of work) and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session as DbSession

from trainer import localtime
from trainer.access import Viewer, manages
from trainer.assignments import rules
from trainer.assignments.models import Assignment
from trainer.audit import service as audit
from trainer.certification import policy
from trainer.certification.models import FACT_COLUMNS, Certificate
from trainer.errors import DomainError, rejected
from trainer.i18n import N_
from trainer.people.models import Unit, User, UserRole
from trainer.tallies.changes import mark_changed

EVERYONE = "/"  # the lineage of an assignment covering the whole organisation
MAX_REASON = 2000
MAX_LISTED = 500


def _not_found() -> DomainError:
    return DomainError(404, "no_such_assignment", "No such assignment.")


@dataclass(frozen=True)
class AssignmentInput:
    course_id: str
    due: date | None
    unit_id: int | None = None
    role: str | None = None
    person_id: int | None = None


def _kind(given: AssignmentInput) -> str:
    if given.person_id is not None:
        return "person"
    return "role" if given.role is not None else "unit"


def create(
    db: DbSession,
    actor: audit.Actor,
    viewer: Viewer,
    given: AssignmentInput,
    *,
    course_ids: set[str],
    now: datetime,
) -> Assignment:
    """Require `given.course_id` (one of `course_ids`, the courses that certify) of a unit, a
    role (inside `unit_id`, or everywhere for an admin) or a person, by `given.due`."""
    problems: list[str] = []
    if given.course_id not in course_ids:
        problems.append(N_("Choose a course that ends in a certificate."))
    targets = sum(x is not None for x in (given.person_id, given.role)) + (
        given.unit_id is not None and given.role is None
    )
    if targets != 1 or (given.person_id is not None and given.unit_id is not None):
        problems.append(N_("Require the course of one unit, one role or one person."))
    if given.role is not None and given.role not in rules.ROLES:
        problems.append(N_("Choose inspectors, managers or trainers."))
    today = localtime.local_date(now, localtime.zone_of(db))
    if given.due is None:
        problems.append(N_("Give a due date."))
    elif given.due < today:
        problems.append(N_("The due date has passed: give today or a later day."))
    elif given.due.year > today.year + rules.MAX_DUE_YEARS:
        problems.append(N_("The due date is more than ten years ahead."))
    if problems:
        raise rejected("invalid_assignment", problems)
    assert given.due is not None
    kind = _kind(given)
    unit_id: int | None = given.unit_id
    person_id: int | None = None
    if kind == "person":
        person = db.execute(
            select(User.id, User.is_active, Unit.lineage)
            .outerjoin(Unit, Unit.id == User.unit_id)
            .where(User.id == given.person_id)
        ).one_or_none()
        if person is None or not (viewer.is_admin or manages(viewer, person.lineage)):
            raise DomainError(404, "no_such_person", "No such person.")
        if not person.is_active:
            raise rejected("invalid_assignment", [N_("This account is deactivated.")])
        lineage = person.lineage or EVERYONE
        person_id = person.id
    else:
        if unit_id is None and kind == "role" and not viewer.is_admin:
            unit_id = viewer.unit_id  # a manager's role requirement covers their own part
        if unit_id is None:
            if kind == "unit":
                raise rejected(
                    "invalid_assignment", [N_("Require the course of one unit, one role or one person.")]
                )
            lineage = EVERYONE  # an admin's role requirement: the whole organisation
        else:
            unit_lineage = db.scalar(select(Unit.lineage).where(Unit.id == unit_id))
            if unit_lineage is None or not manages(viewer, unit_lineage):
                raise DomainError(404, "no_such_unit", "No such unit.")
            lineage = unit_lineage
    duplicate = db.scalar(
        select(Assignment.id).where(
            Assignment.withdrawn_at.is_(None),
            Assignment.course_id == given.course_id,
            Assignment.kind == kind,
            Assignment.lineage == lineage,
            Assignment.role.is_(None) if given.role is None else Assignment.role == given.role,
            Assignment.person_id.is_(None) if person_id is None else Assignment.person_id == person_id,
        )
    )
    if duplicate is not None:
        raise DomainError(
            409,
            "already_required",
            "This course is already required of them (assignment %(existing)s): withdraw it to set "
            "another due date.",
            existing=duplicate,
        )
    assignment = Assignment(
        course_id=given.course_id,
        kind=kind,
        unit_id=unit_id,
        role=given.role,
        person_id=person_id,
        lineage=lineage,
        due=given.due,
        created_by=actor.id,
        created_at=now,
    )
    db.add(assignment)
    db.flush()
    _queue_recount(db, assignment)
    audit.record(
        db,
        "assignment.created",
        actor,
        target_type="assignment",
        target_id=assignment.id,
        details={
            "course": assignment.course_id,
            "kind": kind,
            "unit": unit_id,
            "role": given.role,
            "person": person_id,
            "due": assignment.due.isoformat(),
        },
    )
    return assignment


def _queue_recount(db: DbSession, assignment: Assignment) -> None:
    """Queue every unit whose people the assignment covers (the whole subtree of its lineage;
    a named person's unit)."""
    if assignment.kind == "person":
        unit_ids = list(db.scalars(select(User.unit_id).where(User.id == assignment.person_id)))
    else:
        unit_ids = list(db.scalars(select(Unit.id).where(Unit.lineage.startswith(assignment.lineage))))
    mark_changed(db, *unit_ids)


def withdraw(
    db: DbSession, actor: audit.Actor, viewer: Viewer, assignment_id: int, *, reason: str, now: datetime
) -> Assignment:
    """Withdraw an assignment (its row stays, marked withdrawn); a second withdrawal finds
    nothing (404)."""
    assignment = db.scalar(select(Assignment).where(Assignment.id == assignment_id).with_for_update())
    if assignment is None or assignment.withdrawn_at is not None or not manages(viewer, assignment.lineage):
        raise _not_found()
    if len(reason) > MAX_REASON:
        raise rejected("invalid_assignment", [N_("The reason is too long.")])
    assignment.withdrawn_at = now
    assignment.withdrawn_by = actor.id
    assignment.withdrawn_reason = reason.strip() or None
    _queue_recount(db, assignment)
    audit.record(
        db,
        "assignment.withdrawn",
        actor,
        target_type="assignment",
        target_id=assignment.id,
        details={"course": assignment.course_id, "reason": reason.strip()}
        if reason.strip()
        else {"course": assignment.course_id},
    )
    return assignment


# -- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """An assignment as the manager's page and the API show it."""

    id: int
    course_id: str
    kind: str
    unit_id: int | None
    unit_path: str | None  # the unit (or a role's scope); None: everywhere
    role: str | None
    person_id: int | None
    person_name: str | None
    due: date
    created_at: datetime
    withdrawable: bool  # inside the viewer's part (else made above it, covering their people)
    lineage: str = EVERYONE  # see trainer.assignments.models


def visible(
    db: DbSession, viewer: Viewer, *, course_id: str | None = None, assignment_id: int | None = None
) -> list[Listed]:
    """The active assignments a manager (or admin) sees, by due date (at most MAX_LISTED): those
    inside their part and those made above it that cover their people; with `assignment_id`,
    that one only."""
    a = Assignment
    statement = (
        select(a, Unit.path, User.full_name)
        .outerjoin(Unit, Unit.id == a.unit_id)
        .outerjoin(User, User.id == a.person_id)
        .where(a.withdrawn_at.is_(None))
    )
    if course_id is not None:
        statement = statement.where(a.course_id == course_id)
    if assignment_id is not None:
        statement = statement.where(a.id == assignment_id)
    if not viewer.is_admin:
        mine = viewer.unit_lineage
        if mine is None:
            return []
        statement = statement.where(
            or_(a.lineage.startswith(mine), and_(a.kind != "person", a.lineage.in_(_prefixes(mine))))
        )
    rows = db.execute(statement.order_by(a.due, a.id).limit(MAX_LISTED)).all()
    return [
        Listed(
            id=row[0].id,
            course_id=row[0].course_id,
            kind=row[0].kind,
            unit_id=row[0].unit_id,
            unit_path=row[1],
            role=row[0].role,
            person_id=row[0].person_id,
            person_name=row[2],
            due=row[0].due,
            created_at=row[0].created_at,
            withdrawable=manages(viewer, row[0].lineage),
            lineage=row[0].lineage,
        )
        for row in rows
    ]


def one_visible(db: DbSession, viewer: Viewer, assignment_id: int) -> Listed:
    """One active assignment the viewer may withdraw (404 otherwise)."""
    for found in visible(db, viewer, assignment_id=assignment_id):
        if found.withdrawable:
            return found
    raise _not_found()


@dataclass(frozen=True)
class Mine:
    """An assignment covering the signed-in person, with where they stand on it."""

    id: int
    course_id: str
    kind: str
    due: date
    state: str  # one of rules.REQUIRED_STATES
    certificate_number: str | None
    expires_at: datetime | None


def of_person(db: DbSession, person: rules.Person, now: datetime) -> list[Mine]:
    """Every active assignment covering `person`, by due date, each with their state against its
    own due date (the dashboard shows the earliest per course)."""
    a = Assignment
    candidates = [
        rules.Target(*row)
        for row in db.execute(
            select(a.id, a.course_id, a.kind, a.lineage, a.role, a.person_id, a.due).where(
                a.withdrawn_at.is_(None),
                or_(
                    a.person_id == person.id,
                    and_(a.kind != "person", a.lineage.in_(_prefixes(person.lineage))),
                ),
            )
        )
    ]
    covering = [t for t in candidates if rules.covers(t, person)]
    if not covering:
        return []
    zone = localtime.zone_of(db)
    c = Certificate
    held = {
        row.course_id: row
        for row in db.execute(
            select(c.course_id, c.number, *FACT_COLUMNS).where(
                c.user_id == person.id,
                c.is_current.is_(True),
                c.course_id.in_({t.course_id for t in covering}),
            )
        )
    }
    found = []
    for t in sorted(covering, key=lambda t: (t.due, t.id)):
        row = held.get(t.course_id)
        certificate_state = (
            policy.state_at(policy.Facts.from_row(row), now).value if row is not None else None
        )
        found.append(
            Mine(
                t.id,
                t.course_id,
                t.kind,
                t.due,
                rules.state_of(certificate_state, t.due, now, zone),
                row.number if row is not None else None,
                row.expires_at if row is not None else None,
            )
        )
    return found


def _prefixes(lineage: str | None) -> list[str]:
    """Every lineage a unit's lineage starts with ("/1/4/" -> "/", "/1/", "/1/4/")."""
    if lineage is None:
        return []
    return [lineage[: i + 1] for i, ch in enumerate(lineage) if ch == "/"]


def person_of(db: DbSession, viewer: Viewer) -> rules.Person:
    """The signed-in person as the rules see them (their roles as stored, not an admin's all)."""
    roles = frozenset(db.scalars(select(UserRole.role).where(UserRole.user_id == viewer.id)))
    return rules.Person(viewer.id, viewer.unit_lineage, roles)


def earliest_per_course(found: list[Mine]) -> list[Mine]:
    """One row per course: the assignment with the earliest due date (what counts)."""
    first: dict[str, Mine] = {}
    for m in found:
        if m.course_id not in first or m.due < first[m.course_id].due:
            first[m.course_id] = m
    return sorted(first.values(), key=lambda m: (m.due, m.course_id))


# -- for the manager's page --------------------------------------------------------------------


def units_to_choose(db: DbSession, viewer: Viewer) -> list[tuple[int, str]]:
    """The units a course may be required of by this viewer, by path: an admin's every unit, a
    manager's own unit and every unit under it."""
    statement = select(Unit.id, Unit.path).order_by(Unit.path)
    if not viewer.is_admin:
        if viewer.unit_lineage is None:
            return []
        statement = statement.where(Unit.lineage.startswith(viewer.unit_lineage, autoescape=True))
    return [(unit_id, path) for unit_id, path in db.execute(statement)]


def person_by_username(db: DbSession, viewer: Viewer, username: str) -> int | None:
    """The id of the person a manager names by username, if they exist inside the viewer's part
    of the organisation (an admin: anyone); None otherwise (outside it, a person does not exist
    for them)."""
    found = db.execute(
        select(User.id, Unit.lineage)
        .outerjoin(Unit, Unit.id == User.unit_id)
        .where(User.username == username.strip()[:64])
    ).one_or_none()
    if found is None or not (viewer.is_admin or manages(viewer, found.lineage)):
        return None
    return int(found.id)


def covered_counts(db: DbSession, viewer: Viewer, listed: list[Listed]) -> dict[int, int]:
    """Assignment id -> the active people it covers now inside the viewer's part of the
    organisation (an assignment made above a manager counts their people only). One count per
    distinct target; the rules are those of `rules.covers`."""
    counted: dict[tuple[str, str, str | None, int | None], int] = {}
    found = {}
    for item in listed:
        lineage = item.lineage
        mine = viewer.unit_lineage
        if not viewer.is_admin and mine is not None and mine.startswith(lineage):
            lineage = mine  # made above the manager: their own people
        key = (item.kind, lineage, item.role, item.person_id)
        if key not in counted:
            counted[key] = _count_covered(db, *key)
        found[item.id] = counted[key]
    return found


def _count_covered(db: DbSession, kind: str, lineage: str, role: str | None, person_id: int | None) -> int:
    if kind == "person":
        return int(
            db.scalar(select(func.count(User.id)).where(User.id == person_id, User.is_active.is_(True))) or 0
        )
    statement = (
        select(func.count(User.id))
        .select_from(User)
        .join(Unit, Unit.id == User.unit_id)
        .where(User.is_active.is_(True))
    )
    wanted = "inspector" if kind == "unit" else role
    covered = statement.where(
        Unit.lineage.startswith(lineage, autoescape=True),
        exists().where(UserRole.user_id == User.id, UserRole.role == wanted),
    )
    return int(db.scalar(covered) or 0)
