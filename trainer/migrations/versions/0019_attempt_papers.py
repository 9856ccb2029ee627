"""attempt_papers: an attempt's paper in a table of its own, apart from the attempt's row

An attempt's row changes after it is written (graded; its deadline moved by a sitting's close or
extra time) and its paper never does. SQLite rewrites a whole row when a change alters its size,
as grading does, so grading an attempt whose row held its 60-90 kB paper wrote about 170 kB to
the WAL (the paper written anew and its old pages freed) where a row of its own takes one page:
a deadline burst grades thousands under the one write lock. The papers are copied over (on a
large installation this takes as long as copying every paper once), then dropped from
`attempts`. On PostgreSQL the paper keeps lz4 compression where available (0016). A downgrade
puts the papers back in `attempts`, in columns that then allow NULL.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 14:00:00
"""

import sqlite3
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trainer.migrations.compression import lz4_available

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _drop_paper_columns() -> None:
    # SQLite drops a column in place since 3.35; before that, the table is copied (batch mode).
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35):
        with op.batch_alter_table("attempts") as batch:
            batch.drop_column("layout")
            batch.drop_column("snapshot")
    else:
        op.drop_column("attempts", "layout")
        op.drop_column("attempts", "snapshot")


def upgrade() -> None:
    op.create_table(
        "attempt_papers",
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("layout", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["attempts.id"],
            name=op.f("fk_attempt_papers_attempt_id_attempts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_attempt_papers")),
    )
    if lz4_available():
        op.execute("ALTER TABLE attempt_papers ALTER COLUMN snapshot SET COMPRESSION lz4")
    op.execute(
        "INSERT INTO attempt_papers (attempt_id, snapshot, layout) "
        "SELECT id, snapshot, layout FROM attempts ORDER BY id"
    )
    _drop_paper_columns()


def downgrade() -> None:
    op.add_column("attempts", sa.Column("snapshot", sa.Text(), nullable=True))
    op.add_column("attempts", sa.Column("layout", sa.Text(), nullable=True))
    op.execute(
        "UPDATE attempts SET "
        "snapshot = (SELECT p.snapshot FROM attempt_papers p WHERE p.attempt_id = attempts.id), "
        "layout = (SELECT p.layout FROM attempt_papers p WHERE p.attempt_id = attempts.id)"
    )
    op.drop_table("attempt_papers")
