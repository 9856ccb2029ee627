"""item_marks: indexed by course and attempt instead of course and question

Grading an exam inserts its 50 or so item marks. Indexed by (course, question), each mark went
into the index beside the earlier marks of its own question: some fifty index pages changed per
grade, about 295 kB written to SQLite's WAL (measured with 50,000 marks stored). Indexed by
(course, attempt), an exam's marks sit together at the end of their course's range: 43 kB a
grade, against 26 kB with no index beside the primary key. The item pages read a course's marks through
it as before; one question's marks are found among its course's, not by an index of their own.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 17:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_item_marks_course_attempt", "item_marks", ["course_id", "attempt_id"])
    op.drop_index("ix_item_marks_course_question", table_name="item_marks")


def downgrade() -> None:
    op.create_index("ix_item_marks_course_question", "item_marks", ["course_id", "question_id"])
    op.drop_index("ix_item_marks_course_attempt", table_name="item_marks")
