"""Who in a part of the organisation holds which qualification, in which state, now.

The roll-up reads `compliance_tallies` (per unit and course: every inspector by certificate state)
and `requirement_tallies` (per unit and course: the people required it by an assignment, by
required state, trainer.assignments.rules) and sums them per child of the unit shown, so its cost
follows the size of the organisation tree, not the number of inspectors. The certificate lists
read certificates in index order and stop at one page; the list of required people reads only the
people some assignment's target covers. See reports/models.py for how the
tallies stay exact.

The manager's pages, their exports and the reports API read through the functions here, on the
request's session; the one step that writes, `bring_up_to_date`, runs its own short transactions
before that session first reads (see its docstring for why).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Select,
    String,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session as DbSession

from trainer import localtime
from trainer.access import Viewer, manages
from trainer.assignments import rules as required
from trainer.assignments.models import Assignment
from trainer.certification import policy
from trainer.certification.models import FACT_COLUMNS, Certificate
from trainer.db import Database
from trainer.people.models import Unit, User, UserRole
from trainer.reports.models import (
    STATES,
    ComplianceChange,
    ComplianceSnapshot,
    ComplianceTally,
    ExamTally,
    RequirementTally,
    UnitHeadcount,
)

NEVER = "never_certified"
ALL_STATES = (*STATES, NEVER)
EXPIRING_WINDOWS = (30, 60, 90)
_CHUNK = 500  # ids per IN (...) list


# -- keeping the tallies exact -----------------------------------------------------------------


def refresh(database: Database, now: datetime) -> int:
    """Recount every queued unit and every tally the clock has moved; returns units recounted.
    The check is a read; only when something is due does it take a write transaction."""
    with database.session() as db:
        due = (
            db.scalar(select(literal(1)).select_from(ComplianceChange).limit(1))
            or db.scalar(select(literal(1)).where(ComplianceTally.changes_at <= now).limit(1))
            or db.scalar(select(literal(1)).where(RequirementTally.changes_at <= now).limit(1))
        )
    if not due:
        return 0
    with database.write() as db:
        last = db.scalar(select(func.max(ComplianceChange.id)))
        units = set(db.scalars(select(ComplianceChange.unit_id).distinct()))
        units |= set(db.scalars(select(ComplianceTally.unit_id).where(ComplianceTally.changes_at <= now)))
        units |= set(db.scalars(select(RequirementTally.unit_id).where(RequirementTally.changes_at <= now)))
        recount(db, units, now)
        if last is not None:
            db.execute(delete(ComplianceChange).where(ComplianceChange.id <= last))
    return len(units)


def bring_up_to_date(database: Database, now: datetime, *, keep_snapshot: bool) -> None:
    """Make the tallies exact for `now` before a roll-up or a list is read and, with
    `keep_snapshot` (the manager's pages and exports), keep this month's snapshot if none is kept
    yet. A read when nothing is due; a short write only when something is.

    A documented exception to the request's unit of work: it takes the Database and runs its own
    transactions, and the caller runs it before the request's session first reads. A manager's
    page is a GET, whose unit of work only reads (it is never committed), so the recount cannot
    ride on it; and on SQLite a read transaction sees the database as it stood at its first
    read, so a session that had already read would not see the recount."""
    refresh(database, now)
    if keep_snapshot:
        take_snapshot(database, now)


def rebuild(database: Database, now: datetime) -> int:
    """Recount every unit (after a bulk load, or to prove the tallies against the facts)."""
    with database.write() as db:
        units = set(db.scalars(select(Unit.id)))
        db.execute(delete(ComplianceTally))
        db.execute(delete(RequirementTally))
        db.execute(delete(UnitHeadcount))
        db.execute(delete(ComplianceChange))
        recount(db, units, now)
    return len(units)


def _is_inspector() -> Any:
    return exists().where(UserRole.user_id == User.id, UserRole.role == "inspector")


def recount(db: DbSession, unit_ids: Iterable[int], now: datetime) -> None:
    """Count the active inspectors of these units (their direct members) and their current
    certificates' states with the same rule the certificate pages use; and the people required a
    course (trainer.assignments) by their required state."""
    ordered = sorted(set(unit_ids))
    targets = active_targets(db)
    zone = localtime.zone_of(db)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        # Lock the units (in id order, so two recounts cannot deadlock) before deleting and
        # re-inserting their rows: a concurrent recount of the same unit waits, then sees ours.
        # FOR NO KEY UPDATE on PostgreSQL: rows that merely reference a unit (a new attempt, a
        # new account) are not held up by it.
        present = list(
            db.scalars(
                select(Unit.id).where(Unit.id.in_(chunk)).order_by(Unit.id).with_for_update(key_share=True)
            )
        )
        heads = db.execute(
            select(User.unit_id, func.count())
            .where(User.unit_id.in_(present), User.is_active.is_(True), _is_inspector())
            .group_by(User.unit_id)
        ).all()
        certificates = db.execute(
            select(User.unit_id, Certificate.course_id, *FACT_COLUMNS)
            .join(User, User.id == Certificate.user_id)
            .where(
                User.unit_id.in_(present),
                User.is_active.is_(True),
                Certificate.is_current.is_(True),
                _is_inspector(),
            )
        ).all()
        counts: dict[tuple[int | None, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATES, 0))
        changes: dict[tuple[int | None, str], datetime] = {}
        for row in certificates:
            facts = policy.Facts.from_row(row)
            key = (row.unit_id, row.course_id)
            counts[key][policy.state_at(facts, now).value] += 1
            upcoming = next_change(facts, now)
            if upcoming is not None and (key not in changes or upcoming < changes[key]):
                changes[key] = upcoming
        db.execute(delete(ComplianceTally).where(ComplianceTally.unit_id.in_(present)))
        db.execute(delete(UnitHeadcount).where(UnitHeadcount.unit_id.in_(present)))
        if heads:
            db.execute(insert(UnitHeadcount), [{"unit_id": u, "inspectors": n} for u, n in heads])
        if counts:
            db.execute(
                insert(ComplianceTally),
                [
                    {"unit_id": u, "course_id": c, **states, "changes_at": changes.get((u, c))}
                    for (u, c), states in counts.items()
                ],
            )
        _recount_required(db, present, targets, now, zone)


def active_targets(db: DbSession) -> list[required.Target]:
    """Every assignment not withdrawn (hundreds at most: one per course and unit, role or named
    person a manager chose), read once per recount."""
    a = Assignment
    return [
        required.Target(*row)
        for row in db.execute(
            select(a.id, a.course_id, a.kind, a.lineage, a.role, a.person_id, a.due).where(
                a.withdrawn_at.is_(None)
            )
        )
    ]


def _recount_required(
    db: DbSession, present: list[int], targets: list[required.Target], now: datetime, zone: Any
) -> None:
    """The requirement tallies of these (locked) units: each active member's required courses
    (earliest due date among the assignments covering them), in the state their current
    certificate and the due date give."""
    db.execute(delete(RequirementTally).where(RequirementTally.unit_id.in_(present)))
    if not targets or not present:
        return
    members = db.execute(
        select(User.id, User.unit_id, Unit.lineage)
        .join(Unit, Unit.id == User.unit_id)
        .where(User.unit_id.in_(present), User.is_active.is_(True))
    ).all()
    if not members:
        return
    roles: dict[int, set[str]] = defaultdict(set)
    for user_id, role in db.execute(
        select(UserRole.user_id, UserRole.role)
        .join(User, User.id == UserRole.user_id)
        .where(User.unit_id.in_(present), User.is_active.is_(True))
    ):
        roles[user_id].add(role)
    courses = {t.course_id for t in targets}
    held: dict[tuple[int, str], policy.Facts] = {}
    for row in db.execute(
        select(Certificate.user_id, Certificate.course_id, *FACT_COLUMNS)
        .join(User, User.id == Certificate.user_id)
        .where(
            User.unit_id.in_(present),
            User.is_active.is_(True),
            Certificate.is_current.is_(True),
            Certificate.course_id.in_(courses),
        )
    ):
        held[(row.user_id, row.course_id)] = policy.Facts.from_row(row)
    counts: dict[tuple[int, str], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(("required", *required.REQUIRED_STATES), 0)
    )
    changes: dict[tuple[int, str], datetime] = {}
    members_ = [(m[0], m[1] or 0, m[2]) for m in members]  # joined to a unit: never 0
    for user_id, unit_id, lineage in members_:
        person = required.Person(user_id, lineage, frozenset(roles.get(user_id, ())))
        for course_id, due in required.required_of(targets, person).items():
            certificate = held.get((user_id, course_id))
            certificate_state = policy.state_at(certificate, now).value if certificate is not None else None
            state = required.state_of(certificate_state, due, now, zone)
            key = (unit_id, course_id)
            counts[key]["required"] += 1
            counts[key][state] += 1
            upcoming = [
                m
                for m in (
                    next_change(certificate, now) if certificate is not None else None,
                    required.next_change(state, due, now, zone),
                )
                if m is not None
            ]
            if upcoming and (key not in changes or min(upcoming) < changes[key]):
                changes[key] = min(upcoming)
    if counts:
        db.execute(
            insert(RequirementTally),
            [
                {"unit_id": u, "course_id": c, **numbers, "changes_at": changes.get((u, c))}
                for (u, c), numbers in counts.items()
            ],
        )


def next_change(facts: policy.Facts, now: datetime) -> datetime | None:
    """When this certificate's state next changes by the passing of time alone."""
    if facts.revoked_at is not None or facts.suspended_at is not None:
        return None
    for moment in (
        facts.expires_at - timedelta(days=facts.renewal_window_days),
        facts.expires_at,
        facts.expires_at + timedelta(days=facts.grace_days),
    ):
        if moment > now:
            return moment
    return None


# -- the roll-up -------------------------------------------------------------------------------


@dataclass
class Counts:
    inspectors: int = 0
    states: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))

    @property
    def never_certified(self) -> int:
        return max(self.inspectors - sum(self.states.values()), 0)

    def get(self, state: str) -> int:
        return self.never_certified if state == NEVER else self.states[state]

    def share(self, state: str) -> float:
        return self.get(state) / self.inspectors if self.inspectors else 0.0

    def as_dict(self) -> dict[str, int]:
        return {"inspectors": self.inspectors, **self.states, NEVER: self.never_certified}


