"""The question bank: every file under question_bank/ (but regulations.yaml), validated into
immutable questions, plus the check that every blueprint and practice draw can be filled."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pydantic import TypeAdapter, ValidationError

from trainer.caching import LRU
from trainer.content.bank_schemas import QUESTION_TYPES, BankHeader, Defaults, Question, Scenario
from trainer.content.problems import Problem, validation_problems
from trainer.content.schemas import DrawRow
from trainer.content.yamlio import YamlDocument

_QUESTION = TypeAdapter(Question)
NO_ENEMIES: frozenset[str] = frozenset()
DERIVED_CACHE_SIZE = 100_000  # questions: far beyond any bank, so in practice nothing is evicted


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
class Translation:
    """One question's (or scenario's) text in another language: an entry of a `<name>.<lang>.yaml`
    file beside its bank file, checked against its source (trainer.content.translations)."""

    lang: str
    question_id: str
    model: Any  # the validated `translations.QuestionTranslation`
    file: str  # relative to the content root, like BankQuestion.source
    line: int | None  # of the entry's id
    source_hash: str  # the hash of the source question as it is now

    @property
    def stamped(self) -> bool:
        return self.model.source is not None

    @property
    def stale(self) -> bool:
        """The source changed after the translation was stamped: its words may no longer say
        what the source says (a corrected fact, a changed key), so it is not served."""
        return self.model.source is not None and self.model.source != self.source_hash

    @property
    def status(self) -> str:
        """ "translated", "stale" or "unstamped" (a translation not yet checked against a hash)."""
        if self.model.source is None:
            return "unstamped"
        return "stale" if self.stale else "translated"


@dataclass(frozen=True)
class Bank:
    questions: dict[str, BankQuestion] = field(default_factory=dict)
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    # Each bank file's ids in file order, scenarios and their questions alike (what a
    # translation file beside it translates).
    files: dict[str, list[str]] = field(default_factory=dict)
    # lang -> question or scenario id -> its translation (stale ones included: see `translation`).
    translations: dict[str, dict[str, Translation]] = field(default_factory=dict)
    # What `trainer.quizzes.snapshot` derives from a question alone (rendered text, key, hash),
    # by question id, filled as papers are drawn: a loaded bank never changes, a reload makes a
    # new Bank (and so a new cache). `derived.clear()` empties it.
    derived: LRU[str, dict[str, Any]] = field(
        default_factory=lambda: LRU(DERIVED_CACHE_SIZE), compare=False, repr=False
    )
    # Enemies are symmetric: "A excludes B" keeps B off A's paper as well. Filled on first use.
    _named_by: dict[str, frozenset[str]] = field(default_factory=dict, compare=False, repr=False)
    # Candidates by row, built on first use (see `matching`): drawing a paper from a bank of
    # 100,000 questions must not scan it for every row of every paper.
    _index: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def enemy_index(self) -> dict[str, frozenset[str]]:
        """Question -> the questions that name it in their `excludes` (built once per bank)."""
        if "" not in self._named_by:  # "" marks it built: never a question id
            named: dict[str, set[str]] = {}
            for q in self.questions.values():
                for other in q.excludes:
                    named.setdefault(other, set()).add(q.id)
            self._named_by.update({k: frozenset(v) for k, v in named.items()})
            self._named_by[""] = NO_ENEMIES
        return self._named_by

    def translation(self, lang: str, question_id: str) -> Translation | None:
        """The translation a paper in `lang` serves for a question or scenario: none where there
        is none or it is stale (like gettext's fuzzy entries: the source it was made from
        changed, so it may state an old fact or point at an old key), else its entry."""
        found = self.translations.get(lang, {}).get(question_id)
        return None if found is None or found.stale else found

    def source_lang(self, question_id: str) -> str:
        """The language a question or scenario is written in (its file's `lang`, else English)."""
        if question_id in self.questions:
            return self.questions[question_id].lang
        scenario = self.scenarios.get(question_id)
        return (scenario.lang if scenario is not None else None) or "en"

    def candidates(self, domain: str, row: DrawRow, purpose: str | None = None) -> list[BankQuestion]:
        """Questions matching the row, in bank order; with `purpose` ("exam" or "practice") only
        those whose `use` allows it."""
        return list(self.matching(domain, row, purpose))

    def matching(self, domain: str, row: DrawRow, purpose: str | None = None) -> tuple[BankQuestion, ...]:
        """`candidates`, worked out once per bank and row: from the questions of the row's rarest
        tag (or of the domain), so even the first draw of a row reads only those."""
        by_domain, by_tag, rows = self._candidate_index()
        low, high = row.difficulty or (1, 5)
        key = (domain, frozenset(row.tags), low, high, purpose)
        found = rows.get(key)
        if found is None:
            lists = [by_tag.get((domain, tag), ()) for tag in row.tags] or [by_domain.get(domain, ())]
            found = tuple(q for q in min(lists, key=len) if matches(q, domain, row, purpose))
            if len(rows) >= ROW_INDEX_SIZE:  # rows come from content: never many, but bounded
                rows.clear()
            rows[key] = found
        return found

    def _candidate_index(self) -> _CandidateIndex:
        """Questions by domain and by (domain, tag), in bank order, and the candidates of each row
        asked for so far. Rebuilt if the number of questions changed (tests build banks by hand;
        a loaded bank never changes)."""
        built = self._index.get("candidates")
        if built is None or built[0] != len(self.questions):
            by_domain: dict[str, list[BankQuestion]] = {}
            by_tag: dict[tuple[str, str], list[BankQuestion]] = {}
            for q in self.questions.values():
                by_domain.setdefault(q.domain, []).append(q)
                for tag in q.tags:
                    by_tag.setdefault((q.domain, tag), []).append(q)
            # One assignment: a thread drawing meanwhile sees the old index or the new, whole.
            built = (len(self.questions), by_domain, by_tag, {})
            self._index["candidates"] = built
        return built[1], built[2], built[3]


_RowKey = tuple[str, frozenset[str], int, int, str | None]
_CandidateIndex = tuple[
    dict[str, list[BankQuestion]],
    dict[tuple[str, str], list[BankQuestion]],
    dict[_RowKey, tuple[BankQuestion, ...]],
]
ROW_INDEX_SIZE = 10_000


def matches(question: BankQuestion, domain: str, row: DrawRow, purpose: str | None = None) -> bool:
    """Whether a question may fill a row: its domain, every tag of the row, a difficulty in the
    row's range, and (with `purpose`) a `use` that allows it."""
    low, high = row.difficulty or (1, 5)
    return (
        question.domain == domain
        and question.tags.issuperset(row.tags)
        and low <= question.difficulty <= high
        and (purpose is None or question.use in (purpose, "both"))
    )


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


@dataclass(frozen=True)
class CheckedItem:
    """One entry of a bank file's `questions`, validated: a question, or a scenario with its
    questions."""

    questions: tuple[BankQuestion, ...]  # the question, or the scenario's questions in file order
    # The line of each of a question's `refs`, by position in `questions` (read only when a code
    # turns out to be unknown: which codes exist is another file's business).
    ref_lines: tuple[tuple[int | None, ...], ...]
    scenario: Scenario | None = None
    scenario_line: int | None = None
    scenario_ref_lines: tuple[int | None, ...] = ()


@dataclass(frozen=True)
class CheckedFile:
    """One bank file validated on its own: what it gives whatever the other files hold, so a load
    can keep it by the file's text (trainer.content.parsecache) and skip validating it again while
    the text is unchanged. What looks across files (an id used twice, a regulation code that does
    not exist) is `assemble_bank`'s."""

    display: str
    items: tuple[CheckedItem, ...]
    problems: tuple[Problem, ...]  # its own: shapes and types, a missing domain or explanation

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)


