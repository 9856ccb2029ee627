"""What the paper migrations (0016, 0017, 0019) ask of the database they run on."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def lz4_available() -> bool:
    """PostgreSQL 14 or later, built with lz4: papers are stored compressed with it (pglz was
    PostgreSQL's largest cost of an exam start under a storm). False elsewhere (SQLite stores
    text as is)."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    found = bind.execute(
        sa.text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
    ).scalar()
    return bool(found)
