"""Item statistics of the final exams, read from the database, and the state of the question bank
for trainers: which questions are too hard, too easy or do not discriminate, which rules
inspectors get wrong, and whether the bank can fill every exam.

The numbers themselves are `trainer.reports.itemstats` (Moodle's definitions); this module feeds
it from `item_marks` (one row per question of every graded final exam, unanswered = 0) joined to
the attempt's total. Every question is worth one point, so a question's rest-of-test score is
the attempt's score minus its mark. No web imports: the pages are `trainer_views`.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from operator import itemgetter

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session as DbSession

from trainer.content.bank import Bank, BankQuestion, fill
from trainer.content.library import Course, Library, Module
from trainer.content.schemas import DrawRow
from trainer.db import streamed
from trainer.quizzes.models import GRADED, Attempt, AttemptAnswer
from trainer.reports.itemstats import ItemStats, Thresholds, flags, item_stats
from trainer.reports.models import ItemMark

STREAM_ROWS = 2000  # rows fetched at a time: the province's marks never sit in memory at once
BLANK = ""  # option_counts' key for "left blank" (option keys start with a letter or digit)
CHOICE_TYPES = ("single", "multi", "truefalse")
SORTS = ("question", "facility", "discrimination")


@dataclass(frozen=True)
class ItemRow:
    """One question of a course's final exams: its statistics, the reasons to review it, and what
    the bank says about it now (None/empty when the question is no longer in the bank)."""

    stats: ItemStats
    flags: tuple[str, ...]
    in_bank: bool
    type: str | None
    tags: tuple[str, ...]
    difficulty: int | None
    refs: tuple[str, ...]  # regulation codes

    @property
    def question_id(self) -> str:
        return self.stats.question


@dataclass(frozen=True)
class ExamSummary:
    """The exam-level figures of Moodle's statistics report, scores in percent of the paper."""

    attempts: int
    mean: float | None
    median: float | None
    sd: float | None  # sample standard deviation of the scores
    reliability: float | None  # see `exam_summary`
    reliability_attempts: int  # the attempts it was computed over (papers of `paper_length`)
    paper_length: int | None  # questions per paper (the most common length)
    standard_error: float | None  # of measurement, in percentage points: SD * sqrt(1 - reliability)


def _graded_exams(course_id: str, since: datetime | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        Attempt.course_id == course_id,
        Attempt.kind == "exam",
        Attempt.status == GRADED,
    ]
    if since is not None:
        conditions.append(Attempt.submitted_at >= since)
    return conditions


def exam_item_statistics(
    db: DbSession,
    course_id: str,
    thresholds: Thresholds,
    *,
    bank: Bank,
    since: datetime | None = None,
    question: str | None = None,
) -> list[ItemRow]:
    """One row per question drawn in the course's graded final exams (submitted at or after
    `since`), ordered by question id; questions no longer in `bank` are listed too. With
    `question`, that question's row only (none if it was never drawn)."""
    statement = (
        select(ItemMark.question_id, ItemMark.mark, Attempt.score)
        .join(Attempt, Attempt.id == ItemMark.attempt_id)
        .where(ItemMark.course_id == course_id, *_graded_exams(course_id, since))
        .order_by(ItemMark.question_id)
    )
    if question is not None:
        statement = statement.where(ItemMark.question_id == question)
    rows: list[ItemRow] = []
    result = streamed(db, statement, STREAM_ROWS)
    for question_id, marks in groupby(result, key=itemgetter(0)):
        pairs = [(mark, (score or 0.0) - mark) for _, mark, score in marks]
        stats = item_stats(question_id, pairs)
        rows.append(_row(stats, bank.questions.get(question_id), thresholds))
    return rows


def _row(stats: ItemStats, question: BankQuestion | None, thresholds: Thresholds) -> ItemRow:
    return ItemRow(
        stats=stats,
        flags=tuple(flags(stats, thresholds)),
        in_bank=question is not None,
        type=question.type if question else None,
        tags=tuple(sorted(question.tags)) if question else (),
        difficulty=question.difficulty if question else None,
        refs=tuple(dict.fromkeys(r.reg for r in question.model.refs)) if question else (),
    )


def sort_rows(rows: Sequence[ItemRow], sort: str) -> list[ItemRow]:
    """By question id, or worst first: lowest facility or discrimination (undefined ones last)."""
    if sort == "facility":
        return sorted(rows, key=lambda r: _low_first(r.stats.facility, r.question_id))
    if sort == "discrimination":
        return sorted(rows, key=lambda r: _low_first(r.stats.discrimination_index, r.question_id))
    return sorted(rows, key=lambda r: r.question_id)


def _low_first(value: float | None, name: str) -> tuple[bool, float, str]:
    return (value is None, value if value is not None else 0.0, name)


