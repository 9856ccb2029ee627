"""Moodle GIFT text -> question-bank questions (the YAML of formats.md, question_bank/).

Pure: text in, dicts and YAML out; no files, no database. Every GIFT question either becomes a
question that validates with `bank_schemas.Question`, or is reported in `skipped` with the line it
starts on and the reason; nothing is dropped silently and no input makes `convert` raise.

What maps to what:

- `::Name::` -> `id` (sanitised to the id pattern; unnamed questions are GIFT-0001, GIFT-0002, ...
  in order; a repeated id gets -2, -3, ...). `$CATEGORY: a/b/c` -> `tags` [a, b, c] (slugs) on the
  questions that follow; Moodle's `$course$`-style context and its root `top` are left out.
- `{=right ~wrong}` -> single; several right answers, or `~%50%` weights -> multi (a positive
  weight is a correct option; `scoring: partial` when a positive weight is below 100).
  `#feedback` -> the option's `feedback`.
- `{T}` `{TRUE}` `{F}` `{FALSE}` (any case) -> truefalse. `{=a =b}` -> text (`accept` holds the full-credit
  answers). `{#5:0.1}`, `{#1..5}`, `{#=5:0 =%50%6:1}` -> numeric (the full-credit answer).
  `{=a -> b =c -> d}` -> match (`= -> x` is a distractor).
- `####text` (general feedback) -> `explanation`. A true/false question's feedback for the wrong
  answer is added to it; other per-answer feedback exists only on choice options.
- Escapes `\\~ \\= \\# \\{ \\} \\: \\\\` and `\\n`; `[markdown]` `[html]` `[plain]` `[moodle]`
  prefixes are removed, and `[html]` text is reduced to plain text.

Skipped, with a reason: essays `{}`, descriptions (no answer block), missing-word questions (text
after the answer block), and anything else that does not parse or does not fit the bank format.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser
from typing import Any, get_args

import yaml
from pydantic import TypeAdapter, ValidationError

from trainer.config import Language
from trainer.content.bank_schemas import BankFile, Question
from trainer.content.schemas import DOMAINS

DIFFICULTY = 3
FORMATS = ("markdown", "html", "plain", "moodle")
MISSING_WORD = "missing-word questions are not supported; rewrite the stem to end with the answer"
ESSAY = "essay questions (an empty answer block) are not supported"
DESCRIPTION = "a description (text with no answer block) is not a question"

_QUESTION: TypeAdapter[Any] = TypeAdapter(Question)
_ID_MAX = 64
_SLUG_MAX = 80
_MAX_OPTIONS = {"single": 10, "multi": 12}
_MAX_PAIRS = 12
_KEYS = "abcdefghijklmnopqrstuvwxyz"

# Escaped characters become private-use placeholders while the structure is parsed, so that
# `\{` or `\~` is never taken for markup; they are turned back into text at the end.
_ESCAPES = {"~": "\ue000", "=": "\ue001", "#": "\ue002", "{": "\ue003", "}": "\ue004", ":": "\ue005"}
_NEWLINE = "\ue006"
_UNESCAPE = str.maketrans({placeholder: char for char, placeholder in _ESCAPES.items()} | {_NEWLINE: "\n"})

_WEIGHT = re.compile(r"^%\s*(-?\d+(?:\.\d+)?)\s*%")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_FORMAT = re.compile(rf"^\[({'|'.join(FORMATS)})\]", re.IGNORECASE)
_CATEGORY = "$CATEGORY:"


@dataclass(frozen=True)
class Skipped:
    """A GIFT question that was not converted: where it starts (1-based), its name, why."""

    line: int
    name: str | None
    reason: str


@dataclass(frozen=True)
class GiftResult:
    questions: list[dict[str, Any]]
    skipped: list[Skipped]
    lines: list[int] = field(default_factory=list, compare=False)  # where each question starts


class _SkipError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def convert(text: str, *, domain: str | None = None) -> GiftResult:
    """Convert a GIFT file's text. `domain`, when given, is set on every question."""
    if domain is not None and domain not in DOMAINS:
        raise ValueError(f"unknown domain '{domain}': one of {', '.join(DOMAINS)}")
    questions: list[dict[str, Any]] = []
    starts: list[int] = []
    skipped: list[Skipped] = []
    used: set[str] = set()
    unnamed = 0
    tags: list[str] = []
    for lines in _blocks(text):
        block = lines
        while block and block[0][1].lstrip().startswith(_CATEGORY):
            tags = category_tags(block[0][1].lstrip()[len(_CATEGORY) :])
            block = block[1:]
        if not block:
            continue
        line = block[0][0]
        name: str | None = None
        try:
            name, source = _split_name(_escape("\n".join(content for _, content in block)).strip())
            body = _parse(source)
        except _SkipError as skip:
            skipped.append(Skipped(line, name, skip.reason))
            continue
        base = sanitise_id(name) if name else ""
        candidate = _unique(base or f"GIFT-{unnamed + 1:04d}", used)
        question: dict[str, Any] = {"id": candidate, "type": body.pop("type"), "difficulty": DIFFICULTY}
        if domain is not None:
            question["domain"] = domain
        if tags:
            question["tags"] = list(tags)
        question |= body
        problem = _validation_problem(question)
        if problem:
            skipped.append(Skipped(line, name, problem))
            continue
        used.add(candidate)
        if not base:
            unnamed += 1
        questions.append(question)
        starts.append(line)
    return GiftResult(questions=questions, skipped=skipped, lines=starts)


