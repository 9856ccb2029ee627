"""The pools questions are drawn from, and the content checks that keep them honest.

An exam pool is every question one course's exam blueprint can draw; a practice pool is every
question one module's practice draw can show. Practice is unlimited and shows the key after each
answer, so a question in both would let anyone harvest the exam through practice: `shared`
warns about each, and about a practice question that asks an exam question's stem word for word
(`twins`). A question's accepted answer written in the text of another question of the
same pool is a give-away (`give_aways`). `excludes` keeps two questions off one paper; it settles
a give-away in a practice pool (a practice paper is all that is at stake there) but not in an
exam pool, whose questions are the certificate's secret across papers and retakes: there the
giving text is reworded or one of the two moves to practice. A choice question whose right
option is much longer than every wrong one gives its key away by length alone (`telltale_keys`):
opaque per-paper keys and shuffled positions cannot hide that.

Pure functions over the loaded bank and courses; `pool_problems` is what the loader calls.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from trainer.content.bank import Bank, BankQuestion
from trainer.content.library import Course
from trainer.content.problems import Problem


@dataclass(frozen=True)
class Pool:
    kind: str  # "exam" | "practice"
    owner: str  # the course (exam) or module (practice) that draws it
    questions: frozenset[str]

    def describe(self) -> str:
        if self.kind == "exam":
            return f"exam papers of course {self.owner}"
        return f"the practice of module {self.owner}"


def pools(bank: Bank, courses: Iterable[Course]) -> list[Pool]:
    """Every exam and practice pool. A scenario is drawn whole, so a pool that can draw one of
    its sub-questions holds all of them."""
    found = []
    for course in courses:
        if course.certification is not None:
            ids = {
                q.id
                for row in course.certification.exam.blueprint
                for q in bank.candidates(course.domain, row, "exam")
            }
            found.append(Pool("exam", course.id, _whole_groups(bank, ids)))
        for module in course.modules:
            if module.practice is not None:
                ids = {
                    q.id
                    for row in module.practice.draw
                    for q in bank.candidates(course.domain, row, "practice")
                }
                found.append(Pool("practice", module.id, _whole_groups(bank, ids)))
    return found


def _whole_groups(bank: Bank, ids: set[str]) -> frozenset[str]:
    groups = {bank.questions[qid].group for qid in ids} - {None}
    return frozenset(ids | {q.id for q in bank.questions.values() if q.group in groups})


def pool_problems(bank: Bank, courses: Iterable[Course]) -> list[Problem]:
    """All the checks of this module, for `trainer check`."""
    all_pools = pools(bank, courses)
    return [
        *reference_problems(bank),
        *shared(bank, all_pools),
        *twins(bank, all_pools),
        *give_aways(bank, all_pools),
        *telltale_keys(bank),
    ]


# -- excludes and scenario uses ------------------------------------------------------------------


def enemies(bank: Bank) -> dict[str, set[str]]:
    """`excludes` made symmetric: A excludes B keeps B off A's paper as well."""
    found: dict[str, set[str]] = {}
    for question in bank.questions.values():
        for other in question.excludes:
            found.setdefault(question.id, set()).add(other)
            found.setdefault(other, set()).add(question.id)
    return found


def reference_problems(bank: Bank) -> list[Problem]:
    """Errors: an `excludes` naming no question (or itself, or its own scenario's questions, which
    are always drawn together), and a scenario sub-question whose `use` differs from its
    scenario's (the group is drawn whole, for one pool)."""
    problems = []
    for question in bank.questions.values():
        for other in sorted(question.excludes):
            message = None
            if other == question.id:
                message = f"question '{question.id}' excludes itself"
            elif other in bank.scenarios:
                subs = ", ".join(q.id for q in bank.questions.values() if q.group == other)
                message = f"excludes '{other}' names a scenario: name its questions ({subs})"
            elif other not in bank.questions:
                message = f"excludes '{other}': no question has this id (check the spelling)"
            elif question.group is not None and bank.questions[other].group == question.group:
                message = (
                    f"excludes '{other}': both are questions of scenario '{question.group}', "
                    "which is always drawn whole"
                )
            if message:
                problems.append(Problem(question.source, question.line, message))
        scenario = bank.scenarios.get(question.group) if question.group else None
        if scenario is not None:
            group_use = scenario.use or "both"
            if question.use != group_use:
                problems.append(
                    Problem(
                        question.source,
                        question.line,
                        f"question '{question.id}' has `use: {question.use}` but its scenario "
                        f"'{question.group}' is for {group_use}: a scenario is drawn whole, so set "
                        "`use:` on the scenario only",
                    )
                )
    return problems


