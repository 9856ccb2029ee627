"""Taking an exam through the pages (HTTP through the app, no JavaScript): the navigator and
flags, the confirmation before handing in, time-up, practice feedback on the page, rejected
answers kept as typed, order and match questions, review marks, the certificate link and the
course page's ticks. The browser side (quiz.js, phones) is in tests/test_exam_journeys.py."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.conftest import (
    ContentDirs,
    Person,
    complete_modules,
    csrf_token,
    make_person,
    right_answer,
    sign_in,
    token,
)
from tests.exam_content import add_exam_course, paper, slot_of
from trainer.access import Viewer
from trainer.app import create_app
from trainer.config import Settings
from trainer.db import Database, utcnow
from trainer.errors import DomainError
from trainer.quizzes.models import Attempt, AttemptAnswer, AttemptFlag


@pytest.fixture
def ux_app(make_settings: Callable[..., Settings], content: ContentDirs) -> Iterator[FastAPI]:
    add_exam_course(content)
    application = create_app(make_settings(content))
    yield application
    application.state.database.dispose()


@pytest.fixture
def ux_client(ux_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(ux_app, base_url="http://testserver") as test_client:
        yield test_client


def start(client: TestClient, person: Person, path: str = "/courses/ux-course/exam") -> int:
    sign_in(client, person)
    started = client.post(path, data={"csrf_token": csrf_token(client)}, follow_redirects=False)
    assert started.status_code == 303, started.text[:300]
    match = re.fullmatch(r"/attempts/(\d+)", started.headers["location"])
    assert match
    return int(match.group(1))


def post(client: TestClient, url: str, **fields: Any) -> Any:
    form = {"csrf_token": csrf_token(client, "/courses"), **fields}
    return client.post(url, data=form, follow_redirects=False)


def stored(database: Database, attempt_id: int) -> dict[int, Any]:
    with database.session() as db:
        rows = db.scalars(select(AttemptAnswer).where(AttemptAnswer.attempt_id == attempt_id)).all()
    return {row.slot: json.loads(row.response) for row in rows}


def status_of(database: Database, attempt_id: int) -> str:
    with database.session() as db:
        return db.get_one(Attempt, attempt_id).status


def nav_words(html: str) -> dict[int, str]:
    return {
        int(slot): words
        for slot, words in re.findall(
            r'id="nav-(\d+)".*?<span class="visually-hidden nav-words">([^<]*)</span>', html, re.S
        )
    }


# -- 1. navigator and flags ----------------------------------------------------------------------


def test_the_navigator_names_each_questions_state_and_flags_work_without_javascript(
    ux_client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    attempt_id = start(ux_client, make_person(database, "inspector"))
    text_slot = slot_of(database, attempt_id, "UX-0006")
    single_slot = slot_of(database, attempt_id, "UX-0005")
    assert (
        post(ux_client, f"/attempts/{attempt_id}/answers", **{f"q{text_slot}-text": "SDS"}).status_code == 303
    )
    # "Flag for review" is a plain submit button of the answer form: it saves what is typed too.
    flagged = post(
        ux_client,
        f"/attempts/{attempt_id}/flag",
        flag=f"{single_slot}-on",
        **{f"q{single_slot}": paper(database, attempt_id)[single_slot - 1]["options"][0]["key"]},
    )
    assert flagged.status_code == 303
    assert flagged.headers["location"] == f"/attempts/{attempt_id}#question-{single_slot}"
    again = post(ux_client, f"/attempts/{attempt_id}/flag", flag=f"{single_slot}-on")  # a double click
    assert again.status_code == 303
    with database.session() as db:
        assert db.scalars(select(AttemptFlag.slot).where(AttemptFlag.attempt_id == attempt_id)).all() == [
            single_slot
        ]
    assert set(stored(database, attempt_id)) == {text_slot, single_slot}

    page = ux_client.get(f"/attempts/{attempt_id}").text
    words = nav_words(page)
    assert sorted(words) == [1, 2, 3, 4, 5, 6]
    assert words[text_slot] == f"Question {text_slot}: answered"
    assert words[single_slot] == f"Question {single_slot}: answered, flagged"
    others = set(words) - {text_slot, single_slot}
    assert all(words[s] == f"Question {s}: not answered" for s in others)
    assert f'href="#question-{text_slot}"' in page
    assert re.search(
        rf'name="flag" value="{single_slot}-off"\s+formaction="/attempts/{attempt_id}/flag"'
        r' aria-pressed="true"',
        page,
    )

    unflagged = post(ux_client, f"/attempts/{attempt_id}/flag", flag=f"{single_slot}-off")
    assert unflagged.status_code == 303
    assert nav_words(ux_client.get(f"/attempts/{attempt_id}").text)[single_slot].endswith(": answered")


def test_flags_are_the_owners_only_while_open_and_bad_ones_change_nothing(
    ux_client: TestClient, ux_app: FastAPI, migrated_database: Database
) -> None:
    database = migrated_database
    attempt_id = start(ux_client, make_person(database, "inspector"))
    url = f"/attempts/{attempt_id}/flag"
    assert ux_client.post(url, data={"flag": "1-on"}, follow_redirects=False).status_code == 403  # no CSRF
    text_slot = slot_of(database, attempt_id, "UX-0006")
    for bad in ("", "1", "x-on", "1-maybe"):
        assert post(ux_client, url, flag=bad, **{f"q{text_slot}-text": "SDS"}).status_code == 400
    assert stored(database, attempt_id) == {}  # a refused post saves nothing either
    assert post(ux_client, url, flag="99-on").status_code == 404
    with TestClient(ux_app) as other:
        sign_in(other, make_person(database, "inspector"))
        assert post(other, url, flag="1-on").status_code == 404
    with database.session() as db:
        assert db.scalars(select(AttemptFlag).where(AttemptFlag.attempt_id == attempt_id)).all() == []
    assert post(ux_client, f"/attempts/{attempt_id}/submit", handin="1").status_code == 303
    assert status_of(database, attempt_id) == "graded"
    assert post(ux_client, url, flag="1-on").status_code == 303  # closed: back to the result
    with database.session() as db:
        assert db.scalars(select(AttemptFlag).where(AttemptFlag.attempt_id == attempt_id)).all() == []


# -- 2. confirmation before handing in -----------------------------------------------------------


def test_submit_asks_first_and_a_double_click_hands_nothing_in(
    ux_client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    attempt_id = start(ux_client, make_person(database, "inspector"))
    text_slot = slot_of(database, attempt_id, "UX-0006")
    post(ux_client, f"/attempts/{attempt_id}/flag", flag=f"{text_slot}-on")
    for _ in range(2):  # "Submit for grading" clicked twice
        response = post(ux_client, f"/attempts/{attempt_id}/submit", **{f"q{text_slot}-text": "SDS"})
        assert response.status_code == 303
        assert response.headers["location"] == f"/attempts/{attempt_id}/submit"
    assert status_of(database, attempt_id) == "in_progress"
    assert stored(database, attempt_id) == {text_slot: {"text": "SDS"}}  # the form was saved

    confirm = ux_client.get(f"/attempts/{attempt_id}/submit")
    assert confirm.status_code == 200
    assert confirm.headers["cache-control"] == "no-store"
    assert "You answered 1 of 6 questions." in confirm.text
    unanswered = re.search(r'id="unanswered-title".*?</section>', confirm.text, re.S)
    assert unanswered
    links = re.findall(rf'href="/attempts/{attempt_id}#question-(\d+)"', unanswered.group())
    assert sorted(map(int, links)) == sorted(set(range(1, 7)) - {text_slot})
    flagged = re.search(r'id="flagged-title".*?</section>', confirm.text, re.S)
    assert flagged
    assert re.findall(r'#question-(\d+)"', flagged.group()) == [str(text_slot)]
    assert 'name="handin" value="1"' in confirm.text

    handed_in = post(ux_client, f"/attempts/{attempt_id}/submit", handin="1")
    assert handed_in.headers["location"] == f"/attempts/{attempt_id}"
    assert status_of(database, attempt_id) == "graded"
    # The confirmation of a graded exam is the result.
    assert ux_client.get(f"/attempts/{attempt_id}/submit", follow_redirects=False).status_code == 303


def test_practice_is_still_submitted_in_one_step(ux_client: TestClient, migrated_database: Database) -> None:
    attempt_id = start(ux_client, make_person(migrated_database, "inspector"), "/modules/ux-module/practice")
    assert post(ux_client, f"/attempts/{attempt_id}/submit").headers["location"] == f"/attempts/{attempt_id}"
    assert status_of(migrated_database, attempt_id) == "graded"


# -- 3. time up ----------------------------------------------------------------------------------


def _move_deadline(database: Database, attempt_id: int, delta: timedelta) -> Any:
    deadline = utcnow() + delta
    with database.write() as db:
        db.execute(update(Attempt).where(Attempt.id == attempt_id).values(deadline=deadline))
    return deadline


def test_the_scripts_time_up_post_saves_hands_in_and_the_result_says_so(
    ux_client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    attempt_id = start(ux_client, make_person(database, "inspector"))
    text_slot = slot_of(database, attempt_id, "UX-0006")
    # A device clock running fast posts "time up" early: nothing is handed in.
    early = post(ux_client, f"/attempts/{attempt_id}/submit", timeup="1")
    assert early.headers["location"] == f"/attempts/{attempt_id}"
    assert status_of(database, attempt_id) == "in_progress"
    page = ux_client.get(f"/attempts/{attempt_id}").text
    assert re.search(r'id="time-warning" class="time-warning" aria-live="assertive"', page)
    assert re.search(r'data-deadline="[^"]+" data-now="[^"]+"', page)

    deadline = _move_deadline(database, attempt_id, timedelta(seconds=-3))  # just up, within grace
    # What the page held is saved (an order question half-numbered is no obstacle) and graded.
    order_slot = slot_of(database, attempt_id, "UX-0003")
    done = post(
        ux_client,
        f"/attempts/{attempt_id}/submit",
        timeup="1",
        **{f"q{text_slot}-text": "SDS", f"q{order_slot}-show": "1"},
    )
    assert done.headers["location"] == f"/attempts/{attempt_id}"
    with database.session() as db:
        attempt = db.get_one(Attempt, attempt_id)
    assert attempt.status == "graded"
    assert attempt.submitted_at == attempt.deadline
    assert stored(database, attempt_id) == {text_slot: {"text": "SDS"}}
    result = ux_client.get(f"/attempts/{attempt_id}").text
    assert time_up(deadline) in result


def test_without_javascript_the_server_closes_at_the_deadline_with_the_same_message(
    ux_client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    attempt_id = start(ux_client, make_person(database, "inspector"))
    deadline = _move_deadline(database, attempt_id, timedelta(minutes=-2))
    result = ux_client.get(f"/attempts/{attempt_id}").text
    assert status_of(database, attempt_id) == "graded"
    assert time_up(deadline) in result
    # Handed in before the deadline: no such line.
    other = start(ux_client, make_person(database, "inspector"))
    post(ux_client, f"/attempts/{other}/submit", handin="1")
    assert "Time was up" not in ux_client.get(f"/attempts/{other}").text


# -- 4. practice feedback on the page ------------------------------------------------------------


def test_practice_feedback_shows_on_the_page_after_a_plain_form_post(
    ux_client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    attempt_id = start(ux_client, make_person(database, "inspector"), "/modules/ux-module/practice")
    slot = slot_of(database, attempt_id, "UX-0005")
    entry = paper(database, attempt_id)[slot - 1]
    right = right_answer(database, attempt_id, slot)["selected"][0]  # type: ignore[index]
    wrong = next(o["key"] for o in entry["options"] if o["key"] != right)
    page = ux_client.get(f"/attempts/{attempt_id}").text
    assert f'name="check" value="{slot}"' in page
    checked = post(ux_client, f"/attempts/{attempt_id}/answers", check=str(slot), **{f"q{slot}": wrong})
    assert checked.headers["location"] == f"/attempts/{attempt_id}#question-{slot}"
    page = ux_client.get(f"/attempts/{attempt_id}").text
    question = re.search(rf'<fieldset[^>]*id="question-{slot}".*?</fieldset>', page, re.S)
    assert question
    shown = question.group()
    assert "Not right." in shown
    assert "Intake air reaches the people working at the face." in shown  # the explanation
    assert re.search(r"(Return air is checked too|Not the ventilation air)", shown)  # its feedback
    assert "Correct answer" in shown
    assert "Your answer" in shown
    assert "disabled" in shown  # read-only: the key was shown, the answer is final
    assert 'name="check"' not in shown
    # Other questions are still open to answer.
    other = next(s for s in range(1, 7) if s != slot)
    assert f'name="check" value="{other}"' in page


# -- 5. rejected answers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "units", "chosen", "expected"),
    [
        ("0.5%", ["%"], "%", (0.5, "%")),
        ("0.5 %", ["%"], None, (0.5, "%")),
        ("０．５％", ["%"], "%", (0.5, "%")),
        ("1080 m3/min", ["m3/min", "m3/s"], "m3/s", (1080.0, "m3/min")),
        ("18 m³/s", ["m3/min", "m3/s"], "m3/min", (18.0, "m3/s")),
        ("１０８０", ["m3/min", "m3/s"], "m3/min", (1080.0, "m3/min")),
        ("1,080", ["m3/min"], "m3/min", (1080.0, "m3/min")),
        ("0,5", ["%"], "%", (0.5, "%")),
        ("25% LEL", ["% LEL"], "% LEL", (25.0, "% LEL")),
        ("−3", [], None, (-3.0, None)),
    ],
)
def test_numbers_take_a_typed_unit_percent_and_full_width_forms(
    typed: str, units: list[str], chosen: str | None, expected: tuple[float, str | None]
) -> None:
    from trainer.quizzes.views import parse_numeric

    assert parse_numeric(typed, units, chosen) == expected


@pytest.mark.parametrize("typed", ["abc", "12 kg", "1.2.3", "%"])
def test_what_is_not_a_number_in_a_unit_taken_is_refused(typed: str) -> None:
    from trainer.quizzes.views import parse_numeric

    with pytest.raises(ValueError, match=r"number|unit"):
        parse_numeric(typed, ["m3/min", "m3/s"], "m3/min")


def test_a_rejected_answer_keeps_what_was_typed_and_says_why_beside_it(
    ux_client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    attempt_id = start(ux_client, make_person(database, "inspector"))
    percent = slot_of(database, attempt_id, "UX-0001")
    flow = slot_of(database, attempt_id, "UX-0002")
    text = slot_of(database, attempt_id, "UX-0006")
    refused = post(
        ux_client,
        f"/attempts/{attempt_id}/answers",
        **{f"q{percent}-value": "abc", f"q{flow}-value": "１０８０ m3/min", f"q{text}-text": "SDS"},
    )
    assert refused.status_code == 400
    page = refused.text
    field = re.search(rf'<input id="q{percent}-value"[^>]*>', page)
    assert field
    assert 'value="abc"' in field.group()
    assert 'aria-invalid="true"' in field.group()
    assert f'aria-describedby="error-{percent}"' in field.group()
    assert re.search(rf'<p class="field-error" id="error-{percent}">.*Enter a number', page)
    assert f'<a href="#question-{percent}">' in page  # the summary at the top links to it
    # The valid answers were saved meanwhile.
    assert stored(database, attempt_id) == {flow: {"value": 1080.0, "unit": "m3/min"}, text: {"text": "SDS"}}
    fixed = post(ux_client, f"/attempts/{attempt_id}/answers", **{f"q{percent}-value": "0.5%"})
    assert fixed.status_code == 303
    assert stored(database, attempt_id)[percent] == {"value": 0.5, "unit": "%"}


def test_a_rejected_answer_in_chinese(ux_client: TestClient, migrated_database: Database) -> None:
    database = migrated_database
    attempt_id = start(ux_client, make_person(database, "inspector"))
    percent = slot_of(database, attempt_id, "UX-0001")
    refused = ux_client.post(
        f"/attempts/{attempt_id}/answers",
        data={"csrf_token": csrf_token(ux_client), f"q{percent}-value": "5 kg"},
        headers={"Accept-Language": "zh-CN"},
        follow_redirects=False,
    )
    assert refused.status_code == 400
    assert 'value="5 kg"' in refused.text
    assert "%" in re.search(rf'id="error-{percent}">(.*?)</p>', refused.text, re.S).group(1)  # type: ignore[union-attr]


# -- 6. order questions --------------------------------------------------------------------------


def test_an_order_question_has_no_list_numbers_and_a_duplicate_keeps_the_positions_typed(
    ux_client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    attempt_id = start(ux_client, make_person(database, "inspector"))
    slot = slot_of(database, attempt_id, "UX-0003")
    page = ux_client.get(f"/attempts/{attempt_id}").text
    assert '<ol class="order-items">' not in page
    assert '<ul class="order-items">' in page
    served = {bank: key for key, bank in paper(database, attempt_id)[slot - 1]["keymap"].items()}
    typed = {served[k]: v for k, v in {"show": "1", "inspect": "2", "record": "2", "order": "4"}.items()}
    refused = post(
        ux_client, f"/attempts/{attempt_id}/answers", **{f"q{slot}-{k}": v for k, v in typed.items()}
    )
    assert refused.status_code == 400
    assert "Give each position once." in refused.text
    for key, position in typed.items():
        select_html = re.search(rf'<select id="q{slot}-{key}".*?</select>', refused.text, re.S)
        assert select_html
        assert re.search(rf'<option value="{position}" selected>', select_html.group()), key


# -- 8 and 9. the review and the pass page -------------------------------------------------------


def test_the_pass_page_marks_your_and_the_correct_answers_and_links_the_certificate(
    ux_client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    attempt_id = start(ux_client, make_person(database, "inspector"))
    single = slot_of(database, attempt_id, "UX-0005")
    text = slot_of(database, attempt_id, "UX-0006")
    entry = paper(database, attempt_id)[single - 1]
    right = right_answer(database, attempt_id, single)["selected"][0]  # type: ignore[index]
    wrong = next(o["key"] for o in entry["options"] if o["key"] != right)
    form: dict[str, str] = {f"q{single}": wrong, f"q{text}-text": "SDS"}
    for e in paper(database, attempt_id):
        answer = right_answer(database, attempt_id, e["slot"])
        slot = e["slot"]
        if e["type"] == "numeric":
            form[f"q{slot}-value"] = str(answer["value"])
        elif e["type"] == "order":
            form.update({f"q{slot}-{k}": str(i) for i, k in enumerate(answer["order"], 1)})  # type: ignore[arg-type]
        elif e["type"] == "match":
            form.update({f"q{slot}-{k}": v for k, v in answer["pairs"].items()})  # type: ignore[union-attr]
    assert post(ux_client, f"/attempts/{attempt_id}/answers", **form).status_code == 303
    post(ux_client, f"/attempts/{attempt_id}/submit", handin="1")
    page = ux_client.get(f"/attempts/{attempt_id}").text
    assert "Passed" in page
    question = re.search(rf'<fieldset[^>]*id="question-{single}".*?</fieldset>', page, re.S)
    assert question
    assert re.search(
        r'class="mark yours bad"><span aria-hidden="true">✘ </span>Your answer', question.group()
    )
    assert re.search(r'class="mark right"><span aria-hidden="true">★ </span>Correct answer', question.group())
    answered = re.search(rf'<fieldset[^>]*id="question-{text}".*?</fieldset>', page, re.S)
    assert answered
    assert re.search(
        r'class="mark yours good"><span aria-hidden="true">✔ </span>Your answer: SDS', answered.group()
    )
    number = re.search(r'href="/certificates/([A-Z0-9-]+)"', page)
    assert number, "the pass page links to the certificate"
    assert ux_client.get(f"/certificates/{number.group(1)}").status_code == 200


# -- 10. the course page's ticks -----------------------------------------------------------------


def test_the_course_page_ticks_completed_modules_and_passed_practice(
    client: TestClient, migrated_database: Database
) -> None:
    person = make_person(migrated_database, "inspector")
    sign_in(client, person)
    before = client.get("/courses/demo-course").text
    assert "Completed" not in before
    assert "Practice quiz passed" not in before
    complete_modules(client, token(client, person), migrated_database)
    after = client.get("/courses/demo-course").text
    items = re.findall(r"<li>\s*<a href=\"/courses/demo-course/(demo-\w+)\".*?</li>", after, re.S)
    assert items == ["demo-first", "demo-second"]
    blocks = dict(re.findall(r"<li>\s*<a href=\"/courses/demo-course/(demo-\w+)\"(.*?)</li>", after, re.S))
    assert "✔ </span>Completed" in blocks["demo-first"]
    assert "Practice quiz passed" in blocks["demo-first"]
    assert "Completed" in blocks["demo-second"]
    assert "Practice quiz passed" not in blocks["demo-second"]  # it has no practice quiz
    # Another reader's page is not ticked (the cached page varies by what is ticked).
    with TestClient(client.app) as other:  # type: ignore[arg-type]
        sign_in(other, make_person(migrated_database, "inspector"))
        assert "Completed" not in other.get("/courses/demo-course").text


# -- the flags over the JSON API -----------------------------------------------------------------


def test_flags_over_the_api_are_the_owners_and_only_while_open(
    ux_client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    person = make_person(database, "inspector")
    headers = token(ux_client, person)
    attempt = ux_client.post("/api/v1/courses/ux-course/exam/attempts", headers=headers).json()
    base = f"/api/v1/attempts/{attempt['id']}/flags"
    assert ux_client.get(base, headers=headers).json() == {"flagged": []}
    assert ux_client.put(f"{base}/4", headers=headers).json() == {"flagged": [4]}
    assert ux_client.put(f"{base}/2", headers=headers).json() == {"flagged": [2, 4]}
    assert ux_client.put(f"{base}/2", headers=headers).json() == {"flagged": [2, 4]}  # again: no change
    assert ux_client.delete(f"{base}/4", headers=headers).json() == {"flagged": [2]}
    assert ux_client.put(f"{base}/7", headers=headers).status_code == 404  # six questions
    other = token(ux_client, make_person(database, "inspector"))
    assert ux_client.get(base, headers=other).status_code == 404
    assert ux_client.put(f"{base}/1", headers=other).status_code == 404
    spec = ux_client.get("/openapi.json").json()["paths"]
    assert {"put", "delete"} <= set(spec["/api/v1/attempts/{attempt_id}/flags/{slot}"])
    ux_client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers)
    closed = ux_client.put(f"{base}/3", headers=headers)
    assert closed.status_code == 409
    assert ux_client.get(base, headers=headers).json() == {"flagged": [2]}


# -- review policies (the template side of the service's "review": full, by_tag, score, none) ----


def _render_result(app: FastAPI, lang: str, view: dict[str, Any]) -> str:
    """The result page for `view` as the app's templates render it."""
    templates = app.state.templates
    context = {
        "attempt": view,
        "course": app.state.content.library.courses["ux-course"],
        "module": None,
        "errors": {},
        "typed": {},
        "flagged": set(),
        "navigator": [],
        "closing": None,
        "now": utcnow(),
        "csrf_token": "x",
        "current_url": "/",
        "account_html": "",
        "author_problems": (),
    }
    return str(templates._render(lang, "quizzes/attempt.html", context))


