"""hardening: a keyed audit chain over a canonical encoding; who suspended a certificate

The audit chain's hashes become HMAC-SHA256 under a key kept outside the database, over a JSON
array of the fields (they were SHA-256 over the fields joined by \\x1f, which anyone with write
access could recompute, and whose fields could shift across the separator). The existing chain
is checked with the old formula first and re-keyed only if intact: re-keying a tampered chain
would launder the tampering. Both formulas are written out here, so this migration keeps
meaning what it meant when the code around it changes.

Certificates remember the level a suspension came from (`suspended_by_level`), so that only
that level or one above may lift it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 20:30:00
"""

import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
BATCH = 5000


def _old_hash(row: Any, prev_hash: str) -> str:
    fields = [
        str(row.id),
        _when(row.occurred_at),
        row.action,
        "" if row.actor_id is None else str(row.actor_id),
        row.actor or "",
        row.target_type or "",
        row.target_id or "",
        row.ip or "",
        row.details,
        prev_hash,
    ]
    return hashlib.sha256("\x1f".join(fields).encode("utf-8")).hexdigest()


def _new_hash(key: bytes) -> Callable[[Any, str], str]:
    def hash_(row: Any, prev_hash: str) -> str:
        fields = [
            row.id,
            _when(row.occurred_at),
            row.action,
            row.actor_id,
            row.actor,
            row.target_type,
            row.target_id,
            row.ip,
            row.details,
            prev_hash,
        ]
        encoded = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return hmac.new(key, encoded, hashlib.sha256).hexdigest()

    return hash_


def _when(value: Any) -> str:
    # As trainer.db.UTCDateTime reads it: naive UTC on SQLite, aware on PostgreSQL.
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return str(aware.isoformat(timespec="microseconds"))


def _rehash(check: Callable[[Any, str], str], write: Callable[[Any, str], str]) -> None:
    """Walk the chain in order: each stored hash must match `check`; store `write`'s instead."""
    bind = op.get_bind()
    events = sa.table(
        "audit_events",
        sa.column("occurred_at", sa.DateTime(timezone=True)),
        *(sa.column(c) for c in ("id", "action", "actor_id", "actor", "target_type")),
        *(sa.column(c) for c in ("target_id", "ip", "details", "prev_hash", "hash")),
    )
    old_previous, new_previous, last_id = GENESIS, GENESIS, 0
    while True:
        rows = bind.execute(
            sa.select(events).where(events.c.id > last_id).order_by(events.c.id).limit(BATCH)
        ).all()
        updates = []
        for row in rows:
            if row.prev_hash != old_previous or check(row, old_previous) != row.hash:
                raise RuntimeError(
                    f"the audit log is broken at entry #{row.id}: it is not re-keyed, which would hide "
                    "that. Investigate with `trainer audit verify` on the previous release first."
                )
            old_previous = row.hash
            new_hash = write(row, new_previous)
            updates.append({"row_id": row.id, "new_prev": new_previous, "new_hash": new_hash})
            new_previous, last_id = new_hash, row.id
        if updates:
            bind.execute(
                events.update()
                .where(events.c.id == sa.bindparam("row_id"))
                .values(prev_hash=sa.bindparam("new_prev"), hash=sa.bindparam("new_hash")),
                updates,
            )
        if len(rows) < BATCH:
            break
    head = sa.table("audit_head", sa.column("id"), sa.column("last_id"), sa.column("last_hash"))
    stored = bind.execute(sa.select(head.c.last_id, head.c.last_hash).where(head.c.id == 1)).one_or_none()
    if stored is not None and stored.last_id != last_id:
        raise RuntimeError(f"the audit log's head names #{stored.last_id} but the log ends at #{last_id}")
    bind.execute(head.update().where(head.c.id == 1).values(last_hash=new_previous))


def _key() -> bytes | None:
    key = context.config.attributes.get("audit_key")
    return key if isinstance(key, bytes) else None


def _has_events() -> bool:
    return op.get_bind().execute(sa.text("SELECT 1 FROM audit_events LIMIT 1")).first() is not None


def upgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("suspended_by_level", sa.String(length=400), nullable=True))
    if _has_events():
        key = _key()
        if key is None:
            raise RuntimeError("re-keying the audit log needs the key: run `trainer db upgrade`")
        _rehash(_old_hash, _new_hash(key))


def downgrade() -> None:
    if _has_events():
        key = _key()
        if key is None:
            raise RuntimeError("checking the audit log needs the key: run `trainer db upgrade`")
        _rehash(_new_hash(key), _old_hash)
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_column("suspended_by_level")
