"""The outbox: one row per thing someone is told, keyed by (kind, recipient, subject, occasion).

The key is a unique constraint, so whatever runs decide the same notification is due (two
`trainer notify` runs, two app processes' timers) only one row is ever written, and the row
records its delivery: a message is emailed only by the run that claims its row (see
trainer.notifications.outbox).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trainer.db import Base, UTCDateTime

# Email delivery states. `no_email`: the recipient has no address (the dashboard still shows it).
PENDING, SENT, NO_EMAIL, FAILED = "pending", "sent", "no_email", "failed"


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("kind", "user_id", "subject_type", "subject_id", "occasion"),
        # The dashboard: a person's unread ones.
        Index("ix_notifications_user_read", "user_id", "read_at"),
        # A run's delivery: the pending ones (few; delivered rows leave this state for good).
        Index("ix_notifications_email_state", "email_state"),
        # What was already said about a subject (a sitting's changes).
        Index("ix_notifications_subject", "subject_type", "subject_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # sitting.invitation, certificate.renewal, ...
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    subject_type: Mapped[str] = mapped_column(String(20))  # sitting | certificate | unit
    subject_id: Mapped[int] = mapped_column(Integer)
    occasion: Mapped[str] = mapped_column(String(100))  # which time this subject is told about
    lang: Mapped[str] = mapped_column(String(8))  # the language the text was written in
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    attachment_name: Mapped[str | None] = mapped_column(String(100))  # e.g. sitting-12.ics
    attachment: Mapped[str | None] = mapped_column(Text)  # text/calendar
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    email: Mapped[str | None] = mapped_column(String(320))  # the address when it was queued
    email_state: Mapped[str] = mapped_column(String(10))
    # A run that claimed the row for sending: its token and until when (a run that died leaves
    # a claim that lapses, and the row is sent by a later run).
    claim: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # failed sends so far
    last_error: Mapped[str | None] = mapped_column(String(500))
