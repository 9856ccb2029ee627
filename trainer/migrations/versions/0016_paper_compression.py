"""paper_compression: on PostgreSQL, an attempt's paper is compressed with lz4, not pglz

A paper (the attempt's snapshot) is 60-90 kB of JSON, compressed by PostgreSQL when it is
stored and decompressed whenever it is read. pglz made that PostgreSQL's largest cost of an exam
start under a storm; lz4 compresses and decompresses several times faster, at a slightly
larger size. Rows already stored keep pglz (both are read alike). Left alone on SQLite (it
stores text as is) and on a PostgreSQL without lz4 (before 14, or built without it).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 23:45:00
"""

from collections.abc import Sequence

from alembic import op

from trainer.migrations.compression import lz4_available

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if lz4_available():
        op.execute("ALTER TABLE attempts ALTER COLUMN snapshot SET COMPRESSION lz4")


def downgrade() -> None:
    if lz4_available():
        op.execute("ALTER TABLE attempts ALTER COLUMN snapshot SET COMPRESSION DEFAULT")
