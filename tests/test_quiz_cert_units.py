"""The quiz and certification services that take the caller's session (issue 14): they read and
write in the unit of work they are handed, never commit, and refuse with DomainError leaving
nothing changed; the answer form saves all its answers or none; the flag service's savepoint
keeps a unique violation from poisoning the request's transaction; `unit.run` gives an async
page a unit of work. Real databases, real HTTP through the app."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, select, update
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from tests.conftest import (
    Person,
    complete_modules,
    csrf_token,
    make_person,
    pass_exam,
    ready_for_exam,
    right_answer,
    sign_in,
    token,
)
from trainer.access import Access, Viewer
from trainer.certification import service as certification
from trainer.certification.models import Certificate
from trainer.db import Database, UnitOfWork, utcnow
from trainer.errors import DomainError
from trainer.people import auth
from trainer.people.models import Unit
from trainer.quizzes import flags
from trainer.quizzes import service as quizzes
from trainer.quizzes.models import GRADED, IN_PROGRESS, Attempt, AttemptAnswer
from trainer.ratelimit import RateCounter
from trainer.web import unit
from trainer.web.pages import page
from trainer.web.unit import session_of


def viewer_of(database: Database, headers: dict[str, str]) -> Viewer:
    """The Viewer the app builds for a bearer token (roles, unit and lineage as stored)."""
    found = auth.load_api_token(database, headers["Authorization"].removeprefix("Bearer "), utcnow())
    assert found is not None
    return found


def refused(call: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value


def start_exam(client: TestClient, database: Database) -> tuple[dict[str, str], Person, dict[str, Any]]:
    headers, person = ready_for_exam(client, database)
    attempt = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers).json()
    return headers, person, attempt


def set_deadline(database: Database, attempt_id: int, deadline: Any) -> None:
    with database.write() as db:
        db.execute(update(Attempt).where(Attempt.id == attempt_id).values(deadline=deadline))


def status_of(database: Database, attempt_id: int) -> str:
    with database.session() as db:
        return db.get_one(Attempt, attempt_id).status


def stored(database: Database, attempt_id: int) -> dict[int, Any]:
    with database.session() as db:
        rows = db.scalars(select(AttemptAnswer).where(AttemptAnswer.attempt_id == attempt_id)).all()
    return {row.slot: json.loads(row.response) for row in rows}


# -- certification ------------------------------------------------------------------------------


def test_certificate_lists_and_who_may_read_them(client: TestClient, migrated_database: Database) -> None:
    database = migrated_database
    headers, person = ready_for_exam(client, database)
    pass_exam(client, database, headers)
    holder = viewer_of(database, headers)
    here = viewer_of(database, token(client, make_person(database, "manager", unit="Heilongjiang/Harbin")))
    away = viewer_of(database, token(client, make_person(database, "manager", unit="Heilongjiang/Qiqihar")))
    admin = viewer_of(database, token(client, make_person(database, "admin", unit=None)))
    other = viewer_of(database, token(client, make_person(database, "inspector")))
    with database.session() as db:
        (only,) = certification.certificates_of(db, person.id)
        assert certification.current_certificates(db, person.id) == [only]
        assert certification.certificates_of(db, other.id) == []
        for manager in (here, admin):
            assert certification.certificates_of_inspector(db, manager, person.id) == [only]
        for outsider in (away, other, holder):  # an inspector is no manager, not even of themselves
            error = refused(lambda o=outsider: certification.certificates_of_inspector(db, o, person.id))
            assert (error.status, error.code) == (404, "no_such_inspector")
        assert certification.certificates_of_inspector(db, admin, 2**31 - 1) == []  # as before: nobody there
        for reader in (holder, here, admin):
            assert certification.certificate_for(db, reader, only.number) is only
        for outsider in (away, other):
            error = refused(lambda o=outsider: certification.certificate_for(db, o, only.number))
            assert (error.status, error.code) == (404, "no_such_certificate")
        assert refused(lambda: certification.certificate_for(db, admin, "HLJ-NOPE")).status == 404
        code = only.verification_code
        assert certification.verified(db, f" {code[:5].lower()}-{code[5:]} ") is only  # as people type it
        assert refused(lambda: certification.verified(db, "0000000000")).code == "no_such_certificate"
    # No longer current (renewed): still the holder's, no longer on the dashboard's list.
    with database.write() as db:
        db.execute(update(Certificate).where(Certificate.id == only.id).values(is_current=False))
    with database.session() as db:
        assert certification.current_certificates(db, person.id) == []
        assert [c.id for c in certification.certificates_of(db, person.id)] == [only.id]


def test_certificate_routes_answer_refusals_the_one_way(
    client: TestClient, migrated_database: Database
) -> None:
    """The API's 404s are DomainErrors now: the same status, with a code beside the message; the
    page says it in the reader's language."""
    headers, person = ready_for_exam(client, migrated_database)
    pass_exam(client, migrated_database, headers)
    number = client.get("/api/v1/me/certificates", headers=headers).json()[0]["number"]
    away = token(client, make_person(migrated_database, "manager", unit="Heilongjiang/Qiqihar"))
    outside = client.get(f"/api/v1/inspectors/{person.id}/certificates", headers=away)
    assert outside.status_code == 404
    assert outside.json()["detail"]["code"] == "no_such_inspector"
    unknown = client.get("/api/v1/verify/0000000000")
    assert (unknown.status_code, unknown.json()["detail"]["code"]) == (404, "no_such_certificate")
    stranger = make_person(migrated_database, "inspector")
    sign_in(client, stranger)
    page_404 = client.get(f"/certificates/{number}", headers={"Accept-Language": "zh-CN"})
    assert page_404.status_code == 404
    assert "没有这张证书" in page_404.text


