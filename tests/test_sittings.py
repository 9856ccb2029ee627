"""Exam sittings: a course in `mode: sittings` starts only inside an open sitting the person is on,
with its code, before its late-entry cutoff; extra time to the second; the close hands in every
open exam exactly once while saves and submits race it; a voided exam is not an attempt used;
the board; who may see and do what. Real HTTP through the app on SQLite and PostgreSQL; the
clock-sensitive rules also through the services with an injected `now`.

Each test puts its people in units of its own (the database is shared by the whole run), so a
sitting's roster holds only the test's people."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from tests.conftest import (
    ContentDirs,
    Person,
    complete_modules,
    make_person,
    right_answer,
    run_together,
    serve,
    token,
)
from trainer.access import Viewer
from trainer.app import create_app
from trainer.audit import service as audit
from trainer.audit.models import AuditEvent
from trainer.certification.models import Certificate
from trainer.config import Settings
from trainer.content.loader import load_library
from trainer.db import Database, utcnow
from trainer.errors import DomainError
from trainer.people.models import Unit, User, UserRole
from trainer.quizzes import service as quizzes
from trainer.quizzes.models import Attempt, AttemptAnswer
from trainer.reports.models import ExamTally, ItemMark
from trainer.sittings import rules
from trainer.sittings import service as sittings

COURSE_FILE = "courses/demo-course/course.yaml"
EXAM = "/api/v1/courses/demo-course/exam/attempts"


def sittings_mode(content: ContentDirs, **policy: object) -> None:
    """The demo course's exam in `mode: sittings` (and any other exam policy given)."""
    lines = "".join(f"    {key}: {value}\n" for key, value in {"mode": "sittings", **policy}.items())
    for key in policy:
        source = (content.courses / "demo-course" / "course.yaml").read_text(encoding="utf-8")
        source = re.sub(rf"^    {key}: .*\n", "", source, flags=re.MULTILINE)
        (content.courses / "demo-course" / "course.yaml").write_text(source, encoding="utf-8")
    content.edit(COURSE_FILE, "    blueprint:\n", lines + "    blueprint:\n")


@pytest.fixture
def make_app(
    make_settings: Callable[..., Settings], content: ContentDirs
) -> Iterator[Callable[..., FastAPI]]:
    apps: list[FastAPI] = []

    def build(**policy: object) -> FastAPI:
        sittings_mode(content, **policy)
        app = create_app(make_settings(content))
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.state.database.dispose()


@pytest.fixture
def sit_app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


@pytest.fixture
def sit(sit_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(sit_app, base_url="http://testserver") as client:
        yield client


def unit_path(name: str = "Bureau") -> str:
    return f"Sittings {uuid.uuid4().hex[:8]}/City/County/{name}"


def unit_id(database: Database, path: str) -> int:
    with database.session() as db:
        return db.scalars(select(Unit.id).where(Unit.path == path)).one()


def ready(client: TestClient, database: Database, unit: str) -> tuple[dict[str, str], Person]:
    """An inspector of `unit`, modules done, with an API token."""
    person = make_person(database, "inspector", unit=unit)
    headers = token(client, person)
    complete_modules(client, headers, database)
    return headers, person


def staff(client: TestClient, database: Database, *roles: str, unit: str | None = None) -> dict[str, str]:
    return token(client, make_person(database, *roles, unit=unit))


def iso(moment: datetime) -> str:
    return moment.isoformat()


def schedule(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {key: iso(value) if isinstance(value, datetime) else value for key, value in fields.items()}
    response = client.post("/api/v1/courses/demo-course/sittings", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def start(client: TestClient, headers: dict[str, str], code: str | None = None) -> httpx.Response:
    return client.post(EXAM, headers=headers, json={"access_code": code} if code is not None else None)


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in text)


def viewer_of(database: Database, person: Person) -> Viewer:
    with database.session() as db:
        user = db.get_one(User, person.id)
        unit = db.get(Unit, user.unit_id) if user.unit_id else None
        roles = frozenset(db.scalars(select(UserRole.role).where(UserRole.user_id == person.id)))
    return Viewer(
        person.id,
        person.username,
        user.full_name,
        roles,
        unit.id if unit else None,
        unit.lineage if unit else None,
        unit.name if unit else None,
        unit.path if unit else None,
        False,
    )


def close_over_http(base_url: str, sitting_id: int, headers: dict[str, str]) -> tuple[int, Any]:
    """A supervisor closes the sitting through a served app: the status and the body."""
    with httpx.Client(base_url=base_url, timeout=60) as http:
        response = http.post(f"/api/v1/sittings/{sitting_id}/close", headers=headers, json={"reason": "time"})
        return response.status_code, response.json()


def attempt_row(database: Database, attempt_id: int) -> Attempt:
    with database.session() as db:
        return db.get_one(Attempt, attempt_id)


def graded_events(database: Database, attempt_id: int) -> list[AuditEvent]:
    with database.session() as db:
        return list(
            db.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "exam.graded", AuditEvent.target_id == str(attempt_id)
                )
            )
        )


