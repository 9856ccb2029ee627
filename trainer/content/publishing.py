"""Authoring in the browser: drafts of content files (modules, a course's `course.yaml`, question
bank files), their review, publishing, history, and the files as the exchange format
(`trainer content import/export`).

Source of truth: the files until something is published; from then on a file's latest version in
`content_versions` is what every process serves, the file on disk only what it started from.
A version's `path` is the loader's overlay path: under courses/ as "course-id/01-topic.md" or
"course-id/course.yaml", under the question bank as "question_bank/coal/methane.yaml"
(trainer.content.loader.BANK_PREFIX). A publish writes a new version and bumps `content_generation` in
the same transaction; each process reads that one row every few seconds
(trainer.content.store) and rebuilds its library from the files plus the published versions.

Rules, decided here so no page can forget them: only the author edits, submits or withdraws a
draft; only another trainer (or admin) comments on a submitted draft, requests changes or
approves it; approval publishes, and only a draft whose library loads without errors, made
from the version still served (else its author must begin again from the new one). Every step
is audited and kept as a `DraftEvent`. Services take the request's session and never commit.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from trainer.access import Viewer
from trainer.audit import service as audit
from trainer.content import assets, authoring
from trainer.content.library import Library
from trainer.content.loader import BANK_PREFIX, REGULATIONS_FILE, TAGS_FILE, load_library
from trainer.content.models import ContentDraft, ContentGeneration, ContentVersion, DraftEvent
from trainer.content.problems import Problem
from trainer.content.translations import translation_name
from trainer.content.yamlio import YamlError, load_yaml
from trainer.db import Database, utcnow
from trainer.errors import DomainError
from trainer.people.models import User, UserRole
from trainer.quizzes.models import ModuleVersionRead

log = logging.getLogger(__name__)

OPEN = ("editing", "submitted", "changes_requested")
EDITABLE = ("editing", "changes_requested")
REVIEW_ACTIONS = ("comment", "request_changes", "approve")
MAX_TEXT = 200_000  # characters of one file; the longest sample module is about 20,000, bank file 28,000
KINDS = ("module", "course", "bank")
_COURSE_FILE = re.compile(r"^(?P<course>[a-z0-9][a-z0-9-]*)/course\.yaml$")
# A bank file's path: lowercase folders and names (as the sample bank's), a translation's language.
_BANK_FILE = re.compile(
    r"^question_bank/(?P<name>(?:[a-z0-9][a-z0-9_-]*/)*[a-z0-9][a-z0-9_-]*)"
    r"(?:\.(?P<lang>[a-z]{2}-[A-Z]{2}|[a-z]{2}))?\.yaml$"
)
# A new bank file starts as one question to replace: the format at a glance, and it loads.
NEW_BANK_FILE = """defaults: {domain: coal, lang: en}
questions:
  - id: NEW-0001
    type: truefalse
    stem: Write the statement here.
    answer: true
    explanation: Say why, citing the regulation.
