"""Exam sittings: scheduling them (window, place, roster, supervisors, access code, late entry,
extra time), the supervisor's board and its actions (extend one person's time, void an exam,
close the sitting), and the attendance and results sheets. Starting an exam in a sitting is
trainer.quizzes.service's (`start_exam`), with the rules of trainer.sittings.rules.

Who may do what (trainer.access's roles; object rules here, as the other services do):
- trainers and admins organise every sitting; managers those inside their part of the
  organisation (`Sitting.scope_lineage`), and every unit and person they put on a roster must be
  inside it too;
- a sitting's supervisors see its board and act on it (extend, void, close);
- for anyone else the sitting does not exist (404, not 403: its existence is not confirmed).

Every change is audited with its actor (and reason, for the board's actions). Services take the
caller's session (the request's unit of work) and never commit, except `close`, which runs short
transactions of its own: one to mark the sitting closed (under its row lock, so no exam starts
in it after), then one per open exam to hand it in under that exam's row lock through the
quizzes' exactly-once grading (`hand_in`), as `trainer attempts close-overdue` does. One
transaction for a sitting of thousands would hold SQLite's one write lock (every other sitting's
saves) for as long as they all take to grade.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, delete, func, or_, select
from sqlalchemy.orm import Session as DbSession

from trainer.access import Viewer, manages
from trainer.audit import service as audit
from trainer.content.library import Course, Library
from trainer.db import Database
from trainer.errors import DomainError, rejected
from trainer.i18n import N_
from trainer.people import importing
from trainer.people.auth import normalise_username
from trainer.people.models import Unit, User, UserRole
from trainer.quizzes import service as quizzes
from trainer.quizzes.models import GRADED, IN_PROGRESS, VOIDED, Attempt, AttemptAnswer
from trainer.sittings import rules
from trainer.sittings.models import (
    Sitting,
    SittingPerson,
    SittingSupervisor,
    SittingUnit,
    on_roster,
    roster_params,
)

MAX_PLACE = 200
MAX_LATE_ENTRY_MINUTES = 24 * 60
MAX_ROSTER_FILE_BYTES = importing.MAX_BYTES
MAX_ROSTER_ROWS = 20_000
MAX_LISTED = 200  # sittings per list on the sittings page


# -- who may do what --------------------------------------------------------------------------


def organises(viewer: Viewer) -> bool:
    """Trainers, managers and admins schedule sittings (managers inside their subtree)."""
    return viewer.has_role("trainer") or viewer.has_role("manager")


def _unscoped(viewer: Viewer) -> bool:
    return viewer.has_role("trainer")  # trainers and admins: the whole province


def _in_scope(viewer: Viewer, lineage: str | None) -> bool:
    """May this organiser put a unit (or a person of that unit) on a roster, or edit a sitting
    with this scope?"""
    return _unscoped(viewer) or manages(viewer, lineage)


def _organises_this(viewer: Viewer, sitting: Sitting) -> bool:
    return organises(viewer) and _in_scope(viewer, sitting.scope_lineage)


def _supervises(db: DbSession, viewer: Viewer, sitting_id: int) -> bool:
    return (
        db.scalar(
            select(SittingSupervisor.user_id).where(
                SittingSupervisor.sitting_id == sitting_id, SittingSupervisor.user_id == viewer.id
            )
        )
        is not None
    )


def _not_found() -> DomainError:
    return DomainError(404, "no_such_sitting", "no such sitting")


def _get(db: DbSession, sitting_id: int, *, lock: bool = False) -> Sitting:
    statement = select(Sitting).where(Sitting.id == sitting_id)
    sitting = db.scalar(statement.with_for_update() if lock else statement)
    if sitting is None:
        raise _not_found()
    return sitting


def for_organiser(db: DbSession, viewer: Viewer, sitting_id: int) -> Sitting:
    """A sitting the viewer may edit (404 otherwise)."""
    sitting = _get(db, sitting_id)
    if not _organises_this(viewer, sitting):
        raise _not_found()
    return sitting


def for_board(db: DbSession, viewer: Viewer, sitting_id: int, *, lock: bool = False) -> Sitting:
    """A sitting whose board the viewer may see and act on: its organisers and supervisors."""
    sitting = _get(db, sitting_id, lock=lock)
    if not (_organises_this(viewer, sitting) or _supervises(db, viewer, sitting.id)):
        raise _not_found()
    return sitting


def may_edit(viewer: Viewer, sitting: Sitting) -> bool:
    return _organises_this(viewer, sitting)


def check_board_access(database: Database, viewer: Viewer, sitting_id: int) -> None:
    """`for_board` in a read session of its own, for the close page: it asks first, then closes
    in transactions of its own, so it holds no unit of work (see the module docstring)."""
    with database.session() as db:
        for_board(db, viewer, sitting_id)


# -- reading a sitting ------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    full_name: str
    unit: str | None  # the unit's path


@dataclass(frozen=True)
class SittingView:
    """A sitting as its pages and the API show it."""

    id: int
    course_id: str
    opens_at: datetime
    closes_at: datetime
    late_entry_minutes: int | None
    late_entry_until: datetime | None
    place: str
    access_code: str | None
    closed_at: datetime | None
    state: str  # scheduled | open | over (past its close) | closed (by a supervisor)
    units: list[tuple[int, str]]  # (id, path)
    named: list[Person]
    supervisors: list[Person]
    extra: list[tuple[Person, int]]  # people with extra time, and its minutes


def state_of(sitting: Sitting, now: datetime) -> str:
    if sitting.closed_at is not None:
        return "closed"
    if now >= sitting.closes_at:
        return "over"
    return "open" if now >= sitting.opens_at else "scheduled"


def view_of(db: DbSession, sitting: Sitting, now: datetime) -> SittingView:
    units = [
        (unit_id, path)
        for unit_id, path in db.execute(
            select(Unit.id, Unit.path)
            .join(SittingUnit, SittingUnit.unit_id == Unit.id)
            .where(SittingUnit.sitting_id == sitting.id)
            .order_by(Unit.path)
        )
    ]
    people = db.execute(
        select(
            User.id,
            User.username,
            User.full_name,
            Unit.path,
            SittingPerson.named,
            SittingPerson.extra_minutes,
        )
        .join(SittingPerson, SittingPerson.user_id == User.id)
        .outerjoin(Unit, Unit.id == User.unit_id)
        .where(SittingPerson.sitting_id == sitting.id)
        .order_by(User.full_name, User.username)
    ).all()
    supervisors = db.execute(
        select(User.id, User.username, User.full_name, Unit.path)
        .join(SittingSupervisor, SittingSupervisor.user_id == User.id)
        .outerjoin(Unit, Unit.id == User.unit_id)
        .where(SittingSupervisor.sitting_id == sitting.id)
        .order_by(User.full_name, User.username)
    ).all()
    return SittingView(
        id=sitting.id,
        course_id=sitting.course_id,
        opens_at=sitting.opens_at,
        closes_at=sitting.closes_at,
        late_entry_minutes=sitting.late_entry_minutes,
        late_entry_until=rules.late_entry_until(sitting.opens_at, sitting.late_entry_minutes),
        place=sitting.place,
        access_code=sitting.access_code,
        closed_at=sitting.closed_at,
        state=state_of(sitting, now),
        units=units,
        named=[Person(i, u, n, p) for i, u, n, p, named, _ in people if named],
        supervisors=[Person(*row) for row in supervisors],
        extra=[(Person(i, u, n, p), extra) for i, u, n, p, _, extra in people if extra],
    )


@dataclass(frozen=True)
class Listing:
    """The sittings page: those the viewer organises, supervises, and sits."""

    organised: list[Sitting]
    supervised: list[Sitting]
    mine: list[Sitting]  # open or coming sittings the viewer is on the roster of


def listing(db: DbSession, viewer: Viewer, now: datetime) -> Listing:
    newest_first = (Sitting.opens_at.desc(), Sitting.id.desc())
    organised: list[Sitting] = []
    if organises(viewer):
        statement = select(Sitting)
        if not _unscoped(viewer):
            lineage = viewer.unit_lineage or "\x00"  # a manager without a unit sees none
            statement = statement.where(Sitting.scope_lineage.startswith(lineage, autoescape=True))
        organised = list(db.scalars(statement.order_by(*newest_first).limit(MAX_LISTED)))
    supervised = list(
        db.scalars(
            select(Sitting)
            .join(SittingSupervisor, SittingSupervisor.sitting_id == Sitting.id)
            .where(SittingSupervisor.user_id == viewer.id)
            .order_by(*newest_first)
            .limit(MAX_LISTED)
        )
    )
    mine = list(
        db.scalars(
            select(Sitting)
            .where(
                Sitting.closes_at > now,
                Sitting.closed_at.is_(None),
                on_roster(),
            )
            .order_by(Sitting.opens_at, Sitting.id)
            .limit(MAX_LISTED),
            roster_params(viewer.id, viewer.unit_lineage, inspector="inspector" in viewer.roles),
        )
    )
    return Listing(organised, supervised, mine)


def units_to_choose(db: DbSession, viewer: Viewer) -> list[tuple[int, str]]:
    """The units an organiser may put on a roster: every unit, or a manager's subtree."""
    statement = select(Unit.id, Unit.path).order_by(Unit.path)
    if not _unscoped(viewer):
        statement = statement.where(Unit.lineage.startswith(viewer.unit_lineage or "\x00", autoescape=True))
    return [(unit_id, path) for unit_id, path in db.execute(statement)]


