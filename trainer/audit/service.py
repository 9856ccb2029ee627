"""Appending to the audit log, and checking that nobody rewrote it.

Each entry's hash covers its own fields and the previous entry's hash, so changing, removing or
reordering any entry breaks every hash after it; the head row (holding the latest id and hash)
reveals entries cut off the end.

The hash is an HMAC-SHA256 under a key that is not in the database (TRAINER_AUDIT_KEY, or one
derived from TRAINER_SECRET_KEY): with a plain hash, anyone with write access to the database
could edit a row and recompute every later hash. It covers a JSON array of the fields, not the
fields joined by a separator, so a typed value containing the separator cannot move text from one
field to the next with the hash unchanged. Someone with write access can still cut the tail and
rewrite the head row; `anchor()` prints the head for keeping outside the database, and
`verify(anchor=…)` checks the log still reaches it.

Appends take a lock on the head row (SELECT … FOR UPDATE on PostgreSQL; SQLite's single writer
does the same), so concurrent appends never fork the chain.
An append happens inside the caller's unit of work: the event is recorded if and only if what it
describes is committed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from trainer.audit.models import AuditEvent, AuditHead
from trainer.db import Database, utcnow

GENESIS = "0" * 64
HEAD_ID = 1


def _key_of(session: Session) -> bytes:
    return key_of(session.info.get("audit_key"))


def key_of(key: object) -> bytes:
    """The audit chain's key as handed to a unit of work (Database.audit_key), or why there is none."""
    if not isinstance(key, bytes):
        raise RuntimeError("no audit key: open the Database with audit_key=settings.audit_chain_key")
    return key


@dataclass(frozen=True)
class Actor:
    """Who did it: a user, or the system (a CLI command, a scheduled job)."""

    id: int | None
    name: str
    ip: str | None = None


SYSTEM = Actor(None, "system")


# An append is three short statements (two on PostgreSQL), built once (they run in every audited
# write, the exam start's among them; the ORM's unit of work cost more than the statements): lock
# the head and read the last entry's id and hash, insert the entry with the next id and its hash
# (which covers the id), move the head. The ids are the head's, not the database's sequence:
# every entry is appended here, under the head's lock, so the next id is always the last one + 1
# (a fourth statement, sealing the hash after the insert had assigned the id, cost one exam start
# in 20).
_EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]
_HEADS: Table = AuditHead.__table__  # type: ignore[assignment]
_LOCK_HEAD = select(_HEADS.c.last_id, _HEADS.c.last_hash).where(_HEADS.c.id == HEAD_ID).with_for_update()
_MOVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.id == HEAD_ID)
    .values(last_id=bindparam("event_id"), last_hash=bindparam("event_hash"))
)


# The columns the append inserts.
_COLUMNS = (
    "id",
    "occurred_at",
    "action",
    "actor_id",
    "actor",
    "target_type",
    "target_id",
    "ip",
    "details",
    "prev_hash",
    "hash",
)

# PostgreSQL: the insert and the head's move as one statement (a data-modifying WITH runs once,
# to completion, in the same statement), one round trip less in every audited write.
# The entry's values are named apart from the columns (`entry_id`, not `id`): a value named as
# a column of audit_head would be set on the head too.
_APPEND_AND_MOVE_HEAD = (
    insert(_EVENTS)
    .values({name: bindparam(f"entry_{name}") for name in _COLUMNS})
    .add_cte(_MOVE_HEAD.cte("moved_head"))
)

# SQLite: the same three statements straight to the driver's cursor, parameters as a tuple.
# SQLAlchemy's execution path (context, events, result) cost more than SQLite's own work on
# these one-row statements, and an exam start and a grade each append under the write lock.
_SQLITE_LOCK_HEAD = f"SELECT last_id, last_hash FROM audit_head WHERE id = {HEAD_ID}"  # noqa: S608 (constants)
_SQLITE_APPEND = (
    f"INSERT INTO audit_events ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"  # noqa: S608
)
_SQLITE_MOVE_HEAD = f"UPDATE audit_head SET last_id = ?, last_hash = ? WHERE id = {HEAD_ID}"  # noqa: S608
# `occurred_at` as SQLAlchemy stores it on SQLite (UTCDateTime: naive UTC text), so the driver's
# rows read back as the ORM's do.
_SQLITE_AT = _EVENTS.c.occurred_at.type.bind_processor(sqlite.dialect())


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
    """Append an entry in the session's transaction; returns it (not attached to the session)."""
    session.flush()  # what the entry describes is written first, as a statement through the session would
    return append(
        session.connection(),
        _key_of(session),
        action,
        actor,
        target_type=target_type,
        target_id=target_id,
        details=details,
        at=at,
    )


