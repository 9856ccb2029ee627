"""Tables of the content domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trainer.db import Base, UTCDateTime


class CourseVersion(Base):
    """Each distinct version of a course's files that a server has loaded.

    Attempts and certificates point at the version they were taken against, so an auditor can
    tell exactly which text an inspector studied and was examined on, even after later edits.
    """

    __tablename__ = "course_versions"
    __table_args__ = (UniqueConstraint("course_id", "content_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[str] = mapped_column(String(100))  # indexed first in the unique constraint
    content_hash: Mapped[str] = mapped_column(String(64))
    first_loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


# -- authoring (issue 18): published versions, drafts and their review ---------------------------
# Once authoring is used, the database is the source of truth for what it publishes: every app
# process builds its library from the files plus the latest published version of each file here.


class ContentVersion(Base):
    """One published version of a content file, kept for ever (history, restore, export).

    `path` is the file's place under courses/ ("course-id/01-topic.md", "course-id/course.yaml")
    or, with the prefix "question_bank/", under the question bank; `text` is the whole file,
    byte for byte what `trainer content export` writes.
    """

    __tablename__ = "content_versions"
    __table_args__ = (UniqueConstraint("path", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # module, course (course.yaml) or bank
    path: Mapped[str] = mapped_column(String(300))  # indexed first in the unique constraint
    item_id: Mapped[str] = mapped_column(String(100), index=True)  # module or course id, bank file name
    lang: Mapped[str] = mapped_column(String(10))
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, … per path
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    published_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    draft_id: Mapped[int | None] = mapped_column(Integer)  # None: imported from files


class ContentDraft(Base):
    """A trainer's proposed text of one content file, and where its review stands."""

    __tablename__ = "content_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    path: Mapped[str] = mapped_column(String(300), index=True)
    item_id: Mapped[str] = mapped_column(String(100))
    lang: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    base_text: Mapped[str] = mapped_column(Text)  # what was served when the draft began ("" if new)
    base_version: Mapped[int | None] = mapped_column(Integer)  # its published number, None: the file
    restores: Mapped[int | None] = mapped_column(Integer)  # a ContentVersion id being restored
    # editing -> submitted -> (changes_requested -> submitted ...) -> published | withdrawn
    status: Mapped[str] = mapped_column(String(20), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DraftEvent(Base):
    """A step of a draft's review: submitted, a comment, changes requested, approved."""

    __tablename__ = "content_draft_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("content_drafts.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ContentGeneration(Base):
    """One row, bumped by every publish: each app process polls it (a primary-key read every
    few seconds) and rebuilds its library when it moved."""

    __tablename__ = "content_generation"

    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[int] = mapped_column(Integer)


class ContentAsset(Base):
    """An image uploaded from a module draft into its course's assets/ folder (issue 18).

    The bytes live here, not on a disk, because several stateless app processes share one
    database. A row is seen by inspectors only once `published_at` is set, which happens when
    the draft it was uploaded from is approved and its text uses it; until then only trainers
    and admins (the draft's preview) see it. Names are never reused within a course, so a
    published image never changes under a page that shows it.
    """

    __tablename__ = "content_assets"
    __table_args__ = (UniqueConstraint("course_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(120))  # the file's name under the course's assets/
    media_type: Mapped[str] = mapped_column(String(40))  # from the bytes, never from the browser
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    alt_text: Mapped[str] = mapped_column(Text)  # what the upload form suggested for the Markdown
    draft_id: Mapped[int | None] = mapped_column(
        ForeignKey("content_drafts.id", ondelete="SET NULL"), index=True
    )  # None: imported from files
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