# -- scheduling -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SittingInput:
    """What a form or the API gives for a sitting. People come by id (the API) or by username
    (the pages); `access_code` is "new" (generate one), "keep" (as it is) or "none"."""

    opens_at: datetime
    closes_at: datetime
    place: str = ""
    late_entry_minutes: int | None = None
    unit_ids: tuple[int, ...] = ()
    person_ids: tuple[int, ...] = ()
    person_usernames: tuple[str, ...] = ()
    supervisor_ids: tuple[int, ...] = ()
    supervisor_usernames: tuple[str, ...] = ()
    access_code: str = "none"


@dataclass
class _Roster:
    units: dict[int, str] = field(default_factory=dict)  # id -> lineage
    people: dict[int, str | None] = field(default_factory=dict)  # id -> unit lineage
    supervisors: set[int] = field(default_factory=set)


def sittings_course(library: Library, course_id: str) -> Course:
    """A course whose exam is taken in sittings (404 for no such exam, 409 for an anytime one)."""
    course = library.courses.get(course_id)
    if course is None or course.certification is None:
        raise DomainError(404, "no_such_exam", "no such course exam")
    if course.certification.exam.mode != "sittings":
        raise DomainError(
            409,
            "not_a_sittings_exam",
            "this course's exam is taken any time: set `mode: sittings` in its course.yaml to hold sittings",
        )
    return course


