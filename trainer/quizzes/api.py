"""The quiz JSON API (/api/v1): start or resume, answer, submit, read back. Inspectors only see
their own attempts; another inspector's attempt is a 404.

Routes take the request's unit of work (`db: Db`, trainer.web.unit) and pass it to the services,
except exam day's hot paths - start, save and submit - which take no unit: the services run
their own short transactions (listed, with the reasons, in trainer.quizzes.service's docstring).
Reading an attempt first grades it if overdue, in a short write of its own (a GET's unit only
reads), as does opening a module (it records the read)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from trainer import metrics
from trainer.config import Language
from trainer.content.store import content_of
from trainer.db import MAX_ID, utcnow
from trainer.errors import DomainError
from trainer.people.api import BODY, SIGNED_IN, ApiViewer, BearerToken, remembered_signed_in, signed_in
from trainer.quizzes import flags, service, snapshot
from trainer.quizzes.answer_writer import AnswerWriter
from trainer.quizzes.paper_warmer import PaperWarmer
from trainer.schemas import AttemptOut, AttemptRow, Problem
from trainer.web import state
from trainer.web.exam_threads import run_exam_work
from trainer.web.unit import Db

router = APIRouter(prefix="/api/v1")


class ExamStart(BaseModel):
    # The sitting's code (a course in `mode: sittings` whose sitting has one), as the room was told.
    access_code: str | None = Field(default=None, max_length=32)


class ModuleRead(BaseModel):
    course_id: str
    module_id: str
    title: str
    read: bool


ERRORS: dict[int | str, dict[str, Any]] = {
    **SIGNED_IN,
    403: {"model": Problem, "description": "Not allowed by the course policy, or a password change is due"},
    404: {"model": Problem, "description": "No such course, module or attempt"},
    409: {"model": Problem, "description": "The attempt is closed, or the bank cannot fill the paper"},
    422: {"description": "The request, or the response to the question, does not fit"},
}


def answer_writer(request: Request) -> AnswerWriter:
    """The app's group commit of exam answer saves (trainer.quizzes.answer_writer)."""
    writer: AnswerWriter = request.app.state.answer_writer
    return writer


class LoopSaves:
    """How many exam answer saves this app checked on the event loop and has not answered yet
    (they wait for their group commit). Read and changed on the event loop only: no lock.

    At most LOOP_SAVES_AT_ONCE: past that, a save is checked on an exam thread, whose bounded
    pool makes it wait off the loop, as every save did before saves were checked on the loop.
    With no bound, under more saves than a process takes, the loop took on every save that
    came and every other request's passes through it (a page's request, session check, hand-off
    to a thread and response) queued behind them: at 2,000 exams saving once a second on SQLite
    (short bench runs), 2.2 module pages a second against the reference's 6.0 with no bound,
    7.6 with a bound of 32, the saves 425 and 391 a second."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


LOOP_SAVES_AT_ONCE = 32


def paper_warmer(request: Request) -> PaperWarmer:
    warmer: PaperWarmer = request.app.state.paper_warmer
    return warmer


def loop_saves(request: Request) -> LoopSaves:
    saves: LoopSaves = request.app.state.loop_saves
    return saves


def certifying(request: Request) -> service.Certifying:
    return service.Certifying(content_of(request).library, state.settings(request).certificate_prefix)


def _started(request: Request, viewer: Any, started: service.Started) -> Response:
    """What a start route returns: a new attempt as the start made it, an open one resumed as
    read in a session of the service's own."""
    if started.view is None:
        view = service.attempt_view_apart(
            state.database(request), viewer, started.attempt_id, utcnow(), certify=certifying(request)
        )
        return _json(AttemptOut(**view))
    # The attempt's fields serialised here, its questions as serialised when the paper was drawn
    # (for a paper drawn ahead of a sitting, before exam day): put in where the empty list is.
    # The fields are ids, times and numbers: nothing in them can spell the key searched for.
    head, found, tail = AttemptOut(**started.view).model_dump_json().partition(_NO_QUESTIONS)
    assert found, "AttemptOut serialises its questions as an empty list"
    return Response(f'{head}"questions":{started.questions}{tail}', media_type="application/json")


_NO_QUESTIONS = '"questions":[]'


