"""Correcting a wrong key after papers were graded with it: `trainer regrade --question ID
--current-key` re-scores every stored response to that question against the bank's current key,
records and audits each change, issues the certificate an exam now earns, and lists (never
revokes) certificates whose exam no longer passes."""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import ContentDirs, complete_modules, make_person, right_answer, token
from trainer.app import create_app
from trainer.audit.models import AuditEvent
from trainer.certification.models import Certificate
from trainer.config import Settings
from trainer.content.loader import load_library_or_raise
from trainer.db import Database, utcnow
from trainer.quizzes import service
from trainer.quizzes.models import Attempt, AttemptAnswer, AttemptPaper, KeyCorrection, Paper
from trainer.quizzes.snapshot import to_served

BANK = "question_bank/demo/ventilation.yaml"
COURSE = "courses/demo-course/course.yaml"


def take_exam(client: TestClient, database: Database, choice: str) -> int:
    """An exam of DEMO-0001 (single: a is right) and DEMO-0003 (true/false), DEMO-0001 answered
    with bank option `choice`, DEMO-0003 right."""
    person = make_person(database, "inspector", unit="Heilongjiang/Harbin")
    headers = token(client, person)
    complete_modules(client, headers, database)
    attempt = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers).json()
    assert {q["id"] for q in attempt["questions"]} == {"DEMO-0001", "DEMO-0003"}
    with database.session() as db:
        paper = {e["id"]: e for e in json.loads(service.paper_of(db, attempt["id"]))}
    for question in attempt["questions"]:
        if question["id"] == "DEMO-0001":
            answer = to_served(paper["DEMO-0001"], {"selected": [choice]})
        else:
            answer = right_answer(database, attempt["id"], question["slot"])
        saved = client.put(
            f"/api/v1/attempts/{attempt['id']}/answers/{question['slot']}", headers=headers, json=answer
        )
        assert saved.status_code == 200, saved.text
    assert client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers).status_code == 200
    return int(attempt["id"])


def results(database: Database, *ids: int) -> dict[int, tuple[float | None, bool | None]]:
    with database.session() as db:
        return {a.id: (a.score, a.passed) for a in db.scalars(select(Attempt).where(Attempt.id.in_(ids)))}


def test_a_corrected_key_rescores_past_papers_issues_and_reports(
    make_settings: Callable[..., Settings], content: ContentDirs, migrated_database: Database
) -> None:
    content.edit(
        COURSE,
        "{tags: [ventilation], difficulty: [1, 3], count: 3}",
        "{tags: [ventilation], difficulty: [1, 1], count: 2}",
    )
    application = create_app(make_settings(content))
    with TestClient(application, base_url="http://testserver") as client:
        check_corrections(client, content, migrated_database)
    application.state.database.dispose()


