"""A new module started in the browser (issue 18): a module draft at a new path of its course,
from a minimal valid module.

A module belongs to its course only when the course's `course.yaml` lists it, so the draft
carries that change without storing it: until it is published, the course file served now with
the module appended to `modules:` is what the check loads, what the review page shows as a
second diff, and what approval publishes with the module in one transaction (one generation
bump: trainer.content.publishing.review). Derived at each step rather than stored, it always
starts from the course file served then, so an edit of that course published meanwhile is
never undone, and the library is valid at every moment: before approval nothing lists the
module (inspectors see nothing of it), after it both files are there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from trainer.access import Viewer
from trainer.audit import service as audit
from trainer.content import course_forms, publishing
from trainer.content.library import Library
from trainer.content.models import ContentDraft
from trainer.content.question_forms import FormError, scalar
from trainer.errors import DomainError
from trainer.i18n import N_

# The loader's rules for a module id (trainer.content.schemas.Slug) and, for the file name, the
# sample library's habit: two digits that order the files, then lowercase words.
MODULE_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
STEM = re.compile(r"^[0-9]{2}-[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_ID = 80
MAX_TITLE = 200
PLACEHOLDERS = {
    "en": ("Write one sentence on what this module teaches.", "Write the module here."),
    "zh-CN": ("用一句话说明本模块讲什么。", "在此撰写模块正文。"),
}


@dataclass(frozen=True)
class NewModule:
    """The index page's form, as typed."""

    course_id: str
    module_id: str
    stem: str
    title: str
    lang: str


class RefusedError(Exception):
    """Bad input: every problem as (msgid, values), for the form to show; nothing was created."""

    def __init__(self, problems: list[tuple[str, dict[str, str]]]) -> None:
        super().__init__(problems)
        self.problems = problems


def path_of(new: NewModule) -> str:
    """Where the module lives under courses/: a module in its course's language is the original,
    named without a language; a Chinese one is named as a translation is (the loader accepts
    both)."""
    suffix = ".md" if new.lang == "en" else f".{new.lang}.md"
    return f"{new.course_id}/{new.stem}{suffix}"


def problems_of(
    session: Session, library: Library, courses_dir: Path, question_bank_dir: Path, new: NewModule
) -> list[tuple[str, dict[str, str]]]:
    found: list[tuple[str, dict[str, str]]] = []
    course = library.courses.get(new.course_id)
    if course is None:
        raise DomainError(404, "no_such_course", "There is no such course.")
    if len(new.module_id) > MAX_ID or not MODULE_ID.match(new.module_id):
        found.append(
            (N_("The module id is lowercase letters, digits and hyphens, like cm-roof-support."), {})
        )
    elif new.module_id in library.modules:
        found.append((N_("The module id %(id)s is already used: choose another."), {"id": new.module_id}))
    if not STEM.match(new.stem) or len(new.stem) > 100:
        found.append(
            (N_("The file name is two digits, a hyphen and lowercase words, like 04-roof-support."), {})
        )
    if not new.title.strip() or len(new.title) > MAX_TITLE:
        found.append((N_("Give the module a title (at most 200 characters)."), {}))
    if new.lang not in ("en", "zh-CN"):
        found.append((N_("Choose English or Chinese."), {}))
    elif new.lang != course.lang:
        # The loader needs every module in the course's language first; translate it afterwards.
        found.append(
            (N_("A new module is written in the course's language first; translate it afterwards."), {})
        )
    if not found:
        path = path_of(new)
        text, _ = publishing.served_text(session, courses_dir, question_bank_dir, path)
        if text is not None or (courses_dir / path).exists():
            found.append((N_("The file %(path)s already exists."), {"path": f"courses/{path}"}))
    return found


def starting_text(new: NewModule) -> str:
    """A minimal module that loads: the front matter `trainer check` requires, placeholders to
    replace, and one section."""
    summary, body = PLACEHOLDERS[new.lang]
    title = scalar(" ".join(new.title.split()))
    return (
        f"---\nid: {new.module_id}\ntitle: {title}\nlang: {new.lang}\nsummary: {summary}\n"
        f"estimated_minutes: 15\n---\n## {' '.join(new.title.split())}\n\n{body}\n"
    )


def start(
    session: Session,
    actor: audit.Actor,
    viewer: Viewer,
    *,
    library: Library,
    courses_dir: Path,
    question_bank_dir: Path,
    new: NewModule,
) -> ContentDraft:
    """The draft of a new module; RefusedError (nothing created) when the form is wrong."""
    problems = problems_of(session, library, courses_dir, question_bank_dir, new)
    if problems:
        raise RefusedError(problems)
    return publishing.new_draft(
        session, actor, viewer.id, kind="module", path=path_of(new), item_id=new.module_id,
        lang=new.lang, text=starting_text(new), base_text="", base_version=None,
        details={"module": new.module_id, "lang": new.lang, "new": True},
    )  # fmt: skip


# -- the course change it carries ---------------------------------------------------------------


def course_path(draft: ContentDraft) -> str:
    return f"{draft.path.split('/', 1)[0]}/course.yaml"


def listed(course_text: str, module_id: str) -> str | None:
    """The course file with `module_id` appended to its `modules:` (that line only, as the
    course form writes it); None when it lists the module already or cannot be read (the served
    library loads, so its course files can)."""
    form = course_forms.form_of_course(course_text)
    if form is None or module_id in form.modules.split():
        return None
    form.modules = f"{form.modules}\n{module_id}"
    try:
        return course_forms.compose_course(form, course_text)
    except (LookupError, FormError):
        return None


def listing(draft: ContentDraft, served: Mapping[str, str], courses_dir: Path) -> tuple[str, str, str] | None:
    """For a module draft its course does not list: (course.yaml's path, its text served now,
    that text listing the module). `served` is the published overlay (the file on disk where
    it has no version)."""
    if draft.kind != "module":
        return None
    path = course_path(draft)
    before = served.get(path)
    if before is None:
        try:
            before = (courses_dir / path).read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    after = listed(before, draft.item_id)
    return (path, before, after) if after is not None else None


def listing_now(
    session: Session, draft: ContentDraft, courses_dir: Path, question_bank_dir: Path
) -> tuple[str, str] | None:
    """The same, from the database (what approval publishes): (course.yaml's path, new text)."""
    if draft.kind != "module":
        return None
    path = course_path(draft)
    before, _ = publishing.served_text(session, courses_dir, question_bank_dir, path)
    after = listed(before, draft.item_id) if before is not None else None
    return (path, after) if after is not None else None