def _check_times(given: SittingInput, now: datetime, *, creating: bool) -> list[str]:
    problems: list[str] = []
    for moment in (given.opens_at, given.closes_at):
        # Before anything converts them: year 1 with an offset east of UTC does not fit a datetime.
        if moment.tzinfo is None or moment.utcoffset() is None:
            return [N_("Give times with their offset from UTC, such as 2026-12-12T09:00:00+08:00.")]
        if not 2000 <= moment.year <= 2999:
            return [N_("Give dates between the years 2000 and 2999.")]
    if given.closes_at <= given.opens_at:
        problems.append(N_("The sitting must close after it opens."))
    elif given.closes_at - given.opens_at > rules.MAX_WINDOW:
        problems.append(N_("A sitting lasts at most 7 days."))
    if creating and given.closes_at <= now:
        problems.append(N_("The closing time has passed already."))
    if given.late_entry_minutes is not None:
        if not 0 <= given.late_entry_minutes <= MAX_LATE_ENTRY_MINUTES:
            problems.append(N_("Late entry is 0 to 1,440 minutes after the opening."))
        elif given.opens_at + timedelta(minutes=given.late_entry_minutes) >= given.closes_at:
            problems.append(N_("Late entry must end before the sitting closes."))
    place = given.place.strip()
    if len(place) > MAX_PLACE or any(unicodedata.category(c) == "Cc" for c in place):
        problems.append(N_("The place is one line of at most 200 characters."))
    if given.access_code not in ("new", "keep", "none"):
        problems.append(N_("Choose what to do with the access code."))
    return problems


def _resolve(db: DbSession, viewer: Viewer, given: SittingInput) -> _Roster:
    """Units, people and supervisors by id or username, each checked: it exists (and is active),
    and a manager's roster lies inside their part of the organisation."""
    roster = _Roster()
    unit_ids = sorted(set(given.unit_ids))
    if unit_ids:
        found = dict(db.execute(select(Unit.id, Unit.lineage).where(Unit.id.in_(unit_ids))).all())
        if len(found) != len(unit_ids):
            raise rejected("invalid_sitting", [N_("A unit chosen for the roster does not exist.")])
        if not all(_in_scope(viewer, lineage) for lineage in found.values()):
            raise rejected(
                "invalid_sitting", [N_("A unit on the roster is outside your part of the organisation.")]
            )
        roster.units = found
    roster.people = _people(db, viewer, given.person_ids, given.person_usernames, on_roster=True)
    roster.supervisors = set(
        _people(db, viewer, given.supervisor_ids, given.supervisor_usernames, on_roster=False)
    )
    return roster