def build_bank(
    files: Iterable[tuple[str, YamlDocument]],
    regulation_codes: set[str],
    report: Callable[[Problem], None],
) -> Bank:
    """Validate parsed bank files; every problem goes to `report` with its file and line."""
    return assemble_bank((check_bank_file(display, doc) for display, doc in files), regulation_codes, report)


def check_bank_file(display: str, doc: YamlDocument) -> CheckedFile:
    """Validate one parsed bank file on its own (see `CheckedFile`)."""
    problems: list[Problem] = []
    report = problems.append
    if not isinstance(doc.data, dict):
        report(Problem(display, 1, "a bank file is a mapping with `defaults` and `questions`"))
        return CheckedFile(display, (), tuple(problems))
    try:
        meta = BankHeader.model_validate(doc.data)
    except ValidationError as exc:
        problems.extend(validation_problems(exc, doc, display))
        return CheckedFile(display, (), tuple(problems))
    items = []
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
            problems.extend(validation_problems(exc, doc, display, path, clean_loc=_without_union_tags))
            continue
        scenario = question if isinstance(question, Scenario) else None
        subs = scenario.questions if scenario is not None else [question]
        built = []
        ref_lines = []
        for sub_index, sub in enumerate(subs):
            sub_path = (*path, "questions", sub_index) if scenario is not None else path
            line = doc.line_of((*sub_path, "id"))
            _check_own(sub, display, line, report)
            ref_lines.append(_ref_lines(doc, sub_path, sub))
            built.append(
                BankQuestion(
                    id=sub.id,
                    type=sub.type,
                    domain=sub.domain or "",
                    lang=sub.lang or "en",
                    tags=frozenset(sub.tags),
                    difficulty=sub.difficulty,
                    model=sub,
                    source=display,
                    line=line,
                    group=scenario.id if scenario is not None else None,
                    sample=meta.sample,
                    use=sub.use or "both",
                    excludes=frozenset(sub.excludes),
                )
            )
        if scenario is None:
            items.append(CheckedItem(tuple(built), tuple(ref_lines)))
        else:
            items.append(
                CheckedItem(
                    tuple(built),
                    tuple(ref_lines),
                    scenario,
                    doc.line_of((*path, "id")),
                    _ref_lines(doc, path, scenario),
                )
            )
    return CheckedFile(display, tuple(items), tuple(problems))


