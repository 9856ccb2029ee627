"""What grading leaves behind for reports: item marks and monthly exam tallies. Called inside
the grading (or regrading) transaction, so a result and its report rows commit together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as DbSession

from trainer.localtime import month_of, zone_of
from trainer.quizzes.models import Attempt
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
    dialect = sqlite if db.get_bind().dialect.name == "sqlite" else postgresql
    passed = 1 if attempt.passed else 0
    statement = dialect.insert(ExamTally).values(
        unit_id=attempt.unit_id,
        course_id=attempt.course_id,
        month=month_of(attempt.submitted_at, zone_of(db)),
        taken=1,
        passed=passed,
    )
    db.execute(
        statement.on_conflict_do_update(
            index_elements=["unit_id", "course_id", "month"],
            set_={"taken": ExamTally.taken + 1, "passed": ExamTally.passed + passed},
        )
    )


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


def _write_marks(
    db: DbSession, attempt: Attempt, paper: Sequence[Mapping[str, Any]], marks: Mapping[int, float]
) -> None:
    rows = [
        {
            "attempt_id": attempt.id,
            "slot": entry["slot"],
            "course_id": attempt.course_id,
            "question_id": entry["id"],
            "mark": marks.get(entry["slot"]) or 0.0,
        }
        for entry in paper
    ]
    if rows:
        db.execute(insert(ItemMark), rows)
