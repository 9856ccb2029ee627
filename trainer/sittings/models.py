"""Tables of the sittings domain: an organised exam (a course's window, place and roster), the
units and people on its roster, the people's extra time, and its supervisors.

Attempts started in a sitting carry its id (`attempts.sitting_id`, trainer.quizzes.models).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ColumnElement, ForeignKey, Index, Integer, String, bindparam, exists, or_
from sqlalchemy.orm import Mapped, mapped_column

from trainer.db import Base, UTCDateTime


class Sitting(Base):
    """One sitting of a course's final exam: open from `opens_at` to `closes_at` (or until a
    supervisor closes it, `closed_at`), entered until `late_entry_minutes` after it opens.

    `scope_lineage` is the deepest unit (a lineage, "/1/4/") holding the whole roster, or the
    creating manager's unit while the roster is empty: a manager may see and edit the sittings
    inside their part of the organisation with one prefix match ("/" is the province's, for
    trainers and admins only)."""

    __tablename__ = "sittings"
    __table_args__ = (
        # The exam start looks up the open sittings of one course: few rows, found by index.
        Index("ix_sittings_course_closes", "course_id", "closes_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[str] = mapped_column(String(100))
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    late_entry_minutes: Mapped[int | None] = mapped_column(Integer)  # None: entry until the close
    place: Mapped[str] = mapped_column(String(200))
    access_code: Mapped[str | None] = mapped_column(String(16))  # None: no code asked
    scope_lineage: Mapped[str] = mapped_column(String(400), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # closed by a supervisor


class SittingUnit(Base):
    """A unit on the roster: its inspectors, and those of every unit under it."""

    __tablename__ = "sitting_units"

    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id", ondelete="CASCADE"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)


class SittingPerson(Base):
    """A person on the roster by name (`named`), and/or their extra time in this sitting (a
    person on the roster through a unit has a row only for extra time)."""

    __tablename__ = "sitting_people"

    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    named: Mapped[bool] = mapped_column(Boolean)
    extra_minutes: Mapped[int] = mapped_column(Integer)


class SittingSupervisor(Base):
    """Someone who supervises the sitting: sees its board and acts on it."""

    __tablename__ = "sitting_supervisors"

    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)


def on_roster() -> ColumnElement[bool]:
    """In a query over `sittings`: the sitting names the person, or lists their unit or a unit
    above it and they are an inspector (a unit puts its inspectors on a roster, not its managers
    or trainers). Primary-key lookups only: this is on the exam start's path, where the query is
    built once, so the person comes as bound parameters: `roster_params`."""
    # Correlated to `sittings` only: the exam start's query also joins sitting_people itself.
    named = (
        exists()
        .where(
            SittingPerson.sitting_id == Sitting.id,
            SittingPerson.user_id == bindparam("roster_user"),
            SittingPerson.named.is_(True),
        )
        .correlate(Sitting)
    )
    by_unit = (
        exists()
        .where(
            SittingUnit.sitting_id == Sitting.id,
            SittingUnit.unit_id.in_(bindparam("roster_units", expanding=True)),
        )
        .correlate(Sitting)
    )
    return or_(named, by_unit)


def roster_params(user_id: int, unit_lineage: str | None, *, inspector: bool) -> dict[str, object]:
    """`on_roster`'s parameters for a person: their units count only for an inspector."""
    ancestors = [int(part) for part in (unit_lineage or "").split("/") if part]  # "/1/4/9/" -> 1, 4, 9
    return {"roster_user": user_id, "roster_units": ancestors if inspector else []}
