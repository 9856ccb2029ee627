"""Certificate states and dates. Pure: every answer is computed for a `now` passed in, from
stored facts, so tests (and auditors) can ask "what was it on that day?".

valid -> due for renewal (inside the renewal window) -> grace (after expiry, still renewable)
-> expired; suspended (reversible) and revoked (final) override the dates; a renewed
certificate's predecessor is superseded.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class State(StrEnum):
    VALID = "valid"
    DUE = "due_for_renewal"
    GRACE = "grace"
    EXPIRED = "expired"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"


RENEWABLE = frozenset({State.DUE, State.GRACE})


@dataclass(frozen=True)
class Facts:
    valid_from: datetime
    expires_at: datetime
    renewal_window_days: int
    grace_days: int
    suspended_at: datetime | None = None
    revoked_at: datetime | None = None
    superseded_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Facts:
        """From a database row whose last six values are the certificate's valid_from,
        expires_at, renewal_window_days, grace_days, suspended_at and revoked_at (a read that
        selected trainer.certification.models.FACT_COLUMNS last)."""
        return cls(*row[-6:])


def state_at(facts: Facts, now: datetime) -> State:
    if facts.revoked_at is not None and facts.revoked_at <= now:
        return State.REVOKED
    if facts.superseded_at is not None and facts.superseded_at <= now:
        return State.SUPERSEDED
    if facts.suspended_at is not None and facts.suspended_at <= now:
        return State.SUSPENDED
    if now < facts.expires_at - timedelta(days=facts.renewal_window_days):
        return State.VALID
    if now < facts.expires_at:
        return State.DUE
    if now < facts.expires_at + timedelta(days=facts.grace_days):
        return State.GRACE
    return State.EXPIRED


def add_months(moment: datetime, months: int) -> datetime:
    """The same day `months` later, or the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def validity(previous: Facts | None, now: datetime, validity_months: int) -> tuple[datetime, datetime]:
    """(valid_from, expires_at) of a certificate earned now. A renewal passed inside the
    previous certificate's renewal window or grace runs on from the previous expiry date, so
    renewing early loses nothing and renewing late gains nothing."""
    start = previous.expires_at if previous is not None and state_at(previous, now) in RENEWABLE else now
    return start, add_months(start, validity_months)


def days_left(facts: Facts, now: datetime) -> int:
    return (facts.expires_at - now).days