@dataclass
class RequiredCounts:
    """People required a course (trainer.assignments) and their required states."""

    required: int = 0
    states: dict[str, int] = field(default_factory=lambda: dict.fromkeys(required.REQUIRED_STATES, 0))

    @property
    def compliant(self) -> int:
        return sum(self.states[s] for s in required.COMPLIANT)

    def get(self, state: str) -> int:
        return self.states[state]

    def share(self, state: str) -> float:
        return self.states[state] / self.required if self.required else 0.0

    def add(self, other: RequiredCounts) -> None:
        self.required += other.required
        for s in required.REQUIRED_STATES:
            self.states[s] += other.states[s]

    def as_dict(self) -> dict[str, int]:
        return {"required": self.required, **self.states}


@dataclass
class RollupRow:
    unit: UnitRef | None  # None: people attached directly to the unit shown
    courses: dict[str, Counts]
    has_children: bool = False
    # Course id -> people required it (now only: snapshots keep certificate states alone).
    required: dict[str, RequiredCounts] = field(default_factory=dict)


@dataclass(frozen=True)
class UnitRef:
    id: int
    name: str
    kind: str
    path: str
    lineage: str


@dataclass
class Rollup:
    unit: UnitRef
    month: str | None  # None: now; "2026-10": the snapshot taken at the start of that month
    total: dict[str, Counts]  # course id -> the whole subtree
    rows: list[RollupRow]  # one per child unit, then the unit's own members if it has any
    required: dict[str, RequiredCounts] = field(default_factory=dict)  # the whole subtree, now


