"""The sittings JSON API (/api/v1): schedule a sitting, give a person extra time, read the
supervisor's board, close the sitting. Moments in and out are ISO 8601; in, with their offset.

Starting an exam in a sitting stays `POST /api/v1/courses/{course_id}/exam/attempts` (with an
optional `{"access_code"}`: trainer.quizzes.api).

Closing takes no unit of work: it runs its own short transactions (trainer.sittings.service).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from pydantic import AwareDatetime, BaseModel, Field

from trainer.access import Access, Viewer
from trainer.audit import service as audit
from trainer.content.store import content_of
from trainer.db import MAX_ID, utcnow
from trainer.people.api import BODY, SIGNED_IN, ApiViewer, requires
from trainer.quizzes.service import Certifying
from trainer.schemas import Message, Problem
from trainer.sittings import rules, service
from trainer.web import state
from trainer.web.pages import client_ip
from trainer.web.unit import Db

router = APIRouter(prefix="/api/v1")
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
SittingId = Annotated[int, Path(ge=1, le=MAX_ID)]

ERRORS: dict[int | str, dict[str, Any]] = {
    **SIGNED_IN,
    404: {"model": Problem, "description": "No such sitting (or not yours to see), person or course exam"},
    409: {"model": Problem, "description": "The sitting is closed, or the person has handed in"},
}


class SittingIn(BaseModel):
    opens_at: AwareDatetime
    closes_at: AwareDatetime
    unit_ids: list[Id] = Field(default_factory=list, max_length=1000)
    person_ids: list[Id] = Field(default_factory=list, max_length=20_000)
    access_code: bool = False  # generate one
    place: str = Field(default="", max_length=200)
    supervisor_ids: list[Id] = Field(default_factory=list, max_length=200)
    late_entry_minutes: int | None = Field(default=None, ge=0, le=24 * 60)  # after opening; none: until close


class SittingOut(BaseModel):
    id: int
    course_id: str
    opens_at: datetime
    closes_at: datetime
    late_entry_until: datetime | None
    place: str
    access_code: str | None  # the code to give the room, if the sitting has one
    state: str  # scheduled | open | over | closed
    closed_at: datetime | None


class ExtraTimeIn(BaseModel):
    extra_minutes: int = Field(ge=0, le=rules.MAX_EXTRA_MINUTES)
    reason: str = Field(default="", max_length=2000)


class ExtraTimeOut(BaseModel):
    sitting_id: int
    person_id: int
    extra_minutes: int
    deadline: datetime | None  # of the person's exam in progress, moved at once


class BoardRowOut(BaseModel):
    person_id: int
    username: str
    full_name: str
    unit: str | None
    state: str  # not_started | in_progress | submitted | absent (after the close)
    answered: int
    total: int
    remaining_seconds: int | None  # while in progress
    extra_minutes: int
    attempt_id: int | None
    voided: int  # exams of theirs voided in this sitting (not counted as attempts)


class BoardOut(SittingOut):
    counts: dict[str, int]  # per state
    people: list[BoardRowOut]


class CloseIn(BaseModel):
    reason: str = Field(default="", max_length=2000)


class ClosedOut(BaseModel):
    id: int
    closed_at: datetime
    handed_in: int  # exams this request handed in (0 when closed before)


def _actor(request: Request, viewer: Viewer) -> audit.Actor:
    return audit.Actor(viewer.id, viewer.username, client_ip(request))


def _sitting_out(sitting: Any, now: datetime) -> dict[str, Any]:
    return {
        "id": sitting.id,
        "course_id": sitting.course_id,
        "opens_at": sitting.opens_at,
        "closes_at": sitting.closes_at,
        "late_entry_until": rules.late_entry_until(sitting.opens_at, sitting.late_entry_minutes),
        "place": sitting.place,
        "access_code": sitting.access_code,
        "state": service.state_of(sitting, now),
        "closed_at": sitting.closed_at,
    }


@router.post(
    "/courses/{course_id}/sittings",
    status_code=201,
    response_model=SittingOut,
    responses={
        **ERRORS,
        **BODY,
        400: {
            "model": Problem,
            "description": "The sitting does not fit the rules (every problem in `problems`)",
        },
        403: {"model": Message, "description": "Trainers and managers only, or a password change is due"},
        409: {"model": Problem, "description": "The course's exam is not taken in sittings"},
    },
)
def create_sitting(
    course_id: Annotated[str, Path(max_length=100)],
    body: SittingIn,
    viewer: Annotated[Viewer, requires(Access.ORGANISER)],
    request: Request,
    db: Db,
) -> SittingOut:
    """Schedule a sitting of a course whose exam is in `mode: sittings`; with `"access_code":
    true` a code is generated and returned. Managers put units and people of their own part of
    the organisation on the roster."""
    now = utcnow()
    sitting = service.create(
        db,
        _actor(request, viewer),
        viewer,
        course_id,
        service.SittingInput(
            opens_at=body.opens_at,
            closes_at=body.closes_at,
            place=body.place,
            late_entry_minutes=body.late_entry_minutes,
            unit_ids=tuple(body.unit_ids),
            person_ids=tuple(body.person_ids),
            supervisor_ids=tuple(body.supervisor_ids),
            access_code="new" if body.access_code else "none",
        ),
        library=content_of(request).library,
        now=now,
    )
    return SittingOut(**_sitting_out(sitting, now))


@router.get("/sittings/{sitting_id}", response_model=BoardOut, responses=ERRORS)
def get_board(sitting_id: SittingId, viewer: ApiViewer, request: Request, db: Db) -> BoardOut:
    """The supervisor's board: everyone on the roster with their state, progress and time left."""
    now = utcnow()
    sitting = service.for_board(db, viewer, sitting_id)
    found = service.board(db, sitting, content_of(request).library, now)
    return BoardOut(
        **_sitting_out(sitting, now),
        counts=found.counts,
        people=[
            BoardRowOut(
                person_id=row.person_id,
                username=row.username,
                full_name=row.full_name,
                unit=row.unit,
                state=row.state,
                answered=row.answered,
                total=row.total,
                remaining_seconds=row.remaining_seconds,
                extra_minutes=row.extra_minutes,
                attempt_id=row.attempt_id,
                voided=row.voided,
            )
            for row in found.rows
        ],
    )


