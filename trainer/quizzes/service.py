"""The attempt lifecycle: start (or resume), save answers, submit, grade - once.

The server owns the clock: an exam's deadline is its start plus the time limit; answers are
accepted until the deadline plus a short grace; an attempt left open past that is graded from
its saved answers as of the deadline, by whoever touches it next (or `trainer attempts
close-overdue`). Exactly-once grading rests on the database, not on timing: the submit that
flips the status from in_progress to graded grades; every other gets the stored result.

Who holds the transaction. Most functions here take the caller's session (a request's unit of
work, trainer.web.unit, or `Database.write()` in tools) and never commit. These take the
`Database` and run short transactions of their own instead, each for a reason:

- Exam day's hot paths, shared by the API and the pages. `start_exam` and `start_practice`
  assemble the paper outside any transaction and store it in one short write (an exam start
  first grades the viewer's overdue exams); the paper enters the process's cache only once
  that write is committed, and a start that loses the race for the one open exam finds the
  winner after its own transaction failed. `save_answers` (the answer form's one call: all or
  nothing) checks against the cached paper (`check_answers`) and stores with one prebuilt
  statement on a bare connection (`store_answers`); the API's single exam save checks the same
  way and is stored by the app's group commit (trainer.quizzes.answer_writer, `store_answer`
  in its transaction); `answer_form` hands the form the cached paper (read in a
  session of its own on a miss); each answer is stored with its mark. `submit` grades under
  the attempt's row lock, certificate included, by adding up those marks. A new attempt's view
  is built from the paper in hand (`Started.view`); `attempt_view_apart` reads the view a start
  route returns when it resumed an open attempt. These routes hold no
  unit of work, and a form post calls them before it opens its own (on SQLite, a write unit
  opened first would hold the one write lock they need).
- `close_overdue`: an exam past its deadline is graded before a GET page or route shows it,
  and a GET's unit only reads; a form post grades in its own unit (`close_overdue_in`). The
  exam start and `trainer attempts close-overdue` use it too.
- `record_read`: opening a module (its `async` page, no unit; or the API's GET) records the
  first read.
- `regrade`, `correct_key`: tools, one transaction per attempt, so a long run holds no lock
  for long and stops with the attempts before it done. (`corrections_of`, read by the
  trainer's item page, takes the caller's session like the rest.)
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NamedTuple, NoReturn

import pydantic_core
from sqlalchemy import (
    Connection,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm.attributes import set_committed_value

from trainer import metrics
from trainer.access import Viewer
from trainer.audit import service as audit
from trainer.caching import LRU, CacheSlot, caches_of
from trainer.certification import service as certification
from trainer.certification.models import FACT_COLUMNS, Certificate
from trainer.certification.policy import Facts, State, state_at
from trainer.content.library import Course, Library, Module, ModuleVersion
from trainer.db import Database
from trainer.errors import DomainError
from trainer.localtime import local, utc_offset
from trainer.people.models import User
from trainer.quizzes import snapshot
from trainer.quizzes.assembly import CannotDrawError, assemble
from trainer.quizzes.models import (
    GRADED,
    IN_PROGRESS,
    VOIDED,
    Attempt,
    AttemptAnswer,
    AttemptPaper,
    KeyCorrection,
    ModuleRead,
    ModuleVersionRead,
    Paper,
    PreparedPaper,
)
from trainer.quizzes.scoring import AnswerKey, ResponseError, score
from trainer.sittings import rules as sitting_rules
from trainer.sittings.models import Sitting, SittingPerson, on_roster, roster_params
from trainer.tallies.results import record_graded, record_regraded, record_voided

GRACE = timedelta(seconds=30)  # network and clock slack after the deadline
MAX_RESPONSE_BYTES = 10_000


@dataclass(frozen=True)
class Certifying:
    """What grading needs to issue certificates: the library (course policies) and the number
    prefix. Passed explicitly, so grading without it (tools, tests) never issues by accident."""

    library: Library
    prefix: str


@dataclass(frozen=True)
class Result:
    id: int
    status: str
    score: float | None
    max_score: float
    passed: bool | None
    kind: str
    course_id: str
    module_id: str | None
    started_at: datetime
    submitted_at: datetime | None


# -- reading and completion ------------------------------------------------------------------


# Reads this process has stored or seen stored, per version read. A read is never undone, so
# remembering it is exact; it spares a signed-in module page its database query and worker-thread
# trip. Keyed (user, module, language, file hash): a changed module is a new read to record.
READS_CACHE_SIZE = 100_000
_READS: CacheSlot[tuple[int, str, str, str], bool] = CacheSlot("module reads", READS_CACHE_SIZE)


def _read_key(viewer: Viewer, module: Module, version: ModuleVersion | None) -> tuple[int, str, str, str]:
    shown = version or module.original
    return (viewer.id, module.id, shown.lang, shown.sha256)


def known_read(
    database: Database, viewer: Viewer, module: Module, version: ModuleVersion | None = None
) -> bool:
    """Whether this process knows this version of the module was read already (memory only)."""
    return _read_key(viewer, module, version) in database.caches[_READS]


# Both reads are inserts that do nothing when the row exists: two first views at once store one.
_IGNORING_INSERT: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def record_read(
    database: Database, viewer: Viewer, module: Module, now: datetime, version: ModuleVersion | None = None
) -> None:
    """Opening a module: its first read (completion needs it) and the version read (`version`,
    the language version shown; the original if None), each stored once."""
    key = _read_key(viewer, module, version)
    if key in database.caches[_READS]:
        return
    _, _, lang, sha256 = key
    with database.session() as db:
        first = db.scalar(_FIRST_READ, {"user_id": viewer.id, "module_id": module.id})
        seen = db.scalar(
            _VERSION_READ, {"user_id": viewer.id, "module_id": module.id, "lang": lang, "sha256": sha256}
        )
    if first is None or seen is None:
        with database.write() as db:
            insert = _IGNORING_INSERT[db.get_bind().dialect.name]
            if first is None:
                db.execute(
                    insert(ModuleRead)
                    .values(user_id=viewer.id, course_id=module.course_id, module_id=module.id, read_at=now)
                    .on_conflict_do_nothing(index_elements=["user_id", "module_id"])
                )
            if seen is None:
                db.execute(
                    insert(ModuleVersionRead)
                    .values(user_id=viewer.id, module_id=module.id, lang=lang, sha256=sha256, read_at=now)
                    .on_conflict_do_nothing()
                )
    database.caches[_READS].put(key, True)


_FIRST_READ = select(ModuleRead.id).where(
    ModuleRead.user_id == bindparam("user_id"), ModuleRead.module_id == bindparam("module_id")
)
_VERSION_READ = select(ModuleVersionRead.read_at).where(
    ModuleVersionRead.user_id == bindparam("user_id"),
    ModuleVersionRead.module_id == bindparam("module_id"),
    ModuleVersionRead.lang == bindparam("lang"),
    ModuleVersionRead.sha256 == bindparam("sha256"),
)


def course_progress(db: DbSession, user_id: int, course: Course) -> tuple[frozenset[str], frozenset[str]]:
    """The modules of a course the person completed (read, and practice passed where there is
    one), and those whose practice quiz they passed: the course page's ticks."""
    done = completed_modules(db, user_id, [course])[course.id]
    practised = practice_passed(db, user_id, [m.id for m in course.modules])
    return frozenset(done), frozenset(practised)


# The reads of an exam start, built once: on exam day thousands of starts arrive in the same
# minute, and building a SQLAlchemy statement costs more than running it (a cProfile of 300
# starts: building statements took about a fifth of a start; built once, a start cost 22 ms CPU
# instead of 25 on the loaded 2-core machine of 2026-12-04).
_MODULES_READ = select(ModuleRead.module_id).where(
    ModuleRead.user_id == bindparam("user_id"), ModuleRead.module_id.in_(bindparam("ids", expanding=True))
)
_PRACTICE_PASSED = select(Attempt.module_id).where(
    Attempt.user_id == bindparam("user_id"),
    Attempt.kind == "practice",
    Attempt.passed.is_(True),
    Attempt.module_id.in_(bindparam("ids", expanding=True)),
)
_OPEN_EXAM = select(Attempt.id).where(
    Attempt.user_id == bindparam("user_id"),
    Attempt.course_id == bindparam("course_id"),
    Attempt.kind == "exam",
    Attempt.status == IN_PROGRESS,
)
# What an exam start checks, in one statement (each a lookup on an index of the person's rows):
# on PostgreSQL every statement is a round trip, and each one run through the ORM session cost
# more CPU than the lookup itself. The current certificate comes by an outer join (none: NULLs);
# the exams counted are those of its certification cycle (graded after it was issued).
_EXAM_OF_COURSE = and_(
    Attempt.user_id == bindparam("user_id"),
    Attempt.course_id == bindparam("course_id"),
    Attempt.kind == "exam",
)
_COUNTED = and_(
    _EXAM_OF_COURSE,
    Attempt.status == GRADED,
    or_(Certificate.issued_at.is_(None), Attempt.submitted_at > Certificate.issued_at),
)


def _start_facts_of(modules: Sequence[Any], practices: Sequence[Any]) -> Select[Any]:
    """The start's rules in one statement, for a course's module and practice ids (as bind
    parameters: `_start_facts_shaped`)."""
    return (
        select(
            select(Attempt.id)
            .where(_EXAM_OF_COURSE, Attempt.status == IN_PROGRESS)
            .limit(1)
            .scalar_subquery()
            .label("open_id"),
            exists()
            .where(
                Attempt.user_id == bindparam("user_id"),
                Attempt.status == IN_PROGRESS,
                Attempt.deadline.is_not(None),
                Attempt.deadline < bindparam("before"),
            )
            .label("overdue"),
            select(func.count(func.distinct(ModuleRead.module_id)))
            .where(ModuleRead.user_id == bindparam("user_id"), ModuleRead.module_id.in_(modules))
            .scalar_subquery()
            .label("modules_read"),
            select(func.count(func.distinct(Attempt.module_id)))
            .where(
                Attempt.user_id == bindparam("user_id"),
                Attempt.kind == "practice",
                Attempt.passed.is_(True),
                Attempt.module_id.in_(practices),
            )
            .scalar_subquery()
            .label("practice_passed"),
            select(func.count()).where(_COUNTED).scalar_subquery().label("exams_taken"),
            select(func.max(Attempt.submitted_at)).where(_COUNTED).scalar_subquery().label("last_taken"),
            # What a paper drawn ahead was drawn after (trainer.sittings.papers): any attempt in the
            # course since, and what the person has seen changed.
            select(func.max(Attempt.id))
            .where(Attempt.user_id == bindparam("user_id"), Attempt.course_id == bindparam("course_id"))
            .scalar_subquery()
            .label("latest_attempt"),
            Certificate.issued_at,
            *FACT_COLUMNS,
        )
        .select_from(User)
        .outerjoin(
            Certificate,
            and_(
                Certificate.user_id == User.id,
                Certificate.course_id == bindparam("course_id"),
                Certificate.is_current.is_(True),
            ),
        )
        .where(User.id == bindparam("user_id"))
    )