def _json(model: BaseModel) -> Response:
    """Serialised here, in the worker thread (a returned Response skips FastAPI's own pass)."""
    return Response(model.model_dump_json(), media_type="application/json")


# Start, save and submit are what thousands of inspectors send at once on exam day: each is one
# trip to an exam-day worker thread (token lookup, work, serialisation; trainer.web.exam_threads:
# a few per process, apart from the shared pool), see trainer.people.api.BearerToken.


# The language a new paper is served in: `?lang=` if given, else the request's (the language
# cookie, else Accept-Language). An open exam resumes in its own language whatever is asked.
PaperLanguage = Annotated[
    Language | None,
    Query(description="The paper's language (default: the request's); an open exam keeps its own"),
]


def _paper_lang(request: Request, lang: str | None) -> str:
    return lang or str(request.state.lang)


@router.post("/courses/{course_id}/exam/attempts", response_model=AttemptOut, responses={**ERRORS, **BODY})
async def start_exam(
    course_id: Annotated[str, Path(max_length=100)],
    token: BearerToken,
    request: Request,
    lang: PaperLanguage = None,
    body: Annotated[ExamStart | None, Body()] = None,
) -> Response:
    """Start or resume the course's final exam. In `mode: sittings` only inside an open sitting
    the caller is on, with `{"access_code"}` where the sitting has one; a refusal says why and
    names the caller's next sitting (`next_sitting`)."""

    started: service.Started | None = None

    def work() -> Response:
        nonlocal started
        viewer = signed_in(request, token)
        started = service.begin_exam(
            state.database(request),
            content_of(request).library,
            viewer,
            course_id,
            utcnow(),
            prefix=state.settings(request).certificate_prefix,
            lang=_paper_lang(request, lang),
            access_code=body.access_code if body is not None else None,
        )
        return _started(request, viewer, started)

    response = await run_exam_work(request, work)
    # A paper drawn ahead, not read by the start: read into memory before its first save.
    if started is not None and not service.paper_is_cached(state.database(request), started.attempt_id):
        paper_warmer(request).add(request.app, started.attempt_id, started.sitting_id)
    return response


@router.post("/modules/{module_id}/practice/attempts", response_model=AttemptOut, responses=ERRORS)
def start_practice(
    module_id: Annotated[str, Path(max_length=100)],
    viewer: ApiViewer,
    request: Request,
    lang: PaperLanguage = None,
) -> Response:
    library = content_of(request).library
    started = service.begin_practice(
        state.database(request), library, viewer, module_id, utcnow(), lang=_paper_lang(request, lang)
    )
    return _started(request, viewer, started)


@router.put(
    "/attempts/{attempt_id}/answers/{slot}",
    responses={
        **ERRORS,
        **BODY,
        413: {"model": Problem, "description": "The response is over 10 kB, or the body over 1 MB"},
    },
)
async def save_answer(
    attempt_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    slot: Annotated[int, Path(ge=1, le=10_000)],
    response: Annotated[dict[str, Any], Body()],
    token: BearerToken,
    request: Request,
) -> JSONResponse:
    database = state.database(request)
    now = utcnow()

    def check() -> service.CheckedAnswers:
        viewer = signed_in(request, token)
        outcome.began = True  # a refused token is not a save
        return service.check_answers(database, viewer, attempt_id, {slot: response}, now)

    def check_in_memory() -> service.CheckedAnswers | None:
        viewer = remembered_signed_in(request, token)
        if viewer is None:
            return None
        outcome.began = True
        return service.check_answers_in_memory(database, viewer, attempt_id, {slot: response}, now)

    on_loop = loop_saves(request)
    with metrics.counted("save") as outcome:
        outcome.began = False
        # With the token and the paper in this process's memory (every save of an exam under
        # way but the first few), checked here on the event loop: a trip to an exam thread and
        # back cost more CPU than the check; unless the loop has LOOP_SAVES_AT_ONCE saves on
        # hand already (LoopSaves). Else in a worker thread, which may read both.
        checked = check_in_memory() if on_loop.count < LOOP_SAVES_AT_ONCE else None
        counted = 1 if checked is not None else 0  # this save is one of the loop's
        if checked is None:
            checked = await run_exam_work(request, check)
        on_loop.count += counted
        try:
            outcome.kind = checked.kind
            if checked.practice:  # its own transaction: a practice question answers once
                await run_exam_work(request, lambda: service.store_answers(database, checked, now))
            elif not await asyncio.wrap_future(answer_writer(request).write(checked.rows[0])):
                await run_exam_work(request, lambda: service.refuse_closed(database, attempt_id, now))
        finally:
            on_loop.count -= counted
    return JSONResponse(checked.results[slot])


