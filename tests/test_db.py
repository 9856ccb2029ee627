"""The database layer on the real engines: migrations, SQLite settings, safe writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import PrimaryKeyConstraint, UniqueConstraint, exc, select, text

from tests.conftest import FIXTURE_LIBRARY, run_together
from trainer import migrate
from trainer.content.loader import load_library_or_raise
from trainer.content.models import CourseVersion
from trainer.content.service import record_course_versions
from trainer.db import Database


def test_migrations_reach_head_and_agree_with_the_models(migrated_database: Database) -> None:
    assert migrate.current_revision(migrated_database) == migrate.head_revision()
    assert migrate.schema_differences(migrated_database) == []


def test_no_index_repeats_the_start_of_another() -> None:
    """An index whose columns begin another index or unique constraint of its table finds
    nothing the wider one does not, and is one more B-tree written on every insert (0022 dropped
    six, among them one of every exam start's and one of every answer's first save)."""
    import trainer.app  # noqa: F401 (every model registered)
    from trainer.db import Base

    redundant = []
    for table in Base.metadata.sorted_tables:
        wider = [
            (f"index {index.name}", [c.name for c in index.columns])
            for index in table.indexes
            if index.dialect_options["sqlite"].get("where") is None  # a partial one covers only its rows
        ] + [
            (f"constraint {constraint.name}", [c.name for c in constraint.columns])
            for constraint in table.constraints
            if isinstance(constraint, UniqueConstraint | PrimaryKeyConstraint)
        ]
        for index in table.indexes:
            if index.unique:  # unique on fewer columns says more than the wider one
                continue
            columns = [c.name for c in index.columns]
            redundant += [
                f"{table.name}: {index.name} {columns} begins {name} {other}"
                for name, other in wider
                if len(other) > len(columns) and other[: len(columns)] == columns
            ]
    assert redundant == []


def test_migrations_run_from_scratch_and_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    database = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        migrate.upgrade(database)
        assert migrate.current_revision(database) == migrate.head_revision()
        migrate.downgrade(database, "base")
        assert migrate.current_revision(database) is None
    finally:
        database.dispose()


def test_sqlite_connections_are_set_up_for_a_web_server(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Always on a SQLite file of its own, whichever database the rest of the run uses.
    database = Database(f"sqlite:///{tmp_path / 'pragmas.db'}")
    statements: list[str] = []
    try:
        with database.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        from sqlalchemy import event

        # What SQLite itself is asked to run (BEGIN goes straight to the driver, past
        # SQLAlchemy's execution events).
        @event.listens_for(database.engine, "checkout")
        def _record(dbapi_connection, *_args):  # type: ignore[no-untyped-def]
            dbapi_connection.set_trace_callback(statements.append)

        with database.session() as session:
            session.execute(text("SELECT 1"))
        with database.write() as session:
            session.execute(text("CREATE TABLE t (x INTEGER)"))
    finally:
        database.dispose()
    # Reads take no write lock; writes take it up front instead of failing half-way.
    assert statements == [
        "BEGIN",
        "SELECT 1",
        "ROLLBACK",
        "BEGIN IMMEDIATE",
        "CREATE TABLE t (x INTEGER)",
        "COMMIT",
    ]


def test_concurrent_writers_never_see_database_is_locked(migrated_database: Database) -> None:
    def writer(number: int) -> None:
        for i in range(10):
            with migrated_database.write() as session:
                session.add(
                    CourseVersion(
                        course_id=f"concurrency-{number}",
                        content_hash=f"{i:064d}",
                        first_loaded_at=datetime.now(UTC),
                    )
                )

    run_together([lambda n=n: writer(n) for n in range(8)])  # raises the first error, if any
    with migrated_database.session() as session:
        count = session.scalar(
            select(text("count(*)"))
            .select_from(CourseVersion)
            .where(CourseVersion.course_id.like("concurrency-%"))
        )
    assert count == 80


def test_a_failed_unit_of_work_writes_nothing(migrated_database: Database) -> None:
    def failing_unit() -> None:
        with migrated_database.write() as session:
            session.add(
                CourseVersion(
                    course_id="rolled-back", content_hash="0" * 64, first_loaded_at=datetime.now(UTC)
                )
            )
            session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_unit()
    with migrated_database.session() as session:
        assert session.scalar(select(CourseVersion).where(CourseVersion.course_id == "rolled-back")) is None


def test_datetimes_come_back_aware_and_in_utc(migrated_database: Database) -> None:
    moment = datetime(2026, 1, 2, 8, 30, tzinfo=timezone(timedelta(hours=8)))
    with migrated_database.write() as session:
        session.add(CourseVersion(course_id="tz-check", content_hash="1" * 64, first_loaded_at=moment))
    with migrated_database.session() as session:
        stored = session.scalar(
            select(CourseVersion.first_loaded_at).where(CourseVersion.course_id == "tz-check")
        )
    assert stored == moment
    assert stored is not None
    assert stored.utcoffset() == timedelta(0)
    with pytest.raises(Exception, match="naive"), migrated_database.write() as session:
        session.add(
            CourseVersion(course_id="naive", content_hash="2" * 64, first_loaded_at=datetime(2026, 1, 1))
        )


def test_course_versions_are_recorded_once(migrated_database: Database) -> None:
    library = load_library_or_raise(FIXTURE_LIBRARY / "courses", FIXTURE_LIBRARY / "question_bank")
    record_course_versions(migrated_database, library)  # may be 0 if another test recorded it
    assert record_course_versions(migrated_database, library) == 0
    with migrated_database.session() as session:
        rows = session.scalars(
            select(CourseVersion).where(
                CourseVersion.course_id == "demo-course",
                CourseVersion.content_hash == library.courses["demo-course"].content_hash,
            )
        ).all()
    assert len(rows) == 1


def test_processes_starting_together_record_a_version_once(migrated_database: Database) -> None:
    import dataclasses
    import uuid

    library = load_library_or_raise(FIXTURE_LIBRARY / "courses", FIXTURE_LIBRARY / "question_bank")
    course = dataclasses.replace(library.courses["demo-course"], content_hash=uuid.uuid4().hex * 2)
    fresh = dataclasses.replace(library, courses={course.id: course}, modules={})
    # Separate engines, like separate app processes sharing one database.
    databases = [Database(migrated_database.url, audit_key=migrated_database.audit_key) for _ in range(4)]
    try:
        run_together([lambda db=db: record_course_versions(db, fresh) for db in databases])
    finally:
        for database in databases:
            database.dispose()
    with migrated_database.session() as session:
        count = session.scalar(
            select(text("count(*)"))
            .select_from(CourseVersion)
            .where(CourseVersion.content_hash == course.content_hash)
        )
    assert count == 1


def test_the_reports_migration_carries_existing_results_over(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An installation with exams and certificates before 0006 gets its item marks, monthly
    tallies, certificate dates and attempt units filled in, and its units queued for counting;
    its papers move to their own table (0019) and back on a downgrade."""
    import json

    database = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        migrate.upgrade(database, "0005")
        paper = [{"slot": 1, "id": "Q-1"}, {"slot": 2, "id": "Q-2"}, {"slot": 3, "id": "Q-3"}]
        with database.write() as db:
            db.execute(
                text(
                    "INSERT INTO units (id, parent_id, name, kind, lineage, path, created_at) "
                    "VALUES (1, NULL, 'P', 'province', '/1/', 'P', '2026-01-01 00:00:00')"
                )
            )
            db.execute(
                text(
                    "INSERT INTO users (id, username, full_name, unit_id, password_hash,"
                    " must_change_password, is_active, created_at, password_changed_at)"
                    " VALUES (1, 'li', 'Li', 1, 'x', 0, 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                )
            )
            db.execute(
                text(
                    "INSERT INTO attempts (id, user_id, kind, course_id, module_id, content_hash, seed,"
                    " status, started_at, deadline, submitted_at, score, max_score, pass_mark, passed,"
                    " review, snapshot)"
                    " VALUES (1, 1, 'exam', 'c', NULL, 'h', 1, 'graded', '2026-03-05 09:00:00', NULL,"
                    " '2026-03-05 09:30:00', 1.5, 3, 0.8, 0, 'after_submit', :paper)"
                ),
                {"paper": json.dumps(paper)},
            )
            db.execute(
                text(
                    "INSERT INTO attempt_answers (attempt_id, slot, response, saved_at, score) VALUES"
                    " (1, 1, '{}', '2026-03-05 09:10:00', 1.0), (1, 3, '{}', '2026-03-05 09:10:00', 0.5)"
                )
            )
            db.execute(
                text(
                    "INSERT INTO certificates (id, number, verification_code, user_id, course_id,"
                    " content_hash, holder_name, unit_path, title, issued_at, valid_from, expires_at,"
                    " renewal_window_days, grace_days, attempt_id, score, max_score, snapshot_hash,"
                    " is_current) VALUES (1, 'N-1',"
                    " 'CODE', 1, 'c', 'h', 'Li', 'P', 'T', '2026-03-05 09:30:00', '2026-03-05 09:30:00',"
                    " '2029-03-05 09:30:00', 90, 60, 1, 3, 3, 'x', 1)"
                )
            )
        migrate.upgrade(database)
        assert migrate.schema_differences(database) == []
        with database.session() as db:
            marks = db.execute(text("SELECT slot, question_id, mark FROM item_marks ORDER BY slot")).all()
            tallies = db.execute(
                text("SELECT unit_id, course_id, month, taken, passed FROM exam_tallies")
            ).all()
            dates = db.execute(text("SELECT renewal_from, grace_until FROM certificates")).one()
            unit = db.execute(text("SELECT unit_id FROM attempts")).scalar()
            queued = db.execute(text("SELECT unit_id FROM compliance_changes")).scalars().all()
            papers = db.execute(
                text(
                    "SELECT l.attempt_id, p.snapshot, p.layout FROM attempt_papers l "
                    "JOIN papers p ON p.id = l.paper_id"
                )
            ).all()
        # The papers, moved to a table of their own by 0019, go back into the attempts' rows on
        # a downgrade.
        migrate.downgrade(database, "0018")
        with database.session() as db:
            back = db.execute(text("SELECT id, snapshot, layout FROM attempts")).all()
    finally:
        database.dispose()
    assert [tuple(p) for p in papers] == [(1, json.dumps(paper), None)]
    assert [tuple(a) for a in back] == [(1, json.dumps(paper), None)]
    assert [tuple(m) for m in marks] == [(1, "Q-1", 1.0), (2, "Q-2", 0.0), (3, "Q-3", 0.5)]
    assert [tuple(t) for t in tallies] == [(1, "c", "2026-03", 1, 0)]
    assert [str(d)[:19] for d in dates] == ["2028-12-05 09:30:00", "2029-05-04 09:30:00"]
    assert unit == 1
    assert queued == [1]


def test_connection_pools_are_checked_against_what_postgresql_accepts(migrated_database: Database) -> None:
    """`trainer serve` warns when its processes' pools could outgrow max_connections."""
    if migrated_database.is_sqlite:
        assert migrated_database.connection_shortfall(1_000, 1_000) is None  # no server limit
        return
    with migrated_database.engine.connect() as conn:
        limit = int(conn.exec_driver_sql("SHOW max_connections").scalar_one())
        reserved = int(conn.exec_driver_sql("SHOW superuser_reserved_connections").scalar_one())
    assert migrated_database.connection_shortfall(1, limit - reserved) is None
    warning = migrated_database.connection_shortfall(2, limit - reserved)
    assert warning is not None
    assert f"= {2 * (limit - reserved)}, but PostgreSQL accepts {limit - reserved}" in warning


def test_a_pooled_connection_killed_while_idle_is_replaced_not_a_failure(database_url: str) -> None:
    """PostgreSQL: a connection closed by the server while it sat in the pool (a restart, an
    idle timeout) is noticed by the ping after idleness and replaced; the caller sees nothing."""
    database = Database(database_url, pool_size=1, max_overflow=0, ping_after_idle=0)
    if database.is_sqlite:  # a file, not a link: nothing can drop it, so nothing is pinged
        with database.engine.connect() as conn:
            record = conn.connection._connection_record
        assert record is not None
        assert "idle_since" not in record.info
        database.dispose()
        return
    admin = Database(database_url, pool_size=1, max_overflow=0)
    try:
        with database.engine.connect() as conn:
            first = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with admin.engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(first)})")
            conn.commit()
        with database.engine.connect() as conn:  # the pool's only connection is the dead one
            second = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        assert second != first
    finally:
        database.dispose()
        admin.dispose()


