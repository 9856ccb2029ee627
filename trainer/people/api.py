"""The JSON API's authentication and the signed-in person's own endpoints, under /api/v1.

Bearer tokens come from POST /api/v1/auth/token; they obey the same roles and scopes as
browser sessions (`trainer.access`). Until a required password change is made, every
call but the change itself answers 403 saying so.

Routes take the request's unit of work (`db: Db`, trainer.web.unit) and pass it to the services.
Issuing a token is the exception: `auth.login` runs its own transactions (it records a failed
attempt and then refuses), so that route takes no unit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from trainer.access import Access, Viewer, allows
from trainer.audit import service as audit
from trainer.db import utcnow
from trainer.people import auth, service
from trainer.schemas import Message, Problem, UnitOut
from trainer.web import state
from trainer.web.pages import client_ip
from trainer.web.unit import Db

router = APIRouter(prefix="/api/v1")
PASSWORD_CHANGE_REQUIRED = "password change required: POST /api/v1/me/password first"  # noqa: S105 (a message, not a password)


async def bearer_token(request: Request) -> str:
    """The bearer token of the request (no database work: runs on the event loop)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized()
    return token.strip()


def signed_in(request: Request, token: str, *, password_change_due_ok: bool = False) -> Viewer:
    """The person behind a bearer token, looked up in the calling worker thread: 401 if none,
    403 while a required password change is pending (unless the route is that change)."""
    viewer = auth.load_api_token(state.database(request), token, utcnow())
    if viewer is None:
        raise _unauthorized()
    return _admitted(request, viewer, password_change_due_ok)


def remembered_signed_in(request: Request, token: str) -> Viewer | None:
    """`signed_in` from this process's memory (no database work: fit for the event loop), or
    None if this process does not trust a check of the token now (then call `signed_in` in a
    worker thread)."""
    viewer = auth.remembered_api_token(state.database(request), token, utcnow())
    return None if viewer is None else _admitted(request, viewer, False)


def _admitted(request: Request, viewer: Viewer, password_change_due_ok: bool) -> Viewer:
    request.state.viewer = viewer  # for the request's log lines (trainer.logs: person_id)
    if viewer.must_change_password and not password_change_due_ok:
        raise HTTPException(status_code=403, detail=PASSWORD_CHANGE_REQUIRED)
    return viewer


def _unauthorized() -> HTTPException:
    return HTTPException(
        status_code=401, detail="a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
    )


# The hot exam routes (start, save, submit) take the token and call `signed_in` inside the one
# worker-thread trip that does their work: each sync dependency is a trip of its own through
# the shared threadpool queue, and under an exam-start storm every trip waits behind all the
# requests queued before it. Other routes use these dependencies.
BearerToken = Annotated[str, Depends(bearer_token)]


def _bearer_viewer(request: Request, token: BearerToken) -> Viewer:
    return signed_in(request, token, password_change_due_ok=True)


async def api_viewer(viewer: Annotated[Viewer, Depends(_bearer_viewer)]) -> Viewer:
    if viewer.must_change_password:
        raise HTTPException(status_code=403, detail=PASSWORD_CHANGE_REQUIRED)
    return viewer


ApiViewer = Annotated[Viewer, Depends(api_viewer)]
ApiViewerDuringPasswordChange = Annotated[Viewer, Depends(_bearer_viewer)]
_ONLY = {
    Access.TRAINER: "trainers only",
    Access.MANAGER: "managers only",
    Access.ADMIN: "admins only",
    Access.ORGANISER: "trainers and managers only",
}


def requires(access: Access) -> Any:
    """An API route's access rule as a dependency: the API's twin of `page(access=…)`
    (trainer.web.pages), deciding with the same `allows`. Gives the viewer, or answers 403
    (401 without a valid token) before the route runs."""

    async def viewer_with_access(viewer: ApiViewer, request: Request) -> Viewer:
        if not allows(access, viewer, public_library=state.settings(request).public_library):
            raise HTTPException(status_code=403, detail=_ONLY.get(access, "not allowed"))
        return viewer

    return Depends(viewer_with_access)


ManagerViewer = Annotated[Viewer, requires(Access.MANAGER)]


class TokenRequest(BaseModel):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth token type)
    expires_at: datetime


class MeOut(BaseModel):
    id: int
    username: str
    full_name: str
    roles: list[str]
    unit: UnitOut | None
    must_change_password: bool


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=1000)
    new_password: str = Field(min_length=1, max_length=1000)


# Every route behind a token answers these; spread them into the route's `responses`.
SIGNED_IN: dict[int | str, dict[str, Any]] = {
    401: {"model": Message, "description": "No valid token"},
    403: {"model": Message, "description": "A password change is required first"},
}
# Every route behind `ManagerViewer` answers these.
MANAGERS: dict[int | str, dict[str, Any]] = {
    **SIGNED_IN,
    403: {"model": Message, "description": "Managers only, or a password change is due"},
}
# Every route that reads a JSON body answers these before the body is validated.
BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": Message, "description": "The body is not UTF-8 text"},
    413: {"description": "The body is too large"},
}


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    responses={
        **BODY,
        401: {"model": Message, "description": "Wrong username or password"},
        429: {"model": Message, "description": "Too many attempts"},
    },
)
def issue_token(body: TokenRequest, request: Request) -> TokenResponse:
    result = auth.login(
        state.database(request),
        state.settings(request),
        body.username,
        body.password,
        ip=client_ip(request),
        now=utcnow(),
        kind="api",
    )
    if result.outcome == "throttled":
        raise HTTPException(
            status_code=429, detail="too many attempts", headers={"Retry-After": str(result.retry_after)}
        )
    if result.outcome != "ok" or result.token is None or result.expires_at is None:
        raise HTTPException(status_code=401, detail="wrong username or password")
    return TokenResponse(access_token=result.token, expires_at=result.expires_at)


@router.delete("/auth/token", status_code=204, responses={401: SIGNED_IN[401]})
def revoke_token(viewer: ApiViewerDuringPasswordChange, request: Request, db: Db) -> Response:
    auth.logout(db, viewer, ip=client_ip(request), now=utcnow())
    return Response(status_code=204)


@router.get("/me", response_model=MeOut, responses=SIGNED_IN)
def me(viewer: ApiViewer, db: Db) -> MeOut:
    row = service.unit_of(db, viewer.unit_id) if viewer.unit_id is not None else None
    unit = UnitOut(id=row.id, name=row.name, kind=row.kind, path=row.path) if row else None
    return MeOut(
        id=viewer.id,
        username=viewer.username,
        full_name=viewer.full_name,
        roles=sorted(viewer.roles),
        unit=unit,
        must_change_password=viewer.must_change_password,
    )


@router.post(
    "/me/password",
    status_code=204,
    responses={
        **BODY,
        400: {"model": Problem, "description": "Rejected (every problem in `problems`), or not UTF-8 text"},
        401: SIGNED_IN[401],
    },
)
def change_password(
    body: PasswordChange, viewer: ApiViewerDuringPasswordChange, request: Request, db: Db
) -> Response:
    service.change_password(
        db,
        audit.Actor(viewer.id, viewer.username, client_ip(request)),
        service.signed_in_user(db, viewer.id),
        current=body.current_password,
        new=body.new_password,
        now=utcnow(),
        keep_token_id=viewer.token_id,
    )
    return Response(status_code=204)