"""


@dataclass(frozen=True)
class FileKind:
    """What a path holds, as drafts and versions record it."""

    kind: str  # module | course | bank
    item_id: str  # module id, course id, or the bank file's name without language ("coal/methane")
    lang: str


def kind_of_path(path: str) -> FileKind | None:
    """A course's course.yaml or a question bank file (a translation too); None for any other
    path (modules are found by their id: trainer.content.publishing.start_draft). The lists of
    codes at the top of the bank (regulations, tags) are not drafted here."""
    if len(path) > 300:  # what content_versions.path holds
        return None
    course = _COURSE_FILE.match(path)
    if course is not None:
        return FileKind("course", course.group("course"), "en")
    bank = _BANK_FILE.match(path)
    if bank is None or path.removeprefix(BANK_PREFIX) in (REGULATIONS_FILE, TAGS_FILE):
        return None
    if any(part in ("", ".", "..") for part in path.split("/")):
        return None
    found = translation_name(path.rsplit("/", 1)[-1])
    return FileKind("bank", bank.group("name"), found[1] if found is not None else "en")


def with_lang_of(text: str, kind: FileKind) -> FileKind:
    """The file's own `lang:` (a course's, a bank file's defaults') where the path does not say."""
    if kind.kind == "module" or kind.lang != "en":
        return kind
    try:
        data = load_yaml(text).data
    except YamlError:
        return kind
    if isinstance(data, dict) and kind.kind == "bank":
        data = data.get("defaults")
    lang = data.get("lang") if isinstance(data, dict) else None
    return FileKind(kind.kind, kind.item_id, lang) if lang in ("en", "zh-CN") else kind


def file_kind(path: str, text: str, known: dict[str, tuple[str, str]] | None = None) -> FileKind:
    """What a file holds: a course.yaml or bank file by its path (and `lang:`), a module by
    its front matter (or by `known`: path -> (module id, lang) of the library's modules)."""
    kind = kind_of_path(path)
    if kind is not None:
        return with_lang_of(text, kind)
    if known is not None and path in known:
        return FileKind("module", *known[path])
    form = authoring.form_of_text(text)
    return FileKind("module", form.id, form.lang)


def is_question_file(path: str) -> bool:
    """A bank file of questions (not a translation file beside one): what the question forms edit."""
    kind = kind_of_path(path)
    return kind is not None and kind.kind == "bank" and translation_name(path.rsplit("/", 1)[-1]) is None


def translated_file(path: str) -> str | None:
    """The bank file a translation file translates ("question_bank/coal/air.zh-CN.yaml" ->
    "question_bank/coal/air.yaml"); None for any other path."""
    kind = kind_of_path(path)
    name = translation_name(path.rsplit("/", 1)[-1])
    if kind is None or kind.kind != "bank" or name is None:
        return None
    return f"{path.rsplit('/', 1)[0]}/{name[0]}.yaml"


def shown_path(path: str) -> str:
    """The path as a trainer reads it: "courses/demo-course/01-first.md", "question_bank/…"."""
    return path if path.startswith(BANK_PREFIX) else f"courses/{path}"


def disk_path(courses_dir: Path, question_bank_dir: Path, path: str) -> Path:
    if path.startswith(BANK_PREFIX):
        return question_bank_dir / path.removeprefix(BANK_PREFIX)
    return courses_dir / path


# -- what is published ----------------------------------------------------------------------------


def generation(session: Session) -> int:
    return session.scalar(select(ContentGeneration.generation).where(ContentGeneration.id == 1)) or 0


def published_overlay(session: Session) -> dict[str, str]:
    """The latest published text of every file that has one, by path under courses/."""
    latest = (
        select(ContentVersion.path, func.max(ContentVersion.number).label("number"))
        .group_by(ContentVersion.path)
        .subquery()
    )
    rows = session.execute(
        select(ContentVersion.path, ContentVersion.text).join(
            latest, (ContentVersion.path == latest.c.path) & (ContentVersion.number == latest.c.number)
        )
    )
    return {path: text for path, text in rows}  # noqa: C416 (rows are Row objects, not pairs)


class PublishedContent:
    """What a ContentStore polls: the generation counter, and the overlay when it moved."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def generation(self) -> int:
        with self.database.session() as session:
            return generation(session)

    def load(self) -> tuple[int, dict[str, str]]:
        with self.database.session() as session:
            # Uploaded images lie over the files too (trainer.content.assets).
            return generation(session), {**published_overlay(session), **assets.published_overlay(session)}


def _latest(session: Session, path: str) -> ContentVersion | None:
    return session.scalars(
        select(ContentVersion)
        .where(ContentVersion.path == path)
        .order_by(ContentVersion.number.desc())
        .limit(1)
    ).first()


def file_text(courses_dir: Path, question_bank_dir: Path, path: str) -> str | None:
    """A file's bytes as text, newlines untouched (export must give back exactly these bytes)."""
    try:
        return disk_path(courses_dir, question_bank_dir, path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def served_text(
    session: Session, courses_dir: Path, question_bank_dir: Path, path: str
) -> tuple[str | None, int | None]:
    """The text served for `path` and its published number (None: the file, or nothing)."""
    latest = _latest(session, path)
    if latest is not None:
        return latest.text, latest.number
    return file_text(courses_dir, question_bank_dir, path), None


# -- drafts ---------------------------------------------------------------------------------------


def _module_path(library: Library, courses_dir: Path, module_id: str, lang: str) -> tuple[str, str | None]:
    """Where the module's `lang` version lives under courses/, and the text a new draft starts
    from when that version does not exist yet (a translation: the original, relabelled)."""
    module = library.modules.get(module_id)
    if module is None or lang not in ("en", "zh-CN"):
        raise DomainError(404, "no_such_module", "There is no such module.")
    original = module.original.source.removeprefix(f"{courses_dir.name}/")
    if lang in module.versions:
        return module.versions[lang].source.removeprefix(f"{courses_dir.name}/"), None
    stem = original.removesuffix(".md").split(".")[0]
    return f"{stem}.{lang}.md", original


def start_draft(
    session: Session,
    actor: audit.Actor,
    viewer: Viewer,
    *,
    library: Library,
    courses_dir: Path,
    question_bank_dir: Path,
    module_id: str,
    lang: str,
) -> ContentDraft:
    """A new draft of the module's `lang` version from the text served now; the author's own
    open draft of the same file if there is one (one file, one draft per author at a time)."""
    path, translate_from = _module_path(library, courses_dir, module_id, lang)
    mine = _open_draft(session, viewer, path)
    if mine is not None:
        return mine
    base, number = served_text(session, courses_dir, question_bank_dir, path)
    if base is None and translate_from is not None:
        source, _ = served_text(session, courses_dir, question_bank_dir, translate_from)
        form = authoring.form_of_text(source or "")
        form.lang = lang
        text, base = authoring.compose(form, ""), ""
    elif base is None:
        raise DomainError(404, "no_such_module", "There is no such module.")
    else:
        text = base
    return new_draft(
        session, actor, viewer.id, kind="module", path=path, item_id=module_id, lang=lang, text=text,
        base_text=base, base_version=number, details={"module": module_id, "lang": lang},
    )  # fmt: skip


def new_draft(
    session: Session,
    actor: audit.Actor,
    author_id: int,
    *,
    kind: str,
    path: str,
    item_id: str,
    lang: str,
    text: str,
    base_text: str,
    base_version: int | None,
    details: dict[str, object],
    status: str = "editing",
    restores: int | None = None,
) -> ContentDraft:
    """Every way a draft begins (edit, translate, a new module or file, a restore, an import for
    review): the row and its `content.draft.created` audit event (`details` besides the path)."""
    now = utcnow()
    draft = ContentDraft(
        kind=kind,
        path=path,
        item_id=item_id[:100],
        lang=lang,
        text=text,
        base_text=base_text,
        base_version=base_version,
        restores=restores,
        status=status,
        author_id=author_id,
        created_at=now,
        updated_at=now,
    )
    session.add(draft)
    session.flush()
    audit.record(
        session, "content.draft.created", actor, target_type="draft", target_id=draft.id,
        details={"path": path, **details},
    )  # fmt: skip
    return draft


def _open_draft(session: Session, viewer: Viewer, path: str) -> ContentDraft | None:
    return session.scalars(
        select(ContentDraft).where(
            ContentDraft.path == path, ContentDraft.author_id == viewer.id, ContentDraft.status.in_(OPEN)
        )
    ).first()


def start_file_draft(
    session: Session,
    actor: audit.Actor,
    viewer: Viewer,
    *,
    courses_dir: Path,
    question_bank_dir: Path,
    path: str,
) -> ContentDraft:
    """A new draft of a course's course.yaml or a question bank file, from the text served now
    (a bank file that does not exist yet starts from an empty one); the author's own open draft
    of that file if there is one."""
    kind = kind_of_path(path)
    if kind is None:
        raise DomainError(404, "no_such_file", "There is no such course or question file.")
    if kind.lang not in ("en", "zh-CN"):
        raise DomainError(404, "no_such_file", "There is no such course or question file.")
    mine = _open_draft(session, viewer, path)
    if mine is not None:
        return mine
    base, number = served_text(session, courses_dir, question_bank_dir, path)
    if base is None and kind.kind != "bank":
        raise DomainError(404, "no_such_file", "There is no such course or question file.")
    # A new translation file starts with no entry (the translation form adds them).
    text = (
        base
        if base is not None
        else NEW_BANK_FILE
        if kind.lang == "en"
        else f"lang: {kind.lang}\nquestions: {{}}\n"
    )
    kind = with_lang_of(text, kind)
    return new_draft(
        session, actor, viewer.id, kind=kind.kind, path=path, item_id=kind.item_id, lang=kind.lang,
        text=text, base_text=base or "", base_version=number, details={"kind": kind.kind},
    )  # fmt: skip


def draft_for(session: Session, draft_id: int) -> ContentDraft:
    draft = session.get(ContentDraft, draft_id)
    if draft is None:
        raise DomainError(404, "no_such_draft", "There is no such draft.")
    return draft


def check_editable(viewer: Viewer, draft: ContentDraft) -> None:
    """Only the author changes a draft, and only while it is being written."""
    if draft.author_id != viewer.id:
        raise DomainError(403, "not_the_author", "Only the draft's author can change it.")
    if draft.status not in EDITABLE:
        raise DomainError(
            409, "draft_not_editable", "This draft is under review or closed; it cannot be changed."
        )


def save_draft(session: Session, viewer: Viewer, draft: ContentDraft, text: str) -> None:
    check_editable(viewer, draft)
    if len(text) > MAX_TEXT:
        raise DomainError(413, "draft_too_long", "A content file may have at most 200,000 characters.")
    draft.text = text
    draft.updated_at = utcnow()


def upload_image(
    session: Session,
    actor: audit.Actor,
    viewer: Viewer,
    draft: ContentDraft,
    *,
    courses_dir: Path,
    filename: str,
    data: bytes | None,
    alt_text: str,
) -> None:
    """An image for the draft's course (trainer.content.assets): only its author, while they
    may edit it; published with the draft that links it."""
    check_editable(viewer, draft)
    assets.store(
        session, actor, viewer, draft, courses_dir=courses_dir, filename=filename, data=data,
        alt_text=alt_text,
    )  # fmt: skip


def _event(session: Session, draft: ContentDraft, viewer: Viewer, action: str, comment: str) -> None:
    session.add(
        DraftEvent(draft_id=draft.id, actor_id=viewer.id, action=action, comment=comment, at=utcnow())
    )


def submit(
    session: Session, actor: audit.Actor, viewer: Viewer, draft: ContentDraft, check: authoring.DraftCheck
) -> None:
    if draft.author_id != viewer.id:
        raise DomainError(403, "not_the_author", "Only the draft's author can submit it.")
    if draft.status not in EDITABLE:
        raise DomainError(
            409, "draft_not_editable", "This draft is under review or closed; it cannot be changed."
        )
    if not check.ok:
        raise DomainError(
            422,
            "draft_has_problems",
            "The draft cannot be submitted: the library would not load with it.",
        )
    draft.status = "submitted"
    draft.updated_at = utcnow()
    _event(session, draft, viewer, "submitted", "")
    audit.record(session, "content.draft.submitted", actor, target_type="draft", target_id=draft.id)


def withdraw(session: Session, actor: audit.Actor, viewer: Viewer, draft: ContentDraft) -> None:
    if draft.author_id != viewer.id:
        raise DomainError(403, "not_the_author", "Only the draft's author can withdraw it.")
    if draft.status not in OPEN:
        raise DomainError(409, "draft_closed", "This draft is already closed.")
    draft.status = "withdrawn"
    draft.updated_at = utcnow()
    assets.discard_unused(session, actor, draft)
    _event(session, draft, viewer, "withdrawn", "")
    audit.record(session, "content.draft.withdrawn", actor, target_type="draft", target_id=draft.id)


def review(
    session: Session,
    actor: audit.Actor,
    viewer: Viewer,
    draft: ContentDraft,
    *,
    action: str,
    comment: str,
    check: authoring.DraftCheck | None,
    companion: tuple[str, str] | None = None,
) -> ContentVersion | None:
    """A reviewer's step; approval publishes (returns the new version). `check` is the draft
    checked against the library served now (needed for approval only); `companion` is the file
    published with it (path, text: trainer.content.new_courses.companion_now): a new module's
    course file listing it, a new course's first module."""
    if action not in REVIEW_ACTIONS:
        raise DomainError(422, "bad_review_action", "Choose comment, request changes or approve.")
    if draft.author_id == viewer.id:
        raise DomainError(403, "own_draft", "Someone other than the author must review a draft.")
    if draft.status != "submitted":
        raise DomainError(409, "draft_not_submitted", "This draft is not waiting for review.")
    comment = comment.strip()
    if len(comment) > 5000:
        raise DomainError(413, "comment_too_long", "A comment may have at most 5,000 characters.")
    if action in ("comment", "request_changes") and not comment:
        raise DomainError(422, "comment_needed", "Write what should change.")
    _event(session, draft, viewer, action, comment)
    if action == "comment":
        audit.record(session, "content.draft.commented", actor, target_type="draft", target_id=draft.id)
        return None
    if action == "request_changes":
        draft.status = "changes_requested"
        draft.updated_at = utcnow()
        audit.record(
            session, "content.draft.changes_requested", actor, target_type="draft", target_id=draft.id
        )
        return None
    latest = _latest(session, draft.path)
    if (latest.number if latest is not None else None) != draft.base_version:
        raise DomainError(
            409, "draft_stale",
            "The file was published again since this draft began: "
            "its author must start from the new version.",
        )  # fmt: skip
    if check is None or not check.ok:
        raise DomainError(
            422, "draft_has_problems", "The draft cannot be submitted: the library would not load with it."
        )
    draft.status = "published"
    draft.updated_at = utcnow()
    audit.record(session, "content.draft.approved", actor, target_type="draft", target_id=draft.id)
    assets.publish_with(session, actor, draft)  # before the generation bump below: one transaction
    assets.discard_unused(session, actor, draft)
    if companion is not None:
        # Same transaction, no bump of its own: no process ever loads one file without the other.
        kind = file_kind(*companion)
        _publish(
            session, actor, kind=kind.kind, path=companion[0], item_id=kind.item_id, lang=kind.lang,
            text=companion[1], by=viewer.id, draft_id=draft.id, bump=False,
        )  # fmt: skip
    return _publish(
        session, actor, kind=draft.kind, path=draft.path, item_id=draft.item_id, lang=draft.lang,
        text=draft.text, by=viewer.id, draft_id=draft.id,
    )  # fmt: skip


def _publish(
    session: Session,
    actor: audit.Actor,
    *,
    path: str,
    item_id: str,
    lang: str,
    text: str,
    by: int | None,
    draft_id: int | None,
    kind: str = "module",
    bump: bool = True,
) -> ContentVersion:
    """A new version of `path`, and the generation bump every process polls for (same
    transaction: a process that sees the new generation also sees the version). `bump=False`
    for a file published with another that bumps it."""
    latest = _latest(session, path)
    version = ContentVersion(
        kind=kind,
        path=path,
        item_id=item_id,
        lang=lang,
        number=(latest.number if latest is not None else 0) + 1,
        text=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        published_by=by,
        published_at=utcnow(),
        draft_id=draft_id,
    )
    session.add(version)
    if bump:
        _bump(session)
    session.flush()
    audit.record(
        session, "content.published", actor, target_type="content_version", target_id=version.id,
        details={"path": path, "number": version.number, "sha256": version.sha256, "draft": draft_id},
    )  # fmt: skip
    return version


def _bump(session: Session) -> None:
    session.execute(
        update(ContentGeneration)
        .where(ContentGeneration.id == 1)
        .values(generation=ContentGeneration.generation + 1)
    )


@dataclass(frozen=True)
class DraftRow:
    draft: ContentDraft
    author: str


def drafts_of(session: Session, viewer: Viewer) -> tuple[list[DraftRow], list[DraftRow]]:
    """The viewer's open drafts, and others' drafts waiting for a review."""
    rows = session.execute(
        select(ContentDraft, User.full_name)
        .join(User, User.id == ContentDraft.author_id)
        .where(ContentDraft.status.in_(OPEN))
        .order_by(ContentDraft.updated_at.desc())
        .limit(500)
    )
    mine, waiting = [], []
    for draft, author in rows:
        if draft.author_id == viewer.id:
            mine.append(DraftRow(draft, author))
        elif draft.status == "submitted":
            waiting.append(DraftRow(draft, author))
    return mine, waiting


@dataclass(frozen=True)
class EventRow:
    event: DraftEvent
    actor: str


def events_of(session: Session, draft: ContentDraft) -> list[EventRow]:
    rows = session.execute(
        select(DraftEvent, User.full_name)
        .join(User, User.id == DraftEvent.actor_id)
        .where(DraftEvent.draft_id == draft.id)
        .order_by(DraftEvent.id)
    )
    return [EventRow(event, actor) for event, actor in rows]


def author_name(session: Session, user_id: int | None) -> str:
    if user_id is None:
        return ""
    return session.scalar(select(User.full_name).where(User.id == user_id)) or ""


# -- history and restore -------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionRow:
    version: ContentVersion
    by: str  # "" for an import
    readers: int = 0  # people who opened the module while this version was served


def history(session: Session, module_id: str) -> list[VersionRow]:
    """Every published version of the module's files (all languages), newest first, with how
    many people read each (trainer.quizzes.models.ModuleVersionRead: the same file text)."""
    rows = session.execute(
        select(ContentVersion, User.full_name)
        .outerjoin(User, User.id == ContentVersion.published_by)
        .where(ContentVersion.item_id == module_id, ContentVersion.kind == "module")
        .order_by(ContentVersion.published_at.desc(), ContentVersion.id.desc())
    )
    read = ModuleVersionRead
    readers = {
        (lang, sha256): count
        for lang, sha256, count in session.execute(
            select(read.lang, read.sha256, func.count())
            .where(read.module_id == module_id)
            .group_by(read.lang, read.sha256)
        )
    }
    return [
        VersionRow(version, by or "", readers.get((version.lang, version.sha256), 0)) for version, by in rows
    ]


def version_for(session: Session, version_id: int) -> ContentVersion:
    version = session.get(ContentVersion, version_id)
    if version is None:
        raise DomainError(404, "no_such_version", "There is no such version.")
    return version


def file_history(session: Session, path: str) -> list[VersionRow]:
    """Every published version of one file (a course.yaml, a bank file), newest first."""
    rows = session.execute(
        select(ContentVersion, User.full_name)
        .outerjoin(User, User.id == ContentVersion.published_by)
        .where(ContentVersion.path == path)
        .order_by(ContentVersion.number.desc())
    )
    return [VersionRow(version, by or "") for version, by in rows]


def previous_text(
    session: Session, courses_dir: Path, question_bank_dir: Path, version: ContentVersion
) -> str:
    """What `version` replaced: the version before it, or the file for the first one."""
    before = session.scalar(
        select(ContentVersion.text).where(
            ContentVersion.path == version.path, ContentVersion.number == version.number - 1
        )
    )
    if before is not None:
        return before
    return file_text(courses_dir, question_bank_dir, version.path) or ""


def restore(
    session: Session,
    actor: audit.Actor,
    viewer: Viewer,
    version: ContentVersion,
    *,
    courses_dir: Path,
    question_bank_dir: Path,
) -> ContentDraft:
    """A draft whose text is an older version: it goes through the same review as any other."""
    base, number = served_text(session, courses_dir, question_bank_dir, version.path)
    return new_draft(
        session, actor, viewer.id, kind=version.kind, path=version.path, item_id=version.item_id,
        lang=version.lang, text=version.text, base_text=base or "", base_version=number,
        restores=version.id, details={"restores": version.id},
    )  # fmt: skip


# -- files as the exchange format -----------------------------------------------------------------


def export_tree(session: Session, courses_dir: Path, question_bank_dir: Path, out: Path) -> int:
    """Write the published library as files: courses/ and question_bank/ as on disk, each
    published file in its latest version, byte for byte. Returns the files written."""
    overlay = published_overlay(session)
    written = 0
    for source, target, prefix in (
        (courses_dir, out / "courses", ""),
        (question_bank_dir, out / "question_bank", BANK_PREFIX),
    ):
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            if any(part.startswith(".") for part in relative.parts) or not path.is_file():
                continue
            if prefix + relative.as_posix() in overlay:
                continue
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            (target / relative).write_bytes(path.read_bytes())
            written += 1
    for name, text in overlay.items():
        target = out / shown_path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))
        written += 1
    return written + assets.export_into(session, out / "courses")