def exam_summary(db: DbSession, course_id: str, *, since: datetime | None = None) -> ExamSummary:
    """Number of graded exams, mean, median and SD of their scores, and a reliability coefficient.

    Cronbach's alpha (Moodle's "coefficient of internal consistency") needs every candidate to
    answer the same items: it splits score variance into item variances measured across the
    same people. Our papers are drawn at random from the bank, so "item 3" is a different
    question for each candidate and alpha over slots or over questions is not defined. What is
    defined is the generalizability coefficient of the nested design, items within persons
    (Brennan, *Generalizability Theory*, 2001, ch. 2 and 4): with k questions per paper,

        E rho^2 = (MS_persons - MS_within) / MS_persons = 1 - k * MS_within / var(totals)

    from a one-way analysis of variance of the marks grouped by attempt. It estimates how well
    a score on one random paper of k questions ranks inspectors as their scores over all
    possible papers would. It is computed over the attempts with the most common paper length
    (the formula needs one k); question difficulty differences count as error here, so on a
    stratified blueprint it is a conservative (lower) estimate. Like alpha it may be negative.
    """
    statement = (
        select(
            Attempt.id,
            Attempt.score,
            Attempt.max_score,
            func.count(ItemMark.slot),
            func.sum(ItemMark.mark),
            func.sum(ItemMark.mark * ItemMark.mark),
        )
        .join(ItemMark, ItemMark.attempt_id == Attempt.id)
        .where(*_graded_exams(course_id, since))
        .group_by(Attempt.id, Attempt.score, Attempt.max_score)
    )
    percents: list[float] = []
    papers: list[tuple[int, float, float]] = []  # (questions, sum of marks, sum of squared marks)
    for _, score, max_score, questions, total, squares in db.execute(statement):
        percents.append(100.0 * (score or 0.0) / max_score if max_score else 0.0)
        papers.append((int(questions), float(total or 0.0), float(squares or 0.0)))
    if not percents:
        return ExamSummary(0, None, None, None, None, 0, None, None)
    sd = statistics.stdev(percents) if len(percents) > 1 else None
    lengths = Counter(k for k, _, _ in papers)
    k = max(lengths, key=lambda length: (lengths[length], length))
    same = [(total, squares) for length, total, squares in papers if length == k]
    reliability, error = _nested_reliability(k, same)
    return ExamSummary(
        attempts=len(percents),
        mean=math.fsum(percents) / len(percents),
        median=statistics.median(percents),
        sd=sd,
        reliability=reliability,
        reliability_attempts=len(same),
        paper_length=k,
        standard_error=error,
    )


def _nested_reliability(k: int, papers: Sequence[tuple[float, float]]) -> tuple[float | None, float | None]:
    """(E rho^2, standard error of measurement in percent) from each paper's sum and sum of
    squares of k marks; (None, None) where undefined."""
    n = len(papers)
    if n < 2 or k < 2:
        return None, None
    totals = [total for total, _ in papers]
    var_totals = statistics.variance(totals)
    if var_totals <= 0:
        return None, None
    # Within one paper: sum of squared deviations from its own mean (never below 0 by rounding).
    within = math.fsum(max(0.0, squares - total * total / k) for total, squares in papers)
    ms_within = within / (n * (k - 1))
    reliability = 1.0 - k * ms_within / var_totals
    sd_percent = 100.0 * math.sqrt(var_totals) / k
    return reliability, sd_percent * math.sqrt(1.0 - reliability)


def option_counts(db: DbSession, course_id: str, question_id: str) -> dict[str, int]:
    """For a choice or true/false question: how many graded exam answers chose each option key
    (a multiple-choice answer counts for each option it selected), and under BLANK how many left
    it unanswered. Options nobody chose are absent."""
    statement = (
        select(AttemptAnswer.response)
        .select_from(ItemMark)
        .outerjoin(
            AttemptAnswer,
            and_(AttemptAnswer.attempt_id == ItemMark.attempt_id, AttemptAnswer.slot == ItemMark.slot),
        )
        .where(ItemMark.course_id == course_id, ItemMark.question_id == question_id)
    )
    counts: Counter[str] = Counter()
    for (response,) in streamed(db, statement, STREAM_ROWS):
        selected = _selected(response)
        if not selected:
            counts[BLANK] += 1
        for key in dict.fromkeys(selected):
            counts[key] += 1
    return dict(counts)


def _selected(response: str | None) -> list[str]:
    if not response:
        return []
    try:
        data = json.loads(response)
    except ValueError:
        return []
    selected = data.get("selected") if isinstance(data, dict) else None
    return [key for key in selected if isinstance(key, str)] if isinstance(selected, list) else []


def drawn_questions(db: DbSession, course_id: str) -> set[str]:
    """Every question that appeared in at least one graded final exam of the course."""
    return set(db.scalars(select(ItemMark.question_id).where(ItemMark.course_id == course_id).distinct()))


