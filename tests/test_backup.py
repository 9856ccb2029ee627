"""`trainer backup` and `trainer restore` on the test's database (SQLite file, or PostgreSQL when
TRAINER_TEST_DATABASE_URL is set): the restore drill (back up while inspectors keep answering,
restore into an empty database, every answer acknowledged before the backup began is there and
the audit chain verifies), and the refusals that keep a restore from doing harm."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from tests.conftest import AUDIT_KEY, ContentDirs, ready_for_exam, right_answer
from tests.test_cli import trainer
from trainer import migrate
from trainer.app import create_app
from trainer.audit import service as audit
from trainer.cli import backup as backups
from trainer.config import Settings
from trainer.db import Database
from trainer.quizzes.models import AttemptAnswer


@contextmanager
def new_database(database_url: str, tmp_path: Path, name: str) -> Iterator[str]:
    """A new, empty database of the test's kind, dropped afterwards."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{(tmp_path / f'{name}.db').as_posix()}"
        return
    base = os.environ["TRAINER_TEST_DATABASE_URL"]
    name = f"trainer_{name}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def empty_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database to restore into."""
    with new_database(database_url, tmp_path, "restore") as url:
        yield url


@pytest.fixture
def own_site(
    database_url: str, tmp_path: Path, make_settings: Callable[..., Settings], content: ContentDirs
) -> Iterator[tuple[TestClient, Database, Settings]]:
    """An app on a database of its own: the drill verifies the whole audit chain, which other
    tests' commands (signed with other keys) would otherwise share."""
    with new_database(database_url, tmp_path, "drill") as url:
        database = Database(url, audit_key=AUDIT_KEY)
        migrate.upgrade(database)
        settings = make_settings(content, database_url=url)
        app = create_app(settings)
        with TestClient(app, base_url="http://testserver") as client:
            yield client, database, settings
        app.state.database.dispose()
        database.dispose()


def test_restore_drill_backup_while_answering(
    own_site: tuple[TestClient, Database, Settings], empty_database_url: str, tmp_path: Path
) -> None:
    client, migrated_database, settings = own_site
    headers, _ = ready_for_exam(client, migrated_database)
    attempt = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers).json()
    questions = attempt["questions"]

    def response(question: dict[str, object], round_: int) -> dict[str, object]:
        options = question.get("options")
        if isinstance(options, list) and question["type"] in ("single", "truefalse"):
            return {"selected": [options[round_ % len(options)]["key"]]}  # a new value each round
        return right_answer(migrated_database, attempt["id"], int(str(question["slot"])))

    # Per slot, the stored form (bank keys) of every acknowledged answer, in order.
    acknowledged: dict[int, list[str]] = {int(str(q["slot"])): [] for q in questions}
    backup_started = threading.Event()
    last_before: dict[int, int] = {}  # slot -> index of its last answer acknowledged before the backup
    stop = threading.Event()

    def stored(slot: int) -> str:
        with migrated_database.session() as db:
            return db.scalars(
                select(AttemptAnswer.response).where(
                    AttemptAnswer.attempt_id == attempt["id"], AttemptAnswer.slot == slot
                )
            ).one()

    def answer() -> None:
        round_ = 0
        while not stop.is_set():
            for question in questions:
                slot = int(str(question["slot"]))
                reply = client.put(
                    f"/api/v1/attempts/{attempt['id']}/answers/{slot}",
                    headers=headers,
                    json=response(question, round_),
                )
                assert reply.status_code == 200, reply.text
                acknowledged[slot].append(stored(slot))  # one writer: the row is this answer
                if not backup_started.is_set():  # acknowledged before the backup began
                    last_before[slot] = len(acknowledged[slot]) - 1
            round_ += 1

    answering = threading.Thread(target=answer)
    answering.start()
    try:
        while len(last_before) < len(questions):  # every slot answered at least once
            threading.Event().wait(0.01)
        backup_started.set()
        done = backups.backup(settings, migrated_database, tmp_path / "backup")
        threading.Event().wait(0.2)  # answering goes on after the backup too
    finally:
        stop.set()
        answering.join()
    assert done.rows > 0

    restored = Database(empty_database_url, audit_key=AUDIT_KEY)
    try:
        backups.restore(restored, tmp_path / "backup")
        with restored.session() as db:
            rows = {
                row.slot: row.response
                for row in db.scalars(select(AttemptAnswer).where(AttemptAnswer.attempt_id == attempt["id"]))
            }
        assert set(rows) == set(last_before)
        for slot, index in last_before.items():
            # The last answer acknowledged before the backup began, or one saved after it.
            assert rows[slot] in acknowledged[slot][index:], slot
        verified = audit.verify(restored)
        assert verified.ok, verified.reason
        assert verified.checked > 0
    finally:
        restored.dispose()