def _people(
    db: DbSession, viewer: Viewer, ids: tuple[int, ...], usernames: tuple[str, ...], *, on_roster: bool
) -> dict[int, str | None]:
    """Active accounts by id and username -> their unit's lineage. A manager names people of their
    own part of the organisation for a roster; supervisors may come from anywhere."""
    wanted_ids = sorted(set(ids))
    wanted_names = sorted({normalise_username(name) for name in usernames if name.strip()})
    if not wanted_ids and not wanted_names:
        return {}
    rows = db.execute(
        select(User.id, User.username, Unit.lineage)
        .outerjoin(Unit, Unit.id == User.unit_id)
        .where(User.is_active.is_(True), or_(User.id.in_(wanted_ids), User.username.in_(wanted_names)))
    ).all()
    by_id = {row.id for row in rows}
    by_name = {row.username for row in rows}
    missing = [str(i) for i in wanted_ids if i not in by_id] + [n for n in wanted_names if n not in by_name]
    if missing:
        message = (
            N_("These are not active accounts: %(people)s")
            if on_roster
            else N_("These supervisors are not active accounts: %(people)s")
        )
        raise DomainError(
            400,
            "unknown_people",
            message,
            people=", ".join(missing[:20]) + (" …" if len(missing) > 20 else ""),
        )
    if on_roster:
        outside = sorted(row.username for row in rows if not _in_scope(viewer, row.lineage))
        if outside:
            raise DomainError(
                400,
                "people_out_of_scope",
                "These people are outside your part of the organisation: %(people)s",
                people=", ".join(outside[:20]) + (" …" if len(outside) > 20 else ""),
            )
    return {row.id: row.lineage for row in rows}


def _scope(viewer: Viewer, roster: _Roster) -> str:
    lineages = [*roster.units.values(), *roster.people.values()]
    if lineages:
        return rules.common_lineage(lineages)
    # An empty roster stays with its organiser's part of the organisation.
    return "/" if _unscoped(viewer) else (viewer.unit_lineage or "/")


def _times_for_audit(given: SittingInput) -> dict[str, object]:
    return {
        "opens_at": given.opens_at.isoformat(),
        "closes_at": given.closes_at.isoformat(),
        "late_entry_minutes": given.late_entry_minutes,
        "place": given.place.strip(),
    }


def create(
    db: DbSession,
    actor: audit.Actor,
    viewer: Viewer,
    course_id: str,
    given: SittingInput,
    *,
    library: Library,
    now: datetime,
) -> Sitting:
    """Schedule a sitting of a course in `mode: sittings`; with `access_code="new"` a code is
    generated (shown to its organisers and supervisors)."""
    if not organises(viewer):
        raise DomainError(403, "organisers_only", "trainers and managers schedule sittings")
    sittings_course(library, course_id)
    problems = _check_times(given, now, creating=True)
    if given.access_code == "keep":
        problems.append(N_("Choose what to do with the access code."))
    if problems:
        raise rejected("invalid_sitting", problems)
    roster = _resolve(db, viewer, given)
    sitting = Sitting(
        course_id=course_id,
        opens_at=given.opens_at,
        closes_at=given.closes_at,
        late_entry_minutes=given.late_entry_minutes,
        place=given.place.strip(),
        access_code=rules.new_access_code() if given.access_code == "new" else None,
        scope_lineage=_scope(viewer, roster),
        created_by=viewer.id,
        created_at=now,
    )
    db.add(sitting)
    db.flush()
    _write_roster(db, sitting.id, roster)
    audit.record(
        db,
        "sitting.created",
        actor,
        target_type="sitting",
        target_id=sitting.id,
        details={
            "course": course_id,
            **_times_for_audit(given),
            "access_code": sitting.access_code is not None,
            "units": sorted(roster.units),
            "people": sorted(roster.people),
            "supervisors": sorted(roster.supervisors),
        },
    )
    return sitting


def _write_roster(db: DbSession, sitting_id: int, roster: _Roster) -> None:
    """The roster and supervisors as given. Named people no longer named keep their row (as
    `named = false`) while they have extra time."""
    db.execute(delete(SittingUnit).where(SittingUnit.sitting_id == sitting_id))
    db.add_all(SittingUnit(sitting_id=sitting_id, unit_id=unit_id) for unit_id in sorted(roster.units))
    existing = {
        row.user_id: row
        for row in db.scalars(select(SittingPerson).where(SittingPerson.sitting_id == sitting_id))
    }
    for user_id, row in existing.items():
        row.named = user_id in roster.people
        if not row.named and not row.extra_minutes:
            db.delete(row)
    db.add_all(
        SittingPerson(sitting_id=sitting_id, user_id=user_id, named=True, extra_minutes=0)
        for user_id in sorted(roster.people)
        if user_id not in existing
    )
    db.execute(delete(SittingSupervisor).where(SittingSupervisor.sitting_id == sitting_id))
    db.add_all(
        SittingSupervisor(sitting_id=sitting_id, user_id=user_id) for user_id in sorted(roster.supervisors)
    )
    db.flush()


def _refuse_if_closed(sitting: Sitting) -> None:
    if sitting.closed_at is not None:
        raise DomainError(409, "sitting_closed", "this sitting is closed")