# -- one question in an exam pool and a practice pool ------------------------------------------


def shared(bank: Bank, all_pools: list[Pool]) -> list[Problem]:
    """A warning for every question an exam can draw that some practice can show (once per
    scenario: its `use` is set on the scenario)."""
    practice = [p for p in all_pools if p.kind == "practice"]
    problems = []
    warned: set[str] = set()
    for exam in (p for p in all_pools if p.kind == "exam"):
        for qid in sorted(exam.questions):
            question = bank.questions[qid]
            subject = question.group or qid
            if subject in warned:
                continue
            shown_by = [p.owner for p in practice if qid in p.questions]
            if not shown_by:
                continue
            warned.add(subject)
            what = f"scenario {subject}" if question.group else f"question {qid}"
            more = f" (and {len(shown_by) - 1} more)" if len(shown_by) > 1 else ""
            problems.append(
                Problem(
                    question.source,
                    question.line,
                    f"{what} can be drawn by the exam of course {exam.owner} and shown in practice "
                    f"by module {shown_by[0]}{more}: set `use: exam` or `use: practice`",
                    "warning",
                )
            )
    return problems


def _stem_form(text: str) -> str:
    """A stem as compared for twins: normalized, whitespace and punctuation set aside."""
    return " ".join(re.sub(r"[^\w\s]", " ", normalize(text)).split())


def twins(bank: Bank, all_pools: list[Pool]) -> list[Problem]:
    """A warning for every practice question that asks an exam question's stem word for word:
    practice shows its key, so the exam question could be answered from memory of the practice
    one. (Practising the same point in other words is what practice is for.)"""
    practice_ids = {qid for p in all_pools if p.kind == "practice" for qid in p.questions}
    exam_ids = {qid for p in all_pools if p.kind == "exam" for qid in p.questions}
    if not practice_ids - exam_ids:
        return []  # no practice question to compare (and a large exam pool's stems go unread)
    by_stem: dict[str, list[str]] = {}
    for qid in sorted(exam_ids):
        by_stem.setdefault(_stem_form(bank.questions[qid].model.stem), []).append(qid)
    problems = []
    for qid in sorted(practice_ids - exam_ids):
        question = bank.questions[qid]
        asked = [other for other in by_stem.get(_stem_form(question.model.stem), []) if other != qid]
        if asked:
            problems.append(
                Problem(
                    question.source,
                    question.line,
                    f"practice question {qid} asks what exam question {asked[0]} asks, word for word: "
                    "practice shows its key, so reword it or practise the point another way",
                    "warning",
                )
            )
    return problems


# -- right options that stand out by length ---------------------------------------------------

# A right option is a tell when it is longer than TELLTALE_RATIO times the longest wrong option
# AND more than TELLTALE_MARGIN columns longer. The ratio alone would flag "Stop" against "No"; the
# margin alone would flag a 120-column right option among 100-column wrong ones, which no reader
# notices. Tuned on the sample bank: every question it flagged there read as "the long, careful
# one is right", and none it passed over did.
TELLTALE_RATIO = 1.5
TELLTALE_MARGIN = 20
_MARKUP = re.compile(r"[*_`]")


def display_width(text: str) -> int:
    """How long an option looks: NFKC, whitespace runs as one space, Markdown emphasis and code
    marks not counted, a wide (CJK, full-width) character counted as two columns, so that a
    Chinese option is measured as a reader sees it beside an English-sized one."""
    if text.isascii():  # NFKC leaves ASCII as it is, and every ASCII character is one column
        return len(" ".join(_MARKUP.sub("", text).split()))
    shown = " ".join(_MARKUP.sub("", unicodedata.normalize("NFKC", text)).split())
    return sum(2 if unicodedata.east_asian_width(char) in ("W", "F") else 1 for char in shown)