def test_verifications_are_counted_apart_and_refused_past_the_limit(migrated_database: Database) -> None:
    address = f"uow-{uuid.uuid4().hex[:8]}"
    now = utcnow().replace(second=30, microsecond=0)  # one clock minute for all three
    certification.count_verification(migrated_database, address, 2, now)
    certification.count_verification(migrated_database, address, 2, now)
    error = refused(lambda: certification.count_verification(migrated_database, address, 2, now))
    assert (error.status, error.code) == (429, "too_many_verifications")
    assert error.headers() == {"Retry-After": "30"}
    with migrated_database.session() as db:  # the refused one is counted too: its own transaction
        assert db.scalar(select(RateCounter.count).where(RateCounter.key == f"verify:{address}")) == 3


# -- reading: progress, attempts, closing ---------------------------------------------------------


def test_progress_attempts_and_closing_read_in_the_callers_session(
    client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    library = client.app.state.content.library  # type: ignore[attr-defined]
    course = library.courses["demo-course"]
    person = make_person(database, "inspector")
    headers = token(client, person)
    viewer = viewer_of(database, headers)
    with database.session() as db:
        assert quizzes.course_progress(db, person.id, course) == (frozenset(), frozenset())
        assert quizzes.my_attempts(db, viewer) == []
    complete_modules(client, headers, database)
    attempt = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers).json()
    with database.session() as db:
        assert quizzes.course_progress(db, person.id, course) == (
            frozenset({"demo-first", "demo-second"}),
            frozenset({"demo-first"}),
        )
        mine = quizzes.my_attempts(db, viewer)
        assert [(a["id"], a["kind"], a["status"]) for a in mine[:1]] == [(attempt["id"], "exam", IN_PROGRESS)]
        assert [a["kind"] for a in mine] == ["exam", "practice"]  # newest first
        assert (
            quizzes.my_attempts(db, viewer_of(database, token(client, make_person(database, "inspector"))))
            == []
        )
        assert quizzes.closing_of(db, attempt["id"]) == quizzes.Closing(None, None)  # still open
    deadline = utcnow() - timedelta(minutes=5)
    set_deadline(database, attempt["id"], deadline)  # time ran out with nothing saved
    quizzes.close_overdue(database, utcnow(), user_id=person.id)
    with database.session() as db:
        closing = quizzes.closing_of(db, attempt["id"])
    assert closing.time_up_at is not None
    assert abs((closing.time_up_at - deadline).total_seconds()) < 1
    assert closing.certificate_number is None  # failed: no certificate


