"""One entry of a question translation file (`<topic>.<lang>.yaml`, keyed by question id) as a
form, and back: pure text work, no database.

The form shows the source's words beside the translation's fields: the stem, the explanation,
each option's text and feedback and each order item by the source's keys, the match pairs and
distractors in the source's order, more accepted text answers, a numeric question's unit labels
by the source's units. `put_entry` writes the entry in
place of its lines (or after the last entry), every other line of the file as written, and reads
the result back: any other entry changed means a layout the line edit did not foresee
(LookupError: edit the YAML). "Checked against the current source" writes the source's hash as
`source:`, as `trainer translations --stamp` does, so the entry is served again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trainer.content.bank_schemas import Match, Multi, Numeric, Order, Single, TextAnswer
from trainer.content.question_forms import FormError, long_text, quoted, scalar
from trainer.content.translations import source_units
from trainer.content.yamlio import YamlDocument, YamlError, load_yaml
from trainer.i18n import N_

ENTRY_KEYS = {"source", "stem", "explanation", "options", "accept", "items", "pairs", "distractors"}
ENTRY_KEYS |= {"unit_labels"}
LABEL_IS_A_UNIT = N_("Unit label “%(label)s” is another unit of the question: a label names its own unit.")
LABEL_TWICE = N_("Unit label “%(label)s” is given to two units: each unit needs its own label.")


@dataclass
class TranslationForm:
    stem: str = ""
    explanation: str = ""
    options: dict[str, tuple[str, str]] = field(default_factory=dict)  # source key -> (text, feedback)
    items: dict[str, str] = field(default_factory=dict)  # source key -> text
    pairs: list[tuple[str, str]] = field(default_factory=list)  # in the source's order
    distractors: list[str] = field(default_factory=list)
    accept: str = ""  # more accepted answers, one per line
    unit_labels: dict[str, str] = field(default_factory=dict)  # source unit -> label
    source: str = ""  # the hash as written ("" when not stamped)


@dataclass(frozen=True)
class Entry:
    question_id: str
    first: int  # 0-based line of "id:"
    end: int  # 0-based line after its last line
    data: Any


def _doc(text: str) -> YamlDocument | None:
    try:
        doc = load_yaml(text)
    except YamlError:
        return None
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get("questions"), dict):
        return None
    return doc


def entries(text: str) -> list[Entry] | None:
    """Every entry with its lines; None when the file cannot be edited by lines (edit the YAML)."""
    doc = _doc(text)
    if doc is None:
        return None
    lines = text.split("\n")
    found = []
    for qid, data in doc.data["questions"].items():
        start = doc.line_of(("questions", qid))
        if start is None:
            return None
        first = start - 1
        column = len(lines[first]) - len(lines[first].lstrip())
        end = first + 1
        while end < len(lines):
            stripped = lines[end].lstrip()
            if stripped and not stripped.startswith("#") and len(lines[end]) - len(stripped) <= column:
                break
            end += 1
        while end - 1 > first and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1
        found.append(Entry(str(qid), first, end, data))
    return found


def covers(data: Any) -> bool:
    return isinstance(data, dict) and set(data) <= ENTRY_KEYS


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _of(data: dict[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    return value if isinstance(value, kind) else kind()


def form_of_entry(data: dict[str, Any] | None) -> TranslationForm:
    data = data or {}
    options = _of(data, "options", dict)
    items = _of(data, "items", dict)
    pairs = _of(data, "pairs", list)
    labels = _of(data, "unit_labels", dict)
    return TranslationForm(
        stem=_text(data.get("stem")),
        explanation=_text(data.get("explanation")),
        options={
            str(k): (_text(v.get("text")), _text(v.get("feedback")))
            for k, v in options.items()
            if isinstance(v, dict)
        },
        items={str(k): _text(v) for k, v in items.items()},
        pairs=[(_text(p.get("left")), _text(p.get("right"))) for p in pairs if isinstance(p, dict)],
        distractors=[_text(d) for d in data.get("distractors") or []],
        accept="\n".join(_text(a) for a in data.get("accept") or []),
        unit_labels={str(k): _text(v) for k, v in labels.items()},
        source=_text(data.get("source")),
    )


def _clean(value: str) -> str:
    return value.replace("\r\n", "\n").strip()


def compose_entry(question_id: str, form: TranslationForm, model: Any, indent: str) -> list[str]:
    """The entry's lines, its id at `indent`, fields in the source's order and keys (a field
    left empty is left out: the source's words are shown for it)."""
    pad = indent + "  "
    out = [f"{indent}{scalar(question_id)}:"]
    if form.source.strip():
        source = form.source.strip()
        out.append(f"{pad}source: {source if any(c in 'abcdef' for c in source) else quoted(source)}")
    out.extend(long_text("stem", _clean(form.stem), pad))
    if isinstance(model, Single | Multi):
        rows = []
        for option in model.options:
            text, feedback = form.options.get(option.key, ("", ""))
            if _clean(text):
                parts = [f"text: {quoted(_clean(text))}"]
                if _clean(feedback):
                    parts.append(f"feedback: {quoted(_clean(feedback))}")
                rows.append(f"{pad}  {scalar(option.key)}: {{{', '.join(parts)}}}")
        if rows:
            out += [f"{pad}options:", *rows]
    elif isinstance(model, Order):
        rows = [
            f"{pad}  {scalar(item.key)}: {quoted(_clean(form.items.get(item.key, '')))}"
            for item in model.items
            if _clean(form.items.get(item.key, ""))
        ]
        if rows:
            out += [f"{pad}items:", *rows]
    elif isinstance(model, Match):
        pairs = [(_clean(left), _clean(right)) for left, right in form.pairs]
        if any(left or right for left, right in pairs):
            out.append(f"{pad}pairs:")
            out += [f"{pad}  - {{left: {quoted(left)}, right: {quoted(right)}}}" for left, right in pairs]
        distractors = [_clean(d) for d in form.distractors]
        if any(distractors):
            out.append(f"{pad}distractors: [{', '.join(quoted(d) for d in distractors)}]")
    elif isinstance(model, TextAnswer):
        accept = [line.strip() for line in _clean(form.accept).split("\n") if line.strip()]
        if accept:
            out.append(f"{pad}accept: [{', '.join(quoted(a) for a in accept)}]")
    elif isinstance(model, Numeric):
        labels = _labels(form, model)
        if labels:
            out.append(f"{pad}unit_labels: {{{', '.join(f'{quoted(u)}: {quoted(v)}' for u, v in labels)}}}")
    explanation = _clean(form.explanation)
    if explanation:
        out.extend(long_text("explanation", explanation, pad))
    return out


def _labels(form: TranslationForm, model: Numeric) -> list[tuple[str, str]]:
    """The unit labels given, in the source's order of units. Raises FormError for a label that
    is another of the source's units or is given twice (answers in either would be ambiguous)."""
    units = source_units(model)
    labels = [(unit, _clean(form.unit_labels.get(unit, ""))) for unit in units]
    labels = [(unit, label) for unit, label in labels if label]
    seen: set[str] = set()
    for unit, label in labels:
        if label != unit and label in units:
            raise FormError(LABEL_IS_A_UNIT, {"label": label})
        if label in seen:
            raise FormError(LABEL_TWICE, {"label": label})
        seen.add(label)
    return labels


def _same(a: TranslationForm, b: TranslationForm) -> bool:
    def norm(form: TranslationForm) -> tuple[object, ...]:
        return (
            _clean(form.stem),
            _clean(form.explanation),
            sorted((k, _clean(t), _clean(f)) for k, (t, f) in form.options.items() if _clean(t) or _clean(f)),
            sorted((k, _clean(v)) for k, v in form.items.items() if _clean(v)),
            [(_clean(left), _clean(right)) for left, right in form.pairs if _clean(left) or _clean(right)],
            [_clean(d) for d in form.distractors if _clean(d)],
            [line.strip() for line in _clean(form.accept).split("\n") if line.strip()],
            sorted((k, _clean(v)) for k, v in form.unit_labels.items() if _clean(v)),
            form.source.strip(),
        )

    return norm(a) == norm(b)


def put_entry(text: str, question_id: str, form: TranslationForm, model: Any) -> str:
    """The translation file with the entry for `question_id` written from the form (added after
    the last entry when there is none). Raises FormError for a field that cannot be written,
    LookupError when it cannot be done by lines."""
    found = entries(text)
    lines = text.split("\n")
    if not found:
        return _first_entry(text, question_id, form, model)
    entry = next((e for e in found if e.question_id == question_id), None)
    if entry is not None and not covers(entry.data):
        raise LookupError("the entry has keys the form does not know: edit it in the YAML")
    if entry is not None and _same(form_of_entry(entry.data), form):
        return text
    at = entry or found[-1]
    indent = lines[at.first][: len(lines[at.first]) - len(lines[at.first].lstrip())]
    new = compose_entry(question_id, form, model, indent)
    if entry is not None:
        changed = [*lines[: entry.first], *new, *lines[entry.end :]]
    else:
        changed = [*lines[: at.end], "", *new, *lines[at.end :]]
    result = "\n".join(changed)
    before = {e.question_id: e.data for e in found if e.question_id != question_id}
    after = entries(result)
    if after is None or {e.question_id: e.data for e in after if e.question_id != question_id} != before:
        raise LookupError("the entry could not be written in place: edit it in the YAML")
    return result


def _first_entry(text: str, question_id: str, form: TranslationForm, model: Any) -> str:
    """A file with no entry yet (`questions:` empty): the entry goes under that line."""
    try:
        data = load_yaml(text).data
    except YamlError:
        data = None
    if not isinstance(data, dict) or data.get("questions") not in (None, {}):
        raise LookupError("the translation file's entries cannot be read: edit it in the YAML")
    lines = text.split("\n")
    at = next(
        (n for n, line in enumerate(lines) if line.split("#")[0].strip() in ("questions:", "questions: {}")),
        None,
    )
    if at is None:
        raise LookupError("the translation file has no `questions:` line: edit it in the YAML")
    result = "\n".join(
        [*lines[:at], "questions:", *compose_entry(question_id, form, model, "  "), *lines[at + 1 :]]
    )
    after = entries(result)
    if after is None or [e.question_id for e in after] != [question_id]:
        raise LookupError("the entry could not be written in place: edit it in the YAML")
    return result
