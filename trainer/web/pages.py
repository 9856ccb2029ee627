"""How every HTML page is served: who is asking, whether they may, and CSRF - decided here,
once, before any page handler runs.

Each page is declared with `page(path, handler, access=…)`. For every request the wrapper
resolves the viewer from the session cookie, applies `trainer.access.allows`, sends a
person who must change their password to do so first, and checks the CSRF token of every
non-GET request (parsing the form once into `request.state.form`). Handlers written as plain
`def` (they use the database) run in the threadpool inside the request's unit of work
(`trainer.web.unit.session_of(request)`); `async def` ones must not block.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, URLPath
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, NoMatchFound, Route
from starlette.types import Receive, Scope, Send

from trainer.access import Access, Viewer, allows
from trainer.db import MAX_ID, utcnow
from trainer.i18n import N_
from trainer.web import csrf, edge, state, unit
from trainer.web.exam_threads import run_exam_work

Handler = Callable[[Request], Response] | Callable[[Request], Awaitable[Response]]
PASSWORD_CHANGE_PATH = "/account/password"  # noqa: S105 (a URL path)
# What someone who must change their password may still do.
_ALLOWED_BEFORE_PASSWORD_CHANGE = {PASSWORD_CHANGE_PATH, "/logout"}
MAX_FORM_FIELDS = 100
CONTROL_CHARACTERS = "control-characters"  # an error page's reason (trainer.web.errors)
API_PREFIX = "/api/"  # the API's routes (trainer.app), never a page's


def is_api(scope: Scope) -> bool:
    """Is this request for the JSON API? One answer for the route table (`PageRoutes`), the
    request middleware (no CSRF cookie) and the error handlers (JSON, not a page): the path
    under the app's root path starts with API_PREFIX."""
    path, root = str(scope["path"]), str(scope.get("root_path", ""))
    return (path[len(root) :] if root and path.startswith(root) else path).startswith(API_PREFIX)


class PageRoute(Route):
    """A Starlette route that remembers its access rule (the access-matrix test reads it)."""

    access: Access

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            # Name the request by this route's template in metrics and logs (trainer.logs.route_of):
            # FastAPI's router records the route it chose only for its own API routes.
            child_scope["route"] = self
        return match, child_scope


class PageRoutes(BaseRoute):
    """Every page, as one entry of the app's route table (trainer.app): an API request (exam
    day's starts, saves and submits) is told no once, by its /api/ prefix, instead of by each of
    a hundred pages in turn. With exam day's API router included first, a submit's route lookup
    went from 382 to 64 µs (in process, on a slow day's machine). A page request tries the pages
    in their order, as before."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self.routes = list(routes)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if is_api(scope):
            return Match.NONE, {}
        wrong_method: Scope | None = None
        for route in self.routes:
            match, child_scope = route.matches(scope)
            if match is not Match.NONE:
                child_scope["route"] = route  # the page `handle` hands over to
            if match is Match.FULL:
                return match, child_scope
            if match is Match.PARTIAL and wrong_method is None:
                wrong_method = child_scope  # the path is a page's, the method is not (405)
        return (Match.PARTIAL, wrong_method) if wrong_method is not None else (Match.NONE, {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope["route"].handle(scope, receive, send)  # the page `matches` chose

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                pass
        raise NoMatchFound(name, path_params)


class NamedMount(Mount):
    """A mount (the static files) that, like `PageRoute`, records itself as the request's route."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def page(
    path: str,
    handler: Handler,
    *,
    access: Access,
    methods: tuple[str, ...] = ("GET",),
    max_files: int = 0,
    max_body_size: int | None = None,
    exam_work: bool = False,
) -> PageRoute:
    """A page route (never under API_PREFIX); `max_files` > 0 lets its form (multipart) carry that
    many uploaded files, and `max_body_size` raises or lowers the app's body limit (trainer.app)
    for this route.
    `exam_work`: exam day's starts, paper pages, answer saves and submits, run on the exam-day threads
    (trainer.web.exam_threads) instead of the shared pool."""
    is_async = inspect.iscoroutinefunction(handler)

    async def endpoint(request: Request) -> Response:
        if edge.in_path_or_query(request) is not None:
            raise HTTPException(status_code=400, detail=CONTROL_CHARACTERS)
        viewer = await current_viewer(request)
        if not allows(access, viewer, public_library=state.settings(request).public_library):
            if viewer is None and request.method in ("GET", "HEAD"):
                return RedirectResponse(f"/login?next={quote(_here(request), safe='/')}", status_code=303)
            raise HTTPException(status_code=403 if viewer else 401)
        if (
            viewer is not None
            and viewer.must_change_password
            and access is not Access.PUBLIC
            and request.url.path not in _ALLOWED_BEFORE_PASSWORD_CHANGE
        ):
            if request.method in ("GET", "HEAD"):
                return RedirectResponse(PASSWORD_CHANGE_PATH, status_code=303)
            raise HTTPException(status_code=403, detail="password-change-required")
        try:
            return await _checked_and_handled(request, handler, is_async, max_files, exam_work)
        finally:
            if max_files and hasattr(request.state, "form"):
                await request.state.form.close()  # uploaded files' temporary files, also when refused

    route = PageRoute(path, endpoint, methods=list(methods), max_body_size=max_body_size)
    route.access = access
    return route