@router.post("/attempts/{attempt_id}/submit", response_model=AttemptRow, responses=ERRORS)
async def submit(
    attempt_id: Annotated[int, Path(ge=1, le=MAX_ID)], token: BearerToken, request: Request
) -> Response:
    def work() -> Response:
        viewer = signed_in(request, token)
        result = service.submit(
            state.database(request), viewer, attempt_id, utcnow(), certify=certifying(request)
        )
        return _json(AttemptRow.model_validate(result, from_attributes=True))

    return await run_exam_work(request, work)


@router.get("/attempts/{attempt_id}", response_model=AttemptOut, responses=ERRORS)
def get_attempt(
    attempt_id: Annotated[int, Path(ge=1, le=MAX_ID)], viewer: ApiViewer, request: Request, db: Db
) -> AttemptOut:
    now = utcnow()
    service.close_overdue(state.database(request), now, user_id=viewer.id, certify=certifying(request))
    view = service.attempt_view(db, viewer, attempt_id, now)
    # Citations in the paper's language, with the edition the paper cited.
    snapshot.refs_for_reader(view["questions"], view["lang"], content_of(request).library)
    return AttemptOut(**view)


@router.get("/me/attempts", response_model=list[AttemptRow], responses=ERRORS)
def my_attempts(viewer: ApiViewer, db: Db) -> list[AttemptRow]:
    return [AttemptRow(**row) for row in service.my_attempts(db, viewer)]


@router.get("/courses/{course_id}/modules/{module_id}", response_model=ModuleRead, responses=ERRORS)
def read_module(
    course_id: Annotated[str, Path(max_length=100)],
    module_id: Annotated[str, Path(max_length=100)],
    viewer: ApiViewer,
    request: Request,
) -> ModuleRead:
    """Opening a module through the API records the read, as opening its page does."""
    library = content_of(request).library
    course = library.courses.get(course_id)
    module = course.module(module_id) if course else None
    if module is None:
        raise DomainError(404, "no_such_module", "no such module")
    service.record_read(state.database(request), viewer, module, utcnow())
    return ModuleRead(course_id=course_id, module_id=module_id, title=module.original.title, read=True)


# -- flags for review (the exam navigator's; they change nothing in grading) --------------------


class FlagsOut(BaseModel):
    flagged: list[int]  # the slots flagged, in order


@router.get("/attempts/{attempt_id}/flags", response_model=FlagsOut, responses=ERRORS)
def get_flags(attempt_id: Annotated[int, Path(ge=1, le=MAX_ID)], viewer: ApiViewer, db: Db) -> FlagsOut:
    return FlagsOut(flagged=sorted(flags.flags_of(db, viewer, attempt_id)))


def _set_flag(db: Session, viewer: Any, attempt_id: int, slot: int, *, flagged: bool) -> FlagsOut:
    slots = flags.set_flag(db, viewer, attempt_id, slot, flagged=flagged, now=utcnow())
    return FlagsOut(flagged=sorted(slots))


@router.put("/attempts/{attempt_id}/flags/{slot}", response_model=FlagsOut, responses=ERRORS)
def flag_question(
    attempt_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    slot: Annotated[int, Path(ge=1, le=10_000)],
    viewer: ApiViewer,
    db: Db,
) -> FlagsOut:
    """Flag a question for review before handing in (again: no change). Only while the attempt
    is open (409 after)."""
    return _set_flag(db, viewer, attempt_id, slot, flagged=True)


@router.delete("/attempts/{attempt_id}/flags/{slot}", response_model=FlagsOut, responses=ERRORS)
def unflag_question(
    attempt_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    slot: Annotated[int, Path(ge=1, le=10_000)],
    viewer: ApiViewer,
    db: Db,
) -> FlagsOut:
    """Take a question's flag away (none there: no change). Only while the attempt is open."""
    return _set_flag(db, viewer, attempt_id, slot, flagged=False)
