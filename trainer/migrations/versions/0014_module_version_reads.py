"""module_version_reads: which version (language and file text) of a module each person read

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trainer.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "module_version_reads",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("module_id", sa.String(length=100), nullable=False),
        sa.Column("lang", sa.String(length=10), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("read_at", trainer.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_module_version_reads_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "module_id", "lang", "sha256", name=op.f("pk_module_version_reads")
        ),
    )


def downgrade() -> None:
    op.drop_table("module_version_reads")