@functools.lru_cache(maxsize=64)
def _start_facts_shaped(modules: int, practices: int) -> Select[Any]:
    """`_start_facts_of` for a course of `modules` modules, `practices` of them with a practice
    quiz: each id a bind parameter of its own (`module_0`..., `practice_0`...), so a statement is
    compiled once per shape and nothing is rendered per start. An expanding IN list is rendered
    into the SQL at every execution (6% of a start's CPU in an in-process profile)."""
    return _start_facts_of(
        [bindparam(f"module_{i}") for i in range(modules)],
        [bindparam(f"practice_{i}") for i in range(practices)],
    )


_START_FACTS = _start_facts_shaped(2, 1)  # one shape, for the query-plan tests


@dataclass(frozen=True)
class _StartFacts:
    open_id: int | None
    overdue: bool  # an exam of the person's is past its deadline and grace, ungraded
    modules_read: int  # of the course's modules
    practice_passed: int  # of its modules with a practice quiz
    practices: int  # how many of its modules have one
    exams_taken: int  # graded exams of the course in this certification cycle
    last_taken: datetime | None
    certificate: Facts | None  # the current one
    latest_attempt: int  # the person's latest attempt in the course (exam or practice); 0: none


def _start_facts(db: DbSession, viewer: Viewer, course: Course, now: datetime) -> _StartFacts:
    practices = [m.id for m in course.modules if m.practice is not None]
    params: dict[str, Any] = {"user_id": viewer.id, "course_id": course.id, "before": now - GRACE}
    params |= {f"module_{i}": m.id for i, m in enumerate(course.modules)}
    params |= {f"practice_{i}": module_id for i, module_id in enumerate(practices)}
    row = (
        db.connection()  # Core: the ORM's execution path cost more than this statement
        .execute(_start_facts_shaped(len(course.modules), len(practices)), params)
        .one()
    )
    return _StartFacts(
        open_id=row.open_id,
        overdue=bool(row.overdue),
        modules_read=row.modules_read,
        practice_passed=row.practice_passed,
        practices=len(practices),
        exams_taken=row.exams_taken,
        last_taken=row.last_taken,
        certificate=Facts.from_row(row) if row.issued_at is not None else None,
        latest_attempt=row.latest_attempt or 0,
    )


_PAPERS_SEEN = (
    select(Paper.snapshot)
    .join(AttemptPaper, AttemptPaper.paper_id == Paper.id)
    .join(Attempt, Attempt.id == AttemptPaper.attempt_id)
    .where(Attempt.user_id == bindparam("user_id"), Attempt.course_id == bindparam("course_id"))
)
_OVERDUE_OF = (
    select(Attempt.id)
    .where(
        Attempt.user_id == bindparam("user_id"),
        Attempt.status == IN_PROGRESS,
        Attempt.deadline.is_not(None),
        Attempt.deadline < bindparam("before"),
    )
    .order_by(Attempt.id)
)


def completed_modules(db: DbSession, user_id: int, courses: Iterable[Course]) -> dict[str, set[str]]:
    """Per course, the modules read and (where they have a practice quiz) passed: two queries
    whatever the number of courses."""
    courses = list(courses)
    ids = [m.id for course in courses for m in course.modules]
    read = set(db.scalars(_MODULES_READ, {"user_id": user_id, "ids": ids}))
    passed = set(db.scalars(_PRACTICE_PASSED, {"user_id": user_id, "ids": ids}))
    return {
        course.id: {m.id for m in course.modules if m.id in read and (m.practice is None or m.id in passed)}
        for course in courses
    }


# -- starting ---------------------------------------------------------------------------------


def start_exam(
    database: Database,
    library: Library,
    viewer: Viewer,
    course_id: str,
    now: datetime,
    *,
    prefix: str = "HLJ",
    lang: str = snapshot.DEFAULT_LANG,
    access_code: str | None = None,
) -> int:
    """The id of the viewer's open exam for the course, or of a new one (policy permitting) in
    `lang`; for a course in `mode: sittings`, inside an open sitting the viewer is on, with its
    `access_code`. An open exam is resumed in the language it was started in."""
    return begin_exam(
        database, library, viewer, course_id, now, prefix=prefix, lang=lang, access_code=access_code
    ).attempt_id


def begin_exam(
    database: Database,
    library: Library,
    viewer: Viewer,
    course_id: str,
    now: datetime,
    *,
    prefix: str = "HLJ",
    lang: str = snapshot.DEFAULT_LANG,
    access_code: str | None = None,
) -> Started:
    """`start_exam`, with the new attempt's view (what the API's start answers)."""
    start = partial(
        _start_exam,
        database,
        library,
        viewer,
        course_id,
        now,
        prefix=prefix,
        lang=lang,
        access_code=access_code,
    )
    with metrics.counted("start", "exam"):
        try:
            return start()
        except _PreparedPaperGoneError:  # drawn again as it was taken: draw afresh
            return start(take_prepared=False)


def _start_exam(
    database: Database,
    library: Library,
    viewer: Viewer,
    course_id: str,
    now: datetime,
    *,
    prefix: str,
    lang: str,
    access_code: str | None,
    take_prepared: bool = True,
) -> Started:
    course = library.courses.get(course_id)
    if course is None or course.certification is None:
        raise DomainError(404, "no_such_exam", "no such course exam")
    policy = course.certification
    with database.session() as db:
        facts = _start_facts(db, viewer, course, now)
        if facts.overdue:
            db.close()  # its snapshot predates the grading: read again after it
            close_overdue(database, now, user_id=viewer.id, certify=Certifying(library, prefix))
            facts = _start_facts(db, viewer, course, now)
        if facts.open_id is not None:
            return Started(facts.open_id, None)
        if policy.requires == "all-modules" and (
            facts.modules_read < len(course.modules) or facts.practice_passed < facts.practices
        ):
            done = completed_modules(db, viewer.id, [course])[course.id]
            raise DomainError(
                403,
                "modules_incomplete",
                "complete every module first (read it and pass its practice quiz)",
                missing_modules=[m.id for m in course.modules if m.id not in done],
            )
        current = facts.certificate
        if current is not None and state_at(current, now) in (State.VALID, State.SUSPENDED, State.REVOKED):
            opens = current.expires_at - timedelta(days=current.renewal_window_days)
            opens_on = opens.astimezone(database.time_zone).date().isoformat()  # the day in TRAINER_TIME_ZONE
            raise DomainError(
                403,
                "renewal_not_open",
                "you hold this qualification; renewal opens on %(opens_on)s",
                opens_on=opens_on,
            )
        if facts.exams_taken >= policy.exam.max_attempts:
            raise DomainError(
                403,
                "attempts_used",
                "all %(max_attempts)s attempts of this certification cycle are used",
                max_attempts=policy.exam.max_attempts,
            )
        last = facts.last_taken
        if last is not None and now < last + timedelta(hours=policy.exam.retake_after_hours):
            wait = int((last + timedelta(hours=policy.exam.retake_after_hours) - now).total_seconds()) + 1
            raise DomainError(403, "retake_later", "a retake is allowed later", retry_after=wait)
        sitting, prepared = (
            _sitting_to_start_in(
                db,
                database,
                viewer,
                course.id,
                now,
                access_code=access_code,
                lang=lang,
                stamp=paper_stamp(library, course),
                latest_attempt=facts.latest_attempt,
            )
            if policy.exam.mode == "sittings"
            else (None, None)
        )
        if not take_prepared:
            prepared = None
        seen = seen_questions(db, viewer.id, course.id) if prepared is None else set()
    deadline = now + timedelta(minutes=policy.exam.time_limit_minutes)
    return _create(
        database,
        library,
        viewer,
        course,
        None,
        rows=policy.exam.blueprint,
        pass_mark=policy.exam.pass_mark,
        review=policy.exam.review,
        deadline=deadline,
        seen=seen,
        now=now,
        purpose="exam",
        lang=lang,
        sitting=sitting,
        time_limit_minutes=policy.exam.time_limit_minutes,
        prepared=prepared,
    )


# -- papers drawn ahead of a sitting ------------------------------------------------------------
# A sitting's papers can be drawn before it opens (trainer.sittings.papers), one per person on
# its roster; a start in the sitting then stores that paper instead of drawing one. It is taken
# only if nothing a fresh draw depends on has changed since: the library (`paper_stamp`), the
# language asked for, and what the person has seen (no attempt in the course since).


def paper_stamp(library: Library, course: Course) -> str:
    """What a course's exam paper is drawn from: its folder and the question bank as served."""
    return hashlib.sha256(f"{course.content_hash} {library.bank_hash}".encode()).hexdigest()


@dataclass(frozen=True)
class Drawn:
    """A paper as drawn: its seed, each entry's slot, question and JSON (as stored and cached),
    and its questions as a new attempt shows them (JSON: what a start answers)."""

    seed: int
    slots: list[int]
    ids: list[str]
    entries: list[str]
    served: str

    @property
    def snapshot(self) -> str:
        return "[" + ",".join(self.entries) + "]"

    @property
    def layout(self) -> str:
        """Where each entry is in `snapshot`, to cut it up again without parsing it."""
        lengths = [len(entry) for entry in self.entries]
        return json.dumps({"slots": self.slots, "ids": self.ids, "lengths": lengths})


CutPaper = tuple[list[int], list[str], list[str]]  # a paper's slots, question ids and entries (JSON)


def cut_paper(snapshot: str, layout: str) -> CutPaper | None:
    """A stored paper's slots, question ids and entries (JSON), cut up by its layout (`Drawn`'s),
    not parsed: None if the two do not fit together."""
    parts = json.loads(layout)
    entries, at = [], 1  # after the "["
    for length in parts["lengths"]:
        entries.append(snapshot[at : at + length])
        at += length + 1  # and its "," (the last one's: the "]")
    if at != len(snapshot) or not all(entry[:1] == "{" and entry[-1:] == "}" for entry in entries):
        return None
    if not len(parts["slots"]) == len(parts["ids"]) == len(entries):
        return None
    return parts["slots"], parts["ids"], entries


def draw_exam_paper(library: Library, course: Course, seen: set[str], lang: str) -> Drawn:
    """A new exam paper of the course in `lang`, its unseen questions first (`seen`)."""
    assert course.certification is not None
    return _draw(library, course, course.certification.exam.blueprint, seen, purpose="exam", lang=lang)


def _draw(library: Library, course: Course, rows: Any, seen: set[str], *, purpose: str, lang: str) -> Drawn:
    seed = secrets.randbits(63)
    try:
        served = assemble(library.bank, course.domain, rows, seed, seen, purpose=purpose)
    except CannotDrawError as error:
        raise DomainError(
            409, "cannot_draw", "the question bank cannot fill this paper: %(reason)s", reason=str(error)
        ) from None
    paper = [snapshot.snapshot_question(q, library, lang) for q in served]
    in_order = sorted(paper, key=lambda entry: int(entry["slot"]))
    return Drawn(
        seed,
        [entry["slot"] for entry in paper],
        [entry["id"] for entry in paper],
        [_entry_text(entry) for entry in paper],
        pydantic_core.to_json(new_questions(in_order)).decode("utf-8"),
    )