def test_the_manifest_says_what_is_not_in_the_backup(
    migrated_database: Database, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    backups.backup(settings, migrated_database, tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["database"] == ("sqlite" if migrated_database.is_sqlite else "postgresql")
    assert manifest["schema_revision"]
    assert manifest["content_library"]["courses_dir"] == str(settings.courses_dir.resolve())
    assert manifest["secret_key"]["location"] == "environment variable TRAINER_SECRET_KEY"
    assert "TRAINER_SECRET_KEY" not in json.dumps(manifest).replace(
        "environment variable TRAINER_SECRET_KEY", ""
    )
    assert settings.secret_key not in (tmp_path / "b" / "manifest.json").read_text(encoding="utf-8")
    assert manifest["rows"]["alembic_version"] == 1


def test_restore_refuses_a_database_that_is_not_empty_and_changes_nothing(
    migrated_database: Database, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    backups.backup(make_settings(), migrated_database, tmp_path / "b")
    before = backups._row_counts(migrated_database)
    with pytest.raises(backups.BackupError, match="not empty"):
        backups.restore(migrated_database, tmp_path / "b")
    assert backups._row_counts(migrated_database) == before


def test_restore_refuses_a_damaged_copy(
    migrated_database: Database,
    make_settings: Callable[..., Settings],
    empty_database_url: str,
    tmp_path: Path,
) -> None:
    done = backups.backup(make_settings(), migrated_database, tmp_path / "b")
    data = bytearray(done.file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    done.file.write_bytes(bytes(data))
    target = Database(empty_database_url)
    try:
        with pytest.raises(backups.BackupError, match="SHA-256"):
            backups.restore(target, tmp_path / "b")
        assert backups._row_counts(target) == {}
    finally:
        target.dispose()


def test_backup_refuses_a_folder_that_is_not_empty(
    migrated_database: Database, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "old.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(backups.BackupError, match="not empty"):
        backups.backup(make_settings(), migrated_database, tmp_path / "b")
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["old.txt"]


def test_restore_names_a_folder_that_is_no_backup(empty_database_url: str, tmp_path: Path) -> None:
    target = Database(empty_database_url)
    try:
        with pytest.raises(backups.BackupError, match="not a trainer backup"):
            backups.restore(target, tmp_path)
    finally:
        target.dispose()


def test_the_commands_back_up_and_restore(
    database_url: str, migrated_database: Database, empty_database_url: str, tmp_path: Path
) -> None:
    env = {
        "TRAINER_DATABASE_URL": database_url,
        "TRAINER_SECRET_KEY": "x" * 8 + "-backup-test-secret-0123456789",
    }
    env["TRAINER_DATA_DIR"] = str(tmp_path / "data")
    made = trainer("backup", str(tmp_path / "b"), env=env)
    assert made.returncode == 0, made.stderr
    assert "backed up" in made.stdout
    again = trainer("backup", str(tmp_path / "b"), env=env)
    assert again.returncode == 1
    assert "not empty" in again.stderr
    restored = trainer(
        "restore", str(tmp_path / "b"), env={**env, "TRAINER_DATABASE_URL": empty_database_url}
    )
    assert restored.returncode == 0, restored.stderr
    assert "row counts match the manifest" in restored.stdout
    twice = trainer("restore", str(tmp_path / "b"), env={**env, "TRAINER_DATABASE_URL": empty_database_url})
    assert twice.returncode == 1
    assert "not empty" in twice.stderr
