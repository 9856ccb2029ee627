"""Housekeeping: rows that only ever grow and stop mattering once expired.

Sessions and API tokens past their end (expired, revoked, or idle beyond the time-out), sign-in
attempts older than the longest window the throttle reads (30 days: the "trusted address" memory),
rate-limit windows that have closed, and the papers drawn ahead of sittings now over (each holds
an answer key; a paper a start took lives on with its attempt). Nothing here is evidence: the
audit log keeps what happened, these tables only decide what may happen next. Run by
`trainer purge` (e.g. nightly from cron) and on a timer inside `trainer serve`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, delete, or_, select

from trainer.db import Database
from trainer.people import throttle
from trainer.people.models import ApiToken, LoginAttempt, Session
from trainer.quizzes import service as quizzes
from trainer.quizzes.models import PreparedPaper
from trainer.ratelimit import WINDOW, RateCounter
from trainer.sittings.models import Sitting


@dataclass(frozen=True)
class Purged:
    sessions: int
    api_tokens: int
    login_attempts: int
    rate_counters: int
    prepared_papers: int


def _count(result: Any) -> int:
    return int(result.rowcount or 0) if isinstance(result, CursorResult) else 0


def purge(database: Database, now: datetime, *, session_idle: timedelta) -> Purged:
    ended_sessions = or_(
        Session.expires_at <= now, Session.revoked_at.is_not(None), Session.last_seen_at <= now - session_idle
    )
    ended_tokens = or_(ApiToken.expires_at <= now, ApiToken.revoked_at.is_not(None))
    with database.write() as db:
        sessions = _count(db.execute(delete(Session).where(ended_sessions)))
        tokens = _count(db.execute(delete(ApiToken).where(ended_tokens)))
        old = now - throttle.TRUST_WINDOW
        attempts = _count(db.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < old)))
        counters = _count(db.execute(delete(RateCounter).where(RateCounter.window_start < now - WINDOW)))
        over = select(Sitting.id).where(or_(Sitting.closed_at.is_not(None), Sitting.closes_at <= now))
        let_go = db.scalars(
            delete(PreparedPaper).where(PreparedPaper.sitting_id.in_(over)).returning(PreparedPaper.paper_id)
        ).all()
        quizzes.delete_papers_not_held(db, let_go)
        papers = len(let_go)
    return Purged(sessions, tokens, attempts, counters, papers)
