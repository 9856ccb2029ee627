"""Practice quizzes and final exams through the JSON API: server-owned clock, exactly-once
grading, snapshots, and no answer key before submission."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from tests.conftest import (
    ContentDirs,
    LiveServer,
    complete_modules,
    make_person,
    right_answer,
    run_together,
    token,
)
from trainer.app import create_app
from trainer.audit.models import AuditEvent
from trainer.config import PROJECT_ROOT, Settings
from trainer.db import Database, utcnow
from trainer.quizzes import service
from trainer.quizzes.models import Attempt, AttemptAnswer, AttemptPaper, Paper

SECRET_WORDS = [
    "correct",
    "feedback",
    "explanation",
    "accept",
    '"key": {',
    "answer_pairs",
    "Intake air reaches",
    "Airflow dilutes methane and carries dust away",
    "Return air is checked too",
]


def assert_no_key_material(text: str) -> None:
    for word in SECRET_WORDS:
        assert word not in text, word


def test_practice_gives_immediate_feedback(client: TestClient, migrated_database: Database) -> None:
    headers = token(client, make_person(migrated_database, "inspector"))
    started = client.post("/api/v1/modules/demo-first/practice/attempts", headers=headers)
    assert started.status_code == 200
    attempt = started.json()
    assert attempt["status"] == "in_progress"
    assert attempt["deadline"] is None
    assert len(attempt["questions"]) >= 2
    assert_no_key_material(started.text)
    first = attempt["questions"][0]
    assert {"slot", "id", "type", "stem_html"} <= set(first)
    saved = client.put(
        f"/api/v1/attempts/{attempt['id']}/answers/{first['slot']}",
        headers=headers,
        json=right_answer(migrated_database, attempt["id"], first["slot"]),
    )
    assert saved.status_code == 200
    assert saved.json()["review"]["score"] == 1
    assert "explanation_html" in saved.json()["review"]


def test_the_exam_needs_every_module_completed_first(client: TestClient, migrated_database: Database) -> None:
    headers = token(client, make_person(migrated_database, "inspector"))
    refused = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers)
    assert refused.status_code == 403
    assert refused.json()["detail"]["missing_modules"] == ["demo-first", "demo-second"]
    complete_modules(client, headers, migrated_database)
    started = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers)
    assert started.status_code == 200
    assert started.json()["deadline"] is not None


def test_a_full_exam_serves_no_key_material(client: TestClient, migrated_database: Database) -> None:
    headers = token(client, make_person(migrated_database, "inspector"))
    complete_modules(client, headers, migrated_database)
    bodies = []
    started = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers)
    bodies.append(started.text)
    attempt = started.json()
    assert len(attempt["questions"]) >= 3
    for question in attempt["questions"]:
        response = client.put(
            f"/api/v1/attempts/{attempt['id']}/answers/{question['slot']}",
            headers=headers,
            json=right_answer(migrated_database, attempt["id"], question["slot"]),
        )
        assert response.status_code == 200
        bodies.append(response.text)
        bodies.append(client.get(f"/api/v1/attempts/{attempt['id']}", headers=headers).text)
    bodies.append(client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers).text)  # resume
    bodies.append(client.get("/api/v1/me/attempts", headers=headers).text)
    for body in bodies:
        assert_no_key_material(body)
    result = client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers).json()
    assert result["status"] == "graded"
    assert result["score"] == result["max_score"]
    assert result["passed"] is True
    review = client.get(f"/api/v1/attempts/{attempt['id']}", headers=headers).json()
    assert all("correct" in q and "explanation_html" in q for q in review["questions"])


def _exam(client: TestClient, database: Database) -> tuple[dict[str, str], dict[str, Any], Any]:
    person = make_person(database, "inspector")
    headers = token(client, person)
    complete_modules(client, headers, database)
    return headers, client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers).json(), person


def test_fifty_concurrent_submits_grade_once(
    live_server: LiveServer, client: TestClient, migrated_database: Database
) -> None:
    headers, attempt, _ = _exam(client, migrated_database)
    slot = attempt["questions"][0]["slot"]
    client.put(
        f"/api/v1/attempts/{attempt['id']}/answers/{slot}",
        headers=headers,
        json=right_answer(migrated_database, attempt["id"], slot),
    )

    def submit() -> tuple[int, str]:
        with httpx.Client(base_url=live_server.url, timeout=60) as http:
            response = http.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers)
            return response.status_code, response.text

    results = run_together([submit] * 50)
    assert {status for status, _ in results} == {200}
    assert len({body for _, body in results}) == 1  # every caller gets the same result
    with migrated_database.session() as db:
        gradings = db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "exam.graded", AuditEvent.target_id == str(attempt["id"]))
        )
    assert gradings == 1


def test_saves_racing_a_submit_are_graded_or_refused_never_lost(
    live_server: LiveServer, client: TestClient, migrated_database: Database
) -> None:
    """A save is one statement that goes in only while its attempt is open (the attempt's row
    locked while it does): every save the server acknowledged is in the grade, and every save
    after the grade is refused."""
    headers, attempt, _ = _exam(client, migrated_database)
    slots = [q["slot"] for q in attempt["questions"]]
    right = {slot: right_answer(migrated_database, attempt["id"], slot) for slot in slots}

    def save(slot: int) -> Callable[[], tuple[str, int, int]]:
        def send() -> tuple[str, int, int]:
            with httpx.Client(base_url=live_server.url, timeout=60) as http:
                answered = http.put(
                    f"/api/v1/attempts/{attempt['id']}/answers/{slot}", headers=headers, json=right[slot]
                )
                return "save", slot, answered.status_code

        return send

    def submit() -> tuple[str, int, int]:
        with httpx.Client(base_url=live_server.url, timeout=60) as http:
            return (
                "submit",
                0,
                http.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers).status_code,
            )

    jobs = [save(slot) for slot in slots]
    results = run_together([*jobs[: len(jobs) // 2], submit, *jobs[len(jobs) // 2 :]])
    assert ("submit", 0, 200) in results
    acknowledged = {slot for kind, slot, status in results if kind == "save" and status == 200}
    refused = {slot for kind, slot, status in results if kind == "save" and status == 409}
    assert acknowledged | refused == set(slots)  # nothing else: no 5xx, no lost request
    with migrated_database.session() as db:
        graded = db.get(Attempt, attempt["id"])
        assert graded is not None
        assert graded.status == "graded"
        answers = db.execute(
            select(AttemptAnswer.slot, AttemptAnswer.score).where(AttemptAnswer.attempt_id == attempt["id"])
        ).all()
    assert {slot for slot, _ in answers} == acknowledged  # no refused save left an answer behind
    assert all(score for _, score in answers)  # right answers: each one counts
    assert graded.score == sum(score for _, score in answers)  # every stored answer is in the grade


def test_fifty_concurrent_starts_create_one_attempt(
    live_server: LiveServer, client: TestClient, migrated_database: Database
) -> None:
    person = make_person(migrated_database, "inspector")
    headers = token(client, person)
    complete_modules(client, headers, migrated_database)

    def begin() -> tuple[int, int | None]:
        with httpx.Client(base_url=live_server.url, timeout=60) as http:
            response = http.post("/api/v1/courses/demo-course/exam/attempts", headers=headers)
            return response.status_code, response.json().get("id")

    results = run_together([begin] * 50)
    assert [status for status, _ in results] == [200] * 50
    assert len({attempt_id for _, attempt_id in results}) == 1
    with migrated_database.session() as db:
        exams = db.scalar(
            select(func.count())
            .select_from(Attempt)
            .where(Attempt.user_id == person.id, Attempt.kind == "exam")
        )
    assert exams == 1


def test_answers_after_the_deadline_are_refused_and_the_attempt_is_graded_as_of_it(
    client: TestClient, migrated_database: Database
) -> None:
    headers, attempt, _ = _exam(client, migrated_database)
    first, second = attempt["questions"][0]["slot"], attempt["questions"][1]["slot"]
    client.put(
        f"/api/v1/attempts/{attempt['id']}/answers/{first}",
        headers=headers,
        json=right_answer(migrated_database, attempt["id"], first),
    )
    deadline = utcnow() - service.GRACE - timedelta(seconds=1)
    with migrated_database.write() as db:
        db.execute(update(Attempt).where(Attempt.id == attempt["id"]).values(deadline=deadline))
    late = client.put(
        f"/api/v1/attempts/{attempt['id']}/answers/{second}",
        headers=headers,
        json=right_answer(migrated_database, attempt["id"], second),
    )
    assert late.status_code == 409
    view = client.get(f"/api/v1/attempts/{attempt['id']}", headers=headers).json()
    assert view["status"] == "graded"
    assert view["score"] == 1  # only the answer saved in time counts
    with migrated_database.session() as db:
        stored = db.get_one(Attempt, attempt["id"])
    assert stored.submitted_at == deadline  # graded as of the deadline, not of the late request


def test_an_abandoned_attempt_is_closed_and_graded(client: TestClient, migrated_database: Database) -> None:
    headers, attempt, _ = _exam(client, migrated_database)
    slot = attempt["questions"][0]["slot"]
    client.put(
        f"/api/v1/attempts/{attempt['id']}/answers/{slot}",
        headers=headers,
        json=right_answer(migrated_database, attempt["id"], slot),
    )
    with migrated_database.write() as db:
        db.execute(
            update(Attempt).where(Attempt.id == attempt["id"]).values(deadline=utcnow() - timedelta(hours=1))
        )
    assert service.close_overdue(migrated_database, utcnow()) >= 1
    with migrated_database.session() as db:
        stored = db.get_one(Attempt, attempt["id"])
    assert stored.status == "graded"
    assert stored.score == 1


def test_one_inspector_cannot_touch_anothers_attempt(client: TestClient, migrated_database: Database) -> None:
    _, attempt, _ = _exam(client, migrated_database)
    other = token(client, make_person(migrated_database, "inspector"))
    slot = attempt["questions"][0]["slot"]
    assert client.get(f"/api/v1/attempts/{attempt['id']}", headers=other).status_code == 404
    assert (
        client.put(
            f"/api/v1/attempts/{attempt['id']}/answers/{slot}", headers=other, json={"selected": ["a"]}
        ).status_code
        == 404
    )
    assert client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=other).status_code == 404


def test_malformed_answers_are_422_and_change_nothing(
    client: TestClient, migrated_database: Database
) -> None:
    headers, attempt, _ = _exam(client, migrated_database)
    slot = attempt["questions"][0]["slot"]
    for body in ({"selected": "a"}, {"value": "x"}, {"nonsense": 1}, {"selected": ["zz"]}):
        response = client.put(f"/api/v1/attempts/{attempt['id']}/answers/{slot}", headers=headers, json=body)
        assert response.status_code in (409, 422), body
    assert (
        client.put(
            f"/api/v1/attempts/{attempt['id']}/answers/999", headers=headers, json={"selected": ["a"]}
        ).status_code
        == 404
    )
    view = client.get(f"/api/v1/attempts/{attempt['id']}", headers=headers).json()
    assert all(q["response"] is None for q in view["questions"])


def test_editing_the_bank_never_changes_a_graded_attempt(
    make_settings: Any, content: ContentDirs, migrated_database: Database
) -> None:
    from trainer.app import create_app

    app = create_app(make_settings(content, content_reload=True))
    try:
        with TestClient(app) as client:
            headers, attempt, _ = _exam(client, migrated_database)
            for question in attempt["questions"]:
                client.put(
                    f"/api/v1/attempts/{attempt['id']}/answers/{question['slot']}",
                    headers=headers,
                    json=right_answer(migrated_database, attempt["id"], question["slot"]),
                )
            before = client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers).json()
            review_before = client.get(f"/api/v1/attempts/{attempt['id']}", headers=headers).json()
            # A trainer rewrites questions and changes which answer is right.
            content.edit(
                "question_bank/demo/ventilation.yaml",
                "Which air does an inspector check first",
                "REWRITTEN STEM",
            )
            content.edit("question_bank/demo/ventilation.yaml", "answer: false", "answer: true")
            assert client.get("/courses").status_code == 200  # the reload happened
            assert "REWRITTEN" in json.dumps(
                [q.model.stem for q in app.state.content.library.bank.questions.values()]
            )
            after = client.get(f"/api/v1/attempts/{attempt['id']}", headers=headers).json()
            assert after["score"] == before["score"]
            assert after["questions"] == review_before["questions"]
            assert "REWRITTEN" not in json.dumps(after)
    finally:
        app.state.database.dispose()


def test_regrade_dry_run_shows_and_changes_nothing_then_applies_and_audits(
    client: TestClient, migrated_database: Database, database_url: str
) -> None:
    import os
    import subprocess
    import sys

    headers, attempt, _ = _exam(client, migrated_database)
    for question in attempt["questions"]:
        client.put(
            f"/api/v1/attempts/{attempt['id']}/answers/{question['slot']}",
            headers=headers,
            json=right_answer(migrated_database, attempt["id"], question["slot"]),
        )
    result = client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers).json()
    assert service.regrade(migrated_database, attempt_id=attempt["id"], dry_run=True)[0].changed is False
    # Simulate a score stored by a faulty grader.
    with migrated_database.write() as db:
        db.execute(update(Attempt).where(Attempt.id == attempt["id"]).values(score=1.0, passed=False))
    env = {
        **os.environ,
        "TRAINER_DATABASE_URL": database_url,
        "TRAINER_SECRET_KEY": "r" * 20 + "0123456789abcdefghijkl",
    }
    dry = subprocess.run(
        [sys.executable, "-m", "trainer.cli", "regrade", str(attempt["id"]), "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert dry.returncode == 0, dry.stderr
    assert f"attempt {attempt['id']}: 1.0 -> {result['score']}" in dry.stdout
    assert "1 would change" in dry.stdout
    with migrated_database.session() as db:
        assert db.get_one(Attempt, attempt["id"]).score == 1.0  # the dry run changed nothing
    applied = service.regrade(migrated_database, attempt_id=attempt["id"], dry_run=False)
    assert applied[0].new_score == result["score"]
    with migrated_database.session() as db:
        stored = db.get_one(Attempt, attempt["id"])
        logged = db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "attempt.regraded", AuditEvent.target_id == str(attempt["id"]))
        )
    assert stored.score == result["score"]
    assert stored.passed is True
    assert logged == 1


def test_the_results_page_shows_best_latest_and_mastery(
    client: TestClient, migrated_database: Database
) -> None:
    from tests.conftest import sign_in

    person = make_person(migrated_database, "inspector")
    headers = token(client, person)
    complete_modules(client, headers, migrated_database)  # one practice quiz passed at 100%
    weak = client.post("/api/v1/modules/demo-first/practice/attempts", headers=headers).json()
    client.post(f"/api/v1/attempts/{weak['id']}/submit", headers=headers)  # 0%: latest, not best
    with migrated_database.session() as db:
        scores = service.scores_of(db, client.app.state.content.library, person.id)  # type: ignore[attr-defined]
    practice = scores.practice["demo-first"]
    assert practice.attempts == 2
    assert practice.best == 1
    assert practice.latest == 0
    assert scores.completed == {"demo-first", "demo-second"}
    average, count = scores.mastery["ventilation"]
    assert 0 < average < 1
    assert count >= 2
    sign_in(client, person)
    page = client.get("/me/results")
    assert page.status_code == 200
    assert "100%" in page.text
    assert "Mastery by topic" in page.text
    assert page.headers["cache-control"] == "no-store"


def test_autosave_keeps_the_valid_answers_and_waits_for_an_order_being_numbered(
    client: TestClient, migrated_database: Database
) -> None:
    """The attempt page's form saves every answered question; an order question part-numbered
    (blank or twice-given positions) is left unsaved while autosaving and reported on Save."""
    from tests.conftest import csrf_token, sign_in
    from trainer.quizzes import snapshot
    from trainer.quizzes.assembly import ServedQuestion
    from trainer.quizzes.models import AttemptAnswer

    library = client.app.state.content.library  # type: ignore[attr-defined]
    served = [
        ServedQuestion(1, "DEMO-0001", None, options=(("o00000a", "a"), ("o00000b", "b"), ("o00000c", "c"))),
        ServedQuestion(
            2,
            "DEMO-0006",
            None,
            options=(("isweep0", "sweep"), ("ipull00", "pull"), ("isqueez", "squeeze"), ("iaim000", "aim")),
        ),
    ]
    paper = [snapshot.snapshot_question(q, library) for q in served]
    person = make_person(migrated_database, "inspector")
    now = utcnow()
    with migrated_database.write() as db:
        attempt = Attempt(
            user_id=person.id,
            kind="exam",
            course_id="demo-course",
            content_hash="test",
            seed=1,
            status="in_progress",
            started_at=now,
            deadline=now + timedelta(minutes=30),
            max_score=2.0,
            pass_mark=0.8,
            review="after_submit",
        )
        db.add(attempt)
        db.flush()
        attempt_id = attempt.id
        stored = Paper(snapshot=json.dumps(paper))
        db.add(stored)
        db.flush()
        db.add(AttemptPaper(attempt_id=attempt_id, paper_id=stored.id))
    sign_in(client, person)
    csrf = csrf_token(client, f"/attempts/{attempt_id}")

    served_item = {"pull": "ipull00", "aim": "iaim000", "squeeze": "isqueez", "sweep": "isweep0"}

    def post(order: dict[str, str], **extra: str) -> Any:
        positions = {f"q2-{served_item[k]}": v for k, v in order.items()}
        form = {"csrf_token": csrf, "q1": "o00000a", **positions, **extra}
        return client.post(f"/attempts/{attempt_id}/answers", data=form, follow_redirects=False)

    def stored() -> dict[int, Any]:
        with migrated_database.session() as db:
            rows = db.scalars(select(AttemptAnswer).where(AttemptAnswer.attempt_id == attempt_id)).all()
        return {row.slot: json.loads(row.response) for row in rows}

    blank = {"pull": "1", "aim": "", "squeeze": "", "sweep": ""}
    twice = {"pull": "1", "aim": "1", "squeeze": "3", "sweep": "4"}
    for numbering in (blank, twice):  # autosave: the valid answer is saved, no error
        assert post(numbering, autosave="1").status_code == 303
        assert stored() == {1: {"selected": ["a"]}}
    refused = post(twice)  # the Save button: the valid answer saved, the order question reported
    assert refused.status_code == 400
    assert "Give each position once." in refused.text
    assert stored() == {1: {"selected": ["a"]}}
    done = post({"pull": "1", "aim": "2", "squeeze": "3", "sweep": "4"}, autosave="1")
    assert done.status_code == 303
    assert stored() == {1: {"selected": ["a"]}, 2: {"order": ["pull", "aim", "squeeze", "sweep"]}}


def test_a_starts_answer_is_the_attempt_as_read_back(
    make_settings: Callable[..., Settings], migrated_database: Database
) -> None:
    """A start answers with the view it built from the paper in hand (no re-read): it must be
    exactly what reading the attempt back gives, for every practice quiz of the sample library
    (every question type) in both languages, and for an exam; a resumed start is the read-back."""
    settings = make_settings(
        courses_dir=PROJECT_ROOT / "courses", question_bank_dir=PROJECT_ROOT / "question_bank"
    )
    application = create_app(settings)
    try:
        with TestClient(application, base_url="http://testserver") as client:
            library = application.state.content.library
            headers = token(client, make_person(migrated_database, "inspector"))
            types: set[str] = set()
            for module in library.modules.values():
                if module.practice is None:
                    continue
                for lang in ("zh-CN", "en"):
                    started = client.post(
                        f"/api/v1/modules/{module.id}/practice/attempts?lang={lang}", headers=headers
                    )
                    assert started.status_code == 200, started.text
                    body = started.json()
                    assert body["lang"] == lang
                    assert body["status"] == "in_progress"
                    read_back = client.get(f"/api/v1/attempts/{body['id']}", headers=headers)
                    assert read_back.json() == body, module.id
                    types |= {q["type"] for q in body["questions"]}
            assert {"single", "multi", "truefalse", "numeric", "text", "order", "match"} <= types, types
    finally:
        application.state.database.dispose()


def test_an_exam_starts_answer_is_the_attempt_as_read_back(
    client: TestClient, migrated_database: Database
) -> None:
    headers = token(client, make_person(migrated_database, "inspector"))
    complete_modules(client, headers, migrated_database)
    started = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers)
    assert started.status_code == 200
    body = started.json()
    assert body["kind"] == "exam"
    assert body["deadline"] is not None
    assert client.get(f"/api/v1/attempts/{body['id']}", headers=headers).json() == body
    resumed = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers)
    assert resumed.json() == body


def test_answers_saved_before_marks_were_stored_with_them_are_scored_at_grading(
    client: TestClient, migrated_database: Database
) -> None:
    """A save stores the answer's mark and grading adds the marks up; an answer saved before that
    (mark NULL: an exam open across the upgrade) is scored when graded, its mark stored."""
    headers, attempt, _ = _exam(client, migrated_database)
    for question in attempt["questions"]:
        saved = client.put(
            f"/api/v1/attempts/{attempt['id']}/answers/{question['slot']}",
            headers=headers,
            json=right_answer(migrated_database, attempt["id"], question["slot"]),
        )
        assert saved.status_code == 200
    with migrated_database.session() as db:
        marks = db.scalars(select(AttemptAnswer.score).where(AttemptAnswer.attempt_id == attempt["id"])).all()
    assert marks == [1.0] * len(attempt["questions"])  # stored as saved
    with migrated_database.write() as db:
        db.execute(update(AttemptAnswer).where(AttemptAnswer.attempt_id == attempt["id"]).values(score=None))
    result = client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers).json()
    assert result["score"] == result["max_score"] == len(attempt["questions"])
    assert result["passed"] is True
    with migrated_database.session() as db:
        marks = db.scalars(select(AttemptAnswer.score).where(AttemptAnswer.attempt_id == attempt["id"])).all()
    assert marks == [1.0] * len(attempt["questions"])


def test_another_process_reads_the_paper_its_start_cached(
    client: TestClient, migrated_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that did not start an attempt (another app process, or after a restart) reads
    its paper from the database on its first save or submit: cut up by the layout stored with it
    (no entry parsed and serialised again), the same paper the start cached. A paper stored
    before layouts, or whose layout does not fit it, is parsed instead, to the same paper."""
    headers, attempt, _ = _exam(client, migrated_database)
    started = client.app.state.database.caches[service._PAPERS].get(attempt["id"])  # type: ignore[attr-defined]
    assert started is not None
    assert len(started.entries) == len(attempt["questions"])

    def read_elsewhere() -> service._Paper | None:
        other = Database(migrated_database.url)  # a process of its own: nothing cached
        try:
            return service._paper(other, attempt["id"])
        finally:
            other.dispose()

    with monkeypatch.context() as patched:
        patched.setattr(service, "_entry_text", lambda entry: pytest.fail("parsed, not cut up"))
        assert read_elsewhere() == started
    for layout in (None, '{"slots": [1], "ids": ["X"], "lengths": [2]}'):
        with migrated_database.write() as db:
            held = select(AttemptPaper.paper_id).where(AttemptPaper.attempt_id == attempt["id"])
            db.execute(update(Paper).where(Paper.id == held.scalar_subquery()).values(layout=layout))
        assert read_elsewhere() == started
    answered = client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers)
    assert answered.status_code == 200, answered.text
