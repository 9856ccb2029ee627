"""One question of a bank file as a form, and back: pure text work, no database.

A bank file draft is edited one question at a time. `form_of_question` reads a question of the
parsed file into text fields; `compose_question` writes the form as the documented YAML; and
`put_question` puts those lines in the file in place of the question (or after the last one),
every other line untouched, so the review's diff shows only the edited question. A form sent
back unchanged keeps the question's lines exactly as written (comments, quoting, layout).

The forms cover the types of the formats guide; a scenario group's own fields have a form, each
of its questions has its type's, and `put_group` starts a new group with its first question.
Anything else a form does not cover is edited in the file's YAML.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from trainer.content.yamlio import YamlDocument, YamlError, load_yaml
from trainer.i18n import N_

FORM_TYPES = ("single", "multi", "truefalse", "numeric", "text", "order", "match")
USES = ("", "both", "exam", "practice")  # "": the file's default
SCORINGS = ("all_or_nothing", "partial")
# Keys a form writes; a question with any other key is edited in the YAML instead.
COMMON_KEYS = {"id", "type", "difficulty", "stem", "explanation", "refs", "tags", "domain", "lang"}
COMMON_KEYS |= {"shuffle", "use", "excludes"}
TYPE_KEYS = {
    "single": {"options"},
    "multi": {"options", "scoring"},
    "truefalse": {"answer"},
    "numeric": {"answer"},
    "text": {"accept"},
    "order": {"items", "scoring"},
    "match": {"pairs", "distractors"},
    "scenario": {"questions"},  # its own fields in the form; its questions each in theirs
}
SPARE_ROWS = 2  # empty rows offered after the question's own options, items or pairs
_PLAIN = re.compile(r"^[A-Za-z0-9\u0080-\uffff][^:#\[\]{},&*!|>'\"%@`]*$")
_NOT_PLAIN = re.compile(
    r"^(?:y|n|yes|no|true|false|on|off|null|~|[-+]?[\d._]+(?:e[-+]?\d+)?|[-+]?\.(?:inf|nan))$", re.IGNORECASE
)


@dataclass
class Row:
    """One option (key, text, correct, feedback), order item (key, text) or match pair (left as
    key, right as text)."""

    key: str = ""
    text: str = ""
    correct: bool = False
    feedback: str = ""


@dataclass
class QuestionForm:
    """The fields as typed (text); `rows` are the options, items or pairs."""

    id: str = ""
    type: str = "single"
    difficulty: str = ""
    stem: str = ""
    explanation: str = ""
    refs: str = ""  # one per line: "code" or "code: clause"
    tags: str = ""  # separated by commas
    domain: str = ""
    lang: str = ""
    use: str = ""
    excludes: str = ""  # question ids, separated by commas
    shuffle: bool = True
    scoring: str = ""
    answer: str = ""  # truefalse: "true" or "false"
    value: str = ""  # numeric
    tolerance: str = ""
    unit: str = ""
    units: str = ""  # one per line: "unit = factor"
    accept: str = ""  # text: one accepted answer per line
    distractors: str = ""  # match: one per line
    rows: list[Row] = field(default_factory=list)


NOT_NUMBER = N_("%(field)s: “%(value)s” is not a number.")
BAD_UNIT = N_("units: “%(value)s” is not written as “unit = factor”.")


class FormError(ValueError):
    """A field that cannot be written as the format needs: `message` (to translate) says which
    and why, with `values`."""

    def __init__(self, message: str, values: dict[str, str]) -> None:
        super().__init__(message % values)
        self.message = message
        self.values = values


@dataclass(frozen=True)
class Located:
    path: tuple[int, ...]  # (i,) for the file's i-th question, (i, j) for a scenario's j-th
    first: int  # 0-based line of its "- " line
    end: int  # 0-based line after its last line
    data: Any

    @property
    def id(self) -> str | None:
        return str(self.data["id"]) if isinstance(self.data, dict) and "id" in self.data else None


def _items(
    lines: list[str], doc: YamlDocument, key_path: tuple[Any, ...], count: int
) -> list[tuple[int, int]]:
    """The lines [first, end) of each item of a block sequence: an item runs until the next line
    (not blank, not a comment) indented no deeper than its "- " (YAML's own rule); blank and
    comment lines before what follows belong to what follows."""
    spans = []
    for index in range(count):
        start = doc.line_of((*key_path, index))
        if start is None:
            raise LookupError("an item has no line")
        first = start - 1
        column = len(lines[first]) - len(lines[first].lstrip())
        if not lines[first].lstrip().startswith("-"):
            raise LookupError("not a block sequence")
        end = first + 1
        while end < len(lines):
            line = lines[end]
            stripped = line.lstrip()
            if stripped and not stripped.startswith("#") and len(line) - len(stripped) <= column:
                break
            end += 1
        while end - 1 > first and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1
        spans.append((first, end))
    return spans


def locate(text: str) -> list[Located]:
    """Every question of a bank file with its lines, a scenario's questions after it; empty
    when the file does not parse or is not laid out in blocks (the check says why, or the YAML
    is edited as text)."""
    try:
        doc = load_yaml(text)
    except YamlError:
        return []
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get("questions"), list):
        return []
    lines = text.split("\n")
    questions = doc.data["questions"]
    found = []
    try:
        for index, (first, end) in enumerate(_items(lines, doc, ("questions",), len(questions))):
            data = questions[index]
            found.append(Located((index,), first, end, data))
            subs = data.get("questions") if isinstance(data, dict) else None
            if isinstance(subs, list):
                for sub, (sub_first, sub_end) in enumerate(
                    _items(lines, doc, ("questions", index, "questions"), len(subs))
                ):
                    found.append(Located((index, sub), sub_first, sub_end, subs[sub]))
    except LookupError:
        return []
    return found


def find(text: str, question_id: str) -> Located | None:
    for located in locate(text):
        if located.id == question_id:
            return located
    return None


def form_covers(data: Any) -> bool:
    """Whether a form can edit this question without losing anything written in it."""
    if not isinstance(data, dict) or data.get("type") not in (*FORM_TYPES, "scenario"):
        return False
    return set(data) <= COMMON_KEYS | TYPE_KEYS[data["type"]]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _text(value)


def form_of_question(data: dict[str, Any]) -> QuestionForm:
    """The form for a question as parsed (a type the forms cover: see `form_covers`)."""
    kind = str(data.get("type", "single"))
    form = QuestionForm(
        id=_text(data.get("id")),
        type=kind,
        difficulty=_text(data.get("difficulty")),
        stem=_text(data.get("stem")),
        explanation=_text(data.get("explanation")),
        refs="\n".join(
            f"{ref.get('reg', '')}: {ref['clause']}" if ref.get("clause") else _text(ref.get("reg"))
            for ref in data.get("refs") or []
            if isinstance(ref, dict)
        ),
        tags=", ".join(_text(t) for t in data.get("tags") or []),
        domain=_text(data.get("domain")),
        lang=_text(data.get("lang")),
        use=_text(data.get("use")),
        excludes=", ".join(_text(t) for t in data.get("excludes") or []),
        shuffle=data.get("shuffle", True) is not False,
        scoring=_text(data.get("scoring")),
    )
    if kind in ("single", "multi"):
        form.rows = [
            Row(_text(o.get("key")), _text(o.get("text")), o.get("correct") is True, _text(o.get("feedback")))
            for o in data.get("options") or []
            if isinstance(o, dict)
        ]
    elif kind == "order":
        form.rows = [
            Row(_text(i.get("key")), _text(i.get("text")))
            for i in data.get("items") or []
            if isinstance(i, dict)
        ]
    elif kind == "match":
        form.rows = [
            Row(_text(p.get("left")), _text(p.get("right")))
            for p in data.get("pairs") or []
            if isinstance(p, dict)
        ]
        form.distractors = "\n".join(_text(d) for d in data.get("distractors") or [])
    elif kind == "truefalse":
        form.answer = _text(data.get("answer"))
    elif kind == "numeric":
        found = data.get("answer")
        answer: dict[str, Any] = found if isinstance(found, dict) else {}
        form.value = _number(answer.get("value"))
        form.tolerance = _number(answer.get("tolerance"))
        form.unit = _text(answer.get("unit"))
        listed = answer.get("units")
        units: dict[str, Any] = listed if isinstance(listed, dict) else {}
        form.units = "\n".join(f"{name} = {_number(factor)}" for name, factor in units.items())
    elif kind == "text":
        form.accept = "\n".join(_text(a) for a in data.get("accept") or [])
    return form


def blank_form(kind: str) -> QuestionForm:
    return QuestionForm(type=kind, answer="true" if kind == "truefalse" else "")


# -- writing ------------------------------------------------------------------------------------


def scalar(value: str) -> str:
    """A one-line string as YAML: plain where the strict reader takes it as that very text,
    else a JSON string (a valid YAML double-quoted scalar)."""
    if _PLAIN.match(value) and not _NOT_PLAIN.match(value) and value == value.strip() and ": " not in value:
        return value
    return json.dumps(value, ensure_ascii=False)


def quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def long_text(key: str, value: str, indent: str) -> list[str]:
    """A text that may run over several lines: a literal block when it is safe to write as one."""
    lines = value.split("\n")
    if len(lines) == 1:
        return [f"{indent}{key}: {scalar(value)}"]
    safe = not lines[0][:1].isspace() and all("\t" not in line and line == line.rstrip() for line in lines)
    if not safe:
        return [f"{indent}{key}: {quoted(value)}"]
    return [f"{indent}{key}: |-"] + [f"{indent}  {line}" if line else "" for line in lines]


def _words(text: str) -> list[str]:
    return [part for part in re.split(r"[,\s]+", text.strip()) if part]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


def number_text(value: str, what: str) -> str:
    """A number as the user typed it, checked (YAML reads it as a number again)."""
    try:
        number = float(value)
    except ValueError:
        raise FormError(NOT_NUMBER, {"field": what, "value": value}) from None
    if math.isnan(number) or math.isinf(number):
        raise FormError(NOT_NUMBER, {"field": what, "value": value})
    return str(int(number)) if number.is_integer() and "e" not in value.lower() else repr(number)


def clean(form: QuestionForm) -> QuestionForm:
    """The form with text normalised as a browser may send it (CRLF line ends)."""
    for name in ("stem", "explanation", "refs", "units", "accept", "distractors"):
        setattr(form, name, getattr(form, name).replace("\r\n", "\n").strip())
    return form


def compose_question(form: QuestionForm, indent: str = "  ") -> list[str]:
    """The question's lines, its "- " at `indent`. Raises FormError for a field that is not a
    number where one is needed; everything else is for the check to judge, at its line."""
    form = clean(form)
    pad = indent + "  "
    out = [f"{indent}- id: {scalar(form.id.strip())}", f"{pad}type: {form.type}"]
    if form.difficulty.strip():
        difficulty = number_text(form.difficulty.strip(), "difficulty")
        out.append(f"{pad}difficulty: {difficulty}")
    for key in ("domain", "lang", "use"):
        value = getattr(form, key).strip()
        if value:
            out.append(f"{pad}{key}: {scalar(value)}")
    tags = _words(form.tags)
    if tags:
        out.append(f"{pad}tags: [{', '.join(scalar(t) for t in tags)}]")
    if form.scoring.strip() and form.type in ("multi", "order"):
        out.append(f"{pad}scoring: {scalar(form.scoring.strip())}")
    out.extend(long_text("stem", form.stem, pad))
    out.extend(_answer_lines(form, pad))
    if form.explanation:
        out.extend(long_text("explanation", form.explanation, pad))
    refs = []
    for line in _lines(form.refs):
        code, sep, clause = line.partition(":")
        part = f"reg: {scalar(code.strip())}"
        if sep and clause.strip():
            part += f", clause: {quoted(clause.strip())}"
        refs.append(f"{{{part}}}")
    if refs:
        out.append(f"{pad}refs: [{', '.join(refs)}]")
    excludes = _words(form.excludes)
    if excludes:
        out.append(f"{pad}excludes: [{', '.join(scalar(e) for e in excludes)}]")
    if not form.shuffle:
        out.append(f"{pad}shuffle: false")
    return out


def _answer_lines(form: QuestionForm, pad: str) -> list[str]:
    """What makes a question of its type right: options, answer, accepted texts, items, pairs."""
    out: list[str] = []
    rows = [row for row in form.rows if row.key.strip() or row.text.strip() or row.feedback.strip()]
    if form.type in ("single", "multi"):
        out.append(f"{pad}options:")
        for row in rows:
            parts = [f"key: {scalar(row.key.strip())}", f"text: {quoted(row.text.strip())}"]
            if row.correct:
                parts.append("correct: true")
            if row.feedback.strip():
                parts.append(f"feedback: {quoted(row.feedback.strip())}")
            out.append(f"{pad}  - {{{', '.join(parts)}}}")
    elif form.type == "truefalse":
        out.append(f"{pad}answer: {'false' if form.answer.strip() == 'false' else 'true'}")
    elif form.type == "numeric":
        parts = [f"value: {number_text(form.value.strip(), 'value')}"]
        tolerance = form.tolerance.strip()
        if tolerance.endswith("%"):
            parts.append(f"tolerance: {quoted(tolerance)}")
        elif tolerance:
            parts.append(f"tolerance: {number_text(tolerance, 'tolerance')}")
        if form.unit.strip():
            parts.append(f"unit: {quoted(form.unit.strip())}")
        units = []
        for line in _lines(form.units):
            name, sep, factor = line.rpartition("=")
            if not sep or not name.strip():
                raise FormError(BAD_UNIT, {"value": line})
            units.append(f"{quoted(name.strip())}: {number_text(factor.strip(), 'units')}")
        if units:
            parts.append(f"units: {{{', '.join(units)}}}")
        out.append(f"{pad}answer: {{{', '.join(parts)}}}")
    elif form.type == "text":
        out.append(f"{pad}accept: [{', '.join(quoted(a) for a in _lines(form.accept))}]")
    elif form.type == "order":
        out.append(f"{pad}items:")
        out.extend(
            f"{pad}  - {{key: {scalar(row.key.strip())}, text: {quoted(row.text.strip())}}}" for row in rows
        )
    elif form.type == "match":
        out.append(f"{pad}pairs:")
        out.extend(
            f"{pad}  - {{left: {quoted(row.key.strip())}, right: {quoted(row.text.strip())}}}" for row in rows
        )
        distractors = _lines(form.distractors)
        if distractors:
            out.append(f"{pad}distractors: [{', '.join(quoted(d) for d in distractors)}]")
    return out


# The fields each type writes besides the common ones (the others are not in its form).
TYPE_FIELDS = {
    "single": {"rows"},
    "multi": {"rows", "scoring"},
    "truefalse": {"answer"},
    "numeric": {"value", "tolerance", "unit", "units"},
    "text": {"accept"},
    "order": {"rows", "scoring"},
    "match": {"rows", "distractors"},
    "scenario": set(),
}
_TYPE_ONLY = {"rows", "scoring", "answer", "value", "tolerance", "unit", "units", "accept", "distractors"}


def same_question(a: QuestionForm, b: QuestionForm) -> bool:
    """Whether two forms write the same question (so the one in the file may stay as written)."""

    def norm(form: QuestionForm) -> tuple[object, ...]:
        form = clean(QuestionForm(**{**form.__dict__, "rows": list(form.rows)}))
        ignored = _TYPE_ONLY - TYPE_FIELDS.get(form.type, set())
        rows = [
            (r.key.strip(), r.text.strip(), r.correct, r.feedback.strip())
            for r in form.rows
            if r.key.strip() or r.text.strip() or r.feedback.strip()
        ]
        values = {
            k: v.strip() if isinstance(v, str) else v
            for k, v in form.__dict__.items()
            if k != "rows" and k not in ignored
        }
        values["tags"], values["excludes"] = _words(form.tags), _words(form.excludes)
        for key in ("refs", "units", "accept", "distractors"):
            if key in values:
                values[key] = _lines(form.__dict__[key])
        if form.type == "numeric":  # as numbers: "1080" and "1080.0" are one value
            values["value"] = _maybe_number(form.value)
            values["tolerance"] = _maybe_number(form.tolerance)
        return (
            tuple(sorted((k, str(v)) for k, v in values.items())),
            tuple(rows) if "rows" not in ignored else (),
        )

    return norm(a) == norm(b)


def _maybe_number(value: str) -> object:
    try:
        return float(value.strip())
    except ValueError:
        return value.strip()


def put_question(text: str, form: QuestionForm, question_id: str | None, scenario: str | None = None) -> str:
    """The bank file with the form's question in place of `question_id`, or, with None, added
    after the last question (of the `scenario` when given). A form equal to the question as it
    is keeps the file unchanged. Raises FormError (a field) or LookupError (no such question, or
    the file cannot be edited by lines: edit it as YAML)."""
    located = locate(text)
    lines = text.split("\n")
    if question_id is None:
        siblings = [q for q in located if len(q.path) == 1]
        if scenario is not None:
            group = next((q for q in siblings if q.id == scenario and q.data.get("type") == "scenario"), None)
            if group is None:
                raise LookupError(f"no scenario '{scenario}' in this file")
            siblings = [q for q in located if q.path[:1] == group.path and len(q.path) == 2]
        if not siblings:
            raise LookupError("the file's questions cannot be read: edit it in the YAML")
        last = siblings[-1]
        new = compose_question(form, _indent(lines[last.first]))
        changed = [*lines[: last.end], *new, *lines[last.end :]]
        return _checked(text, "\n".join(changed), (*last.path[:-1], last.path[-1] + 1), added=True)
    found = next((q for q in located if q.id == question_id), None)
    if found is None or not form_covers(found.data):
        raise LookupError(f"no question '{question_id}' in this file that a form edits")
    if same_question(form_of_question(found.data), form):
        return text
    new = compose_question(form, _indent(lines[found.first]))
    if form.type == "scenario":
        # The group's own fields anew, its questions' lines as written.
        subs = [q for q in located if len(q.path) == 2 and q.path[0] == found.path[0]]
        new += [f"{_indent(lines[found.first])}  questions:", *lines[subs[0].first : subs[-1].end]]
    changed = [*lines[: found.first], *new, *lines[found.end :]]
    return _checked(text, "\n".join(changed), found.path, added=False)


GROUP_IDS = N_("id: the group and its first question each need an id of their own.")


def put_group(text: str, group: QuestionForm, first: QuestionForm) -> str:
    """The bank file with a new scenario group (its own fields from `group`, its first question
    from `first`) after the last question. Raises FormError (a field; the two ids empty or the
    same) or LookupError (the file cannot be edited by lines: edit it as YAML)."""
    if not group.id.strip() or not first.id.strip() or group.id.strip() == first.id.strip():
        raise FormError(GROUP_IDS, {})
    siblings = [q for q in locate(text) if len(q.path) == 1]
    if not siblings:
        raise LookupError("the file's questions cannot be read: edit it in the YAML")
    lines, last = text.split("\n"), siblings[-1]
    indent = _indent(lines[last.first])
    new = [
        *compose_question(QuestionForm(**{**group.__dict__, "type": "scenario"}), indent),
        f"{indent}  questions:",
        *compose_question(first, indent + "    "),
    ]
    changed = "\n".join([*lines[: last.end], *new, *lines[last.end :]])
    return _checked(text, changed, (last.path[0] + 1,), added=True, with_questions=True)


def _own(data: Any) -> Any:
    return {k: v for k, v in data.items() if k != "questions"} if isinstance(data, dict) else data


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _checked(
    before: str, after: str, path: tuple[int, ...], *, added: bool, with_questions: bool = False
) -> str:
    """`after`, once read back: every other question as it was (else a layout the line edit did
    not foresee: LookupError, and the author edits the YAML). `with_questions`: the questions of
    a new group at `path` are new too."""

    def others(text: str, skip: tuple[int, ...] | None) -> list[Any]:
        # A scenario without its questions: they are compared one by one.
        return [
            (q.path, _own(q.data))
            for q in locate(text)
            if q.path != skip and not (with_questions and skip is not None and q.path[:1] == skip)
        ]

    old = others(before, None if added else path)
    new = others(after, path)
    if not locate(after) or old != new:
        raise LookupError("the question could not be written in place: edit it in the YAML")
    return after
