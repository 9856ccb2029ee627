"""The question bank: every file under question_bank/ (but regulations.yaml), validated into
immutable questions, plus the check that every blueprint and practice draw can be filled."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from trainer.content.bank_schemas import QUESTION_TYPES, BankHeader, Defaults, Question, Scenario
from trainer.content.problems import Problem, validation_problems
from trainer.content.schemas import DrawRow
from trainer.content.yamlio import YamlDocument

_QUESTION = TypeAdapter(Question)


@dataclass(frozen=True)
class BankQuestion:
    """One gradable question (a scenario's sub-questions are each one), defaults applied."""

    id: str
    type: str
    domain: str
    lang: str
    tags: frozenset[str]
    difficulty: int
    model: Any  # the validated pydantic model of its type (see bank_schemas)
    source: str  # file, relative to the content root
    line: int | None
    group: str | None = None  # the scenario it belongs to
    sample: bool = False
    use: str = "both"  # practice | exam | both
    excludes: frozenset[str] = frozenset()  # enemy items (never on one paper with this one)


@dataclass(frozen=True)
class Bank:
    questions: dict[str, BankQuestion] = field(default_factory=dict)
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    # What `trainer.quizzes.snapshot` derives from a question alone (rendered text, key, hash),
    # filled as papers are drawn: a loaded bank never changes, a reload makes a new Bank.
    derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def candidates(self, domain: str, row: DrawRow, purpose: str | None = None) -> list[BankQuestion]:
        """Questions matching the row; with `purpose` ("exam" or "practice") only those whose
        `use` allows it."""
        low, high = row.difficulty or (1, 5)
        wanted = set(row.tags)
        return [
            q
            for q in self.questions.values()
            if q.domain == domain
            and wanted <= q.tags
            and low <= q.difficulty <= high
            and (purpose is None or q.use in (purpose, "both"))
        ]


def merge_defaults(data: dict[str, Any], defaults: Defaults) -> dict[str, Any]:
    merged = dict(data)
    for key in ("domain", "lang", "difficulty", "use"):
        value = getattr(defaults, key)
        if value is not None:
            merged.setdefault(key, value)
    if defaults.tags:
        own = merged.get("tags")
        own_tags: list[Any] = own if isinstance(own, list) else []
        merged["tags"] = list(dict.fromkeys([*defaults.tags, *own_tags]))
    return merged


def build_bank(
    files: Iterable[tuple[str, YamlDocument]],
    regulation_codes: set[str],
    report: Callable[[Problem], None],
) -> Bank:
    """Validate parsed bank files; every problem goes to `report` with its file and line."""
    bank = Bank()
    owners: dict[str, str] = {}
    for display, doc in files:
        if not isinstance(doc.data, dict):
            report(Problem(display, 1, "a bank file is a mapping with `defaults` and `questions`"))
            continue
        try:
            meta = BankHeader.model_validate(doc.data)
        except ValidationError as exc:
            for problem in validation_problems(exc, doc, display):
                report(problem)
            continue
        for index, raw in enumerate(meta.questions):
            path: tuple[str | int, ...] = ("questions", index)
            if not isinstance(raw, dict):
                report(Problem(display, doc.line_of(path), "a question is a mapping of keys to values"))
                continue
            data = merge_defaults(raw, meta.defaults)
            if data.get("type") == "scenario" and isinstance(data.get("questions"), list):
                group_defaults = Defaults(
                    domain=data.get("domain"),
                    lang=data.get("lang"),
                    # A scenario is drawn whole, so its sub-questions share its pool.
                    use=data.get("use") if data.get("use") in ("practice", "exam", "both") else None,
                    tags=[t for t in data.get("tags", []) if isinstance(t, str)],
                )
                data["questions"] = [
                    merge_defaults(sub, group_defaults) if isinstance(sub, dict) else sub
                    for sub in data["questions"]
                ]
            try:
                question = _QUESTION.validate_python(data)
            except ValidationError as exc:
                for problem in validation_problems(exc, doc, display, path, clean_loc=_without_union_tags):
                    report(problem)
                continue
            subs = question.questions if isinstance(question, Scenario) else [question]
            for sub_index, sub in enumerate(subs):
                sub_path = (*path, "questions", sub_index) if isinstance(question, Scenario) else path
                line = doc.line_of((*sub_path, "id"))
                _check_one(
                    sub, display, line, doc, sub_path, regulation_codes=regulation_codes, report=report
                )
                if sub.id in owners:
                    report(
                        Problem(display, line, f"question id '{sub.id}' is already used in {owners[sub.id]}")
                    )
                    continue
                owners[sub.id] = display
                bank.questions[sub.id] = BankQuestion(
                    id=sub.id,
                    type=sub.type,
                    domain=sub.domain or "",
                    lang=sub.lang or "en",
                    tags=frozenset(sub.tags),
                    difficulty=sub.difficulty,
                    model=sub,
                    source=display,
                    line=line,
                    group=question.id if isinstance(question, Scenario) else None,
                    sample=meta.sample,
                    use=sub.use or "both",
                    excludes=frozenset(sub.excludes),
                )
            if isinstance(question, Scenario):
                line = doc.line_of((*path, "id"))
                _check_one(
                    question,
                    display,
                    line,
                    doc,
                    path,
                    regulation_codes=regulation_codes,
                    report=report,
                    gradable=False,
                )
                if question.id in owners:
                    report(
                        Problem(
                            display,
                            line,
                            f"question id '{question.id}' is already used in {owners[question.id]}",
                        )
                    )
                else:
                    owners[question.id] = display
                    bank.scenarios[question.id] = question
    return bank


def _without_union_tags(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Drop the question-type tags pydantic puts in the location of a union member's error:
    ("single", "options", 0, "text") -> ("options", 0, "text"); ("scenario", "questions", 1,
    "truefalse", "answer") -> ("questions", 1, "answer")."""
    cleaned: list[str | int] = []
    for index, part in enumerate(loc):
        at_question = index == 0 or (
            index >= 2 and loc[index - 2] == "questions" and isinstance(loc[index - 1], int)
        )
        if at_question and part in QUESTION_TYPES:
            continue
        cleaned.append(part)
    return tuple(cleaned)


def _check_one(
    question: Any,
    display: str,
    line: int | None,
    doc: YamlDocument,
    path: tuple[str | int, ...],
    *,
    regulation_codes: set[str],
    report: Callable[[Problem], None],
    gradable: bool = True,
) -> None:
    if gradable and question.domain is None:
        report(
            Problem(
                display, line, f"question '{question.id}' has no domain: set it, or `defaults: {{domain: …}}`"
            )
        )
    for index, ref in enumerate(question.refs):
        if ref.reg not in regulation_codes:
            report(
                Problem(
                    display,
                    doc.line_of((*path, "refs", index)),
                    f"unknown regulation '{ref.reg}': "
                    "add it to question_bank/regulations.yaml or fix the code",
                )
            )
    if gradable and not question.explanation:
        report(Problem(display, line, f"question '{question.id}' has no explanation", "warning"))


def assign(slots: list[list[str]], prefer: Callable[[str], bool] | None = None) -> dict[str, int]:
    """Give each slot a different question from its candidates, as many slots as possible.

    Rows may share candidates, so a greedy draw could fail where a better assignment exists;
    this uses augmenting paths (Kuhn's algorithm). With `prefer` (unseen questions), a first
    round matches only preferred questions, as many as can be; the second fills the remaining
    slots from every candidate. An augmenting path never unmatches a question, so the result
    fills as many slots as possible and, among such fillings, uses as many preferred questions
    as any could. Candidates are tried in the order given. Returns question -> slot; a slot
    missing from the values could not be filled.
    """
    owner: dict[str, int] = {}

    def place(slot: int, visited: set[str], only_preferred: bool) -> bool:
        for question in slots[slot]:
            if question in visited or (only_preferred and prefer is not None and not prefer(question)):
                continue
            visited.add(question)
            if question not in owner or place(owner[question], visited, only_preferred):
                owner[question] = slot
                return True
        return False

    filled: set[int] = set()
    for only_preferred in (True, False) if prefer is not None else (False,):
        for slot in range(len(slots)):
            if slot not in filled and place(slot, set(), only_preferred):
                filled.add(slot)
    return owner


def fill(rows: list[tuple[int, list[str]]]) -> int:
    """How many of the rows' slots (count, candidate ids) can be filled with distinct questions."""
    return len(assign([candidates for count, candidates in rows for _ in range(count)]))
