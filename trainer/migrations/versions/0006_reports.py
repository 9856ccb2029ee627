"""reports: compliance tallies, snapshots, exam tallies, item marks

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 19:00:00

Existing data is carried over: certificates get their renewal and grace dates, attempts the
inspector's unit, graded exams their item marks and monthly tallies, and every unit is queued
for its compliance tallies to be counted on first read.
"""

import json
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

import trainer.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = ("valid", "due_for_renewal", "grace", "expired", "suspended", "revoked")


def upgrade() -> None:
    op.create_table(
        "unit_headcounts",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("inspectors", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_unit_headcounts_unit_id_units"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("unit_id", name=op.f("pk_unit_headcounts")),
    )
    op.create_table(
        "compliance_tallies",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.String(length=100), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS],
        sa.Column("changes_at", trainer.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_compliance_tallies_unit_id_units"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("unit_id", "course_id", name=op.f("pk_compliance_tallies")),
    )
    op.create_index(
        op.f("ix_compliance_tallies_changes_at"), "compliance_tallies", ["changes_at"], unique=False
    )
    op.create_table(
        "compliance_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_changes")),
    )
    op.create_table(
        "compliance_snapshots",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.String(length=100), nullable=False),
        sa.Column("inspectors", sa.Integer(), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS],
        sa.Column("taken_at", trainer.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_compliance_snapshots_unit_id_units"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("month", "unit_id", "course_id", name=op.f("pk_compliance_snapshots")),
    )
    op.create_table(
        "exam_tallies",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.String(length=100), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_exam_tallies_unit_id_units"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("unit_id", "course_id", "month", name=op.f("pk_exam_tallies")),
    )
    op.create_index(
        "ix_exam_tallies_course_month",
        "exam_tallies",
        ["course_id", "month", "unit_id", "taken", "passed"],
        unique=False,
    )
    op.create_table(
        "item_marks",
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.String(length=100), nullable=False),
        sa.Column("question_id", sa.String(length=100), nullable=False),
        sa.Column("mark", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["attempts.id"],
            name=op.f("fk_item_marks_attempt_id_attempts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attempt_id", "slot", name=op.f("pk_item_marks")),
    )
    op.create_index("ix_item_marks_course_question", "item_marks", ["course_id", "question_id"], unique=False)

    # Plain ADD COLUMN (no table rebuild): SQLite would refuse to drop a table that others
    # reference while foreign keys are enforced.
    if op.get_bind().dialect.name == "sqlite":  # Alembic cannot add a constraint there; SQLite can, inline
        op.execute(
            "ALTER TABLE attempts ADD COLUMN unit_id INTEGER "
            "CONSTRAINT fk_attempts_unit_id_units REFERENCES units (id)"
        )
    else:
        op.add_column("attempts", sa.Column("unit_id", sa.Integer(), nullable=True))
        op.create_foreign_key(op.f("fk_attempts_unit_id_units"), "attempts", "units", ["unit_id"], ["id"])
    op.add_column("certificates", sa.Column("renewal_from", trainer.db.UTCDateTime(), nullable=True))
    op.add_column("certificates", sa.Column("grace_until", trainer.db.UTCDateTime(), nullable=True))
    op.create_index(
        "ix_certificates_course_current_expires",
        "certificates",
        ["course_id", "is_current", "expires_at"],
        unique=False,
    )
    op.create_index(op.f("ix_users_full_name"), "users", ["full_name"], unique=False)

    _carry_over(op.get_bind())

    with op.batch_alter_table("certificates") as batch:
        batch.alter_column("renewal_from", existing_type=trainer.db.UTCDateTime(), nullable=False)
        batch.alter_column("grace_until", existing_type=trainer.db.UTCDateTime(), nullable=False)