def _ref_lines(doc: YamlDocument, path: tuple[str | int, ...], question: Any) -> tuple[int | None, ...]:
    return tuple(doc.line_of((*path, "refs", index)) for index in range(len(question.refs)))


def assemble_bank(
    files: Iterable[CheckedFile], regulation_codes: set[str], report: Callable[[Problem], None]
) -> Bank:
    """The bank of checked files, in their order: each file's own problems reported, then what
    looks across files (ids used twice: the first keeps it; unknown regulation codes)."""
    bank = Bank()
    owners: dict[str, str] = {}
    for file in files:
        display = file.display
        for problem in file.problems:
            report(problem)
        for item in file.items:
            first = len(bank.files.setdefault(display, []))  # a scenario's id goes before its questions
            for question, ref_lines in zip(item.questions, item.ref_lines, strict=True):
                _check_refs(question.model, display, ref_lines, regulation_codes, report)
                if question.id in owners:
                    report(
                        Problem(
                            display,
                            question.line,
                            f"question id '{question.id}' is already used in {owners[question.id]}",
                        )
                    )
                    continue
                owners[question.id] = display
                bank.files[display].append(question.id)
                bank.questions[question.id] = question
            scenario = item.scenario
            if scenario is not None:
                _check_refs(scenario, display, item.scenario_ref_lines, regulation_codes, report)
                if scenario.id in owners:
                    report(
                        Problem(
                            display,
                            item.scenario_line,
                            f"question id '{scenario.id}' is already used in {owners[scenario.id]}",
                        )
                    )
                else:
                    owners[scenario.id] = display
                    bank.files[display].insert(first, scenario.id)
                    bank.scenarios[scenario.id] = scenario
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


def _check_own(question: Any, display: str, line: int | None, report: Callable[[Problem], None]) -> None:
    """What a gradable question needs whatever else the bank holds."""
    if question.domain is None:
        report(
            Problem(
                display, line, f"question '{question.id}' has no domain: set it, or `defaults: {{domain: …}}`"
            )
        )
    if not question.explanation:
        report(Problem(display, line, f"question '{question.id}' has no explanation", "warning"))


def _check_refs(
    question: Any,
    display: str,
    lines: tuple[int | None, ...],
    regulation_codes: set[str],
    report: Callable[[Problem], None],
) -> None:
    for ref, line in zip(question.refs, lines, strict=True):
        if ref.reg not in regulation_codes:
            report(
                Problem(
                    display,
                    line,
                    f"unknown regulation '{ref.reg}': "
                    "add it to question_bank/regulations.yaml or fix the code",
                )
            )


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


class Unit(NamedTuple):  # a tuple: made for every candidate of every draw, so kept cheap
    """What a paper takes or leaves whole: one question, or a scenario's sub-questions."""

    questions: tuple[str, ...]
    excludes: frozenset[str] = NO_ENEMIES  # enemies of any of its questions


