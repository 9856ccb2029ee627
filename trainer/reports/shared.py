"""What the report pages and the reports API both read, so neither imports the other: the
courses that certify, their titles in a language, and the month key ("2026-11")."""

from __future__ import annotations

import re

from trainer.content.library import Course, Library

MONTH = re.compile(r"\d{4}-\d{2}")


def certifying_courses(library: Library) -> list[Course]:
    return [c for c in library.courses.values() if c.certification is not None]


def course_titles(library: Library, lang: str) -> dict[str, str]:
    return {c.id: c.text_for(lang).title for c in library.courses.values()}