def test_the_result_page_follows_each_review_policy(ux_app: FastAPI, migrated_database: Database) -> None:
    from trainer.quizzes import service, snapshot

    database = migrated_database
    person = make_person(database, "inspector")
    with TestClient(ux_app) as client:
        headers = token(client, person)
        attempt = client.post("/api/v1/courses/ux-course/exam/attempts", headers=headers).json()
        for question in attempt["questions"][:3]:
            client.put(
                f"/api/v1/attempts/{attempt['id']}/answers/{question['slot']}",
                headers=headers,
                json=right_answer(database, attempt["id"], question["slot"]),
            )
        client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers)
    viewer = Viewer(
        id=person.id,
        username=person.username,
        full_name="",
        roles=frozenset({"inspector"}),
        unit_id=None,
        unit_lineage=None,
        unit_name=None,
        unit_path=None,
        must_change_password=False,
    )
    with database.session() as db:
        full = service.attempt_view(db, viewer, attempt["id"], utcnow())
    public = [
        {**snapshot.public_question(q), "response": q["response"]} for q in full["questions"]
    ]  # no keys, as the service serves them under by_tag, score and none
    wrong = [q["slot"] for q in full["questions"] if (q["score"] or 0) < 1]

    default = _render_result(ux_app, "en", full)  # no "review" given: today's full review
    assert "Correct answer" in default
    assert "Your answer" in default

    by_tag = {
        **full,
        "review": "by_tag",
        "questions": public,
        "breakdown": {
            "tags": [{"tag": "gases", "score": 1.0, "max": 2.0}, {"tag": "ux", "score": 3.0, "max": 6.0}],
            "regulations": [{"reg": "demo-law", "title": "Demo Safety Law", "score": 1.0, "max": 2.0}],
            "wrong": wrong,
        },
    }
    page = _render_result(ux_app, "en", by_tag)
    assert "Where you lost points" in page
    assert re.search(r'<span class="tag">gases</span></th><td>1 / 2</td>', page)
    assert "<cite>Demo Safety Law</cite></th><td>1 / 2</td>" in page
    for slot in wrong:
        assert f'<a href="#question-{slot}">{slot}</a>' in page
    assert page.count("This question lost points.") == len(wrong)
    assert "Correct answer" not in page  # no key anywhere
    assert "Intake air reaches the people" not in page  # nor an explanation
    zh = _render_result(ux_app, "zh-CN", by_tag)
    assert "失分情况" in zh

    for level in ("score", "none"):
        page = _render_result(ux_app, "en", {**full, "review": level, "questions": public})
        assert "For this exam the score is shown, not the questions" in page
        assert 'id="question-1"' not in page
        assert "3 of 6 points" in page