# -- the course policy ------------------------------------------------------------------------


def test_mode_is_anytime_or_sittings_and_anything_else_is_named_with_its_line(content: ContentDirs) -> None:
    library, _ = load_library(content.courses, content.bank)
    assert library is not None
    assert library.courses["demo-course"].certification.exam.mode == "anytime"  # type: ignore[union-attr]
    sittings_mode(content)
    library, _ = load_library(content.courses, content.bank)
    assert library is not None
    assert library.courses["demo-course"].certification.exam.mode == "sittings"  # type: ignore[union-attr]
    content.edit(COURSE_FILE, "mode: sittings", "mode: sometimes")
    library, problems = load_library(content.courses, content.bank)
    assert library is None
    line = (content.courses / "demo-course" / "course.yaml").read_text().splitlines().index(
        "    mode: sometimes"
    ) + 1
    assert any(str(p).startswith(f"{COURSE_FILE}:{line}: ") and "mode" in str(p) for p in problems), [
        str(p) for p in problems
    ]


def test_the_published_course_schema_knows_the_mode() -> None:
    from trainer.config import PROJECT_ROOT

    schema = json.loads((PROJECT_ROOT / "docs" / "schemas" / "course.schema.json").read_text())
    assert schema["$defs"]["ExamPolicy"]["properties"]["mode"]["enum"] == ["anytime", "sittings"]


# -- starting ---------------------------------------------------------------------------------


