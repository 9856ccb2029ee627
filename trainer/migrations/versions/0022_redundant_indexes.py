"""Six indexes of one column that a unique constraint or a wider index already leads with

`attempts.user_id` (ix_attempts_user_course leads with it), `attempt_answers.attempt_id` and
`attempt_flags.attempt_id` (their unique (attempt_id, slot)), `units.parent_id`,
`course_versions.course_id` and `content_versions.path` (their unique constraints). Every query
and foreign-key check that used one finds the same rows through the wider index; each was one
more B-tree written on every insert: for `attempts`, every exam start, for `attempt_answers`, every
answer's first save, the two busiest writes of exam day.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 22:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column): each index is named ix_<table>_<column>, as the models' index=True named it
REDUNDANT = (
    ("attempts", "user_id"),
    ("attempt_answers", "attempt_id"),
    ("attempt_flags", "attempt_id"),
    ("units", "parent_id"),
    ("course_versions", "course_id"),
    ("content_versions", "path"),
)


def upgrade() -> None:
    for table, column in REDUNDANT:
        op.drop_index(f"ix_{table}_{column}", table_name=table)


def downgrade() -> None:
    for table, column in REDUNDANT:
        op.create_index(f"ix_{table}_{column}", table, [column])