class ExactFill:
    """Place whole units on a paper so that every row gets exactly `count` questions, each
    question in one row it matches, no two enemies together.

    Rows are capacities: a question goes into any row it matches; augmenting paths move placed
    questions between their rows to make room (Kuhn's algorithm with capacities), so a unit is
    refused only when no rearrangement fits it. A placed unit is never removed: units offered
    first win, which is how unseen questions come first. Groups of several questions can still
    paint a filling into a corner (three slots left, only pairs available); `fill_exactly`
    tries other orders for that.
    """

    def __init__(self, counts: list[int], rows_of: dict[str, list[int]]) -> None:
        self.counts = counts
        self.rows_of = rows_of  # question -> indexes of the rows it matches
        self.row_of: dict[str, int] = {}  # placed question -> its row
        self.members: list[list[str]] = [[] for _ in counts]
        self.banned: set[str] = set()
        self.placed_units: list[Unit] = []
        # The rows (as a question's tuple of them) where a lone question found no place, since
        # the last change to what is placed: another question of exactly those rows cannot find
        # one either, so it is refused without searching again. A large bank offers thousands of
        # questions of a row that is already full (checking a blueprint against 50,000 questions
        # searched 88,000 times for 2 s); forgotten whenever what is placed changes.
        self.refused_rows: set[tuple[int, ...]] = set()

    @property
    def size(self) -> int:
        return len(self.row_of)

    @property
    def full(self) -> bool:
        return self.size == sum(self.counts)

    def save(self) -> tuple[dict[str, int], list[list[str]], set[str], int]:
        return dict(self.row_of), [list(m) for m in self.members], set(self.banned), len(self.placed_units)

    def restore(self, state: tuple[dict[str, int], list[list[str]], set[str], int]) -> None:
        self.row_of, self.members, self.banned = state[0], state[1], state[2]
        del self.placed_units[state[3] :]
        self.refused_rows.clear()

    def offer(self, unit: Unit) -> bool:
        """Place the unit if it fits with everything placed so far; report whether it did."""
        lone = tuple(self.rows_of.get(unit.questions[0], ())) if len(unit.questions) == 1 else None
        if lone in self.refused_rows:
            return False
        if self.size + len(unit.questions) > sum(self.counts):
            return False
        if any(q in self.row_of or q in self.banned for q in unit.questions):
            return False
        if unit.excludes & self.row_of.keys():
            return False
        saved = self.save()
        for question in unit.questions:
            if not self._place(question, set()):
                self.restore(saved)  # the state before this offer, the one the search failed in
                if lone is not None:
                    self.refused_rows.add(lone)
                return False
        self.banned |= unit.excludes
        self.placed_units.append(unit)
        self.refused_rows.clear()
        return True

    def _place(self, question: str, visited: set[int]) -> bool:
        rows = self.rows_of.get(question, ())
        for row in rows:  # a free place first: no need to move anyone
            if row not in visited and len(self.members[row]) < self.counts[row]:
                self._put(question, row)
                return True
        for row in rows:
            if row in visited:
                continue
            visited.add(row)
            for other in list(self.members[row]):
                if self._move(other, visited):
                    self._put(question, row)
                    return True
        return False

    def _move(self, question: str, visited: set[int]) -> bool:
        """Move a placed question to another of its rows (making room where it was)."""
        old = self.row_of[question]
        self.members[old].remove(question)
        del self.row_of[question]
        if self._place(question, visited):
            return True
        self._put(question, old)
        return False

    def _put(self, question: str, row: int) -> None:
        self.row_of[question] = row
        self.members[row].append(question)