def test_reads_take_no_transaction_on_postgresql_one_snapshot_on_sqlite(migrated_database: Database) -> None:
    """PostgreSQL at READ COMMITTED gives each statement its own snapshot, in a transaction or
    not, so a read runs without one: no BEGIN and ROLLBACK round trips, and psycopg keeps the
    statements it prepared (it drops them all at every ROLLBACK, so the reads every request
    makes were planned afresh each time). SQLite keeps its read transaction: one snapshot."""
    database = Database(migrated_database.url, pool_size=1, max_overflow=0)  # always the same connection
    query = text("SELECT count(*) FROM users WHERE id > :id")
    try:
        for attempt in range(8):  # psycopg prepares a statement run 5 times on a connection
            with database.session() as session:
                session.execute(query, {"id": attempt})
                in_transaction = _in_transaction(session.connection().connection.driver_connection)
            assert in_transaction is database.is_sqlite
        with database.read_connection() as conn:
            conn.execute(query, {"id": 0})
            assert _in_transaction(conn.connection.driver_connection) is database.is_sqlite
            if not database.is_sqlite:
                prepared = conn.execute(
                    text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%FROM users%'")
                ).scalar_one()
                assert prepared == 1
    finally:
        database.dispose()


def _in_transaction(driver_connection: object) -> bool:
    import sqlite3

    if isinstance(driver_connection, sqlite3.Connection):
        return driver_connection.in_transaction
    from psycopg.pq import TransactionStatus

    return driver_connection.info.transaction_status != TransactionStatus.IDLE  # type: ignore[attr-defined]


