"""The group commit of exam answer saves (trainer.quizzes.answer_writer), on the real database:
saves that queue while a transaction commits share the next one, each is acknowledged only once
stored, a save into a closed attempt is refused without touching the others, and a failed
transaction fails every save in it and nothing else."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.conftest import complete_modules, make_person, right_answer, token
from trainer.access import Viewer
from trainer.db import Database, utcnow
from trainer.people import auth
from trainer.quizzes import answer_writer, service
from trainer.quizzes.answer_writer import AnswerWriter
from trainer.quizzes.models import Attempt, AttemptAnswer


def open_exam(client: TestClient, database: Database) -> tuple[Viewer, dict[str, Any]]:
    headers = token(client, make_person(database, "inspector"))
    complete_modules(client, headers, database)
    attempt = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers).json()
    viewer = auth.load_api_token(database, headers["Authorization"].removeprefix("Bearer "), utcnow())
    assert viewer is not None
    return viewer, attempt


def rows_of(database: Database, viewer: Viewer, attempt: dict[str, Any]) -> list[dict[str, Any]]:
    """Every question of the attempt answered right, checked as the API checks a save."""
    rows = []
    for question in attempt["questions"]:
        slot = question["slot"]
        checked = service.check_answers(
            database, viewer, attempt["id"], {slot: right_answer(database, attempt["id"], slot)}, utcnow()
        )
        rows.extend(checked.rows)
    return rows


def stored_slots(database: Database, attempt_id: int) -> set[int]:
    with database.session() as db:
        return set(db.scalars(select(AttemptAnswer.slot).where(AttemptAnswer.attempt_id == attempt_id)))


class Recorder:
    """The service's statement, remembering the transaction each row went in, and able to hold
    the first transaction open until released (so saves queue behind it)."""

    def __init__(self, fail_slot: int | None = None) -> None:
        self.transactions: list[tuple[Any, int]] = []  # (transaction, slot)
        self.release = threading.Event()
        self.holding = threading.Event()
        self.fail_slot = fail_slot

    def __call__(self, conn: Any, row: dict[str, Any]) -> bool:
        if not self.transactions:
            self.holding.set()
            assert self.release.wait(30)
        self.transactions.append((conn.get_transaction(), row["slot"]))
        if row["slot"] == self.fail_slot:
            raise RuntimeError("the database went away")
        return service.store_answer(conn, row)

    def batches(self) -> list[list[int]]:
        grouped: dict[int, list[int]] = {}
        for transaction, slot in self.transactions:
            grouped.setdefault(id(transaction), []).append(slot)
        return list(grouped.values())


def test_saves_queued_during_a_commit_share_the_next_transaction(
    client: TestClient, migrated_database: Database
) -> None:
    viewer, attempt = open_exam(client, migrated_database)
    first, *rest = rows_of(migrated_database, viewer, attempt)
    assert rest
    recorder = Recorder()
    writer = AnswerWriter(migrated_database, recorder)
    try:
        pending = [writer.write(first)]
        assert recorder.holding.wait(30)  # the first save's transaction is open
        pending += [writer.write(row) for row in rest]
        assert not any(save.done() for save in pending)  # none acknowledged before its commit
        recorder.release.set()
        assert [save.result(30) for save in pending] == [True] * len(pending)
    finally:
        writer.close()
    assert recorder.batches() == [[first["slot"]], [row["slot"] for row in rest]]
    assert stored_slots(migrated_database, attempt["id"]) == {q["slot"] for q in attempt["questions"]}


def test_a_save_into_a_closed_attempt_is_refused_and_its_batch_still_stored(
    client: TestClient, migrated_database: Database
) -> None:
    open_viewer, open_attempt = open_exam(client, migrated_database)
    closed_viewer, closed_attempt = open_exam(client, migrated_database)
    open_rows = rows_of(migrated_database, open_viewer, open_attempt)
    closed_rows = rows_of(migrated_database, closed_viewer, closed_attempt)
    with migrated_database.write() as db:  # graded elsewhere after these saves were checked
        db.execute(update(Attempt).where(Attempt.id == closed_attempt["id"]).values(status="graded"))
    recorder = Recorder()
    writer = AnswerWriter(migrated_database, recorder)
    try:
        held = writer.write(open_rows[0])
        assert recorder.holding.wait(30)
        refused = writer.write(closed_rows[0])
        rest = [writer.write(row) for row in open_rows[1:]]
        recorder.release.set()
        assert held.result(30) is True
        assert refused.result(30) is False
        assert [save.result(30) for save in rest] == [True] * len(rest)
    finally:
        writer.close()
    assert len(recorder.batches()) == 2
    assert stored_slots(migrated_database, closed_attempt["id"]) == set()
    assert stored_slots(migrated_database, open_attempt["id"]) == {
        q["slot"] for q in open_attempt["questions"]
    }


def test_a_failed_transaction_fails_every_save_in_it_and_the_writer_goes_on(
    client: TestClient, migrated_database: Database
) -> None:
    viewer, attempt = open_exam(client, migrated_database)
    first, second, *rest = rows_of(migrated_database, viewer, attempt)
    recorder = Recorder(fail_slot=second["slot"])
    writer = AnswerWriter(migrated_database, recorder)
    try:
        stored = writer.write(first)
        assert recorder.holding.wait(30)
        doomed = [writer.write(second), *(writer.write(row) for row in rest)]
        recorder.release.set()
        assert stored.result(30) is True
        for save in doomed:
            with pytest.raises(RuntimeError, match="went away"):
                save.result(30)
        recorder.fail_slot = None
        again = writer.write(second)  # the thread is still there and stores the next batch
        assert again.result(30) is True
    finally:
        writer.close()
    assert stored_slots(migrated_database, attempt["id"]) == {first["slot"], second["slot"]}


def test_closing_stores_what_is_queued_and_a_later_save_starts_again(
    client: TestClient, migrated_database: Database
) -> None:
    viewer, attempt = open_exam(client, migrated_database)
    first, *rest = rows_of(migrated_database, viewer, attempt)
    recorder = Recorder()
    writer = AnswerWriter(migrated_database, recorder)
    pending = [writer.write(first)]
    assert recorder.holding.wait(30)
    pending += [writer.write(row) for row in rest[:-1]]
    closing = threading.Thread(target=writer.close)
    closing.start()
    recorder.release.set()
    closing.join(30)
    assert not closing.is_alive()
    assert all(save.done() and save.result() is True for save in pending)  # stored before it ended
    assert writer._thread is None
    # A test client runs the app's shutdown while its live server goes on serving.
    assert writer.write(rest[-1]).result(30) is True
    writer.close()
    assert stored_slots(migrated_database, attempt["id"]) == {row["slot"] for row in [first, *rest]}


def test_the_thread_ends_when_idle_and_the_next_save_starts_it_again(
    client: TestClient, migrated_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(answer_writer, "IDLE_SECONDS", 0.05)
    viewer, attempt = open_exam(client, migrated_database)
    first, second, *_ = rows_of(migrated_database, viewer, attempt)
    writer = AnswerWriter(migrated_database, service.store_answer)
    try:
        assert writer.write(first).result(30) is True
        deadline = time.monotonic() + 30
        while writer._thread is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert writer._thread is None  # nothing left running behind a quiet app (or a test's)
        assert writer.write(second).result(30) is True
    finally:
        writer.close()
    assert stored_slots(migrated_database, attempt["id"]) == {first["slot"], second["slot"]}
