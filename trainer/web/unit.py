"""One unit of work per request, opened by the request plumbing and finished at its end.

Pages (trainer.web.pages.page) and API routes (the `Db` dependency below) alike: a GET or HEAD
gets a read session, every other method a write session; the unit commits when the handler
returns (whatever the response's status: a refusal that records something, like a failed
sign-in, keeps its record) and rolls back when the handler raises. Handlers pass the session to
services, which never commit.

When the session opens differs (trainer.db.UnitOfWork opens it on first use):
- A page opens it when its handler first calls `session_of(request)`, so a page that needs no
  database costs none, and on SQLite a write page takes the process's write lock only then.
- An API route that declares `db: Db` opens it when its dependencies are resolved, before the
  handler runs: on SQLite a write route (POST, PUT, DELETE…) takes the write lock at that moment
  and holds it until the handler has returned, whether or not it writes. A route that only
  sometimes needs the database should not declare `Db`.

An `async` page takes no unit for itself; the part of its work that needs the database goes
through `run` below, in a worker thread.

Documented exceptions, which take no unit here: the exam-day hot paths (start, save and submit,
from the API and the quiz pages) run their own short, prebuilt transactions; a GET that must
first write (grading an overdue exam before showing it, recording a module's first read,
counting a public verification, recounting the compliance tallies that changed before a
manager's roll-up or list) does that write in a short transaction of its own before its session
first reads, since its unit only reads (trainer.quizzes.service, trainer.certification.service
and trainer.reports.compliance.bring_up_to_date say why); and signing in
(trainer.people.auth.login) runs its own, since it records a failed attempt and then refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, ParamSpec, TypeVar

from fastapi import Depends
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from trainer.db import UnitOfWork
from trainer.web import state

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def begin(request: Request) -> UnitOfWork:
    """The request's unit of work (one per request, however often asked)."""
    unit: UnitOfWork | None = getattr(request.state, "unit", None)
    if unit is None:
        unit = UnitOfWork(state.database(request), write=request.method not in SAFE_METHODS)
        request.state.unit = unit
    return unit


def session_of(request: Request) -> Session:
    """The session of the request's unit of work, for a page handler to pass to services."""
    return begin(request).session


P = ParamSpec("P")
T = TypeVar("T")


async def run(request: Request, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """For an `async` page that needs the database for part of its work only: `work` runs in a
    worker thread inside the request's unit of work (its session from `session_of(request)`),
    finished there: committed when it returns, rolled back when it raises. A plain `def` page
    runs wholly inside its unit (trainer.web.pages)."""

    def in_unit() -> T:
        unit = begin(request)
        try:
            result = work(*args, **kwargs)
        except BaseException:
            unit.finish(ok=False)
            raise
        unit.finish(ok=True)
        return result

    return await run_in_threadpool(in_unit)


def _api_session(request: Request) -> Iterator[Session]:
    unit = begin(request)
    try:
        yield unit.session
    except BaseException:
        unit.finish(ok=False)
        raise
    unit.finish(ok=True)


# scope="function": the unit finishes when the handler returns, before the response is sent,
# so a client never hears "done" for work that then fails to commit.
Db = Annotated[Session, Depends(_api_session, scope="function")]