def telltale_keys(bank: Bank) -> list[Problem]:
    """A warning (`telltale key`) for each single or multiple choice question with a right option
    longer than TELLTALE_RATIO times its longest wrong option and more than TELLTALE_MARGIN
    columns longer (see `display_width`): a reader who knows nothing picks the long, precise,
    hedged option and is right. The cure is wrong options as long and as specific as the right
    one: plausible errors an inspector might make. Every question counts, practice ones too: a
    practice quiz that can be passed by length teaches nothing."""
    problems = []
    for question in bank.questions.values():
        if question.type not in ("single", "multi"):
            continue
        options = question.model.options
        wrong = [display_width(o.text) for o in options if not o.correct]
        right = [(display_width(o.text), o.key) for o in options if o.correct]
        if not wrong:
            continue
        longest_wrong = max(wrong)
        width, key = max(right)
        if width > TELLTALE_RATIO * longest_wrong and width - longest_wrong > TELLTALE_MARGIN:
            problems.append(
                Problem(
                    question.source,
                    question.line,
                    f"telltale key: the right option '{key}' of question {question.id} is {width} "
                    f"characters long and its longest wrong option {longest_wrong}: a reader can pick "
                    "it by length alone; make the wrong options as long and specific as the right one "
                    "(plausible errors), or the right one shorter",
                    "warning",
                )
            )
    return problems


# -- give-aways ------------------------------------------------------------------------------


def normalize(text: str) -> str:
    """How answers are compared: Unicode NFKC (full-width forms, ₂ and ³ become plain digits)
    and case folding, as text answers are graded."""
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(frozen=True)
class Showing:
    """One accepted answer found in a text another question shows."""

    answerer: str  # the question whose answer it is
    giver: str  # the question (or scenario) whose text shows it
    found: str  # the text as written there
    where: str  # "stem", "options", …


def displayed_texts(question: BankQuestion) -> list[tuple[str, str]]:
    """(where, text) for everything a paper shows of the question before it is answered: stem,
    options, order items, match texts. Not feedback or explanations (shown after answering)."""
    model = question.model
    texts = [("stem", model.stem)]
    texts += [("options", option.text) for option in getattr(model, "options", [])]
    texts += [("items", item.text) for item in getattr(model, "items", [])]
    for pair in getattr(model, "pairs", []):
        texts += [("pairs", pair.left), ("pairs", pair.right)]
    texts += [("distractors", text) for text in getattr(model, "distractors", [])]
    return texts


def give_aways(bank: Bank, all_pools: list[Pool]) -> list[Problem]:
    """A warning for each question whose text shows another question's accepted answer when both
    are in one pool (see the module's docstring for what `excludes` settles)."""
    answers = {q.id: answer for q in bank.questions.values() if (answer := _Answer.of(q)) is not None}
    if not answers:
        return []
    enemy = enemies(bank)
    # The texts of each giver: a question's own, and a scenario's stem as the scenario's.
    givers: dict[str, list[tuple[str, str]]] = {
        q.id: [(where, normalize(text)) for where, text in displayed_texts(q)]
        for q in bank.questions.values()
    }
    for scenario_id, scenario in bank.scenarios.items():
        givers[scenario_id] = [("stem", normalize(scenario.stem))]
    found: dict[tuple[str, str], tuple[Showing, Pool]] = {}
    for pool in all_pools:
        members = {qid: bank.questions[qid] for qid in pool.questions}
        scenarios = {q.group for q in members.values() if q.group in bank.scenarios}
        for answerer in sorted(set(answers) & set(members)):
            answer = answers[answerer]
            own_group = members[answerer].group
            for giver in sorted(set(members) | scenarios):
                if giver == answerer or (answerer, giver) in found:
                    continue
                # In practice `excludes` settles the pair, but nothing parts a question from its
                # own scenario's stem: the group is drawn whole.
                giver_ids = (
                    {q.id for q in members.values() if q.group == giver} if giver in scenarios else {giver}
                )
                if (
                    pool.kind == "practice"
                    and giver != own_group
                    and any(g in enemy.get(answerer, ()) for g in giver_ids)
                ):
                    continue
                for where, text in givers[giver]:
                    shown = answer.found_in(text)
                    if shown is not None:
                        found[(answerer, giver)] = (Showing(answerer, giver, shown, where), pool)
                        break
    problems = []
    for (answerer, giver), (showing, pool) in sorted(found.items()):
        target = bank.questions.get(giver) or next(q for q in bank.questions.values() if q.group == giver)
        what = f"scenario {giver}" if giver in bank.scenarios else f"question {giver}"
        fix = (
            "reword it or move one of them to practice"
            if pool.kind == "exam"
            else f"reword it, move one of them, or add `excludes: [{answerer}]`"
        )
        problems.append(
            Problem(
                target.source,
                target.line,
                f"give-away: '{showing.found}' in the {showing.where} of {what} is an accepted answer "
                f"of question {answerer}, and both can be on {pool.describe()}: {fix}",
                "warning",
            )
        )
    return problems