def update(
    db: DbSession,
    actor: audit.Actor,
    viewer: Viewer,
    sitting_id: int,
    given: SittingInput,
    *,
    library: Library,
    now: datetime,
) -> Sitting:
    """Change a sitting's window, place, roster, supervisors or access code (not its course). Its
    open exams' deadlines follow a new close. A closed sitting stays as it was."""
    sitting = for_organiser(db, viewer, sitting_id)
    sitting = _get(db, sitting.id, lock=True)
    _refuse_if_closed(sitting)
    problems = _check_times(given, now, creating=False)
    if problems:
        raise rejected("invalid_sitting", problems)
    roster = _resolve(db, viewer, given)
    before = {
        "opens_at": sitting.opens_at.isoformat(),
        "closes_at": sitting.closes_at.isoformat(),
        "late_entry_minutes": sitting.late_entry_minutes,
        "place": sitting.place,
    }
    new_close = given.closes_at != sitting.closes_at
    sitting.opens_at, sitting.closes_at = given.opens_at, given.closes_at
    sitting.late_entry_minutes = given.late_entry_minutes
    sitting.place = given.place.strip()
    if given.access_code == "new":
        sitting.access_code = rules.new_access_code()
    elif given.access_code == "none":
        sitting.access_code = None
    sitting.scope_lineage = _scope(viewer, roster)
    _write_roster(db, sitting.id, roster)
    if new_close:
        course = library.courses.get(sitting.course_id)
        if course is not None and course.certification is not None:
            limit = course.certification.exam.time_limit_minutes
            extra = _extras(db, sitting.id)
            for attempt in quizzes.open_exams_of_sitting(db, sitting.id):
                attempt.deadline = rules.deadline(
                    attempt.started_at, limit, extra.get(attempt.user_id, 0), sitting.closes_at
                )
    audit.record(
        db,
        "sitting.updated",
        actor,
        target_type="sitting",
        target_id=sitting.id,
        details={
            "before": before,
            "after": _times_for_audit(given),
            "access_code": given.access_code,
            "units": sorted(roster.units),
            "people": sorted(roster.people),
            "supervisors": sorted(roster.supervisors),
        },
    )
    return sitting


def _extras(db: DbSession, sitting_id: int) -> dict[int, int]:
    return dict(
        db.execute(
            select(SittingPerson.user_id, SittingPerson.extra_minutes).where(
                SittingPerson.sitting_id == sitting_id
            )
        ).all()
    )


# -- a roster from a file ---------------------------------------------------------------------


def read_usernames(data: bytes) -> list[str]:
    """Usernames from a CSV file: the first column of each row, a header row ("username", or
    "用户名") skipped, blank rows too. Read as the people import reads its files
    (trainer.people.importing: UTF-8 with or without a byte-order mark, or GB18030, what Excel
    saves a CSV in on a Chinese Windows)."""
    _, text = importing.decode(data)
    names: list[str] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if number > MAX_ROSTER_ROWS:
            raise DomainError(400, "roster_file_rows", "The file has more than 20,000 rows.")
        cell = unicodedata.normalize("NFKC", row[0]).strip() if row else ""
        if not cell or (number == 1 and cell.casefold() in ("username", "用户名")):
            continue
        names.append(cell)
    if not names:
        raise DomainError(
            400, "roster_file_empty", "The file names nobody: one username per row, in the first column."
        )
    return names


def add_people(
    db: DbSession, actor: audit.Actor, viewer: Viewer, sitting_id: int, usernames: list[str]
) -> int:
    """Put people on the roster by username (a file's); every name is checked first, and one that
    is no active account (or is outside a manager's part) adds nobody. Returns how many were new."""
    sitting = for_organiser(db, viewer, sitting_id)
    _refuse_if_closed(sitting)
    found = _people(db, viewer, (), tuple(usernames), on_roster=True)
    existing = {
        row.user_id: row
        for row in db.scalars(select(SittingPerson).where(SittingPerson.sitting_id == sitting.id))
    }
    added = 0
    for user_id in sorted(found):
        row = existing.get(user_id)
        if row is None:
            db.add(SittingPerson(sitting_id=sitting.id, user_id=user_id, named=True, extra_minutes=0))
            added += 1
        elif not row.named:
            row.named = True
            added += 1
    db.flush()
    units = list(
        db.scalars(
            select(Unit.lineage)
            .join(SittingUnit, SittingUnit.unit_id == Unit.id)
            .where(SittingUnit.sitting_id == sitting.id)
        )
    )
    named = list(
        db.execute(
            select(Unit.lineage)
            .select_from(SittingPerson)
            .join(User, User.id == SittingPerson.user_id)
            .outerjoin(Unit, Unit.id == User.unit_id)
            .where(SittingPerson.sitting_id == sitting.id, SittingPerson.named.is_(True))
        ).scalars()
    )
    sitting.scope_lineage = (
        rules.common_lineage([*units, *named]) if units or named else sitting.scope_lineage
    )
    audit.record(
        db,
        "sitting.roster_added",
        actor,
        target_type="sitting",
        target_id=sitting.id,
        details={"people": sorted(found), "added": added},
    )
    return added