def fill_exactly(
    counts: list[int],
    rows_of: dict[str, list[int]],
    units: list[Unit],
    *,
    prefer: Callable[[Unit], bool] | None = None,
    shuffle: Callable[[list[Unit]], None] | None = None,
    tries: int = 12,
    search: bool = True,
) -> ExactFill:
    """The best filling found: full if any order tried fills every row exactly.

    Units are offered in the order given (preferred ones in a first round); later tries shuffle
    them with `shuffle` (the paper's random source), and the last offers single questions before
    groups, which can only fit where groups left gaps of their size; then, with `search`, a
    bounded search. Only units whose every question matches some row are offered: a group with
    a question no row asks for would make the paper longer than its blueprint."""
    usable = [u for u in units if len(u.questions) == 1 or all(q in rows_of for q in u.questions)]

    def orders() -> Iterator[list[Unit]]:  # made one at a time: the first one usually does
        yield usable
        for attempt in range(1, tries):
            order = list(usable)
            if attempt == tries - 1:
                order.sort(key=lambda u: len(u.questions))  # stable: singles first, groups after
            elif shuffle is not None:
                shuffle(order)
            else:
                continue
            yield order

    # With single questions and no enemies, the first order is already best: augmenting paths
    # keep every placed question placed, so the preferred round places as many as any filling
    # could. A group can crowd out more preferred singles than it brings, and a placed question
    # shuts out its enemies (the only unseen question may be the enemy of every other), so then
    # other orders are tried, and a search if none fills the paper.
    groups = any(len(u.questions) > 1 or u.excludes for u in usable)
    best: ExactFill | None = None
    best_preferred = -1
    for order in orders():
        filling = ExactFill(counts, rows_of)
        for round_ in (True, False) if prefer is not None else (False,):
            for unit in order:
                if filling.full:
                    break
                if round_ and prefer is not None and not prefer(unit):
                    continue
                filling.offer(unit)
        preferred = sum(len(u.questions) for u in filling.placed_units if prefer is None or prefer(u))
        if best is None or (filling.full, preferred, filling.size) > (best.full, best_preferred, best.size):
            best, best_preferred = filling, preferred
        if best.full and (not groups or best_preferred == best.size):
            break
    if best is not None and not best.full and groups and search:
        # Orders alone can miss a filling that only some combination of groups (or of questions
        # that are not each other's enemies) gives: search.
        found = _search(counts, rows_of, usable)
        if found is not None:
            return found
    return best if best is not None else ExactFill(counts, rows_of)


# The search is complete for pools of up to SEARCH_UNITS units (sample courses have fewer than
# 100) and bounded for larger ones, where the orders above practically always succeed.
SEARCH_UNITS = 300
SEARCH_BUDGET = 50_000  # steps


def _search(counts: list[int], rows_of: dict[str, list[int]], units: list[Unit]) -> ExactFill | None:
    """Depth-first: take or leave each unit in turn, backing out of dead ends, until every row is
    exactly full. Bounded by SEARCH_BUDGET steps over the first SEARCH_UNITS units."""
    units = units[:SEARCH_UNITS]
    filling = ExactFill(counts, rows_of)
    total = sum(counts)
    after = [0] * (len(units) + 1)  # questions in units[i:]
    for index in range(len(units) - 1, -1, -1):
        after[index] = after[index + 1] + len(units[index].questions)
    budget = [SEARCH_BUDGET]

    def go(index: int) -> bool:
        if filling.full:
            return True
        budget[0] -= 1
        if index == len(units) or after[index] < total - filling.size or budget[0] <= 0:
            return False
        state = filling.save()
        if filling.offer(units[index]) and go(index + 1):
            return True
        filling.restore(state)
        return go(index + 1)

    return filling if go(0) else None


def units_for(bank: Bank, rows_of: dict[str, list[int]]) -> list[Unit]:
    """The bank's questions that some row matches, as units: a scenario group once, whole.
    (A single question is always matched; a group's other questions may not be.)"""
    units: list[Unit] = []
    groups: set[str] = set()
    named_by = bank.enemy_index()
    questions = bank.questions
    for qid in rows_of:
        question = questions[qid]
        if question.group is None:
            enemies = named_by.get(qid)
            if enemies or question.excludes:
                units.append(Unit((qid,), question.excludes | (enemies or NO_ENEMIES)))
            else:
                units.append(Unit((qid,)))
            continue
        if question.group in groups:
            continue
        groups.add(question.group)
        subs = tuple(sub.id for sub in bank.scenarios[question.group].questions if sub.id in questions)
        around = frozenset().union(*(questions[s].excludes | named_by.get(s, NO_ENEMIES) for s in subs))
        units.append(Unit(subs, around - set(subs)))
    return units


def rows_of_questions(candidates: list[list[str]]) -> dict[str, list[int]]:
    """Question -> the rows (by index) whose candidates include it."""
    rows_of: dict[str, list[int]] = {}
    for index, ids in enumerate(candidates):
        for qid in ids:
            rows_of.setdefault(qid, []).append(index)
    return rows_of


def fill(rows: list[tuple[int, list[str]]]) -> int:
    """How many of the rows' slots (count, candidate ids) can be filled with distinct questions."""
    return len(assign([candidates for count, candidates in rows for _ in range(count)]))
