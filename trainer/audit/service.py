"""Appending to the audit log, and checking that nobody rewrote it.

Each entry's hash covers its own fields and the previous entry's hash, so changing, removing or
reordering any entry breaks every hash after it; the head row (holding the latest id and hash)
reveals entries cut off the end. Appends take a lock on the head row (SELECT … FOR UPDATE on
PostgreSQL; SQLite's single writer does the same), so concurrent appends never fork the chain.
An append happens inside the caller's unit of work: the event is recorded if and only if what it
describes is committed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trainer.audit.models import AuditEvent, AuditHead
from trainer.db import Database, utcnow

GENESIS = "0" * 64
HEAD_ID = 1


@dataclass(frozen=True)
class Actor:
    """Who did it: a user, or the system (a CLI command, a scheduled job)."""

    id: int | None
    name: str
    ip: str | None = None


SYSTEM = Actor(None, "system")


def record(
    session: Session,
    action: str,
    actor: Actor,
    *,
    target_type: str | None = None,
    target_id: object = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    head = session.scalar(select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update())
    if head is None:  # created by the migration that created the log
        raise RuntimeError("the audit log has no head row: run `trainer db upgrade`")
    event = AuditEvent(
        occurred_at=(at or utcnow()).astimezone(UTC),
        action=action,
        actor_id=actor.id,
        actor=actor.name,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        ip=actor.ip,
        details=json.dumps(details or {}, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
        prev_hash=head.last_hash,
        hash="",
    )
    session.add(event)
    session.flush()  # assigns the id, which the hash covers
    event.hash = entry_hash(event)
    head.last_id = event.id
    head.last_hash = event.hash
    return event


def entry_hash(event: AuditEvent) -> str:
    fields = [
        str(event.id),
        event.occurred_at.isoformat(timespec="microseconds"),
        event.action,
        "" if event.actor_id is None else str(event.actor_id),
        event.actor or "",
        event.target_type or "",
        event.target_id or "",
        event.ip or "",
        event.details,
        event.prev_hash,
    ]
    return hashlib.sha256("\x1f".join(fields).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    broken_id: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_id is None and not self.reason


def verify(database: Database, batch: int = 5000) -> VerifyResult:
    """Recompute the chain from the first entry; report the first entry that does not fit."""
    previous = GENESIS
    checked = 0
    last_id = 0
    with database.session() as session:
        while True:
            events = session.scalars(
                select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
            ).all()
            for event in events:
                if event.prev_hash != previous:
                    return VerifyResult(checked, event.id, "does not follow the entry before it")
                if entry_hash(event) != event.hash:
                    return VerifyResult(checked, event.id, "its content does not match its hash")
                previous = event.hash
                last_id = event.id
                checked += 1
            if len(events) < batch:
                break
        head = session.get(AuditHead, HEAD_ID)
    if head is not None and (head.last_id != last_id or head.last_hash != previous):
        return VerifyResult(
            checked, None, f"entries after #{last_id} are missing (the head names #{head.last_id})"
        )
    return VerifyResult(checked)
