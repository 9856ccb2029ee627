"""The rules of a sitting, as pure functions (no database, no clock: `now` is passed in).

- Entry: an exam of a course in `mode: sittings` starts only inside an open sitting the person is
  on the roster of, with its access code where it has one, before its late-entry cutoff, and not
  after they have handed in an exam of that sitting already (`admit`).
- Time: a person's deadline is their start plus the time limit plus their extra time, and never
  later than the sitting's close plus their extra time (`deadline`).
- The board: a rostered person has not started, is in progress, has handed in, or (once the
  sitting is over) was absent (`person_state`).
- Review: `review: after_deadline` opens once the sitting is over for everyone on it
  (`review_opens_at`).
"""

from __future__ import annotations

import hmac
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# Read aloud in a room and typed on a phone: capitals and digits without the look-alikes (0/O,
# 1/I/L), six of them: 31^6, about 887 million codes, for a code that only works for the people
# on the roster, during the sitting's window.
ACCESS_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
ACCESS_CODE_LENGTH = 6
MAX_EXTRA_MINUTES = 600
MAX_WINDOW = timedelta(days=7)

NOT_STARTED = "not_started"
IN_PROGRESS = "in_progress"
SUBMITTED = "submitted"
ABSENT = "absent"
STATES = (NOT_STARTED, IN_PROGRESS, SUBMITTED, ABSENT)


def new_access_code() -> str:
    return "".join(secrets.choice(ACCESS_CODE_ALPHABET) for _ in range(ACCESS_CODE_LENGTH))


def normalise_code(typed: str | None) -> str:
    """A code as typed: full-width forms (a Chinese input method's "ＡＢＣ１２３"), case, spaces
    and hyphens do not matter."""
    text = unicodedata.normalize("NFKC", typed or "")
    return "".join(c for c in text.upper() if c not in " -\t")


def code_matches(expected: str | None, typed: str | None) -> bool:
    """No code set: anything goes. Otherwise the typed code, compared in constant time."""
    if expected is None:
        return True
    return hmac.compare_digest(normalise_code(typed).encode(), expected.encode())


def late_entry_until(opens_at: datetime, late_entry_minutes: int | None) -> datetime | None:
    return None if late_entry_minutes is None else opens_at + timedelta(minutes=late_entry_minutes)


def deadline(
    started_at: datetime, time_limit_minutes: int, extra_minutes: int, closes_at: datetime
) -> datetime:
    """Start + time limit + extra time, never past the sitting's close + extra time."""
    extra = timedelta(minutes=extra_minutes)
    return min(started_at + timedelta(minutes=time_limit_minutes) + extra, closes_at + extra)


@dataclass(frozen=True)
class Candidate:
    """An open sitting of the course that has the person on its roster, as the exam start sees it."""

    sitting_id: int
    opens_at: datetime
    closes_at: datetime
    late_entry_minutes: int | None
    access_code: str | None
    place: str
    extra_minutes: int
    handed_in: bool  # the person has a graded exam of this sitting already


@dataclass(frozen=True)
class Refusal:
    """Why no candidate admits the person: the first reason found, most specific first."""

    code: str  # access_code_wrong | late_entry_closed | already_handed_in
    sitting: Candidate


def admit(
    candidates: Sequence[Candidate], now: datetime, typed_code: str | None
) -> Candidate | Refusal | None:
    """The sitting to start in, the reason none admits (a Refusal), or None: no open sitting has
    the person on its roster. Candidates are open at `now` already; where a person is on two at
    once, the first that admits them wins."""
    refusal: Refusal | None = None
    for candidate in candidates:
        reason = None
        if candidate.handed_in:
            reason = "already_handed_in"
        else:
            cutoff = late_entry_until(candidate.opens_at, candidate.late_entry_minutes)
            if cutoff is not None and now > cutoff:
                reason = "late_entry_closed"
            elif not code_matches(candidate.access_code, typed_code):
                reason = "access_code_wrong"
        if reason is None:
            return candidate
        refusal = refusal or Refusal(reason, candidate)
    return refusal


def is_over(closes_at: datetime, closed_at: datetime | None, now: datetime) -> bool:
    """No more starts: closed by a supervisor, or past its scheduled close."""
    return closed_at is not None or now >= closes_at


def person_state(status: str | None, over: bool) -> str:
    """A rostered person on the board, from their latest counted attempt of the sitting (None:
    none, or only voided ones)."""
    if status == "in_progress":
        return IN_PROGRESS
    if status == "graded":
        return SUBMITTED
    return ABSENT if over else NOT_STARTED


def remaining_seconds(deadline_at: datetime | None, now: datetime) -> int | None:
    if deadline_at is None:
        return None
    return max(0, int((deadline_at - now).total_seconds()))


def review_opens_at(
    closes_at: datetime, closed_at: datetime | None, extra_minutes: Iterable[int]
) -> datetime:
    """When `review: after_deadline` shows keys to the sitting's people: when it was closed (every
    open exam was handed in then), else its close plus the most extra time anyone on it has, so
    no key is shown while someone may still be answering."""
    if closed_at is not None:
        return closed_at
    return closes_at + timedelta(minutes=max(extra_minutes, default=0))


def ancestor_ids(lineage: str | None) -> list[int]:
    """The ids in a unit lineage ("/1/4/9/" -> [1, 4, 9]): the unit and every unit above it."""
    return [int(part) for part in (lineage or "").split("/") if part]


def common_lineage(lineages: Iterable[str | None]) -> str:
    """The deepest unit holding every lineage given ("/1/4/9/" and "/1/4/12/" -> "/1/4/"); "/"
    when they share none, or one of them is None (someone without a unit)."""
    common: list[str] | None = None
    for lineage in lineages:
        if lineage is None:
            return "/"
        parts = [p for p in lineage.split("/") if p]
        if common is None:
            common = parts
        else:
            same = 0
            while same < min(len(common), len(parts)) and common[same] == parts[same]:
                same += 1
            common = common[:same]
    if not common:
        return "/"
    return "/" + "/".join(common) + "/"
