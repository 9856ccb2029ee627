"""Schema migrations (Alembic), run from code so every command and test uses the same path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from trainer.db import Database
from trainer.models import metadata

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(database: Database, revision: str = "head") -> None:
    _run(database, command.upgrade, revision)


def downgrade(database: Database, revision: str) -> None:
    """Back to `revision` (no command: the tests check every migration goes both ways)."""
    _run(database, command.downgrade, revision)


def _run(database: Database, step: Callable[[Config, str], None], revision: str) -> None:
    config = _config()
    with database.write_connection() as conn:
        config.attributes["connection"] = conn
        config.attributes["audit_key"] = database.audit_key  # 0008 re-keys an existing audit chain
        # Data migrations that compute dates (the reports' month keys) need the installation's zone.
        config.attributes["time_zone"] = database.time_zone
        step(config, revision)


def current_revision(database: Database) -> str | None:
    with database.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def schema_differences(database: Database) -> list[object]:
    """What the models declare that the migrated database lacks, or vice versa (empty: agree)."""
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))