@router.put(
    "/sittings/{sitting_id}/people/{person_id}",
    response_model=ExtraTimeOut,
    responses={**ERRORS, **BODY, 400: {"model": Problem, "description": "Extra time out of range"}},
)
def set_extra_time(
    sitting_id: SittingId,
    person_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    *,
    body: Annotated[ExtraTimeIn, Body()],
    viewer: ApiViewer,
    request: Request,
    db: Db,
) -> ExtraTimeOut:
    """Set a rostered person's extra minutes (organisers and supervisors). An exam of theirs in
    progress gets its new deadline at once."""
    done = service.set_extra_minutes(
        db,
        _actor(request, viewer),
        viewer,
        sitting_id,
        person_id,
        minutes=body.extra_minutes,
        now=utcnow(),
        reason=body.reason,
    )
    return ExtraTimeOut(
        sitting_id=done.sitting_id,
        person_id=done.person_id,
        extra_minutes=done.extra_minutes,
        deadline=done.deadline,
    )


@router.post("/sittings/{sitting_id}/close", response_model=ClosedOut, responses={**ERRORS, **BODY})
def close_sitting(
    sitting_id: SittingId,
    viewer: ApiViewer,
    request: Request,
    body: Annotated[CloseIn | None, Body()] = None,
) -> ClosedOut:
    """Close the sitting now: every exam still open in it is handed in as of this moment, each
    graded exactly once. Closing again hands in nothing new."""
    closed = service.close(
        state.database(request),
        _actor(request, viewer),
        viewer,
        sitting_id,
        utcnow(),
        reason=body.reason if body is not None else "",
        certify=Certifying(content_of(request).library, state.settings(request).certificate_prefix),
    )
    return ClosedOut(id=closed.sitting_id, closed_at=closed.closed_at, handed_in=closed.handed_in)
