"""Certificates: issued when a final exam is passed with the prerequisites met."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from trainer.db import Base, UTCDateTime


class Certificate(Base):
    __tablename__ = "certificates"
    __table_args__ = (
        # One current certificate per holder and course: two gradings at once cannot issue two.
        Index(
            "uq_certificates_one_current",
            "user_id",
            "course_id",
            unique=True,
            sqlite_where=text("is_current = 1"),
            postgresql_where=text("is_current"),
        ),
        # The manager lists: one course's current certificates in date order.
        Index("ix_certificates_course_current_expires", "course_id", "is_current", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    verification_code: Mapped[str] = mapped_column(String(20), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    course_id: Mapped[str] = mapped_column(String(100))
    content_hash: Mapped[str] = mapped_column(String(64))
    holder_name: Mapped[str] = mapped_column(String(200))  # as at issue
    unit_path: Mapped[str | None] = mapped_column(String(1000))
    title: Mapped[str] = mapped_column(String(300))  # the qualification's title at issue
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    renewal_window_days: Mapped[int] = mapped_column(Integer)
    grace_days: Mapped[int] = mapped_column(Integer)
    # expires_at - renewal window and expires_at + grace, stored so that lists can select a state
    # with plain comparisons on either database (policy.state_at stays the rule).
    renewal_from: Mapped[datetime] = mapped_column(UTCDateTime())
    grace_until: Mapped[datetime] = mapped_column(UTCDateTime())
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"))
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    snapshot_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the paper as served
    is_current: Mapped[bool] = mapped_column(default=True)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    suspended_reason: Mapped[str | None] = mapped_column(Text)
    # The lineage of the unit the suspender managed ("/" for an admin): only that level or one
    # above it may lift the suspension or turn it into a revocation.
    suspended_by_level: Mapped[str | None] = mapped_column(String(400))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# The columns `trainer.certification.policy.Facts` is made of, in its order: a read that decides
# certificates' states selects these last and builds `Facts(*row[-len(FACT_COLUMNS):])`.
FACT_COLUMNS = (
    Certificate.valid_from,
    Certificate.expires_at,
    Certificate.renewal_window_days,
    Certificate.grace_days,
    Certificate.suspended_at,
    Certificate.revoked_at,
)
