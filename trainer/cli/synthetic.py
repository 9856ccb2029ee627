"""A synthetic province for load tests and benchmarks: `trainer seed-synthetic`.

Fills an empty (migrated) database with an organisation tree of a fixed shape (one province,
13 cities, 130 counties, 4 units per county: 664 units whatever the number of inspectors, so
benchmarks at different sizes show the same pages), inspectors with Chinese names spread over it,
exactly the number of attempts asked for (module practice quizzes and final exams over the real
courses of the library), the item marks and monthly tallies grading would have left, and
certificates in every state, issued and renewed by the same rules as certification/service.py.
Then the compliance tallies are rebuilt from those facts.

Everything is generated in memory first (a deterministic function of --seed and the moment of
running), then written in id order with bulk Core inserts, ids assigned here so rows can point at
each other without round trips. Attempts and certificates get their ids in time order, as a real
installation's would, so their rows are not clustered by inspector.

What is simplified: an attempt's paper (`papers`, with its attempt's id) is '[]' and its
`content_hash` 'synthetic' (the papers are not needed by the reports), no answers, module reads or
audit events are written, and the exam history reaches ~4 years back (a certificate is valid for the
course's validity, 3 years in the shipped library, so grace and expired certificates need older
exams).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session as DbSession

from trainer import localtime
from trainer.certification import policy
from trainer.certification.models import Certificate
from trainer.certification.service import CODE_ALPHABET, CODE_LENGTH
from trainer.content.library import Course, Library
from trainer.db import Base, Database, utcnow
from trainer.people.models import UNIT_KINDS, Unit, User, UserRole
from trainer.people.passwords import hash_password
from trainer.quizzes.models import GRADED, IN_PROGRESS, Attempt, AttemptPaper, Paper
from trainer.reports import compliance
from trainer.reports.models import ExamTally, ItemMark

DAY = 86_400.0
HISTORY_DAYS = 46 * 30.44  # how far back enrolments start: ~46 months
EXAM_SHARE = 0.25  # of all attempts, final exams; the rest are module practice quizzes
BATCH = 10_000  # rows per INSERT ... executemany
COMMIT_ROWS = 200_000  # rows per transaction (keeps SQLite's WAL small)
SYNTHETIC_HASH = "synthetic"
SNAPSHOT = "[]"
SNAPSHOT_HASH = hashlib.sha256(SNAPSHOT.encode()).hexdigest()
# Codes in certification's alphabet and length, so the public verification page finds them.
_CODE_BASE = len(CODE_ALPHABET)
_CODE_SPACE = _CODE_BASE**CODE_LENGTH
_CODE_MULTIPLIER = 0x5DEECE66D  # odd: a bijection of the code space, so codes stay unique

PROVINCE = "黑龙江省"
# (name, username slug, counties); 130 counties in all.
CITIES = (
    ("哈尔滨市", "harbin", 12),
    ("齐齐哈尔市", "qiqihar", 11),
    ("牡丹江市", "mudanjiang", 10),
    ("佳木斯市", "jiamusi", 10),
    ("大庆市", "daqing", 9),
    ("鸡西市", "jixi", 9),
    ("双鸭山市", "shuangyashan", 9),
    ("伊春市", "yichun", 10),
    ("七台河市", "qitaihe", 8),
    ("鹤岗市", "hegang", 9),
    ("黑河市", "heihe", 10),
    ("绥化市", "suihua", 12),
    ("大兴安岭地区", "daxinganling", 11),
)
UNIT_NAMES = ("应急管理局", "安全生产执法大队", "矿山安全监察站", "危险化学品监管科")
_PLACE_CHARS = "安宁平兴东西南北明清山河林江泰和丰源阳春富宝庆华龙凤兰桦依通延海穆青肇甘讷嫩拜逊塔漠玛密饶萝勃宾巴木方尚常阿城双汤望抚"  # noqa: E501
SURNAMES = (
    ("王", "wang", 71),
    ("李", "li", 70),
    ("张", "zhang", 68),
    ("刘", "liu", 54),
    ("陈", "chen", 46),
    ("杨", "yang", 31),
    ("赵", "zhao", 23),
    ("黄", "huang", 22),
    ("周", "zhou", 21),
    ("吴", "wu", 20),
    ("徐", "xu", 17),
    ("孙", "sun", 15),
    ("胡", "hu", 13),
    ("朱", "zhu", 13),
    ("高", "gao", 13),
    ("林", "lin", 12),
    ("何", "he", 12),
    ("郭", "guo", 12),
    ("马", "ma", 11),
    ("罗", "luo", 9),
    ("梁", "liang", 9),
    ("宋", "song", 8),
    ("郑", "zheng", 8),
    ("谢", "xie", 7),
    ("韩", "han", 7),
    ("唐", "tang", 6),
    ("冯", "feng", 6),
    ("于", "yu", 6),
    ("董", "dong", 6),
    ("萧", "xiao", 5),
    ("程", "cheng", 5),
    ("曹", "cao", 5),
    ("袁", "yuan", 5),
    ("邓", "deng", 5),
    ("许", "xu", 5),
    ("傅", "fu", 5),
    ("沈", "shen", 5),
    ("曾", "zeng", 5),
    ("彭", "peng", 5),
    ("吕", "lv", 5),
    ("苏", "su", 4),
    ("卢", "lu", 4),
    ("蒋", "jiang", 4),
    ("蔡", "cai", 4),
    ("贾", "jia", 4),
    ("丁", "ding", 4),
    ("魏", "wei", 4),
    ("薛", "xue", 4),
    ("叶", "ye", 4),
    ("阎", "yan", 3),
    ("潘", "pan", 3),
    ("杜", "du", 3),
    ("戴", "dai", 3),
    ("夏", "xia", 3),
    ("钟", "zhong", 3),
    ("田", "tian", 3),
    ("任", "ren", 3),
    ("姜", "jiang", 3),
    ("范", "fan", 3),
    ("方", "fang", 3),
    ("石", "shi", 3),
    ("姚", "yao", 3),
    ("谭", "tan", 3),
    ("金", "jin", 3),
    ("陆", "lu", 3),
    ("郝", "hao", 3),
    ("孔", "kong", 3),
    ("白", "bai", 3),
    ("崔", "cui", 3),
    ("孟", "meng", 3),
    ("秦", "qin", 3),
    ("史", "shi", 3),
    ("侯", "hou", 3),
    ("邵", "shao", 3),
    ("常", "chang", 3),
    ("武", "wu", 3),
    ("乔", "qiao", 3),
    ("贺", "he", 3),
    ("关", "guan", 2),
    ("欧阳", "ouyang", 1),
)
GIVEN_CHARS = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红鹏辉建国林波宁斌宇浩凯健俊帆帅旭晨阳雪梅"
    "琳颖倩婷慧莉岩峰亮成东新海春永志文博欣思佳嘉子雨天鑫晓振立德荣昊然彤瑞泽睿悦铭金玲丹晶蕾卫兵友福"
    "山松柏江河庆喜宏毅远"
)
SUSPEND_REASONS = (
    "涉嫌违规执法，暂停资格待查",
    "Under investigation after a complaint",
    "未按期参加继续教育",
)
REVOKE_REASONS = ("严重违规执法，撤销资格", "Certificate obtained by fraud", "调离执法岗位")


def _rng(seed: int | str) -> random.Random:
    return random.Random(seed)  # noqa: S311 (reproducible synthetic data, not secrets)


class AlreadySeededError(Exception):
    """The database already holds an organisation."""


class CannotSeedError(Exception):
    """The library cannot be used for synthetic attempts (no exams or no practice quizzes)."""


@dataclass
class Report:
    rows: dict[str, int]  # table -> rows written
    seconds: float
    password: str
    managers: list[str]
    certificate_states: dict[str, int] = field(default_factory=dict)


# -- the plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _UnitRow:
    id: int
    parent_id: int | None
    name: str
    kind: str
    lineage: str
    path: str


@dataclass(frozen=True)
class _Question:
    id: str
    difficulty: float  # b: the ability at which a correct answer is an even chance (above guessing)
    discrimination: float  # a: how sharply the chance rises with ability
    guess: float  # c: the chance of guessing right
    partial: bool  # marks 0.25/0.5/0.75 possible (multi, order, match)


@dataclass(frozen=True)
class _Exam:
    rows: tuple[tuple[tuple[int, ...], int], ...]  # (candidate question indices, count) per row
    max_score: float
    pass_mark: float
    time_limit: float  # seconds
    review: str
    max_attempts: int
    retake_after: float  # seconds
    validity_months: int
    renewal_window_days: int
    grace_days: int


@dataclass(frozen=True)
class _Course:
    index: int
    id: str
    domain: str
    title: str
    practice: tuple[tuple[str, int, float], ...]  # (module id, questions, pass mark)
    exam: _Exam | None


@dataclass(slots=True)
class _Cert:
    user: int  # inspector index
    course: int
    attempt: int  # provisional attempt index
    issued: datetime
    valid_from: datetime
    expires: datetime
    score: float
    max_score: float
    renewal_window_days: int
    grace_days: int
    previous: _Cert | None = None
    is_current: bool = True
    superseded_at: datetime | None = None
    suspended_at: datetime | None = None
    suspended_reason: str | None = None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    id: int = 0

    def facts(self) -> policy.Facts:
        return policy.Facts(
            self.valid_from,
            self.expires,
            self.renewal_window_days,
            self.grace_days,
            self.suspended_at,
            self.revoked_at,
            self.superseded_at,
        )


@dataclass(slots=True)
class _Inspector:
    unit: int  # index into the unit list
    name: str
    username: str
    active: bool
    ability: float
    created: float = 0.0  # timestamp


@dataclass
class _Attempts:
    """Column lists, one entry per attempt, in the order generated (provisional index)."""

    start: list[float] = field(default_factory=list)
    user: list[int] = field(default_factory=list)
    course: list[int] = field(default_factory=list)
    module: list[str | None] = field(default_factory=list)
    end: list[float | None] = field(default_factory=list)
    score: list[float | None] = field(default_factory=list)
    max_score: list[float] = field(default_factory=list)
    pass_mark: list[float] = field(default_factory=list)
    passed: list[bool | None] = field(default_factory=list)
    marks: dict[int, tuple[tuple[int, ...], tuple[float, ...]]] = field(default_factory=dict)

    def add(
        self,
        *,
        start: float,
        user: int,
        course: int,
        module: str | None,
        end: float | None,
        score: float | None,
        max_score: float,
        pass_mark: float,
        passed: bool | None,
    ) -> int:
        self.start.append(start)
        self.user.append(user)
        self.course.append(course)
        self.module.append(module)
        self.end.append(end)
        self.score.append(score)
        self.max_score.append(max_score)
        self.pass_mark.append(pass_mark)
        self.passed.append(passed)
        return len(self.start) - 1

    def __len__(self) -> int:
        return len(self.start)


def organisation() -> list[_UnitRow]:
    """The fixed tree: the same names and shape on every run (ids from 1, in creation order)."""
    rng = _rng("synthetic-organisation")
    rows: list[_UnitRow] = []

    def add(parent: _UnitRow | None, name: str) -> _UnitRow:
        unit_id = len(rows) + 1
        depth = 0 if parent is None else parent.lineage.count("/") - 1
        row = _UnitRow(
            id=unit_id,
            parent_id=parent.id if parent else None,
            name=name,
            kind=UNIT_KINDS[min(depth, len(UNIT_KINDS) - 1)],
            lineage=f"{parent.lineage if parent else '/'}{unit_id}/",
            path=f"{parent.path}/{name}" if parent else name,
        )
        rows.append(row)
        return row

    province = add(None, PROVINCE)
    used: set[str] = set()
    for city_name, _slug, counties in CITIES:
        city = add(province, city_name)
        for n in range(counties):
            while True:
                stem = "".join(rng.sample(_PLACE_CHARS, 2))
                suffix = "区" if n < 3 else ("市" if n == 3 else "县")
                county_name = stem + suffix
                if stem not in used:
                    used.add(stem)
                    break
            county = add(city, county_name)
            for unit_name in UNIT_NAMES:
                add(county, county_name + unit_name)
    return rows


def _courses(library: Library) -> tuple[list[_Course], list[_Question]]:
    rng = _rng("synthetic-questions")
    questions: list[_Question] = []
    index_of: dict[str, int] = {}
    for q in sorted(library.bank.questions.values(), key=lambda q: q.id):
        difficulty = (q.difficulty - 3) * 0.9 + rng.gauss(0, 0.5)
        discrimination = rng.uniform(0.7, 2.2)
        roll = rng.random()
        if roll < 0.06:  # badly discriminating: the able do no better than the rest
            discrimination = rng.uniform(-0.4, 0.15)
        elif roll < 0.12:  # very easy
            difficulty -= 2.5
        elif roll < 0.16:  # very hard
            difficulty += 2.0
        guess = {"truefalse": 0.5, "single": 0.25}.get(q.type, 0.0)
        index_of[q.id] = len(questions)
        questions.append(
            _Question(q.id, difficulty, discrimination, guess, q.type in ("multi", "order", "match"))
        )
    plans: list[_Course] = []
    for course in library.courses.values():
        practice = tuple(
            (m.id, sum(row.count for row in m.practice.draw), m.practice.pass_mark)
            for m in course.modules
            if m.practice is not None
        )
        exam = _exam_plan(library, course, index_of)
        if not practice and exam is None:
            continue
        text_ = course.text_for(course.lang)
        plans.append(
            _Course(
                index=len(plans),
                id=course.id,
                domain=course.domain,
                title=text_.certification_title or text_.title,
                practice=practice,
                exam=exam,
            )
        )
    return plans, questions


def _exam_plan(library: Library, course: Course, index_of: dict[str, int]) -> _Exam | None:
    certification = course.certification
    if certification is None:
        return None
    rows = []
    for row in certification.exam.blueprint:
        candidates = tuple(sorted(index_of[q.id] for q in library.bank.candidates(course.domain, row)))
        if len(candidates) < row.count:
            return None  # the library's own check refuses this; no exam to simulate
        rows.append((candidates, row.count))
    return _Exam(
        rows=tuple(rows),
        max_score=float(sum(count for _, count in rows)),
        pass_mark=certification.exam.pass_mark,
        time_limit=certification.exam.time_limit_minutes * 60.0,
        review=certification.exam.review,
        max_attempts=certification.exam.max_attempts,
        retake_after=certification.exam.retake_after_hours * 3600.0,
        validity_months=certification.validity_months,
        renewal_window_days=certification.renewal_window_days,
        grace_days=certification.grace_days,
    )


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


class _Generator:
    def __init__(
        self,
        library: Library,
        units: list[_UnitRow],
        *,
        inspectors: int,
        attempts: int,
        seed: int,
        now: datetime,
    ) -> None:
        self.rng = _rng(seed)
        self.now = now
        self.now_ts = now.timestamp()
        self.units = units
        self.courses, self.questions = _courses(library)
        if not any(c.exam for c in self.courses):
            raise CannotSeedError("the library has no course with a final exam")
        if not any(c.practice for c in self.courses):
            raise CannotSeedError("the library has no module with a practice quiz")
        self.wanted_inspectors = inspectors
        self.wanted_attempts = attempts
        self.inspectors: list[_Inspector] = []
        self.attempts = _Attempts()
        self.certs: list[_Cert] = []

    # people

    def people(self) -> None:
        rng = self.rng
        leaves = [i for i, u in enumerate(self.units) if u.kind == "unit"]
        counties = [i for i, u in enumerate(self.units) if u.kind == "county"]
        cities = [i for i, u in enumerate(self.units) if u.kind == "city"]
        sizes = _rng("synthetic-unit-sizes")  # relative unit sizes: part of the fixed tree
        cumulative = list(_accumulate(sizes.lognormvariate(0, 0.6) for _ in leaves))
        surnames = [s for s, _, _ in SURNAMES]
        pinyin = {s: p for s, p, _ in SURNAMES}
        surname_cumulative = list(_accumulate(float(w) for _, _, w in SURNAMES))
        for n in range(self.wanted_inspectors):
            roll = rng.random()
            if roll < 0.01:
                unit = rng.choice(cities)
            elif roll < 0.03:
                unit = rng.choice(counties)
            else:
                unit = leaves[bisect.bisect(cumulative, rng.random() * cumulative[-1])]
            surname = surnames[bisect.bisect(surname_cumulative, rng.random() * surname_cumulative[-1])]
            given = "".join(rng.choice(GIVEN_CHARS) for _ in range(1 if rng.random() < 0.3 else 2))
            self.inspectors.append(
                _Inspector(
                    unit=unit,
                    name=surname + given,
                    username=f"{pinyin[surname]}.{n + 1:06d}",
                    active=rng.random() >= 0.02,
                    ability=rng.gauss(1.3, 0.9),
                )
            )

    # attempts and certificates

    def history(self, progress: Callable[[str], None]) -> None:
        rng = self.rng
        enrolments: list[tuple[int, int, float]] = []  # (inspector, course, start)
        with_exams = [c for c in self.courses if c.exam is not None]
        for index, inspector in enumerate(self.inspectors):
            chosen = []
            favourite = (inspector.unit * 7) % len(self.courses)
            for course in self.courses:
                chance = 0.75 if course.index == 0 else 0.2
                if course.index == favourite:
                    chance += 0.45
                if rng.random() < chance:
                    chosen.append(course.index)
            if not chosen:
                chosen.append(rng.choice(with_exams).index)
            starts = []
            for course_index in chosen:
                start = self.now_ts - rng.uniform(1, HISTORY_DAYS) * DAY
                enrolments.append((index, course_index, start))
                starts.append(start)
            inspector.created = min(starts) - rng.uniform(1, 60) * DAY
        rng.shuffle(enrolments)
        exam_budget = round(self.wanted_attempts * EXAM_SHARE)
        practice_windows: list[tuple[int, int, float, float]] = []
        for inspector_index, course_index, start in enrolments:
            course = self.courses[course_index]
            first_exam = start + rng.uniform(10, 75) * DAY
            if course.exam is not None and exam_budget > 0:
                exam_budget -= self._exam_story(inspector_index, course, first_exam, exam_budget)
            if course.practice:
                practice_windows.append(
                    (inspector_index, course_index, start, min(first_exam, self.now_ts - 600))
                )
        exams = len(self.attempts)
        progress(f"  {exams:,} exams, {len(self.certs):,} certificates")
        practice = self.wanted_attempts - exams
        if practice and not practice_windows:
            raise CannotSeedError("no enrolment has a practice quiz to take")
        weights = list(_accumulate(float(len(self.courses[c].practice)) for _, c, _, _ in practice_windows))
        for _ in range(practice):
            inspector_index, course_index, start, end = practice_windows[
                bisect.bisect(weights, rng.random() * weights[-1])
            ]
            self._practice(inspector_index, self.courses[course_index], rng.uniform(start, max(start, end)))
        self._suspend_and_revoke()

    def _practice(self, inspector: int, course: _Course, start: float) -> None:
        rng = self.rng
        module, count, pass_mark = rng.choice(course.practice)
        if start > self.now_ts - 14 * DAY and rng.random() < 0.3:
            self.attempts.add(
                start=start,
                user=inspector,
                course=course.index,
                module=module,
                end=None,
                score=None,
                max_score=float(count),
                pass_mark=pass_mark,
                passed=None,
            )
            return
        chance = 1 / (1 + math.exp(-(self.inspectors[inspector].ability + 0.2)))
        score = float(sum(1 for _ in range(count) if rng.random() < chance))
        self.attempts.add(
            start=start,
            user=inspector,
            course=course.index,
            module=module,
            end=min(start + rng.uniform(2, 15) * 60, self.now_ts - 60),
            score=score,
            max_score=float(count),
            pass_mark=pass_mark,
            passed=score >= pass_mark * count - 1e-9,
        )

    def _exam_story(self, inspector_index: int, course: _Course, at: float, budget: int) -> int:
        """Exams of one inspector in one course from `at` on, by the policy's rules: at most
        `max_attempts` per certification cycle, retakes after the wait, renewals inside the
        renewal window or grace (some late, after expiry, some never). Returns exams taken."""
        rng = self.rng
        exam = course.exam
        assert exam is not None
        inspector = self.inspectors[inspector_index]
        current: _Cert | None = None
        tries = 0
        taken = 0
        while taken < budget:
            started = at
            ended = started + rng.uniform(0.3, 0.95) * exam.time_limit
            if ended >= self.now_ts - 60:
                break
            ability = inspector.ability + 0.35 * tries + (0.3 if current is not None else 0.0)
            questions, marks = self._paper(exam, ability)
            score = sum(marks)
            passed = score >= exam.pass_mark * exam.max_score - 1e-9
            attempt = self.attempts.add(
                start=started,
                user=inspector_index,
                course=course.index,
                module=None,
                end=ended,
                score=score,
                max_score=exam.max_score,
                pass_mark=exam.pass_mark,
                passed=passed,
            )
            self.attempts.marks[attempt] = (questions, marks)
            taken += 1
            tries += 1
            if not passed:
                if tries >= exam.max_attempts:
                    break  # this cycle's attempts are used up
                at = ended + max(exam.retake_after, rng.uniform(2, 40) * DAY)
                continue
            current = self._issue(
                inspector=inspector_index,
                course=course,
                attempt=attempt,
                at=_at(ended),
                previous=current,
                score=score,
            )
            tries = 0
            expires = current.expires.timestamp()
            roll = rng.random()
            if roll < 0.5 and exam.renewal_window_days > 1:  # renews in the renewal window
                at = expires - rng.uniform(1, exam.renewal_window_days - 0.1) * DAY
            elif roll < 0.65 and exam.grace_days > 1:  # renews late, in grace
                at = expires + rng.uniform(0.1, exam.grace_days - 1) * DAY
            elif roll < 0.8:  # lets it lapse, certifies again later
                at = expires + exam.grace_days * DAY + rng.uniform(20, 300) * DAY
            else:
                break
        return taken

    def _paper(self, exam: _Exam, ability: float) -> tuple[tuple[int, ...], tuple[float, ...]]:
        rng = self.rng
        chosen: list[int] = []
        for candidates, count in exam.rows:
            pool = [q for q in candidates if q not in chosen] if chosen else list(candidates)
            if len(pool) < count:
                raise CannotSeedError("a blueprint's rows overlap too much to draw papers simply")
            chosen.extend(rng.sample(pool, count))
        marks = []
        for q in chosen:
            question = self.questions[q]
            z = question.discrimination * (ability - question.difficulty)
            chance = question.guess + (1 - question.guess) / (1 + math.exp(-max(-30.0, min(30.0, z))))
            if rng.random() < chance:
                marks.append(1.0)
            elif question.partial and rng.random() < 0.5:
                marks.append(rng.choice((0.25, 0.5, 0.75)))  # exact in binary: sums stay exact
            else:
                marks.append(0.0)
        return tuple(chosen), tuple(marks)

    def _issue(
        self,
        *,
        inspector: int,
        course: _Course,
        attempt: int,
        at: datetime,
        previous: _Cert | None,
        score: float,
    ) -> _Cert:
        """As certification.service.issue_for: a renewal inside the window or grace supersedes
        the previous certificate and runs on from its expiry; after expiry it starts afresh."""
        exam = course.exam
        assert exam is not None
        previous_facts = previous.facts() if previous is not None else None
        if previous is not None and previous_facts is not None:
            state = policy.state_at(previous_facts, at)
            assert state not in (policy.State.VALID, policy.State.SUSPENDED)
            if state in policy.RENEWABLE:
                previous.superseded_at = at
            previous.is_current = False
        valid_from, expires = policy.validity(previous_facts, at, exam.validity_months)
        cert = _Cert(
            user=inspector,
            course=course.index,
            attempt=attempt,
            issued=at,
            valid_from=valid_from,
            expires=expires,
            score=score,
            max_score=exam.max_score,
            renewal_window_days=exam.renewal_window_days,
            grace_days=exam.grace_days,
            previous=previous,
        )
        self.certs.append(cert)
        return cert

    def _suspend_and_revoke(self) -> None:
        """A few current certificates suspended (1.5%) or revoked (0.7%), at least one each."""
        rng = self.rng
        current = [c for c in self.certs if c.is_current]
        if len(current) < 2:
            return
        suspended = max(1, round(len(current) * 0.015))
        revoked = max(1, round(len(current) * 0.007))
        picked = rng.sample(current, min(len(current), suspended + revoked))
        for n, cert in enumerate(picked):
            latest = self.now_ts - 60
            moment = _at(rng.uniform(min(cert.issued.timestamp() + 60, latest), latest))
            if n < suspended:
                cert.suspended_at, cert.suspended_reason = moment, rng.choice(SUSPEND_REASONS)
            else:
                cert.revoked_at, cert.revoked_reason = moment, rng.choice(REVOKE_REASONS)


def _accumulate(values: Iterable[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


def verification_code(number: int) -> str:
    """A unique code per certificate id: the id scrambled over the code space, in base 32."""
    value = (number * _CODE_MULTIPLIER) % _CODE_SPACE
    digits = []
    for _ in range(CODE_LENGTH):
        value, digit = divmod(value, _CODE_BASE)
        digits.append(CODE_ALPHABET[digit])
    return "".join(reversed(digits))


# -- writing -------------------------------------------------------------------------------------


def _write(database: Database, entity: type[Base], rows: Iterable[dict[str, Any]]) -> int:
    """Insert rows, committing every COMMIT_ROWS: on PostgreSQL with COPY, elsewhere with
    executemany INSERTs of BATCH rows."""
    table = entity.__table__
    written = 0
    iterator = iter(rows)
    while True:
        with database.write_connection() as conn:
            chunk = [row for _, row in zip(range(COMMIT_ROWS), iterator, strict=False)]
            if not chunk:
                return written
            if database.is_sqlite:
                conn.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB: index pages stay cached
                for start in range(0, len(chunk), BATCH):
                    conn.execute(insert(entity), chunk[start : start + BATCH])
            else:
                columns = list(chunk[0])
                names = ", ".join(columns)
                cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for row in chunk:
                        copy.write_row([row[c] for c in columns])
            written += len(chunk)


def generate(
    database: Database,
    library: Library,
    *,
    inspectors: int,
    attempts: int,
    password: str,
    seed: int = 1,
    prefix: str = "HLJ",
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Fill an empty, migrated database with a synthetic province (see the module docstring)."""
    began = time.monotonic()
    now = now or utcnow()

    def say(message: str) -> None:
        if progress is not None:
            progress(f"[{time.monotonic() - began:6.1f}s] {message}")

    with database.session() as db:
        if db.scalar(select(func.count()).select_from(Unit)):
            raise AlreadySeededError("the database already has units: seed only an empty database")
        first_ids = _Ids(
            user=_next_id(db, User.id),
            attempt=_next_id(db, Attempt.id),
            certificate=_next_id(db, Certificate.id),
        )
    units = organisation()
    generator = _Generator(library, units, inspectors=inspectors, attempts=attempts, seed=seed, now=now)
    say(f"generating {inspectors:,} inspectors and {attempts:,} attempts")
    generator.people()
    generator.history(say)
    assert len(generator.attempts) == attempts
    writer = _Writer(database, generator, first_ids, now=now, prefix=prefix, seed=seed)
    say("generated; writing")
    writer.people(hash_password(password))
    say(f"{writer.counts['users']:,} users written")
    writer.attempts()
    say(f"{writer.counts['attempts']:,} attempts and {writer.counts['item_marks']:,} item marks written")
    writer.certificates()
    say(
        f"{writer.counts['certificates']:,} certificates and "
        f"{writer.counts['exam_tallies']:,} exam tallies written"
    )
    if not database.is_sqlite:
        with database.write_connection() as conn:
            for table in ("units", "users", "attempts", "papers", "certificates"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    compliance.rebuild(database, now)
    say("compliance tallies rebuilt")
    if not database.is_sqlite:
        # A production database is analysed by autovacuum; a fresh bulk load is not yet.
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
        say("analysed")
    states = Counter(policy.state_at(c.facts(), now).value for c in generator.certs)
    return Report(
        rows=writer.counts,
        seconds=time.monotonic() - began,
        password=password,
        managers=[username for username, *_ in writer.staff],
        certificate_states=dict(sorted(states.items())),
    )


@dataclass(frozen=True)
class _Ids:
    """The first id to use in each table (1 on an empty database)."""

    user: int
    attempt: int
    certificate: int


def _next_id(db: DbSession, column: Any) -> int:
    return int(db.scalar(select(func.coalesce(func.max(column), 0))) or 0) + 1


class _Writer:
    """Writes what the generator planned, in id order. Attempt and certificate ids follow time."""

    def __init__(
        self, database: Database, generator: _Generator, ids: _Ids, *, now: datetime, prefix: str, seed: int
    ) -> None:
        self.database = database
        self.generator = generator
        self.units = generator.units
        self.courses = generator.courses
        self.now = now
        self.prefix = prefix
        self.seeds = _rng(seed + 1)
        self.counts: dict[str, int] = {}
        self.created = now - timedelta(days=5 * 365)
        cities = [u for u in self.units if u.kind == "city"]
        province = self.units[0]
        # (username, full name, unit id, role)
        self.staff: list[tuple[str, str, int, str]] = [
            ("province-manager", "赵建国", province.id, "manager"),
            ("synthetic-trainer", "孙丽华", province.id, "trainer"),
            *(
                (f"manager-{slug}", f"{name}管理员", city.id, "manager")
                for (name, slug, _), city in zip(CITIES, cities, strict=True)
            ),
        ]
        self.first_staff = ids.user
        self.first_inspector = ids.user + len(self.staff)
        generated = generator.attempts
        self.order = sorted(range(len(generated)), key=generated.start.__getitem__)
        self.attempt_id = [0] * len(generated)
        for rank, provisional in enumerate(self.order):
            self.attempt_id[provisional] = ids.attempt + rank
        generator.certs.sort(key=lambda c: c.issued)
        for n, cert in enumerate(generator.certs):
            cert.id = ids.certificate + n

    def _unit_of(self, inspector: int) -> _UnitRow:
        return self.units[self.generator.inspectors[inspector].unit]

    def people(self, password_hash: str) -> None:
        self.counts["units"] = _write(
            self.database,
            Unit,
            (
                {
                    "id": u.id,
                    "parent_id": u.parent_id,
                    "name": u.name,
                    "kind": u.kind,
                    "lineage": u.lineage,
                    "path": u.path,
                    "created_at": self.created,
                }
                for u in self.units
            ),
        )
        common = {"email": None, "password_hash": password_hash, "must_change_password": False}
        staff = (
            {
                "id": self.first_staff + n,
                "username": username,
                "full_name": full_name,
                "unit_id": unit_id,
                "is_active": True,
                "created_at": self.created,
                "password_changed_at": self.created,
                **common,
            }
            for n, (username, full_name, unit_id, _) in enumerate(self.staff)
        )
        inspectors = (
            {
                "id": self.first_inspector + n,
                "username": person.username,
                "full_name": person.name,
                "unit_id": self.units[person.unit].id,
                "is_active": person.active,
                "created_at": _at(person.created),
                "password_changed_at": _at(person.created),
                **common,
            }
            for n, person in enumerate(self.generator.inspectors)
        )
        self.counts["users"] = _write(self.database, User, itertools.chain(staff, inspectors))
        roles = itertools.chain(
            ({"user_id": self.first_staff + n, "role": role} for n, (*_, role) in enumerate(self.staff)),
            (
                {"user_id": self.first_inspector + n, "role": "inspector"}
                for n in range(len(self.generator.inspectors))
            ),
        )
        self.counts["user_roles"] = _write(self.database, UserRole, roles)

    def attempts(self) -> None:
        generated = self.generator.attempts

        def rows() -> Iterator[dict[str, Any]]:
            for provisional in self.order:
                course = self.courses[generated.course[provisional]]
                start = generated.start[provisional]
                end = generated.end[provisional]
                exam = course.exam if generated.module[provisional] is None else None
                yield {
                    "id": self.attempt_id[provisional],
                    "user_id": self.first_inspector + generated.user[provisional],
                    "unit_id": self._unit_of(generated.user[provisional]).id,
                    "kind": "exam" if exam is not None else "practice",
                    "course_id": course.id,
                    "module_id": generated.module[provisional],
                    "content_hash": SYNTHETIC_HASH,
                    "seed": self.seeds.getrandbits(62),
                    "status": GRADED if end is not None else IN_PROGRESS,
                    "started_at": _at(start),
                    "deadline": _at(start + exam.time_limit) if exam is not None else None,
                    "submitted_at": _at(end) if end is not None else None,
                    "score": generated.score[provisional],
                    "max_score": generated.max_score[provisional],
                    "pass_mark": generated.pass_mark[provisional],
                    "passed": generated.passed[provisional],
                    "review": exam.review if exam is not None else "immediate",
                }

        questions = self.generator.questions

        def marks() -> Iterator[dict[str, Any]]:
            for provisional in self.order:
                paper = generated.marks.get(provisional)
                if paper is None:
                    continue
                course_id = self.courses[generated.course[provisional]].id
                attempt_id = self.attempt_id[provisional]
                for slot, (question, mark) in enumerate(zip(*paper, strict=True), start=1):
                    yield {
                        "attempt_id": attempt_id,
                        "slot": slot,
                        "course_id": course_id,
                        "question_id": questions[question].id,
                        "mark": mark,
                    }

        self.counts["attempts"] = _write(self.database, Attempt, rows())
        self.counts["papers"] = _write(
            self.database,
            Paper,
            ({"id": self.attempt_id[p], "snapshot": SNAPSHOT, "layout": None} for p in self.order),
        )
        self.counts["attempt_papers"] = _write(
            self.database,
            AttemptPaper,
            ({"attempt_id": self.attempt_id[p], "paper_id": self.attempt_id[p]} for p in self.order),
        )
        self.counts["item_marks"] = _write(self.database, ItemMark, marks())
        taken: Counter[tuple[int, str, str]] = Counter()
        passed: Counter[tuple[int, str, str]] = Counter()
        for provisional in generated.marks:  # every graded exam
            end = generated.end[provisional]
            assert end is not None
            key = (
                self._unit_of(generated.user[provisional]).id,
                self.courses[generated.course[provisional]].id,
                localtime.month_of(_at(end), self.database.time_zone),
            )
            taken[key] += 1
            passed[key] += bool(generated.passed[provisional])
        self.counts["exam_tallies"] = _write(
            self.database,
            ExamTally,
            (
                {"unit_id": u, "course_id": c, "month": m, "taken": n, "passed": passed[(u, c, m)]}
                for (u, c, m), n in sorted(taken.items())
            ),
        )

    def certificates(self) -> None:
        def rows() -> Iterator[dict[str, Any]]:
            for cert in self.generator.certs:
                course = self.courses[cert.course]
                holder = self.generator.inspectors[cert.user]
                yield {
                    "id": cert.id,
                    "number": f"{self.prefix}-{course.domain.upper()}-{cert.issued.year}-{cert.id:06d}",
                    "verification_code": verification_code(cert.id),
                    "user_id": self.first_inspector + cert.user,
                    "course_id": course.id,
                    "content_hash": SYNTHETIC_HASH,
                    "holder_name": holder.name,
                    "unit_path": self.units[holder.unit].path,
                    "title": course.title,
                    "issued_at": cert.issued,
                    "valid_from": cert.valid_from,
                    "expires_at": cert.expires,
                    "renewal_window_days": cert.renewal_window_days,
                    "grace_days": cert.grace_days,
                    "renewal_from": cert.expires - timedelta(days=cert.renewal_window_days),
                    "grace_until": cert.expires + timedelta(days=cert.grace_days),
                    "attempt_id": self.attempt_id[cert.attempt],
                    "score": cert.score,
                    "max_score": cert.max_score,
                    "snapshot_hash": SNAPSHOT_HASH,
                    "is_current": cert.is_current,
                    "previous_id": cert.previous.id if cert.previous is not None else None,
                    "suspended_at": cert.suspended_at,
                    "suspended_reason": cert.suspended_reason,
                    "revoked_at": cert.revoked_at,
                    "revoked_reason": cert.revoked_reason,
                    "superseded_at": cert.superseded_at,
                }

        self.counts["certificates"] = _write(self.database, Certificate, rows())