# -- extra time -------------------------------------------------------------------------------


def _on_this_roster(db: DbSession, sitting: Sitting, person_id: int) -> bool:
    """Named, or an active inspector of a unit on the roster (or under one), or has sat here."""
    person = db.execute(
        select(User.id, User.is_active, Unit.lineage)
        .outerjoin(Unit, Unit.id == User.unit_id)
        .where(User.id == person_id)
    ).one_or_none()
    if person is None:
        return False
    named = db.scalar(
        select(SittingPerson.named).where(
            SittingPerson.sitting_id == sitting.id, SittingPerson.user_id == person_id
        )
    )
    if named:
        return True
    sat = db.scalar(
        select(Attempt.id).where(Attempt.sitting_id == sitting.id, Attempt.user_id == person_id).limit(1)
    )
    if sat is not None:
        return True
    ancestors = rules.ancestor_ids(person.lineage)
    if not (person.is_active and ancestors):
        return False
    inspector = db.scalar(
        select(UserRole.role).where(UserRole.user_id == person_id, UserRole.role == "inspector")
    )
    listed = db.scalar(
        select(SittingUnit.unit_id)
        .where(SittingUnit.sitting_id == sitting.id, SittingUnit.unit_id.in_(ancestors))
        .limit(1)
    )
    return inspector is not None and listed is not None


@dataclass(frozen=True)
class ExtraTime:
    sitting_id: int
    person_id: int
    extra_minutes: int
    deadline: datetime | None  # of the person's exam in progress, if any


def set_extra_minutes(
    db: DbSession,
    actor: audit.Actor,
    viewer: Viewer,
    sitting_id: int,
    person_id: int,
    *,
    minutes: int,
    now: datetime,
    reason: str = "",
    add: bool = False,
) -> ExtraTime:
    """Set (or with `add`, lengthen by) a rostered person's extra time; an exam of theirs in
    progress gets the new deadline at once (start + limit + extra, capped at close + extra: both
    move by the change). Organisers and supervisors; not after the person handed in."""
    sitting = for_board(db, viewer, sitting_id, lock=True)
    _refuse_if_closed(sitting)
    if not _on_this_roster(db, sitting, person_id):
        raise DomainError(404, "not_on_roster", "this person is not on the sitting's roster")
    row = db.scalar(
        select(SittingPerson).where(
            SittingPerson.sitting_id == sitting.id, SittingPerson.user_id == person_id
        )
    )
    before = row.extra_minutes if row is not None else 0
    after = before + minutes if add else minutes
    if add and minutes <= 0:
        raise DomainError(400, "invalid_extra_time", "Extend by 1 minute or more.")
    if not 0 <= after <= rules.MAX_EXTRA_MINUTES:
        raise DomainError(400, "invalid_extra_time", "Extra time is 0 to 600 minutes in all.")
    open_exams = quizzes.open_exams_of_sitting(db, sitting.id, person_id)
    if not open_exams:
        handed_in = db.scalar(
            select(Attempt.id).where(
                Attempt.sitting_id == sitting.id, Attempt.user_id == person_id, Attempt.status == GRADED
            )
        )
        if handed_in is not None:
            raise DomainError(
                409, "already_handed_in", "this person has handed in their exam of this sitting"
            )
    if row is None:
        row = SittingPerson(sitting_id=sitting.id, user_id=person_id, named=False, extra_minutes=after)
        db.add(row)
    row.extra_minutes = after
    deadline = None
    for attempt in open_exams:
        if attempt.deadline is not None:
            attempt.deadline = attempt.deadline + timedelta(minutes=after - before)
            deadline = attempt.deadline
    db.flush()
    audit.record(
        db,
        "sitting.extra_time",
        actor,
        target_type="sitting",
        target_id=sitting.id,
        details={
            "person": person_id,
            "from": before,
            "to": after,
            "reason": reason,
            "attempt_deadline": deadline.isoformat() if deadline else None,
        },
    )
    return ExtraTime(sitting.id, person_id, after, deadline)


def set_extra_for_username(
    db: DbSession,
    actor: audit.Actor,
    viewer: Viewer,
    sitting_id: int,
    username: str,
    *,
    minutes: int,
    now: datetime,
) -> ExtraTime:
    """`set_extra_minutes` for a person named by username (the edit page's form)."""
    sitting = for_organiser(db, viewer, sitting_id)
    name = normalise_username(username)
    person_id = (
        db.scalar(select(User.id).where(User.username == name, User.is_active.is_(True))) if name else None
    )
    if person_id is None:
        raise DomainError(
            400, "unknown_people", "These are not active accounts: %(people)s", people=name or "-"
        )
    return set_extra_minutes(db, actor, viewer, sitting.id, person_id, minutes=minutes, now=now)


