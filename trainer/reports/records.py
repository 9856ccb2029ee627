"""One inspector's whole record in one place: modules, attempts, scores, certificates and the
audit events about them. Shared by the person page and the transcript API, so both say the
same thing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session as DbSession

from trainer.audit.models import AuditEvent
from trainer.certification import service as certification
from trainer.certification.models import Certificate
from trainer.content.library import Library
from trainer.quizzes import service as quizzes
from trainer.quizzes.models import Attempt

AUDIT_EVENTS_SHOWN = 100


@dataclass(frozen=True)
class CourseProgress:
    course_id: str
    modules_total: int
    modules_completed: list[str]
    exam_attempts: int
    best_exam: float | None  # fraction of the points
    passed: bool


@dataclass(frozen=True)
class AttemptLine:
    id: int
    kind: str
    course_id: str
    module_id: str | None
    status: str
    started_at: datetime
    submitted_at: datetime | None
    score: float | None
    max_score: float
    passed: bool | None


@dataclass(frozen=True)
class CertificateLine:
    number: str
    verification_code: str
    course_id: str
    title: str
    state: str
    issued_at: datetime
    expires_at: datetime
    suspended_reason: str | None
    revoked_reason: str | None
    is_current: bool


@dataclass(frozen=True)
class EventLine:
    occurred_at: datetime
    action: str
    actor: str | None
    target: str
    details: dict[str, Any]


@dataclass(frozen=True)
class Record:
    courses: list[CourseProgress]
    attempts: list[AttemptLine]
    certificates: list[CertificateLine]
    events: list[EventLine]


def record_of(db: DbSession, library: Library, user_id: int, now: datetime, lang: str) -> Record:
    """Five queries whatever the size of the record (attempts read without their papers)."""
    courses = list(library.courses.values())
    completed = quizzes.completed_modules(db, user_id, courses)
    attempts = [
        AttemptLine(**row._asdict())
        for row in db.execute(
            select(
                Attempt.id,
                Attempt.kind,
                Attempt.course_id,
                Attempt.module_id,
                Attempt.status,
                Attempt.started_at,
                Attempt.submitted_at,
                Attempt.score,
                Attempt.max_score,
                Attempt.passed,
            )
            .where(Attempt.user_id == user_id)
            .order_by(Attempt.started_at.desc(), Attempt.id.desc())
        )
    ]
    progress = []
    for course in courses:
        exams = [a for a in attempts if a.kind == "exam" and a.course_id == course.id and a.score is not None]
        best = max(
            (a.score / a.max_score for a in exams if a.score is not None and a.max_score), default=None
        )
        progress.append(
            CourseProgress(
                course.id,
                len(course.modules),
                [m.id for m in course.modules if m.id in completed[course.id]],
                len(exams),
                best,
                any(a.passed for a in exams),
            )
        )
    held = db.scalars(
        select(Certificate).where(Certificate.user_id == user_id).order_by(Certificate.issued_at.desc())
    ).all()
    certificates = [
        CertificateLine(
            c.number,
            c.verification_code,
            c.course_id,
            certification.shown_title(c, library.courses.get(c.course_id), lang),
            certification.state_of(c, now).value,
            c.issued_at,
            c.expires_at,
            c.suspended_reason,
            c.revoked_reason,
            c.is_current,
        )
        for c in held
    ]
    attempt_ids = [str(a.id) for a in attempts]
    numbers = [c.number for c in certificates]
    about = or_(
        and_(AuditEvent.target_type == "user", AuditEvent.target_id == str(user_id)),
        AuditEvent.actor_id == user_id,
        and_(AuditEvent.target_type == "certificate", AuditEvent.target_id.in_(numbers)),
        and_(AuditEvent.target_type == "attempt", AuditEvent.target_id.in_(attempt_ids)),
    )
    events = [
        EventLine(
            e.occurred_at,
            e.action,
            e.actor,
            f"{e.target_type or ''} {e.target_id or ''}".strip(),
            json.loads(e.details),
        )
        for e in db.scalars(
            select(AuditEvent).where(about).order_by(AuditEvent.id.desc()).limit(AUDIT_EVENTS_SHOWN)
        )
    ]
    return Record(progress, attempts, certificates, events)