def test_papers_move_into_a_table_of_their_own_and_back(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """0021: an attempt's paper and a paper drawn ahead become rows of `papers` (the attempt's
    keeps its id); a paper drawn anew after the upgrade gets an id past them (PostgreSQL's
    sequence moved on); a downgrade puts every paper back where it was."""
    from tests.test_backup import new_database

    with new_database(database_url, tmp_path, "papers") as url:
        database = Database(url)
        try:
            migrate.upgrade(database, "0020")
            with database.write() as db:
                for statement in (
                    "INSERT INTO units (id, parent_id, name, kind, lineage, path, created_at) "
                    "VALUES (1, NULL, 'P', 'province', '/1/', 'P', '2026-01-01 00:00:00')",
                    "INSERT INTO users (id, username, full_name, unit_id, password_hash,"
                    " must_change_password, is_active, created_at, password_changed_at)"
                    " VALUES (1, 'li', 'Li', 1, 'x', false, true, '2026-01-01 00:00:00',"
                    " '2026-01-01 00:00:00')",
                    "INSERT INTO attempts (id, user_id, kind, course_id, module_id, content_hash, seed,"
                    " status, started_at, max_score, pass_mark, review) VALUES (7, 1, 'exam', 'c', NULL,"
                    " 'h', 1, 'in_progress', '2026-03-05 09:00:00', 3, 0.8, 'after_submit')",
                    "INSERT INTO attempt_papers (attempt_id, snapshot, layout)"
                    " VALUES (7, '[\"taken\"]', 'L7')",
                    "INSERT INTO sittings (id, course_id, opens_at, closes_at, place, scope_lineage,"
                    " created_at) VALUES (1, 'c', '2026-03-06 09:00:00', '2026-03-06 11:00:00', 'Hall',"
                    " '/1/', '2026-03-01 00:00:00')",
                    "INSERT INTO prepared_papers (sitting_id, user_id, lang, stamp, seen_through, seed,"
                    " snapshot, layout, served, prepared_at) VALUES (1, 1, 'zh-CN', 's', 7, 2,"
                    " '[\"ahead\"]', 'L', '[]', '2026-03-01 00:00:00')",
                ):
                    db.execute(text(statement))
            migrate.upgrade(database)
            assert migrate.schema_differences(database) == []
            with database.session() as db:
                held = db.execute(
                    text(
                        "SELECT l.attempt_id, p.id, p.snapshot, p.layout FROM attempt_papers l "
                        "JOIN papers p ON p.id = l.paper_id"
                    )
                ).all()
                ahead = db.execute(
                    text(
                        "SELECT p.id, p.snapshot, p.layout FROM prepared_papers r "
                        "JOIN papers p ON p.id = r.paper_id"
                    )
                ).one()
            with database.write() as db:
                new_id = db.execute(
                    text("INSERT INTO papers (snapshot) VALUES ('[]') RETURNING id")
                ).scalar_one()
                db.execute(text("DELETE FROM papers WHERE id = :id"), {"id": new_id})
            migrate.downgrade(database, "0020")
            with database.session() as db:
                back = db.execute(text("SELECT attempt_id, snapshot, layout FROM attempt_papers")).all()
                ahead_back = db.execute(text("SELECT snapshot, layout, served FROM prepared_papers")).one()
            migrate.upgrade(database)  # and up again
            assert migrate.schema_differences(database) == []
        finally:
            database.dispose()
    assert [tuple(row) for row in held] == [(7, 7, '["taken"]', "L7")]
    assert ahead[0] > 7
    assert tuple(ahead[1:]) == ('["ahead"]', "L")
    assert new_id > ahead[0]
    assert [tuple(row) for row in back] == [(7, '["taken"]', "L7")]
    assert tuple(ahead_back) == ('["ahead"]', "L", "[]")


def test_sqlite_refusing_to_begin_raises_sqlalchemys_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """BEGIN goes to the driver directly; a refusal still comes as SQLAlchemy's OperationalError
    (which the app answers with 503), not as the driver's own exception."""
    import sqlite3

    from sqlalchemy import event

    path = tmp_path / "locked.db"
    database = Database(f"sqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)  # another process, writing
    try:

        @event.listens_for(database.engine, "checkout")
        def _no_waiting(dbapi_connection, *_args):  # type: ignore[no-untyped-def]
            dbapi_connection.execute("PRAGMA busy_timeout=0")

        with database.write() as session:
            session.execute(text("CREATE TABLE t (x INTEGER)"))
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(exc.OperationalError, match="database is locked"), database.write() as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
        other.execute("ROLLBACK")
        with database.write() as session:
            session.execute(text("INSERT INTO t VALUES (2)"))
        with database.session() as session:
            assert session.execute(text("SELECT x FROM t")).scalars().all() == [2]
    finally:
        other.close()
        database.dispose()
