"""Login throttling: the decision, kept free of the database so it can be tested directly.

Three counters, all read from the login_attempts table so they hold across app processes:
- one account from one address: 5 free failures, then a growing wait (1, 2, 4 … s, at most
  5 minutes) after each further failure; a success clears it;
- one address, any accounts: at most 50 failures in 15 minutes (password spraying);
- one account, any addresses: at most 100 failures an hour (ASVS 2.2.1) - except from an
  address this account signed in from successfully in the last 30 days, so an attacker
  elsewhere cannot lock an inspector out of their own office on exam day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

FREE_FAILURES = 5
MAX_PAIR_DELAY = timedelta(minutes=5)
IP_WINDOW = timedelta(minutes=15)
IP_LIMIT = 50
ACCOUNT_WINDOW = timedelta(hours=1)
ACCOUNT_LIMIT = 100
TRUST_WINDOW = timedelta(days=30)
PAIR_MEMORY = timedelta(days=1)


@dataclass(frozen=True)
class Counts:
    pair_failures: int  # this account from this address, since its last success (within a day)
    pair_last_failure: datetime | None
    ip_failures: int  # this address, any account, in IP_WINDOW
    ip_oldest_failure: datetime | None
    account_failures: int  # this account, any address, in ACCOUNT_WINDOW
    account_oldest_failure: datetime | None
    trusted_address: bool  # this account signed in from this address within TRUST_WINDOW


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # seconds


def decide(counts: Counts, now: datetime) -> Decision:
    waits = []
    if counts.pair_failures >= FREE_FAILURES and counts.pair_last_failure is not None:
        delay = min(timedelta(seconds=2 ** (counts.pair_failures - FREE_FAILURES)), MAX_PAIR_DELAY)
        waits.append(counts.pair_last_failure + delay - now)
    if counts.ip_failures >= IP_LIMIT and counts.ip_oldest_failure is not None:
        waits.append(counts.ip_oldest_failure + IP_WINDOW - now)
    if (
        not counts.trusted_address
        and counts.account_failures >= ACCOUNT_LIMIT
        and counts.account_oldest_failure is not None
    ):
        waits.append(counts.account_oldest_failure + ACCOUNT_WINDOW - now)
    wait = max(waits, default=timedelta(0))
    if wait <= timedelta(0):
        return Decision(True)
    return Decision(False, max(1, math.ceil(wait.total_seconds())))