def test_starts_refused_outside_the_window_off_the_roster_with_a_wrong_code_and_after_late_entry(
    sit: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    here, late_unit, elsewhere = unit_path(), unit_path(), unit_path()
    inspector, person = ready(sit, database, here)
    late_comer, _ = ready(sit, database, late_unit)
    outsider, _ = ready(sit, database, elsewhere)
    trainer = staff(sit, database, "trainer")
    now = utcnow()
    place = f"Room {uuid.uuid4().hex[:4]}"

    # Nothing scheduled for them: refused, and told so.
    refused = start(sit, inspector)
    assert refused.status_code == 403
    assert refused.json()["detail"]["code"] == "no_sitting_open"
    assert refused.json()["detail"]["message"] == "no sitting open for you now, and none is scheduled for you"

    # Only a later sitting: refused outside its window, told when (in the zone, named) and where.
    later = schedule(
        sit, trainer, opens_at=now + timedelta(hours=2), closes_at=now + timedelta(hours=4),
        unit_ids=[unit_id(database, here)], place=place,
    )  # fmt: skip
    assert later["state"] == "scheduled"
    assert later["access_code"] is None
    refused = start(sit, inspector)
    assert refused.status_code == 403
    detail = refused.json()["detail"]
    assert detail["code"] == "no_sitting_open"
    opens_local = (now + timedelta(hours=2)).astimezone(database.time_zone)
    assert detail["message"] == (
        f"no sitting open for you now; next: {opens_local:%Y-%m-%d %H:%M} (Asia/Shanghai, UTC+8), {place}"
    )
    assert detail["next_sitting"]["id"] == later["id"]
    assert detail["next_sitting"]["place"] == place

    # An open sitting with an access code, rostering the unit (and its subtree) only.
    opened = schedule(
        sit, trainer, opens_at=now - timedelta(minutes=5), closes_at=now + timedelta(hours=2),
        unit_ids=[unit_id(database, here.rsplit("/", 2)[0])], access_code=True, place=place,
    )  # fmt: skip
    code = opened["access_code"]
    assert re.fullmatch(f"[{rules.ACCESS_CODE_ALPHABET}]{{6}}", code)
    off_roster = start(sit, outsider, code)
    assert off_roster.status_code == 403
    assert off_roster.json()["detail"]["code"] == "no_sitting_open"

    for wrong in (None, "", "WRONG9", code[:-1]):
        refused = start(sit, inspector, wrong)
        assert refused.status_code == 403, wrong
        assert refused.json()["detail"]["code"] == "access_code_wrong"
        assert refused.json()["detail"]["sitting_id"] == opened["id"]
    with database.session() as db:
        assert (
            db.scalar(
                select(func.count())
                .select_from(Attempt)
                .where(Attempt.user_id == person.id, Attempt.kind == "exam")
            )
            == 0
        )

    # The right code as a phone's Chinese keyboard types it: lower case, full width, spaced.
    started = start(sit, inspector, " " + full_width(code.lower()[:3]) + " " + code[3:])
    assert started.status_code == 200, started.text
    attempt = attempt_row(database, started.json()["id"])
    assert attempt.sitting_id == opened["id"]
    assert attempt.deadline == attempt.started_at + timedelta(
        minutes=30
    )  # the course's limit fits the window
    assert start(sit, inspector).json()["id"] == attempt.id  # resuming needs no code

    # A sitting that opened 20 minutes ago with 10 minutes of late entry: too late.
    late = schedule(
        sit, trainer, opens_at=now - timedelta(minutes=20), closes_at=now + timedelta(hours=1),
        unit_ids=[unit_id(database, late_unit)], late_entry_minutes=10, place=place,
    )  # fmt: skip
    refused = start(sit, late_comer)
    assert refused.status_code == 403
    detail = refused.json()["detail"]
    assert detail["code"] == "late_entry_closed"
    assert detail["sitting_id"] == late["id"]
    cutoff = now - timedelta(minutes=10)
    assert abs(datetime.fromisoformat(detail["late_entry_until"]) - cutoff) < timedelta(seconds=5)
    assert detail["message"].startswith("late entry to this sitting closed at ")
    assert detail["message"].endswith(", and no later sitting is scheduled for you")


def test_a_course_in_anytime_mode_takes_no_sittings(client: TestClient, migrated_database: Database) -> None:
    trainer = staff(client, migrated_database, "trainer")
    now = utcnow()
    response = client.post(
        "/api/v1/courses/demo-course/sittings",
        headers=trainer,
        json={"opens_at": iso(now), "closes_at": iso(now + timedelta(hours=1))},
    )
    assert response.status_code == 409
    assert response.json()["detail"]["code"] == "not_a_sittings_exam"
    headers, _ = ready(client, migrated_database, unit_path())
    assert client.post(EXAM, headers=headers, json={"access_code": "ANYTHING"}).status_code == 200


def test_a_sitting_is_checked_before_it_is_kept(sit: TestClient, migrated_database: Database) -> None:
    database = migrated_database
    trainer = staff(sit, database, "trainer")
    now = utcnow()
    url = "/api/v1/courses/demo-course/sittings"

    def problems(**fields: Any) -> tuple[int, Any]:
        body = {
            "opens_at": iso(now + timedelta(hours=1)),
            "closes_at": iso(now + timedelta(hours=2)),
            **fields,
        }
        response = sit.post(url, headers=trainer, json=body)
        return response.status_code, response.json()["detail"]

    status, detail = problems(closes_at=iso(now + timedelta(minutes=30)))
    assert status == 400
    assert detail["problems"] == ["The sitting must close after it opens."]
    status, detail = problems(opens_at=iso(now - timedelta(hours=3)), closes_at=iso(now - timedelta(hours=2)))
    assert detail["problems"] == ["The closing time has passed already."]
    assert problems(closes_at=iso(now + timedelta(days=9)))[1]["problems"] == [
        "A sitting lasts at most 7 days."
    ]
    assert problems(late_entry_minutes=60)[1]["problems"] == [
        "Late entry must end before the sitting closes."
    ]
    assert problems(opens_at="0001-01-01T00:00:00+14:00")[1]["problems"] == [
        "Give dates between the years 2000 and 2999."
    ]
    assert problems(unit_ids=[2**31 - 1])[1]["problems"] == ["A unit chosen for the roster does not exist."]
    status, detail = problems(person_ids=[2**31 - 1])
    assert (status, detail["code"]) == (400, "unknown_people")
    assert (
        sit.post(url, headers=trainer, json={"opens_at": "2030-01-01T09:00:00"}).status_code == 422
    )  # no offset
    assert sit.post("/api/v1/courses/no-such/sittings", headers=trainer, json={
        "opens_at": iso(now), "closes_at": iso(now + timedelta(hours=1))
    }).status_code == 404  # fmt: skip


# -- time -------------------------------------------------------------------------------------


def test_extra_time_is_honoured_to_the_second(
    sit_app: FastAPI, sit: TestClient, migrated_database: Database
) -> None:
    """Injected clock: a sitting tomorrow, 09:00 to 11:00 (UTC here; the rules do not care)."""
    database = migrated_database
    library = sit_app.state.content.library
    unit = unit_path()
    early_person, near_close, no_extra = (ready(sit, database, unit)[1] for _ in range(3))
    trainer = viewer_of(database, make_person(database, "trainer", unit=None))
    opens = (utcnow() + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    closes = opens + timedelta(hours=2)
    with database.write() as db:
        sitting = sittings.create(
            db, audit.SYSTEM, trainer, "demo-course",
            sittings.SittingInput(opens_at=opens, closes_at=closes, unit_ids=(unit_id(database, unit),)),
            library=library, now=utcnow(),
        )  # fmt: skip
        sitting_id = sitting.id
        for person in (early_person, near_close):
            sittings.set_extra_minutes(
                db, audit.SYSTEM, trainer, sitting_id, person.id, minutes=15, now=opens
            )

    def begin(person: Person, at: datetime) -> Attempt:
        attempt_id = quizzes.start_exam(database, library, viewer_of(database, person), "demo-course", at)
        return attempt_row(database, attempt_id)

    def save(person: Person, attempt: Attempt, at: datetime) -> None:
        answer = {1: right_answer(database, attempt.id, 1)}
        quizzes.save_answers(database, viewer_of(database, person), attempt.id, answer, now=at)

    # Started early: start + 30 minutes + 15 extra, to the second.
    started = opens + timedelta(minutes=10, seconds=7)
    first = begin(early_person, started)
    assert first.deadline == started + timedelta(minutes=45)
    save(early_person, first, first.deadline + quizzes.GRACE)  # the last accepted second
    with pytest.raises(DomainError) as late:
        save(early_person, first, first.deadline + quizzes.GRACE + timedelta(seconds=1))
    assert late.value.code == "time_up"

    # Started 10 minutes before the close: capped at the close plus their extra time.
    second = begin(near_close, closes - timedelta(minutes=10))
    assert second.deadline == closes + timedelta(minutes=15)
    third = begin(no_extra, closes - timedelta(minutes=10))
    assert third.deadline == closes
    save(near_close, second, closes + timedelta(minutes=15) + quizzes.GRACE)
    with pytest.raises(DomainError):
        save(no_extra, third, closes + quizzes.GRACE + timedelta(seconds=1))

    # A supervisor's extension moves an exam in progress by exactly that much, at once.
    with database.write() as db:
        moved = sittings.set_extra_minutes(
            db,
            audit.SYSTEM,
            trainer,
            sitting_id,
            no_extra.id,
            minutes=5,
            now=closes,
            add=True,
            reason="power cut",
        )
    assert moved.deadline == closes + timedelta(minutes=5)
    assert attempt_row(database, third.id).deadline == closes + timedelta(minutes=5)
    save(no_extra, third, closes + timedelta(minutes=5) + quizzes.GRACE)

    # Past it, the server's own close grades as of the deadline, not of when it noticed.
    quizzes.close_overdue(database, closes + timedelta(hours=1))
    for attempt in (first, second, third):
        graded = attempt_row(database, attempt.id)
        assert graded.status == "graded"
        assert graded.submitted_at == graded.deadline


def test_the_api_gives_extra_time_and_the_deadline_follows(
    sit: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    unit = unit_path()
    inspector, person = ready(sit, database, unit)
    trainer = staff(sit, database, "trainer")
    now = utcnow()
    sitting = schedule(
        sit,
        trainer,
        opens_at=now - timedelta(minutes=1),
        closes_at=now + timedelta(hours=3),
        person_ids=[person.id],
    )
    given = sit.put(
        f"/api/v1/sittings/{sitting['id']}/people/{person.id}", headers=trainer, json={"extra_minutes": 15}
    )
    assert given.status_code == 200, given.text
    assert given.json() == {
        "sitting_id": sitting["id"],
        "person_id": person.id,
        "extra_minutes": 15,
        "deadline": None,
    }
    started = start(sit, inspector).json()
    attempt = attempt_row(database, started["id"])
    assert attempt.deadline == attempt.started_at + timedelta(minutes=45)  # the server's clock
    moved = sit.put(
        f"/api/v1/sittings/{sitting['id']}/people/{person.id}", headers=trainer, json={"extra_minutes": 20}
    )
    assert datetime.fromisoformat(moved.json()["deadline"]) == attempt.deadline + timedelta(minutes=5)
    assert attempt_row(database, attempt.id).deadline == attempt.deadline + timedelta(minutes=5)
    stranger = make_person(database, "inspector", unit=unit_path())
    assert (
        sit.put(
            f"/api/v1/sittings/{sitting['id']}/people/{stranger.id}",
            headers=trainer,
            json={"extra_minutes": 5},
        )
    ).status_code == 404
    assert (
        sit.put(
            f"/api/v1/sittings/{sitting['id']}/people/{person.id}",
            headers=trainer,
            json={"extra_minutes": 601},
        )
    ).status_code == 422
    with database.session() as db:
        events = db.scalars(
            select(AuditEvent.details).where(
                AuditEvent.action == "sitting.extra_time", AuditEvent.target_id == str(sitting["id"])
            )
        ).all()
    assert [(json.loads(e)["from"], json.loads(e)["to"]) for e in events] == [(0, 15), (15, 20)]


# -- closing ----------------------------------------------------------------------------------


def test_close_hands_in_each_open_exam_once_under_concurrent_saves_and_submits(
    sit_app: FastAPI, sit: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    unit = unit_path()
    takers = [ready(sit, database, unit) for _ in range(6)]
    supervisor = make_person(database, "inspector", unit=unit_path())
    supervisor_headers = token(sit, supervisor)
    trainer = staff(sit, database, "trainer")
    now = utcnow()
    sitting = schedule(
        sit, trainer, opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(hours=2),
        unit_ids=[unit_id(database, unit)], supervisor_ids=[supervisor.id],
    )  # fmt: skip
    papers = [start(sit, headers).json() for headers, _ in takers]
    assert all(paper["status"] == "in_progress" for paper in papers)

    with serve(sit_app) as server:

        def close() -> tuple[int, Any]:
            return close_over_http(server.url, sitting["id"], supervisor_headers)

        def submit(headers: dict[str, str], attempt_id: int) -> Callable[[], tuple[int, Any]]:
            def run() -> tuple[int, Any]:
                with httpx.Client(base_url=server.url, timeout=60) as http:
                    response = http.post(f"/api/v1/attempts/{attempt_id}/submit", headers=headers)
                    return response.status_code, response.json()

            return run

        def save(headers: dict[str, str], paper: dict[str, Any], slot: int) -> Callable[[], tuple[int, Any]]:
            answer = right_answer(database, paper["id"], slot)

            def run() -> tuple[int, Any]:
                with httpx.Client(base_url=server.url, timeout=60) as http:
                    response = http.put(
                        f"/api/v1/attempts/{paper['id']}/answers/{slot}", headers=headers, json=answer
                    )
                    return response.status_code, response.json()

            return run

        calls: list[Callable[[], tuple[int, Any]]] = [close, close]  # a double click too
        for index, ((headers, _), paper) in enumerate(zip(takers, papers, strict=True)):
            calls += [save(headers, paper, q["slot"]) for q in paper["questions"]]
            if index % 2 == 0:  # half of them hand in as the close comes; the close hands in the rest
                calls.append(submit(headers, paper["id"]))
        results = run_together(calls)

    closes, others = results[:2], results[2:]
    assert [status for status, _ in closes] == [200, 200]
    assert closes[0][1]["closed_at"] == closes[1][1]["closed_at"]
    assert {status for status, _ in others} <= {200, 409}, others
    handed_in = closes[0][1]["handed_in"] + closes[1][1]["handed_in"]
    closed_at = datetime.fromisoformat(closes[0][1]["closed_at"])
    by_closer = 0
    for paper in papers:
        attempt = attempt_row(database, paper["id"])
        assert attempt.status == "graded"
        events = graded_events(database, attempt.id)
        assert len(events) == 1, paper["id"]  # graded exactly once
        if events[0].actor == supervisor.username:  # handed in by the close: as of its moment
            by_closer += 1
            assert attempt.submitted_at == closed_at == attempt.deadline
        # (a submit that took the exam's lock first graded it as of its own request, which may
        # have arrived a moment after the close's)
        with database.session() as db:
            marks = db.scalar(
                select(func.count()).select_from(ItemMark).where(ItemMark.attempt_id == attempt.id)
            )
            late = db.scalar(
                select(func.count())
                .select_from(AttemptAnswer)
                .where(
                    AttemptAnswer.attempt_id == attempt.id, AttemptAnswer.saved_at > closed_at + quizzes.GRACE
                )
            )
        assert marks == attempt.max_score  # item marks written once
        assert late == 0
    assert by_closer == handed_in >= len(papers) // 2
    with database.session() as db:
        taken = db.scalar(
            select(func.sum(ExamTally.taken)).where(ExamTally.unit_id == unit_id(database, unit))
        )
    assert taken == len(papers)
    # After the close: nobody starts, and the board says who handed in.
    refused = start(sit, takers[0][0])
    assert refused.status_code == 403
    board = sit.get(f"/api/v1/sittings/{sitting['id']}", headers=supervisor_headers).json()
    assert board["state"] == "closed"
    assert board["counts"] == {"not_started": 0, "in_progress": 0, "submitted": 6, "absent": 0}


def test_the_close_locks_its_exams_in_the_order_a_batch_of_saves_does(
    sit_app: FastAPI, sit: TestClient, migrated_database: Database
) -> None:
    """The answer writer's batch (trainer.quizzes.answer_writer) locks its exams in attempt
    order; the close moving their deadlines must take them in the same order, or a batch that
    holds one exam of the sitting and wants the next deadlocks with it (seen on PostgreSQL as
    503s for saves racing a close). Made certain rather than left to chance: the table is
    rewritten in its people's order, with the first exam's person after the second's, so that
    any scan finds the first exam after the second; and a batch holds the first exam when the
    close comes."""
    database = migrated_database
    if database.is_sqlite:
        pytest.skip("SQLite's write transaction is exclusive: no two writers hold rows at once")
    unit = unit_path()
    takers = [ready(sit, database, unit) for _ in range(2)]
    supervisor = make_person(database, "inspector", unit=unit_path())
    supervisor_headers = token(sit, supervisor)
    now = utcnow()
    sitting = schedule(
        sit, staff(sit, database, "trainer"), opens_at=now - timedelta(minutes=1),
        closes_at=now + timedelta(hours=2), unit_ids=[unit_id(database, unit)],
        supervisor_ids=[supervisor.id],
    )  # fmt: skip
    later, earlier = sorted(takers, key=lambda taker: taker[1].id)  # person ids
    exams = [(start(sit, headers).json(), person) for headers, person in (earlier, later)]
    first, second = (paper["id"] for paper, _ in exams)
    assert first < second
    with database.write() as db:  # this run's database: no one else's tables
        db.execute(text("CLUSTER attempts USING ix_attempts_user_course"))
    with database.session() as db:
        rows = db.execute(
            text("SELECT id, ctid::text FROM attempts WHERE id IN (:a, :b)"), {"a": first, "b": second}
        )
        place = {attempt_id: tuple(int(n) for n in ctid.strip("()").split(",")) for attempt_id, ctid in rows}
    assert place[first] > place[second]  # (page, item): else this test tests nothing
    answers = []
    for paper, person in exams:
        slot = paper["questions"][0]["slot"]
        response = right_answer(database, paper["id"], slot)
        checked = quizzes.check_answers(
            database, viewer_of(database, person), paper["id"], {slot: response}, utcnow()
        )
        answers.append(checked.rows[0])

    with serve(sit_app) as server, ThreadPoolExecutor(1) as pool:
        with database.write_connection(unlimited=False) as batch:  # as the answer writer's
            assert quizzes.store_answer(batch, answers[0])  # holds the first exam
            me = batch.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            closing = pool.submit(close_over_http, server.url, sitting["id"], supervisor_headers)
            with database.engine.connect() as watch:  # until the close waits for this batch
                blocked = text("SELECT count(*) FROM pg_stat_activity WHERE :me = ANY(pg_blocking_pids(pid))")
                waited_until = time.monotonic() + 30  # a close that never waits fails, not hangs
                while not watch.execute(blocked, {"me": me}).scalar_one():
                    assert not closing.done(), closing.result()
                    assert time.monotonic() < waited_until, "the close never waited for the batch"
                    time.sleep(0.01)
            assert quizzes.store_answer(batch, answers[1])  # the close's lock order decides this
        status, closed = closing.result(timeout=60)
    assert status == 200, closed
    assert closed["handed_in"] == 2
    for paper, _ in exams:
        assert attempt_row(database, paper["id"]).status == "graded"
        assert len(graded_events(database, paper["id"])) == 1
        with database.session() as db:
            stored = db.scalar(
                select(func.count()).select_from(AttemptAnswer).where(AttemptAnswer.attempt_id == paper["id"])
            )
        assert stored == 1  # the batch's answer, saved before the close, counts


def test_a_start_racing_the_close_is_handed_in_or_refused(
    sit_app: FastAPI, sit: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    unit = unit_path()
    takers = [ready(sit, database, unit) for _ in range(5)]
    trainer = staff(sit, database, "trainer")
    now = utcnow()
    sitting = schedule(
        sit, trainer, opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(hours=2),
        unit_ids=[unit_id(database, unit)],
    )  # fmt: skip
    with serve(sit_app) as server:

        def call(method: str, url: str, headers: dict[str, str]) -> Callable[[], int]:
            def run() -> int:
                with httpx.Client(base_url=server.url, timeout=60) as http:
                    return http.request(method, url, headers=headers).status_code

            return run

        results = run_together(
            [call("POST", f"/api/v1/sittings/{sitting['id']}/close", trainer)]
            + [call("POST", EXAM, headers) for headers, _ in takers]
        )
    assert results[0] == 200
    assert set(results[1:]) <= {200, 403}
    with database.session() as db:
        left_open = db.scalar(
            select(func.count())
            .select_from(Attempt)
            .where(Attempt.sitting_id == sitting["id"], Attempt.status == "in_progress")
        )
        started = db.scalar(
            select(func.count()).select_from(Attempt).where(Attempt.sitting_id == sitting["id"])
        )
    assert left_open == 0  # every start that got in was handed in by the close
    assert started == results[1:].count(200)


# -- voiding ----------------------------------------------------------------------------------


def test_a_voided_exam_is_not_an_attempt_used(
    make_app: Callable[..., FastAPI], migrated_database: Database
) -> None:
    database = migrated_database
    app = make_app(max_attempts=2, retake_after_hours=0)
    with TestClient(app) as client:
        unit = unit_path()
        inspector, person = ready(client, database, unit)
        supervisor = make_person(database, "inspector", unit=unit_path())
        supervisor_headers = token(client, supervisor)
        trainer = staff(client, database, "trainer")
        now = utcnow()
        sitting = schedule(
            client, trainer, opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(hours=2),
            person_ids=[person.id], supervisor_ids=[supervisor.id],
        )  # fmt: skip
        board_url = f"/api/v1/sittings/{sitting['id']}"

        # Voided while open: no grade, no attempt used, and the person starts again.
        first = start(client, inspector).json()
        supervisor_viewer = viewer_of(database, supervisor)
        closer = audit.Actor(supervisor.id, supervisor.username)
        with database.write() as db:
            sittings.void_attempt(
                db, closer, supervisor_viewer, sitting["id"], first["id"], now=utcnow(),
                reason="phone out during the exam",
            )  # fmt: skip
        assert attempt_row(database, first["id"]).status == "voided"
        answer = right_answer(database, first["id"], 1)
        saved = client.put(f"/api/v1/attempts/{first['id']}/answers/1", headers=inspector, json=answer)
        assert saved.status_code == 409
        row = client.get(board_url, headers=supervisor_headers).json()["people"][0]
        assert (row["state"], row["voided"]) == ("not_started", 1)

        # Handed in (wrong answers: no certificate), then voided: the reports take it back.
        second = start(client, inspector).json()
        assert second["id"] != first["id"]
        assert (
            client.post(f"/api/v1/attempts/{second['id']}/submit", headers=inspector).json()["passed"]
            is False
        )
        again = start(client, inspector)
        assert again.status_code == 403
        assert again.json()["detail"]["code"] == "already_handed_in"
        with database.session() as db:
            assert db.scalar(
                select(func.count()).select_from(ItemMark).where(ItemMark.attempt_id == second["id"])
            )
            tally = db.scalar(
                select(func.sum(ExamTally.taken)).where(ExamTally.unit_id == unit_id(database, unit))
            )
        assert tally == 1
        with database.write() as db:
            sittings.void_attempt(
                db, closer, supervisor_viewer, sitting["id"], second["id"], now=utcnow(),
                reason="the wrong paper was served",
            )  # fmt: skip
        with database.session() as db:
            assert not db.scalar(
                select(func.count()).select_from(ItemMark).where(ItemMark.attempt_id == second["id"])
            )
            tally = db.scalar(
                select(func.sum(ExamTally.taken)).where(ExamTally.unit_id == unit_id(database, unit))
            )
            voids = db.scalars(select(AuditEvent.details).where(AuditEvent.action == "exam.voided")).all()
        assert tally == 0
        assert {"phone out during the exam", "the wrong paper was served"} <= {
            json.loads(v)["reason"] for v in voids
        }

        # Neither counted: two attempts are still left, and a passing one earns the certificate.
        third = start(client, inspector).json()
        for question in third["questions"]:
            client.put(
                f"/api/v1/attempts/{third['id']}/answers/{question['slot']}",
                headers=inspector,
                json=right_answer(database, third["id"], question["slot"]),
            )
        assert (
            client.post(f"/api/v1/attempts/{third['id']}/submit", headers=inspector).json()["passed"] is True
        )
        with database.write() as db, pytest.raises(DomainError) as refused:
            sittings.void_attempt(
                db, audit.SYSTEM, supervisor_viewer, sitting["id"], third["id"], now=utcnow(), reason="x"
            )
        assert refused.value.code == "earned_certificate"
        with database.session() as db:
            assert (
                db.scalar(select(Certificate.attempt_id).where(Certificate.user_id == person.id))
                == third["id"]
            )
        mine = client.get("/api/v1/me/attempts", headers=inspector).json()
        assert [a["status"] for a in mine if a["kind"] == "exam"] == ["graded", "voided", "voided"]


# -- the board and who sees it ----------------------------------------------------------------


def test_the_board_shows_each_person_and_only_to_its_people(
    sit: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    city = f"Sittings {uuid.uuid4().hex[:8]}/City"
    unit = f"{city}/County/Bureau"
    (taking, taker), (_, idle) = ready(sit, database, unit), ready(sit, database, unit)
    manager_here = staff(sit, database, "manager", unit=city)
    manager_elsewhere = staff(sit, database, "manager", unit=unit_path())
    supervisor = make_person(database, "inspector", unit=unit_path())
    stranger = staff(sit, database, "inspector", unit=unit)
    now = utcnow()
    sitting = schedule(
        sit, manager_here, opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(hours=1),
        unit_ids=[unit_id(database, unit)], supervisor_ids=[supervisor.id],
    )  # fmt: skip
    paper = start(sit, taking).json()
    sit.put(
        f"/api/v1/attempts/{paper['id']}/answers/1",
        headers=taking,
        json=right_answer(database, paper["id"], 1),
    )
    url = f"/api/v1/sittings/{sitting['id']}"
    for who, expected in (
        (manager_here, 200), (token(sit, supervisor), 200), (staff(sit, database, "trainer"), 200),
        (staff(sit, database, "admin"), 200), (manager_elsewhere, 404), (stranger, 404), (taking, 404),
    ):  # fmt: skip
        assert sit.get(url, headers=who).status_code == expected
    board = sit.get(url, headers=manager_here).json()
    rows = {row["person_id"]: row for row in board["people"]}
    assert set(rows) == {taker.id, idle.id, json.loads(sit.get("/api/v1/me", headers=stranger).text)["id"]}
    assert rows[taker.id]["state"] == "in_progress"
    assert (rows[taker.id]["answered"], rows[taker.id]["total"]) == (1, 3)
    assert 29 * 60 < rows[taker.id]["remaining_seconds"] <= 30 * 60
    assert rows[idle.id] | {"person_id": 0} == {
        "person_id": 0, "username": idle.username, "full_name": f"Test {idle.username}", "unit": unit,
        "state": "not_started", "answered": 0, "total": 3, "remaining_seconds": None, "extra_minutes": 0,
        "attempt_id": None, "voided": 0,
    }  # fmt: skip
    # Managers roster only their own part; a manager elsewhere cannot close it.
    outside = sit.post(
        "/api/v1/courses/demo-course/sittings",
        headers=manager_elsewhere,
        json={
            "opens_at": iso(now),
            "closes_at": iso(now + timedelta(hours=1)),
            "unit_ids": [unit_id(database, unit)],
        },
    )
    assert outside.status_code == 400
    assert outside.json()["detail"]["problems"] == [
        "A unit on the roster is outside your part of the organisation."
    ]
    assert sit.post(f"{url}/close", headers=manager_elsewhere).status_code == 404
    assert sit.post(f"{url}/close", headers=stranger).status_code == 404
    assert sit.post(
        "/api/v1/courses/demo-course/sittings", headers=stranger,
        json={"opens_at": iso(now), "closes_at": iso(now + timedelta(hours=1))},
    ).status_code == 403  # fmt: skip
    closed = sit.post(f"{url}/close", headers=token(sit, supervisor), json={"reason": "done"}).json()
    assert closed["handed_in"] == 1
    board = sit.get(url, headers=manager_here).json()
    states = {row["person_id"]: row["state"] for row in board["people"]}
    assert states[taker.id] == "submitted"
    assert states[idle.id] == "absent"


def test_review_after_deadline_waits_for_the_sittings_close(
    make_app: Callable[..., FastAPI], migrated_database: Database
) -> None:
    database = migrated_database
    app = make_app(review="after_deadline")
    with TestClient(app) as client:
        unit = unit_path()
        (quick, _), (slow, slow_person) = ready(client, database, unit), ready(client, database, unit)
        trainer = staff(client, database, "trainer")
        now = utcnow()
        sitting = schedule(
            client, trainer, opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(hours=1),
            unit_ids=[unit_id(database, unit)],
        )  # fmt: skip
        paper = start(client, quick).json()
        start(client, slow)
        client.post(f"/api/v1/attempts/{paper['id']}/submit", headers=quick)
        # Handed in, but another person may still be answering: no keys yet.
        assert client.get(f"/api/v1/attempts/{paper['id']}", headers=quick).json()["review"] == "score"
        client.post(f"/api/v1/sittings/{sitting['id']}/close", headers=trainer)
        assert client.get(f"/api/v1/attempts/{paper['id']}", headers=quick).json()["review"] == "full"
        assert slow_person.id


# -- the rules, directly ----------------------------------------------------------------------


def test_the_rules() -> None:
    assert rules.common_lineage(["/1/4/9/", "/1/4/12/", "/1/4/"]) == "/1/4/"
    assert rules.common_lineage(["/1/4/9/"]) == "/1/4/9/"
    assert rules.common_lineage(["/1/", "/2/"]) == "/"
    assert rules.common_lineage(["/1/", None]) == "/"
    assert rules.common_lineage(["/1/41/", "/1/4/"]) == "/1/"  # by unit, never by character
    assert rules.ancestor_ids("/1/4/9/") == [1, 4, 9]
    assert rules.normalise_code(" ａｂ-c 1２3 ") == "ABC123"
    assert rules.code_matches(None, "whatever")
    assert not rules.code_matches("ABC123", None)
    t0 = datetime(2026, 12, 12, 1, 0, tzinfo=UTC)
    assert rules.deadline(t0, 30, 15, t0 + timedelta(hours=2)) == t0 + timedelta(minutes=45)
    assert rules.deadline(t0, 30, 15, t0 + timedelta(minutes=10)) == t0 + timedelta(minutes=25)
    candidate = rules.Candidate(1, t0, t0 + timedelta(hours=2), 10, "ABC123", "Room 3", 0, False)
    assert rules.admit([candidate], t0 + timedelta(minutes=5), "abc123") is candidate
    late = rules.admit([candidate], t0 + timedelta(minutes=11), "abc123")
    assert isinstance(late, rules.Refusal)
    assert late.code == "late_entry_closed"
    wrong = rules.admit([candidate], t0 + timedelta(minutes=5), "abc124")
    assert isinstance(wrong, rules.Refusal)
    assert wrong.code == "access_code_wrong"
    second = rules.Candidate(2, t0, t0 + timedelta(hours=2), None, None, "Room 4", 0, False)
    assert rules.admit([candidate, second], t0 + timedelta(minutes=30), None) is second
    assert rules.admit([], t0, None) is None
    assert rules.person_state(None, over=False) == "not_started"
    assert rules.person_state(None, over=True) == "absent"
    assert rules.person_state("voided", over=True) == "absent"
    assert rules.review_opens_at(t0, None, [0, 15, 5]) == t0 + timedelta(minutes=15)
    assert rules.review_opens_at(t0, t0 - timedelta(minutes=1), [15]) == t0 - timedelta(minutes=1)