def unit_ref(db: DbSession, unit_id: int) -> UnitRef | None:
    row = db.execute(
        select(Unit.id, Unit.name, Unit.kind, Unit.path, Unit.lineage).where(Unit.id == unit_id)
    ).one_or_none()
    return UnitRef(*row) if row else None


def unit_in_scope(db: DbSession, viewer: Viewer, unit_id: int | None) -> UnitRef | None:
    """The unit a manager asked for, if it exists and is in the part of the organisation they
    manage (None otherwise: outside it, a unit does not exist for them). Without an id, the
    viewer's own unit, or for an admin without one the first top-level unit."""
    if unit_id is None:
        unit_id = viewer.unit_id
        if unit_id is None:
            unit_id = db.scalar(select(Unit.id).where(Unit.parent_id.is_(None)).order_by(Unit.id).limit(1))
        if unit_id is None:
            return None
    unit = unit_ref(db, unit_id)
    return unit if unit is not None and manages(viewer, unit.lineage) else None


def breadcrumbs(db: DbSession, viewer: Viewer, unit: UnitRef) -> list[tuple[int, str]]:
    """The unit's ancestors the viewer manages, top first, then the unit itself: (id, name)."""
    ids = [int(part) for part in unit.lineage.strip("/").split("/") if part]
    rows = db.execute(select(Unit.id, Unit.name, Unit.lineage).where(Unit.id.in_(ids))).all()
    by_id = {r.id: r for r in rows}
    return [(i, by_id[i].name) for i in ids if i in by_id and manages(viewer, by_id[i].lineage)]


