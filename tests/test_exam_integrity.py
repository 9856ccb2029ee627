"""A certificate must mean the holder knows the material (quality.md, exam integrity): nothing
served tells the right option, practice cannot be used to harvest the exam, a practice answer is
locked once its key was shown, and a certification review shows no keys unless the course says so.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.conftest import (
    FIXTURE_LIBRARY,
    ContentDirs,
    complete_modules,
    make_person,
    right_answer,
    sign_in,
    token,
)
from trainer.app import create_app
from trainer.config import PROJECT_ROOT, Settings
from trainer.content.loader import load_library_or_raise
from trainer.content.schemas import DrawRow
from trainer.db import Database
from trainer.quizzes import snapshot
from trainer.quizzes.assembly import assemble

LIBRARY = load_library_or_raise(FIXTURE_LIBRARY / "courses", FIXTURE_LIBRARY / "question_bank")
PAPERS = 200


def test_the_right_options_served_key_is_spread_evenly_over_papers() -> None:
    """Over 200 papers: the right option stands in every position about equally often, its key is
    new each time, and sorting the keys does not find it either (the old keys were the bank's:
    `a` was right in every letter-keyed question of the sample bank)."""
    rows = [DrawRow(tags=["ventilation"], difficulty=(1, 1), count=2)]  # DEMO-0001 (3 options), DEMO-0003
    positions: Counter[int] = Counter()
    ranks: Counter[int] = Counter()
    keys: set[str] = set()
    truefalse_right: Counter[int] = Counter()
    for seed in range(PAPERS):
        for served in assemble(LIBRARY.bank, "coal", rows, seed):
            entry = snapshot.snapshot_question(served, LIBRARY)
            shown = [o["key"] for o in entry["options"]]
            right = snapshot.to_served(entry, {"selected": entry["key"]["correct"]})["selected"][0]
            assert right not in entry["key"]["keys"]  # never a bank key
            if served.question_id == "DEMO-0001":
                positions[shown.index(right)] += 1
                ranks[sorted(shown).index(right)] += 1
                keys.add(right)
            else:
                truefalse_right[sorted(shown).index(right)] += 1
    for counts in (positions, ranks):  # expected 66.7 each; these bounds fail by chance < 1e-4
        assert sorted(counts) == [0, 1, 2]
        assert all(40 <= n <= 95 for n in counts.values()), counts
    assert len(keys) >= PAPERS - 2  # 24-bit keys: a repeat is rare, a pattern impossible
    assert all(70 <= n <= 130 for n in truefalse_right.values()), truefalse_right  # "true" first, keys random


def option_markup(page: str, keys: list[str]) -> list[str]:
    """Each option's HTML with its key blanked: what a reader sees of it besides its text."""
    found = []
    for key in keys:
        match = re.search(rf'<input[^>]*value="{re.escape(key)}"[^>]*>', page)
        assert match is not None, key
        found.append(match.group(0).replace(key, "KEY"))
    return found


def test_nothing_served_before_submission_tells_the_right_option(
    client: TestClient, migrated_database: Database
) -> None:
    headers, person = exam_ready(client, migrated_database)
    attempt = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers).json()
    sign_in(client, person)
    page = client.get(f"/attempts/{attempt['id']}").text
    for question in attempt["questions"]:
        if "options" not in question and "items" not in question:
            continue
        options = question.get("options") or question["items"]
        assert all(set(o) == {"key", "text_html"} for o in options)
        keys = [o["key"] for o in options]
        assert len({len(k) for k in keys}) == 1  # one form for every key
        if question["type"] in ("single", "multi", "truefalse"):
            markup = option_markup(page, keys)
            shapes = {re.sub(r'id="[^"]*"|for="[^"]*"', "", m) for m in markup}
            assert len(shapes) == 1, shapes  # the right option's input looks like every other
        counts = {key: page.count(key) for key in keys}
        assert len(set(counts.values())) == 1, counts  # no key named more often than another
        assert not set(question) & {"correct", "feedback", "explanation", "accept", "key", "keymap"}
    assert "keymap" not in page


def exam_ready(client: TestClient, database: Database) -> tuple[dict[str, str], object]:
    person = make_person(database, "inspector", unit="Heilongjiang/Harbin")
    headers = token(client, person)
    complete_modules(client, headers, database)
    return headers, person


