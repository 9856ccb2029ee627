"""The reports JSON API for other government systems: a unit's compliance roll-up and an
inspector's transcript. Same scope rules as the pages: outside your subtree, 404.

Routes take the request's unit of work (`db: Db`, trainer.web.unit) and pass it to the reports
and people services, which own the queries; the roll-up first brings the tallies up to date
(`compliance.bring_up_to_date`, a documented exception with short transactions of its own,
before the session first reads)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel

from trainer.access import may_view_person
from trainer.content.store import content_of
from trainer.db import MAX_ID, utcnow
from trainer.people import service as people
from trainer.people.api import MANAGERS, SIGNED_IN, ApiViewer, ManagerViewer
from trainer.reports import compliance, records
from trainer.reports.compliance import Counts, RequiredCounts, UnitRef
from trainer.reports.shared import MONTH, certifying_courses, course_titles
from trainer.schemas import AttemptRow, CertificateOut, Message, UnitOut
from trainer.web import state
from trainer.web.unit import Db

router = APIRouter(prefix="/api/v1")


class RequiredOut(BaseModel):
    """The people required the course (by an assignment) and where they stand."""

    required: int
    valid: int
    due_for_renewal: int
    grace: int
    expired: int
    not_yet_certified: int
    overdue: int  # past the due date without a live certificate


class CourseCounts(BaseModel):
    course_id: str
    title: str
    inspectors: int
    valid: int
    due_for_renewal: int
    grace: int
    expired: int
    suspended: int
    revoked: int
    never_certified: int
    required: RequiredOut | None  # now only (null for a kept month: snapshots keep the above)


class ChildOut(BaseModel):
    unit: UnitOut | None  # null: inspectors attached directly to the unit asked for
    courses: list[CourseCounts]


class ComplianceOut(BaseModel):
    unit: UnitOut
    as_of: datetime
    month: str | None
    courses: list[CourseCounts]
    children: list[ChildOut]


def _unit(ref: UnitRef) -> UnitOut:
    return UnitOut(id=ref.id, name=ref.name, kind=ref.kind, path=ref.path)


def _courses(
    counts: dict[str, Counts], required: dict[str, RequiredCounts], titles: dict[str, str]
) -> list[CourseCounts]:
    return [
        CourseCounts(
            course_id=course_id,
            title=titles.get(course_id, course_id),
            **c.as_dict(),
            required=RequiredOut(**required[course_id].as_dict()) if course_id in required else None,
        )
        for course_id, c in counts.items()
    ]


@router.get(
    "/units/{unit_id}/compliance",
    response_model=ComplianceOut,
    responses={
        **MANAGERS,
        404: {"model": Message, "description": "Unknown, outside your scope, or no snapshot for that month"},
    },
)
def unit_compliance(
    unit_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    viewer: ManagerViewer,
    request: Request,
    db: Db,
    month: Annotated[str | None, Query(description="A kept monthly snapshot, YYYY-MM", max_length=7)] = None,
) -> ComplianceOut:
    """Per course, how many inspectors of the unit's subtree are in each certificate state, and
    (now) how many people are required the course and where they stand (`required`); the same
    for each child unit. Exact now, or as kept at the start of `month`."""
    library = content_of(request).library
    courses = [c.id for c in certifying_courses(library)]
    titles = course_titles(library, "en")
    now = utcnow()
    if month is not None and not MONTH.fullmatch(month):
        raise HTTPException(status_code=404, detail="no snapshot for that month")
    if month is None:  # before `db` first reads
        compliance.bring_up_to_date(state.database(request), now, keep_snapshot=False)
    ref = compliance.unit_in_scope(db, viewer, unit_id)
    if ref is None:
        raise HTTPException(status_code=404, detail="no such unit")
    result = compliance.rollup_as_of(db, ref, courses, month)
    if result is None:
        raise HTTPException(status_code=404, detail="no snapshot for that month")
    return ComplianceOut(
        unit=_unit(ref),
        as_of=now,
        month=month,
        courses=_courses(result.total, result.required, titles),
        children=[
            ChildOut(
                unit=_unit(row.unit) if row.unit else None,
                courses=_courses(row.courses, row.required, titles),
            )
            for row in result.rows
        ],
    )


class ProgressOut(BaseModel):
    course_id: str
    modules_total: int
    modules_completed: list[str]
    exam_attempts: int
    best_exam: float | None
    passed: bool


class InspectorOut(BaseModel):
    id: int
    username: str
    full_name: str
    active: bool
    unit: UnitOut | None


class TranscriptOut(BaseModel):
    inspector: InspectorOut
    as_of: datetime
    courses: list[ProgressOut]
    attempts: list[AttemptRow]
    certificates: list[CertificateOut]


@router.get(
    "/inspectors/{user_id}/transcript",
    response_model=TranscriptOut,
    responses={**SIGNED_IN, 404: {"model": Message, "description": "Unknown or outside your scope"}},
)
def transcript(
    user_id: Annotated[int, Path(ge=1, le=MAX_ID)], viewer: ApiViewer, request: Request, db: Db
) -> TranscriptOut:
    """Everything an inspector has done: module progress, every attempt, every certificate with
    its state now. For the inspector themselves, their managers and admins."""
    library = content_of(request).library
    now = utcnow()
    found = people.person_and_unit(db, user_id)
    if found is None or not may_view_person(viewer, user_id, found[1].lineage if found[1] else None):
        raise HTTPException(status_code=404, detail="no such inspector")
    person, unit = found
    record = records.record_of(db, library, user_id, now, "en")
    return TranscriptOut(
        inspector=InspectorOut(
            id=person.id,
            username=person.username,
            full_name=person.full_name,
            active=person.is_active,
            unit=UnitOut(id=unit.id, name=unit.name, kind=unit.kind, path=unit.path) if unit else None,
        ),
        as_of=now,
        courses=[ProgressOut(**p.__dict__) for p in record.courses],
        attempts=[AttemptRow(**a.__dict__) for a in record.attempts],
        certificates=[
            CertificateOut(
                number=c.number,
                verification_code=c.verification_code,
                course_id=c.course_id,
                title=c.title,
                state=c.state,
                issued_at=c.issued_at,
                expires_at=c.expires_at,
                is_current=c.is_current,
            )
            for c in record.certificates
        ],
    )