def time_up(deadline: datetime) -> str:
    """The result page's line, the time in TRAINER_TIME_ZONE (the tests' default, Asia/Shanghai)."""
    local = deadline.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%H:%M")
    return f"Time was up at {local} (Asia/Shanghai, UTC+8); answers saved by then were graded."


# -- 12. the answer form is one unit of work ----------------------------------------------------


def test_saving_several_answers_is_all_or_nothing(ux_client: TestClient, migrated_database: Database) -> None:
    """One call stores every answer or none: a response that does not fit the paper refuses the
    whole batch, and so does the answer form, which reports that question and saves none."""
    from trainer.quizzes import service

    database = migrated_database
    person = make_person(database, "inspector")
    attempt_id = start(ux_client, person)
    single = slot_of(database, attempt_id, "UX-0005")
    text = slot_of(database, attempt_id, "UX-0006")
    viewer = Viewer(
        id=person.id,
        username=person.username,
        full_name="",
        roles=frozenset({"inspector"}),
        unit_id=None,
        unit_lineage=None,
        unit_name=None,
        unit_path=None,
        must_change_password=False,
    )
    with pytest.raises(DomainError) as refused:
        service.save_answers(
            database, viewer, attempt_id, {text: {"text": "SDS"}, single: {"selected": ["zzz"]}}, now=utcnow()
        )
    assert (refused.value.status, refused.value.extra["slot"]) == (422, single)
    assert stored(database, attempt_id) == {}
    via_form = post(
        ux_client, f"/attempts/{attempt_id}/answers", **{f"q{single}": "not-a-key", f"q{text}-text": "SDS"}
    )
    assert via_form.status_code == 400
    assert re.search(rf'id="error-{single}"', via_form.text)
    assert stored(database, attempt_id) == {}
    assert ">SDS<" in via_form.text or 'value="SDS"' in via_form.text  # what was typed, shown again


