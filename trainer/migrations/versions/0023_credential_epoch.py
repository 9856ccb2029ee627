"""credential_epoch: one counter that triggers bump whenever what a credential check reads changes

Each app process remembers the credentials it checked (trainer.people.auth). It used to trust one
for 5 seconds only, because a change made by another process (another app worker, a command, a
hand-written UPDATE) could not reach it; so an inspector answering at an exam's real pace (every
10-60 s) had their token looked up again on nearly every save. Now every change to the columns
the check reads bumps this counter, in the changing transaction, and the check reads it in the
same statement as the credential: a process that reads the same value again within 5 seconds
knows nothing it remembers has changed since.

The triggers watch exactly what `trainer.people.auth._viewer_query` reads: sessions' and API
tokens' hash, owner, expiry and revocation (not a session's last-seen time, written once a minute
while it is used) and their deletion; a person's username, name, unit, activation and
password-change flag (not their password hash or language) and their deletion; their roles; a
unit's name, path and lineage. On PostgreSQL the triggers are deferred to commit, so the
counter's row is locked only while the changing transaction commits (two changes taking it in
different orders mid-transaction could otherwise deadlock); SQLite has one writer at a time.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table: the columns whose UPDATE bumps the counter (None: any update); a DELETE always does.
WATCHED: dict[str, tuple[str, ...] | None] = {
    "sessions": ("token_hash", "user_id", "expires_at", "revoked_at"),
    "api_tokens": ("token_hash", "user_id", "expires_at", "revoked_at"),
    "users": ("username", "full_name", "must_change_password", "unit_id", "is_active"),
    "user_roles": None,  # and INSERT: a role given to a person who may be signed in
    "units": ("name", "path", "lineage"),
}
BUMP = "UPDATE credential_epoch SET value = value + 1 WHERE id = 1"


def _events(table: str) -> list[tuple[str, str]]:
    """(name suffix, SQL event) of the triggers on `table`."""
    columns = WATCHED[table]
    events = [
        ("update", "UPDATE" if columns is None else f"UPDATE OF {', '.join(columns)}"),
        ("delete", "DELETE"),
    ]
    if table == "user_roles":
        events.append(("insert", "INSERT"))
    return events


def upgrade() -> None:
    op.create_table(
        "credential_epoch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential_epoch")),
    )
    op.execute("INSERT INTO credential_epoch (id, value) VALUES (1, 0)")
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute(
            "CREATE FUNCTION credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {BUMP}; RETURN NULL; END $$"
        )
    for table in WATCHED:
        for suffix, event in _events(table):
            name = f"credentials_changed_{table}_{suffix}"
            if postgresql:
                op.execute(
                    f"CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON {table} "
                    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION credentials_changed()"
                )
            else:
                op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {BUMP}; END")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in WATCHED:
        for suffix, _event in _events(table):
            name = f"credentials_changed_{table}_{suffix}"
            op.execute(f"DROP TRIGGER {name} ON {table}" if postgresql else f"DROP TRIGGER {name}")
    if postgresql:
        op.execute("DROP FUNCTION credentials_changed()")
    op.drop_table("credential_epoch")
