"""Question translations: `<name>.<lang>.yaml` beside a bank file, keyed by question id.

A translation carries a question's words in another language (stem, options and their
feedback, explanation, order items, match pairs and distractors, accepted text answers, unit
labels); keys, answers, numbers and references stay in the bank file, which is the one source of
what is right. Each entry keeps `source:`, a short hash of the source's translatable words when
it was translated (`trainer translations --stamp` writes it): when the source's words change,
the hash no longer matches and the translation is *stale*: `trainer check` names it with file
and line, and papers show the source instead (as gettext skips its fuzzy entries) until a
translator has checked it and set the new hash.

Pure functions over parsed files and the loaded bank; the loader calls `load_translations`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import Field, StringConstraints, ValidationError

from trainer.config import Language
from trainer.content.bank import Bank, Translation, build_bank
from trainer.content.bank_schemas import (
    Key,
    LongText,
    Match,
    Multi,
    Numeric,
    Order,
    QuestionId,
    Single,
    TextAnswer,
)
from trainer.content.library import Course
from trainer.content.pools import pools
from trainer.content.problems import Problem, validation_problems
from trainer.content.schemas import Strict, Text
from trainer.content.yamlio import YamlDocument, YamlError, load_yaml

LANGUAGES: tuple[str, ...] = get_args(Language)
HASH_LENGTH = 12  # hex digits: short enough to compare by eye; a changed source keeps it 1 time in 2**48
SourceHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8,64}$")]
# "storage.zh-CN.yaml": a translation. Any two-letter tag is taken for a language (and refused
# if the trainer does not serve it), so a misspelt "storage.zh-cn.yaml" is not read as a bank.
_TRANSLATION_NAME = re.compile(r"^(?P<stem>.+)\.(?P<lang>[A-Za-z]{2}(?:[-_][A-Za-z]{2,4})?)\.yaml$")


class OptionText(Strict):
    text: Text
    feedback: Text | None = None


class PairText(Strict):
    left: Text
    right: Text


class QuestionTranslation(Strict):
    """One entry of a translation file: the words of one question (or scenario) in its language."""

    source: SourceHash | None = Field(
        default=None,
        description="Hash of the source it translates; written by `trainer translations --stamp`",
    )
    stem: LongText
    explanation: LongText | None = None
    options: dict[Key, OptionText] | None = Field(default=None, description="By the source's option key")
    accept: list[Text] | None = Field(
        default=None, min_length=1, description="Text questions: more accepted answers"
    )
    items: dict[Key, Text] | None = Field(default=None, description="Order questions: by item key")
    pairs: list[PairText] | None = Field(
        default=None, description="Match: same length and order as the source's"
    )
    distractors: list[Text] | None = Field(default=None, description="Match: same length as the source's")
    unit_labels: dict[str, Text] | None = Field(
        default=None, description="Numeric: a label per source unit; answers in either count"
    )


class TranslationHeader(Strict):
    """A translation file with its entries unread: they are checked one by one, for exact lines."""

    lang: Language
    questions: dict[str, object]


class TranslationFile(Strict):
    """The whole file, for the JSON Schema published to editors."""

    lang: Language
    questions: dict[QuestionId, QuestionTranslation]


def translation_name(name: str) -> tuple[str, str] | None:
    """("storage", "zh-CN") for "storage.zh-CN.yaml"; None for a bank file's name."""
    found = _TRANSLATION_NAME.match(name)
    return (found.group("stem"), found.group("lang")) if found else None


# -- the source hash ----------------------------------------------------------------------------


def translatable(model: Any) -> dict[str, Any]:
    """The source's words a translation renders, as validated (so re-flowing the YAML or
    re-quoting a string changes nothing): what its hash covers. Keys are included (a new
    option needs translating); whether an option is right is not (no word changes)."""
    words: dict[str, Any] = {"stem": model.stem, "explanation": model.explanation}
    if isinstance(model, Single | Multi):
        words["options"] = [[o.key, o.text, o.feedback] for o in model.options]
    elif isinstance(model, TextAnswer):
        words["accept"] = list(model.accept)
    elif isinstance(model, Order):
        words["items"] = [[i.key, i.text] for i in model.items]
    elif isinstance(model, Match):
        words["pairs"] = [[p.left, p.right] for p in model.pairs]
        words["distractors"] = list(model.distractors)
    elif isinstance(model, Numeric):
        words["units"] = source_units(model)
    return words