# -- across questions: which rules inspectors get wrong -----------------------------------------


@dataclass(frozen=True)
class GroupRow:
    """A tag or regulation code over every question that carries it."""

    key: str
    questions: int  # distinct questions
    answers: int  # sum of N: graded answers counted
    facility: float | None  # mean mark over all those answers (facility weighted by N)
    discrimination: float | None  # mean discrimination index of the questions where defined


def by_tag(rows: Iterable[ItemRow], library: Library) -> list[GroupRow]:
    """Per tag (the question's tags in the bank now), worst facility first."""
    return _grouped(rows, lambda q: sorted(q.tags), library)


def by_regulation(rows: Iterable[ItemRow], library: Library) -> list[GroupRow]:
    """Per regulation code the question cites (in the bank now), worst facility first."""
    return _grouped(rows, lambda q: list(dict.fromkeys(r.reg for r in q.model.refs)), library)


def _grouped(
    rows: Iterable[ItemRow], keys_of: Callable[[BankQuestion], list[str]], library: Library
) -> list[GroupRow]:
    questions: dict[str, set[str]] = {}
    answers: Counter[str] = Counter()
    marks: dict[str, list[float]] = {}  # facility * N per row: the sum of the marks
    discrimination: dict[str, list[float]] = {}
    for row in rows:
        question = library.bank.questions.get(row.question_id)
        if question is None:
            continue  # no longer in the bank: its tags and references are unknown
        stats = row.stats
        for key in keys_of(question):
            questions.setdefault(key, set()).add(row.question_id)
            answers[key] += stats.attempts
            if stats.facility is not None:
                marks.setdefault(key, []).append(stats.facility * stats.attempts)
            if stats.discrimination_index is not None:
                discrimination.setdefault(key, []).append(stats.discrimination_index)
    grouped = [
        GroupRow(
            key=key,
            questions=len(ids),
            answers=answers[key],
            facility=math.fsum(marks[key]) / answers[key] if answers[key] and key in marks else None,
            discrimination=(
                math.fsum(discrimination[key]) / len(discrimination[key]) if key in discrimination else None
            ),
        )
        for key, ids in questions.items()
    ]
    return sorted(grouped, key=lambda g: _low_first(g.facility, g.key))


# -- the bank against the blueprints --------------------------------------------------------------


@dataclass(frozen=True)
class RowCoverage:
    row: DrawRow
    available: int  # bank questions that fit the row


@dataclass(frozen=True)
class Coverage:
    """Can the bank fill a course's exam? The same checks as the loader's, as numbers."""

    course: Course
    rows: list[RowCoverage]
    needed: int  # questions per paper
    fillable: int  # distinct questions the rows can get at once (short of `needed`: error)
    second_paper: bool  # a retake can get a paper without any question of the first
    eligible: frozenset[str]  # every question some row can draw


def exam_coverage(course: Course, bank: Bank) -> Coverage | None:
    """None for a course without a final exam."""
    if course.certification is None:
        return None
    rows = course.certification.exam.blueprint
    found = [[q.id for q in bank.candidates(course.domain, row, "exam")] for row in rows]
    needed = sum(row.count for row in rows)
    pairs = list(zip(rows, found, strict=True))
    return Coverage(
        course=course,
        rows=[RowCoverage(row, len(ids)) for row, ids in pairs],
        needed=needed,
        fillable=fill([(row.count, ids) for row, ids in pairs]),
        second_paper=fill([(2 * row.count, ids) for row, ids in pairs]) >= 2 * needed,
        eligible=frozenset(q for ids in found for q in ids),
    )


DIFFICULTIES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class TagGrid:
    """Questions per tag and difficulty in one domain (a question counts under each tag)."""

    domain: str
    questions: int
    counts: dict[str, dict[int, int]]  # tag -> difficulty -> questions, tags sorted
    untagged: dict[int, int]


def tag_grids(bank: Bank) -> list[TagGrid]:
    by_domain: dict[str, list[BankQuestion]] = {}
    for question in bank.questions.values():
        by_domain.setdefault(question.domain, []).append(question)
    grids = []
    for domain in sorted(by_domain):
        counts: dict[str, Counter[int]] = {}
        untagged: Counter[int] = Counter()
        for question in by_domain[domain]:
            for tag in question.tags:
                counts.setdefault(tag, Counter())[question.difficulty] += 1
            if not question.tags:
                untagged[question.difficulty] += 1
        grids.append(
            TagGrid(
                domain,
                len(by_domain[domain]),
                {tag: {d: counts[tag][d] for d in DIFFICULTIES} for tag in sorted(counts)},
                {d: untagged[d] for d in DIFFICULTIES},
            )
        )
    return grids


def modules_without_practice(library: Library) -> list[Module]:
    return [m for c in library.courses.values() for m in c.modules if m.practice is None]