def new_questions(paper: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A new attempt's questions as its owner sees them, in slot order: no answers, no review."""
    return [_as_served(entry, None) for entry in paper]


def _as_served(entry: dict[str, Any], response: Any) -> dict[str, Any]:
    """A question of an open paper as its owner sees it, with their response (bank keys) if any."""
    return {**snapshot.public_question(entry), "response": snapshot.to_served(entry, response)}


@dataclass(frozen=True)
class Prepared:
    """A paper drawn ahead, as a start takes it: its seed, how many questions it has, and its
    questions as a new attempt shows them (JSON). The start links the attempt to its row of
    `papers` in the database (`_TAKE_PREPARED_PAPER`) and does not read the paper itself: it
    reaches a process's cache after the start (trainer.quizzes.paper_warmer) or on the attempt's
    first save, cut up by its layout (`_cached_paper`)."""

    sitting_id: int
    seed: int
    questions: int
    served: str


class PaperBasis(NamedTuple):
    """What a paper is drawn from, apart from chance: the language it is served in, the course's
    paper stamp (`paper_stamp`: its blueprint and bank), and the person's latest attempt of the
    course (the questions they have seen, for the unseen-first rule). A paper drawn ahead is
    still good while a draw now would have the same basis: the start takes it, and
    `trainer sittings prepare` keeps it (trainer.sittings.papers)."""

    lang: str
    stamp: str
    seen_through: int  # the latest attempt's id, 0 if none


def _prepared_paper(row: Any, *, lang: str, stamp: str, latest_attempt: int) -> Prepared | None:
    """The paper drawn ahead for this person in the sitting they start in (its columns as the
    sitting's lookup read them: NULL if none), if a draw now would have drawn from the same:
    else None (the start draws afresh)."""
    drawn_from = PaperBasis(row.prepared_lang, row.prepared_stamp, row.prepared_seen_through)
    if drawn_from != PaperBasis(lang, stamp, latest_attempt):
        return None
    questions = len(json.loads(row.prepared_layout)["ids"])
    return Prepared(row.id, int(row.prepared_seed), questions, row.prepared_served)


# -- sittings: who may start now ------------------------------------------------------------
# A course in `mode: sittings` is started only inside an open sitting the person is on (the rules
# are trainer.sittings.rules). The check is one indexed lookup on exam day's start path: the open
# sittings of this course (ix_sittings_course_closes) that name the person or list a unit above
# them (primary keys, trainer.sittings.models.on_roster), with their extra time and whether they
# handed in there already, and the person's paper drawn ahead for each (one round trip, not two).
# The next sitting, for the refusal, is looked up only when refusing.


# Built once (building the statement per start cost more than running it); the person and the
# moment come as parameters.
_SITTINGS_OPEN_TO_START_IN = (
    select(
        Sitting.id,
        Sitting.opens_at,
        Sitting.closes_at,
        Sitting.late_entry_minutes,
        Sitting.access_code,
        Sitting.place,
        func.coalesce(SittingPerson.extra_minutes, 0),
        # The person's own exams of the course (ix_attempts_user_course: a handful of rows), not
        # the sitting's (ix_attempts_sitting_id: every start of the storm so far).
        exists()
        .where(
            Attempt.user_id == bindparam("roster_user"),
            Attempt.course_id == Sitting.course_id,
            Attempt.kind == "exam",
            Attempt.sitting_id == Sitting.id,
            Attempt.status == GRADED,
        )
        .correlate(Sitting)
        .label("handed_in"),
        PreparedPaper.lang.label("prepared_lang"),
        PreparedPaper.stamp.label("prepared_stamp"),
        PreparedPaper.seen_through.label("prepared_seen_through"),
        PreparedPaper.seed.label("prepared_seed"),
        Paper.layout.label("prepared_layout"),
        PreparedPaper.served.label("prepared_served"),
    )
    .outerjoin(
        SittingPerson,
        and_(SittingPerson.sitting_id == Sitting.id, SittingPerson.user_id == bindparam("roster_user")),
    )
    .outerjoin(
        PreparedPaper,
        and_(PreparedPaper.sitting_id == Sitting.id, PreparedPaper.user_id == bindparam("roster_user")),
    )
    .outerjoin(Paper, Paper.id == PreparedPaper.paper_id)
    .where(
        Sitting.course_id == bindparam("course_id"),
        Sitting.closes_at > bindparam("now"),
        Sitting.opens_at <= bindparam("now"),
        Sitting.closed_at.is_(None),
        on_roster(),
    )
    .order_by(Sitting.opens_at, Sitting.id)
)
# The paper drawn ahead is not read here, on either database: the start answers with its
# questions as served (`served`), and the paper is read into the process's cache after the
# start, while its exam threads are idle (trainer.quizzes.paper_warmer; else by its first save,
# `_paper_in`). Reading it at the start (as SQLite's start did, to cache it in the one process)
# cost about a tenth of a prepared start (1.83 against 1.58-1.68 ms of CPU each, measured on
# 1,000 starts in process), and a sitting's starts all come at once while its saves spread out.
# The real-pace saves at 2,000 on SQLite have a p99 tail either way (full runs: 142 ms with the
# read left to the first save, 117 with it at the start), so the tail is not this read's.


_CANDIDATE_COLUMNS = len(fields(sitting_rules.Candidate))  # the rest: the paper drawn ahead


def _roster_params(viewer: Viewer) -> dict[str, object]:
    return roster_params(viewer.id, viewer.unit_lineage, inspector="inspector" in viewer.roles)


def _sitting_to_start_in(
    db: DbSession,
    database: Database,
    viewer: Viewer,
    course_id: str,
    now: datetime,
    *,
    access_code: str | None,
    lang: str,
    stamp: str,
    latest_attempt: int,
) -> tuple[int, Prepared | None]:
    """The sitting the person starts in, and their paper drawn ahead for it if still good (else
    None: the start draws one); a refusal says why and names their next sitting."""
    rows: Sequence[Any] = (
        db.connection()
        .execute(
            _SITTINGS_OPEN_TO_START_IN,
            {**_roster_params(viewer), "course_id": course_id, "now": now},
        )
        .all()
    )
    candidates = [sitting_rules.Candidate(*row[:_CANDIDATE_COLUMNS]) for row in rows]
    verdict = sitting_rules.admit(candidates, now, access_code)
    if isinstance(verdict, sitting_rules.Candidate):
        row = next(row for row in rows if row[0] == verdict.sitting_id)
        return verdict.sitting_id, _prepared_paper(row, lang=lang, stamp=stamp, latest_attempt=latest_attempt)
    following = _next_sitting(db, viewer, course_id, now)
    nxt = (
        {
            "id": following.id,
            "opens_at": following.opens_at.isoformat(),
            "closes_at": following.closes_at.isoformat(),
            "place": following.place,
        }
        if following is not None
        else None
    )
    said = _said(database, following.opens_at, following.place) if following is not None else None
    if verdict is None:
        if said is None:
            raise DomainError(
                403,
                "no_sitting_open",
                "no sitting open for you now, and none is scheduled for you",
                next_sitting=None,
            )
        raise DomainError(
            403, "no_sitting_open", "no sitting open for you now; next: %(next)s", next=said, next_sitting=nxt
        )
    refused: dict[str, Any] = {"sitting_id": verdict.sitting.sitting_id, "next_sitting": nxt}
    if verdict.code == "access_code_wrong":
        raise DomainError(
            403,
            "access_code_wrong",
            "the access code is missing or wrong: ask the sitting's supervisor",
            **refused,
        )
    if verdict.code == "late_entry_closed":
        cutoff = sitting_rules.late_entry_until(verdict.sitting.opens_at, verdict.sitting.late_entry_minutes)
        assert cutoff is not None
        refused["late_entry_until"] = cutoff.isoformat()
        cutoff_said = _said(database, cutoff, verdict.sitting.place)
        if said is None:
            raise DomainError(
                403,
                "late_entry_closed",
                "late entry to this sitting closed at %(cutoff)s, and no later sitting is scheduled for you",
                cutoff=cutoff_said,
                **refused,
            )
        raise DomainError(
            403,
            "late_entry_closed",
            "late entry to this sitting closed at %(cutoff)s; next: %(next)s",
            cutoff=cutoff_said,
            next=said,
            **refused,
        )
    if said is None:
        raise DomainError(403, "already_handed_in", "you have handed in your exam of this sitting", **refused)
    raise DomainError(
        403,
        "already_handed_in",
        "you have handed in your exam of this sitting; next: %(next)s",
        next=said,
        **refused,
    )


def _next_sitting(db: DbSession, viewer: Viewer, course_id: str, now: datetime) -> Sitting | None:
    return db.scalar(
        select(Sitting)
        .where(
            Sitting.course_id == course_id,
            Sitting.opens_at > now,
            Sitting.closed_at.is_(None),
            on_roster(),
        )
        .order_by(Sitting.opens_at, Sitting.id)
        .limit(1),
        _roster_params(viewer),
    )


def _said(database: Database, moment: datetime, place: str) -> str:
    """A moment and place in a refusal: in TRAINER_TIME_ZONE, the zone named (the API speaks
    English; pages show their own words around `next_sitting`)."""
    wall = local(moment, database.time_zone)
    text = f"{wall:%Y-%m-%d %H:%M} ({database.time_zone.key}, {utc_offset(moment, database.time_zone)})"
    return f"{text}, {place}" if place else text


def start_practice(
    database: Database,
    library: Library,
    viewer: Viewer,
    module_id: str,
    now: datetime,
    *,
    lang: str = snapshot.DEFAULT_LANG,
) -> int:
    return begin_practice(database, library, viewer, module_id, now, lang=lang).attempt_id


def begin_practice(
    database: Database,
    library: Library,
    viewer: Viewer,
    module_id: str,
    now: datetime,
    *,
    lang: str = snapshot.DEFAULT_LANG,
) -> Started:
    """`start_practice`, with the new attempt's view."""
    module = library.modules.get(module_id)
    if module is None or module.practice is None:
        raise DomainError(404, "no_such_practice", "no practice quiz for this module")
    course = library.courses[module.course_id]
    with database.session() as db:
        seen = seen_questions(db, viewer.id, course.id)
    return _create(
        database,
        library,
        viewer,
        course,
        module,
        rows=module.practice.draw,
        pass_mark=module.practice.pass_mark,
        review="immediate",
        deadline=None,
        seen=seen,
        now=now,
        purpose="practice",
        lang=lang,
    )


def _open_exam(db: DbSession, user_id: int, course_id: str) -> int | None:
    return db.scalar(_OPEN_EXAM, {"user_id": user_id, "course_id": course_id})


def seen_questions(db: DbSession, user_id: int, course_id: str) -> set[str]:
    """The questions of every paper the person was served in the course (exams and practice)."""
    seen: set[str] = set()
    for (paper,) in db.connection().execute(_PAPERS_SEEN, {"user_id": user_id, "course_id": course_id}):
        seen.update(entry["id"] for entry in json.loads(paper))
    return seen


def _create(
    database: Database,
    library: Library,
    viewer: Viewer,
    course: Course,
    module: Module | None,
    *,
    rows: Any,
    pass_mark: float,
    review: str,
    deadline: datetime | None,
    seen: set[str],
    now: datetime,
    purpose: str,
    lang: str,
    sitting: int | None = None,
    time_limit_minutes: int = 0,
    prepared: Prepared | None = None,
) -> Started:
    drawn: Drawn | None = None
    in_hand: CutPaper | None  # the paper's parts, if this process has them (kept in its cache)
    if prepared is not None:
        seed, questions, served, in_hand = prepared.seed, prepared.questions, prepared.served, None
    else:
        drawn = _draw(library, course, rows, seen, purpose=purpose, lang=lang)
        seed, questions, served = drawn.seed, len(drawn.entries), drawn.served
        in_hand = drawn.slots, drawn.ids, drawn.entries
    kind = "practice" if module else "exam"
    row = {
        "user_id": viewer.id,
        "unit_id": viewer.unit_id,
        "kind": kind,
        "course_id": course.id,
        "module_id": module.id if module else None,
        "content_hash": course.content_hash,
        "seed": seed,
        "status": IN_PROGRESS,
        "started_at": now,
        "deadline": deadline,
        "submitted_at": None,
        "score": None,
        "max_score": float(questions),
        "pass_mark": pass_mark,
        "passed": None,
        "review": review,
        "sitting_id": sitting,
    }
    try:
        # The attempt and its audit entry on a Core connection: the ORM session's execution
        # path cost more than these statements, under the write lock every start waits for.
        with database.write_connection(unlimited=False) as conn:
            if sitting is not None:
                row["deadline"] = _sitting_deadline(conn, sitting, viewer, now, time_limit_minutes)
            attempt_id = int(conn.execute(_INSERT_ATTEMPT, row).scalar_one())
            if drawn is not None:
                paper = {"snapshot": drawn.snapshot, "layout": drawn.layout}
                paper_id = int(conn.execute(_INSERT_PAPER, paper).scalar_one())
                conn.execute(_INSERT_ATTEMPT_PAPER, {"attempt_id": attempt_id, "paper_id": paper_id})
            else:
                assert prepared is not None
                taken = {"prepared_sitting": prepared.sitting_id, "prepared_user": viewer.id}
                linked = conn.execute(
                    _TAKE_PREPARED_PAPER, taken | {"prepared_seed": seed, "new_attempt_id": attempt_id}
                )
                if linked.rowcount != 1:  # drawn again or purged since it was read: not the paper it
                    raise _PreparedPaperGoneError  # answers with (the attempt's row is rolled back too)
            if module is None:
                audit.append(
                    conn,
                    audit.key_of(database.audit_key),
                    "exam.started",
                    audit.Actor(viewer.id, viewer.username),
                    target_type="attempt",
                    target_id=attempt_id,
                    details={
                        "course": course.id,
                        "seed": seed,
                        "lang": lang,
                        **({"prepared": True} if prepared is not None else {}),  # drawn ahead
                    },
                )
    except IntegrityError:
        # A concurrent start won the race for the one open exam: resume that one.
        with database.session() as db:
            open_id = _open_exam(db, viewer.id, course.id)
        if open_id is None:
            raise
        return Started(open_id, None)
    # Its first view and every answer save read the paper from here, not the database (a paper
    # drawn ahead, not read by the start, gets here after it: trainer.quizzes.paper_warmer, or
    # its first save's `_paper_in`).
    if in_hand is not None:
        _remember_paper(database, attempt_id, _Paper.of(viewer.id, kind, review, lang, in_hand))
    # What the start route answers, from the paper in hand: a new attempt has no answers, shows
    # nothing of its review yet, and was not overdue a moment ago (no re-read, no re-parse); its
    # questions as serialised when the paper was drawn.
    header = {
        "id": attempt_id,
        "kind": kind,
        "course_id": course.id,
        "module_id": row["module_id"],
        "status": IN_PROGRESS,
        "started_at": now,
        "submitted_at": None,
        "deadline": row["deadline"],
        "score": None,
        "max_score": row["max_score"],
        "passed": None,
        "lang": lang,
        "lang_stored": True,
        "review": "none",
        "questions": [],
    }
    return Started(attempt_id, header, served, sitting)


def _entry_text(entry: dict[str, Any]) -> str:
    """A snapshot entry as stored and cached: its JSON, by pydantic-core's encoder (measured on a
    50-question paper: 0.15 ms against the json module's 0.75 ms; the same JSON, UTF-8 as is)."""
    return pydantic_core.to_json(entry).decode("utf-8")


# The attempt's row, its paper and the link between them as prebuilt statements: the ORM's unit
# of work cost more than the inserts.
_INSERT_ATTEMPT = insert(Attempt).returning(Attempt.id)
_INSERT_PAPER = insert(Paper).returning(Paper.id)
_INSERT_ATTEMPT_PAPER = insert(AttemptPaper)
# A start that takes a paper drawn ahead links its attempt to that paper's row: nothing of the
# 60-90 kB paper is copied or crosses to the app (copying it was about 22 pages of SQLite's WAL
# under the write lock every start of a sitting waits for). Only the paper read, by its seed (a
# paper drawn again since has another: `_PreparedPaperGoneError`). Its row count says whether it
# was there (kept on request, as for the answer upsert).
_TAKE_PREPARED_PAPER = (
    insert(AttemptPaper)
    .from_select(
        ["attempt_id", "paper_id"],
        select(
            bindparam("new_attempt_id", type_=AttemptPaper.attempt_id.type),
            PreparedPaper.paper_id,
        ).where(
            PreparedPaper.sitting_id == bindparam("prepared_sitting"),
            PreparedPaper.user_id == bindparam("prepared_user"),
            PreparedPaper.seed == bindparam("prepared_seed"),
        ),
    )
    .execution_options(preserve_rowcount=True)
)


class _PreparedPaperGoneError(Exception):
    """The paper drawn ahead that a start read was drawn again or purged before the start
    stored it: the start draws afresh."""


_DELETE_PAPERS_NOT_HELD = delete(Paper).where(
    Paper.id.in_(bindparam("paper_ids", expanding=True)),
    ~exists().where(AttemptPaper.paper_id == Paper.id),
)


def delete_papers_not_held(conn: Connection | DbSession, paper_ids: Sequence[int]) -> int:
    """Delete those of these papers (drawn ahead and let go: redrawn, or their sitting over) that
    no attempt holds; a paper a start took lives on with its attempt. Returns how many went.

    On PostgreSQL a start may take one of them while this runs, its link not yet committed: the
    delete then fails on the link's reference when the start commits. Tried as a whole, then one
    by one, each in a savepoint: whatever was taken stays, the rest go."""
    ids = list(paper_ids)
    if not ids:
        return 0
    try:
        with conn.begin_nested():
            return int(conn.execute(_DELETE_PAPERS_NOT_HELD, {"paper_ids": ids}).rowcount or 0)  # type: ignore[attr-defined]
    except IntegrityError:
        pass
    deleted = 0
    for paper_id in ids:
        try:
            with conn.begin_nested():
                result = conn.execute(_DELETE_PAPERS_NOT_HELD, {"paper_ids": [paper_id]})
                deleted += int(result.rowcount or 0)  # type: ignore[attr-defined]
        except IntegrityError:
            continue  # taken by a start meanwhile: it is that attempt's paper now
    return deleted


@dataclass(frozen=True)
class Started:
    """A start's outcome: the attempt, and the view a start route answers when it is new (None:
    an open attempt was resumed, to be read as stored): its fields, with `questions` empty, and
    the questions as JSON (`new_questions`, serialised once, when the paper was drawn)."""

    attempt_id: int
    view: dict[str, Any] | None
    questions: str = "[]"
    sitting_id: int | None = None  # a new exam's sitting


_SITTING_FOR_START = (
    select(Sitting.closes_at, Sitting.closed_at, func.coalesce(SittingPerson.extra_minutes, 0))
    .outerjoin(
        SittingPerson,
        and_(SittingPerson.sitting_id == Sitting.id, SittingPerson.user_id == bindparam("user_id")),
    )
    .where(Sitting.id == bindparam("sitting_id"))
    .with_for_update(read=True, key_share=True, of=Sitting)
)


def _sitting_deadline(
    conn: Connection, sitting_id: int, viewer: Viewer, now: datetime, time_limit: int
) -> datetime:
    """Inside the start's write: the sitting is still open (a supervisor's close takes this row's
    lock, FOR UPDATE, and this start shares it, FOR KEY SHARE: one waits for the other, so the
    close never misses an exam started as it closed), and the person's extra time as it is now."""
    row = conn.execute(_SITTING_FOR_START, {"sitting_id": sitting_id, "user_id": viewer.id}).one()
    closes_at, closed_at, extra = row
    if sitting_rules.is_over(closes_at, closed_at, now):
        raise DomainError(403, "sitting_closed", "the sitting closed as your exam was starting")
    return sitting_rules.deadline(now, time_limit, extra, closes_at)


# -- answering and submitting -----------------------------------------------------------------


# Built once: a deadline burst grades thousands at once, and building this statement per call
# (its options and lock) cost more than running it.
_FOR_GRADING = select(Attempt).where(Attempt.id == bindparam("attempt_id")).with_for_update()


def _load_for_update(db: DbSession, attempt_id: int, viewer: Viewer) -> Attempt:
    attempt = db.scalar(_FOR_GRADING, {"attempt_id": attempt_id})
    if attempt is None or attempt.user_id != viewer.id:
        # another inspector's attempt does not exist for you
        raise DomainError(404, "no_such_attempt", "no such attempt")
    return attempt


@dataclass(frozen=True)
class _Paper:
    """The parts of an attempt that never change after it starts: safe to cache in any process."""

    user_id: int
    kind: str  # "exam" or "practice"
    review: str
    # slot -> that snapshot entry as JSON text, parsed when answered: strings are invisible to
    # the garbage collector, while thousands of cached papers as dicts made each full
    # collection take hundreds of milliseconds (measured: 1,000 papers, 0.06 -> 0.25 s).
    entries: dict[int, str]
    lang: str | None  # the language it is served in; None: stored before papers had one (English)
    ids: dict[int, str]  # slot -> question id (grading's item marks, without parsing the entries)

    def entry(self, slot: int) -> dict[str, Any] | None:
        text = self.entries.get(slot)
        return None if text is None else dict(json.loads(text))

    @classmethod
    def of(cls, user_id: int, kind: str, review: str, lang: str | None, cut: CutPaper) -> _Paper:
        """From a paper's slots, question ids and entries (JSON), in slot order as drawn."""
        slots, ids, entries = cut
        return cls(
            user_id,
            kind,
            review,
            dict(zip(slots, entries, strict=True)),
            lang,
            dict(zip(slots, ids, strict=True)),
        )


def has_question(db: DbSession, attempt_id: int, slot: int) -> bool:
    """Whether the attempt's paper has a question in `slot` (the paper as cached)."""
    paper = _paper_in(db, attempt_id)
    return paper is not None and slot in paper.entries


def paper_of(db: DbSession, attempt_id: int) -> str:
    """An attempt's paper as stored (JSON: its entries in slot order)."""
    return db.scalars(
        select(Paper.snapshot)
        .join(AttemptPaper, AttemptPaper.paper_id == Paper.id)
        .where(AttemptPaper.attempt_id == attempt_id)
    ).one()


PAPER_CACHE_SIZE = 4096
_PAPERS: CacheSlot[int, _Paper] = CacheSlot("papers", PAPER_CACHE_SIZE)  # by attempt id


def _paper(database: Database, attempt_id: int) -> _Paper | None:
    """An attempt's paper, parsed once per process (an answer save would otherwise parse the
    whole snapshot, tens of kilobytes, every time); on a miss, read in a session of its own
    (the hot paths hold no unit of work)."""
    cached = database.caches[_PAPERS].get(attempt_id)
    if cached is not None:
        return cached
    with database.session() as db:
        return _paper_in(db, attempt_id)


_PAPER_OF = (
    select(Attempt.user_id, Attempt.kind, Attempt.review, Paper.snapshot, Paper.layout)
    .join(AttemptPaper, AttemptPaper.attempt_id == Attempt.id)
    .join(Paper, Paper.id == AttemptPaper.paper_id)
    .where(Attempt.id == bindparam("attempt_id"))
)


def _paper_in(db: DbSession, attempt_id: int) -> _Paper | None:
    """`_paper` read through the caller's session (the cache is its database's)."""
    papers = caches_of(db)[_PAPERS]
    cached = papers.get(attempt_id)
    if cached is not None:
        return cached
    row = db.execute(_PAPER_OF, {"attempt_id": attempt_id}).one_or_none()
    if row is None:
        return None
    return _cached_paper(papers, attempt_id, row)


def paper_is_cached(database: Database, attempt_id: int) -> bool:
    """Whether this process has the attempt's paper in memory (its saves can be checked on the
    event loop)."""
    return database.caches[_PAPERS].get(attempt_id) is not None


_PAPERS_OF = (
    select(Attempt.id, Attempt.user_id, Attempt.kind, Attempt.review, Paper.snapshot, Paper.layout)
    .join(AttemptPaper, AttemptPaper.attempt_id == Attempt.id)
    .join(Paper, Paper.id == AttemptPaper.paper_id)
    .where(Attempt.id.in_(bindparam("attempt_ids", expanding=True)))
)


def cache_papers(database: Database, attempt_ids: Sequence[int]) -> int:
    """Read the papers of these attempts (started and committed) that this process does not
    have in memory yet into its cache, in one statement: how many it read. What an exam's first
    answer save would otherwise read, one paper and one round trip at a time
    (trainer.quizzes.paper_warmer)."""
    papers = database.caches[_PAPERS]
    wanted = [attempt_id for attempt_id in attempt_ids if papers.get(attempt_id) is None]
    if not wanted:
        return 0
    with database.read_connection() as conn:
        rows = conn.execute(_PAPERS_OF, {"attempt_ids": wanted}).all()
    for row in rows:
        _cached_paper(papers, row[0], row[1:])
    return len(rows)


_OPEN_EXAMS_IN_SITTINGS = select(Attempt.id).where(
    Attempt.sitting_id.in_(bindparam("sitting_ids", expanding=True)),
    Attempt.status == IN_PROGRESS,
    Attempt.kind == "exam",
)


def papers_not_cached_in_sittings(database: Database, sitting_ids: Sequence[int]) -> list[int]:
    """The open exams of these sittings whose papers this process does not have in memory
    (started through another process, or before this one started)."""
    papers = database.caches[_PAPERS]
    with database.read_connection() as conn:
        ids = conn.scalars(_OPEN_EXAMS_IN_SITTINGS, {"sitting_ids": list(sitting_ids)}).all()
    return [attempt_id for attempt_id in ids if papers.get(attempt_id) is None]


def _cached_paper(papers: LRU[int, _Paper], attempt_id: int, row: Sequence[Any]) -> _Paper:
    """A stored paper (`_PAPER_OF`'s row) cut up (or parsed) as cached, and put in the cache."""
    user_id, kind, review, stored, layout = row
    cut = cut_paper(stored, layout) if layout is not None else None
    if cut is not None:  # cut up by its layout: no parse (the first entry says the language)
        lang = snapshot.paper_lang([json.loads(cut[2][0])] if cut[2] else [])
    else:  # stored before papers had a layout: parsed, each entry serialised as cached
        entries = json.loads(stored)
        lang = snapshot.paper_lang(entries)
        cut = [e["slot"] for e in entries], [e["id"] for e in entries], [_entry_text(e) for e in entries]
    paper = _Paper.of(user_id, kind, review, lang, cut)
    # Safe to remember from any session: a paper is read only once its start has committed, and
    # never changes after.
    papers.put(attempt_id, paper)
    return paper


def _remember_paper(database: Database, attempt_id: int, paper: _Paper) -> None:
    database.caches[_PAPERS].put(attempt_id, paper)


# The answer save is the most frequent write of exam day, so its statements are built once
# (building SQLAlchemy statements per call cost more than running them). A save is one
# statement: the answer goes in only if its attempt is open and within its time, and the attempt
# row is locked while it does (FOR UPDATE on PostgreSQL; SQLite's write transaction is exclusive
# anyway), so a save and a submit of the same attempt never interleave: no answer changes after
# grading. A check and an upsert of their own were a round trip more on PostgreSQL, and a
# statement more under SQLite's write lock.
_ANSWERS: Table = AttemptAnswer.__table__  # type: ignore[assignment]
_ATTEMPT_STATE = select(Attempt.status, Attempt.deadline).where(Attempt.id == bindparam("attempt_id"))
_ANSWERED = select(AttemptAnswer.id).where(
    AttemptAnswer.attempt_id == bindparam("attempt_id"), AttemptAnswer.slot == bindparam("slot")
)


def _answer_upsert(insert: Any) -> Any:
    columns = _ANSWERS.c
    into_open_attempt = (
        select(
            Attempt.id,
            bindparam("slot", type_=columns.slot.type),
            bindparam("response", type_=columns.response.type),
            bindparam("saved_at", type_=columns.saved_at.type),
            bindparam("score", type_=columns.score.type),
        )
        .where(
            Attempt.id == bindparam("attempt_id"),
            Attempt.status == IN_PROGRESS,
            or_(Attempt.deadline.is_(None), Attempt.deadline >= bindparam("in_time_since")),
        )
        .with_for_update()
    )
    insert_into = insert(_ANSWERS).from_select(
        ["attempt_id", "slot", "response", "saved_at", "score"], into_open_attempt
    )
    upsert = insert_into.on_conflict_do_update(
        index_elements=["attempt_id", "slot"],
        set_={
            "response": insert_into.excluded.response,
            "saved_at": insert_into.excluded.saved_at,
            "score": insert_into.excluded.score,
        },
    )
    # The rows it stored say whether the attempt was open: SQLAlchemy keeps an INSERT's count
    # only when asked (psycopg's cursor is closed before it is read).
    return upsert.execution_options(preserve_rowcount=True)


# One per dialect, built at import like the statements above (a constant table, not a cache).
_ANSWER_UPSERTS = {"postgresql": _answer_upsert(postgresql.insert), "sqlite": _answer_upsert(sqlite.insert)}


def save_answers(
    database: Database, viewer: Viewer, attempt_id: int, responses: dict[int, Any], *, now: datetime
) -> dict[int, dict[str, Any]]:
    """Save several answers at once, all or nothing: every response is checked and scored
    outside the write transaction (the paper never changes), then one transaction stores them
    all, each only while the attempt is open. A refusal for any one of them (closed attempt, a
    locked practice question, a response that does not fit) stores none."""
    with metrics.counted("save") as outcome:
        checked = check_answers(database, viewer, attempt_id, responses, now)
        outcome.kind = checked.kind
        store_answers(database, checked, now)
        return checked.results


@dataclass(frozen=True)
class CheckedAnswers:
    """Responses checked against their attempt's paper and scored, ready to store."""

    attempt_id: int
    kind: str  # the attempt's: "exam" or "practice"
    practice: bool  # feedback at once: each question answers once (checked when stored)
    rows: list[dict[str, Any]]  # for the answer upsert
    results: dict[int, dict[str, Any]]  # by slot: what the caller answers once they are stored


def check_answers(
    database: Database, viewer: Viewer, attempt_id: int, responses: dict[int, Any], now: datetime
) -> CheckedAnswers:
    """Check and score responses from the cached paper (no database write; no read once the
    paper is cached): 404 for another's attempt or a slot not in it, 413 and 422 for a response
    that does not fit."""
    return _checked(_paper(database, attempt_id), viewer, attempt_id, responses, now)


def check_answers_in_memory(
    database: Database, viewer: Viewer, attempt_id: int, responses: dict[int, Any], now: datetime
) -> CheckedAnswers | None:
    """`check_answers` if this process has the attempt's paper in its cache (no I/O at all: fit
    for the event loop), else None (call `check_answers` in a worker thread)."""
    paper = database.caches[_PAPERS].get(attempt_id)
    return None if paper is None else _checked(paper, viewer, attempt_id, responses, now)


def _checked(
    paper: _Paper | None, viewer: Viewer, attempt_id: int, responses: dict[int, Any], now: datetime
) -> CheckedAnswers:
    if paper is None or paper.user_id != viewer.id:
        # another inspector's attempt does not exist for you
        raise DomainError(404, "no_such_attempt", "no such attempt")
    practice = paper.review == "immediate"
    rows: list[dict[str, Any]] = []
    results: dict[int, dict[str, Any]] = {}
    for slot, given in responses.items():
        if len(json.dumps(given)) > MAX_RESPONSE_BYTES:
            raise DomainError(413, "response_too_large", "response too large", slot=slot)
        entry = paper.entry(slot)
        if entry is None:
            raise DomainError(404, "no_such_question", "no such question in this attempt", slot=slot)
        try:
            response = snapshot.to_bank(entry, given)  # served keys -> the bank's, stored and graded
            stored = json.dumps(response, ensure_ascii=False, sort_keys=True)
            # Scored as stored (what a regrade reads back), and stored with the answer: grading
            # then adds up marks under the attempt's lock instead of scoring every answer there.
            value = score(snapshot.answer_key(entry), json.loads(stored))
        except ResponseError as error:
            raise DomainError(
                422,
                "invalid_response",
                "the response does not fit the question: %(reason)s",
                reason=str(error),
                slot=slot,
            ) from None
        rows.append(
            {
                "attempt_id": attempt_id,
                "slot": slot,
                "response": stored,
                "saved_at": now,
                "score": value,
                "in_time_since": now - GRACE,
            }
        )
        results[slot] = {"slot": slot, "saved": True}
        if practice:  # feedback at once
            results[slot]["review"] = snapshot.review_question(entry, response, value)
    return CheckedAnswers(attempt_id, paper.kind, practice, rows, results)


def store_answers(database: Database, checked: CheckedAnswers, now: datetime) -> None:
    """Store checked answers in one transaction of their own, all or nothing (409 if the
    attempt is closed, its time is up, or a practice question was answered already)."""
    if not checked.rows:
        return
    rows = checked.rows
    with database.write_connection(unlimited=False) as conn:
        # Practice shows the key as soon as an answer is saved: a second answer after reading it
        # would make the practice pass (and so the way to the exam) mean nothing.
        if checked.practice:
            _refuse_unless_open(conn, checked.attempt_id, now)  # a closed attempt says so first
            for row in rows:
                if conn.execute(_ANSWERED, row).first():
                    raise DomainError(
                        409,
                        "practice_locked",
                        "this question is answered: its feedback has been shown",
                        locked=True,
                        slot=row["slot"],
                    )
        # Several (a page's form) as one executemany; both drivers count its rows.
        upserted = conn.execute(_ANSWER_UPSERTS[conn.dialect.name], rows[0] if len(rows) == 1 else rows)
        if upserted.rowcount != len(rows):
            _refused(conn, checked.attempt_id, now)


def store_answer(conn: Connection, row: dict[str, Any]) -> bool:
    """One checked exam answer, in the caller's transaction (the answer writer's batch): False
    if its attempt is not open, and then nothing is stored."""
    return bool(conn.execute(_ANSWER_UPSERTS[conn.dialect.name], row).rowcount == 1)


def refuse_closed(database: Database, attempt_id: int, now: datetime) -> NoReturn:
    """After an answer was not stored: 409 saying why (closed, or its time is up)."""
    with database.read_connection() as conn:
        _refused(conn, attempt_id, now)


def _refused(conn: Connection, attempt_id: int, now: datetime) -> NoReturn:
    """Why an answer was not stored. An open, in-time attempt cannot refuse one (its row is
    locked while the answer goes in): if it ever did, a 500 says so rather than a silent 200."""
    _refuse_unless_open(conn, attempt_id, now)
    raise AssertionError("an open attempt refused an answer")


def _refuse_unless_open(conn: Connection, attempt_id: int, now: datetime) -> None:
    """409 if the attempt is closed or its time is up (the caller's transaction then stores
    nothing)."""
    status, deadline = conn.execute(_ATTEMPT_STATE, {"attempt_id": attempt_id}).one()
    if status != IN_PROGRESS:
        raise DomainError(409, "attempt_closed", "this attempt is closed")
    if deadline is not None and now > deadline + GRACE:
        raise DomainError(
            409,
            "time_up",
            "the time is up; the attempt is graded from the answers saved before the deadline",
        )


def answer_form(database: Database, viewer: Viewer, attempt_id: int) -> tuple[str, list[dict[str, Any]]]:
    """An attempt's kind and its questions as served (what an answer form is read against),
    from the cached paper: no database read once the paper is cached."""
    paper = _paper(database, attempt_id)
    if paper is None or paper.user_id != viewer.id:
        raise DomainError(404, "no_such_attempt", "no such attempt")
    questions = [snapshot.public_question(json.loads(paper.entries[slot])) for slot in sorted(paper.entries)]
    return paper.kind, questions


# The attempt page's script hands an exam in when its clock says the time is up; a clock running
# a little fast must not hand in early, so "time up" is honoured only this close to the deadline.
TIME_UP_SLACK = timedelta(seconds=10)


def submit(
    database: Database,
    viewer: Viewer,
    attempt_id: int,
    now: datetime,
    *,
    certify: Certifying | None = None,
    time_up: bool = False,
) -> Result:
    """Grade the viewer's open attempt (once: a graded one gives its stored result).

    `time_up`: the page's script says the time is up. Honoured only for an exam within
    TIME_UP_SLACK of its deadline (else nothing changes: a clock running fast); it is then
    graded as of its deadline, as the server's own close would."""
    paper = _paper(database, attempt_id)  # from this process's cache, before the write lock
    with metrics.counted("submit") as outcome, database.write() as db:
        attempt = _load_for_update(db, attempt_id, viewer)
        outcome.kind = attempt.kind
        if time_up:
            if attempt.deadline is None or now < attempt.deadline - TIME_UP_SLACK:
                return _result(attempt)
            now = max(now, attempt.deadline)
        if attempt.status == IN_PROGRESS:
            assert paper is not None  # the attempt exists, so its paper does
            _grade(
                db, attempt, now, actor=audit.Actor(viewer.id, viewer.username), certify=certify, paper=paper
            )
        return _result(attempt)


def _grade(
    db: DbSession,
    attempt: Attempt,
    now: datetime,
    *,
    actor: audit.Actor,
    certify: Certifying | None = None,
    paper: _Paper | None = None,
) -> None:
    """Score the saved answers and close the attempt; the caller holds the row lock. `paper`:
    the attempt's, if the caller has it (read through `db` otherwise)."""
    paper = paper if paper is not None else _paper_in(db, attempt.id)
    assert paper is not None  # the caller holds the attempt's row
    with metrics.GRADING_SECONDS.labels(attempt.kind).time():
        _grade_locked(db, attempt, now, actor=actor, certify=certify, paper=paper)


# Grading under the attempt's lock is what a deadline burst queues on, so it is a few prebuilt
# statements: read the marks stored with the answers, set the attempt's result, write the item
# marks. Answers saved before marks were stored with them (score NULL) are scored here.
_ANSWER_MARKS = select(AttemptAnswer.slot, AttemptAnswer.score, AttemptAnswer.response).where(
    AttemptAnswer.attempt_id == bindparam("attempt_id")
)
_SET_MARK = (
    update(_ANSWERS)
    .where(_ANSWERS.c.attempt_id == bindparam("answer_attempt"), _ANSWERS.c.slot == bindparam("answer_slot"))
    .values(score=bindparam("mark"))
)
_ATTEMPTS: Table = Attempt.__table__  # type: ignore[assignment]
_CLOSE = (
    update(_ATTEMPTS)
    .where(_ATTEMPTS.c.id == bindparam("attempt_id"), _ATTEMPTS.c.status == IN_PROGRESS)
    .values(
        status=GRADED,
        score=bindparam("total"),
        submitted_at=bindparam("closed_at"),
        passed=bindparam("result_passed"),
    )
)


def _grade_locked(
    db: DbSession,
    attempt: Attempt,
    now: datetime,
    *,
    actor: audit.Actor,
    certify: Certifying | None,
    paper: _Paper,
) -> None:
    marks: dict[int, float] = {}
    unscored: list[dict[str, Any]] = []
    conn = db.connection()  # Core: the ORM's execution path cost more than these statements
    for slot, stored, response in conn.execute(_ANSWER_MARKS, {"attempt_id": attempt.id}):
        if slot not in paper.ids:
            continue
        mark = stored
        if mark is None:
            entry = paper.entry(slot)
            assert entry is not None
            mark = score(snapshot.answer_key(entry), json.loads(response))
            unscored.append({"answer_attempt": attempt.id, "answer_slot": slot, "mark": mark})
        marks[slot] = mark
    if unscored:
        conn.execute(_SET_MARK, unscored)
    total = sum(marks.values())
    closed_at = min(now, attempt.deadline) if attempt.deadline is not None else now
    passed = _passes(attempt, total)
    flipped = conn.execute(
        _CLOSE, {"attempt_id": attempt.id, "total": total, "closed_at": closed_at, "result_passed": passed}
    ).rowcount
    if flipped != 1:  # unreachable while the row lock is held; never grade twice regardless
        raise DomainError(409, "already_graded", "already graded")
    # The row as just written, without reading it back (and without marking it changed).
    for name, value in (
        ("status", GRADED),
        ("score", total),
        ("submitted_at", closed_at),
        ("passed", passed),
    ):
        set_committed_value(attempt, name, value)
    for answer in [obj for obj in db.identity_map.values() if isinstance(obj, AttemptAnswer)]:
        if answer.attempt_id == attempt.id:
            db.expire(answer)  # loaded earlier in this unit of work: its mark may have been NULL
    record_graded(db, attempt, [{"slot": s, "id": q} for s, q in sorted(paper.ids.items())], marks)
    if attempt.kind == "exam":
        audit.record(
            db,
            "exam.graded",
            actor,
            target_type="attempt",
            target_id=attempt.id,
            details={
                "course": attempt.course_id,
                "score": total,
                "max": attempt.max_score,
                "passed": attempt.passed,
            },
        )
        course = certify.library.courses.get(attempt.course_id) if certify is not None else None
        if certify is not None and course is not None and attempt.passed:
            served = paper_of(db, attempt.id)
            certification.issue_for(db, attempt, served, course, closed_at, prefix=certify.prefix)


def _result(attempt: Attempt) -> Result:
    return Result(
        attempt.id,
        attempt.status,
        attempt.score,
        attempt.max_score,
        attempt.passed,
        attempt.kind,
        attempt.course_id,
        attempt.module_id,
        attempt.started_at,
        attempt.submitted_at,
    )


def _overdue(db: DbSession, now: datetime, user_id: int | None) -> list[int]:
    if user_id is not None:  # every start and attempt view asks this for its viewer
        return list(db.scalars(_OVERDUE_OF, {"user_id": user_id, "before": now - GRACE}))
    statement = select(Attempt.id).where(
        Attempt.status == IN_PROGRESS, Attempt.deadline.is_not(None), Attempt.deadline < now - GRACE
    )
    return list(db.scalars(statement.order_by(Attempt.id)))


def _close(db: DbSession, attempt_id: int, now: datetime, certify: Certifying | None) -> None:
    attempt = db.scalar(select(Attempt).where(Attempt.id == attempt_id).with_for_update())
    if attempt is not None and attempt.status == IN_PROGRESS:  # a submit may have come first
        _grade(db, attempt, now, actor=audit.SYSTEM, certify=certify)


def close_overdue(
    database: Database, now: datetime, *, user_id: int | None = None, certify: Certifying | None = None
) -> int:
    """Grade every exam whose deadline plus grace has passed, from its saved answers, each in a
    short transaction of its own (see the module docstring for who calls this)."""
    with database.session() as db:
        overdue = _overdue(db, now, user_id)
    for attempt_id in overdue:
        with database.write() as db:
            _close(db, attempt_id, now, certify)
    return len(overdue)


def close_overdue_in(
    db: DbSession, now: datetime, *, user_id: int | None = None, certify: Certifying | None = None
) -> int:
    """`close_overdue` in the caller's write session (a form post's unit of work)."""
    overdue = _overdue(db, now, user_id)
    for attempt_id in overdue:
        _close(db, attempt_id, now, certify)
    return len(overdue)


def hand_in(
    database: Database,
    attempt_id: int,
    now: datetime,
    *,
    actor: audit.Actor,
    certify: Certifying | None = None,
) -> bool:
    """Grade one open exam as of `now` (a sitting's close), in a short transaction of its own
    under the attempt's row lock: the same exactly-once path as a submit. False if it was
    graded or voided meanwhile (a submit came first)."""
    with database.write() as db:
        attempt = db.scalar(select(Attempt).where(Attempt.id == attempt_id).with_for_update())
        if attempt is None or attempt.status != IN_PROGRESS:
            return False
        _grade(db, attempt, now, actor=actor, certify=certify)
        return True


def open_exams_of_sitting(db: DbSession, sitting_id: int, user_id: int | None = None) -> list[Attempt]:
    """The sitting's exams in progress (one person's, with `user_id`), locked: their deadlines are
    about to move (extra time, a new close)."""
    statement = select(Attempt).where(Attempt.sitting_id == sitting_id, Attempt.status == IN_PROGRESS)
    if user_id is not None:
        statement = statement.where(Attempt.user_id == user_id)
    return list(db.scalars(statement.order_by(Attempt.id).with_for_update()))


def void(db: DbSession, attempt_id: int, now: datetime, *, actor: audit.Actor, reason: str) -> Attempt:
    """Void an exam (a sitting's supervisor: a breach, a broken computer): it stops counting as an
    attempt used and drops out of the reports (its item marks and its month's tally are taken
    back). An exam that earned a certificate is not voided here: the certificate is revoked from
    the person's record first, by a manager, with its own reason."""
    attempt = db.scalar(select(Attempt).where(Attempt.id == attempt_id).with_for_update())
    if attempt is None or attempt.kind != "exam":
        raise DomainError(404, "no_such_attempt", "no such attempt")
    if attempt.status == VOIDED:
        raise DomainError(409, "already_voided", "this exam is voided already")
    number = db.scalar(select(Certificate.number).where(Certificate.attempt_id == attempt.id))
    if number is not None:
        raise DomainError(
            409,
            "earned_certificate",
            "this exam earned certificate %(number)s: a manager revokes it first, from the person's record",
            number=number,
        )
    was = attempt.status
    if was == GRADED:
        record_voided(db, attempt)
    attempt.status = VOIDED
    attempt.submitted_at = attempt.submitted_at or now
    audit.record(
        db,
        "exam.voided",
        actor,
        target_type="attempt",
        target_id=attempt.id,
        details={"course": attempt.course_id, "was": was, "reason": reason, "sitting": attempt.sitting_id},
    )
    return attempt


def end_open_exams_at(db: DbSession, sitting_id: int, moment: datetime) -> None:
    """A sitting closed at `moment`: its open exams' time is up then (their deadline moves back
    to it), so saves follow the deadline's rule (refused after it plus the grace) and each exam
    is graded as of the close and says its time was up.

    The rows are locked first, in attempt order, as the answer writer's batches lock them: an
    UPDATE alone locks its rows in the order it finds them, and a batch holding one exam of
    the sitting while waiting for another the close holds deadlocked with it (PostgreSQL)."""
    ending = (
        Attempt.sitting_id == sitting_id,
        Attempt.status == IN_PROGRESS,
        or_(Attempt.deadline.is_(None), Attempt.deadline > moment),
    )
    # (No exam joins meanwhile: a start waits on the sitting's row, which the close holds.)
    db.execute(select(Attempt.id).where(*ending).order_by(Attempt.id).with_for_update())
    db.execute(update(Attempt).where(*ending).values(deadline=moment))


def open_exam_ids_of_sitting(db: DbSession, sitting_id: int) -> list[int]:
    """The sitting's exams in progress, unlocked (each is then handed in under its own lock)."""
    return list(
        db.scalars(
            select(Attempt.id)
            .where(Attempt.sitting_id == sitting_id, Attempt.status == IN_PROGRESS)
            .order_by(Attempt.id)
        )
    )


# -- reading attempts -------------------------------------------------------------------------


def attempt_view_apart(
    database: Database, viewer: Viewer, attempt_id: int, now: datetime, *, certify: Certifying | None = None
) -> dict[str, Any]:
    """`attempt_view`, after `close_overdue`, in a read session of its own: what the start routes
    return (they hold no unit of work: see the module docstring)."""
    close_overdue(database, now, user_id=viewer.id, certify=certify)
    with database.session() as db:
        return attempt_view(db, viewer, attempt_id, now)


def attempt_view(db: DbSession, viewer: Viewer, attempt_id: int, now: datetime) -> dict[str, Any]:
    """The viewer's attempt as they may see it now: the paper while open, then the result and as
    much review as the course allows. Reads only: the caller has graded it if overdue
    (`close_overdue`, `close_overdue_in`). Another inspector's attempt is a 404."""
    cached = _paper_in(db, attempt_id)  # the paper never changes: parsed once per process
    if cached is None or cached.user_id != viewer.id:
        raise DomainError(404, "no_such_attempt", "no such attempt")
    attempt = db.get_one(Attempt, attempt_id)
    answers = {
        a.slot: a for a in db.scalars(select(AttemptAnswer).where(AttemptAnswer.attempt_id == attempt.id))
    }
    review_deadline = _review_deadline(db, attempt)
    paper = [json.loads(cached.entries[slot]) for slot in sorted(cached.entries)]
    header: dict[str, Any] = {
        "id": attempt.id,
        "kind": attempt.kind,
        "course_id": attempt.course_id,
        "module_id": attempt.module_id,
        "status": attempt.status,
        "started_at": attempt.started_at,
        "submitted_at": attempt.submitted_at,
        "deadline": attempt.deadline,
        "score": attempt.score,
        "max_score": attempt.max_score,
        "passed": attempt.passed,
        "lang": cached.lang or snapshot.DEFAULT_LANG,
        # Whether the paper says its language (pages show a paper stored before papers had one
        # with the reader's labels, as they always did).
        "lang_stored": cached.lang is not None,
    }
    level = review_level(attempt.review, attempt.status, review_deadline, now)
    return _shaped_view(header, attempt.review, level, paper, answers)


def _shaped_view(
    header: dict[str, Any],
    review: str,
    level: str,
    paper: list[dict[str, Any]],
    answers: dict[int, AttemptAnswer],
) -> dict[str, Any]:
    """The attempt's view from its parts: `header` (the attempt's own fields), the paper as
    served, the saved answers by slot and the review `level` (`review_level`)."""
    view = {**header, "review": level}
    marks = {slot: answer.score for slot, answer in answers.items()}
    questions = []
    for entry in paper:
        answer = answers.get(entry["slot"])
        response = json.loads(answer.response) if answer else None
        if level == "full" or (review == "immediate" and answer is not None):
            # Practice in progress: an answered question was reviewed when saved (and is locked).
            mark = answer.score if answer else 0.0
            if mark is None and answer is not None:
                mark = score(snapshot.answer_key(entry), response)
            questions.append(snapshot.review_question(entry, response, mark))
        else:
            questions.append(_as_served(entry, response))
    if level == "by_tag":
        view["breakdown"] = breakdown(paper, marks)
    view["questions"] = questions
    return view


def _review_deadline(db: DbSession, attempt: Attempt) -> datetime | None:
    """The moment `after_deadline` waits for: the attempt's deadline, or for an exam of a sitting
    the sitting's end for everyone on it (trainer.sittings.rules.review_opens_at)."""
    if attempt.sitting_id is None or attempt.review != "after_deadline":
        return attempt.deadline
    closes_at, closed_at = db.execute(
        select(Sitting.closes_at, Sitting.closed_at).where(Sitting.id == attempt.sitting_id)
    ).one()
    extra = db.scalars(
        select(SittingPerson.extra_minutes).where(SittingPerson.sitting_id == attempt.sitting_id)
    )
    return sitting_rules.review_opens_at(closes_at, closed_at, extra)


def review_level(policy: str, status: str, deadline: datetime | None, now: datetime) -> str:
    """What the inspector may see of a paper: "none" while it is open, then per the course's
    review policy "full" (keys, explanations, feedback), "by_tag" (score per tag and regulation,
    which questions were wrong, no keys) or "score" (score and pass only)."""
    if status != GRADED:
        return "none"
    if policy in ("immediate", "after_submit"):
        return "full"
    if policy == "after_deadline":
        return "full" if deadline is not None and now > deadline else "score"
    if policy == "by_tag":
        return "by_tag"
    return "score"  # score, never


def breakdown(paper: list[dict[str, Any]], marks: dict[int, float | None]) -> dict[str, Any]:
    """Score per tag and per regulation, and which questions lost points: enough to know what to
    study again, nothing that gives a key away (an unanswered question counts 0)."""
    tags: dict[str, list[float]] = {}
    regulations: dict[str, tuple[str, list[float]]] = {}
    wrong: list[int] = []
    for entry in paper:
        mark = marks.get(entry["slot"]) or 0.0
        if mark < 1.0 - 1e-9:
            wrong.append(entry["slot"])
        for tag in entry.get("tags", []):
            tags.setdefault(tag, []).append(mark)
        for ref in entry["review"]["refs"]:
            regulations.setdefault(ref["reg"], (ref["title"], []))[1].append(mark)
    return {
        "tags": [{"tag": t, "score": sum(v), "max": float(len(v))} for t, v in sorted(tags.items())],
        "regulations": [
            {"reg": reg, "title": title, "score": sum(v), "max": float(len(v))}
            for reg, (title, v) in sorted(regulations.items())
        ],
        "wrong": wrong,
    }


def my_attempts(db: DbSession, viewer: Viewer) -> list[dict[str, Any]]:
    """The viewer's attempts, newest first: their results, never their papers."""
    rows = db.execute(
        select(
            Attempt.id,
            Attempt.kind,
            Attempt.course_id,
            Attempt.module_id,
            Attempt.status,
            Attempt.score,
            Attempt.max_score,
            Attempt.passed,
            Attempt.started_at,
            Attempt.submitted_at,
        )
        .where(Attempt.user_id == viewer.id)
        .order_by(Attempt.started_at.desc(), Attempt.id.desc())
    ).all()
    keys = (
        "id",
        "kind",
        "course_id",
        "module_id",
        "status",
        "score",
        "max_score",
        "passed",
        "started_at",
        "submitted_at",
    )
    return [dict(zip(keys, row, strict=True)) for row in rows]


# -- regrading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Regrade:
    attempt_id: int
    old_score: float | None
    new_score: float
    old_passed: bool | None
    new_passed: bool

    @property
    def changed(self) -> bool:
        return (
            self.old_score is None
            or abs(self.new_score - self.old_score) > 1e-9
            or self.old_passed != self.new_passed
        )


def regrade(
    database: Database,
    *,
    attempt_id: int | None = None,
    course_id: str | None = None,
    dry_run: bool,
    actor: audit.Actor = audit.SYSTEM,
) -> list[Regrade]:
    """Re-score graded attempts' stored responses against their stored snapshots (and any key
    correction made since). With `correct_key`, the only ways a score ever changes after
    grading; every applied change goes into the audit log."""
    statement = select(Attempt.id).where(Attempt.status == GRADED).order_by(Attempt.id)
    if attempt_id is not None:
        statement = statement.where(Attempt.id == attempt_id)
    if course_id is not None:
        statement = statement.where(Attempt.course_id == course_id)
    with database.session() as db:
        ids = list(db.scalars(statement))
    results = []
    for current in ids:
        with database.write() as db:
            attempt = db.scalar(select(Attempt).where(Attempt.id == current).with_for_update())
            assert attempt is not None
            paper = {entry["slot"]: entry for entry in json.loads(paper_of(db, current))}
            answers = db.scalars(select(AttemptAnswer).where(AttemptAnswer.attempt_id == current)).all()
            corrected = _corrected_keys(db, current)
            scores = {
                a.slot: _score_or_zero(
                    corrected.get(a.slot) or snapshot.answer_key(paper[a.slot]), a.response
                )
                for a in answers
                if a.slot in paper
            }
            total = sum(scores.values())
            passed = _passes(attempt, total)
            change = Regrade(current, attempt.score, total, attempt.passed, passed)
            results.append(change)
            if dry_run or not change.changed:
                db.rollback()
                continue
            _rescore(db, attempt, answers, paper, scores, actor=actor, action="attempt.regraded", details={})
    return results


def _passes(attempt: Attempt, total: float) -> bool:
    # The 1e-9 absorbs binary floating point in the sum of marks, never a real difference.
    return total >= attempt.pass_mark * attempt.max_score - 1e-9


def _rescore(
    db: DbSession,
    attempt: Attempt,
    answers: Iterable[AttemptAnswer],
    paper: dict[int, dict[str, Any]],
    marks: dict[int, float],
    *,
    actor: audit.Actor,
    action: str,
    details: dict[str, Any],
) -> None:
    """Store new marks on a graded attempt (answers, total, pass, report tallies) and audit it;
    the caller holds the attempt's row lock."""
    total = sum(marks.values())
    old_total, was_passed = attempt.score, attempt.passed
    for answer in answers:
        answer.score = marks.get(answer.slot)
    attempt.score, attempt.passed = total, _passes(attempt, total)
    record_regraded(db, attempt, list(paper.values()), marks, was_passed=was_passed)
    audit.record(
        db,
        action,
        actor,
        target_type="attempt",
        target_id=attempt.id,
        details={**details, "from": old_total, "to": total, "passed": attempt.passed},
    )


def _corrected_keys(db: DbSession, attempt_id: int) -> dict[int, AnswerKey]:
    rows = db.execute(
        select(KeyCorrection.slot, KeyCorrection.key).where(KeyCorrection.attempt_id == attempt_id)
    ).all()
    return {slot: snapshot.answer_key({"key": json.loads(key)}) for slot, key in rows}


def _score_or_zero(key: AnswerKey, stored: str) -> float:
    """A stored response scored against a (corrected) key; a response the key cannot read, such
    as an option the correction removed, scores 0."""
    try:
        return score(key, json.loads(stored))
    except ResponseError:
        return 0.0


@dataclass(frozen=True)
class Correction:
    """One graded response to a corrected question, scored again."""

    attempt_id: int
    slot: int
    username: str
    old_score: float | None  # the response's mark before
    new_score: float
    old_total: float | None
    new_total: float
    old_passed: bool | None
    new_passed: bool
    certificate: str | None = None  # issued now, or held on an exam that no longer passes
    note: str = ""  # "certificate issued" | "exam no longer passes: for a manager to decide"


def correct_key(
    database: Database,
    library: Library,
    question_id: str,
    *,
    dry_run: bool,
    now: datetime,
    actor: audit.Actor = audit.SYSTEM,
    prefix: str = "HLJ",
) -> list[Correction]:
    """Re-score every graded response to one question against the bank's current key (a review
    found the key wrong); everything else stays as in the paper served. Each changed attempt is
    recorded (KeyCorrection) and audited; an exam that now passes earns its certificate; a
    certificate whose exam no longer passes is reported, never revoked here."""
    question = library.bank.questions.get(question_id)
    if question is None:
        raise DomainError(
            404, "no_such_question", "no question %(question_id)s in the bank", question_id=question_id
        )
    # The papers that served it, found by its id in the stored JSON: written `"id": "X"` by the
    # json module (papers stored before 2026-12-04), `"id":"X"` by pydantic-core since.
    spaced, compact = f'"id": "{question_id}"', f'"id":"{question_id}"'
    with database.session() as db:
        ids = list(
            db.scalars(
                select(Attempt.id)
                .join(AttemptPaper, AttemptPaper.attempt_id == Attempt.id)
                .join(Paper, Paper.id == AttemptPaper.paper_id)
                .where(
                    Attempt.status == GRADED,
                    or_(
                        Paper.snapshot.contains(spaced, autoescape=True),
                        Paper.snapshot.contains(compact, autoescape=True),
                    ),
                )
                .order_by(Attempt.id)
            )
        )
    results: list[Correction] = []
    for current in ids:
        with database.write() as db:
            attempt = db.scalar(select(Attempt).where(Attempt.id == current).with_for_update())
            assert attempt is not None
            paper = {entry["slot"]: entry for entry in json.loads(paper_of(db, current))}
            slots = [slot for slot, entry in paper.items() if entry["id"] == question_id]
            if not slots:
                db.rollback()
                continue
            answers = {
                a.slot: a
                for a in db.scalars(select(AttemptAnswer).where(AttemptAnswer.attempt_id == current))
            }
            corrected = _corrected_keys(db, current)
            new_keys = {
                slot: snapshot.current_key_json(
                    question, paper[slot], _translation_of(library, paper[slot], question_id)
                )
                for slot in slots
            }
            marks = {
                slot: (
                    _score_or_zero(snapshot.answer_key({"key": new_keys[slot]}), a.response)
                    if slot in new_keys
                    else _score_or_zero(corrected.get(slot) or snapshot.answer_key(paper[slot]), a.response)
                )
                for slot, a in answers.items()
                if slot in paper
            }
            total = sum(marks.values())
            passed = _passes(attempt, total)
            holder = db.scalar(select(User.username).where(User.id == attempt.user_id)) or ""
            changed_slots = [
                slot
                for slot in slots
                if slot in answers and abs((answers[slot].score or 0.0) - marks[slot]) > 1e-9
            ]
            if not changed_slots:
                db.rollback()
                continue
            certificate = db.scalar(select(Certificate).where(Certificate.attempt_id == current))
            for slot in changed_slots:
                change = Correction(
                    current, slot, holder, answers[slot].score, marks[slot], attempt.score, total,
                    attempt.passed, passed,
                )  # fmt: skip
                results.append(change)
            if dry_run:
                db.rollback()
                continue
            for slot in changed_slots:
                db.add(
                    KeyCorrection(
                        question_id=question_id,
                        attempt_id=current,
                        slot=slot,
                        key=json.dumps(new_keys[slot], ensure_ascii=False),
                        old_score=answers[slot].score,
                        new_score=marks[slot],
                        old_passed=attempt.passed,
                        new_passed=passed,
                        corrected_at=now,
                    )
                )
            was_passed = attempt.passed
            _rescore(
                db, attempt, list(answers.values()), paper, marks,
                actor=actor, action="attempt.key_corrected", details={"question": question_id},
            )  # fmt: skip
            note, number = "", None
            course = library.courses.get(attempt.course_id)
            if attempt.kind == "exam" and passed and not was_passed and course is not None:
                stored = paper_of(db, attempt.id)
                issued = certification.issue_for(db, attempt, stored, course, now, prefix=prefix)
                if issued is not None:
                    note, number = "certificate issued", issued.number
            elif attempt.kind == "exam" and was_passed and not passed and certificate is not None:
                note, number = "exam no longer passes: for a manager to decide", certificate.number
            if note:
                results[-1] = replace(results[-1], certificate=number, note=note)
    return results


def _translation_of(library: Library, entry: dict[str, Any], question_id: str) -> Any:
    """The question's translation in the language the entry was served in, stale or not: its
    accepted answers and unit labels are what the reader could answer in."""
    lang = entry.get("lang", snapshot.DEFAULT_LANG)
    return library.bank.translations.get(lang, {}).get(question_id)


def corrections_of(db: DbSession, question_id: str) -> list[dict[str, Any]]:
    """The attempts a key correction changed, newest first, with the certificate each holds from
    that exam (for the trainer's item page: a manager decides what happens to those). Reads
    through the caller's session."""
    rows = db.execute(
        select(
            KeyCorrection.attempt_id,
            KeyCorrection.slot,
            KeyCorrection.old_score,
            KeyCorrection.new_score,
            KeyCorrection.old_passed,
            KeyCorrection.new_passed,
            KeyCorrection.corrected_at,
            User.username,
            User.full_name,
            Certificate.number,
        )
        .join(Attempt, Attempt.id == KeyCorrection.attempt_id)
        .join(User, User.id == Attempt.user_id)
        .outerjoin(Certificate, Certificate.attempt_id == Attempt.id)
        .where(KeyCorrection.question_id == question_id)
        .order_by(KeyCorrection.corrected_at.desc(), KeyCorrection.attempt_id)
    ).all()
    keys = (
        "attempt_id", "slot", "old_score", "new_score", "old_passed", "new_passed", "corrected_at",
        "username", "full_name", "certificate",
    )  # fmt: skip
    return [dict(zip(keys, row, strict=True)) for row in rows]


# -- an inspector's results -------------------------------------------------------------------


@dataclass
class Tally:
    attempts: int = 0
    best: float | None = None  # fraction of the points
    latest: float | None = None
    latest_passed: bool | None = None
    passed: bool = False


@dataclass
class Scores:
    exams: dict[str, Tally]  # course id ->
    practice: dict[str, Tally]  # module id ->
    mastery: dict[str, tuple[float, int]]  # tag -> (average fraction, answers counted)
    completed: set[str]  # module ids


def scores_of(db: DbSession, library: Library, user_id: int) -> Scores:
    """Best and latest results per course exam and module quiz, and mastery per tag (the
    average score on every graded question with that tag, unanswered ones counting 0)."""
    attempts = db.execute(
        select(
            Attempt.id,
            Attempt.kind,
            Attempt.course_id,
            Attempt.module_id,
            Attempt.score,
            Attempt.max_score,
            Attempt.passed,
            Paper.snapshot,
        )
        .join(AttemptPaper, AttemptPaper.attempt_id == Attempt.id)
        .join(Paper, Paper.id == AttemptPaper.paper_id)
        .where(Attempt.user_id == user_id, Attempt.status == GRADED)
        .order_by(Attempt.submitted_at, Attempt.id)
    ).all()
    answers = db.execute(
        select(AttemptAnswer.attempt_id, AttemptAnswer.slot, AttemptAnswer.score)
        .join(Attempt, Attempt.id == AttemptAnswer.attempt_id)
        .where(Attempt.user_id == user_id, Attempt.status == GRADED)
    ).all()
    completed = set().union(*completed_modules(db, user_id, library.courses.values()).values())
    scores = Scores({}, {}, {}, completed)
    tags_by_slot: dict[tuple[int, int], list[str]] = {}
    for attempt_id, kind, course_id, module_id, total, max_score, passed, paper in attempts:
        fraction = (total or 0) / max_score if max_score else 0.0
        tally = (
            scores.exams.setdefault(course_id, Tally())
            if kind == "exam"
            else scores.practice.setdefault(module_id or "", Tally())
        )
        tally.attempts += 1
        tally.best = fraction if tally.best is None else max(tally.best, fraction)
        tally.latest, tally.latest_passed = fraction, passed
        tally.passed = tally.passed or bool(passed)
        for entry in json.loads(paper):
            tags_by_slot[(attempt_id, entry["slot"])] = entry.get("tags", [])
    # An unanswered question of a graded paper counts as 0: it was not mastered either.
    given = {(attempt_id, slot): value or 0.0 for attempt_id, slot, value in answers}
    sums: dict[str, list[float]] = {}
    for key, tags in tags_by_slot.items():
        for tag in tags:
            sums.setdefault(tag, []).append(given.get(key, 0.0))
    scores.mastery = {tag: (sum(values) / len(values), len(values)) for tag, values in sorted(sums.items())}
    return scores


# -- what the attempt and course pages add around a paper ---------------------------------------


@dataclass(frozen=True)
class Closing:
    """How a graded attempt ended: at its deadline (time up) or not, and the certificate it
    earned, if any."""

    time_up_at: datetime | None
    certificate_number: str | None


def closing_of(db: DbSession, attempt_id: int) -> Closing:
    """An attempt graded at its deadline closed because the time was up (grading records
    `min(now, deadline)`), whether the page's script handed it in or the server closed it."""
    row = db.execute(
        select(Attempt.status, Attempt.deadline, Attempt.submitted_at).where(Attempt.id == attempt_id)
    ).one_or_none()
    number = db.scalar(
        select(Certificate.number).where(Certificate.attempt_id == attempt_id).order_by(Certificate.id)
    )
    if row is None or row.status != GRADED:
        return Closing(None, None)
    time_up = row.deadline is not None and row.submitted_at is not None and row.submitted_at >= row.deadline
    return Closing(row.deadline if time_up else None, number)


def practice_passed(db: DbSession, user_id: int, module_ids: Iterable[str]) -> set[str]:
    """The modules whose practice quiz the inspector has passed at least once."""
    return set(
        db.scalars(
            select(Attempt.module_id).where(
                Attempt.user_id == user_id,
                Attempt.kind == "practice",
                Attempt.passed.is_(True),
                Attempt.module_id.in_(list(module_ids)),
            )
        )
    )