@dataclass(frozen=True)
class ImportResult:
    published: list[str]  # paths given a new version, as `shown_path` shows them
    skipped: list[str]  # files that differ but are not drafted content (assets, regulations, tags)
    problems: list[Problem]  # errors: nothing was published


def _importable(root_name: str, relative: str) -> str | None:
    """The overlay path of a file that import publishes (modules, course.yaml, bank files)."""
    if root_name == "courses":
        if relative.endswith(".md"):
            return relative
        kind = kind_of_path(relative)
        return relative if kind is not None and kind.kind == "course" else None
    path = BANK_PREFIX + relative
    return path if kind_of_path(path) is not None else None


@dataclass(frozen=True)
class _Changes:
    """What a folder of files would change: the texts that differ from what is served (all
    loading together with the library), what each one is, and what is not imported."""

    changed: dict[str, str]  # overlay path -> text
    kinds: dict[str, FileKind]  # overlay path -> what it holds
    skipped: list[str]
    problems: list[Problem]  # errors: nothing may be changed
    images: dict[str, bytes]  # new images under a course's assets/ ("course-id/assets/name.png")


def _changes(session: Session, courses_dir: Path, question_bank_dir: Path, source: Path) -> _Changes:
    """Every module, course and question bank file of `source` that differs from what is
    served, checked all together: the library with all of them in place must load."""
    overlay = published_overlay(session)
    uploaded = assets.published_hashes(session)  # images exported from the database
    changed: dict[str, str] = {}
    skipped: list[str] = []
    problems: list[Problem] = []
    for root, served_root in (
        (source / "courses", courses_dir),
        (source / "question_bank", question_bank_dir),
    ):
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            relative = path.relative_to(root).as_posix()
            if not path.is_file() or any(part.startswith(".") for part in relative.split("/")):
                continue
            data = path.read_bytes()
            name = _importable(root.name, relative)
            if name is not None:
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    problems.append(
                        Problem(f"{root.name}/{relative}", None, "not UTF-8 text; save the file as UTF-8")
                    )
                    continue
                served = overlay.get(name)
                if served is None:
                    served = file_text(courses_dir, question_bank_dir, name)
                if text != served:
                    changed[name] = text
            elif not (served_root / relative).is_file() or (served_root / relative).read_bytes() != data:
                skipped.append(f"{root.name}/{relative}")
    # An image uploaded in the browser and exported is not on disk, but it is unchanged.
    skipped = [
        name
        for name in skipped
        if uploaded.get(name.removeprefix("courses/"))
        != hashlib.sha256((source / name).read_bytes()).hexdigest()
    ]
    # A new file under a course's assets/ is imported as an uploaded image is, with its checks.
    images = {}
    for name in [n for n in skipped if re.match(r"^courses/[a-z0-9-]+/assets/.", n)]:
        data = (source / name).read_bytes()
        refused = assets.import_problem(session, courses_dir, name.removeprefix("courses/"), data)
        if refused is not None:
            problems.append(Problem(name, None, refused))
        else:
            images[name.removeprefix("courses/")] = data
        skipped.remove(name)
    if problems or not (changed or images):
        return _Changes({}, {}, skipped, problems, {})
    # A module linking an image that is neither here nor served fails this load, with its line.
    library, found = load_library(
        courses_dir,
        question_bank_dir,
        overlay={**overlay, **assets.published_overlay(session), **assets.overlay_of(images), **changed},
    )
    if library is None:
        return _Changes({}, {}, skipped, [p for p in found if p.severity == "error"], {})
    ids = {
        module.versions[lang].source.removeprefix(f"{courses_dir.name}/"): (module.id, lang)
        for module in library.modules.values()
        for lang in module.versions
    }
    kinds = {name: file_kind(name, text, ids) for name, text in changed.items()}
    return _Changes(changed, kinds, skipped, [], images)