def test_the_answer_form_stores_nothing_once_the_attempt_is_closed(
    ux_client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    attempt_id = start(ux_client, make_person(database, "inspector"))
    text = slot_of(database, attempt_id, "UX-0006")
    flow = slot_of(database, attempt_id, "UX-0002")
    with database.write() as db:  # the deadline passed (grace included) while the page was open
        db.execute(
            update(Attempt).where(Attempt.id == attempt_id).values(deadline=utcnow() - timedelta(minutes=5))
        )
    late = post(
        ux_client,
        f"/attempts/{attempt_id}/answers",
        **{f"q{text}-text": "SDS", f"q{flow}-value": "1080 m3/min"},
    )
    assert late.status_code in (200, 303)
    assert stored(database, attempt_id) == {}


def test_the_answer_form_reads_the_cached_paper_and_writes_once(
    ux_app: FastAPI, ux_client: TestClient, migrated_database: Database
) -> None:
    """After the exam starts, a form save of several answers neither reads the paper back from
    the database nor opens a transaction per answer."""
    from sqlalchemy import event

    database = migrated_database
    attempt_id = start(ux_client, make_person(database, "inspector"))
    text = slot_of(database, attempt_id, "UX-0006")
    flow = slot_of(database, attempt_id, "UX-0002")
    percent = slot_of(database, attempt_id, "UX-0001")
    app_database = ux_app.state.database
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(" ".join(statement.split()).lower())

    engine = app_database.engine  # its write engine is an option view of it: same events
    event.listen(engine, "before_cursor_execute", seen)
    try:
        csrf = csrf_token(ux_client, "/courses")
        statements.clear()
        saved = ux_client.post(
            f"/attempts/{attempt_id}/answers",
            data={
                "csrf_token": csrf,
                f"q{text}-text": "SDS",
                f"q{flow}-value": "1080 m3/min",
                f"q{percent}-value": "0.5%",
            },
            follow_redirects=False,
        )
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert saved.status_code == 303
    assert stored(database, attempt_id).keys() == {text, flow, percent}
    assert not [s for s in statements if "snapshot" in s], statements
    upserts = [s for s in statements if s.startswith("insert into attempt_answers")]
    assert len(upserts) == 1, statements  # one executemany (one statement), not one per answer