def child_units(db: DbSession, unit_id: int) -> list[tuple[int, str]]:
    """The unit's children, by name: (id, name)."""
    return [
        (r.id, r.name)
        for r in db.execute(select(Unit.id, Unit.name).where(Unit.parent_id == unit_id).order_by(Unit.name))
    ]


def other_top_units(db: DbSession, unit_id: int) -> list[tuple[int, str]]:
    """The top-level units but `unit_id`, by name (an admin manages every tree): (id, name)."""
    return [
        (r.id, r.name)
        for r in db.execute(
            select(Unit.id, Unit.name).where(Unit.parent_id.is_(None), Unit.id != unit_id).order_by(Unit.name)
        )
    ]


def rollup_as_of(db: DbSession, unit: UnitRef, course_ids: Sequence[str], month: str | None) -> Rollup | None:
    """The roll-up the manager's page, its export and the reports API show: exact now (`month`
    None, read after `bring_up_to_date`), or as kept at the start of `month` ("2026-11"); None
    when no snapshot of that month is kept."""
    if month is not None and not db.scalar(
        select(literal(1)).where(ComplianceSnapshot.month == month).limit(1)
    ):
        return None
    return rollup(db, unit, course_ids, month=month)


def pass_rates(db: DbSession, unit: UnitRef, course_id: str, months: list[str]) -> list[tuple[str, int, int]]:
    """(month, exams taken, exams passed) per month in the unit's subtree, for each of `months`
    (oldest first, at least one): a grouped read of the monthly tallies (units x months rows at
    most)."""
    rows = db.execute(
        select(ExamTally.month, func.sum(ExamTally.taken), func.sum(ExamTally.passed))
        .join(Unit, Unit.id == ExamTally.unit_id)
        .where(
            Unit.lineage.startswith(unit.lineage),
            ExamTally.course_id == course_id,
            and_(ExamTally.month >= months[0], ExamTally.month <= months[-1]),
        )
        .group_by(ExamTally.month)
    ).all()
    found = {m: (int(t or 0), int(p or 0)) for m, t, p in rows}
    return [(m, *found.get(m, (0, 0))) for m in months]


