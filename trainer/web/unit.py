"""One unit of work per request, opened by the request plumbing and finished at its end.

Pages (trainer.web.pages.page) and API routes (the `Db` dependency below) alike: a GET or HEAD
gets a read session, every other method a write session; the unit commits when the handler
returns (whatever the response's status: a refusal that records something, like a failed
sign-in, keeps its record) and rolls back when the handler raises. Handlers pass the session to
services, which never commit. The session is opened on first use (trainer.db.UnitOfWork), so a
request that needs no database costs none.

The exam-day hot paths (start, save and submit through the API) are the documented exception:
they run their own short, prebuilt transactions (trainer.quizzes.service) and take no unit here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session
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
