"""The exam-day hot paths' prebuilt reads find their rows through indexes whose matches do not
grow with the storm: SQLite's plan for each never scans a whole table, and never reaches the
person's attempts through the sitting's (ix_attempts_sitting_id: every exam started in the
sitting so far, which made each start of a 2,000-person storm slower than the last).

The plans are SQLite's, on a database of its own (what the embedded default runs); PostgreSQL
plans by its statistics, and the bench (bench/exam_day.py) measures both."""

from __future__ import annotations

import re
import sqlite3

import pytest
from sqlalchemy.dialects import sqlite

from trainer.db import Database
from trainer.migrate import upgrade
from trainer.quizzes import service

HOT = {
    "first read": service._FIRST_READ,
    "modules read": service._MODULES_READ,
    "practice passed": service._PRACTICE_PASSED,
    "open exam": service._OPEN_EXAM,
    "overdue of a person": service._OVERDUE_OF,
    "start facts": service._START_FACTS,
    "papers seen": service._PAPERS_SEEN,
    "sitting to start in, with the paper drawn ahead": service._SITTINGS_OPEN_TO_START_IN,
    "sitting for start": service._SITTING_FOR_START,
    "attempt linked to the paper drawn ahead": service._TAKE_PREPARED_PAPER,
    "papers let go that no attempt holds (a redraw, a purge)": service._DELETE_PAPERS_NOT_HELD,
    "paper of an attempt (read by a process that did not start it)": service._PAPER_OF,
    "answer save (into an open attempt)": service._ANSWER_UPSERTS["sqlite"],
    "answer marks (grading)": service._ANSWER_MARKS,
    "attempt for grading": service._FOR_GRADING,
}


@pytest.fixture(scope="module")
def connection(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    path = tmp_path_factory.mktemp("plans") / "plans.db"
    database = Database(f"sqlite:///{path}", audit_key=b"k" * 32)
    upgrade(database)
    database.dispose()
    return sqlite3.connect(path)


def plan(connection: sqlite3.Connection, statement: object) -> list[str]:
    sql = str(statement.compile(dialect=sqlite.dialect()))  # type: ignore[attr-defined]
    sql = re.sub(r"\(__\[POSTCOMPILE_\w+\]\)", "(?, ?)", sql)  # an expanding IN: two values
    rows = connection.execute("EXPLAIN QUERY PLAN " + sql, [1] * sql.count("?")).fetchall()
    return [str(row[3]) for row in rows]


@pytest.mark.parametrize("name", sorted(HOT))
def test_a_hot_read_finds_its_rows_by_an_index_that_does_not_grow(
    connection: sqlite3.Connection, name: str
) -> None:
    steps = plan(connection, HOT[name])
    assert steps, name
    assert not [s for s in steps if s.startswith("SCAN ") and "TEMP" not in s], (name, steps)
    assert not [s for s in steps if "ix_attempts_sitting_id" in s], (name, steps)


def test_the_check_sees_a_plan_through_the_sittings_attempts(connection: sqlite3.Connection) -> None:
    """The check above can fail: the start's sitting query as it was before 2026-12-04 reached
    the person's attempts through the sitting's."""
    from sqlalchemy import exists, select

    from trainer.quizzes.models import GRADED, Attempt
    from trainer.sittings.models import Sitting

    before = select(Sitting.id).where(
        exists()
        .where(Attempt.sitting_id == Sitting.id, Attempt.user_id == 1, Attempt.status == GRADED)
        .correlate(Sitting)
    )
    assert any("ix_attempts_sitting_id" in s for s in plan(connection, before))


def test_the_database_file_is_the_migrated_schema(connection: sqlite3.Connection) -> None:
    indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"ix_attempts_user_course", "ix_attempts_sitting_id"} <= indexes


def test_an_exams_item_marks_go_into_every_index_side_by_side(connection: sqlite3.Connection) -> None:
    """Grading writes an exam's 50 or so item marks at once. Every index of item_marks keeps them
    together (led by the attempt, or by the course and then the attempt), so a grade changes a
    page or two of each. An index led by (course, question), as before migration 0020, put each
    mark beside its own question's earlier marks: some fifty pages per grade, about seven times
    the WAL written (measured with 50,000 marks stored: 295 kB a grade against 43 kB)."""
    names = [row[1] for row in connection.execute("PRAGMA index_list(item_marks)")]
    assert len(names) == 2, names  # the primary key's and the course's
    for name in names:
        columns = [row[2] for row in connection.execute(f"PRAGMA index_info('{name}')")]
        assert columns[:2] in (["attempt_id", "slot"], ["course_id", "attempt_id"]), (name, columns)