# Units as they are written in running text. The canonical unit of a numeric answer is looked up
# here (case-folded); an unknown unit is matched as written.
_UNIT_WORDS: list[tuple[str, ...]] = [
    ("%", "percent", "per cent", "pct"),
    ("h", "hr", "hrs", "hour", "hours"),
    ("min", "mins", "minute", "minutes"),
    ("s", "sec", "second", "seconds"),
    ("day", "days"),
    ("week", "weeks"),
    ("month", "months"),
    ("year", "years", "yr", "yrs"),
    ("m", "metre", "metres", "meter", "meters"),
    ("mm", "millimetre", "millimetres", "millimeter", "millimeters"),
    ("°c", "degrees", "degree", "°", "degrees celsius"),
    ("yuan", "cny", "rmb", "元"),
    ("point", "points", "marks"),
]
_CURRENCY_SIGNS = ("¥", "rmb", "cny")
# fmt: off
_NUMBER_WORDS = {
    word: value
    for value, word in enumerate((
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
        "nineteen", "twenty",
    ))
} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
# fmt: on
_MULTIPLIERS = {"k": 1e3, "thousand": 1e3, "万": 1e4, "million": 1e6, "亿": 1e8}
# A number: digits with an optional decimal part or thousands commas, not part of a word (CO2),
# a dotted clause number (5.5.2) or a longer number; or a number word.
_NUMBER = re.compile(
    r"(?<![\w.])(?:(?P<digits>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<fraction>\d+))?(?!\.?\d)"
    r"|(?P<word>" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")(?![\w]))"
)
_RANGE = re.compile(r"\s*(?:-|–|—|~|to)\s*")
_CITATION = re.compile(
    r"(?:art|article|no|order|§|clause|chapter|section|level|class|grade|gb|gb/t|step|part)\.?\s*$"
)


def _unit_words(unit: str) -> tuple[str, ...]:
    unit = normalize(unit).strip()
    # "% LEL", "% VOL": the percentage alone already gives the answer away.
    if unit.startswith("%"):
        unit = "%"
    for words in _UNIT_WORDS:
        if unit in words or unit.rstrip("s") in words:
            return words
    return (unit,)


@dataclass(frozen=True)
class _Quantity:
    low: float
    high: float
    units: tuple[str, ...]  # empty: a bare number

    def matches(self, value: float, after: str, before: str, *, spelled: bool) -> str | None:
        """The unit as written when `value` followed by `after` states this quantity."""
        if not (self.low - 1e-9 <= value <= self.high + 1e-9):
            return None
        if not self.units:
            # A bare number counts only as digits standing alone: "one" is mostly a pronoun, and
            # "Art. 1" or "1 inspector" are other quantities.
            if spelled or _CITATION.search(before) or re.match(r"[a-z%]", after.lstrip()):
                return None
            return ""
        rest = after.lstrip(" -")
        for word in sorted(self.units, key=len, reverse=True):
            if rest.startswith(word) and not (
                word[-1].isalnum() and rest[len(word) : len(word) + 1].isalnum()
            ):
                return after[: len(after) - len(rest) + len(word)]
        if "yuan" in self.units and before.rstrip().endswith(_CURRENCY_SIGNS):
            return ""
        return None


