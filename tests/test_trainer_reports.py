"""The trainer's views: item statistics, one question in detail, results by tag and regulation,
and the content status page - through the real app, checked against the stored marks."""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import ZH, ContentDirs, make_person, ready_for_exam, right_answer, sign_in
from trainer.app import create_app
from trainer.config import Settings
from trainer.content.bank import Bank
from trainer.db import Database
from trainer.quizzes.models import Attempt, AttemptAnswer, AttemptPaper, Paper
from trainer.quizzes.service import paper_of
from trainer.quizzes.snapshot import to_served
from trainer.reports import items
from trainer.reports.itemstats import Thresholds, item_stats
from trainer.reports.models import ItemMark
from trainer.web.middleware import CONTENT_SECURITY_POLICY

PAGES = [
    "/trainer/items",
    "/trainer/items?course=demo-course&sort=facility",
    "/trainer/items/DEMO-0001?course=demo-course",
    "/trainer/tags",
    "/trainer/content",
]
CHOICE_QUESTIONS = {"DEMO-0001", "DEMO-0002", "DEMO-0003", "DEMO-S01-1", "DEMO-S01-2"}


class _Tables(HTMLParser):
    """Every table row that has an id: its cells' text, in order (th and td alike)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self._row: str | None = None
        self._cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "tr" and values.get("id"):
            self._row, self._cells = values["id"], []
        elif tag in ("td", "th") and self._row:
            self._cells.append("")
            self._in_cell = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in_cell = False
        elif tag == "tr" and self._row:
            self.rows[self._row] = [" ".join(c.split()) for c in self._cells]
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._in_cell and self._cells:
            self._cells[-1] += data


def table_rows(page: str) -> dict[str, list[str]]:
    parser = _Tables()
    parser.feed(page)
    return parser.rows


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def num(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


@pytest.fixture
def trainer(client: TestClient, migrated_database: Database) -> TestClient:
    sign_in(client, make_person(migrated_database, "trainer", unit=None))
    return client


# -- exams taken through the API ----------------------------------------------------------------


def _wrong_or_blank(database: Database, attempt_id: int, slot: int) -> dict[str, object] | None:
    """A wrong option for a choice question (the first key that is not correct); else blank."""
    with database.session() as db:
        paper = json.loads(paper_of(db, attempt_id))
    entry = next(e for e in paper if e["slot"] == slot)
    key = entry["key"]
    if key["kind"] != "choice":
        return None
    return dict(to_served(entry, {"selected": [sorted(set(key["keys"]) - set(key["correct"]))[0]]}))


def take_exam(
    client: TestClient,
    database: Database,
    headers: dict[str, str],
    answer: Callable[[int, int], dict[str, object] | None],
) -> None:
    attempt = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers).json()
    for question in attempt["questions"]:
        response = answer(attempt["id"], question["slot"])
        if response is not None:
            saved = client.put(
                f"/api/v1/attempts/{attempt['id']}/answers/{question['slot']}", headers=headers, json=response
            )
            assert saved.status_code == 200, saved.text
    assert client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers).status_code == 200


def drawn(database: Database) -> set[str]:
    """Every question with a stored mark in a demo-course exam (of this test run)."""
    with database.session() as db:
        return set(db.scalars(select(ItemMark.question_id).where(ItemMark.course_id == "demo-course")))


def fingerprint(database: Database) -> tuple[int, int | None]:
    """How many demo-course item marks there are, and the newest attempt among them: changes
    whenever a test running beside this one grades a demo exam."""
    with database.session() as db:
        count, newest = db.execute(
            select(func.count(), func.max(ItemMark.attempt_id)).where(ItemMark.course_id == "demo-course")
        ).one()
    return int(count), newest


def several_exams(client: TestClient, database: Database) -> None:
    """Inspectors who answer everything right, pick wrong options, or answer only the first
    question - until the choice questions have been drawn (each paper is a random 3 of 9)."""
    patterns: list[Callable[[int, int], dict[str, object] | None]] = [
        lambda attempt, slot: right_answer(database, attempt, slot),
        lambda attempt, slot: _wrong_or_blank(database, attempt, slot),
        lambda attempt, slot: right_answer(database, attempt, slot) if slot == 1 else None,
    ]
    for index in range(12):
        headers, _ = ready_for_exam(client, database)
        take_exam(client, database, headers, patterns[index % len(patterns)])
        if index >= 2 and len(drawn(database) & CHOICE_QUESTIONS) >= 2:
            break
    client.cookies.clear()


@pytest.fixture
def exams(client: TestClient, migrated_database: Database) -> None:
    several_exams(client, migrated_database)


def stored_pairs(database: Database) -> dict[str, list[tuple[float, float]]]:
    """(mark, attempt score - mark) per question, read straight from the stored rows."""
    pairs: dict[str, list[tuple[float, float]]] = defaultdict(list)
    with database.session() as db:
        for question_id, mark, score in db.execute(
            select(ItemMark.question_id, ItemMark.mark, Attempt.score)
            .join(Attempt, Attempt.id == ItemMark.attempt_id)
            .where(ItemMark.course_id == "demo-course")
        ):
            pairs[question_id].append((mark, (score or 0.0) - mark))
    return pairs


# -- who may see the pages ------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize(("headers", "lang", "marker"), [({}, "en", "Courses"), (ZH, "zh-CN", "课程")])
def test_a_trainer_sees_every_page_in_both_languages(
    trainer: TestClient, path: str, headers: dict[str, str], lang: str, marker: str
) -> None:
    response = trainer.get(path, headers=headers)
    assert response.status_code == 200, response.text[:300]
    page = response.text
    assert f'<html lang="{lang}">' in page
    assert marker in page
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["cache-control"] == "no-store"
    assert "style=" not in page  # the CSP forbids inline styles
    assert "<script" not in page
    # Accessible tables: every table has a caption, every header cell a scope.
    assert page.count("<table") == page.count("<caption")
    assert not re.search(r"<th(?=[\s>])(?![^>]*scope=)[^>]*>", page)


@pytest.mark.parametrize("path", PAGES)
def test_inspectors_are_refused_and_strangers_sent_to_sign_in(
    client: TestClient, migrated_database: Database, path: str
) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/trainer/")
    sign_in(client, make_person(migrated_database, "inspector"))
    assert client.get(path).status_code == 403


def test_admins_see_the_pages_and_the_trainer_nav_links_them(
    client: TestClient, migrated_database: Database
) -> None:
    sign_in(client, make_person(migrated_database, "admin", unit=None))
    page = client.get("/trainer/items").text
    assert 'href="/trainer/content"' in page
    assert 'href="/trainer/tags"' in page
    assert client.get("/trainer/content").status_code == 200


# -- item statistics against the stored marks -------------------------------------------------


def test_item_statistics_on_the_page_equal_those_of_the_stored_marks(
    exams: None, trainer: TestClient, migrated_database: Database
) -> None:
    # Other tests of this run may grade demo exams meanwhile: read until nothing changed around.
    while True:
        before = fingerprint(migrated_database)
        expected = {q: item_stats(q, pairs) for q, pairs in stored_pairs(migrated_database).items()}
        response = trainer.get("/trainer/items?course=demo-course")
        with migrated_database.session() as db:
            computed = items.exam_item_statistics(db, "demo-course", Thresholds(), bank=_bank(trainer))
        page = trainer.get("/trainer/items?course=demo-course&sort=facility").text
        if fingerprint(migrated_database) == before:
            break
    assert len(expected) >= 3
    rows = table_rows(response.text)
    shown = {key.removeprefix("item-"): cells for key, cells in rows.items() if key.startswith("item-")}
    assert set(shown) == set(expected)
    for question_id, stats in expected.items():
        cells = shown[question_id]
        assert cells[0] == question_id
        assert cells[3] == str(stats.attempts), question_id
        assert cells[4] == pct(stats.facility), question_id
        assert cells[5] == pct(stats.sd), question_id
        assert cells[6] == num(stats.discrimination_index), question_id
        assert cells[7] == num(stats.discriminative_efficiency), question_id
    # The same numbers straight from the function, for every question drawn.
    assert {r.question_id: r.stats for r in computed} == expected
    # Sorted worst facility first on request.
    order = [key.removeprefix("item-") for key in table_rows(page) if key.startswith("item-")]
    facilities = [expected[q].facility for q in order]
    assert facilities == sorted(facilities, key=lambda f: (f is None, f or 0.0))


def _bank(client: TestClient) -> Bank:
    app: FastAPI = client.app  # type: ignore[assignment]
    return app.state.content.library.bank  # type: ignore[no-any-return]


def test_exam_figures_equal_a_direct_computation(
    exams: None, trainer: TestClient, migrated_database: Database
) -> None:
    while True:  # until no other test of the run graded a demo exam while we read
        before = fingerprint(migrated_database)
        marks, attempts, page = _exam_figures_inputs(trainer, migrated_database)
        if fingerprint(migrated_database) == before:
            break
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    _check_exam_figures(marks, attempts, text)


def _exam_figures_inputs(
    trainer: TestClient, database: Database
) -> tuple[dict[int, list[float]], list[Any], str]:
    with database.session() as db:
        marks: dict[int, list[float]] = defaultdict(list)
        for attempt_id, mark in db.execute(
            select(ItemMark.attempt_id, ItemMark.mark).where(ItemMark.course_id == "demo-course")
        ):
            marks[attempt_id].append(mark)
        # Graded exams with their marks (other tests write bare attempt rows, never graded).
        attempts = [
            a
            for a in db.execute(
                select(Attempt.id, Attempt.score, Attempt.max_score).where(
                    Attempt.course_id == "demo-course", Attempt.kind == "exam", Attempt.status == "graded"
                )
            )
            if a.id in marks
        ]
    return marks, attempts, trainer.get("/trainer/items").text


def _check_exam_figures(marks: dict[int, list[float]], attempts: list[Any], text: str) -> None:
    percents = [100 * (score or 0.0) / max_score for _, score, max_score in attempts]
    assert f"Graded exams {len(attempts)}" in text
    assert f"Mean score {statistics.mean(percents):.1f}%" in text
    assert f"Median score {statistics.median(percents):.1f}%" in text
    assert f"Standard deviation {statistics.stdev(percents):.1f}%" in text
    # Reliability: a one-way analysis of variance of the marks grouped by paper.
    papers = list(marks.values())
    lengths = Counter(len(p) for p in papers)
    k = max(lengths, key=lambda length: (lengths[length], length))  # the most common; longer on ties
    papers = [p for p in papers if len(p) == k]
    grand = statistics.mean(m for p in papers for m in p)
    ms_between = k * sum((statistics.mean(p) - grand) ** 2 for p in papers) / (len(papers) - 1)
    ms_within = sum((m - statistics.mean(p)) ** 2 for p in papers for m in p) / (len(papers) * (k - 1))
    shown = f"{(ms_between - ms_within) / ms_between:.2f}" if ms_between else "–"
    assert f"Reliability (random papers) {shown} over {len(papers)} papers of {k} questions" in text


def test_nested_reliability_of_a_worked_example() -> None:
    # Four papers of three questions: 110, 100, 000, 111. Person means 2/3, 1/3, 0, 1; MS between
    # = 3 * 5/9 / 3 = 5/9, MS within = (2/3 + 2/3) / 8 = 1/6, so (5/9 - 1/6) / (5/9) = 0.7.
    papers = [(2.0, 2.0), (1.0, 1.0), (0.0, 0.0), (3.0, 3.0)]
    reliability, error = items._nested_reliability(3, papers)
    assert reliability == pytest.approx(0.7)
    assert error == pytest.approx(100 * math.sqrt(5 / 3) / 3 * math.sqrt(0.3))
    assert items._nested_reliability(3, [(1.0, 1.0), (1.0, 1.0)]) == (None, None)  # no spread


def test_option_counts_equal_a_direct_count(
    exams: None, trainer: TestClient, migrated_database: Database
) -> None:
    # Counted another way: every graded exam's paper, the slot the question had, its answer.
    # (Attempts that other tests write as bare rows, never graded, have no marks: not counted.)
    while True:  # until no other test of the run graded a demo exam while we read
        before = fingerprint(migrated_database)
        direct, pages, counted = _option_counts_both_ways(trainer, migrated_database)
        if fingerprint(migrated_database) == before:
            break
    checked = 0
    for question_id, page in pages.items():
        assert counted[question_id] == dict(direct[question_id])
        assert 'role="img"' in page
        assert '<title id="chart-title">Answers per option</title>' in page
        rows = table_rows(page)
        for key, cells in rows.items():
            option = "" if key == "no-answer" else key.removeprefix("option-")
            assert cells[1] == str(direct[question_id][option]), (question_id, key)
        assert any("✓ correct" in cells[3] for cells in rows.values())
        checked += 1
    assert checked >= 2


def _option_counts_both_ways(
    trainer: TestClient, migrated_database: Database
) -> tuple[dict[str, Counter[str]], dict[str, str], dict[str, dict[str, int]]]:
    direct: dict[str, Counter[str]] = defaultdict(Counter)
    with migrated_database.session() as db:
        marked = set(db.scalars(select(ItemMark.attempt_id).where(ItemMark.course_id == "demo-course")))
        exams_taken = [
            a
            for a in db.execute(
                select(Attempt.id, Paper.snapshot)
                .join(AttemptPaper, AttemptPaper.attempt_id == Attempt.id)
                .join(Paper, Paper.id == AttemptPaper.paper_id)
                .where(Attempt.course_id == "demo-course", Attempt.kind == "exam", Attempt.status == "graded")
            )
            if a.id in marked
        ]
        answers = {
            (a.attempt_id, a.slot): json.loads(a.response) for a in db.scalars(select(AttemptAnswer)).all()
        }
    for attempt_id, snapshot in exams_taken:
        for entry in json.loads(snapshot):
            response = answers.get((attempt_id, entry["slot"]))
            selected = response.get("selected", []) if response else []
            direct[entry["id"]].update(selected or [items.BLANK])
    pages, counted = {}, {}
    for question_id in sorted(drawn(migrated_database) & CHOICE_QUESTIONS):
        with migrated_database.session() as db:
            counted[question_id] = items.option_counts(db, "demo-course", question_id)
        pages[question_id] = trainer.get(f"/trainer/items/{question_id}?course=demo-course").text
    return direct, pages, counted


def test_the_detail_page_shows_the_stem_and_refuses_unknown_questions(trainer: TestClient) -> None:
    page = trainer.get("/trainer/items/DEMO-0001").text
    assert "Which air does an inspector check first at a working face?" in page
    assert "<cite>Demo Safety Law</cite> (2021), ventilation" in page  # title, edition, clause
    assert "Intake air" in page
    zh = trainer.get("/trainer/items/DEMO-0001", headers=ZH).text
    assert "<cite>示例安全法</cite> (2021年版)" in zh
    assert trainer.get("/trainer/items/NO-SUCH-QUESTION").status_code == 404
    assert trainer.get("/trainer/items/DEMO-0001?course=nope").status_code == 404
    assert trainer.get("/trainer/items?course=nope").status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("facility_low=abc", "facility_low must be a number from 0 to 1"),
        ("facility_high=1.5", "facility_high must be a number from 0 to 1"),
        ("discrimination_low=nan", "discrimination_low must be a number from -100 to 100"),
        ("facility_low=0.9&facility_high=0.5", "facility_low (“0.9”) must not be above facility_high"),
        ("sort=nope", "sort “nope” is not a sort order"),
    ],
)
def test_bad_report_settings_are_a_clear_400(trainer: TestClient, query: str, message: str) -> None:
    response = trainer.get(f"/trainer/items?{query}")
    assert response.status_code == 400
    assert message in response.text
    assert 'role="alert"' in response.text


def test_thresholds_from_the_query_change_the_flags(
    exams: None, trainer: TestClient, migrated_database: Database
) -> None:
    expected = {q: item_stats(q, pairs) for q, pairs in stored_pairs(migrated_database).items()}
    # Everything answered at all is "too easy" above a facility of 0.
    page = trainer.get("/trainer/items?facility_low=0&facility_high=0&discrimination_low=-100").text
    for key, cells in table_rows(page).items():
        question_id = key.removeprefix("item-")
        facility = expected[question_id].facility
        assert ("Too easy" in cells[8]) == (facility is not None and facility > 0), question_id
        assert "Too hard" not in cells[8]
        assert "Low discrimination" not in cells[8]
        # Links carry the thresholds on.
    assert "facility_high=0&amp;discrimination_low=-100" in page


# -- by tag and regulation --------------------------------------------------------------------


def test_results_by_tag_and_regulation_weight_every_answer(
    exams: None, trainer: TestClient, migrated_database: Database
) -> None:
    bank = _bank(trainer)
    pairs = stored_pairs(migrated_database)
    by_tag: dict[str, list[float]] = defaultdict(list)
    by_reg: dict[str, list[float]] = defaultdict(list)
    for question_id, question_pairs in pairs.items():
        question = bank.questions.get(question_id)
        if question is None:
            continue  # not in this bank: no tags or references to group by
        for tag in question.tags:
            by_tag[tag] += [mark for mark, _ in question_pairs]
        for reg in {r.reg for r in question.model.refs}:
            by_reg[reg] += [mark for mark, _ in question_pairs]
    rows = table_rows(trainer.get("/trainer/tags").text)
    for tag, marks in by_tag.items():
        cells = rows[f"tag-{tag}"]
        assert cells[1] == pct(math.fsum(marks) / len(marks)), tag
        assert cells[4] == str(len(marks)), tag
    for reg, marks in by_reg.items():
        cells = rows[f"regulation-{reg}"]
        assert cells[1] == pct(math.fsum(marks) / len(marks)), reg
    assert "ventilation" in by_tag
    # Hardest first.
    shown = [cells[1] for key, cells in rows.items() if key.startswith("tag-")]
    assert shown == sorted(shown, key=lambda c: float(c.rstrip("%")))
    if "demo-law" in by_reg:
        assert "Demo Safety Law" in rows["regulation-demo-law"][0]
        assert (
            "示例安全法"
            in table_rows(trainer.get("/trainer/tags", headers=ZH).text)["regulation-demo-law"][0]
        )


def test_grouping_counts_questions_once_and_skips_questions_gone_from_the_bank(
    trainer: TestClient,
) -> None:
    app: FastAPI = trainer.app  # type: ignore[assignment]
    library = app.state.content.library
    stats_a = item_stats("DEMO-0001", [(1.0, 2.0), (0.0, 1.0)])
    stats_b = item_stats("DEMO-0003", [(1.0, 2.0), (1.0, 1.0), (0.0, 0.0), (1.0, 0.0)])
    gone = item_stats("GONE-1", [(0.0, 1.0)])
    rows = [
        items.ItemRow(stats_a, (), True, "single", ("ventilation",), 1, ("demo-law",)),
        items.ItemRow(stats_b, (), True, "truefalse", ("ventilation",), 1, ()),
        items.ItemRow(gone, (), False, None, (), None, ()),
    ]
    (ventilation,) = items.by_tag(rows, library)
    assert (ventilation.key, ventilation.questions, ventilation.answers) == ("ventilation", 2, 6)
    assert ventilation.facility == pytest.approx(4 / 6)
    assert ventilation.discrimination == pytest.approx(
        (stats_a.discrimination_index + stats_b.discrimination_index) / 2  # type: ignore[operator]
    )
    (law,) = items.by_regulation(rows, library)
    assert (law.key, law.questions, law.facility) == ("demo-law", 1, 0.5)


# -- content status -----------------------------------------------------------------------------


def test_content_status_shows_coverage_gaps_and_modules_without_practice(
    exams: None, trainer: TestClient, migrated_database: Database
) -> None:
    page = trainer.get("/trainer/content").text
    # demo-second has no practice quiz.
    practice = page[page.index('id="without-practice"') :]
    assert "Methane monitoring" in practice[: practice.index("</ul>")]
    assert "Ventilation first steps" not in practice[: practice.index("</ul>")]
    # The blueprint row: 3 questions of tag ventilation, difficulty 1-3; all 9 fit.
    blueprint = page[page.index('id="blueprint-demo-course"') :]
    cells = re.findall(r"<td>(.*?)</td>", blueprint[: blueprint.index("</table>")], re.S)
    assert re.sub(r"<[^>]+>", "", cells[0]) == "Ventilation"  # the tag's name (tags.yaml)
    assert cells[1:4] == ["1–3", "3", "9"]
    assert "Enough questions for two papers without repeats." in page
    # Tag x difficulty: ventilation 2 / 5 / 2 at difficulty 1 / 2 / 3; the case scenario's two.
    grid = page[page.index('id="grid-coal"') :]
    ventilation = re.search(r'<span class="tag">Ventilation</span></th>((?:<td>\d+</td>)+)', grid)
    assert ventilation
    assert re.findall(r"<td>(\d+)</td>", ventilation.group(1)) == ["2", "5", "2", "0", "0", "9"]
    case = re.search(r'<span class="tag">Case studies</span></th>((?:<td>\d+</td>)+)', grid)
    assert case
    assert re.findall(r"<td>(\d+)</td>", case.group(1)) == ["0", "2", "0", "0", "0", "2"]
    # Never drawn: the bank's coal questions without a stored mark in this course.
    never = page[page.index('id="never-demo-course"') :]
    never = never[: never.index("</ul>") if "<ul>" in never[:200] else never.index("</p>")]
    listed = set(re.findall(r'href="/trainer/items/([^"?]+)\?course=demo-course"', never))
    assert listed == set(_bank(trainer).questions) - drawn(migrated_database)
    assert "The files load without errors." in page


@pytest.fixture
def author(make_settings: Callable[..., Settings], content: ContentDirs, migrated_database: Database):  # type: ignore[no-untyped-def]
    app = create_app(make_settings(content, content_reload=True))
    with TestClient(app) as client:
        sign_in(client, make_person(migrated_database, "trainer", unit=None))
        yield client
    app.state.database.dispose()


def test_content_status_shows_a_broken_edit_and_the_warnings_of_a_good_one(
    author: TestClient, content: ContentDirs
) -> None:
    # A warning only: the edit goes live, and the warning is listed.
    content.edit(
        "question_bank/demo/ventilation.yaml",
        "    explanation: The safety data sheet.\n",
        "",
    )
    page = author.get("/trainer/content").text
    assert "question &#39;DEMO-0005&#39; has no explanation" in page
    assert "The files load without errors." in page
    # An error: the last good library stays, and the problem is shown with its file and line.
    content.edit(
        "courses/demo-course/02-second.md", "regulations: [demo-law, other-rule]", "regulations: [typo-law]"
    )
    page = author.get("/trainer/content").text
    assert 'role="alert"' in page
    assert "courses/demo-course/02-second.md:7: unknown regulation &#39;typo-law&#39;" in page
    assert "Methane monitoring" in page  # still the last good library's modules
    content.edit("courses/demo-course/02-second.md", "regulations: [typo-law]", "regulations: [demo-law]")
    page = author.get("/trainer/content").text
    assert "typo-law" not in page
    assert "The files load without errors." in page
