"""The trainer's pages: item statistics of the final exams, one question in detail, results by
tag and by regulation, and the state of the content (problems, bank coverage, gaps).

Every page reads only: plain GET with query parameters, so each view can be bookmarked and
works without JavaScript. Numbers come from `trainer.reports.items`, read through the request's
unit of work (`session_of(request)`, trainer.web.unit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from trainer.access import Access
from trainer.content.bank import BankQuestion
from trainer.content.bank_schemas import Multi, Single, TrueFalse
from trainer.content.library import Course, Library
from trainer.content.store import content_of
from trainer.content.translations import course_coverage
from trainer.i18n import N_
from trainer.quizzes import service as quizzes
from trainer.quizzes.snapshot import render
from trainer.reports import items
from trainer.reports.itemstats import Thresholds
from trainer.web import state
from trainer.web.pages import page
from trainer.web.unit import session_of

FLAG_LABELS = {
    "too_hard": N_("Too hard"),
    "too_easy": N_("Too easy"),
    "low_discrimination": N_("Low discrimination"),
}
TYPE_LABELS = {
    "single": N_("Single choice"),
    "multi": N_("Multiple choice"),
    "truefalse": N_("True or false"),
    "numeric": N_("Number"),
    "text": N_("Short text"),
    "order": N_("Ordering"),
    "match": N_("Matching"),
}
SORT_LABELS = {
    "question": N_("Question"),
    "facility": N_("Facility, lowest first"),
    "discrimination": N_("Discrimination, lowest first"),
}
THRESHOLD_PARAMS = ("facility_low", "facility_high", "discrimination_low")

# The option chart's geometry, in SVG user units (the chart scales to its box).
CHART_WIDTH = 400
CHART_LABEL = 110  # room for the option's label left of its bar
CHART_BAR = 230  # the longest bar
CHART_ROW = 30
CHART_BAR_HEIGHT = 20


@dataclass(frozen=True)
class Invalid:
    """One query parameter that cannot be used, with the sentence that says why."""

    message: str
    name: str
    value: str


class InvalidQueryError(Exception):
    def __init__(self, problems: list[Invalid]) -> None:
        super().__init__(problems)
        self.problems = problems


FRACTION = N_("%(name)s must be a number from 0 to 1 (a fraction), not “%(value)s”.")
PERCENT = N_("%(name)s must be a number from -100 to 100, not “%(value)s”.")
THRESHOLD_BOUNDS = {
    "facility_low": (0.0, 1.0, FRACTION),
    "facility_high": (0.0, 1.0, FRACTION),
    "discrimination_low": (-100.0, 100.0, PERCENT),
}
LOW_ABOVE_HIGH = N_("%(name)s (“%(value)s”) must not be above facility_high.")
BAD_SORT = N_("%(name)s “%(value)s” is not a sort order: use question, facility or discrimination.")


def thresholds_of(request: Request) -> tuple[Thresholds, dict[str, str]]:
    """The thresholds asked for (defaults where a parameter is empty or missing), and the
    parameters to carry over in links. Raises InvalidQueryError naming every bad parameter."""
    problems: list[Invalid] = []
    values: dict[str, float] = {}
    carried: dict[str, str] = {}
    for name, (low, high, message) in THRESHOLD_BOUNDS.items():
        raw = request.query_params.get(name, "").strip()
        if not raw:
            continue
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not low <= value <= high:
            problems.append(Invalid(message, name, raw[:40]))
        else:
            values[name], carried[name] = value, raw
    thresholds = Thresholds(**values)
    if not problems and thresholds.facility_low > thresholds.facility_high:
        problems.append(Invalid(LOW_ABOVE_HIGH, "facility_low", str(thresholds.facility_low)))
    if problems:
        raise InvalidQueryError(problems)
    return thresholds, carried


def sort_of(request: Request) -> str:
    sort = request.query_params.get("sort") or "question"
    if sort not in items.SORTS:
        raise InvalidQueryError([Invalid(BAD_SORT, "sort", sort[:40])])
    return sort


def _exam_courses(library: Library) -> list[Course]:
    return [c for c in library.courses.values() if c.certification is not None]


def _course(request: Request, library: Library) -> Course | None:
    """The course of `?course=` (404 if unknown), else the first with a final exam."""
    courses = _exam_courses(library)
    wanted = request.query_params.get("course")
    if wanted:
        course = library.courses.get(wanted)
        if course is None or course.certification is None:
            raise HTTPException(status_code=404)
        return course
    return courses[0] if courses else None


def _invalid(request: Request, error: InvalidQueryError) -> Response:
    return state.templates(request).render(
        request, "reports/trainer_invalid.html", {"problems": error.problems}, status_code=400
    )


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def item_list(request: Request) -> Response:
    library = content_of(request).library
    try:
        thresholds, carried = thresholds_of(request)
        sort = sort_of(request)
    except InvalidQueryError as error:
        return _invalid(request, error)
    course = _course(request, library)
    rows: list[items.ItemRow] = []
    summary = None
    if course is not None:
        db = session_of(request)
        rows = items.exam_item_statistics(db, course.id, thresholds, bank=library.bank)
        summary = items.exam_summary(db, course.id)
    base = {"course": course.id, **carried} if course else dict(carried)
    return _no_store(
        state.templates(request).render(
            request,
            "reports/trainer_items.html",
            {
                "section": "items",
                "courses": _exam_courses(library),
                "course": course,
                "rows": items.sort_rows(rows, sort),
                "flagged": sum(1 for r in rows if r.flags),
                "summary": summary,
                "thresholds": thresholds,
                "carried": carried,
                "sort": sort,
                "sorts": items.SORTS,
                "sort_labels": SORT_LABELS,
                "sort_links": {s: "?" + urlencode({**base, "sort": s}) for s in items.SORTS},
                "detail_query": urlencode(base),
                "flag_labels": FLAG_LABELS,
                "type_labels": TYPE_LABELS,
                "library": library,
            },
        )
    )


@dataclass(frozen=True)
class OptionBar:
    key: str  # BLANK for "no answer"
    text_html: str | None  # sanitised; None for true/false and "no answer" (labelled in the template)
    correct: bool
    count: int
    share: float | None  # of the answers counted (a multiple-choice answer may select several)
    y: int
    width: float


def option_bars(question: BankQuestion, counts: dict[str, int], answers: int) -> list[OptionBar]:
    """The question's options in the bank's order, then "no answer", with bar geometry."""
    model = question.model
    options: list[tuple[str, str | None, bool]]
    if isinstance(model, Single | Multi):
        options = [(o.key, render(o.text), o.correct) for o in model.options]
    elif isinstance(model, TrueFalse):
        options = [("true", None, model.answer), ("false", None, not model.answer)]
    else:
        return []
    known = {key for key, _, _ in options}
    # Keys no longer in the question (an edited option) still show what was chosen.
    options += [(key, None, False) for key in sorted(counts) if key not in known and key != items.BLANK]
    options.append((items.BLANK, None, False))
    longest = max([counts.get(key, 0) for key, _, _ in options] + [1])
    return [
        OptionBar(
            key=key,
            text_html=html,
            correct=correct,
            count=counts.get(key, 0),
            share=counts.get(key, 0) / answers if answers else None,
            y=index * CHART_ROW + 5,
            width=round(CHART_BAR * counts.get(key, 0) / longest, 1),
        )
        for index, (key, html, correct) in enumerate(options)
    ]


def item_detail(request: Request) -> Response:
    library = content_of(request).library
    question_id = request.path_params["question_id"]
    try:
        thresholds, carried = thresholds_of(request)
    except InvalidQueryError as error:
        return _invalid(request, error)
    course = _course(request, library)
    question = library.bank.questions.get(question_id)
    row = None
    counts: dict[str, int] = {}
    if course is not None:
        db = session_of(request)
        found = items.exam_item_statistics(db, course.id, thresholds, bank=library.bank, question=question_id)
        row = found[0] if found else None
        if question is not None and question.type in items.CHOICE_TYPES:
            counts = items.option_counts(db, course.id, question_id)
    if question is None and row is None:
        raise HTTPException(status_code=404)
    answers = row.stats.attempts if row else 0
    bars = option_bars(question, counts, answers) if question is not None else []
    scenario_html = None
    if question is not None and question.group is not None:
        scenario = library.bank.scenarios.get(question.group)
        scenario_html = render(scenario.stem) if scenario is not None else None
    back = {"course": course.id, **carried} if course else dict(carried)
    return _no_store(
        state.templates(request).render(
            request,
            "reports/trainer_item.html",
            {
                "section": "items",
                "course": course,
                "question_id": question_id,
                "question": question,
                "stem_html": render(question.model.stem) if question is not None else None,
                "scenario_html": scenario_html,
                "row": row,
                "thresholds": thresholds,
                "bars": bars,
                "chart": {
                    "width": CHART_WIDTH,
                    "height": len(bars) * CHART_ROW + 10,
                    "label": CHART_LABEL,
                    "bar_height": CHART_BAR_HEIGHT,
                },
                "regulations": [
                    (
                        ref.reg,
                        library.regulation_title(ref.reg, request.state.lang)
                        if ref.reg in library.regulations
                        else ref.reg,
                        ref.clause,
                    )
                    for ref in (question.model.refs if question is not None else [])
                ],
                "back_query": urlencode(back),
                "flag_labels": FLAG_LABELS,
                "type_labels": TYPE_LABELS,
                "corrections": quizzes.corrections_of(session_of(request), question_id),
                "library": library,
            },
        )
    )


def by_tag(request: Request) -> Response:
    library = content_of(request).library
    rows: list[items.ItemRow] = []
    for course in _exam_courses(library):
        rows += items.exam_item_statistics(session_of(request), course.id, Thresholds(), bank=library.bank)
    lang: str = request.state.lang
    regulations = [
        (
            group,
            library.regulation_title(group.key, lang) if group.key in library.regulations else group.key,
        )
        for group in items.by_regulation(rows, library)
    ]
    return _no_store(
        state.templates(request).render(
            request,
            "reports/trainer_tags.html",
            {
                "section": "tags",
                "tags": [(group, library.tag_name(group.key, lang)) for group in items.by_tag(rows, library)],
                "regulations": regulations,
                "courses": _exam_courses(library),
            },
        )
    )


def content_status(request: Request) -> Response:
    store = content_of(request)
    library = store.library  # in reload mode, this notices an edit (and records its problems)
    found = (items.exam_coverage(course, library.bank) for course in _exam_courses(library))
    coverage = [entry for entry in found if entry is not None]
    never: dict[str, list[tuple[str, bool]]] = {}
    for entry in coverage:
        drawn = items.drawn_questions(session_of(request), entry.course.id)
        never[entry.course.id] = [
            (q.id, q.id in entry.eligible)
            for q in sorted(library.bank.questions.values(), key=lambda q: q.id)
            if q.domain == entry.course.domain and q.id not in drawn
        ]
    return _no_store(
        state.templates(request).render(
            request,
            "reports/trainer_content.html",
            {
                "section": "content",
                "problems": store.problems,
                "warnings": library.warnings,
                "coverage": coverage,
                "never": never,
                "grids": items.tag_grids(library.bank),
                "difficulties": items.DIFFICULTIES,
                "without_practice": items.modules_without_practice(library),
                "not_in_force": library.not_in_force(),
                "library": library,
                "translations": [
                    (course, course_coverage(library.bank, course)) for course in library.courses.values()
                ],
            },
        )
    )


routes: list[BaseRoute] = [
    page("/trainer/items", item_list, access=Access.TRAINER),
    page("/trainer/items/{question_id}", item_detail, access=Access.TRAINER),
    page("/trainer/tags", by_tag, access=Access.TRAINER),
    page("/trainer/content", content_status, access=Access.TRAINER),
]
