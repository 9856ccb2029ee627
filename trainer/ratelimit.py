"""Request rate limits kept in the database, so they hold across app processes.

A fixed one-minute window per key (e.g. "verify:203.0.113.9"); a request over the limit gets 429
with Retry-After. Used on the public endpoints that need no account (certificate verification);
sign-in has its own, finer throttling (trainer.people.throttle).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Integer, String, delete, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from trainer.db import Base, Database, UTCDateTime

WINDOW = timedelta(minutes=1)


class RateCounter(Base):
    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


def hit(database: Database, key: str, limit: int, now: datetime) -> int:
    """Count one request; returns 0 if allowed, else the seconds until the window ends."""
    start = now.replace(second=0, microsecond=0)
    for _ in range(2):
        try:
            with database.write() as db:
                updated = db.execute(
                    update(RateCounter)
                    .where(RateCounter.key == key, RateCounter.window_start == start)
                    .values(count=RateCounter.count + 1)
                    .returning(RateCounter.count)
                ).scalar()
                if updated is None:
                    db.execute(insert(RateCounter).values(key=key, window_start=start, count=1))
                    # Old windows are of no use: sweep them now and then, cheaply.
                    if now.second == 0:
                        db.execute(delete(RateCounter).where(RateCounter.window_start < start - WINDOW))
                    updated = 1
            break
        except IntegrityError:
            continue  # another process opened the same window first: count on it
    else:
        return 1
    if updated > limit:
        return max(1, int((start + WINDOW - now).total_seconds()))
    return 0


__all__ = ["RateCounter", "hit"]