async def _checked_and_handled(
    request: Request, handler: Handler, is_async: bool, max_files: int, exam_work: bool
) -> Response:
    """CSRF and control characters of a form, then the handler (in the unit of work if it is sync)."""
    if request.method not in ("GET", "HEAD"):
        form = await request.form(max_files=max_files, max_fields=MAX_FORM_FIELDS)
        request.state.form = form
        submitted = form.get(csrf.CSRF_FIELD)
        csrf.verify(request, submitted if isinstance(submitted, str) else None)
        texts = [text for item in form.multi_items() for text in item if isinstance(text, str)]
        if edge.found(texts, edge.BODY_CONTROL) is not None:
            raise HTTPException(status_code=400, detail=CONTROL_CHARACTERS)
    if is_async:  # must not block: it may not touch the database (no unit of work)
        response: Response = await handler(request)  # type: ignore[misc]
        return response
    if exam_work:
        return await run_exam_work(request, partial(_in_unit_of_work, handler, request))
    return await run_in_threadpool(_in_unit_of_work, handler, request)


def _in_unit_of_work(handler: Handler, request: Request) -> Response:
    """Run a page handler in the request's unit of work (trainer.web.unit): committed when it
    returns, rolled back when it raises; finished in the handler's own thread."""
    work = unit.begin(request)
    try:
        response: Response = handler(request)  # type: ignore[assignment]
    except BaseException:
        work.finish(ok=False)
        raise
    work.finish(ok=True)
    return response


async def current_viewer(request: Request) -> Viewer | None:
    """The signed-in person, looked up once per request (None without a valid session)."""
    if hasattr(request.state, "viewer"):
        viewer: Viewer | None = request.state.viewer
        return viewer
    token = request.cookies.get(csrf.SESSION_COOKIE)
    viewer = None
    if token:
        database, settings, now = state.database(request), state.settings(request), utcnow()
        # A session checked moments ago is answered from memory, without a worker-thread trip.
        sessions = state.sessions(request)
        viewer = sessions.remembered(database, settings, token, now)
        if viewer is None:
            viewer = await run_in_threadpool(sessions.load, database, settings, token, now)
    request.state.viewer = viewer
    return viewer


def viewer_of(request: Request) -> Viewer:
    """The viewer of a page whose access rule requires one."""
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    if viewer is None:
        raise HTTPException(status_code=401)
    return viewer


def form_of(request: Request) -> dict[str, str]:
    form: FormData = request.state.form
    return {key: value for key, value in form.items() if isinstance(value, str)}


def form_values(request: Request, key: str) -> list[str]:
    form: FormData = request.state.form
    return [value for value in form.getlist(key) if isinstance(value, str)]


def client_ip(request: Request) -> str:
    # At most 64 characters, as stored: a proxy's header is checked (trainer.web.middleware), and
    # a peer's own address is short, but a longer value must never reach the database.
    return (request.client.host if request.client else "unknown")[:64]


def safe_next(target: str | None) -> str:
    """Only a path on this site: never `//host` or `/\\host`, which browsers treat as another site."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or any(c in target for c in "\r\n\\")
    ):
        return "/"
    return target


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def set_session_cookie(response: Response, request: Request, token: str, max_age: int) -> None:
    response.set_cookie(
        csrf.SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(csrf.SESSION_COOKIE, path="/")


def form_id(value: str) -> int | None:
    """An id typed in a form ("12"), or None if it cannot be a row's id: not ASCII digits (Python's
    int() also takes "²"'s kin, "٣", " 12 "), or out of range for the database."""
    if not (value.isascii() and value.isdigit()) or len(value) > 10:
        return None
    number = int(value)
    return number if 1 <= number <= MAX_ID else None


def id_param(request: Request, name: str) -> int:
    """A numeric id from the path; anything that cannot be a row's id is a 404."""
    try:
        value = int(request.path_params[name])
    except ValueError:
        raise HTTPException(status_code=404) from None
    if not 1 <= value <= MAX_ID:
        raise HTTPException(status_code=404)
    return value


@dataclass(frozen=True)
class Confirmation:
    """What trainer/templates/confirm.html asks before an irreversible action (texts are msgids)."""

    heading: str
    message: str
    subject: str
    action: str  # the URL the confirmed form posts to (the same handler, with confirm=yes)
    button: str
    back: str
    fields: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    error: str | None = None


REASON_REQUIRED = N_("Give a reason: it is kept in the audit log.")


def confirmed(request: Request) -> tuple[bool, str]:
    """(Was the confirmation form sent?, its reason stripped)."""
    form = form_of(request)
    return form.get("confirm") == "yes", form.get("reason", "").strip()[:2000]


def ask(request: Request, confirmation: Confirmation, *, missing_reason: bool = False) -> Response:
    """The confirmation page: 200 when asking, 422 when the reason was left out."""
    if missing_reason:
        confirmation = replace(confirmation, error=REASON_REQUIRED)
    response = state.templates(request).render(
        request,
        "confirm.html",
        {"viewer": viewer_of(request), "confirm": confirmation},
        status_code=422 if missing_reason else 200,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
