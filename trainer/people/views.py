"""Signing in and out, changing one's password, and a person's own record.

Each handler runs in the request's unit of work (trainer.web.unit) and passes its session to
trainer.people.service and trainer.people.auth. Signing in is the exception: `auth.login` runs
its own short transactions (it records a failed attempt and then refuses), so `login_submit`
hands it the database and touches the request's unit only afterwards, to end a session that was
already open in this browser.
"""

from __future__ import annotations

from dataclasses import replace

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from trainer.access import Access, manages, may_view_person
from trainer.audit import service as audit
from trainer.content.store import content_of
from trainer.db import utcnow
from trainer.errors import DomainError
from trainer.i18n import N_
from trainer.people import auth, service
from trainer.reports import records
from trainer.web import state
from trainer.web.pages import (
    PASSWORD_CHANGE_PATH,
    clear_session_cookie,
    client_ip,
    form_of,
    id_param,
    page,
    safe_next,
    set_session_cookie,
    viewer_of,
)
from trainer.web.unit import session_of


def login_form(request: Request) -> Response:
    if getattr(request.state, "viewer", None) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return _login_page(request, next_url=request.query_params.get("next", "/"))


def _login_page(
    request: Request,
    *,
    next_url: str,
    error: str | None = None,
    username: str = "",
    status_code: int = 200,
    retry_after: int = 0,
) -> Response:
    response = state.templates(request).render(
        request,
        "people/login.html",
        {"next_url": safe_next(next_url), "error": error, "username": username, "retry_after": retry_after},
        status_code=status_code,
    )
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    response.headers["Cache-Control"] = "no-store"
    return response


def login_submit(request: Request) -> Response:
    form = form_of(request)
    username, password = form.get("username", "")[:200], form.get("password", "")[:1000]
    next_url = safe_next(form.get("next"))
    if not username or not password:
        return _login_page(request, next_url=next_url, error="missing", username=username, status_code=400)
    now = utcnow()
    # Its own transactions (see the module's docstring): the request's unit is not open yet.
    result = auth.login(
        state.database(request), state.settings(request), username, password, ip=client_ip(request), now=now
    )
    if result.outcome == "throttled":
        return _login_page(
            request,
            next_url=next_url,
            error="throttled",
            username=username,
            status_code=429,
            retry_after=result.retry_after,
        )
    if result.outcome != "ok" or result.token is None:
        return _login_page(request, next_url=next_url, error="invalid", username=username, status_code=400)
    # A session that was already open in this browser ends: one login, one fresh session.
    previous = getattr(request.state, "viewer", None)
    if previous is not None:
        auth.logout(session_of(request), previous, ip=client_ip(request), now=now)
    target = PASSWORD_CHANGE_PATH if result.must_change_password else next_url
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, result.token, state.settings(request).session_max_hours * 3600)
    return response


def logout(request: Request) -> Response:
    viewer = viewer_of(request)
    auth.logout(session_of(request), viewer, ip=client_ip(request), now=utcnow())
    response = RedirectResponse("/courses", status_code=303)
    clear_session_cookie(response)
    return response


def password_form(request: Request) -> Response:
    return _password_page(request)


def _password_page(
    request: Request, *, errors: list[str] | None = None, done: bool = False, status_code: int = 200
) -> Response:
    viewer = viewer_of(request)
    response = state.templates(request).render(
        request,
        "people/password.html",
        {"viewer": viewer, "errors": errors or [], "done": done},
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def password_submit(request: Request) -> Response:
    viewer = viewer_of(request)
    form = form_of(request)
    new = form.get("new_password", "")
    if new != form.get("confirm_password", ""):
        return _password_page(
            request, errors=[N_("The two new passwords are not the same.")], status_code=400
        )
    db = session_of(request)
    try:
        service.change_password(
            db,
            audit.Actor(viewer.id, viewer.username, client_ip(request)),
            service.signed_in_user(db, viewer.id),
            current=form.get("current_password", ""),
            new=new,
            now=utcnow(),
            keep_session_id=viewer.session_id,
        )
    except DomainError as error:
        return _password_page(request, errors=error.problems, status_code=400)
    # The page is shown as the person now is: no longer due to change their password. (Their
    # session is kept; the next request loads it afresh, the change having been committed.)
    request.state.viewer = replace(viewer, must_change_password=False)
    return _password_page(request, done=True)


def person_page(request: Request) -> Response:
    """One person's record: themselves, their managers, and admins may see it."""
    viewer = viewer_of(request)
    db = session_of(request)
    found = service.person_and_unit(db, id_param(request, "user_id"))
    if found is None:
        raise HTTPException(status_code=404)
    person, unit = found
    if not may_view_person(viewer, person.id, unit.lineage if unit else None):
        raise HTTPException(status_code=404)  # not 403: do not confirm the person exists
    roles = service.roles_of(db, person.id)
    library = content_of(request).library
    record = records.record_of(db, library, person.id, utcnow(), request.state.lang)
    response = state.templates(request).render(
        request,
        "people/person.html",
        {
            "person": person,
            "unit": unit,
            "roles": roles,
            "viewer": viewer,
            "record": record,
            "courses": library.courses,
            "module_titles": {
                m.id: m.version_for(request.state.lang).title
                for c in library.courses.values()
                for m in c.modules
            },
            # Nobody acts on their own certificates, whatever their roles.
            "may_act": person.id != viewer.id and manages(viewer, unit.lineage if unit else None),
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


routes: list[BaseRoute] = [
    page("/login", login_form, access=Access.PUBLIC),
    page("/login", login_submit, access=Access.PUBLIC, methods=("POST",)),
    page("/logout", logout, access=Access.SIGNED_IN, methods=("POST",)),
    page(PASSWORD_CHANGE_PATH, password_form, access=Access.SIGNED_IN),
    page(PASSWORD_CHANGE_PATH, password_submit, access=Access.SIGNED_IN, methods=("POST",)),
    page("/people/{user_id}", person_page, access=Access.SIGNED_IN),
]