# -- the board --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardRow:
    person_id: int
    username: str
    full_name: str
    unit: str | None
    state: str  # not_started | in_progress | submitted | absent
    answered: int
    total: int
    remaining_seconds: int | None
    extra_minutes: int
    attempt_id: int | None
    started_at: datetime | None
    submitted_at: datetime | None
    deadline: datetime | None
    score: float | None
    passed: bool | None
    voided: int  # voided exams of this person in the sitting


@dataclass(frozen=True)
class Board:
    sitting: Sitting
    rows: list[BoardRow]
    counts: dict[str, int]
    over: bool
    now: datetime


def board(db: DbSession, sitting: Sitting, library: Library, now: datetime) -> Board:
    """Everyone on the roster (and anyone who sat here since taken off it), with their state,
    progress and time left. Four reads whatever the roster's size: the roster's units, its
    people, the sitting's exams with their answer counts, the extra times."""
    lineages = list(
        db.scalars(
            select(Unit.lineage)
            .join(SittingUnit, SittingUnit.unit_id == Unit.id)
            .where(SittingUnit.sitting_id == sitting.id)
        )
    )
    sat = select(Attempt.user_id).where(Attempt.sitting_id == sitting.id)
    named = select(SittingPerson.user_id).where(
        SittingPerson.sitting_id == sitting.id, SittingPerson.named.is_(True)
    )
    who = [User.id.in_(sat), and_(User.is_active.is_(True), User.id.in_(named))]
    if lineages:
        inspectors = select(UserRole.user_id).where(UserRole.role == "inspector")
        who.append(
            and_(
                User.is_active.is_(True),
                User.id.in_(inspectors),
                or_(*(Unit.lineage.startswith(lineage, autoescape=True) for lineage in lineages)),
            )
        )
    people = db.execute(
        select(User.id, User.username, User.full_name, Unit.path)
        .outerjoin(Unit, Unit.id == User.unit_id)
        .where(or_(*who))
        .order_by(Unit.path, User.full_name, User.id)
    ).all()
    answered = (
        select(func.count(AttemptAnswer.id)).where(AttemptAnswer.attempt_id == Attempt.id).scalar_subquery()
    )
    attempts = db.execute(
        select(
            Attempt.id,
            Attempt.user_id,
            Attempt.status,
            Attempt.started_at,
            Attempt.submitted_at,
            Attempt.deadline,
            Attempt.max_score,
            Attempt.score,
            Attempt.passed,
            answered,
        )
        .where(Attempt.sitting_id == sitting.id)
        .order_by(Attempt.id)
    ).all()
    extra = _extras(db, sitting.id)
    latest: dict[int, Row[Any]] = {}
    voided: Counter[int] = Counter()
    for row in attempts:
        if row.status == VOIDED:
            voided[row.user_id] += 1
        else:
            latest[row.user_id] = row  # ordered by id: the last one counts
    over = rules.is_over(sitting.closes_at, sitting.closed_at, now)
    course = library.courses.get(sitting.course_id)
    paper_length = (
        sum(row.count for row in course.certification.exam.blueprint)
        if course is not None and course.certification is not None
        else 0
    )
    rows = []
    for person_id, username, full_name, unit_path in people:
        found = latest.get(person_id)
        if found is None:
            rows.append(
                BoardRow(
                    person_id=person_id,
                    username=username,
                    full_name=full_name,
                    unit=unit_path,
                    state=rules.person_state(None, over),
                    answered=0,
                    total=paper_length,
                    remaining_seconds=None,
                    extra_minutes=extra.get(person_id, 0),
                    attempt_id=None,
                    started_at=None,
                    submitted_at=None,
                    deadline=None,
                    score=None,
                    passed=None,
                    voided=voided[person_id],
                )
            )
            continue
        in_progress = found.status == IN_PROGRESS
        rows.append(
            BoardRow(
                person_id=person_id,
                username=username,
                full_name=full_name,
                unit=unit_path,
                state=rules.person_state(found.status, over),
                answered=int(found[-1] or 0),
                total=int(found.max_score),
                remaining_seconds=rules.remaining_seconds(found.deadline, now) if in_progress else None,
                extra_minutes=extra.get(person_id, 0),
                attempt_id=found.id,
                started_at=found.started_at,
                submitted_at=found.submitted_at,
                deadline=found.deadline,
                score=found.score,
                passed=found.passed,
                voided=voided[person_id],
            )
        )
    counts = Counter(row.state for row in rows)
    return Board(sitting, rows, {state: counts.get(state, 0) for state in rules.STATES}, over, now)


def person_on_board(
    db: DbSession, sitting: Sitting, library: Library, person_id: int, now: datetime
) -> BoardRow:
    """One person's row of the board (the board's actions page), 404 if not on it."""
    for row in board(db, sitting, library, now).rows:
        if row.person_id == person_id:
            return row
    raise DomainError(404, "not_on_roster", "this person is not on the sitting's roster")