def rollup(
    db: DbSession,
    unit: UnitRef,
    course_ids: Sequence[str],
    *,
    month: str | None = None,
    by_child: bool = True,
) -> Rollup:
    """State counts per course for each child of `unit` (its whole subtree) and for the unit's
    own members, and (now only) the required people's states. Four reads of at most (units in
    the subtree x courses) rows, summed here: the cost follows the organisation tree, never the
    number of inspectors."""
    children = (
        db.execute(
            select(Unit.id, Unit.name, Unit.kind, Unit.path, Unit.lineage)
            .where(Unit.parent_id == unit.id)
            .order_by(Unit.name)
        ).all()
        if by_child
        else []
    )
    child_ids = {c.id for c in children}
    with_grandchildren = set(
        db.scalars(select(Unit.parent_id).where(Unit.parent_id.in_(child_ids)).distinct())
        if child_ids
        else []
    )
    # Each member unit is counted under the child of `unit` whose id follows `unit`'s lineage in
    # its own ("/1/4/9/" under "/1/" -> "4"), or under `unit` itself (""): grouped in SQL, so
    # only (children x courses) rows come back.
    # (A "/" is appended so the unit itself, whose rest is "", finds one at position 1: PostgreSQL
    # refuses a negative substring length.)
    rest = func.substr(Unit.lineage, len(unit.lineage) + 1).concat("/")
    slash = func.instr(rest, "/") if db.get_bind().dialect.name == "sqlite" else func.strpos(rest, "/")
    group = func.substr(rest, 1, slash - 1) if by_child else literal("")
    in_subtree = Unit.lineage.startswith(unit.lineage)
    by_group: dict[int, dict[str, Counts]] = {
        g: {course_id: Counts() for course_id in course_ids} for g in {0, *child_ids}
    }
    required_by_group: dict[int, dict[str, RequiredCounts]] = {
        g: {course_id: RequiredCounts() for course_id in course_ids} for g in {0, *child_ids}
    }
    if month is None:
        heads = db.execute(
            select(group, func.sum(UnitHeadcount.inspectors))
            .select_from(Unit)
            .join(UnitHeadcount, UnitHeadcount.unit_id == Unit.id)
            .where(in_subtree)
            .group_by(group)
        ).all()
        rows = db.execute(
            select(group, ComplianceTally.course_id, *[func.sum(getattr(ComplianceTally, s)) for s in STATES])
            .select_from(Unit)
            .join(ComplianceTally, ComplianceTally.unit_id == Unit.id)
            .where(in_subtree, ComplianceTally.course_id.in_(course_ids))
            .group_by(group, ComplianceTally.course_id)
        ).all()
        r = RequirementTally
        for key, course_id, people, *numbers in db.execute(
            select(
                group,
                r.course_id,
                func.sum(r.required),
                *[func.sum(getattr(r, s)) for s in required.REQUIRED_STATES],
            )
            .select_from(Unit)
            .join(r, r.unit_id == Unit.id)
            .where(in_subtree, r.course_id.in_(course_ids))
            .group_by(group, r.course_id)
        ):
            required_by_group[int(key) if key else 0][course_id] = RequiredCounts(
                int(people or 0),
                {s: int(n or 0) for s, n in zip(required.REQUIRED_STATES, numbers, strict=True)},
            )
    else:
        snap = ComplianceSnapshot
        # A unit's headcount is kept on each of its rows (and on a "" course row when it has no
        # certificates): count each unit once.
        per_unit = (
            select(snap.unit_id, func.max(snap.inspectors).label("inspectors"))
            .where(snap.month == month)
            .group_by(snap.unit_id)
            .subquery()
        )
        heads = db.execute(
            select(group, func.sum(per_unit.c.inspectors))
            .select_from(Unit)
            .join(per_unit, per_unit.c.unit_id == Unit.id)
            .where(in_subtree)
            .group_by(group)
        ).all()
        rows = db.execute(
            select(group, snap.course_id, *[func.sum(getattr(snap, s)) for s in STATES])
            .select_from(Unit)
            .join(snap, snap.unit_id == Unit.id)
            .where(in_subtree, snap.month == month, snap.course_id.in_(course_ids))
            .group_by(group, snap.course_id)
        ).all()
    for key, inspectors in heads:
        for counts in by_group[int(key) if key else 0].values():
            counts.inspectors += int(inspectors or 0)
    for key, course_id, *numbers in rows:
        by_group[int(key) if key else 0][course_id].states = {
            state: int(n or 0) for state, n in zip(STATES, numbers, strict=True)
        }
    total = {course_id: Counts() for course_id in course_ids}
    required_total = {course_id: RequiredCounts() for course_id in course_ids}
    for required_groups in required_by_group.values():
        for course_id, found in required_groups.items():
            required_total[course_id].add(found)
    for groups in by_group.values():
        for course_id, counts in groups.items():
            total[course_id].inspectors += counts.inspectors
            for s in STATES:
                total[course_id].states[s] += counts.states[s]
    rows_out = [
        RollupRow(
            UnitRef(*c),
            by_group[c.id],
            has_children=c.id in with_grandchildren,
            required=required_by_group[c.id] if month is None else {},
        )
        for c in children
    ]
    own = by_group[0]
    if any(c.inspectors or sum(c.states.values()) for c in own.values()) or any(
        r.required for r in required_by_group[0].values()
    ):
        rows_out.append(RollupRow(None, own, required=required_by_group[0] if month is None else {}))
    return Rollup(unit, month, total, rows_out, required_total if month is None else {})


