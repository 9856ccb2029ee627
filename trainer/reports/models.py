"""Tables of the reports domain: small summaries kept beside the facts, so a manager's page
costs what it shows rather than what the province holds.

- `unit_headcounts` and `compliance_tallies`: per unit (not per subtree) and course, how many
  inspectors are in each certificate state. Changes to people or certificates append the unit to
  `compliance_changes` (an insert, never an update, so exam-day writers never wait on a shared
  row); the next reader recounts those units and any tally whose `changes_at` - the moment a
  certificate in it crosses a date by the clock alone - has passed. The counts shown are
  therefore exact at the moment of reading.
- `requirement_tallies`: per unit and course, how many of the people required the course (by an
  assignment, trainer.assignments) are in each required state. Kept exact the same way, from the
  same queue: its `changes_at` also covers a due date passing.
- `compliance_snapshots`: the tallies as they stood at the start of each month, for auditors.
- `exam_tallies`: exams taken and passed per unit, course and month, for pass-rate charts.
- `item_marks`: every question of every graded exam with its mark, for item statistics.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from trainer.db import Base, UTCDateTime

STATES = ("valid", "due_for_renewal", "grace", "expired", "suspended", "revoked")


class UnitHeadcount(Base):
    __tablename__ = "unit_headcounts"

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), primary_key=True)
    inspectors: Mapped[int] = mapped_column(Integer)


class ComplianceTally(Base):
    __tablename__ = "compliance_tallies"

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    valid: Mapped[int] = mapped_column(Integer)
    due_for_renewal: Mapped[int] = mapped_column(Integer)
    grace: Mapped[int] = mapped_column(Integer)
    expired: Mapped[int] = mapped_column(Integer)
    suspended: Mapped[int] = mapped_column(Integer)
    revoked: Mapped[int] = mapped_column(Integer)
    changes_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class RequirementTally(Base):
    """Required people of a unit (its direct members) per course, by state
    (trainer.assignments.rules.REQUIRED_STATES)."""

    __tablename__ = "requirement_tallies"

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    required: Mapped[int] = mapped_column(Integer)
    valid: Mapped[int] = mapped_column(Integer)
    due_for_renewal: Mapped[int] = mapped_column(Integer)
    grace: Mapped[int] = mapped_column(Integer)
    expired: Mapped[int] = mapped_column(Integer)
    not_yet_certified: Mapped[int] = mapped_column(Integer)
    overdue: Mapped[int] = mapped_column(Integer)
    changes_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class ComplianceChange(Base):
    """A unit whose tallies must be recounted before they are next read."""

    __tablename__ = "compliance_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(Integer)  # no foreign key: a queue, not a fact


class ComplianceSnapshot(Base):
    __tablename__ = "compliance_snapshots"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # "2026-11"
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    inspectors: Mapped[int] = mapped_column(Integer)
    valid: Mapped[int] = mapped_column(Integer)
    due_for_renewal: Mapped[int] = mapped_column(Integer)
    grace: Mapped[int] = mapped_column(Integer)
    expired: Mapped[int] = mapped_column(Integer)
    suspended: Mapped[int] = mapped_column(Integer)
    revoked: Mapped[int] = mapped_column(Integer)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ExamTally(Base):
    """Final exams graded per unit (where the inspector was at the time), course and month."""

    __tablename__ = "exam_tallies"
    # Pass-rate charts read one course's recent months across a subtree: covering, so the chart
    # never touches the table (the rows of older months pile up, the index range does not).
    __table_args__ = (
        Index("ix_exam_tallies_course_month", "course_id", "month", "unit_id", "taken", "passed"),
    )

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    taken: Mapped[int] = mapped_column(Integer)
    passed: Mapped[int] = mapped_column(Integer)


class ItemMark(Base):
    """One question of one graded final exam: the question as drawn and its mark (0..1).
    Unanswered questions are here too, with mark 0, as item statistics require."""

    __tablename__ = "item_marks"
    # By course and attempt, not question: an exam's marks go in together (migration 0020).
    __table_args__ = (Index("ix_item_marks_course_attempt", "course_id", "attempt_id"),)

    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[str] = mapped_column(String(100))
    question_id: Mapped[str] = mapped_column(String(100))
    mark: Mapped[float] = mapped_column(Float)