def import_tree(
    session: Session, actor: audit.Actor, courses_dir: Path, question_bank_dir: Path, source: Path
) -> ImportResult:
    """Publish every module, course and question bank file of `source` that differs from what
    is served, all or nothing: the library with all of them in place must load without errors."""
    found = _changes(session, courses_dir, question_bank_dir, source)
    if found.problems:
        return ImportResult([], found.skipped, found.problems)
    published = []
    for path, data in found.images.items():  # before the generation bump below
        assets.add_imported(session, actor, path, data, draft_id=None, by=actor.id)
        published.append(shown_path(path))
    for name, text in found.changed.items():
        kind = found.kinds[name]
        _publish(
            session, actor, kind=kind.kind, path=name, item_id=kind.item_id[:100], lang=kind.lang,
            text=text, by=actor.id, draft_id=None,
        )  # fmt: skip
        published.append(shown_path(name))
    if found.images and not found.changed:
        _bump(session)
    return ImportResult(published, found.skipped, [])


class ImportRefusedError(Exception):
    """An import for review that would change nothing, and why (for the operator)."""


@dataclass(frozen=True)
class ReviewImport:
    opened: list[tuple[str, int]]  # (the path as `shown_path` shows it, the draft's id)
    skipped: list[str]  # as ImportResult's: not drafted content, left as the direct import leaves it
    problems: list[Problem]  # errors: no draft was opened
    images: list[tuple[str, int]] = field(default_factory=list)  # new images, the draft linking each


