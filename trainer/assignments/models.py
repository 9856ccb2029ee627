"""Tables of the assignments domain: who is required to hold which course's certificate, by when.

An assignment targets one of:
- `unit`: every active inspector of a unit and of every unit under it (`lineage` is the unit's);
- `role`: every active person holding `role` inside a unit's subtree (`lineage` is that unit's,
  "/" for the whole organisation: admins only);
- `person`: one named person (`lineage` is their unit's when it was made, for who may see it).

Units never move (a lineage is fixed at creation), so a person is required a course exactly when
an active assignment's target covers them now: moving a person to another unit, giving them a
role or deactivating them changes what is required of them at once. When several assignments
require the same course of one person, the earliest due date counts.

Withdrawing an assignment keeps its row (`withdrawn_at`), so the history of what was required
stays readable beside the audit log.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trainer.db import Base, UTCDateTime

KINDS = ("unit", "role", "person")


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (
        # Recounts and lists read the active assignments of a course; the dashboard a person's.
        Index("ix_assignments_course_active", "course_id", "withdrawn_at"),
        Index("ix_assignments_person", "person_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))  # one of KINDS
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))  # unit, or a role's scope
    role: Mapped[str | None] = mapped_column(String(20))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lineage: Mapped[str] = mapped_column(String(400), index=True)  # see the module docstring
    due: Mapped[date] = mapped_column(Date)  # the last day, in the configured time zone
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