def void_attempt(
    db: DbSession,
    actor: audit.Actor,
    viewer: Viewer,
    sitting_id: int,
    attempt_id: int,
    *,
    now: datetime,
    reason: str,
) -> Attempt:
    """Void an exam of this sitting (its supervisors and organisers, with a reason): it does not
    count as an attempt used, and the person may start again while the sitting admits them."""
    sitting = for_board(db, viewer, sitting_id)
    belongs = db.scalar(select(Attempt.sitting_id).where(Attempt.id == attempt_id))
    if belongs != sitting.id:
        raise DomainError(404, "no_such_attempt", "no such attempt")
    return quizzes.void(db, attempt_id, now, actor=actor, reason=reason)


# -- closing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Closed:
    sitting_id: int
    closed_at: datetime
    handed_in: int  # exams this call handed in


def close(
    database: Database,
    actor: audit.Actor,
    viewer: Viewer,
    sitting_id: int,
    now: datetime,
    *,
    reason: str = "",
    certify: quizzes.Certifying | None = None,
) -> Closed:
    """Close the sitting now and hand in every exam still open in it, each graded as of that
    moment exactly once (a save or submit racing it waits for the exam's row lock; a submit
    that comes first grades it itself). Its own transactions (see the module docstring). Closing
    again hands in nothing new and answers with the first close's moment."""
    with database.write() as db:
        sitting = for_board(db, viewer, sitting_id, lock=True)  # FOR UPDATE: starts wait, then see it closed
        if sitting.closed_at is None:
            sitting.closed_at = now
            # Locks in the order every grading takes them (the exam's row, then the tallies and
            # the audit log's head), or a submit racing the close deadlocks with it.
            quizzes.end_open_exams_at(db, sitting.id, now)
            audit.record(
                db,
                "sitting.closed",
                actor,
                target_type="sitting",
                target_id=sitting.id,
                details={"reason": reason, "scheduled_close": sitting.closes_at.isoformat()},
            )
        closed_at = sitting.closed_at
    with database.session() as db:
        open_ids = quizzes.open_exam_ids_of_sitting(db, sitting_id)
    handed_in = sum(
        quizzes.hand_in(database, attempt_id, closed_at, actor=actor, certify=certify)
        for attempt_id in open_ids
    )
    return Closed(sitting_id, closed_at, handed_in)


# -- who is on a roster (for notifications) ---------------------------------------------------


def upcoming(db: DbSession, now: datetime) -> list[Sitting]:
    """Sittings not yet over or closed: those whose roster is told about them."""
    return list(
        db.scalars(
            select(Sitting).where(Sitting.closed_at.is_(None), Sitting.closes_at > now).order_by(Sitting.id)
        )
    )


def cancelled_ahead(db: DbSession, now: datetime) -> list[Sitting]:
    """Sittings closed before they opened whose time is still ahead: the people told about them
    are told they are off (trainer.notifications.due)."""
    return list(
        db.scalars(
            select(Sitting)
            .where(
                Sitting.closed_at.is_not(None),
                Sitting.closed_at < Sitting.opens_at,
                Sitting.opens_at > now,
            )
            .order_by(Sitting.id)
        )
    )


def sat_in(db: DbSession, sitting_id: int) -> set[int]:
    """The people who started an exam in the sitting (taken off its roster afterwards, they
    are not told they are no longer expected: they came)."""
    return set(db.scalars(select(Attempt.user_id).where(Attempt.sitting_id == sitting_id)))


def rostered(db: DbSession, sitting_id: int) -> list[int]:
    """The active accounts on a sitting's roster now: named, or inspectors of a roster unit or a
    unit under one (the board's rule, less those who sat here and were taken off since)."""
    lineages = list(
        db.scalars(
            select(Unit.lineage)
            .join(SittingUnit, SittingUnit.unit_id == Unit.id)
            .where(SittingUnit.sitting_id == sitting_id)
        )
    )
    named = select(SittingPerson.user_id).where(
        SittingPerson.sitting_id == sitting_id, SittingPerson.named.is_(True)
    )
    who: list[ColumnElement[bool]] = [User.id.in_(named)]
    if lineages:
        inspectors = select(UserRole.user_id).where(UserRole.role == "inspector")
        who.append(
            and_(
                User.id.in_(inspectors),
                or_(*(Unit.lineage.startswith(lineage, autoescape=True) for lineage in lineages)),
            )
        )
    return list(
        db.scalars(
            select(User.id)
            .outerjoin(Unit, Unit.id == User.unit_id)
            .where(User.is_active.is_(True), or_(*who))
            .order_by(User.id)
        )
    )