def import_for_review(
    session: Session, courses_dir: Path, question_bank_dir: Path, source: Path, *, author: str
) -> ReviewImport:
    """Open one draft per file `import_tree` would publish, written by `author` (an active
    trainer or admin) and already submitted, so that other trainers review each as if it came
    from the browser. All or nothing, as the direct import: nothing is opened unless the library
    loads with every changed file in place, and nothing if the author already has an open draft
    of one of them (theirs would be overwritten or doubled). Raises ImportRefusedError."""
    user = session.scalar(select(User).where(User.username == author.strip().lower()))
    if user is None:
        raise ImportRefusedError(f"there is no account {author!r}")
    if not user.is_active:
        raise ImportRefusedError(f"the account {user.username} is deactivated")
    roles = set(session.scalars(select(UserRole.role).where(UserRole.user_id == user.id)))
    if not roles & {"trainer", "admin"}:
        raise ImportRefusedError(f"{user.username} is not a trainer or admin: only they author drafts")
    found = _changes(session, courses_dir, question_bank_dir, source)
    if found.problems:
        return ReviewImport([], found.skipped, found.problems)
    taken = session.execute(
        select(ContentDraft.id, ContentDraft.path).where(
            ContentDraft.author_id == user.id,
            ContentDraft.status.in_(OPEN),
            ContentDraft.path.in_(list(found.changed)),
        )
    ).all()
    if taken:
        listed = ", ".join(f"{shown_path(path)} (/trainer/authoring/drafts/{id_})" for id_, path in taken)
        raise ImportRefusedError(
            f"{user.username} already has an open draft of {listed}: submit, finish or withdraw it first"
        )
    # The drafts are the author's, as if opened and submitted in the browser; the operator ran
    # the command for them, which the extra "imported" entry records.
    actor = audit.Actor(user.id, user.username)
    opened, drafts = [], {}
    for name, text in found.changed.items():
        kind = found.kinds[name]
        base, number = served_text(session, courses_dir, question_bank_dir, name)
        draft = new_draft(
            session, actor, user.id, kind=kind.kind, path=name, item_id=kind.item_id, lang=kind.lang,
            text=text, base_text=base or "", base_version=number, status="submitted",
            details={"kind": kind.kind},
        )  # fmt: skip
        audit.record(
            session, "content.draft.imported", actor, target_type="draft", target_id=draft.id,
            details={"path": name, "source": str(source)},
        )  # fmt: skip
        for action in ("imported", "submitted"):
            session.add(
                DraftEvent(
                    draft_id=draft.id, actor_id=user.id, action=action, comment="", at=draft.created_at
                )
            )
        audit.record(session, "content.draft.submitted", actor, target_type="draft", target_id=draft.id)
        opened.append((shown_path(name), draft.id))
        drafts[name] = draft
    # Each new image goes with the first draft that links it, published if it is approved; one
    # that no changed file links is not imported (nothing would ever publish it).
    images, skipped = [], list(found.skipped)
    for path, data in found.images.items():
        course_id, _, image = path.partition("/assets/")
        linking = [
            d for n, d in drafts.items() if n.startswith(f"{course_id}/") and f"assets/{image}" in d.text
        ]
        if not linking:
            skipped.append(shown_path(path))
            continue
        assets.add_imported(session, actor, path, data, draft_id=linking[0].id, by=user.id)
        images.append((shown_path(path), linking[0].id))
    return ReviewImport(opened, skipped, [], images)
