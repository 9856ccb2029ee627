"""papers: a paper in a table of its own, held by an attempt and by a paper drawn ahead alike

A start in a sitting that took the paper drawn ahead for the person copied its 60-90 kB from
`prepared_papers` into `attempt_papers`: about 22 pages of SQLite's WAL under the write lock that
every start of the sitting waits for. Now the paper is a row of `papers`, written once when drawn;
`prepared_papers.paper_id` and `attempt_papers.paper_id` point at it, and the start writes only
the attempt and its link (short exam-day runs at 2,000 inspectors on SQLite, alternating: 323 and
325 starts a second against 297 and 303 with the copy).

The attempts' papers keep their ids (a paper's id is its attempt's); each paper drawn ahead moves
into `papers` under a new id. A downgrade copies the papers back and drops the table.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trainer.migrations.compression import lz4_available

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _set_aside_attempt_papers(name: str) -> None:
    """Rename `attempt_papers` to `name`, to be copied from and dropped once the table of the
    other shape is made. On PostgreSQL its constraints are renamed too: their names (the primary
    key's index especially) would clash with the new table's."""
    op.rename_table("attempt_papers", name)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {name} RENAME CONSTRAINT pk_attempt_papers TO pk_{name}")
        op.execute(
            f"ALTER TABLE {name} RENAME CONSTRAINT fk_attempt_papers_attempt_id_attempts "
            f"TO fk_{name}_attempt_id_attempts"
        )


def upgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    op.create_table(
        "papers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("layout", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_papers")),
    )
    if lz4_available():
        op.execute("ALTER TABLE papers ALTER COLUMN snapshot SET COMPRESSION lz4")
    op.execute(
        "INSERT INTO papers (id, snapshot, layout) SELECT attempt_id, snapshot, layout FROM attempt_papers "
        "ORDER BY attempt_id"
    )
    if postgresql:  # ids were given: the next one drawn comes after them
        op.execute(
            "SELECT setval(pg_get_serial_sequence('papers', 'id'), COALESCE(MAX(id), 0) + 1, false) "
            "FROM papers"
        )

    # attempt_papers becomes the link: rebuilt without the paper's columns (nothing refers to it).
    _set_aside_attempt_papers("attempt_papers_0020")
    op.create_table(
        "attempt_papers",
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["attempts.id"],
            name=op.f("fk_attempt_papers_attempt_id_attempts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], name=op.f("fk_attempt_papers_paper_id_papers")),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_attempt_papers")),
    )
    op.execute(
        "INSERT INTO attempt_papers (attempt_id, paper_id) "
        "SELECT attempt_id, attempt_id FROM attempt_papers_0020"
    )
    op.drop_table("attempt_papers_0020")
    op.create_index(op.f("ix_attempt_papers_paper_id"), "attempt_papers", ["paper_id"], unique=False)

    # Each paper drawn ahead moves into `papers`, one at a time (a sitting's are megabytes).
    op.add_column("prepared_papers", sa.Column("paper_id", sa.Integer(), nullable=True))
    held = bind.execute(sa.text("SELECT sitting_id, user_id FROM prepared_papers")).all()
    for sitting_id, user_id in held:
        key = {"sitting": sitting_id, "user": user_id}
        paper_id = bind.execute(
            sa.text(
                "INSERT INTO papers (snapshot, layout) SELECT snapshot, layout FROM prepared_papers "
                "WHERE sitting_id = :sitting AND user_id = :user RETURNING id"
            ),
            key,
        ).scalar_one()
        bind.execute(
            sa.text(
                "UPDATE prepared_papers SET paper_id = :paper WHERE sitting_id = :sitting AND user_id = :user"
            ),
            key | {"paper": paper_id},
        )
    # prepared_papers: nothing refers to it, so SQLite may rebuild it (batch mode) to drop columns
    # and add the reference.
    with op.batch_alter_table("prepared_papers") as batch:
        batch.alter_column("paper_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(op.f("fk_prepared_papers_paper_id_papers"), "papers", ["paper_id"], ["id"])
        batch.drop_column("layout")
        batch.drop_column("snapshot")
    op.create_index(op.f("ix_prepared_papers_paper_id"), "prepared_papers", ["paper_id"], unique=False)


def downgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    op.drop_index(op.f("ix_prepared_papers_paper_id"), table_name="prepared_papers")
    op.add_column("prepared_papers", sa.Column("snapshot", sa.Text(), nullable=True))
    op.add_column("prepared_papers", sa.Column("layout", sa.Text(), nullable=True))
    op.execute(
        "UPDATE prepared_papers SET "
        "snapshot = (SELECT p.snapshot FROM papers p WHERE p.id = prepared_papers.paper_id), "
        "layout = (SELECT p.layout FROM papers p WHERE p.id = prepared_papers.paper_id)"
    )
    with op.batch_alter_table("prepared_papers") as batch:
        if postgresql:  # on SQLite the rebuilt table simply lacks it
            batch.drop_constraint(op.f("fk_prepared_papers_paper_id_papers"), type_="foreignkey")
        batch.drop_column("paper_id")
        batch.alter_column("snapshot", existing_type=sa.Text(), nullable=False)
        batch.alter_column("layout", existing_type=sa.Text(), nullable=False)
    if lz4_available():
        op.execute("ALTER TABLE prepared_papers ALTER COLUMN snapshot SET COMPRESSION lz4")

    op.drop_index(op.f("ix_attempt_papers_paper_id"), table_name="attempt_papers")
    _set_aside_attempt_papers("attempt_papers_0021")
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
        "SELECT a.attempt_id, p.snapshot, p.layout FROM attempt_papers_0021 a "
        "JOIN papers p ON p.id = a.paper_id "
        "ORDER BY a.attempt_id"
    )
    op.drop_table("attempt_papers_0021")
    op.drop_table("papers")
