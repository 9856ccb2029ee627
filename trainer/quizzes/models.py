"""Tables of the quizzes domain: attempts (with the paper as served), answers, module reads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from trainer.db import Base, UTCDateTime
from trainer.sittings import models as _sittings  # noqa: F401 (attempts.sitting_id refers to its table)

IN_PROGRESS = "in_progress"
GRADED = "graded"
# Voided by a sitting's supervisor: not graded, and not counted as an attempt used (nothing counts
# any status but GRADED), whether it was open or graded when voided.
VOIDED = "voided"


class Attempt(Base):
    """One paper taken by one inspector: a module's practice quiz or a course's final exam.

    Its paper (every question exactly as served) is a `Paper` of its own (`AttemptPaper`), so
    later edits to the bank never change a past attempt or its score.
    """

    __tablename__ = "attempts"
    __table_args__ = (
        # At most one exam in progress per inspector and course: concurrent "start" requests
        # cannot create two, whatever the timing.
        Index(
            "uq_attempts_one_open_exam",
            "user_id",
            "course_id",
            unique=True,
            sqlite_where=text("status = 'in_progress' AND kind = 'exam'"),
            postgresql_where=text("status = 'in_progress' AND kind = 'exam'"),
        ),
        # Also a person's attempts: no index of user_id alone (one more to write every start).
        Index("ix_attempts_user_course", "user_id", "course_id", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The inspector's unit when the attempt started: reports count results where they were taken.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    kind: Mapped[str] = mapped_column(String(16))  # exam | practice
    course_id: Mapped[str] = mapped_column(String(100))
    module_id: Mapped[str | None] = mapped_column(String(100))
    content_hash: Mapped[str] = mapped_column(String(64))  # the course version examined
    seed: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    pass_mark: Mapped[float] = mapped_column(Float)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    review: Mapped[str] = mapped_column(String(20))  # after_submit | after_deadline | never | immediate
    # The sitting the exam was started in (courses in `mode: sittings`), else None.
    sitting_id: Mapped[int | None] = mapped_column(ForeignKey("sittings.id"), index=True)


class Paper(Base):
    """An exam or practice paper: every question exactly as served (content, order, answer key,
    review), written once and never changed. An attempt holds one (`AttemptPaper`); so does a
    paper drawn ahead of a sitting (`PreparedPaper.paper_id`), and a start that takes that paper
    links its attempt to the same row: the 60-90 kB are not copied under the write lock every
    start of a sitting waits for.

    Kept apart from the attempt's row, which changes (graded, its deadline moved by a sitting's
    close or extra time): SQLite rewrites a whole row when a change alters its size, as grading
    does, so grading an attempt whose row held its paper wrote about 170 kB to the WAL instead
    of one page (a deadline burst grades thousands under the one write lock).

    A paper no attempt holds is deleted with the paper drawn ahead that held it
    (trainer.people.housekeeping, trainer.sittings.papers).
    """

    __tablename__ = "papers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot: Mapped[str] = mapped_column(Text)  # JSON: the entries, in slot order
    # Where each entry sits in `snapshot` (trainer.quizzes.service.Drawn.layout), so a process
    # that did not start the attempt cuts its paper up instead of parsing it; None before 0018.
    layout: Mapped[str | None] = mapped_column(Text)


class AttemptPaper(Base):
    """Which paper an attempt holds: one per attempt, written when it starts, never changed.

    A row of its own rather than a column of `attempts`: SQLite adds a column to a table that
    others reference only as one that allows NULL and cannot drop it again while it refers to
    another table, and the link costs a start one small row."""

    __tablename__ = "attempt_papers"

    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"), primary_key=True)
    # Indexed: a paper drawn ahead is deleted with its sitting's only if no attempt holds it.
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id"), index=True)


class AttemptAnswer(Base):
    __tablename__ = "attempt_answers"
    # Also an attempt's answers (and its cascade): no index of attempt_id alone, which every
    # answer's first save wrote as well.
    __table_args__ = (UniqueConstraint("attempt_id", "slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"))
    slot: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)  # JSON, as validated
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime())
    score: Mapped[float | None] = mapped_column(Float)


class ModuleRead(Base):
    """The first time an inspector opened a module (completion needs a read and a passed quiz)."""

    __tablename__ = "module_reads"
    __table_args__ = (UniqueConstraint("user_id", "module_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    course_id: Mapped[str] = mapped_column(String(100))
    module_id: Mapped[str] = mapped_column(String(100))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ModuleVersionRead(Base):
    """Which version of a module a person read: one row per (person, module, language, file
    text) the first time they open it, so after a module changes it is known who read the change
    (the authoring history counts readers per published version). `sha256` is the module file's
    text's, the same as `content_versions.sha256` for a version published in the browser."""

    __tablename__ = "module_version_reads"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    module_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    lang: Mapped[str] = mapped_column(String(10), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AttemptFlag(Base):
    """A question the inspector marked to come back to before handing in (exam navigator)."""

    __tablename__ = "attempt_flags"
    __table_args__ = (UniqueConstraint("attempt_id", "slot"),)  # also an attempt's flags

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"))
    slot: Mapped[int] = mapped_column(Integer)


class KeyCorrection(Base):
    """A question's key corrected after papers were graded with it (`trainer regrade --question
    ID --current-key`): this response is scored against `key` from now on. The paper as served
    (and its hash on the certificate) stays as it was; regrading reads the correction beside it."""

    __tablename__ = "key_corrections"
    __table_args__ = (UniqueConstraint("attempt_id", "slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[str] = mapped_column(String(64), index=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"))
    slot: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(Text)  # JSON, as a snapshot entry's "key"
    old_score: Mapped[float | None] = mapped_column(Float)
    new_score: Mapped[float] = mapped_column(Float)
    old_passed: Mapped[bool | None] = mapped_column(Boolean)
    new_passed: Mapped[bool] = mapped_column(Boolean)
    corrected_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PreparedPaper(Base):
    """An exam paper drawn ahead of a sitting for one person on its roster, so that starting in
    the sitting stores it instead of drawing it (trainer.sittings.papers): on exam day thousands
    start within seconds, and drawing and rendering a paper was a third of a start's work.

    It holds the answer key like any paper and is never served as it is: a start takes it only if
    it was drawn for the same sitting, person and language, from the library as it is now
    (`stamp`), and the person has started nothing in the course since (`seen_through`: their
    latest attempt then, so the unseen-first rule saw what it would see now). Anything else, and
    the start draws afresh. Deleted once the sitting is over (trainer.people.housekeeping).
    """

    __tablename__ = "prepared_papers"

    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    lang: Mapped[str] = mapped_column(String(10))
    stamp: Mapped[str] = mapped_column(String(64))  # trainer.quizzes.service.paper_stamp
    seen_through: Mapped[int] = mapped_column(Integer)  # the person's latest attempt in the course; 0: none
    seed: Mapped[int] = mapped_column(BigInteger)
    # The paper itself; a start that takes it points its attempt at the same row.
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id"), index=True)
    # Worked out when drawn, so a start neither parses nor serialises the paper: the questions as
    # a new attempt shows them (JSON: what the start route answers).
    served: Mapped[str] = mapped_column(Text)
    prepared_at: Mapped[datetime] = mapped_column(UTCDateTime())
