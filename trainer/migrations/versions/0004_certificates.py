"""certificates

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 17:50:45.451196
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trainer.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("verification_code", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.String(length=100), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("unit_path", sa.String(length=1000), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("issued_at", trainer.db.UTCDateTime(), nullable=False),
        sa.Column("valid_from", trainer.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", trainer.db.UTCDateTime(), nullable=False),
        sa.Column("renewal_window_days", sa.Integer(), nullable=False),
        sa.Column("grace_days", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("snapshot_hash", sa.String(length=64), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("suspended_at", trainer.db.UTCDateTime(), nullable=True),
        sa.Column("suspended_reason", sa.Text(), nullable=True),
        sa.Column("revoked_at", trainer.db.UTCDateTime(), nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.Column("superseded_at", trainer.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["attempts.id"], name=op.f("fk_certificates_attempt_id_attempts")
        ),
        sa.ForeignKeyConstraint(
            ["previous_id"], ["certificates.id"], name=op.f("fk_certificates_previous_id_certificates")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_certificates_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint("number", name=op.f("uq_certificates_number")),
        sa.UniqueConstraint("verification_code", name=op.f("uq_certificates_verification_code")),
    )
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_certificates_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_certificates_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            "uq_certificates_one_current",
            ["user_id", "course_id"],
            unique=True,
            sqlite_where=sa.text("is_current = 1"),
            postgresql_where=sa.text("is_current"),
        )


def downgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_certificates_one_current",
            sqlite_where=sa.text("is_current = 1"),
            postgresql_where=sa.text("is_current"),
        )
        batch_op.drop_index(batch_op.f("ix_certificates_user_id"))
        batch_op.drop_index(batch_op.f("ix_certificates_expires_at"))

    op.drop_table("certificates")
