"""On PostgreSQL a paper is stored compressed with lz4 (migration 0016): PostgreSQL's pglz was
its largest cost of an exam start under a storm (README "Exam day")."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.conftest import ready_for_exam
from trainer.db import Database


def test_an_exam_paper_is_stored_compressed_with_lz4_on_postgresql(
    client: TestClient, migrated_database: Database
) -> None:
    if migrated_database.is_sqlite:
        pytest.skip("SQLite stores a paper's text as is: nothing to compress")
    headers, _ = ready_for_exam(client, migrated_database)
    started = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers)
    assert started.status_code == 200, started.text
    attempt_id = started.json()["id"]
    with migrated_database.engine.begin() as conn:
        column = conn.execute(
            text(
                "SELECT attcompression FROM pg_attribute "
                "WHERE attrelid = 'papers'::regclass AND attname = 'snapshot'"
            )
        ).scalar_one()
        assert column == "l"  # lz4
        # The fixture's papers are under the 2 kB PostgreSQL starts compressing at; a paper of
        # the sample courses is 60-90 kB. Stored again with JSON's own whitespace after it:
        conn.execute(
            text(
                "UPDATE papers SET snapshot = rpad(snapshot, 40000) "
                "WHERE id = (SELECT paper_id FROM attempt_papers WHERE attempt_id = :id)"
            ),
            {"id": attempt_id},
        )
        method, stored = conn.execute(
            text(
                "SELECT pg_column_compression(p.snapshot), p.snapshot FROM papers p "
                "JOIN attempt_papers l ON l.paper_id = p.id WHERE l.attempt_id = :id"
            ),
            {"id": attempt_id},
        ).one()
    assert method == "lz4"
    assert [entry["slot"] for entry in json.loads(stored)] == [q["slot"] for q in started.json()["questions"]]


def test_a_paper_drawn_ahead_is_set_to_lz4_too(migrated_database: Database) -> None:
    """A paper drawn ahead is a row of `papers` (above); the questions it serves, kept beside it,
    are compressed the same way."""
    if migrated_database.is_sqlite:
        pytest.skip("SQLite stores a paper's text as is: nothing to compress")
    with migrated_database.engine.begin() as conn:
        columns = dict(
            conn.execute(
                text(
                    "SELECT attname, attcompression FROM pg_attribute "
                    "WHERE attrelid = 'prepared_papers'::regclass AND attname = 'served'"
                )
            ).all()
        )
    assert columns == {"served": "l"}
