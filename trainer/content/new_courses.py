"""A new course started in the browser (issue 18): a draft of the new course's `course.yaml`,
from a minimal valid course listing one module.

The format needs a course folder named as the course's id, holding its course.yaml, and a course
lists at least one module (trainer.content.schemas.CourseFile), so the draft carries its first
module without storing it, as a new module's draft carries its course's listing
(trainer.content.new_modules): until it is published, a minimal module named by the draft's first
`modules:` entry is what the check loads, what the review page shows as a second diff, and what
approval publishes with the course in one transaction (one generation bump). Nothing is on disk
and nothing is published before approval, so inspectors see nothing of the course; afterwards
every app process loads it from the published versions (the loader finds a course folder that
only the published files hold), and the first module is written like any other, through a draft
and a review.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from trainer.access import Viewer
from trainer.audit import service as audit
from trainer.content import file_drafts, new_modules, publishing
from trainer.content.library import Library
from trainer.content.models import ContentDraft
from trainer.content.question_forms import scalar
from trainer.content.schemas import DOMAINS
from trainer.i18n import N_

MAX_ID = 60  # its first module's id adds "-introduction" within the loader's 80 characters
MAX_SUMMARY = 2000
FIRST_STEM = "01-introduction"
FIRST_TITLE = {"en": "Introduction", "zh-CN": "概述"}


@dataclass(frozen=True)
class NewCourse:
    """The index page's form, as typed."""

    course_id: str
    title: str
    lang: str
    domain: str
    summary: str


def course_path(course_id: str) -> str:
    return f"{course_id}/course.yaml"


def first_module_id(course_id: str) -> str:
    return f"{course_id}-introduction"


def problems_of(
    session: Session, library: Library, courses_dir: Path, question_bank_dir: Path, new: NewCourse
) -> list[tuple[str, dict[str, str]]]:
    found: list[tuple[str, dict[str, str]]] = []
    if len(new.course_id) > MAX_ID or not new_modules.MODULE_ID.match(new.course_id):
        found.append(
            (
                N_(
                    "The course id is lowercase letters, digits and hyphens, like tunnel-inspection "
                    "(at most 60): it is also the name of the course's folder."
                ),
                {},
            )
        )
    else:
        path = course_path(new.course_id)
        served, _ = publishing.served_text(session, courses_dir, question_bank_dir, path)
        if new.course_id in library.courses or served is not None:
            found.append((N_("The course id %(id)s is already used: choose another."), {"id": new.course_id}))
        elif (courses_dir / new.course_id).exists():
            found.append((N_("The folder %(path)s already exists."), {"path": f"courses/{new.course_id}/"}))
        elif first_module_id(new.course_id) in library.modules:
            found.append(
                (
                    N_("The module id %(id)s is already used: choose another."),
                    {"id": first_module_id(new.course_id)},
                )
            )
    if not new.title.strip() or len(new.title) > new_modules.MAX_TITLE:
        found.append((N_("Give the course a title (at most 200 characters)."), {}))
    if not new.summary.strip() or len(new.summary) > MAX_SUMMARY:
        found.append((N_("Say in a sentence what the course teaches (at most 2,000 characters)."), {}))
    if new.lang not in new_modules.PLACEHOLDERS:
        found.append((N_("Choose English or Chinese."), {}))
    if new.domain not in DOMAINS:
        found.append((N_("Choose the course's domain."), {}))
    return found


def starting_text(new: NewCourse) -> str:
    """A minimal course that loads: the fields the format requires and its first module."""
    title, summary = (scalar(" ".join(value.split())) for value in (new.title, new.summary))
    return (
        f"id: {new.course_id}\ntitle: {title}\ndomain: {new.domain}\nlang: {new.lang}\n"
        f"summary: {summary}\nmodules: [{first_module_id(new.course_id)}]\n"
    )


def start(
    session: Session,
    actor: audit.Actor,
    viewer: Viewer,
    *,
    library: Library,
    courses_dir: Path,
    question_bank_dir: Path,
    new: NewCourse,
) -> ContentDraft:
    """The draft of a new course's course.yaml; new_modules.RefusedError (nothing created) when
    the form is wrong."""
    problems = problems_of(session, library, courses_dir, question_bank_dir, new)
    if problems:
        raise new_modules.RefusedError(problems)
    return publishing.new_draft(
        session, actor, viewer.id, kind="course", path=course_path(new.course_id), item_id=new.course_id,
        lang=new.lang, text=starting_text(new), base_text="", base_version=None,
        details={"course": new.course_id, "lang": new.lang, "new": True},
    )  # fmt: skip


# -- the first module it carries ----------------------------------------------------------------


def first_module(course_text: str) -> tuple[str, str] | None:
    """(path, text) of the minimal module a new course's draft publishes with it: its first listed
    module, titled "Introduction", with the course's summary; None while the draft's course file
    does not validate (its check says why)."""
    course = file_drafts.course_of_text(course_text)
    if course is None:
        return None
    title = FIRST_TITLE[course.lang]
    text = (
        f"---\nid: {course.modules[0]}\ntitle: {title}\nlang: {course.lang}\n"
        f"summary: {scalar(course.summary)}\nestimated_minutes: 15\n---\n## {title}\n\n{course.summary}\n"
    )
    return f"{course.id}/{FIRST_STEM}.md", text


def _new(draft: ContentDraft, served_course: str | None) -> bool:
    return draft.kind == "course" and draft.base_version is None and not draft.base_text and not served_course


def companion(
    draft: ContentDraft, served: Mapping[str, str], courses_dir: Path
) -> tuple[str, str, str] | None:
    """The file published with a draft, as (path, text served now, text published): a new
    module's course file listing it, or a new course's first module; None for any other draft.
    `served` is the published overlay."""
    found = new_modules.listing(draft, served, courses_dir)
    if found is not None or draft.kind != "course":
        return found
    if not _new(draft, served.get(draft.path)) or (courses_dir / draft.path).exists():
        return None
    module = first_module(draft.text)
    return (module[0], "", module[1]) if module is not None else None


def companion_now(
    session: Session, draft: ContentDraft, courses_dir: Path, question_bank_dir: Path
) -> tuple[str, str] | None:
    """The same, from the database (what approval publishes): (path, text)."""
    found = new_modules.listing_now(session, draft, courses_dir, question_bank_dir)
    if found is not None or draft.kind != "course":
        return found
    served, _ = publishing.served_text(session, courses_dir, question_bank_dir, draft.path)
    return first_module(draft.text) if _new(draft, served) else None
