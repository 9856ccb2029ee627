"""What grading leaves behind for reports: item marks and monthly exam tallies. Called inside
the grading (or regrading) transaction, so a result and its report rows commit together."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as DbSession

from trainer.localtime import month_of, zone_of
from trainer.quizzes.models import GRADED, Attempt
from trainer.reports.models import ExamTally, ItemMark


def record_graded(
    db: DbSession, attempt: Attempt, paper: Sequence[Mapping[str, Any]], marks: Mapping[int, float]
) -> None:
    """A final exam was just graded: keep every question's mark (unanswered = 0) and count the
    exam in its unit's month (the month of the installation's time zone, carried by `db`)."""
    if attempt.kind != "exam":
        return
    _write_marks(db, attempt, paper, marks)
    if attempt.unit_id is None or attempt.submitted_at is None:
        return
    db.connection().execute(
        _COUNT_EXAM[db.get_bind().dialect.name],
        {
            "unit_id": attempt.unit_id,
            "course_id": attempt.course_id,
            "month": month_of(attempt.submitted_at, zone_of(db)),
            "passed": 1 if attempt.passed else 0,
        },
    )


def _count_exam(insert: Any) -> Any:
    """The month's tally upsert, built once per dialect (grading runs it for every exam of a
    deadline burst; building it per call cost more than running it)."""
    statement = insert(ExamTally).values(
        unit_id=bindparam("unit_id"),
        course_id=bindparam("course_id"),
        month=bindparam("month"),
        taken=1,
        passed=bindparam("passed"),
    )
    return statement.on_conflict_do_update(
        index_elements=["unit_id", "course_id", "month"],
        set_={"taken": ExamTally.taken + 1, "passed": ExamTally.passed + statement.excluded.passed},
    )


_COUNT_EXAM = {"postgresql": _count_exam(postgresql.insert), "sqlite": _count_exam(sqlite.insert)}


def record_regraded(
    db: DbSession,
    attempt: Attempt,
    paper: Sequence[Mapping[str, Any]],
    marks: Mapping[int, float],
    *,
    was_passed: bool | None,
) -> None:
    """A regrade changed an exam's marks: replace its item marks and move it between passed and
    failed in its month's tally."""
    if attempt.kind != "exam":
        return
    db.execute(delete(ItemMark).where(ItemMark.attempt_id == attempt.id))
    _write_marks(db, attempt, paper, marks)
    change = int(bool(attempt.passed)) - int(bool(was_passed))
    if change and attempt.unit_id is not None and attempt.submitted_at is not None:
        db.execute(
            update(ExamTally)
            .where(
                ExamTally.unit_id == attempt.unit_id,
                ExamTally.course_id == attempt.course_id,
                ExamTally.month == month_of(attempt.submitted_at, zone_of(db)),
            )
            .values(passed=ExamTally.passed + change)
        )


def recount_exam_tallies(db: DbSession) -> int:
    """Count every month's exam tallies afresh from the graded final exams, in the database's
    time zone (after a restore, or after TRAINER_TIME_ZONE changed); returns the tallies kept."""
    if db.get_bind().dialect.name == "postgresql":
        # Graders that already counted commit first; later ones wait and count on top of ours.
        db.execute(text("LOCK TABLE exam_tallies IN EXCLUSIVE MODE"))
    zone = zone_of(db)
    taken: Counter[tuple[int, str, str]] = Counter()
    passed: Counter[tuple[int, str, str]] = Counter()
    for unit_id, course_id, submitted_at, was_passed in db.execute(
        select(Attempt.unit_id, Attempt.course_id, Attempt.submitted_at, Attempt.passed).where(
            Attempt.kind == "exam",
            Attempt.status == GRADED,
            Attempt.unit_id.is_not(None),
            Attempt.submitted_at.is_not(None),
        )
    ):
        if unit_id is None or submitted_at is None:  # excluded by the query; for the type checker
            continue
        key = (unit_id, course_id, month_of(submitted_at, zone))
        taken[key] += 1
        passed[key] += bool(was_passed)
    db.execute(delete(ExamTally))
    rows = [
        {"unit_id": u, "course_id": c, "month": m, "taken": n, "passed": passed[(u, c, m)]}
        for (u, c, m), n in sorted(taken.items())
    ]
    for start in range(0, len(rows), 1000):
        db.execute(insert(ExamTally), rows[start : start + 1000])
    return len(rows)


# SQLite: an executemany of plain tuples in the driver's own form. SQLAlchemy's executemany
# processes each row's parameters, which cost as much as the inserts (50 rows in process: 0.136
# ms through it, 0.067 ms this way).
_INSERT_MARKS_SQLITE = (
    "INSERT INTO item_marks (attempt_id, slot, course_id, question_id, mark) VALUES (?, ?, ?, ?, ?)"
)
# PostgreSQL: an exam's marks as one statement over arrays instead of an executemany of one row
# each (50 rows: 0.31 ms against 0.65, and the same text every time, so it stays prepared).
_INSERT_MARKS_FROM_ARRAYS = text(
    "INSERT INTO item_marks (attempt_id, slot, course_id, question_id, mark) "
    "SELECT :attempt_id, slot, :course_id, question_id, mark "
    "FROM unnest(CAST(:slots AS integer[]), CAST(:question_ids AS varchar[]), CAST(:marks AS float8[])) "
    "AS marks (slot, question_id, mark)"
)


def _write_marks(
    db: DbSession, attempt: Attempt, paper: Sequence[Mapping[str, Any]], marks: Mapping[int, float]
) -> None:
    if not paper:
        return
    slots = [int(entry["slot"]) for entry in paper]
    question_ids = [str(entry["id"]) for entry in paper]
    values = [float(marks.get(slot) or 0.0) for slot in slots]  # unanswered: 0
    conn = db.connection()  # Core: no ORM path
    if conn.dialect.name == "postgresql":
        conn.execute(
            _INSERT_MARKS_FROM_ARRAYS,
            {
                "attempt_id": attempt.id,
                "course_id": attempt.course_id,
                "slots": slots,
                "question_ids": question_ids,
                "marks": values,
            },
        )
        return
    rows = [
        (attempt.id, slot, attempt.course_id, q, m)
        for slot, q, m in zip(slots, question_ids, values, strict=True)
    ]
    conn.exec_driver_sql(_INSERT_MARKS_SQLITE, rows)  # an executemany: in process, as cheap


def record_voided(db: DbSession, attempt: Attempt) -> None:
    """A graded exam was voided (trainer.quizzes.service.void): take back its item marks and its
    count in its month's tally, so reports count it as never taken."""
    if attempt.kind != "exam":
        return
    db.execute(delete(ItemMark).where(ItemMark.attempt_id == attempt.id))
    if attempt.unit_id is None or attempt.submitted_at is None:
        return
    db.execute(
        update(ExamTally)
        .where(
            ExamTally.unit_id == attempt.unit_id,
            ExamTally.course_id == attempt.course_id,
            ExamTally.month == month_of(attempt.submitted_at, zone_of(db)),
        )
        .values(taken=ExamTally.taken - 1, passed=ExamTally.passed - (1 if attempt.passed else 0))
    )
