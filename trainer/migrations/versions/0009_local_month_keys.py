"""local month keys: the reports' months in TRAINER_TIME_ZONE instead of UTC

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 20:30:00

Exam tallies and compliance snapshots were keyed by the UTC month, so in Asia/Shanghai an exam
graded between 00:00 and 08:00 on the 1st counted in the month before. No schema changes: the
keys are recomputed in the installation's zone where they differ.

- `exam_tallies` are recounted from the graded final exams they summarise (unit at the time,
  course, month of grading) and replaced only if the recount differs.
- `compliance_snapshots` keep their rows; a month's snapshot is re-keyed to the month its
  `taken_at` falls in, unless that month already has one (a snapshot taken in the last hours of a
  UTC month, with the next month's also kept: it stays as it was, still shown with its time).
"""

from collections import Counter
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

import trainer.db
from trainer.localtime import default_zone

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    config = op.get_context().config  # `trainer.migrate` hands over the database's zone
    zone = config.attributes.get("time_zone") if config is not None else None
    rekey(op.get_bind(), zone if isinstance(zone, ZoneInfo) else default_zone())


def downgrade() -> None:
    rekey(op.get_bind(), ZoneInfo("UTC"))  # the keys as they were before this revision


def rekey(conn: sa.Connection, zone: ZoneInfo) -> None:
    utc = trainer.db.UTCDateTime()
    attempts = sa.table(
        "attempts",
        sa.column("unit_id"),
        sa.column("course_id"),
        sa.column("kind"),
        sa.column("status"),
        sa.column("passed"),
        sa.column("submitted_at", utc),
    )
    tallies = sa.table(
        "exam_tallies",
        sa.column("unit_id"),
        sa.column("course_id"),
        sa.column("month"),
        sa.column("taken"),
        sa.column("passed"),
    )
    taken: Counter[tuple[int, str, str]] = Counter()
    passed: Counter[tuple[int, str, str]] = Counter()
    for unit_id, course_id, submitted_at, was_passed in conn.execute(
        sa.select(attempts.c.unit_id, attempts.c.course_id, attempts.c.submitted_at, attempts.c.passed).where(
            attempts.c.kind == "exam",
            attempts.c.status == "graded",
            attempts.c.unit_id.is_not(None),
            attempts.c.submitted_at.is_not(None),
        )
    ):
        key = (unit_id, course_id, submitted_at.astimezone(zone).strftime("%Y-%m"))
        taken[key] += 1
        passed[key] += bool(was_passed)
    recounted = {key: (n, passed[key]) for key, n in taken.items()}
    stored = {
        (u, c, m): (t, p)
        for u, c, m, t, p in conn.execute(
            sa.select(
                tallies.c.unit_id, tallies.c.course_id, tallies.c.month, tallies.c.taken, tallies.c.passed
            )
        )
    }
    if stored != recounted:
        conn.execute(tallies.delete())
        if recounted:
            conn.execute(
                tallies.insert(),
                [
                    {"unit_id": u, "course_id": c, "month": m, "taken": t, "passed": p}
                    for (u, c, m), (t, p) in sorted(recounted.items())
                ],
            )

    snapshots = sa.table("compliance_snapshots", sa.column("month"), sa.column("taken_at", utc))
    kept = dict(
        conn.execute(
            sa.select(snapshots.c.month, sa.func.min(snapshots.c.taken_at)).group_by(snapshots.c.month)
        ).all()
    )
    months = set(kept)
    for month, taken_at in sorted(kept.items(), reverse=True):  # a later month moves first
        local_month = taken_at.astimezone(zone).strftime("%Y-%m")
        if local_month != month and local_month not in months:
            conn.execute(snapshots.update().where(snapshots.c.month == month).values(month=local_month))
            months.discard(month)
            months.add(local_month)
