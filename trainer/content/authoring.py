"""A module file as the authoring form shows it, and back: pure text work, no database.

The form edits the front matter's fields and the body separately; `compose` writes them back as
one module file. When the fields are unchanged the original front matter is kept byte for byte
(its comments, quoting and order too), so a body-only edit shows in review as a body-only diff.
When a field changed, the front matter is written in one canonical layout, each value quoted
only where YAML needs it (the strict reader would otherwise take `no` for false or `1.10` for
1.1).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from trainer.content.loader import _Rewriter, load_library
from trainer.content.parsecache import ParseCache
from trainer.content.problems import Problem
from trainer.content.render import MarkdownRenderer
from trainer.content.yamlio import YamlError, load_yaml

# Front-matter keys the form edits (as text); `practice` stays a YAML block edited as written.
FIELD_ORDER = ("id", "title", "lang", "summary", "estimated_minutes", "objectives", "regulations", "tags")
_PLAIN = re.compile(r"^[A-Za-z\u0080-\uffff][^:#\[\]{},&*!|>'\"%@`]*$")
_NOT_PLAIN = re.compile(
    r"^(?:y|n|yes|no|true|false|on|off|null|~|[-+]?[\d._]+(?:e[-+]?\d+)?)$", re.IGNORECASE
)


@dataclass
class ModuleForm:
    """The authoring form's fields, as typed (text), and the body."""

    id: str = ""
    title: str = ""
    lang: str = "en"
    summary: str = ""
    estimated_minutes: str = ""
    objectives: str = ""  # one per line
    regulations: str = ""  # codes, separated by commas or spaces
    tags: str = ""
    practice: str = ""  # the `practice:` block as YAML, as written in the file
    sample: bool = False
    body: str = ""


def split_module(text: str) -> tuple[list[str], str] | None:
    """The front matter's lines and the body after it; None when there is no front matter."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return None
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return lines[1:index], "\n".join(lines[index + 1 :])
    return None


def form_of_text(text: str) -> ModuleForm:
    """The form for a module file (best effort: what cannot be read stays empty for the author
    to fill, and the check says what is wrong)."""
    split = split_module(text)
    if split is None:
        return ModuleForm(body=text)
    front_lines, body = split
    try:
        data = load_yaml("\n".join(front_lines), first_line=2).data
    except YamlError:
        data = None
    if not isinstance(data, dict):
        return ModuleForm(body=body)

    def words(key: str, sep: str) -> str:
        value = data.get(key)
        return sep.join(str(v) for v in value) if isinstance(value, list) else ""

    return ModuleForm(
        id=str(data.get("id", "")),
        title=str(data.get("title", "")),
        lang=str(data.get("lang", "en")),
        summary=str(data.get("summary", "")),
        estimated_minutes=str(data.get("estimated_minutes", "")),
        objectives=words("objectives", "\n"),
        regulations=words("regulations", ", "),
        tags=words("tags", ", "),
        practice=_block(front_lines, "practice"),
        sample=data.get("sample") is True,
        body=body,
    )


def _block(lines: list[str], key: str) -> str:
    """The lines of one top-level key's value, as written (without the key itself)."""
    for index, line in enumerate(lines):
        if line.startswith(f"{key}:"):
            inline = line[len(key) + 1 :].strip()
            block = [inline] if inline else []
            for following in lines[index + 1 :]:
                if following and not following[0].isspace():
                    break
                block.append(following)
            return _dedent("\n".join(block).rstrip())
    return ""


def _dedent(text: str) -> str:
    lines = text.split("\n")
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return "\n".join(line[cut:] for line in lines)


def _scalar(value: str) -> str:
    if _PLAIN.match(value) and not _NOT_PLAIN.match(value) and value == value.strip() and ": " not in value:
        return value
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _items(text: str) -> list[str]:
    return [part for part in re.split(r"[,\s]+", text.strip()) if part]


def compose(form: ModuleForm, original: str) -> str:
    """The module file for `form`. Unchanged fields keep the original front matter as written."""
    body = form.body.replace("\r\n", "\n")
    split = split_module(original)
    if split is not None and _same_fields(form_of_text(original), form):
        return "---\n" + "\n".join(split[0]) + "\n---\n" + body
    lines = [
        f"id: {_scalar(form.id.strip())}",
        f"title: {_scalar(form.title.strip())}",
        f"lang: {_scalar(form.lang.strip())}",
        f"summary: {_scalar(form.summary.strip())}",
    ]
    minutes = form.estimated_minutes.strip()
    if minutes:
        lines.append(f"estimated_minutes: {minutes if minutes.isdigit() else _scalar(minutes)}")
    objectives = [line.strip() for line in form.objectives.replace("\r\n", "\n").split("\n") if line.strip()]
    if objectives:
        lines.append("objectives:")
        lines.extend(f"  - {_scalar(o)}" for o in objectives)
    for key in ("regulations", "tags"):
        values = _items(getattr(form, key))
        if values:
            lines.append(f"{key}: [{', '.join(_scalar(v) for v in values)}]")
    practice = form.practice.replace("\r\n", "\n").strip("\n")
    if practice.strip():
        lines.append("practice:")
        lines.extend(f"  {line}" if line.strip() else "" for line in practice.split("\n"))
    if form.sample:
        lines.append("sample: true")
    return "---\n" + "\n".join(lines) + "\n---\n" + body