def to_yaml(result: GiftResult, *, domain: str | None, lang: str = "en") -> str:
    """A complete bank file: `sample: false`, `defaults: {domain, lang}` and the questions.

    A question's own `domain` is left out where it is the file's default."""
    if domain is not None and domain not in DOMAINS:
        raise ValueError(f"unknown domain '{domain}': one of {', '.join(DOMAINS)}")
    if lang not in get_args(Language):
        raise ValueError(f"unknown language '{lang}': one of {', '.join(get_args(Language))}")
    if not result.questions:
        raise ValueError("there are no converted questions to write; a bank file needs at least one")
    defaults: dict[str, Any] = {}
    if domain is not None:
        defaults["domain"] = domain
    defaults["lang"] = lang
    questions = [
        {key: value for key, value in q.items() if not (key == "domain" and value == domain)}
        for q in result.questions
    ]
    document = {"sample": False, "defaults": defaults, "questions": questions}
    BankFile.model_validate(document)  # what we write must load
    return yaml.safe_dump(_blocks_for_lines(document), allow_unicode=True, sort_keys=False, width=100)


class _Lines(str):
    """Text with line breaks, written in YAML's `|` block style like hand-written bank files."""

    __slots__ = ()


def _represent_lines(dumper: yaml.SafeDumper, value: _Lines) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")


# Only this module's own type is registered, so no other dump changes.
yaml.SafeDumper.add_representer(_Lines, _represent_lines)


def _blocks_for_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _blocks_for_lines(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_blocks_for_lines(item) for item in value]
    if isinstance(value, str) and "\n" in value:
        return _Lines(value)
    return value


# --- names, ids and tags ---------------------------------------------------------------------


def sanitise_id(name: str) -> str:
    """A question name as an id (`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`), or "" if nothing is left."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", ascii_name)
    cleaned = re.sub(r"^[^A-Za-z0-9]+", "", cleaned)
    return cleaned[:_ID_MAX].rstrip("-_.")


def slugify(text: str) -> str:
    """Lowercase ASCII words joined by hyphens (`^[a-z0-9]+(?:-[a-z0-9]+)*$`), or ""."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:_SLUG_MAX].rstrip("-")