# -- monthly snapshots -------------------------------------------------------------------------


def take_snapshot(database: Database, now: datetime) -> bool:
    """Keep this month's roll-up (every unit's tallies) if it is not kept yet. Run by the first
    roll-up read of a month and by `trainer reports snapshot` (for a monthly timer). The month
    is the database's time zone's: in Asia/Shanghai December's snapshot is due from
    2026-11-30 16:00 UTC."""
    month = localtime.month_of(now, database.time_zone)
    with database.session() as db:
        if db.scalar(select(literal(1)).where(ComplianceSnapshot.month == month).limit(1)):
            return False
    refresh(database, now)
    with database.write() as db:
        if db.scalar(select(literal(1)).where(ComplianceSnapshot.month == month).limit(1)):
            return False  # another process took it meanwhile
        heads: dict[int, int] = dict(
            db.execute(select(UnitHeadcount.unit_id, UnitHeadcount.inspectors)).all()
        )
        tallies = db.execute(select(ComplianceTally)).scalars().all()
        rows = [
            {
                "month": month,
                "unit_id": t.unit_id,
                "course_id": t.course_id,
                "inspectors": heads.get(t.unit_id, 0),
                **{s: getattr(t, s) for s in STATES},
                "taken_at": now,
            }
            for t in tallies
        ]
        # Units with inspectors but no certificate of a course still need their headcount kept.
        covered = {t.unit_id for t in tallies}
        rows += [
            {
                "month": month,
                "unit_id": unit_id,
                "course_id": "",
                "inspectors": n,
                **dict.fromkeys(STATES, 0),
                "taken_at": now,
            }
            for unit_id, n in heads.items()
            if unit_id not in covered
        ]
        for start in range(0, len(rows), 1000):
            db.execute(insert(ComplianceSnapshot), rows[start : start + 1000])
    return True


def snapshot_taken_at(db: DbSession, month: str) -> datetime | None:
    """When a month's snapshot was kept (its first roll-up view, or the monthly timer)."""
    return db.scalar(select(func.min(ComplianceSnapshot.taken_at)).where(ComplianceSnapshot.month == month))


def snapshot_months(db: DbSession) -> list[str]:
    return list(
        db.scalars(select(ComplianceSnapshot.month).distinct().order_by(ComplianceSnapshot.month.desc()))
    )


# -- lists -------------------------------------------------------------------------------------

SORTS = ("expires", "name", "unit")


@dataclass(frozen=True)
class ListQuery:
    lineage: str  # the unit whose subtree is listed
    course_id: str | None = None
    state: str | None = None  # one of ALL_STATES, "expiring", or None for every current certificate
    within_days: int = 30  # with state "expiring"
    sort: str = "expires"
    descending: bool = False
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class ListRow:
    user_id: int
    full_name: str
    username: str
    unit_path: str
    course_id: str
    number: str | None
    state: str
    expires_at: datetime | None


@dataclass
class ListPage:
    rows: list[ListRow]
    has_next: bool


