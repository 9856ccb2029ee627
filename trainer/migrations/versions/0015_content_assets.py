"""content_assets: images uploaded from module drafts, kept in the database so every app
process serves the same bytes

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trainer.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "content_assets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("media_type", sa.String(length=40), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("alt_text", sa.Text(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", trainer.db.UTCDateTime(), nullable=False),
        sa.Column("published_at", trainer.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["content_drafts.id"],
            name=op.f("fk_content_assets_draft_id_content_drafts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["users.id"], name=op.f("fk_content_assets_uploaded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_assets")),
        sa.UniqueConstraint("course_id", "name", name=op.f("uq_content_assets_course_id_name")),
    )
    op.create_index(op.f("ix_content_assets_draft_id"), "content_assets", ["draft_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_content_assets_draft_id"), table_name="content_assets")
    op.drop_table("content_assets")