def category_tags(path: str) -> list[str]:
    """`$course$/top/Coal Mines/Gas` -> ["coal-mines", "gas"]. A `//` is a slash inside a name;
    segments with nothing left after slugging (all non-Latin text, say) give no tag."""
    segments = [part.replace("//", "/").strip() for part in re.split(r"(?<!/)/(?!/)", path.strip())]
    segments = [s for s in segments if s and not (s.startswith("$") and s.endswith("$"))]
    if segments and segments[0].lower() == "top":
        segments = segments[1:]
    return list(dict.fromkeys(slug for slug in map(slugify, segments) if slug))


def _unique(base: str, used: set[str]) -> str:
    candidate, number = base, 1
    while candidate in used:
        number += 1
        suffix = f"-{number}"
        candidate = base[: _ID_MAX - len(suffix)] + suffix
    return candidate


# --- splitting the file ----------------------------------------------------------------------


def _blocks(text: str) -> list[list[tuple[int, str]]]:
    """Questions are separated by blank lines; `//` comment lines are dropped (not separators)."""
    lines = re.split(r"\r\n|\r|\n", text.removeprefix("\ufeff"))
    blocks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            if current:
                blocks.append(current)
                current = []
        elif not line.lstrip().startswith("//"):
            current.append((number, line))
    if current:
        blocks.append(current)
    return blocks


