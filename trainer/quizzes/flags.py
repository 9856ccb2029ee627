"""Questions an inspector flagged to come back to before handing in an exam (the navigator's
"flagged" state and the confirmation page's list).

A flag is the inspector's own note, kept on the server so it survives a reload, another device
or a page without JavaScript. It changes nothing in grading. Only the attempt's owner may set
one, and only while the attempt is open (a flag on a graded paper would mean nothing).

Every function takes the caller's session (the request's unit of work) and never commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from trainer.access import Viewer
from trainer.errors import DomainError
from trainer.quizzes.models import IN_PROGRESS, Attempt, AttemptFlag
from trainer.quizzes.service import GRACE, has_question


def flagged_slots(db: DbSession, attempt_id: int) -> set[int]:
    """The slots flagged on an attempt (the caller has checked the viewer may see it)."""
    return set(db.scalars(select(AttemptFlag.slot).where(AttemptFlag.attempt_id == attempt_id)))


def flags_of(db: DbSession, viewer: Viewer, attempt_id: int) -> set[int]:
    """The viewer's flags on one of their attempts (another inspector's attempt is a 404)."""
    owner = db.scalar(select(Attempt.user_id).where(Attempt.id == attempt_id))
    if owner is None or owner != viewer.id:
        raise DomainError(404, "no_such_attempt", "no such attempt")
    return flagged_slots(db, attempt_id)


def set_flag(
    db: DbSession, viewer: Viewer, attempt_id: int, slot: int, *, flagged: bool, now: datetime
) -> set[int]:
    """Flag or unflag one question (idempotent: a repeated or double-clicked request changes
    nothing more); returns the attempt's flagged slots afterwards. Refused (and nothing changed)
    for another inspector's attempt or an unknown question (404) and a closed attempt (409)."""
    row = db.execute(
        select(Attempt.user_id, Attempt.status, Attempt.deadline)
        .where(Attempt.id == attempt_id)
        .with_for_update()
    ).one_or_none()
    if row is None or row.user_id != viewer.id:
        # another inspector's attempt does not exist for you
        raise DomainError(404, "no_such_attempt", "no such attempt")
    if row.status != IN_PROGRESS or (row.deadline is not None and now > row.deadline + GRACE):
        raise DomainError(409, "attempt_closed", "this attempt is closed")
    if not has_question(db, attempt_id, slot):  # from the process's cached paper, not parsed again
        raise DomainError(404, "no_such_question", "no such question in this attempt")
    present = db.scalar(
        select(AttemptFlag.id).where(AttemptFlag.attempt_id == attempt_id, AttemptFlag.slot == slot)
    )
    if flagged and present is None:
        try:
            # A savepoint: if a concurrent request stored the same flag first (unique attempt,
            # slot), only this insert is undone, not the rest of the caller's unit of work.
            with db.begin_nested():
                db.add(AttemptFlag(attempt_id=attempt_id, slot=slot))
        except IntegrityError:
            pass  # flagged either way, as asked
    elif not flagged and present is not None:
        db.execute(delete(AttemptFlag).where(AttemptFlag.id == present))
    return flagged_slots(db, attempt_id)
