"""The outbox: queueing notifications exactly once, emailing each exactly once, and the
recipient's reading of them.

Exactly once, across runs, processes and crashes short of the one window below:
- Queueing is an insert that does nothing when the row's key (kind, recipient, subject,
  occasion) is already there (`ON CONFLICT DO NOTHING`, a unique constraint): two runs deciding
  the same thing is due write one row.
- Sending claims rows first, in a transaction of its own: an UPDATE that sets a claim token and
  a lease only where the row is still pending and unclaimed (or its claim lapsed). On
  PostgreSQL a second run's UPDATE waits for the first's row locks, then re-reads the condition
  and finds the row claimed; on SQLite writes take turns. Only the run holding the token sends,
  then records `sent` (or the failure, releasing the claim so the next run tries again).
- The window: a process that dies after the mail server accepted a message and before it
  recorded `sent` leaves a claim that lapses after the lease, and a later run sends it again.
  No protocol closes it (the SMTP server and the database commit separately).

A run walks the pending rows once in id order, so a row that failed in this run waits for the
next run rather than being retried at once; after MAX_ATTEMPTS failures it is given up
(`failed`) and reported, so a dead address stops costing a connection every few minutes.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as DbSession

from trainer.db import Database
from trainer.errors import DomainError
from trainer.notifications.mail import Attachment, Sender
from trainer.notifications.models import FAILED, NO_EMAIL, PENDING, SENT, Notification

LEASE = timedelta(minutes=10)  # a claim's life: far longer than one message takes to send
BATCH = 50  # rows claimed per transaction
MAX_ATTEMPTS = 10
KEY = ["kind", "user_id", "subject_type", "subject_id", "occasion"]


@dataclass(frozen=True)
class Pending:
    """A notification someone is due, not yet known to be in the outbox."""

    kind: str
    user_id: int
    subject_type: str
    subject_id: int
    occasion: str
    lang: str
    title: str
    body: str
    email: str | None
    attachment_name: str | None = None
    attachment: str | None = None

    @property
    def key(self) -> tuple[str, int, str, int, str]:
        return (self.kind, self.user_id, self.subject_type, self.subject_id, self.occasion)


def queue(
    db: DbSession, items: Iterable[Pending], now: datetime, *, dry_run: bool = False
) -> tuple[Counter, Counter]:
    """Write the items whose key is not in the outbox yet. Returns the kinds of those written
    (or, with `dry_run`, of those that would be), and of those among them with an address."""
    written, with_email = Counter(), Counter()
    dialect = sqlite if db.get_bind().dialect.name == "sqlite" else postgresql
    for item in items:
        if dry_run:
            exists = db.scalar(
                select(Notification.id).where(
                    *(
                        getattr(Notification, column) == value
                        for column, value in zip(KEY, item.key, strict=True)
                    )
                )
            )
            if exists is None:
                written[item.kind] += 1
                with_email[item.kind] += 1 if item.email else 0
            continue
        statement = (
            dialect.insert(Notification)
            .values(
                kind=item.kind,
                user_id=item.user_id,
                subject_type=item.subject_type,
                subject_id=item.subject_id,
                occasion=item.occasion,
                lang=item.lang,
                title=item.title[:300],
                body=item.body,
                attachment_name=item.attachment_name,
                attachment=item.attachment,
                created_at=now,
                email=item.email,
                email_state=PENDING if item.email else NO_EMAIL,
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=KEY)
            # Whether a row was written, from the row itself: through the ORM session, the
            # result's rowcount said 1 on PostgreSQL for an insert a concurrent run's row had
            # turned into nothing.
            .returning(Notification.id)
        )
        if db.execute(statement).first() is not None:
            written[item.kind] += 1
            with_email[item.kind] += 1 if item.email else 0
    return written, with_email


class Counter(dict[str, int]):
    """Counts by kind (a dict that starts every kind at 0)."""

    def __missing__(self, key: str) -> int:
        return 0

    @property
    def total(self) -> int:
        return sum(self.values())


@dataclass
class Delivery:
    sent: Counter = field(default_factory=Counter)
    failed: list[tuple[int, str, str]] = field(default_factory=list)  # (id, address, error)
    given_up: list[tuple[int, str, str]] = field(default_factory=list)
    skipped: int = 0  # rows another run held


def _claimable(now: datetime) -> object:
    return and_(
        Notification.email_state == PENDING,
        or_(Notification.claimed_until.is_(None), Notification.claimed_until < now),
    )


def pending_count(database: Database, now: datetime) -> Counter:
    """What a run would email now, by kind (for --dry-run)."""
    with database.session() as db:
        rows = db.execute(
            select(Notification.kind, func.count())
            .where(_claimable(now))  # type: ignore[arg-type]
            .group_by(Notification.kind)
        ).all()
    counts = Counter()
    for kind, count in rows:
        counts[kind] = count
    return counts


def deliver(database: Database, sender: Sender, now: datetime, *, lease: timedelta = LEASE) -> Delivery:
    """Email every pending notification this run can claim, each once (see the module docstring)."""
    done = Delivery()
    after = 0
    while True:
        token = secrets.token_hex(16)
        with database.write() as db:
            ids = list(
                db.scalars(
                    select(Notification.id)
                    .where(_claimable(now), Notification.id > after)  # type: ignore[arg-type]
                    .order_by(Notification.id)
                    .limit(BATCH)
                )
            )
            if not ids:
                return done
            after = ids[-1]
            db.execute(
                update(Notification)
                .where(Notification.id.in_(ids), _claimable(now))  # type: ignore[arg-type]
                .values(claim=token, claimed_until=now + lease)
            )
        with database.session() as db:
            claimed = list(
                db.scalars(select(Notification).where(Notification.claim == token).order_by(Notification.id))
            )
            db.expunge_all()
        done.skipped += len(ids) - len(claimed)
        for row in claimed:
            _send_one(database, sender, row, token, now=now, done=done)


def _send_one(
    database: Database, sender: Sender, row: Notification, token: str, *, now: datetime, done: Delivery
) -> None:
    assert row.email is not None
    attachments: Sequence[Attachment] = ()
    if row.attachment is not None and row.attachment_name:
        attachments = (Attachment(row.attachment_name, "text/calendar; method=PUBLISH", row.attachment),)
    try:
        sender.send(row.email, row.title, row.body, attachments)
    except Exception as error:  # any failure: recorded, reported, tried again next run
        message = f"{type(error).__name__}: {error}"[:500]
        attempts = row.attempts + 1
        with database.write() as db:
            db.execute(
                update(Notification)
                .where(Notification.id == row.id, Notification.claim == token)
                .values(
                    claim=None,
                    claimed_until=None,
                    attempts=attempts,
                    last_error=message,
                    email_state=FAILED if attempts >= MAX_ATTEMPTS else PENDING,
                )
            )
        (done.given_up if attempts >= MAX_ATTEMPTS else done.failed).append((row.id, row.email, message))
        return
    with database.write() as db:
        db.execute(
            update(Notification)
            .where(Notification.id == row.id, Notification.claim == token)
            .values(claim=None, claimed_until=None, email_state=SENT, sent_at=now, last_error=None)
        )
    done.sent[row.kind] += 1


# -- the recipient's reading ------------------------------------------------------------------


def unread(db: DbSession, user_id: int, limit: int = 20) -> list[Notification]:
    return list(
        db.scalars(
            select(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )


def recent(db: DbSession, user_id: int, limit: int = 100) -> list[Notification]:
    return list(
        db.scalars(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )


def read_all(db: DbSession, user_id: int, now: datetime) -> int:
    result = db.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def mark_read(database: Database, user_id: int, notification_id: int, now: datetime) -> None:
    """Opening a notification marks it read: a short write of its own, since the page is a GET
    (trainer.web.unit). Idempotent; someone else's notification is left alone (the page 404s)."""
    with database.write() as db:
        db.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.user_id == user_id,
                Notification.read_at.is_(None),
            )
            .values(read_at=now)
        )


def mine(db: DbSession, user_id: int, notification_id: int) -> Notification:
    """One of the person's notifications; anyone else's does not exist (404)."""
    row = db.scalar(
        select(Notification).where(Notification.id == notification_id, Notification.user_id == user_id)
    )
    if row is None:
        raise DomainError(404, "no_such_notification", "no such notification")
    return row