def _escape(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        following = text[index + 1] if index + 1 < len(text) else ""
        if char == "\\" and following == "\\":
            out.append("\\")
            index += 2
        elif char == "\\" and following in _ESCAPES:
            out.append(_ESCAPES[following])
            index += 2
        elif char == "\\" and following == "n":
            out.append(_NEWLINE)
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _split_name(source: str) -> tuple[str | None, str]:
    if not source.startswith("::"):
        return None, source
    end = source.find("::", 2)
    if end == -1:
        raise _SkipError("the question name is not closed with ::")
    name = " ".join(source[2:end].translate(_UNESCAPE).split())
    return name or None, source[end + 2 :].strip()


# --- one question ----------------------------------------------------------------------------


def _parse(source: str) -> dict[str, Any]:
    """The type-specific fields of one question (escaped text, name removed), or `_SkipError`."""
    start, end = source.find("{"), source.find("}")
    if start == -1 and end == -1:
        raise _SkipError(DESCRIPTION)
    if end == -1:
        raise _SkipError("the answer block { is not closed with }")
    if start == -1 or end < start:
        raise _SkipError("a } comes before any { (write \\} for a literal brace)")
    inner = source[start + 1 : end]
    if "{" in inner:
        raise _SkipError("a { inside the answer block (write \\{ for a literal brace)")
    before, after = source[:start].strip(), source[end + 1 :].strip()

    answers, general = inner, ""
    separator = inner.rfind("####")
    if separator != -1:
        answers, general = inner[:separator], inner[separator + 4 :]
    answers = answers.strip()
    if not answers:
        raise _SkipError(ESSAY)
    if after:
        raise _SkipError(MISSING_WORD)

    fmt, stem_source = _split_format(before, "moodle")
    stem = _clean(stem_source, fmt)
    if not stem:
        raise _SkipError("the question has no text")
    explanation = _text(general, fmt)

    if answers.startswith("#"):
        body = _numeric(answers[1:])
    elif "~" in answers:
        body = _choice(answers, fmt)
    elif "=" in answers and "->" in answers:
        body = _match(answers, fmt)
    elif answers.split("#", 1)[0].strip().upper() in ("T", "TRUE", "F", "FALSE"):
        body = _truefalse(answers, fmt)
        explanation = "\n\n".join(dict.fromkeys(t for t in (explanation, body.pop("_wrong")) if t))
    elif answers.startswith("="):
        body = _short(answers, fmt)
    else:
        raise _SkipError("cannot tell the question type: answers start with = (right) or ~ (wrong)")
    result: dict[str, Any] = {"type": body.pop("type")}
    if "scoring" in body:
        result["scoring"] = body.pop("scoring")
    result["stem"] = stem
    result |= body
    if explanation:
        result["explanation"] = explanation
    return result


def _marked(answers: str, markers: str) -> list[tuple[str, str]]:
    """Split on the answer markers: "=a ~b" -> [("=", "a "), ("~", "b")]."""
    parts = re.split(f"([{re.escape(markers)}])", answers)
    if parts[0].strip():
        lead = _short_text(parts[0])
        raise _SkipError(f"text before the first answer: {lead!r} (answers start with = or ~)")
    return [(parts[i], parts[i + 1]) for i in range(1, len(parts), 2)]


def _weight(text: str, default: int) -> tuple[Decimal, str]:
    """A leading `%50%` weight (percent), and the text after it."""
    stripped = text.lstrip()
    found = _WEIGHT.match(stripped)
    if not found:
        return Decimal(default), text
    weight = Decimal(found.group(1))
    if not -100 <= weight <= 100:
        raise _SkipError(f"answer weight {found.group(0)} is outside -100%..100%")
    return weight, stripped[found.end() :]


def _choice(answers: str, fmt: str) -> dict[str, Any]:
    options: list[dict[str, Any]] = []
    weights: list[Decimal] = []
    for marker, raw in _marked(answers, "=~"):
        weight, rest = _weight(raw, 100 if marker == "=" else 0)
        text, _, feedback = rest.partition("#")
        option: dict[str, Any] = {"key": "", "text": _text(text, fmt)}
        if weight > 0:
            option["correct"] = True
        if feedback.strip() and (fb := _text(feedback, fmt)):
            option["feedback"] = fb
        options.append(option)
        weights.append(weight)
    positive = [w for w in weights if w > 0]
    if not positive:
        raise _SkipError("no answer is right: mark one with = or give it a positive %weight%")
    if len(options) < 2:
        raise _SkipError("a choice question needs at least 2 answers")
    kind = "single" if positive == [Decimal(100)] else "multi"
    if len(options) > _MAX_OPTIONS[kind]:
        raise _SkipError(f"{len(options)} answers; a {kind} question takes at most {_MAX_OPTIONS[kind]}")
    for key, option in zip(_KEYS, options, strict=False):
        option["key"] = key
    body: dict[str, Any] = {"type": kind}
    if kind == "multi" and any(w < 100 for w in positive):
        body["scoring"] = "partial"
    body["options"] = options
    return body


def _truefalse(answers: str, fmt: str) -> dict[str, Any]:
    word, _, rest = answers.partition("#")
    wrong, _, _right = rest.partition("#")  # Moodle: {T#feedback if wrong#feedback if right}
    return {
        "type": "truefalse",
        "answer": word.strip().upper() in ("T", "TRUE"),
        "_wrong": _text(wrong, fmt),
    }


def _short(answers: str, fmt: str) -> dict[str, Any]:
    accept: list[str] = []
    for _, raw in _marked(answers, "="):
        weight, rest = _weight(raw, 100)
        text = _text(rest.partition("#")[0], fmt)
        if weight == 100 and text:
            accept.append(text)
    if not accept:
        raise _SkipError("no short answer has full credit (=answer or =%100%answer)")
    return {"type": "text", "accept": list(dict.fromkeys(accept))}


def _match(answers: str, fmt: str) -> dict[str, Any]:
    pairs: list[dict[str, str]] = []
    distractors: list[str] = []
    for _, raw in _marked(answers, "="):
        if "->" not in raw:
            raise _SkipError(f"a matching answer has no '->': {_short_text(raw)!r}")
        left, _, right = raw.partition("->")
        left_text, right_text = _text(left, fmt), _clean(right, "plain")
        if not right_text:
            raise _SkipError(f"a matching answer has nothing after '->': {_short_text(raw)!r}")
        if left_text:
            pairs.append({"left": left_text, "right": right_text})
        else:
            distractors.append(right_text)
    if len(pairs) < 2:
        raise _SkipError("a matching question needs at least 2 pairs")
    if len(pairs) > _MAX_PAIRS:
        raise _SkipError(f"{len(pairs)} pairs; a matching question takes at most {_MAX_PAIRS}")
    body: dict[str, Any] = {"type": "match", "pairs": pairs}
    if distractors:
        body["distractors"] = distractors
    return body


def _numeric(answers: str) -> dict[str, Any]:
    answers = answers.split("~", 1)[0]  # `~#feedback`: feedback for any other answer
    parts = answers.split("=")
    candidates = list(parts[1:])
    if parts[0].strip():
        candidates.insert(0, parts[0])
    full: list[str] = []
    for raw in candidates:
        weight, rest = _weight(raw, 100)
        if weight == 100:
            full.append(rest.partition("#")[0].translate(_UNESCAPE).strip())
    if not full:
        raise _SkipError("no numeric answer has full credit")
    if len(full) > 1:
        raise _SkipError(f"{len(full)} numeric answers have full credit; a numeric question takes one value")
    value, tolerance = _number_and_tolerance(full[0])
    return {"type": "numeric", "answer": {"value": _plain(value), "tolerance": _plain(tolerance)}}


def _number_and_tolerance(text: str) -> tuple[Decimal, Decimal]:
    if ".." in text:
        low_text, _, high_text = text.partition("..")
        low, high = _decimal(low_text), _decimal(high_text)
        if low > high:
            raise _SkipError(f"numeric range {text!r} runs backwards")
        return (low + high) / 2, (high - low) / 2
    if ":" in text:
        value_text, _, tolerance_text = text.partition(":")
        value, tolerance = _decimal(value_text), _decimal(tolerance_text)
        if tolerance < 0:
            raise _SkipError(f"numeric tolerance {tolerance_text.strip()!r} is negative")
        return value, tolerance
    return _decimal(text), Decimal(0)


def _decimal(text: str) -> Decimal:
    cleaned = text.strip()
    if not _NUMBER.match(cleaned):
        raise _SkipError(f"{cleaned!r} is not a number")
    try:
        number = Decimal(cleaned)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already rules this out
        raise _SkipError(f"{cleaned!r} is not a number") from exc
    if not number.is_finite() or abs(number) > Decimal("1e300"):
        raise _SkipError(f"{cleaned!r} is out of range")
    return number


def _plain(number: Decimal) -> int | float:
    """5 rather than 5.0 in the YAML; 0.1 from 0.1 (Decimal arithmetic avoids 0.09999...)."""
    if number == number.to_integral_value():
        return int(number)
    return float(number)


# --- text --------------------------------------------------------------------------------------


def _split_format(text: str, default: str) -> tuple[str, str]:
    stripped = text.lstrip()
    found = _FORMAT.match(stripped)
    if not found:
        return default, text
    return found.group(1).lower(), stripped[found.end() :]


def _text(raw: str, fmt: str) -> str:
    """An answer's or feedback's text: its own [format] prefix wins over the question's."""
    own, rest = _split_format(raw, fmt)
    return _clean(rest, own)


def _clean(raw: str, fmt: str) -> str:
    text = raw.translate(_UNESCAPE)
    if fmt == "html":
        return _html_to_text(text)
    if fmt == "markdown":
        return text.strip()
    return "\n".join(line.strip() for line in text.split("\n")).strip()


def _short_text(text: str) -> str:
    flat = " ".join(text.translate(_UNESCAPE).split())
    return flat if len(flat) <= 40 else flat[:39] + "…"


_BLOCK_TAGS = frozenset(
    {"blockquote", "br", "div", "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "ol", "p"}
    | {"pre", "section", "table", "tr", "ul"}
)


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCK_TAGS and tag != "li":  # the next item starts its own line
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def _html_to_text(html: str) -> str:
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _validation_problem(question: dict[str, Any]) -> str | None:
    try:
        _QUESTION.validate_python(question)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"][1:])  # [0] is the question type
        message = error["msg"].removeprefix("Value error, ")
        return (
            f"does not fit the bank format: {where}: {message}"
            if where
            else f"does not fit the bank format: {message}"
        )
    return None