def test_a_practice_answer_is_locked_once_its_feedback_was_shown(
    client: TestClient, migrated_database: Database
) -> None:
    """The probe: save anything, read the key in the feedback, save the key, pass. Now the second
    save is refused and the first answer stands."""
    person = make_person(migrated_database, "inspector")
    headers = token(client, person)
    practice = client.post("/api/v1/modules/demo-first/practice/attempts", headers=headers).json()
    question = practice["questions"][0]
    url = f"/api/v1/attempts/{practice['id']}/answers/{question['slot']}"
    right = right_answer(migrated_database, practice["id"], question["slot"])
    wrong = wrong_answer(question, right)
    first = client.put(url, headers=headers, json=wrong)
    assert first.status_code == 200
    assert "correct" in first.json()["review"]  # the feedback shows the key...
    again = client.put(url, headers=headers, json=right)
    assert again.status_code == 409  # ...so the question is answered for good
    assert "feedback has been shown" in again.json()["detail"]["message"]
    view = client.get(f"/api/v1/attempts/{practice['id']}", headers=headers).json()
    assert next(q for q in view["questions"] if q["slot"] == question["slot"])["response"] == wrong


def wrong_answer(question: dict[str, object], right: dict[str, object]) -> dict[str, object]:
    if "selected" in right:
        keys = [o["key"] for o in question["options"]]  # type: ignore[attr-defined]
        return {"selected": [next(k for k in keys if k not in right["selected"])]}  # type: ignore[operator]
    if "value" in right:
        return {"value": float(right["value"]) * 3 + 7}  # type: ignore[arg-type]
    if "text" in right:
        return {"text": "not this"}
    if "order" in right:
        return {"order": list(reversed(right["order"]))}  # type: ignore[call-overload]
    pairs = dict(right["pairs"])  # type: ignore[call-overload]
    lefts = list(pairs)
    return {"pairs": {lefts[0]: pairs[lefts[1]], lefts[1]: pairs[lefts[0]]}}


def review_course(content: ContentDirs, policy: str) -> None:
    content.edit("courses/demo-course/course.yaml", "review: after_submit", f"review: {policy}")


def graded_view(make_settings: Callable[..., Settings], content: ContentDirs, database: Database) -> dict:  # type: ignore[type-arg]
    application = create_app(make_settings(content))
    try:
        with TestClient(application, base_url="http://testserver") as client:
            headers, _ = exam_ready(client, database)
            attempt = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers).json()
            first = attempt["questions"][0]
            client.put(
                f"/api/v1/attempts/{attempt['id']}/answers/{first['slot']}",
                headers=headers,
                json=right_answer(database, attempt["id"], first["slot"]),
            )
            client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers)
            return dict(client.get(f"/api/v1/attempts/{attempt['id']}", headers=headers).json())
    finally:
        application.state.database.dispose()


def test_a_by_tag_review_shows_what_to_study_but_no_key(
    make_settings: Callable[..., Settings], content: ContentDirs, migrated_database: Database
) -> None:
    review_course(content, "by_tag")
    view = graded_view(make_settings, content, migrated_database)
    assert view["review"] == "by_tag"
    breakdown = view["breakdown"]
    ventilation = next(t for t in breakdown["tags"] if t["tag"] == "ventilation")  # every question's
    assert ventilation["max"] == float(len(view["questions"]))
    assert ventilation["score"] == view["score"]
    assert len(breakdown["wrong"]) == len(view["questions"]) - 1  # one answered right
    text = json.dumps(view["questions"])
    for leak in ("correct", "explanation", "feedback", "accept", "keymap"):
        assert f'"{leak}' not in text


def test_a_score_review_shows_the_score_alone(
    make_settings: Callable[..., Settings], content: ContentDirs, migrated_database: Database
) -> None:
    review_course(content, "score")
    view = graded_view(make_settings, content, migrated_database)
    assert view["review"] == "score"
    assert view["breakdown"] is None
    assert view["score"] == 1.0
    assert '"correct' not in json.dumps(view["questions"])


def test_practice_never_shows_a_question_the_exam_can_draw(
    make_settings: Callable[..., Settings], migrated_database: Database
) -> None:
    """The harvest probe on the sample library: 24 practice attempts of every module of a course
    collect every key practice shows; none of them belongs to the exam's pool."""
    settings = make_settings(
        courses_dir=PROJECT_ROOT / "courses", question_bank_dir=PROJECT_ROOT / "question_bank"
    )
    application = create_app(settings)
    try:
        with TestClient(application, base_url="http://testserver") as client:
            library = application.state.content.library
            headers = token(client, make_person(migrated_database, "inspector"))
            for course in library.courses.values():
                assert course.certification is not None
                exam_pool = {
                    q.id for row in course.certification.exam.blueprint
                    for q in library.bank.candidates(course.domain, row, "exam")
                }  # fmt: skip
                harvested: set[str] = set()
                for module in course.modules:
                    if module.practice is None:
                        continue
                    for _ in range(24 if course.id == "coal-mine-inspection" else 4):
                        started = client.post(
                            f"/api/v1/modules/{module.id}/practice/attempts", headers=headers
                        )
                        assert started.status_code in (200, 201), started.text
                        harvested |= {q["id"] for q in started.json()["questions"]}
                assert harvested, course.id
                assert not harvested & exam_pool, (course.id, sorted(harvested & exam_pool))
    finally:
        application.state.database.dispose()
