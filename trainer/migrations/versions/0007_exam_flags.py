"""exam flags (questions marked for review before handing in) and key corrections

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trainer.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attempt_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["attempts.id"],
            name=op.f("fk_attempt_flags_attempt_id_attempts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempt_flags")),
        sa.UniqueConstraint("attempt_id", "slot", name=op.f("uq_attempt_flags_attempt_id_slot")),
    )
    with op.batch_alter_table("attempt_flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attempt_flags_attempt_id"), ["attempt_id"], unique=False)
    op.create_table(
        "key_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.String(length=64), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("old_score", sa.Float(), nullable=True),
        sa.Column("new_score", sa.Float(), nullable=False),
        sa.Column("old_passed", sa.Boolean(), nullable=True),
        sa.Column("new_passed", sa.Boolean(), nullable=False),
        sa.Column("corrected_at", trainer.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["attempts.id"],
            name=op.f("fk_key_corrections_attempt_id_attempts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_corrections")),
        sa.UniqueConstraint("attempt_id", "slot", name=op.f("uq_key_corrections_attempt_id_slot")),
    )
    with op.batch_alter_table("key_corrections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_key_corrections_question_id"), ["question_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("key_corrections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_key_corrections_question_id"))
    op.drop_table("key_corrections")
    with op.batch_alter_table("attempt_flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attempt_flags_attempt_id"))
    op.drop_table("attempt_flags")