def _same_fields(a: ModuleForm, b: ModuleForm) -> bool:
    def norm(form: ModuleForm) -> tuple[object, ...]:
        return (
            form.id.strip(),
            form.title.strip(),
            form.lang.strip(),
            form.summary.strip(),
            form.estimated_minutes.strip(),
            [line.strip() for line in form.objectives.splitlines() if line.strip()],
            _items(form.regulations),
            _items(form.tags),
            [line.rstrip() for line in form.practice.replace("\r\n", "\n").strip("\n").split("\n")],
            form.sample,
        )

    return norm(a) == norm(b)


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "same", "add", "del", "hunk"
    text: str


def line_diff(before: str, after: str, context: int = 3) -> list[DiffLine]:
    """A unified line diff (difflib), as lines a template can colour; empty when equal."""
    found = []
    for line in difflib.unified_diff(before.split("\n"), after.split("\n"), lineterm="", n=context):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            found.append(DiffLine("hunk", line))
        elif line.startswith("+"):
            found.append(DiffLine("add", line[1:]))
        elif line.startswith("-"):
            found.append(DiffLine("del", line[1:]))
        else:
            found.append(DiffLine("same", line[1:]))
    return found


@dataclass(frozen=True)
class QuestionPreview:
    """One question (or translation entry) of a bank file draft, as the preview lists it."""

    id: str
    type: str
    difficulty: int | None
    use: str
    tags: tuple[str, ...]
    stem_html: str  # through the same renderer and sanitiser as a paper
    line: int | None
    scenario: str | None = None  # the group it belongs to


@dataclass(frozen=True)
class RowPreview:
    """A blueprint row of a course draft: what it asks for and what the bank has for it."""

    number: int  # 1-based, as `trainer check` names rows
    description: str
    available: int
    needed: int
    filled: int  # what it gets when every row is filled together

    @property
    def short(self) -> bool:
        return self.filled < self.needed


@dataclass(frozen=True)
class DraftCheck:
    """What `trainer check` says of the library with one draft in it, and the draft rendered."""

    errors: tuple[Problem, ...]  # anywhere: the served library has none, so the draft caused them
    warnings: tuple[Problem, ...]  # the draft's own file only
    html: str  # the preview, through the same renderer and sanitiser as the module page
    title: str
    questions: tuple[QuestionPreview, ...] = ()  # a bank file draft's
    rows: tuple[RowPreview, ...] = ()  # a course draft's blueprint
    rows_known: bool = False  # the course draft's exam policy could be read (else no counts)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_module_draft(
    courses_dir: Path,
    question_bank_dir: Path,
    published: Mapping[str, str],
    *,
    path: str,
    text: str,
    item_id: str,
    lang: str,
    cache: ParseCache | None = None,
) -> DraftCheck:
    """Load the whole library with the draft in place of its file (all or nothing, exactly as
    the server loads it) and keep what concerns the draft. Costs one library load (on the sample
    content, two busy cores: 2.2 s, then 1.5 s with a warm `cache`; 3-5 s without): the page
    asks for it, never a keystroke. `cache` must not be shared with another thread (ParseCache
    is not thread-safe)."""
    overlay = {**published, path: text}
    library, problems = load_library(courses_dir, question_bank_dir, cache, overlay=overlay)
    display = f"{courses_dir.name}/{path}"
    errors = tuple(p for p in problems if p.severity == "error")
    warnings = tuple(p for p in problems if p.severity == "warning" and p.file == display)
    module = library.modules.get(item_id) if library is not None else None
    if module is not None and lang in module.versions:
        version = module.versions[lang]
        return DraftCheck(errors, warnings, version.html, version.title)
    # Not loadable (or not listed in its course): render the body alone, through the same
    # sanitiser, so the author still sees what they wrote; its images from the course's asset
    # route as on the module page (a relative path would resolve under the draft's own URL),
    # links to other modules to "#" (without a library there is no module to map them to).
    split = split_module(text)
    body = split[1] if split is not None else text
    course_dir = courses_dir / path.split("/", 1)[0]
    rewrite = _Rewriter((courses_dir / path).parent, course_dir, course_dir.name, {})
    rendered = MarkdownRenderer().render(body, lang=lang, rewrite=rewrite)
    return DraftCheck(errors, warnings, rendered.html, form_of_text(text).title)
