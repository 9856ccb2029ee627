"""A course's course.yaml as a form, and back: module order, exam policy, blueprint rows. Pure
text work, no database.

`compose_course` writes back only what changed: the `modules:` line when the order changed, the
`certification:` block (in one plain layout, its comments kept beside the same fields and rows)
when a policy field or a blueprint row changed, the `title:` or `summary:` line when it changed;
every other line of the file, and all of these when unchanged, stay exactly as written.

`put_translation` writes one language's entry under `translations:` (title, summary,
certification title) as one line in place of its lines, every other line as written; a form
sent back unchanged keeps the file byte for byte, and one left empty removes the entry. (A
module's translated title is in its translated module file, edited as a module.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from trainer.content.question_forms import FormError, number_text, scalar
from trainer.content.yamlio import YamlError, load_yaml
from trainer.i18n import N_

REVIEWS = ("score", "by_tag", "after_submit", "after_deadline", "never")
MODES = ("anytime", "sittings")
REQUIRES = ("all-modules", "none")
SPARE_ROWS = 2
# Policy fields as written under `certification:` (top) and `certification: exam:`.
TOP_FIELDS = ("validity_months", "renewal_window_days", "grace_days")
EXAM_FIELDS = ("time_limit_minutes", "pass_mark", "max_attempts", "retake_after_hours")
# Every key the two blocks may hold (trainer.content.schemas): a block with another key (a typo
# the check reports) is not rewritten by the form, which would drop it.
CERTIFICATION_KEYS = {"title", "requires", "exam", *TOP_FIELDS}
EXAM_KEYS = {"review", "mode", "blueprint", *EXAM_FIELDS}


@dataclass
class BlueprintRow:
    tags: str = ""  # separated by commas
    low: str = ""  # difficulty range; both empty: any
    high: str = ""
    count: str = ""


@dataclass
class CourseForm:
    title: str = ""
    summary: str = ""
    modules: str = ""  # one module id per line, in reading order
    has_certification: bool = False  # and the form covers every key of it
    requires: str = ""
    review: str = ""
    mode: str = ""
    fields: dict[str, str] = field(default_factory=dict)  # TOP_FIELDS and EXAM_FIELDS, as typed
    rows: list[BlueprintRow] = field(default_factory=list)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _data(text: str) -> dict[str, Any] | None:
    try:
        data = load_yaml(text).data
    except YamlError:
        return None
    return data if isinstance(data, dict) else None


def form_of_course(text: str) -> CourseForm | None:
    """The form for a course file; None when it does not parse (edit it in the YAML)."""
    data = _data(text)
    if data is None:
        return None
    modules = data.get("modules")
    form = CourseForm(
        title=_text(data.get("title")),
        summary=_text(data.get("summary")),
        modules="\n".join(_text(m) for m in modules) if isinstance(modules, list) else "",
    )
    certification = data.get("certification")
    if not isinstance(certification, dict):
        return form
    exam = certification.get("exam") if isinstance(certification.get("exam"), dict) else {}
    assert isinstance(exam, dict)
    if not set(certification) <= CERTIFICATION_KEYS or not set(exam) <= EXAM_KEYS:
        return form
    form.has_certification = True
    form.requires = _text(certification.get("requires"))
    form.review = _text(exam.get("review"))
    form.mode = _text(exam.get("mode"))
    form.fields = {key: _text(certification.get(key)) for key in TOP_FIELDS}
    form.fields |= {key: _text(exam.get(key)) for key in EXAM_FIELDS}
    for row in exam.get("blueprint") or []:
        if not isinstance(row, dict):
            continue
        difficulty = row.get("difficulty") if isinstance(row.get("difficulty"), list) else []
        assert isinstance(difficulty, list)
        form.rows.append(
            BlueprintRow(
                ", ".join(_text(t) for t in row.get("tags") or []),
                _text(difficulty[0]) if len(difficulty) > 0 else "",
                _text(difficulty[1]) if len(difficulty) > 1 else "",
                _text(row.get("count")),
            )
        )
    return form


def _words(text: str) -> list[str]:
    return [part for part in re.split(r"[,\s]+", text.strip()) if part]


def _norm(form: CourseForm) -> tuple[object, ...]:
    rows = [
        (_words(r.tags), r.low.strip(), r.high.strip(), r.count.strip())
        for r in form.rows
        if r.tags.strip() or r.low.strip() or r.high.strip() or r.count.strip()
    ]
    fields = {k: v.strip() for k, v in form.fields.items()}
    return (form.requires.strip(), form.review.strip(), form.mode.strip(), sorted(fields.items()), rows)


def _block(lines: list[str], key: str) -> tuple[int, int] | None:
    """The lines [first, end) of a top-level key and its value (trailing blank and comment
    lines belong to what follows)."""
    for first, line in enumerate(lines):
        if line.startswith(f"{key}:"):
            end = first + 1
            while end < len(lines) and (
                not lines[end] or lines[end][0].isspace() or lines[end].startswith("#")
            ):
                end += 1
            while end - 1 > first and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
                end -= 1
            return first, end
    return None


def _replace(lines: list[str], key: str, new: list[str]) -> list[str]:
    found = _block(lines, key)
    if found is None:
        return [*lines, *new]
    return [*lines[: found[0]], *new, *lines[found[1] :]]


def _certification_lines(form: CourseForm, title: Any) -> list[str]:
    def number(key: str) -> str | None:
        value = form.fields.get(key, "").strip()
        return number_text(value, key) if value else None

    out = ["certification:", f"  title: {scalar(_text(title))}"]
    if form.requires.strip():
        out.append(f"  requires: {scalar(form.requires.strip())}")
    out.append("  exam:")
    for key in EXAM_FIELDS:
        value = number(key)
        if value is not None:
            out.append(f"    {key}: {value}")
    if form.review.strip():
        out.append(f"    review: {scalar(form.review.strip())}")
    if form.mode.strip():
        out.append(f"    mode: {scalar(form.mode.strip())}")
    out.append("    blueprint:")
    for row in form.rows:
        if not (row.tags.strip() or row.low.strip() or row.high.strip() or row.count.strip()):
            continue
        parts = []
        tags = _words(row.tags)
        if tags:
            parts.append(f"tags: [{', '.join(scalar(t) for t in tags)}]")
        if row.low.strip() or row.high.strip():
            low = number_text(row.low.strip() or row.high.strip(), "difficulty")
            high = number_text(row.high.strip() or row.low.strip(), "difficulty")
            parts.append(f"difficulty: [{low}, {high}]")
        parts.append(f"count: {number_text(row.count.strip(), 'count') if row.count.strip() else 0}")
        out.append(f"      - {{{', '.join(parts)}}}")
    for key in TOP_FIELDS:
        value = number(key)
        if value is not None:
            out.append(f"  {key}: {value}")
    return out


def compose_course(form: CourseForm, original: str) -> str:
    """The course file with the form's changes; unchanged blocks as written. Raises FormError
    for a number field that is not a number, LookupError when the file does not parse."""
    data = _data(original)
    current = form_of_course(original)
    if data is None or current is None:
        raise LookupError("the course file cannot be read: edit it in the YAML")
    lines = original.split("\n")
    for key in ("title", "summary"):  # one line each (a summary's line breaks become spaces)
        value = " ".join(getattr(form, key).split())
        if value != " ".join(getattr(current, key).split()):
            lines = _replace(lines, key, [f"{key}: {scalar(value)}"])
    modules = _words(form.modules)
    if modules != _words(current.modules):
        lines = _replace(lines, "modules", [f"modules: [{', '.join(scalar(m) for m in modules)}]"])
    if current.has_certification and _norm(form) != _norm(current):
        certification = data.get("certification")
        title = certification.get("title") if isinstance(certification, dict) else ""
        found = _block(lines, "certification")
        old = lines[found[0] : found[1]] if found is not None else []
        lines = _replace(lines, "certification", _with_comments(old, _certification_lines(form, title)))
    return "\n".join(lines)


def _trailing_comment(line: str) -> int | None:
    """Where a comment at the end of a YAML line begins (its leading spaces), outside quotes."""
    quote = None
    for index, char in enumerate(line):
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and index > 0 and line[index - 1] in " \t":
            return len(line[:index].rstrip())
    return None


def _paths(lines: list[str]) -> list[str | None]:
    """Each line's place in the block ("certification.exam.pass_mark", ".blueprint[2]"), None
    for a blank or comment line; a list item is counted under its parent."""
    stack: list[tuple[int, str]] = []
    counts: dict[str, int] = {}
    found: list[str | None] = []
    for line in lines:
        body = line.strip()
        if not body or body.startswith("#"):
            found.append(None)
            continue
        item = body.startswith("-")
        indent = len(line) - len(line.lstrip()) + (1 if item else 0)  # "- " may sit under its key
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1] if stack else ""
        if item:
            counts[parent] = counts.get(parent, 0) + 1
            path = f"{parent}[{counts[parent] - 1}]"
        else:
            path = f"{parent}.{body.split(':', 1)[0].strip()}"
        stack.append((indent, path))
        found.append(path)
    return found


def _with_comments(old: list[str], new: list[str]) -> list[str]:
    """The block's new lines with the old block's comments where they were: a comment at the end
    of a line on the line of the same place, comment lines before the same line as before (before
    the next line that is still there, or at the end)."""
    new_paths = _paths(new)
    trailing: dict[str, str] = {}
    before: dict[str, list[str]] = {}
    waiting: list[str] = []
    for line, path in zip(old, _paths(old), strict=True):
        if path is None:
            if line.strip():
                waiting.append(line)
            continue
        at = _trailing_comment(line)
        if at is not None:
            trailing[path] = line[at:]
        if path in new_paths:
            before[path], waiting = before.get(path, []) + waiting, []
    out = []
    for line, path in zip(new, new_paths, strict=True):
        if path is not None:
            out.extend(before.get(path, []))
        out.append(line + trailing.get(path, "") if path is not None else line)
    return out + waiting


# -- one language's translation of the course -----------------------------------------------------

TRANSLATION_FIELDS = ("title", "summary", "certification_title")
TITLE_NEEDED = N_("title: a translation needs its title (leave every field empty to remove it).")


def translation_of(text: str, lang: str) -> dict[str, str] | None:
    """The translation's fields as written (empty ones for a language not translated yet); None
    when the file does not parse or the entry holds what the form does not (edit the YAML)."""
    data = _data(text)
    if data is None:
        return None
    found = data.get("translations", {})
    entry = found.get(lang, {}) if isinstance(found, dict) else None
    if not isinstance(entry, dict) or not set(entry) <= set(TRANSLATION_FIELDS):
        return None
    return {key: _text(entry.get(key)) for key in TRANSLATION_FIELDS}


def source_words(text: str) -> tuple[str, dict[str, str]] | None:
    """The course's language and its own words the translation's fields translate."""
    data = _data(text)
    if data is None:
        return None
    certification = data.get("certification")
    title = certification.get("title") if isinstance(certification, dict) else None
    words = {"title": data.get("title"), "summary": data.get("summary"), "certification_title": title}
    return _text(data.get("lang")), {key: _text(value) for key, value in words.items()}


def _one_line(value: str) -> str:
    return " ".join(value.split())


def put_translation(text: str, lang: str, fields: dict[str, str]) -> str:
    """The course file with `lang`'s entry written from `fields` (one flow-mapping line under
    `translations:`, added at the end of that block or as a new block before `certification:`).
    Raises FormError (a summary without a title), LookupError when it cannot be done by lines."""
    current = translation_of(text, lang)
    data = _data(text)
    if current is None or data is None:
        raise LookupError("the course's translations cannot be read: edit them in the YAML")
    wanted = {key: _one_line(fields.get(key, "")) for key in TRANSLATION_FIELDS}
    if wanted == {key: _one_line(value) for key, value in current.items()}:
        return text
    if any(wanted.values()) and not wanted["title"]:
        raise FormError(TITLE_NEEDED, {})
    parts = [f"{key}: {scalar(value)}" for key, value in wanted.items() if value]
    new = [f"  {scalar(lang)}: {{{', '.join(parts)}}}"] if parts else []
    lines = text.split("\n")
    block = _block(lines, "translations")
    others = {k: v for k, v in (data.get("translations") or {}).items() if k != lang}
    if block is None:
        at = _block(lines, "certification")
        at_line = at[0] if at is not None else len(lines) - (1 if lines[-1] == "" else 0)
        lines = [*lines[:at_line], "translations:", *new, *lines[at_line:]]
    else:
        first, end = block
        if lines[first].split("#")[0].strip() != "translations:":
            raise LookupError("the translations are not written one language a line: edit them in the YAML")
        start, stop = _entries(lines, first + 1, end).get(lang, (end, end))
        body = [*lines[first:start], *new, *lines[stop:end]] if others or new else []
        lines = [*lines[:first], *body, *lines[end:]]
    result = "\n".join(lines)
    translated = {**others, **({lang: {k: v for k, v in wanted.items() if v}} if new else {})}
    expected = {k: v for k, v in data.items() if k != "translations"}
    if translated:
        expected["translations"] = translated
    if _data(result) != expected:
        raise LookupError("the translation could not be written in place: edit it in the YAML")
    return result


def _entries(lines: list[str], first: int, end: int) -> dict[str, tuple[int, int]]:
    """Each language's lines [start, stop) in the block's body (keys at its first key's indent)."""
    keys = [n for n in range(first, end) if lines[n].strip() and not lines[n].lstrip().startswith("#")]
    column = len(lines[keys[0]]) - len(lines[keys[0]].lstrip()) if keys else 0
    starts = [n for n in keys if len(lines[n]) - len(lines[n].lstrip()) == column]
    found: dict[str, tuple[int, int]] = {}
    for index, start in enumerate(starts):
        stop = starts[index + 1] if index + 1 < len(starts) else end
        found[lines[start].strip().split(":", 1)[0].strip().strip("\"'")] = (start, stop)
    return found


__all__ = [
    "BlueprintRow",
    "CourseForm",
    "FormError",
    "compose_course",
    "form_of_course",
    "put_translation",
    "source_words",
    "translation_of",
]