@dataclass(frozen=True)
class _Answer:
    """A question's accepted answers in the forms running text would show them."""

    phrases: tuple[str, ...] = ()  # text answers, normalized
    quantities: tuple[_Quantity, ...] = ()  # numeric answers

    @staticmethod
    def of(question: BankQuestion) -> _Answer | None:
        model = question.model
        if question.type == "text":
            own = normalize(model.stem)
            # An accepted answer the question's own stem already shows is no secret of it.
            phrases = [p for p in dict.fromkeys(normalize(a).strip() for a in model.accept) if p]
            phrases = [p for p in phrases if _find_phrase(p, own) is None]
            return _Answer(phrases=tuple(phrases)) if phrases else None
        if question.type == "numeric":
            answer = model.answer
            quantities = [
                _Quantity(*_accepted_range(answer.value, answer.tolerance), _unit_words(answer.unit or ""))
            ]
            if not answer.unit:
                quantities = [_Quantity(*_accepted_range(answer.value, answer.tolerance), ())]
            for unit, factor in answer.units.items():
                low, high = _accepted_range(answer.value, answer.tolerance)
                quantities.append(_Quantity(low / factor, high / factor, _unit_words(unit)))
            return _Answer(quantities=tuple(quantities))
        return None

    def found_in(self, text: str) -> str | None:
        """The part of `text` (normalized) that shows one of the answers, if any."""
        for phrase in self.phrases:
            at = _find_phrase(phrase, text)
            if at is not None:
                return text[at : at + len(phrase)]
        if self.quantities:
            for start, end, value, unit_start in _numbers(text):
                spelled = not text[start].isdigit()
                for quantity in self.quantities:
                    unit = quantity.matches(
                        value,
                        text[unit_start : unit_start + 40],
                        text[max(0, start - 12) : start],
                        spelled=spelled,
                    )
                    if unit is not None:
                        return text[start:end] + (text[end:unit_start] + unit if unit else "")
        return None


def _accepted_range(value: float, tolerance: float | str) -> tuple[float, float]:
    if isinstance(tolerance, str):
        spread = abs(value) * float(tolerance.rstrip("%")) / 100
    else:
        spread = float(tolerance)
    return value - spread, value + spread


def _find_phrase(phrase: str, text: str) -> int | None:
    """Where `phrase` occurs in `text` as whole words (or whole numbers): "co" is not found in
    "cold" or "co2", "1" not in "10"."""
    start = 0
    while (at := text.find(phrase, start)) >= 0:
        end = at + len(phrase)
        before_ok = at == 0 or not (phrase[0].isalnum() and text[at - 1].isalnum())
        after_ok = end == len(text) or not (phrase[-1].isalnum() and text[end].isalnum())
        # "1.0" must not be read out of "1.05" or "0.1.0"
        if before_ok and after_ok and not (phrase[0].isdigit() and text[at - 1 : at] == "."):
            return at
        start = at + 1
    return None


def _numbers(text: str) -> Iterator[tuple[int, int, float, int]]:
    """(start, end, value, where its unit would start) for each number in the text. The first
    number of a range ("5–16%") takes the range's unit; a multiplier ("50k", "5万") scales it."""
    matches = list(_NUMBER.finditer(text))
    for index, match in enumerate(matches):
        if match.group("word"):
            value = float(_NUMBER_WORDS[match.group("word")])
        else:
            digits = match.group("digits").replace(",", "")
            fraction = match.group("fraction")
            value = float(f"{digits}.{fraction}" if fraction else digits)
        end = match.end()
        for word, factor in _MULTIPLIERS.items():
            rest = text[end:].lstrip()
            if rest.startswith(word) and not (word.isascii() and rest[len(word) : len(word) + 1].isalpha()):
                end = len(text) - len(rest) + len(word)
                value *= factor
                break
        unit_start = end
        following = matches[index + 1] if index + 1 < len(matches) else None
        connector = _RANGE.match(text, end)
        if following is not None and connector is not None and connector.end() == following.start():
            unit_start = following.end()
        if math.isfinite(value):
            yield match.start(), end, value, unit_start
