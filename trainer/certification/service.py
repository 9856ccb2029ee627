"""Issuing certificates and answering "is it valid now?".

A certificate is issued in the same transaction that grades a passing final exam, so a crash
never leaves a passed exam without its certificate, nor a certificate twice.

Functions take the caller's session (the request's unit of work) and never commit; refusals are
DomainErrors. One exception: `count_verification` counts a public verification in a short write
of its own, since the count must stand when the request is then refused (429), and the GET that
verifies holds a unit that only reads.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session as DbSession

from trainer import localtime, ratelimit
from trainer.access import Viewer, manages, may_view_person
from trainer.audit import service as audit
from trainer.caching import CacheSlot
from trainer.certification import policy
from trainer.certification.models import Certificate
from trainer.content.library import Course
from trainer.db import Database
from trainer.errors import DomainError
from trainer.people.models import Unit, User
from trainer.tallies.changes import mark_changed

# Crockford's base32: no I, L, O or U, so a code read aloud or typed from paper is unambiguous.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10  # 50 bits of randomness


def new_verification_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    """Accept what people type: lower case, spaces and dashes, O for 0, I/L for 1."""
    cleaned = code.upper().replace("-", "").replace(" ", "")
    return cleaned.translate(str.maketrans("OIL", "011"))


def facts(certificate: Certificate) -> policy.Facts:
    return policy.Facts(
        valid_from=certificate.valid_from,
        expires_at=certificate.expires_at,
        renewal_window_days=certificate.renewal_window_days,
        grace_days=certificate.grace_days,
        suspended_at=certificate.suspended_at,
        revoked_at=certificate.revoked_at,
        superseded_at=certificate.superseded_at,
    )


def state_of(certificate: Certificate, now: datetime) -> policy.State:
    return policy.state_at(facts(certificate), now)


# Certificates by state for /metrics: one grouped count (policy.state_at as SQL, on the stored
# renewal_from and grace_until), remembered a few seconds so that several scrapers, or a scrape
# per worker, cost one query between them per process.
COUNTS_SECONDS = 5.0
_COUNTS: CacheSlot[str, tuple[float, dict[str, int]]] = CacheSlot("certificate_counts", 1)


def certificate_counts(
    database: Database, now: datetime, *, clock: Callable[[], float] = time.monotonic
) -> dict[str, int]:
    """{state: number of certificates} over every certificate ever issued (superseded included),
    at most COUNTS_SECONDS old."""
    cache = database.caches[_COUNTS]
    held = cache.get("all")
    if held is not None and clock() - held[0] < COUNTS_SECONDS:
        return held[1]
    c = Certificate
    state = case(
        (and_(c.revoked_at.is_not(None), c.revoked_at <= now), policy.State.REVOKED.value),
        (and_(c.superseded_at.is_not(None), c.superseded_at <= now), policy.State.SUPERSEDED.value),
        (and_(c.suspended_at.is_not(None), c.suspended_at <= now), policy.State.SUSPENDED.value),
        (c.renewal_from > now, policy.State.VALID.value),
        (c.expires_at > now, policy.State.DUE.value),
        (c.grace_until > now, policy.State.GRACE.value),
        else_=policy.State.EXPIRED.value,
    ).label("state")
    # Grouped over a subquery: PostgreSQL does not see two copies of a CASE with bound
    # parameters as the same expression, so `GROUP BY <the case>` would be refused.
    states = select(state).subquery()
    with database.session() as db:
        rows = db.execute(select(states.c.state, func.count()).group_by(states.c.state)).all()
    counts = {s.value: 0 for s in policy.State} | {str(name): int(n) for name, n in rows}
    cache.put("all", (clock(), counts))
    return counts


class GradedAttempt(Protocol):
    """What issuing reads of a graded attempt (a `trainer.quizzes.models.Attempt`): quizzes call
    certification when they grade, so certification does not import quizzes."""

    @property
    def id(self) -> int: ...
    @property
    def user_id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def passed(self) -> bool | None: ...
    @property
    def content_hash(self) -> str: ...
    @property
    def score(self) -> float | None: ...
    @property
    def max_score(self) -> float: ...


def issue_for(
    db: DbSession, attempt: GradedAttempt, paper: str, course: Course, now: datetime, *, prefix: str
) -> Certificate | None:
    """The certificate a just-graded exam earns, if it passed; inside the grading transaction.
    `paper`: the exam's paper as stored (the certificate keeps its hash)."""
    if attempt.kind != "exam" or not attempt.passed or course.certification is None:
        return None
    policy_ = course.certification
    # Lock the holder's row: issuances for one person are serialised on every database, so two
    # gradings at once can never both see "no certificate yet".
    holder = db.scalar(select(User).where(User.id == attempt.user_id).with_for_update())
    assert holder is not None
    unit = db.get(Unit, holder.unit_id) if holder.unit_id else None
    previous = db.scalar(
        select(Certificate).where(
            Certificate.user_id == holder.id,
            Certificate.course_id == course.id,
            Certificate.is_current.is_(True),
        )
    )
    previous_facts = facts(previous) if previous is not None else None
    if previous is not None and previous_facts is not None:
        previous_state = policy.state_at(previous_facts, now)
        if previous_state in (policy.State.VALID, policy.State.SUSPENDED):
            return None  # already certified (a second grading at the same moment): never two
        if previous_state in policy.RENEWABLE:
            previous.superseded_at = now
        previous.is_current = False
        db.flush()  # the old one stops being current before the new one is
    valid_from, expires_at = policy.validity(previous_facts, now, policy_.validity_months)
    certificate = Certificate(
        number=f"pending-{secrets.token_hex(8)}",
        verification_code=new_verification_code(),
        user_id=holder.id,
        course_id=course.id,
        content_hash=attempt.content_hash,
        holder_name=holder.full_name,
        unit_path=unit.path if unit else None,
        title=course.text_for(course.lang).certification_title or course.text_for(course.lang).title,
        issued_at=now,
        valid_from=valid_from,
        expires_at=expires_at,
        renewal_window_days=policy_.renewal_window_days,
        grace_days=policy_.grace_days,
        renewal_from=expires_at - timedelta(days=policy_.renewal_window_days),
        grace_until=expires_at + timedelta(days=policy_.grace_days),
        attempt_id=attempt.id,
        score=attempt.score or 0.0,
        max_score=attempt.max_score,
        snapshot_hash=hashlib.sha256(paper.encode()).hexdigest(),
        is_current=True,
        previous_id=previous.id if previous else None,
    )
    db.add(certificate)
    db.flush()
    mark_changed(db, holder.unit_id)
    # The number is readable and unique: prefix, domain, year of issue (in the installation's
    # zone, as the certificate shows its date), and the row's id.
    year = localtime.local(now, localtime.zone_of(db)).year
    certificate.number = f"{prefix}-{course.domain.upper()}-{year}-{certificate.id:06d}"
    audit.record(
        db,
        "certificate.issued",
        audit.Actor(holder.id, holder.username),
        target_type="certificate",
        target_id=certificate.number,
        details={
            "course": course.id,
            "attempt": attempt.id,
            "expires_at": expires_at.isoformat(),
            "renews": previous.number if previous else None,
        },
    )
    return certificate


