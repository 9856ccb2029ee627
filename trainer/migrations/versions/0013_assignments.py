"""assignments: courses required of units, roles or named people by a due date, and the
per-unit tallies of required people by state

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trainer.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("lineage", sa.String(length=400), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", trainer.db.UTCDateTime(), nullable=False),
        sa.Column("withdrawn_at", trainer.db.UTCDateTime(), nullable=True),
        sa.Column("withdrawn_by", sa.Integer(), nullable=True),
        sa.Column("withdrawn_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_assignments_unit_id_units")),
        sa.ForeignKeyConstraint(["person_id"], ["users.id"], name=op.f("fk_assignments_person_id_users")),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_assignments_created_by_users")),
        sa.ForeignKeyConstraint(
            ["withdrawn_by"], ["users.id"], name=op.f("fk_assignments_withdrawn_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
    )
    op.create_index(
        "ix_assignments_course_active", "assignments", ["course_id", "withdrawn_at"], unique=False
    )
    op.create_index("ix_assignments_person", "assignments", ["person_id"], unique=False)
    op.create_index(op.f("ix_assignments_lineage"), "assignments", ["lineage"], unique=False)
    op.create_table(
        "requirement_tallies",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.String(length=100), nullable=False),
        sa.Column("required", sa.Integer(), nullable=False),
        sa.Column("valid", sa.Integer(), nullable=False),
        sa.Column("due_for_renewal", sa.Integer(), nullable=False),
        sa.Column("grace", sa.Integer(), nullable=False),
        sa.Column("expired", sa.Integer(), nullable=False),
        sa.Column("not_yet_certified", sa.Integer(), nullable=False),
        sa.Column("overdue", sa.Integer(), nullable=False),
        sa.Column("changes_at", trainer.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_requirement_tallies_unit_id_units"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("unit_id", "course_id", name=op.f("pk_requirement_tallies")),
    )
    op.create_index(
        op.f("ix_requirement_tallies_changes_at"), "requirement_tallies", ["changes_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_requirement_tallies_changes_at"), table_name="requirement_tallies")
    op.drop_table("requirement_tallies")
    op.drop_index(op.f("ix_assignments_lineage"), table_name="assignments")
    op.drop_index("ix_assignments_person", table_name="assignments")
    op.drop_index("ix_assignments_course_active", table_name="assignments")
    op.drop_table("assignments")