def test_an_exam_closed_in_the_callers_unit_is_graded_only_if_it_commits(
    client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    headers, person, attempt = start_exam(client, database)
    viewer = viewer_of(database, headers)
    set_deadline(database, attempt["id"], utcnow() - timedelta(minutes=5))
    with database.session() as db:  # viewing reads only: the caller grades first
        assert quizzes.attempt_view(db, viewer, attempt["id"], utcnow())["status"] == IN_PROGRESS
        other = viewer_of(database, token(client, make_person(database, "inspector")))
        error = refused(lambda: quizzes.attempt_view(db, other, attempt["id"], utcnow()))
        assert (error.status, error.code) == (404, "no_such_attempt")
    failing = UnitOfWork(database, write=True)  # a request whose handler then raises
    assert quizzes.close_overdue_in(failing.session, utcnow(), user_id=person.id) == 1
    assert quizzes.attempt_view(failing.session, viewer, attempt["id"], utcnow())["status"] == GRADED
    failing.finish(ok=False)
    assert status_of(database, attempt["id"]) == IN_PROGRESS  # nothing of it stayed
    with database.write() as db:
        assert quizzes.close_overdue_in(db, utcnow(), user_id=person.id) == 1
    assert status_of(database, attempt["id"]) == GRADED
    with database.write() as db:
        assert quizzes.close_overdue_in(db, utcnow(), user_id=person.id) == 0


def test_a_time_up_hand_in_is_honoured_only_near_the_deadline(
    client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    headers, _, attempt = start_exam(client, database)
    viewer = viewer_of(database, headers)
    early = utcnow() + quizzes.TIME_UP_SLACK + timedelta(minutes=1)
    set_deadline(database, attempt["id"], early)
    result = quizzes.submit(database, viewer, attempt["id"], utcnow(), time_up=True)
    assert (result.status, result.submitted_at) == (IN_PROGRESS, None)  # a clock running fast
    assert status_of(database, attempt["id"]) == IN_PROGRESS
    close = (utcnow() + quizzes.TIME_UP_SLACK / 2).replace(microsecond=0)
    set_deadline(database, attempt["id"], close)
    result = quizzes.submit(database, viewer, attempt["id"], utcnow(), time_up=True)
    assert (result.status, result.submitted_at) == (GRADED, close)  # as of the deadline


# -- flags --------------------------------------------------------------------------------------


def test_flags_are_set_in_the_callers_unit_and_refusals_change_nothing(
    client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    headers, _, attempt = start_exam(client, database)
    viewer = viewer_of(database, headers)
    attempt_id, slot = attempt["id"], attempt["questions"][0]["slot"]
    failing = UnitOfWork(database, write=True)  # a request whose handler then raises
    assert flags.set_flag(failing.session, viewer, attempt_id, slot, flagged=True, now=utcnow()) == {slot}
    failing.finish(ok=False)
    with database.session() as db:
        assert flags.flagged_slots(db, attempt_id) == set()  # the caller's unit decides
    with database.write() as db:
        assert flags.set_flag(db, viewer, attempt_id, slot, flagged=True, now=utcnow()) == {slot}
        assert flags.set_flag(db, viewer, attempt_id, slot, flagged=True, now=utcnow()) == {slot}
    other = viewer_of(database, token(client, make_person(database, "inspector")))
    with database.write() as db:
        theirs = refused(lambda: flags.set_flag(db, other, attempt_id, slot, flagged=False, now=utcnow()))
        assert (theirs.status, theirs.code) == (404, "no_such_attempt")
        assert refused(lambda: flags.flags_of(db, other, attempt_id)).code == "no_such_attempt"
        unknown = refused(lambda: flags.set_flag(db, viewer, attempt_id, 999, flagged=True, now=utcnow()))
        assert (unknown.status, unknown.code) == (404, "no_such_question")
    client.post(f"/api/v1/attempts/{attempt_id}/submit", headers=headers)
    with database.write() as db:
        closed = refused(lambda: flags.set_flag(db, viewer, attempt_id, slot, flagged=False, now=utcnow()))
        assert (closed.status, closed.code) == (409, "attempt_closed")
    with database.session() as db:
        assert flags.flags_of(db, viewer, attempt_id) == {slot}  # every refusal left it as it was


def test_a_flag_stored_meanwhile_does_not_poison_the_callers_transaction(
    client: TestClient, migrated_database: Database
) -> None:
    """The flag appears between set_flag's look and its insert (the race the unique index
    settles; here stored through the caller's own connection, the one way to stage it under the
    attempt's row lock): only the savepoint is undone, and the caller's unit of work goes on and
    commits what it did before and after."""
    database = migrated_database
    headers, _, attempt = start_exam(client, database)
    viewer = viewer_of(database, headers)
    attempt_id = attempt["id"]
    first, second, third = (q["slot"] for q in attempt["questions"][:3])
    staged: list[str] = []

    def meanwhile(_conn: Any, cursor: Any, statement: str, *_rest: Any) -> None:
        looked = statement.lower().startswith("select attempt_flags.id")
        if staged or not looked:
            return
        staged.append(statement)  # right after the look found no flag, the flag is stored
        raw = cursor.connection.cursor()
        raw.execute(f"INSERT INTO attempt_flags (attempt_id, slot) VALUES ({attempt_id}, {second})")
        raw.close()

    with database.write() as db:
        assert flags.set_flag(db, viewer, attempt_id, first, flagged=True, now=utcnow()) == {first}
        event.listen(database.engine, "after_cursor_execute", meanwhile)
        try:
            slots = flags.set_flag(db, viewer, attempt_id, second, flagged=True, now=utcnow())
        finally:
            event.remove(database.engine, "after_cursor_execute", meanwhile)
        assert staged
        assert slots == {first, second}  # flagged, as asked
        assert flags.set_flag(db, viewer, attempt_id, third, flagged=True, now=utcnow()) == {
            first,
            second,
            third,
        }
    with database.session() as db:
        assert flags.flagged_slots(db, attempt_id) == {first, second, third}  # all of it committed


# -- the answer form: all or nothing ------------------------------------------------------------


def form_fields(slot: int, response: dict[str, Any]) -> dict[str, Any]:
    """The answer form's fields that give `response` (the API's JSON, served keys)."""
    name = f"q{slot}"
    if "selected" in response:
        return {name: response["selected"]}
    if "value" in response:
        return {f"{name}-value": str(response["value"])}
    if "text" in response:
        return {f"{name}-text": response["text"]}
    if "order" in response:
        return {f"{name}-{key}": str(i) for i, key in enumerate(response["order"], start=1)}
    return {f"{name}-{left}": right for left, right in response["pairs"].items()}


def shown_as_given(html: str, slot: int, response: dict[str, Any]) -> bool:
    """Whether a question's controls hold `response` (as the page writes each kind)."""
    name = f"q{slot}"
    if "selected" in response:
        return all(f'name="{name}" value="{key}" checked' in html for key in response["selected"])
    if "value" in response:
        return f'name="{name}-value" value="{response["value"]:.10g}"' in html
    if "text" in response:
        return f'name="{name}-text" maxlength="300" value="{response["text"]}"' in html
    chosen = (
        {key: str(i) for i, key in enumerate(response["order"], start=1)}
        if "order" in response
        else response["pairs"]
    )
    return all(
        re.search(rf'name="{name}-{key}".*?<option value="{value}" selected>', html, re.DOTALL) is not None
        for key, value in chosen.items()
    )


def test_the_answer_form_saves_none_when_one_answer_is_refused(
    client: TestClient, migrated_database: Database
) -> None:
    """A practice question answered (its feedback shown, so locked) and a fresh one, posted
    together from a page opened before: the 409 on the first stores neither, the page says why
    beside the first and shows the second as given, ready to save again."""
    database = migrated_database
    person = make_person(database, "inspector")
    sign_in(client, person)
    csrf = csrf_token(client)
    started = client.post("/modules/demo-first/practice", data={"csrf_token": csrf}, follow_redirects=False)
    attempt_id = int(started.headers["location"].rsplit("/", 1)[1])
    with database.session() as db:
        slots = sorted(entry["slot"] for entry in json.loads(quizzes.paper_of(db, attempt_id)))
    locked, fresh = slots[0], slots[1]
    first = right_answer(database, attempt_id, locked)
    url = f"/attempts/{attempt_id}/answers"
    assert client.post(url, data={"csrf_token": csrf, **form_fields(locked, first)}).status_code == 200
    assert stored(database, attempt_id).keys() == {locked}
    before = stored(database, attempt_id)
    answer = right_answer(database, attempt_id, fresh)
    both = client.post(
        url,
        data={"csrf_token": csrf, **form_fields(locked, first), **form_fields(fresh, answer)},
        follow_redirects=False,
    )
    assert both.status_code == 400
    assert stored(database, attempt_id) == before  # neither: the fresh answer waits to be saved again
    assert re.search(rf'id="error-{locked}"', both.text)
    assert "this question is answered: its feedback has been shown" in both.text
    shown = both.text[both.text.index(f'id="question-{fresh}"') :]
    shown = shown[: shown.index("</fieldset>")]
    assert shown_as_given(shown, fresh, answer)
    again = client.post(url, data={"csrf_token": csrf, **form_fields(fresh, answer)}, follow_redirects=False)
    assert again.status_code == 303
    assert stored(database, attempt_id).keys() == {locked, fresh}


# -- unit.run: an async page's unit of work -----------------------------------------------------


@pytest.fixture
def async_client(app: FastAPI) -> Iterator[TestClient]:
    def add(request: Request, name: str, fail: bool) -> str:
        db = session_of(request)
        db.add(Unit(name=name, kind="unit", lineage=f"/{name}/", path=name, created_at=utcnow()))
        db.flush()
        if fail:
            raise DomainError(409, "refused_after_writing", "no such attempt")
        return name

    async def write_async(request: Request) -> Response:
        form = request.state.form
        name = await unit.run(request, add, request, str(form.get("name")), fail=form.get("fail") == "1")
        return PlainTextResponse(name)

    app.router.routes[0:0] = [page("/test-uow/async", write_async, access=Access.PUBLIC, methods=("POST",))]
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


def test_an_async_page_runs_its_database_work_in_the_requests_unit(
    async_client: TestClient, migrated_database: Database
) -> None:
    csrf = csrf_token(async_client)
    kept, failed = (f"uow-async-{uuid.uuid4().hex[:8]}" for _ in range(2))
    assert async_client.post("/test-uow/async", data={"csrf_token": csrf, "name": kept}).text == kept
    refused_page = async_client.post(
        "/test-uow/async", data={"csrf_token": csrf, "name": failed, "fail": "1"}
    )
    assert refused_page.status_code == 409
    with migrated_database.session() as db:
        names = set(db.scalars(select(Unit.name).where(Unit.name.in_([kept, failed]))))
    assert names == {kept}
    with migrated_database.write() as db:  # and the write lock was released
        db.execute(select(1))


START = "/api/v1/courses/demo-course/exam/attempts"


def shift_back(database: Database, attempt_id: int, hours: int) -> None:
    """An attempt taken `hours` earlier than it was (a retake's wait, without waiting)."""
    with database.write() as db:
        attempt = db.get_one(Attempt, attempt_id)
        attempt.started_at -= timedelta(hours=hours)
        attempt.submitted_at = (attempt.submitted_at or utcnow()) - timedelta(hours=hours)


def test_an_exam_start_grades_an_overdue_exam_and_applies_every_rule_of_the_cycle(
    client: TestClient, migrated_database: Database
) -> None:
    """The start reads its rules in one statement (service._START_FACTS): each refusal, the
    overdue exam graded first, and the certification cycle that counts only exams after the
    current certificate."""
    database = migrated_database
    person = make_person(database, "inspector", unit="Heilongjiang/Harbin/Daoli District/Bureau")
    headers = token(client, person)
    refused_now = client.post(START, headers=headers)
    assert refused_now.status_code == 403
    assert refused_now.json()["detail"]["code"] == "modules_incomplete"
    assert refused_now.json()["detail"]["missing_modules"] == ["demo-first", "demo-second"]
    complete_modules(client, headers, database)

    first = client.post(START, headers=headers).json()
    assert client.post(START, headers=headers).json()["id"] == first["id"]  # resumed, not a second
    set_deadline(database, first["id"], utcnow() - timedelta(minutes=5))
    retake = client.post(START, headers=headers)  # grades the overdue exam (failed), then waits
    assert status_of(database, first["id"]) == GRADED
    assert (retake.status_code, retake.json()["detail"]["code"]) == (403, "retake_later")
    assert 23 * 3600 < int(retake.headers["Retry-After"]) <= 24 * 3600 + 1

    shift_back(database, first["id"], 25)
    second = client.post(START, headers=headers).json()
    assert second["id"] != first["id"]
    set_deadline(database, second["id"], utcnow() - timedelta(minutes=5))
    quizzes.close_overdue(database, utcnow(), user_id=person.id)
    shift_back(database, second["id"], 25)
    used = client.post(START, headers=headers)
    assert (used.status_code, used.json()["detail"]["code"]) == (403, "attempts_used")

    # A certificate issued after both (as if earned elsewhere, e.g. a renewal carried over): a
    # new cycle begins with it, and while it is valid the exam is closed.
    now = utcnow()
    expires = now + timedelta(days=1000)
    with database.write() as db:
        db.add(
            Certificate(
                number=f"HLJ-TEST-{person.id}",
                verification_code=certification.new_verification_code(),
                user_id=person.id,
                course_id="demo-course",
                content_hash="test",
                holder_name="Test",
                unit_path=None,
                title="Demo qualification",
                issued_at=now,
                valid_from=now,
                expires_at=expires,
                renewal_window_days=90,
                grace_days=60,
                renewal_from=expires - timedelta(days=90),
                grace_until=expires + timedelta(days=60),
                attempt_id=second["id"],
                score=0.0,
                max_score=3.0,
                snapshot_hash="0" * 64,
                is_current=True,
                previous_id=None,
            )
        )
    valid = client.post(START, headers=headers)
    assert (valid.status_code, valid.json()["detail"]["code"]) == (403, "renewal_not_open")
    with database.write() as db:
        certificate = db.scalars(select(Certificate).where(Certificate.user_id == person.id)).one()
        certificate.expires_at = now + timedelta(days=10)  # inside the 90-day renewal window
    renewal = client.post(START, headers=headers)
    assert renewal.status_code == 200, renewal.text  # the two exams before it do not count
    assert renewal.json()["id"] not in (first["id"], second["id"])