def shown_title(certificate: Certificate, course: Course | None, lang: str) -> str:
    """The qualification's title in the reader's language when the course has it, else as issued."""
    if course is not None and lang in course.texts and course.texts[lang].certification_title:
        return course.texts[lang].certification_title or certificate.title
    return certificate.title


def find_by_code(db: DbSession, code: str) -> Certificate | None:
    cleaned = normalise_code(code)
    if len(cleaned) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in cleaned):
        return None
    return db.scalar(select(Certificate).where(Certificate.verification_code == cleaned))


def verified(db: DbSession, code: str) -> Certificate:
    """The certificate a verification code names, as typed (404 if none does)."""
    certificate = find_by_code(db, code)
    if certificate is None:
        raise DomainError(404, "no_such_certificate", "no such certificate")
    return certificate


def count_verification(database: Database, address: str, per_minute: int, now: datetime) -> None:
    """Count one public verification from an address: 429 past `per_minute` in a clock minute.
    Verifying needs no account, so this is what stops anyone trying codes by the thousand.
    Counted in a transaction of its own (the module docstring says why)."""
    wait = ratelimit.hit(database, f"verify:{address}", per_minute, now)
    if wait:
        raise DomainError(
            429,
            "too_many_verifications",
            "Too many verifications from this address: wait a minute and try again.",
            retry_after=wait,
        )


def certificates_of(db: DbSession, user_id: int) -> list[Certificate]:
    """Every certificate a person holds or held, newest first."""
    return list(
        db.scalars(
            select(Certificate).where(Certificate.user_id == user_id).order_by(Certificate.issued_at.desc())
        )
    )


def current_certificates(db: DbSession, user_id: int) -> list[Certificate]:
    """A person's current certificate of each course (whatever its state: renewal replaces it)."""
    return list(
        db.scalars(
            select(Certificate).where(Certificate.user_id == user_id, Certificate.is_current.is_(True))
        )
    )


def certificates_of_inspector(db: DbSession, viewer: Viewer, user_id: int) -> list[Certificate]:
    """An inspector's certificates for a manager of their unit (or an admin): `certificates_of`,
    refused with a 404 for anyone outside the viewer's part of the organisation."""
    if not manages(viewer, _unit_lineage_of(db, user_id)):
        raise DomainError(404, "no_such_inspector", "no such inspector")
    return certificates_of(db, user_id)