def _carry_over(conn: sa.Connection) -> None:
    """Fill the new columns and summaries from what is already stored (small on any
    installation old enough to have data before this revision)."""
    utc = trainer.db.UTCDateTime()
    certificates = sa.table(
        "certificates",
        sa.column("id"),
        sa.column("expires_at", utc),
        sa.column("renewal_window_days"),
        sa.column("grace_days"),
        sa.column("renewal_from", utc),
        sa.column("grace_until", utc),
    )
    for row in conn.execute(
        sa.select(
            certificates.c.id,
            certificates.c.expires_at,
            certificates.c.renewal_window_days,
            certificates.c.grace_days,
        )
    ).all():
        conn.execute(
            certificates.update()
            .where(certificates.c.id == row.id)
            .values(
                renewal_from=row.expires_at - timedelta(days=row.renewal_window_days),
                grace_until=row.expires_at + timedelta(days=row.grace_days),
            )
        )
    conn.execute(
        sa.text("UPDATE attempts SET unit_id = (SELECT unit_id FROM users WHERE users.id = attempts.user_id)")
    )
    attempts = sa.table(
        "attempts",
        sa.column("id"),
        sa.column("unit_id"),
        sa.column("course_id"),
        sa.column("kind"),
        sa.column("status"),
        sa.column("passed"),
        sa.column("submitted_at", utc),
        sa.column("snapshot"),
    )
    answers = sa.table("attempt_answers", sa.column("attempt_id"), sa.column("slot"), sa.column("score"))
    item_marks = sa.table(
        "item_marks",
        sa.column("attempt_id"),
        sa.column("slot"),
        sa.column("course_id"),
        sa.column("question_id"),
        sa.column("mark"),
    )
    taken: Counter[tuple[int, str, str]] = Counter()
    passed: Counter[tuple[int, str, str]] = Counter()
    graded = conn.execute(
        sa.select(attempts).where(attempts.c.kind == "exam", attempts.c.status == "graded")
    ).all()
    # Every graded exam's answer scores in one read, not one query per attempt.
    exam_scores: dict[int, dict[int, float]] = {}
    for attempt_id, slot, score in conn.execute(
        sa.select(answers.c.attempt_id, answers.c.slot, answers.c.score)
        .select_from(answers.join(attempts, attempts.c.id == answers.c.attempt_id))
        .where(attempts.c.kind == "exam", attempts.c.status == "graded")
    ):
        exam_scores.setdefault(attempt_id, {})[slot] = score
    for attempt in graded:
        scores = exam_scores.get(attempt.id, {})
        rows = [
            {
                "attempt_id": attempt.id,
                "slot": entry["slot"],
                "course_id": attempt.course_id,
                "question_id": entry["id"],
                "mark": scores.get(entry["slot"]) or 0.0,
            }
            for entry in json.loads(attempt.snapshot)
        ]
        if rows:
            conn.execute(item_marks.insert(), rows)
        if attempt.unit_id is not None and attempt.submitted_at is not None:
            key = (attempt.unit_id, attempt.course_id, attempt.submitted_at.strftime("%Y-%m"))
            taken[key] += 1
            passed[key] += bool(attempt.passed)
    if taken:
        exam_tallies = sa.table(
            "exam_tallies",
            sa.column("unit_id"),
            sa.column("course_id"),
            sa.column("month"),
            sa.column("taken"),
            sa.column("passed"),
        )
        conn.execute(
            exam_tallies.insert(),
            [
                {"unit_id": u, "course_id": c, "month": m, "taken": n, "passed": passed[(u, c, m)]}
                for (u, c, m), n in taken.items()
            ],
        )
    conn.execute(sa.text("INSERT INTO compliance_changes (unit_id) SELECT id FROM units"))


def downgrade() -> None:
    op.drop_index(op.f("ix_users_full_name"), table_name="users")
    op.drop_index("ix_certificates_course_current_expires", table_name="certificates")
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("grace_until")
        batch.drop_column("renewal_from")
    with op.batch_alter_table("attempts") as batch:
        if op.get_bind().dialect.name != "sqlite":  # on SQLite the rebuilt table simply lacks it
            batch.drop_constraint(op.f("fk_attempts_unit_id_units"), type_="foreignkey")
        batch.drop_column("unit_id")
    op.drop_index("ix_item_marks_course_question", table_name="item_marks")
    op.drop_table("item_marks")
    op.drop_index("ix_exam_tallies_course_month", table_name="exam_tallies")
    op.drop_table("exam_tallies")
    op.drop_table("compliance_snapshots")
    op.drop_table("compliance_changes")
    op.drop_index(op.f("ix_compliance_tallies_changes_at"), table_name="compliance_tallies")
    op.drop_table("compliance_tallies")
    op.drop_table("unit_headcounts")
