"""authoring: published content versions, drafts and their review steps, and the generation
counter every app process polls to notice a publish

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trainer.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "content_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("item_id", sa.String(length=100), nullable=False),
        sa.Column("lang", sa.String(length=10), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("published_by", sa.Integer(), nullable=True),
        sa.Column("published_at", trainer.db.UTCDateTime(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["published_by"], ["users.id"], name=op.f("fk_content_versions_published_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_versions")),
        sa.UniqueConstraint("path", "number", name=op.f("uq_content_versions_path_number")),
    )
    op.create_index(op.f("ix_content_versions_path"), "content_versions", ["path"], unique=False)
    op.create_index(op.f("ix_content_versions_item_id"), "content_versions", ["item_id"], unique=False)
    op.create_table(
        "content_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("item_id", sa.String(length=100), nullable=False),
        sa.Column("lang", sa.String(length=10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("base_text", sa.Text(), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("restores", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("created_at", trainer.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", trainer.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_content_drafts_author_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_drafts")),
    )
    op.create_index(op.f("ix_content_drafts_path"), "content_drafts", ["path"], unique=False)
    op.create_index(op.f("ix_content_drafts_status"), "content_drafts", ["status"], unique=False)
    op.create_index(op.f("ix_content_drafts_author_id"), "content_drafts", ["author_id"], unique=False)
    op.create_table(
        "content_draft_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("at", trainer.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["content_drafts.id"],
            name=op.f("fk_content_draft_events_draft_id_content_drafts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_content_draft_events_actor_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_draft_events")),
    )
    op.create_index(
        op.f("ix_content_draft_events_draft_id"), "content_draft_events", ["draft_id"], unique=False
    )
    generation = op.create_table(
        "content_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_generation")),
    )
    op.bulk_insert(generation, [{"id": 1, "generation": 0}])


def downgrade() -> None:
    op.drop_table("content_generation")
    op.drop_index(op.f("ix_content_draft_events_draft_id"), table_name="content_draft_events")
    op.drop_table("content_draft_events")
    op.drop_index(op.f("ix_content_drafts_author_id"), table_name="content_drafts")
    op.drop_index(op.f("ix_content_drafts_status"), table_name="content_drafts")
    op.drop_index(op.f("ix_content_drafts_path"), table_name="content_drafts")
    op.drop_table("content_drafts")
    op.drop_index(op.f("ix_content_versions_item_id"), table_name="content_versions")
    op.drop_index(op.f("ix_content_versions_path"), table_name="content_versions")
    op.drop_table("content_versions")