def certificate_for(db: DbSession, viewer: Viewer, number: str) -> Certificate:
    """A certificate by number, for its holder, a manager of the holder's unit or an admin; for
    anyone else it does not exist (404), as for an unknown number."""
    row = db.execute(
        select(Certificate, Unit.lineage)
        .join(User, User.id == Certificate.user_id)
        .outerjoin(Unit, Unit.id == User.unit_id)
        .where(Certificate.number == number)
    ).one_or_none()
    if row is None or not may_view_person(viewer, row[0].user_id, row[1]):
        raise DomainError(404, "no_such_certificate", "no such certificate")
    certificate: Certificate = row[0]
    return certificate


def _unit_lineage_of(db: DbSession, user_id: int) -> str | None:
    """The lineage of a person's unit (None: no such person, or none in a unit)."""
    return db.scalar(select(Unit.lineage).join(User, User.unit_id == Unit.id).where(User.id == user_id))


def mask_name(name: str) -> str:
    """Enough to recognise, not to identify: 李明 -> 李*, Li Ming -> L. M***."""
    name = name.strip()
    if not name:
        return ""
    if any("\u4e00" <= c <= "\u9fff" for c in name):
        chinese = "".join(c for c in name if "\u4e00" <= c <= "\u9fff")
        return chinese[0] + "*" * (len(chinese) - 1)
    parts = name.split()
    return " ".join(
        p[0] + "." if i < len(parts) - 1 else p[0] + "***"
        for i, p in enumerate(parts)  # fixed length: no hint
    )


# -- managers' actions ------------------------------------------------------------------------


# Who suspended, as the lineage of the level they acted from; an admin acts from above every unit.
ADMIN_LEVEL = "/"


def acting_level(viewer: Viewer) -> str:
    return ADMIN_LEVEL if viewer.is_admin or viewer.unit_lineage is None else viewer.unit_lineage


def act(
    db: DbSession,
    viewer: Viewer,
    actor: audit.Actor,
    number: str,
    *,
    action: str,
    reason: str,
    now: datetime,
) -> Certificate:
    """Suspend (with a reason), reinstate, or revoke (with a reason; final) a certificate of
    someone in the actor's part of the organisation. Unknown or out-of-scope: 404.

    Separation of duties: nobody acts on their own certificate (a manager who also holds one
    could otherwise lift their own suspension), and a suspension is reinstated or turned into a
    revocation only from the suspender's level or above, so a district cannot overrule its city.
    """
    certificate = db.scalar(select(Certificate).where(Certificate.number == number).with_for_update())
    if certificate is None:
        raise DomainError(404, "no_such_certificate", "no such certificate")
    if not manages(viewer, _unit_lineage_of(db, certificate.user_id)):
        # outside the subtree it does not exist for you
        raise DomainError(404, "no_such_certificate", "no such certificate")
    if certificate.user_id == viewer.id:
        raise DomainError(
            403, "own_certificate", "Nobody may act on their own certificate; ask a manager above you."
        )
    reason = reason.strip()
    current = state_of(certificate, now)
    holder_unit_id = db.scalar(select(User.unit_id).where(User.id == certificate.user_id))
    if action in ("suspend", "revoke") and not reason:
        raise DomainError(
            422, "reason_required", "Give a reason: it is kept in the audit log and shown on the record."
        )
    if current is policy.State.REVOKED:
        raise DomainError(409, "certificate_revoked", "This certificate is revoked; revocation is final.")
    if (
        action in ("reinstate", "revoke")
        and current is policy.State.SUSPENDED
        and not may_overrule(viewer, certificate.suspended_by_level)
    ):
        raise DomainError(
            403,
            "suspended_higher",
            "This certificate was suspended from a higher level of the organisation; only that level "
            "or one above it may reinstate or revoke it.",
        )
    if action == "suspend":
        if current is policy.State.SUSPENDED:
            raise DomainError(409, "already_suspended", "This certificate is already suspended.")
        certificate.suspended_at, certificate.suspended_reason = now, reason
        certificate.suspended_by_level = acting_level(viewer)
    elif action == "reinstate":
        if current is not policy.State.SUSPENDED:
            raise DomainError(409, "not_suspended", "Only a suspended certificate can be reinstated.")
        certificate.suspended_at, certificate.suspended_reason = None, None
        certificate.suspended_by_level = None
    elif action == "revoke":
        certificate.revoked_at, certificate.revoked_reason = now, reason
    else:
        raise DomainError(404, "unknown_action", "unknown action")
    mark_changed(db, holder_unit_id)
    audit.record(
        db,
        {
            "suspend": "certificate.suspended",
            "reinstate": "certificate.reinstated",
            "revoke": "certificate.revoked",
        }[action],
        actor,
        target_type="certificate",
        target_id=certificate.number,
        details={"reason": reason} if reason else {},
    )
    return certificate


def may_overrule(viewer: Viewer, suspended_by_level: str | None) -> bool:
    """Is the viewer at or above the level a suspension came from? (Suspensions from before the
    level was recorded: any manager of the holder, as then.)"""
    if viewer.is_admin or suspended_by_level is None:
        return True
    level = acting_level(viewer)
    return level != ADMIN_LEVEL and suspended_by_level.startswith(level)
