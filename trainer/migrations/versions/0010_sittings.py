"""sittings: organised exam sittings (window, place, roster, supervisors, extra time); attempts
remember the sitting they were started in

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trainer.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sittings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.String(length=100), nullable=False),
        sa.Column("opens_at", trainer.db.UTCDateTime(), nullable=False),
        sa.Column("closes_at", trainer.db.UTCDateTime(), nullable=False),
        sa.Column("late_entry_minutes", sa.Integer(), nullable=True),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("access_code", sa.String(length=16), nullable=True),
        sa.Column("scope_lineage", sa.String(length=400), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", trainer.db.UTCDateTime(), nullable=False),
        sa.Column("closed_at", trainer.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_sittings_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sittings")),
    )
    op.create_index("ix_sittings_course_closes", "sittings", ["course_id", "closes_at"], unique=False)
    op.create_index(op.f("ix_sittings_scope_lineage"), "sittings", ["scope_lineage"], unique=False)
    op.create_table(
        "sitting_units",
        sa.Column("sitting_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sitting_id"],
            ["sittings.id"],
            name=op.f("fk_sitting_units_sitting_id_sittings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_sitting_units_unit_id_units")),
        sa.PrimaryKeyConstraint("sitting_id", "unit_id", name=op.f("pk_sitting_units")),
    )
    op.create_table(
        "sitting_people",
        sa.Column("sitting_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("named", sa.Boolean(), nullable=False),
        sa.Column("extra_minutes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sitting_id"],
            ["sittings.id"],
            name=op.f("fk_sitting_people_sitting_id_sittings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_sitting_people_user_id_users")),
        sa.PrimaryKeyConstraint("sitting_id", "user_id", name=op.f("pk_sitting_people")),
    )
    op.create_table(
        "sitting_supervisors",
        sa.Column("sitting_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sitting_id"],
            ["sittings.id"],
            name=op.f("fk_sitting_supervisors_sitting_id_sittings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_sitting_supervisors_user_id_users")),
        sa.PrimaryKeyConstraint("sitting_id", "user_id", name=op.f("pk_sitting_supervisors")),
    )
    op.create_index(op.f("ix_sitting_supervisors_user_id"), "sitting_supervisors", ["user_id"], unique=False)

    # Plain ADD COLUMN (no rebuild of a large table; SQLite would also refuse to drop a table that
    # others reference while foreign keys are enforced), as 0006 added attempts.unit_id.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE attempts ADD COLUMN sitting_id INTEGER "
            "CONSTRAINT fk_attempts_sitting_id_sittings REFERENCES sittings (id)"
        )
    else:
        op.add_column("attempts", sa.Column("sitting_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f("fk_attempts_sitting_id_sittings"), "attempts", "sittings", ["sitting_id"], ["id"]
        )
    op.create_index(op.f("ix_attempts_sitting_id"), "attempts", ["sitting_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_attempts_sitting_id"), table_name="attempts")
    with op.batch_alter_table("attempts") as batch:
        if op.get_bind().dialect.name != "sqlite":  # on SQLite the rebuilt table simply lacks it
            batch.drop_constraint(op.f("fk_attempts_sitting_id_sittings"), type_="foreignkey")
        batch.drop_column("sitting_id")
    op.drop_index(op.f("ix_sitting_supervisors_user_id"), table_name="sitting_supervisors")
    op.drop_table("sitting_supervisors")
    op.drop_table("sitting_people")
    op.drop_table("sitting_units")
    op.drop_index(op.f("ix_sittings_scope_lineage"), table_name="sittings")
    op.drop_index("ix_sittings_course_closes", table_name="sittings")
    op.drop_table("sittings")