def _state_filter(state: str | None, now: datetime, within_days: int) -> list[Any]:
    c = Certificate
    live = [c.suspended_at.is_(None), c.revoked_at.is_(None)]
    if state is None:
        return []
    if state == "valid":
        return [*live, c.renewal_from > now]
    if state == "due_for_renewal":
        return [*live, c.renewal_from <= now, c.expires_at > now]
    if state == "grace":
        return [*live, c.expires_at <= now, c.grace_until > now]
    if state == "expired":
        return [*live, c.grace_until <= now]
    if state == "suspended":
        return [c.suspended_at.is_not(None), c.revoked_at.is_(None)]
    if state == "revoked":
        return [c.revoked_at.is_not(None)]
    if state == "expiring":
        return [*live, c.expires_at > now, c.expires_at <= now + timedelta(days=within_days)]
    raise ValueError(state)


def list_inspectors(db: DbSession, query: ListQuery, now: datetime, *, limit: int | None = None) -> ListPage:
    """One page of (inspector, course) rows matching the filters, in the chosen order; with
    `limit=None` and page 1, every row (exports)."""
    statement = _never_statement(query) if query.state == NEVER else _certificate_statement(query, now)
    per_page = limit if limit is not None else query.per_page
    if per_page > 0:
        statement = statement.offset((query.page - 1) * per_page).limit(per_page + 1)
    rows = []
    for row in db.execute(statement):
        if query.state == NEVER:
            rows.append(
                ListRow(row.id, row.full_name, row.username, row.path, row.course_id, None, NEVER, None)
            )
            continue
        facts = policy.Facts(
            row.valid_from,
            row.expires_at,
            row.renewal_window_days,
            row.grace_days,
            row.suspended_at,
            row.revoked_at,
        )
        rows.append(
            ListRow(
                row.id,
                row.full_name,
                row.username,
                row.path,
                row.course_id,
                row.number,
                policy.state_at(facts, now).value,
                row.expires_at,
            )
        )
    has_next = per_page > 0 and len(rows) > per_page
    return ListPage(rows[:per_page] if per_page > 0 else rows, has_next)


def _order(query: ListQuery, *, by_date: Any) -> list[Any]:
    keys = {
        "expires": [by_date, User.full_name],
        "name": [User.full_name],
        "unit": [Unit.path, User.full_name],
    }
    chosen = (
        keys.get(query.sort, keys["expires"]) if by_date is not None else keys.get(query.sort, keys["name"])
    )
    if query.sort == "expires" and by_date is None:
        chosen = keys["name"]
    ordered = [k.desc() if query.descending else k for k in chosen]
    return [*ordered, User.id]


def _certificate_statement(query: ListQuery, now: datetime) -> Select[Any]:
    c = Certificate
    statement = (
        select(
            User.id,
            User.full_name,
            User.username,
            Unit.path,
            c.course_id,
            c.number,
            c.valid_from,
            c.expires_at,
            c.renewal_window_days,
            c.grace_days,
            c.suspended_at,
            c.revoked_at,
        )
        .join(User, User.id == c.user_id)
        .join(Unit, Unit.id == User.unit_id)
        .where(
            c.is_current.is_(True),
            User.is_active.is_(True),
            Unit.lineage.startswith(query.lineage),
            _is_inspector(),
            *_state_filter(query.state, now, query.within_days),
        )
    )
    if query.course_id:
        statement = statement.where(c.course_id == query.course_id)
    return statement.order_by(*_order(query, by_date=c.expires_at), c.course_id)  # type: ignore[return-value]


def _never_statement(query: ListQuery) -> Select[Any]:
    """Inspectors without a current certificate of one course, read in name order from the
    name index so a page stops early (a list "never certified in anything" would not)."""
    assert query.course_id, "the never-certified list is for one course"
    held = exists().where(
        Certificate.user_id == User.id,
        Certificate.course_id == query.course_id,
        Certificate.is_current.is_(True),
    )
    statement = (
        select(
            User.id,
            User.full_name,
            User.username,
            Unit.path,
            literal(query.course_id, String).label("course_id"),
        )
        .join(Unit, Unit.id == User.unit_id)
        .where(User.is_active.is_(True), Unit.lineage.startswith(query.lineage), _is_inspector(), ~held)
        .order_by(*_order(query, by_date=None))
    )
    return statement  # type: ignore[return-value]  # noqa: RET504 (the ignore needs a line of its own)


