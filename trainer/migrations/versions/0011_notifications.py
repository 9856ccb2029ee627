"""notifications: the outbox (sitting invitations and changes, renewal reminders, managers'
digests), and each account's chosen interface language

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trainer.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("occasion", sa.String(length=100), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attachment_name", sa.String(length=100), nullable=True),
        sa.Column("attachment", sa.Text(), nullable=True),
        sa.Column("created_at", trainer.db.UTCDateTime(), nullable=False),
        sa.Column("read_at", trainer.db.UTCDateTime(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("email_state", sa.String(length=10), nullable=False),
        sa.Column("claim", sa.String(length=32), nullable=True),
        sa.Column("claimed_until", trainer.db.UTCDateTime(), nullable=True),
        sa.Column("sent_at", trainer.db.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint(
            "kind",
            "user_id",
            "subject_type",
            "subject_id",
            "occasion",
            name=op.f("uq_notifications_kind_user_id_subject_type_subject_id_occasion"),
        ),
    )
    op.create_index("ix_notifications_user_read", "notifications", ["user_id", "read_at"], unique=False)
    op.create_index("ix_notifications_email_state", "notifications", ["email_state"], unique=False)
    op.create_index("ix_notifications_subject", "notifications", ["subject_type", "subject_id"], unique=False)
    # Plain ADD COLUMN (no rebuild of the users table, which others reference).
    op.add_column("users", sa.Column("language", sa.String(length=8), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild would drop `users`, which others reference.
    op.execute("ALTER TABLE users DROP COLUMN language")
    op.drop_index("ix_notifications_subject", table_name="notifications")
    op.drop_index("ix_notifications_email_state", table_name="notifications")
    op.drop_index("ix_notifications_user_read", table_name="notifications")
    op.drop_table("notifications")
