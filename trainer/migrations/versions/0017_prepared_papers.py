"""prepared_papers: exam papers drawn ahead of a sitting, one per person on its roster

Starting an exam in a sitting then stores the prepared paper instead of drawing one
(trainer.sittings.papers). On PostgreSQL the paper is compressed with lz4 where available, as
attempts.snapshot is (0016).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trainer.db
from trainer.migrations.compression import lz4_available

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "prepared_papers",
        sa.Column("sitting_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("lang", sa.String(length=10), nullable=False),
        sa.Column("stamp", sa.String(length=64), nullable=False),
        sa.Column("seen_through", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("layout", sa.Text(), nullable=False),
        sa.Column("served", sa.Text(), nullable=False),
        sa.Column("prepared_at", trainer.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sitting_id"],
            ["sittings.id"],
            name=op.f("fk_prepared_papers_sitting_id_sittings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_prepared_papers_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sitting_id", "user_id", name=op.f("pk_prepared_papers")),
    )
    if lz4_available():
        op.execute("ALTER TABLE prepared_papers ALTER COLUMN snapshot SET COMPRESSION lz4")
        op.execute("ALTER TABLE prepared_papers ALTER COLUMN served SET COMPRESSION lz4")


def downgrade() -> None:
    op.drop_table("prepared_papers")