def count_for(rollup_total: dict[str, Counts], query: ListQuery) -> int | None:
    """The number of rows a list has, from the roll-up's tallies (None when they cannot say)."""
    if query.state == "expiring":
        return None
    wanted = [query.course_id] if query.course_id else list(rollup_total)
    if query.state is None:
        return sum(sum(rollup_total[c].states.values()) for c in wanted if c in rollup_total)
    return sum(rollup_total[c].get(query.state) for c in wanted if c in rollup_total)


# -- people required a course ------------------------------------------------------------------


@dataclass(frozen=True)
class RequiredRow:
    user_id: int
    full_name: str
    username: str
    unit_path: str
    course_id: str
    due: date
    state: str  # one of trainer.assignments.rules.REQUIRED_STATES
    number: str | None  # their current certificate's, if any
    expires_at: datetime | None


def list_required(
    db: DbSession,
    lineage: str,
    course_id: str,
    now: datetime,
    *,
    state: str | None = None,
    sort: str = "expires",
    descending: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> ListPage:
    """One page of the people in a subtree required a course, with their earliest due date and
    required state (`state` to keep one), by due date (`sort` "expires"), name or unit; with
    `per_page` 0, every row (exports).

    The candidates are read by the assignments' own targets (a lineage prefix each), so only the
    people some assignment covers come back; their states are worked out here with the rules the
    tallies use."""
    zone = localtime.zone_of(db)
    targets = [t for t in active_targets(db) if t.course_id == course_id]
    if not targets:
        return ListPage([], False)
    covered = []
    for t in targets:
        if t.kind == "person":
            covered.append(User.id == t.person_id)
        elif t.kind == "unit":
            covered.append(and_(Unit.lineage.startswith(t.lineage), _is_inspector()))
        else:
            covered.append(
                and_(
                    Unit.lineage.startswith(t.lineage),
                    exists().where(UserRole.user_id == User.id, UserRole.role == t.role),
                )
            )
    people = db.execute(
        select(User.id, User.full_name, User.username, Unit.path, Unit.lineage)
        .join(Unit, Unit.id == User.unit_id)
        .where(User.is_active.is_(True), Unit.lineage.startswith(lineage), or_(*covered))
    ).all()
    ids = [p.id for p in people]
    roles: dict[int, set[str]] = defaultdict(set)
    held: dict[int, tuple[str, policy.Facts, datetime]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for user_id, role in db.execute(
            select(UserRole.user_id, UserRole.role).where(UserRole.user_id.in_(chunk))
        ):
            roles[user_id].add(role)
        c = Certificate
        for row in db.execute(
            select(c.user_id, c.number, *FACT_COLUMNS).where(
                c.user_id.in_(chunk), c.course_id == course_id, c.is_current.is_(True)
            )
        ):
            held[row.user_id] = (row.number, policy.Facts.from_row(row), row.expires_at)
    rows = []
    for p in people:
        due = required.required_of(
            targets, required.Person(p.id, p.lineage, frozenset(roles.get(p.id, ())))
        ).get(course_id)
        if due is None:  # the SQL filter is wider than the rules (never narrower)
            continue
        number, facts, expires_at = held.get(p.id, (None, None, None))
        certificate_state = policy.state_at(facts, now).value if facts is not None else None
        found = required.state_of(certificate_state, due, now, zone)
        if state is not None and found != state:
            continue
        rows.append(
            RequiredRow(p.id, p.full_name, p.username, p.path, course_id, due, found, number, expires_at)
        )
    keys = {
        "expires": lambda r: (r.due, r.full_name, r.user_id),
        "name": lambda r: (r.full_name, r.user_id),
        "unit": lambda r: (r.unit_path, r.full_name, r.user_id),
    }
    rows.sort(key=keys.get(sort, keys["expires"]), reverse=descending)
    if per_page <= 0:
        return ListPage(rows, False)  # type: ignore[arg-type]
    first = (page - 1) * per_page
    return ListPage(rows[first : first + per_page], len(rows) > first + per_page)  # type: ignore[arg-type]