def source_hash(model: Any) -> str:
    text = json.dumps(translatable(model), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def source_units(model: Numeric) -> list[str]:
    return [u for u in [model.answer.unit, *model.answer.units] if u]


# -- loading and checking -------------------------------------------------------------------------


@dataclass(frozen=True)
class TranslationSource:
    """A parsed translation file, as the loader found it."""

    display: str  # the translation file, relative to the content root
    bank_display: str  # the bank file it translates (by its name)
    bank_exists: bool  # whether that file exists (its own problems are reported with it)
    name_lang: str  # the language its name says
    doc: YamlDocument


_FIELDS_OF = {  # what each source type has for a translation to render (beyond stem and explanation)
    "single": ("options",),
    "multi": ("options",),
    "truefalse": (),
    "numeric": ("unit_labels",),
    "text": ("accept",),
    "order": ("items",),
    "match": ("pairs", "distractors"),
    "scenario": (),
}
_OPTIONAL_FIELDS = ("options", "accept", "items", "pairs", "distractors", "unit_labels")
MISSING_LISTED = 8  # ids named in a "missing" warning before "…"


def load_translations(
    bank: Bank, sources: Iterable[TranslationSource], report: Callable[[Problem], None]
) -> None:
    """Check every translation file against the bank file it translates and put its entries in
    `bank.translations`; every problem goes to `report` with its file and line."""
    sources = list(sources)
    loaded: dict[tuple[str, str], tuple[TranslationSource, set[str]]] = {}  # (bank file, lang) ->
    for source in sources:
        found = _load_file(bank, source, report)
        if found is not None:
            lang, ids = found
            loaded[(source.bank_display, lang)] = (source, ids)
    _report_missing(bank, sources, loaded, report)


def _load_file(
    bank: Bank, source: TranslationSource, report: Callable[[Problem], None]
) -> tuple[str, set[str]] | None:
    display, doc = source.display, source.doc
    if source.name_lang not in LANGUAGES:
        report(
            Problem(
                display,
                None,
                f"'{source.name_lang}' is not a language the trainer serves ({', '.join(LANGUAGES)}): "
                "name a translation file like 'storage.zh-CN.yaml'",
            )
        )
        return None
    if not source.bank_exists:
        report(
            Problem(
                display,
                None,
                f"no bank file {source.bank_display} beside it: a translation file is named after the "
                "bank file it translates ('storage.yaml' -> 'storage.zh-CN.yaml')",
            )
        )
        return None
    if not isinstance(doc.data, dict):
        report(Problem(display, 1, "a translation file is a mapping with `lang` and `questions`"))
        return None
    try:
        header = TranslationHeader.model_validate(doc.data)
    except ValidationError as exc:
        for problem in validation_problems(exc, doc, display):
            report(problem)
        return None
    lang = header.lang
    if lang != source.name_lang:
        report(
            Problem(
                display,
                doc.line_of(("lang",)),
                f"lang '{lang}' does not match the file name (a '{source.name_lang}' file)",
            )
        )
        return None
    ids = bank.files.get(source.bank_display)
    if ids is None:
        return None  # the bank file did not load: its own problems say why
    in_file = set(ids)
    translated: set[str] = set()
    present: set[str] = set()  # translated, or there with a problem (reported): not "missing"
    for qid, raw in header.questions.items():
        if qid not in in_file:
            elsewhere = next((f for f, found in bank.files.items() if qid in found), None)
            hint = (
                f": it is in {elsewhere}, so translate it beside that file"
                if elsewhere
                else " (check the id)"
            )
            report(
                Problem(
                    display,
                    doc.line_of(("questions", qid)),
                    f"{qid} is not a question of {source.bank_display}{hint}",
                )
            )
            continue
        present.add(qid)
        translation = _load_entry(bank, source, qid, raw, lang=lang, report=report)
        if translation is not None:
            bank.translations.setdefault(lang, {})[qid] = translation
            translated.add(qid)
    unstamped = [
        qid for qid in ids if qid in translated and bank.translations[lang][qid].model.source is None
    ]
    if unstamped:
        report(
            Problem(
                display,
                doc.line_of(("questions",)),
                f"{_count(len(unstamped), 'translation')} without `source:` ({_listed(unstamped)}): "
                "once checked against the source, run `trainer translations --stamp "
                f"{display}` so that a later change of the source shows as stale",
                "warning",
            )
        )
    return lang, present


Severity = Literal["error", "warning"]
Found = list[tuple[tuple[str | int, ...], str, Severity]]  # (path within the entry, message, severity)


@dataclass
class _Findings:
    qid: str
    found: Found
    incomplete: list[str]

    def error(self, where: tuple[str | int, ...], message: str) -> None:
        self.found.append((where, f"{self.qid}: {message}", "error"))

    def unused(self, where: tuple[str | int, ...], what: str) -> None:
        self.found.append((where, f"{self.qid}: {what} in the source: this one is not shown", "warning"))


def _load_entry(
    bank: Bank,
    source: TranslationSource,
    qid: str,
    raw: object,
    *,
    lang: str,
    report: Callable[[Problem], None],
) -> Translation | None:
    """One entry checked against its source question; None if it has errors (reported)."""
    display, doc = source.display, source.doc
    path: tuple[str | int, ...] = ("questions", qid)
    line = doc.line_of(path)
    if not isinstance(raw, dict):
        report(Problem(display, line, f"{qid}: a translation is a mapping (stem, options, …)"))
        return None
    try:
        entry = QuestionTranslation.model_validate(raw)
    except ValidationError as exc:
        for problem in validation_problems(exc, doc, display, path):
            report(Problem(problem.file, problem.line, f"{qid}: {problem.message}", problem.severity))
        return None
    if bank.source_lang(qid) == lang:
        report(
            Problem(
                display, line, f"{qid} is written in {lang} already: a translation is into another language"
            )
        )
        return None
    model = bank.questions[qid].model if qid in bank.questions else bank.scenarios[qid]
    problems = check_entry(qid, entry, model, lang)
    for where, message, severity in problems:
        report(Problem(display, doc.line_of((*path, *where)), message, severity))
    if any(severity == "error" for _, _, severity in problems):
        return None
    translation = Translation(lang, qid, entry, display, line, source_hash(model))
    if translation.stale:
        report(
            Problem(
                display,
                line,
                f"stale {lang} translation of {qid}: its source in {source.bank_display} changed after "
                f"it was translated (source: {entry.source}, now {translation.source_hash}); papers show "
                f"the source until the translation is checked, updated and set to "
                f"`source: {translation.source_hash}`",
                "warning",
            )
        )
    return translation


def check_entry(qid: str, entry: QuestionTranslation, model: Any, lang: str) -> Found:
    """What is wrong (errors) or left in the source language (warnings) in one entry, each with
    its path within the entry."""
    kind = model.type
    check = _Findings(qid, [], [])
    allowed = _FIELDS_OF[kind]
    for name in _OPTIONAL_FIELDS:
        if getattr(entry, name) is not None and name not in allowed:
            has = ", ".join(("stem", "explanation", *allowed))
            check.error(
                (name,), f"`{name}` does not apply: the source is a {kind} question (translate {has})"
            )
    if check.found:
        return check.found
    if model.explanation and not entry.explanation:
        check.incomplete.append("explanation")
    if entry.explanation and not model.explanation:
        check.unused(("explanation",), "there is no explanation")
    if isinstance(model, Single | Multi):
        _check_options(check, entry, model)
    elif isinstance(model, TextAnswer) and entry.accept is None:
        check.incomplete.append(f"accept (answers in {lang} are not accepted)")
    elif isinstance(model, Order):
        _check_keys(check, "items", entry.items, [i.key for i in model.items])
    elif isinstance(model, Match):
        _check_match(check, entry, model)
    elif isinstance(model, Numeric) and entry.unit_labels is not None:
        _check_units(check, entry.unit_labels, source_units(model))
    if check.incomplete and not any(severity == "error" for _, _, severity in check.found):
        check.found.append(
            (
                (),
                f"{qid}: the {lang} translation lacks {', '.join(check.incomplete)}: the source's is shown",
                "warning",
            )
        )
    return check.found


def _check_keys(check: _Findings, name: str, given: Mapping[str, Any] | None, keys: list[str]) -> bool:
    """Whether the entry has every source key and no other (keys are never translated)."""
    if given is None:
        check.incomplete.append(name)
        return False
    if set(given) != set(keys):
        check.error(
            (name,),
            f"{name} {', '.join(sorted(given))} differ from the source's {', '.join(keys)} "
            f"(keys are never translated: give every source {name[:-1]} under its key)",
        )
        return False
    return True


def _check_options(check: _Findings, entry: QuestionTranslation, model: Single | Multi) -> None:
    if not _check_keys(check, "options", entry.options, [o.key for o in model.options]):
        return
    assert entry.options is not None
    for option in model.options:
        text = entry.options[option.key]
        if option.feedback and not text.feedback:
            check.incomplete.append(f"feedback of {option.key}")
        elif text.feedback and not option.feedback:
            check.unused(("options", option.key, "feedback"), f"option {option.key} has no feedback")


def _check_match(check: _Findings, entry: QuestionTranslation, model: Match) -> None:
    if entry.pairs is None:
        check.incomplete.append("pairs")
    elif len(entry.pairs) != len(model.pairs):
        check.error(
            ("pairs",),
            f"{len(entry.pairs)} pairs where the source has {len(model.pairs)}: "
            "translate each source pair, in the source's order",
        )
    if model.distractors and entry.distractors is None:
        check.incomplete.append("distractors")
    elif entry.distractors is not None and len(entry.distractors) != len(model.distractors):
        check.error(
            ("distractors",),
            f"{len(entry.distractors)} distractors where the source has {len(model.distractors)}: "
            "translate each, in the source's order",
        )
    if entry.pairs is not None and len(entry.pairs) == len(model.pairs):
        lefts = [p.left for p in entry.pairs]
        rights = [p.right for p in entry.pairs] + list(entry.distractors or [])
        if len(set(lefts)) != len(lefts) or len(set(rights)) != len(rights):
            check.error(("pairs",), "each left and each right text appears once (as in the source)")


def _check_units(check: _Findings, labels: dict[str, str], units: list[str]) -> None:
    for unit, label in labels.items():
        if unit not in units:
            named = ", ".join(units) if units else "none"
            check.error(
                ("unit_labels", unit),
                f"unit_labels: '{unit}' is not a unit of the source (its units: {named})",
            )
        elif label != unit and label in units:
            check.error(
                ("unit_labels", unit),
                f"unit_labels: '{label}' is another unit of the source: a label names its own unit",
            )
    if len(set(labels.values())) != len(labels):
        check.error(("unit_labels",), "unit_labels: two units have the same label")


def _report_missing(
    bank: Bank,
    sources: list[TranslationSource],
    loaded: Mapping[tuple[str, str], tuple[TranslationSource, set[str]]],
    report: Callable[[Problem], None],
) -> None:
    """Missing translations, one line per bank file and language. A language is expected once
    the bank has a translation file in it at all: a bank that is not translated says nothing."""
    expected = sorted({s.name_lang for s in sources if s.name_lang in LANGUAGES}, key=LANGUAGES.index)
    named = {(s.bank_display, s.name_lang): s for s in sources}
    for bank_file, ids in bank.files.items():
        for lang in expected:
            wanted = [qid for qid in ids if bank.source_lang(qid) != lang]
            if not wanted:
                continue
            if (bank_file, lang) in loaded:
                source, done = loaded[(bank_file, lang)]
                missing = [qid for qid in wanted if qid not in done]
                if missing:
                    report(
                        Problem(
                            source.display,
                            source.doc.line_of(("questions",)),
                            f"{_count(len(missing), 'question')} of {bank_file} without a {lang} "
                            f"translation ({_listed(missing)}): shown in the source language",
                            "warning",
                        )
                    )
            elif (bank_file, lang) not in named:  # a file that did not load has its own problems
                report(
                    Problem(
                        bank_file,
                        None,
                        f"no {lang} translation ({translation_path(bank_file, lang)}): its "
                        f"{_count(len(wanted), 'question')} are shown in the source language",
                        "warning",
                    )
                )


def translation_path(bank_file: str, lang: str) -> str:
    stem, _, _ = bank_file.rpartition(".yaml")
    return f"{stem}.{lang}.yaml"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _listed(ids: list[str]) -> str:
    shown = ", ".join(ids[:MISSING_LISTED])
    return shown + (f", … ({len(ids) - MISSING_LISTED} more)" if len(ids) > MISSING_LISTED else "")


# -- coverage -------------------------------------------------------------------------------------


@dataclass
class Coverage:
    translated: int = 0  # stamped with the source's current hash
    stale: int = 0  # stamped with an older hash: not served
    unstamped: int = 0  # no hash yet: served, freshness unknown
    missing: int = 0

    @property
    def total(self) -> int:
        return self.translated + self.stale + self.unstamped + self.missing

    def add(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)


def status_of(bank: Bank, lang: str, qid: str) -> str | None:
    """ "translated", "stale", "unstamped" or "missing"; None where the source is in `lang`."""
    if bank.source_lang(qid) == lang:
        return None
    found = bank.translations.get(lang, {}).get(qid)
    return found.status if found is not None else "missing"


def coverage_of(bank: Bank, ids: Iterable[str], lang: str) -> Coverage:
    counts = Coverage()
    for qid in ids:
        status = status_of(bank, lang, qid)
        if status is not None:
            counts.add(status)
    return counts


def with_groups(bank: Bank, ids: Iterable[str]) -> list[str]:
    """Question ids and the scenarios they belong to (whose stems are translated too), sorted."""
    ids = set(ids)
    groups = {bank.questions[qid].group for qid in ids if qid in bank.questions}
    return sorted(ids | {g for g in groups if g is not None})


def offered_languages(bank: Bank, ids: Iterable[str]) -> list[str]:
    """The languages a paper drawn from these questions can be read in: their own, and every
    language with at least one served (not stale) translation among them."""
    ids = list(ids)
    found = {bank.source_lang(qid) for qid in ids}
    for lang, entries in bank.translations.items():
        if any(qid in entries and not entries[qid].stale for qid in ids):
            found.add(lang)
    return [lang for lang in LANGUAGES if lang in found]


def course_questions(bank: Bank, course: Course) -> list[str]:
    """Every question (and scenario) the course's exam or a module's practice can show."""
    return with_groups(bank, {qid for pool in pools(bank, [course]) for qid in pool.questions})


def course_coverage(bank: Bank, course: Course) -> list[tuple[str, Coverage]]:
    """Per language the course's questions are not written in: how many are translated."""
    ids = course_questions(bank, course)
    found = [(lang, coverage_of(bank, ids, lang)) for lang in LANGUAGES]
    return [(lang, counts) for lang, counts in found if counts.total]


def paper_languages(bank: Bank, courses: Iterable[Course]) -> dict[tuple[str, str], tuple[str, ...]]:
    """The languages offered when a paper starts, per pool: ("exam", course id) and ("practice",
    module id). Worked out once per loaded library (pages read it on every request)."""
    return {
        (pool.kind, pool.owner): tuple(offered_languages(bank, with_groups(bank, pool.questions)))
        for pool in pools(bank, courses)
    }


# -- stamping -------------------------------------------------------------------------------------


class StampError(ValueError):
    """The file could not be stamped without changing more than the `source:` lines."""


def stamp_text(text: str, hashes: Mapping[str, str]) -> tuple[str, list[str]]:
    """`text` (a translation file) with `source: <hash>` written into every entry that has none
    and whose id is in `hashes`; and those ids. Only lines are inserted (or, in a flow mapping,
    `source: …, ` after its brace): comments, quoting and layout stay as written. The result is
    parsed again and must equal the input plus the new keys, else StampError."""
    doc = load_yaml(text)
    data = doc.data if isinstance(doc.data, dict) else {}
    questions = data.get("questions")
    if not isinstance(questions, dict):
        raise StampError("no `questions:` mapping to stamp")
    lines = text.splitlines(keepends=True)
    edits: list[tuple[int, int | None, str]] = []  # (line index, column or None for a new line, text)
    stamped: list[str] = []
    for qid, entry in questions.items():
        if not isinstance(entry, dict) or "source" in entry or qid not in hashes or not entry:
            continue
        value = _hash_scalar(hashes[qid])
        id_line = doc.lines[("questions", qid)] - 1
        first_key = next(iter(entry))
        key_line = doc.lines[("questions", qid, first_key)] - 1
        flow_line = key_line if lines[key_line].lstrip().startswith("{") or key_line == id_line else None
        if flow_line is not None:
            start = _after_id(lines[flow_line], qid) if flow_line == id_line else 0
            brace = lines[flow_line].find("{", start)
            if brace == -1:
                raise StampError(f"{qid}: cannot find where its mapping starts; write `source:` by hand")
            edits.append((flow_line, brace + 1, f"source: {value}, "))
        else:
            indent = lines[key_line][: len(lines[key_line]) - len(lines[key_line].lstrip())]
            newline = "\r\n" if lines[id_line].endswith("\r\n") else "\n"
            edits.append((id_line + 1, None, f"{indent}source: {value}{newline}"))
        stamped.append(qid)
    for index, column, insert in sorted(edits, key=lambda e: (e[0], e[1] or 0), reverse=True):
        if column is None:
            lines.insert(index, insert)
        else:
            lines[index] = lines[index][:column] + insert + lines[index][column:]
    result = "".join(lines)
    expected = {
        **data,
        "questions": {
            qid: ({"source": hashes[qid], **e} if qid in stamped else e) for qid, e in questions.items()
        },
    }
    if load_yaml(result).data != expected:
        raise StampError("stamping would change more than the `source:` lines; write them by hand")
    return result, stamped


def _after_id(line: str, qid: str) -> int:
    at = line.find(qid)
    return line.find(":", at + len(qid)) + 1 if at != -1 else 0


def _hash_scalar(value: str) -> str:
    """A hash of digits only would be read as a number: quote it then (and only then)."""
    return value if re.search(r"[a-f]", value) else f'"{value}"'


def read_source(text: str, display: str) -> tuple[Bank, list[Problem]]:
    """One bank file on its own (for stamping and imports): its questions, and its errors.
    Regulation codes are not checked here (`trainer check` does)."""
    problems: list[Problem] = []
    try:
        doc = load_yaml(text)
    except YamlError as exc:
        return Bank(), [Problem(display, exc.line, exc.message)]
    bank = build_bank([(display, doc)], _AnyCode(), problems.append)
    return bank, [p for p in problems if p.severity == "error"]


class _AnyCode(set[str]):
    def __contains__(self, item: object) -> bool:
        return True


def hashes_of(bank: Bank) -> dict[str, str]:
    models: dict[str, Any] = {qid: q.model for qid, q in bank.questions.items()}
    models.update(bank.scenarios)
    return {qid: source_hash(model) for qid, model in models.items()}


# -- GIFT -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GiftSkip:
    line: int | None
    question_id: str | None
    reason: str


def from_gift(
    questions: list[dict[str, Any]], lines: list[int], bank: Bank, bank_file: str
) -> tuple[dict[str, dict[str, Any]], list[GiftSkip]]:
    """Translation entries from GIFT questions (converted by trainer.quizzes.gift) that carry
    the ids of the bank file's questions as their `::names::`. A GIFT question must be of its
    source's type, with its answers in the source's order and the same ones right: keys and
    answers come from the bank file, only words from the GIFT file."""
    entries: dict[str, dict[str, Any]] = {}
    skipped: list[GiftSkip] = []
    ids = set(bank.files.get(bank_file, []))
    for index, question in enumerate(questions):
        qid = question["id"]
        line = lines[index] if index < len(lines) else None
        if qid not in ids or qid not in bank.questions:
            reason = (
                "a scenario's shared text cannot be written in GIFT: translate it in the YAML"
                if qid in bank.scenarios
                else f"no question {qid} in {bank_file} (name each GIFT question ::ID:: after its source)"
            )
            skipped.append(GiftSkip(line, qid, reason))
            continue
        try:
            entries[qid] = _gift_entry(question, bank.questions[qid].model)
        except ValueError as problem:
            skipped.append(GiftSkip(line, qid, str(problem)))
    return entries, skipped


def _gift_entry(question: dict[str, Any], model: Any) -> dict[str, Any]:
    kind, source_kind = question["type"], model.type
    if {kind, source_kind} <= {"single", "multi"}:
        kind = source_kind  # GIFT tells them apart by weights only
    if kind != source_kind:
        raise ValueError(f"a {kind} question in GIFT, but the source is a {source_kind} question")
    entry: dict[str, Any] = {"stem": question["stem"]}
    if isinstance(model, Single | Multi):
        options = question["options"]
        if len(options) != len(model.options):
            raise ValueError(f"{len(options)} answers where the source has {len(model.options)}")
        right = [bool(o.get("correct")) for o in options]
        if right != [o.correct for o in model.options]:
            keys = ", ".join(o.key for o in model.options if o.correct)
            raise ValueError(
                f"the answers marked right differ from the source's ({keys}): keep the source's order"
            )
        entry["options"] = {
            o.key: {
                "text": g["text"],
                **({"feedback": g["feedback"]} if "feedback" in g and o.feedback else {}),
            }
            for o, g in zip(model.options, options, strict=True)
        }
    elif kind == "truefalse":
        if question["answer"] != model.answer:
            raise ValueError(f"the answer is {question['answer']} in GIFT but {model.answer} in the source")
    elif isinstance(model, TextAnswer):
        entry["accept"] = list(question["accept"])
    elif isinstance(model, Numeric):
        if question["answer"]["value"] != model.answer.value:
            raise ValueError(
                f"the answer is {question['answer']['value']} in GIFT but {model.answer.value} in the source"
            )
    elif isinstance(model, Match):
        pairs = question["pairs"]
        if len(pairs) != len(model.pairs):
            raise ValueError(f"{len(pairs)} pairs where the source has {len(model.pairs)}")
        entry["pairs"] = [{"left": p["left"], "right": p["right"]} for p in pairs]
        distractors = question.get("distractors", [])
        if len(distractors) != len(model.distractors):
            raise ValueError(f"{len(distractors)} distractors where the source has {len(model.distractors)}")
        if distractors:
            entry["distractors"] = list(distractors)
    else:
        raise ValueError(f"GIFT has no {source_kind} questions: translate it in the YAML")
    if question.get("explanation"):
        entry["explanation"] = question["explanation"]
    problems = check_entry(question["id"], QuestionTranslation.model_validate(entry), model, "")
    errors = [message for _, message, severity in problems if severity == "error"]
    if errors:
        raise ValueError(errors[0])
    return entry


def to_yaml(lang: str, entries: dict[str, dict[str, Any]]) -> str:
    """A translation file: `lang` and the entries in the given order (no `source:`: a draft
    is stamped once a translator has checked it)."""
    document = {"lang": lang, "questions": entries}
    TranslationFile.model_validate(document)  # what we write must load
    return yaml.safe_dump(_block_text(document), allow_unicode=True, sort_keys=False, width=100)


class _Lines(str):
    __slots__ = ()


def _represent_lines(dumper: yaml.SafeDumper, value: _Lines) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")


yaml.SafeDumper.add_representer(_Lines, _represent_lines)


def _block_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _block_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_block_text(item) for item in value]
    if isinstance(value, str) and "\n" in value:
        return _Lines(value)
    return value
