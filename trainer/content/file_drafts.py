"""Checking a draft of a course's course.yaml or of a question bank file: the whole library
loaded with the draft in place of its file (exactly what `trainer check` finds), and what the
preview shows: the file's questions rendered, or the blueprint's rows with the questions
available for each. Pure: files, texts and the loader; no database.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from trainer.content.authoring import DraftCheck, QuestionPreview, RowPreview
from trainer.content.bank import Bank
from trainer.content.loader import BANK_PREFIX, draw_counts, inspect_library
from trainer.content.parsecache import ParseCache
from trainer.content.render import MarkdownRenderer
from trainer.content.schemas import CourseFile, DrawRow
from trainer.content.yamlio import YamlError, load_yaml


def display_of(courses_dir: Path, question_bank_dir: Path, path: str) -> str:
    """The file's name in `trainer check`'s problems (relative to the content root)."""
    if path.startswith(BANK_PREFIX):
        return f"{question_bank_dir.name}/{path.removeprefix(BANK_PREFIX)}"
    return f"{courses_dir.name}/{path}"


def check_file_draft(
    courses_dir: Path,
    question_bank_dir: Path,
    published: Mapping[str, str],
    *,
    kind: str,
    path: str,
    text: str,
    cache: ParseCache | None = None,
) -> DraftCheck:
    """One library load with the draft in place (see trainer.content.authoring.check_module_draft
    for the cost and the rules of `cache`)."""
    found = inspect_library(courses_dir, question_bank_dir, cache, overlay={**published, path: text})
    display = display_of(courses_dir, question_bank_dir, path)
    errors = tuple(p for p in found.problems if p.severity == "error")
    warnings = tuple(p for p in found.problems if p.severity == "warning" and p.file == display)
    if kind == "course":
        course = course_of_text(text)
        if course is None:
            return DraftCheck(errors, warnings, "", path.split("/", maxsplit=1)[0])
        rows = blueprint_rows(found.bank, course)
        return DraftCheck(
            errors, warnings, "", course.title, rows=tuple(rows), rows_known=course.certification is not None
        )
    questions = _questions(found.bank, display)
    return DraftCheck(errors, warnings, "", path.removeprefix(BANK_PREFIX), questions=questions)


def course_of_text(text: str) -> CourseFile | None:
    """The course file read strictly, or None when it does not validate (the check says why)."""
    try:
        data = load_yaml(text).data
        return CourseFile.model_validate(data) if isinstance(data, dict) else None
    except (YamlError, ValidationError):
        return None


def describe_row(row: DrawRow) -> str:
    """Plain words for a row's filters (tags and a difficulty range), the same in every language:
    codes and numbers only."""
    parts = [", ".join(row.tags) if row.tags else "*"]
    if row.difficulty:
        parts.append(f"{row.difficulty[0]}–{row.difficulty[1]}")
    return " · ".join(parts)


def blueprint_rows(bank: Bank, course: CourseFile) -> list[RowPreview]:
    """Each exam blueprint row with the exam questions of the course's domain that match it,
    counted by the draw check `trainer check` uses (trainer.content.loader.draw_counts)."""
    if course.certification is None:
        return []
    rows = course.certification.exam.blueprint
    counts = draw_counts(bank, course.domain, rows, "exam")
    return [
        RowPreview(index + 1, describe_row(row), count.available, count.needed, count.filled)
        for index, (row, count) in enumerate(zip(rows, counts, strict=True))
    ]


def _questions(bank: Bank, display: str) -> tuple[QuestionPreview, ...]:
    renderer = MarkdownRenderer()
    found = []
    for question in bank.questions.values():
        if question.source == display:
            found.append(
                QuestionPreview(
                    question.id,
                    question.type,
                    question.difficulty,
                    question.use,
                    tuple(sorted(question.tags)),
                    renderer.render(question.model.stem, lang=question.lang).html,
                    question.line,
                    question.group,
                )
            )
    for lang, entries in bank.translations.items():
        for entry in entries.values():
            if entry.file == display:
                stem = getattr(entry.model, "stem", None) or ""
                found.append(
                    QuestionPreview(
                        entry.question_id,
                        entry.status,
                        None,
                        "",
                        (),
                        renderer.render(stem, lang=lang).html if stem else "",
                        entry.line,
                    )
                )
    return tuple(found)


def bank_files(question_bank_dir: Path, overlay: Mapping[str, str]) -> list[str]:
    """Every question bank file (translations too) as an overlay path, on disk or published
    only, in name order; not the lists of regulations and tags at the top."""
    found = {k for k in overlay if k.startswith(BANK_PREFIX)}
    if question_bank_dir.is_dir():
        for path in question_bank_dir.rglob("*.yaml"):
            relative = path.relative_to(question_bank_dir)
            if any(part.startswith(".") for part in relative.parts):
                continue
            found.add(BANK_PREFIX + relative.as_posix())
    return sorted(p for p in found if p.removeprefix(BANK_PREFIX) not in ("regulations.yaml", "tags.yaml"))
