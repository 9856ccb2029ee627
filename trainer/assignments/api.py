"""The assignments JSON API (/api/v1): require a course of a unit, a role or a person by a due
date, list and withdraw those requirements, and read what is required of oneself."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field, model_validator

from trainer.access import Viewer
from trainer.assignments import service
from trainer.audit import service as audit
from trainer.content.store import content_of
from trainer.db import MAX_ID, utcnow
from trainer.people.api import BODY, MANAGERS, SIGNED_IN, ApiViewer, ManagerViewer
from trainer.reports.shared import certifying_courses
from trainer.schemas import Problem
from trainer.web.pages import client_ip
from trainer.web.unit import Db

router = APIRouter(prefix="/api/v1")
Id = Annotated[int, Field(ge=1, le=MAX_ID)]

ERRORS: dict[int | str, dict[str, Any]] = {
    **MANAGERS,
    404: {"model": Problem, "description": "No such assignment, unit or person (or not yours to see)"},
}


class AssignmentIn(BaseModel):
    course_id: str = Field(min_length=1, max_length=100)
    unit_id: Id | None = None  # the unit (with its subtree); with `role`, where the role counts
    role: str | None = Field(default=None, max_length=20)  # inspector | manager | trainer
    person_id: Id | None = None
    due: date

    @model_validator(mode="after")
    def one_target(self) -> AssignmentIn:
        if self.person_id is not None and (self.unit_id is not None or self.role is not None):
            raise ValueError("give unit_id, role (optionally with unit_id) or person_id")
        if self.person_id is None and self.unit_id is None and self.role is None:
            raise ValueError("give unit_id, role (optionally with unit_id) or person_id")
        return self


class AssignmentOut(BaseModel):
    id: int
    course_id: str
    kind: str  # unit | role | person
    unit_id: int | None
    unit: str | None  # the unit's path; None: everywhere (a role across the organisation)
    role: str | None
    person_id: int | None
    person: str | None  # the person's full name
    due: date
    created_at: datetime
    withdrawable: bool  # inside your part of the organisation (else made above it)


class MyAssignmentOut(BaseModel):
    id: int
    course_id: str
    kind: str
    due: date
    state: str  # valid | due_for_renewal | grace | expired | not_yet_certified | overdue
    certificate_number: str | None
    expires_at: datetime | None


def _actor(request: Request, viewer: Viewer) -> audit.Actor:
    return audit.Actor(viewer.id, viewer.username, client_ip(request))


def _out(found: service.Listed) -> AssignmentOut:
    return AssignmentOut(
        id=found.id,
        course_id=found.course_id,
        kind=found.kind,
        unit_id=found.unit_id,
        unit=found.unit_path,
        role=found.role,
        person_id=found.person_id,
        person=found.person_name,
        due=found.due,
        created_at=found.created_at,
        withdrawable=found.withdrawable,
    )


@router.post(
    "/assignments",
    status_code=201,
    response_model=AssignmentOut,
    responses={
        **ERRORS,
        **BODY,
        400: {
            "model": Problem,
            "description": "The assignment does not fit the rules (every problem in `problems`)",
        },
        409: {"model": Problem, "description": "The same course is already required of the same target"},
    },
)
def create_assignment(body: AssignmentIn, viewer: ManagerViewer, request: Request, db: Db) -> AssignmentOut:
    """Require a course (one that ends in a certificate) of a unit and every unit under it (its
    inspectors), of everyone with a role (inside `unit_id`; a manager's own unit by default; the
    whole organisation for an admin without one), or of one person, by `due` (the last day, in
    the configured time zone). Managers act inside their own part of the organisation."""
    library = content_of(request).library
    created = service.create(
        db,
        _actor(request, viewer),
        viewer,
        service.AssignmentInput(
            course_id=body.course_id,
            due=body.due,
            unit_id=body.unit_id,
            role=body.role,
            person_id=body.person_id,
        ),
        course_ids={c.id for c in certifying_courses(library)},
        now=utcnow(),
    )
    return _out(service.one_visible(db, viewer, created.id))


@router.get("/assignments", response_model=list[AssignmentOut], responses=ERRORS)
def list_assignments(
    viewer: ManagerViewer,
    db: Db,
    course_id: Annotated[str | None, Query(max_length=100)] = None,
) -> list[AssignmentOut]:
    """The assignments in force that you see: those inside your part of the organisation and
    those made above it that cover your people (by due date, at most 500)."""
    return [_out(found) for found in service.visible(db, viewer, course_id=course_id)]


@router.delete(
    "/assignments/{assignment_id}",
    status_code=204,
    responses={**ERRORS, 400: {"model": Problem, "description": "The reason is over 2,000 characters"}},
)
def delete_assignment(
    assignment_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    viewer: ManagerViewer,
    request: Request,
    db: Db,
    reason: Annotated[str, Query(max_length=service.MAX_REASON)] = "",
) -> Response:
    """Withdraw an assignment inside your part of the organisation (kept in its history and the
    audit log, with the reason); a second call answers 404."""
    service.withdraw(db, _actor(request, viewer), viewer, assignment_id, reason=reason, now=utcnow())
    return Response(status_code=204)


@router.get("/me/assignments", response_model=list[MyAssignmentOut], responses=SIGNED_IN)
def my_assignments(viewer: ApiViewer, db: Db) -> list[MyAssignmentOut]:
    """Every assignment in force that covers you, by due date, with where you stand on each:
    its state (`overdue`: past the due date without a live certificate) and your current
    certificate of the course, if any."""
    found = service.of_person(db, service.person_of(db, viewer), utcnow())
    return [
        MyAssignmentOut(
            id=m.id,
            course_id=m.course_id,
            kind=m.kind,
            due=m.due,
            state=m.state,
            certificate_number=m.certificate_number,
            expires_at=m.expires_at,
        )
        for m in found
    ]