def check_corrections(client: TestClient, content: ContentDirs, migrated_database: Database) -> None:
    wrong_then = take_exam(client, migrated_database, "b")  # right under the fixed key
    right_then = take_exam(client, migrated_database, "a")  # wrong under the fixed key
    with migrated_database.session() as db:
        before = {
            a.id: (a.score, a.passed)
            for a in db.scalars(select(Attempt).where(Attempt.id.in_([wrong_then, right_then])))
        }
    assert before == {wrong_then: (1.0, False), right_then: (2.0, True)}

    # A legal review finds the key wrong: b is right. The bank is fixed.
    content.edit(BANK, '{key: a, text: "Intake air", correct: true}', '{key: a, text: "Intake air"}')
    content.edit(
        BANK,
        '{key: b, text: "Return air", feedback:',
        '{key: b, text: "Return air", correct: true, feedback:',
    )
    library = load_library_or_raise(content.courses, content.bank)
    # One paper as papers were stored before 2026-12-04 (the json module's `"id": "X"` layout):
    # the correction finds papers of both layouts.
    with migrated_database.write() as db:
        old = db.get_one(Paper, db.get_one(AttemptPaper, wrong_then).paper_id)
        old.snapshot = json.dumps(json.loads(old.snapshot), ensure_ascii=False)
        assert '"id": "DEMO-0001"' in old.snapshot

    dry = service.correct_key(migrated_database, library, "DEMO-0001", dry_run=True, now=utcnow())
    assert {(c.attempt_id, c.old_score, c.new_score) for c in dry} >= {
        (wrong_then, 0.0, 1.0),
        (right_then, 1.0, 0.0),
    }
    with migrated_database.session() as db:
        assert db.scalar(select(KeyCorrection).where(KeyCorrection.attempt_id == wrong_then)) is None
        assert db.get_one(Attempt, wrong_then).score == 1.0  # a dry run changes nothing

    applied = service.correct_key(migrated_database, library, "DEMO-0001", dry_run=False, now=utcnow())
    mine = {c.attempt_id: c for c in applied if c.attempt_id in (wrong_then, right_then)}
    assert mine[wrong_then].new_passed is True
    assert mine[wrong_then].note == "certificate issued"
    assert mine[right_then].note == "exam no longer passes: for a manager to decide"
    with migrated_database.session() as db:
        after = {
            a.id: (a.score, a.passed)
            for a in db.scalars(select(Attempt).where(Attempt.id.in_([wrong_then, right_then])))
        }
        assert after == {wrong_then: (2.0, True), right_then: (1.0, False)}
        issued = db.scalar(select(Certificate).where(Certificate.attempt_id == wrong_then))
        assert issued is not None
        assert issued.number == mine[wrong_then].certificate
        kept = db.scalar(select(Certificate).where(Certificate.attempt_id == right_then))
        assert kept is not None
        assert (kept.revoked_at, kept.suspended_at) == (None, None)  # nothing is revoked silently
        events = db.scalars(select(AuditEvent).where(AuditEvent.action == "attempt.key_corrected")).all()
        assert {int(e.target_id) for e in events} >= {wrong_then, right_then}
        scores = db.scalars(select(AttemptAnswer.score).where(AttemptAnswer.attempt_id == wrong_then)).all()
        assert sorted(scores) == [1.0, 1.0]

    # The paper as served is untouched; a later plain regrade keeps the correction.
    assert all(not c.changed for c in service.regrade(migrated_database, attempt_id=wrong_then, dry_run=True))
    assert all(not c.changed for c in service.regrade(migrated_database, attempt_id=right_then, dry_run=True))
    # Running the correction again changes nothing more.
    again = service.correct_key(migrated_database, library, "DEMO-0001", dry_run=False, now=utcnow())
    assert not [c for c in again if c.attempt_id in (wrong_then, right_then)]
    with migrated_database.session() as db:
        listed = {row["attempt_id"]: row for row in service.corrections_of(db, "DEMO-0001")}
    assert listed[right_then]["certificate"] == mine[right_then].certificate


def test_the_trainer_item_page_lists_the_attempts_a_correction_changed(
    client: TestClient, migrated_database: Database
) -> None:
    from tests.conftest import sign_in

    person = make_person(migrated_database, "inspector", unit="Heilongjiang/Harbin")
    headers = token(client, person)
    complete_modules(client, headers, migrated_database)
    practice_id = next(
        a["id"] for a in client.get("/api/v1/me/attempts", headers=headers).json() if a["kind"] == "practice"
    )
    with migrated_database.write() as db:
        # A key that reads (the served one): the database is the run's, and other tests' key
        # corrections regrade every attempt of the course, this one included.
        paper = json.loads(service.paper_of(db, practice_id))
        served_key = json.dumps(next(e for e in paper if e["slot"] == 1)["key"])
        db.add(
            KeyCorrection(
                question_id="DEMO-0001",
                attempt_id=practice_id,
                slot=1,
                key=served_key,
                old_score=1.0,
                new_score=0.0,
                old_passed=True,
                new_passed=False,
                corrected_at=utcnow(),
            )
        )
    trainer = make_person(migrated_database, "trainer")
    sign_in(client, trainer)
    page = client.get("/trainer/items/DEMO-0001?course=demo-course")
    assert page.status_code == 200
    assert 'id="corrections-table"' in page.text
    assert f"({person.username})" in page.text
    assert "no longer passes" in page.text
    other = client.get("/trainer/items/DEMO-0002?course=demo-course")
    assert 'id="corrections-table"' not in other.text