def append(
    conn: Connection,
    key: bytes,
    action: str,
    actor: Actor,
    *,
    target_type: str | None = None,
    target_id: object = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """`record` on a Core connection in a write transaction, signed with `key` (the exam start's
    write, which holds no ORM session: its three statements run without the ORM's execution path;
    on SQLite, straight through the driver: `_SQLITE_APPEND`)."""
    driver = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
    if driver is not None:
        head = driver.execute(_SQLITE_LOCK_HEAD).fetchone()
    else:
        head = conn.execute(_LOCK_HEAD).one_or_none()
    if head is None:  # created by the migration that created the log
        raise RuntimeError("the audit log has no head row: run `trainer db upgrade`")
    last_id, prev_hash = head
    event = AuditEvent(
        id=last_id + 1,
        occurred_at=(at or utcnow()).astimezone(UTC),
        action=action,
        actor_id=actor.id,
        actor=actor.name,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        ip=actor.ip,
        details=json.dumps(details or {}, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
        prev_hash=prev_hash,
    )
    event.hash = entry_hash(event, key)
    row = {column: getattr(event, column) for column in _COLUMNS}
    if driver is not None:
        assert _SQLITE_AT is not None
        values = [_SQLITE_AT(value) if name == "occurred_at" else value for name, value in row.items()]
        driver.execute(_SQLITE_APPEND, values)
        driver.execute(_SQLITE_MOVE_HEAD, (event.id, event.hash))
    else:
        moved = {"event_id": event.id, "event_hash": event.hash}
        conn.execute(_APPEND_AND_MOVE_HEAD, {f"entry_{name}": value for name, value in row.items()} | moved)
    return event


def canonical_fields(event: AuditEvent) -> bytes:
    """The entry as a JSON array: each field keeps its own bounds, and None stays apart from ""."""
    fields = [
        event.id,
        event.occurred_at.isoformat(timespec="microseconds"),
        event.action,
        event.actor_id,
        event.actor,
        event.target_type,
        event.target_id,
        event.ip,
        event.details,
        event.prev_hash,
    ]
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def entry_hash(event: AuditEvent, key: bytes) -> str:
    return hmac.new(key, canonical_fields(event), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    broken_id: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_id is None and not self.reason


@dataclass(frozen=True)
class Anchor:
    """The head of the log at a moment, to keep outside the database (printed, mailed, filed)."""

    count: int
    last_id: int
    hash: str
    at: datetime

    def line(self) -> str:
        return json.dumps(
            {"count": self.count, "last_id": self.last_id, "hash": self.hash, "at": self.at.isoformat()},
            separators=(",", ":"),
        )

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """Read a line printed by `line()`; ValueError if it is not one."""
        try:
            data = json.loads(text)
            anchor = cls(
                int(data["count"]),
                int(data["last_id"]),
                str(data["hash"]),
                datetime.fromisoformat(data["at"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"not an audit anchor: {error}") from None
        if anchor.count < 0 or len(anchor.hash) != 64:
            raise ValueError("not an audit anchor")
        return anchor


def event_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def find_events(
    session: Session, *, action: str, actor: str, target: str, limit: int, offset: int
) -> list[AuditEvent]:
    """Entries, newest first, whose action starts with `action`, by the account named `actor`,
    about the target id `target` (each filter left out when empty)."""
    statement = select(AuditEvent)
    if action:
        statement = statement.where(AuditEvent.action.like(f"{action}%"))
    if actor:
        statement = statement.where(AuditEvent.actor == actor.casefold())
    if target:
        statement = statement.where(AuditEvent.target_id == target)
    return list(session.scalars(statement.order_by(AuditEvent.id.desc()).limit(limit).offset(offset)))


def actions(session: Session) -> list[str]:
    """Every action the log holds, once each, in order (a filter's choices)."""
    return list(session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


def anchor(database: Database, now: datetime) -> Anchor:
    with database.session() as session:
        head = session.get(AuditHead, HEAD_ID)
        count = event_count(session)
    if head is None:
        raise RuntimeError("the audit log has no head row: run `trainer db upgrade`")
    return Anchor(count, head.last_id, head.last_hash, now)


def verify(database: Database, batch: int = 5000, *, anchor: Anchor | None = None) -> VerifyResult:
    """Recompute the chain from the first entry; report the first entry that does not fit. With
    an anchor, the log must also still hold the anchored entry, as the anchor's count-th."""
    key = database.audit_key
    if key is None:
        raise RuntimeError("no audit key: open the Database with audit_key=")
    previous = GENESIS
    checked = 0
    last_id = 0
    anchor_seen = anchor is None or (anchor.count == 0 and anchor.hash == GENESIS)
    with database.session() as session:
        while True:
            events = session.scalars(
                select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
            ).all()
            for event in events:
                if event.prev_hash != previous:
                    return VerifyResult(checked, event.id, "does not follow the entry before it")
                if entry_hash(event, key) != event.hash:
                    return VerifyResult(checked, event.id, "its content does not match its hash")
                previous = event.hash
                last_id = event.id
                checked += 1
                if anchor is not None and event.id == anchor.last_id:
                    if event.hash != anchor.hash or checked != anchor.count:
                        return VerifyResult(checked, event.id, "it differs from the anchor's head entry")
                    anchor_seen = True
            if len(events) < batch:
                break
        head = session.get(AuditHead, HEAD_ID)
    if head is not None and (head.last_id != last_id or head.last_hash != previous):
        return VerifyResult(
            checked, None, f"entries after #{last_id} are missing (the head names #{head.last_id})"
        )
    if not anchor_seen and anchor is not None:
        return VerifyResult(
            checked,
            None,
            f"the anchor of {anchor.at.isoformat(timespec='seconds')} names entry #{anchor.last_id} "
            f"({anchor.count} entries), which the log no longer holds: entries were cut off",
        )
    return VerifyResult(checked)
