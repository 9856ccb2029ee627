"""Administration pages: units, accounts, and the audit log. Admins only (see the routes).

Each handler runs in the request's unit of work (trainer.web.unit: a read session for a GET, a
write session for a POST, committed when the handler returns) and passes its session to
trainer.people.service and trainer.audit.service, which own the queries. A refused form is
answered with the form again (a returned response, so the unit commits): the services check
before they write, so there is nothing to commit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session as DbSession
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from trainer.access import Access, Viewer
from trainer.audit import service as audit
from trainer.db import utcnow
from trainer.errors import DomainError
from trainer.i18n import N_
from trainer.people import importing, service
from trainer.people.models import ROLES, User
from trainer.web import state
from trainer.web.pages import (
    Confirmation,
    ask,
    client_ip,
    confirmed,
    form_id,
    form_of,
    form_values,
    id_param,
    page,
    viewer_of,
)
from trainer.web.unit import session_of

PAGE_SIZE = 50


def _actor(request: Request, viewer: Viewer) -> audit.Actor:
    return audit.Actor(viewer.id, viewer.username, client_ip(request))


def _render(request: Request, name: str, context: Mapping[str, object], status_code: int = 200) -> Response:
    response = state.templates(request).render(
        request, name, {"viewer": viewer_of(request), **context}, status_code=status_code
    )
    response.headers["Cache-Control"] = "no-store"  # pages may show a one-time password
    return response


def _page_number(request: Request) -> int:
    try:
        return max(1, min(int(request.query_params.get("page", "1")), 100_000))
    except ValueError:
        return 1


def index(request: Request) -> Response:
    db = session_of(request)
    counts = {**service.account_counts(db), "events": audit.event_count(db)}
    return _render(request, "admin/index.html", {"counts": counts})


# -- users ----------------------------------------------------------------------------------


def users(request: Request) -> Response:
    query = request.query_params.get("q", "").strip()[:100]
    role = request.query_params.get("role", "")
    number = _page_number(request)
    found = service.find_users(
        session_of(request), text=query, role=role, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
    )
    return _render(
        request,
        "admin/users.html",
        {
            "rows": found.rows,
            "roles": found.roles,
            "query": query,
            "role": role,
            "all_roles": ROLES,
            "page": number,
            "pages": max(1, math.ceil(found.total / PAGE_SIZE)),
            "total": found.total,
        },
    )


@dataclass
class AccountForm:
    """An account form's values, as submitted or as stored."""

    username: str = ""
    full_name: str = ""
    email: str = ""
    roles: list[str] = field(default_factory=lambda: ["inspector"])
    unit_id: int | None = None


def _user_form(
    request: Request,
    user: User | None,
    *,
    errors: list[str],
    values: AccountForm,
    status_code: int = 200,
    password: str | None = None,
) -> Response:
    context = {
        "user": user,
        "errors": errors,
        "values": values,
        "units": service.all_units(session_of(request)),
        "all_roles": ROLES,
        "password": password,
    }
    return _render(request, "admin/user_form.html", context, status_code=status_code)


def new_user_form(request: Request) -> Response:
    return _user_form(request, None, errors=[], values=AccountForm())


def _submitted(request: Request) -> AccountForm:
    form = form_of(request)
    unit_id = form.get("unit_id", "").strip()
    return AccountForm(
        username=form.get("username", "").strip(),
        full_name=form.get("full_name", "").strip(),
        email=form.get("email", "").strip(),
        roles=[r for r in form_values(request, "roles") if r in ROLES],
        # Not a possible id (e.g. "²", beyond 64 bits): NO_UNIT, which no unit has (a form message).
        unit_id=(form_id(unit_id) or NO_UNIT) if unit_id else None,
    )


NO_UNIT = 0  # what a unit id that cannot be one becomes: no unit has it (trainer.people.service)


def create_user(request: Request) -> Response:
    viewer = viewer_of(request)
    values = _submitted(request)
    db = session_of(request)
    try:
        user, password = service.create_user(
            db,
            _actor(request, viewer),
            username=values.username,
            full_name=values.full_name,
            unit=service.chosen_unit(db, values.unit_id),
            roles=values.roles,
            email=values.email or None,
            now=utcnow(),
        )
    except DomainError as error:
        return _user_form(request, None, errors=error.problems, values=values, status_code=400)
    return _user_form(request, user, errors=[], values=_values_of(db, user), password=password)


# -- CSV import: upload, every problem by row, then a confirmed import ---------------------


def import_form(request: Request) -> Response:
    return _import_page(request, "upload")


def _import_page(
    request: Request,
    stage: str,
    status_code: int = 200,
    problems: list[importing.Problem] | None = None,
    **context: object,
) -> Response:
    gettext = state.templates(request).gettext(request.state.lang)
    context["problems"] = [(problem.row, problem.text(gettext)) for problem in problems or []]
    context.setdefault("errors", [])
    return _render(
        request, "admin/import.html", {"stage": stage, "columns": importing.COLUMNS, **context}, status_code
    )


def import_check(request: Request) -> Response:
    """Read the uploaded file and show every problem by row, or what importing it would do;
    nothing is written either way."""
    upload = request.state.form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _import_page(request, "upload", 400, errors=[N_("Choose a CSV file to upload.")])
    data = upload.file.read(importing.MAX_BYTES + 1)
    try:
        reading = importing.read(data)
    except DomainError as error:
        gettext = state.templates(request).gettext(request.state.lang)
        return _import_page(request, "upload", error.status, errors=[error.text(gettext)])
    if reading.problems:
        return _import_page(
            request,
            "problems",
            400,
            filename=upload.filename,
            encoding=reading.encoding,
            problems=reading.problems,
        )
    existing = importing.existing_usernames(session_of(request), reading.rows)
    return _import_page(
        request,
        "preview",
        filename=upload.filename,
        encoding=reading.encoding,
        rows=reading.rows,
        existing=existing,
        csv_text=reading.text,
    )


def import_apply(request: Request) -> Response:
    """Import the checked text the preview carried (checked again: a form is never trusted)."""
    viewer = viewer_of(request)
    form = form_of(request)
    encoding = form.get("encoding", "")
    rows, problems = importing.parse(form.get("csv", ""))
    if problems or not rows:
        return _import_page(request, "problems", 400, filename="", encoding="", problems=problems)
    known = (importing.UTF8, importing.UTF8_BOM, importing.GB18030)
    result = importing.apply(
        session_of(request),
        _actor(request, viewer),
        rows,
        utcnow(),
        encoding=encoding if encoding in known else "",
    )
    return _import_page(request, "done", result=result)


def _load_user(request: Request) -> User:
    user = service.user_of(session_of(request), id_param(request, "user_id"))
    if user is None:
        raise HTTPException(status_code=404)
    return user


def _values_of(db: DbSession, user: User) -> AccountForm:
    roles = service.roles_of(db, user.id)
    return AccountForm(user.username, user.full_name, user.email or "", roles, user.unit_id)


def edit_user_form(request: Request) -> Response:
    user = _load_user(request)
    return _user_form(request, user, errors=[], values=_values_of(session_of(request), user))


def update_user(request: Request) -> Response:
    viewer = viewer_of(request)
    user = _load_user(request)
    values = _submitted(request)
    values.username = user.username
    db = session_of(request)
    try:
        service.update_user(
            db,
            _actor(request, viewer),
            user,
            full_name=values.full_name,
            email=values.email or None,
            unit=service.chosen_unit(db, values.unit_id),
            roles=values.roles,
            now=utcnow(),
        )
    except DomainError as error:
        return _user_form(request, user, errors=error.problems, values=values, status_code=400)
    return RedirectResponse(f"/admin/users/{user.id}", status_code=303)


def _set_active(request: Request, active: bool, reason: str = "") -> Response:
    viewer = viewer_of(request)
    user = _load_user(request)
    db = session_of(request)
    try:
        service.set_active(db, _actor(request, viewer), user, active, utcnow(), reason=reason)
    except DomainError as error:
        return _user_form(request, user, errors=error.problems, values=_values_of(db, user), status_code=400)
    return RedirectResponse(f"/admin/users/{user.id}", status_code=303)


def _confirmation(user: User, action: str, reason: str) -> Confirmation:
    back = f"/admin/users/{user.id}"
    subject = f"{user.full_name} ({user.username})"
    if action == "deactivate":
        return Confirmation(
            heading=N_("Deactivate this account?"),
            message=N_("The person is signed out everywhere and cannot sign in until reactivated."),
            subject=subject,
            action=f"{back}/deactivate",
            button=N_("Deactivate"),
            back=back,
            reason=reason,
        )
    return Confirmation(
        heading=N_("Reset this password?"),
        message=N_(
            "The person is signed out everywhere and must sign in with the new password shown next, "
            "then choose their own."
        ),
        subject=subject,
        action=f"{back}/reset-password",
        button=N_("Reset password"),
        back=back,
        reason=reason,
    )


def deactivate_user(request: Request) -> Response:
    is_confirmed, reason = confirmed(request)
    if not is_confirmed or not reason:
        user = _load_user(request)
        return ask(request, _confirmation(user, "deactivate", reason), missing_reason=is_confirmed)
    return _set_active(request, False, reason)


def activate_user(request: Request) -> Response:
    return _set_active(request, True)


def reset_password(request: Request) -> Response:
    viewer = viewer_of(request)
    user = _load_user(request)
    is_confirmed, reason = confirmed(request)
    if not is_confirmed or not reason:
        return ask(request, _confirmation(user, "reset-password", reason), missing_reason=is_confirmed)
    db = session_of(request)
    password = service.reset_password(db, _actor(request, viewer), user, utcnow(), reason=reason)
    return _user_form(request, user, errors=[], values=_values_of(db, user), password=password)


# -- units ----------------------------------------------------------------------------------


def units(request: Request, *, errors: list[str] | None = None, status_code: int = 200) -> Response:
    rows = service.units_with_member_counts(session_of(request))
    return _render(
        request, "admin/units.html", {"rows": rows, "errors": errors or []}, status_code=status_code
    )


def create_unit(request: Request) -> Response:
    viewer = viewer_of(request)
    form = form_of(request)
    raw_parent = form.get("parent_id", "").strip()
    parent_id = (form_id(raw_parent) or NO_UNIT) if raw_parent else None
    try:
        service.create_unit_under(
            session_of(request), _actor(request, viewer), parent_id, form.get("name", ""), utcnow()
        )
    except DomainError as error:
        return units(request, errors=error.problems, status_code=400)
    return RedirectResponse("/admin/units", status_code=303)


# -- audit log ------------------------------------------------------------------------------


def audit_log(request: Request) -> Response:
    action = request.query_params.get("action", "").strip()[:64]
    actor = request.query_params.get("actor", "").strip()[:64]
    target = request.query_params.get("target", "").strip()[:64]
    number = _page_number(request)
    db = session_of(request)
    events = audit.find_events(
        db, action=action, actor=actor, target=target, limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE
    )
    return _render(
        request,
        "admin/audit.html",
        {
            "events": events[:PAGE_SIZE],
            "has_more": len(events) > PAGE_SIZE,
            "page": number,
            "action": action,
            "actor": actor,
            "target": target,
            "actions": audit.actions(db),
        },
    )


routes: list[BaseRoute] = [
    page("/admin", index, access=Access.ADMIN),
    page("/admin/users", users, access=Access.ADMIN),
    page("/admin/users/new", new_user_form, access=Access.ADMIN),
    page("/admin/users/new", create_user, access=Access.ADMIN, methods=("POST",)),
    # Before /admin/users/{user_id}, which would otherwise take "import" for an id.
    page("/admin/users/import", import_form, access=Access.ADMIN),
    page("/admin/users/import", import_check, access=Access.ADMIN, methods=("POST",), max_files=1),
    page("/admin/users/import/confirm", import_apply, access=Access.ADMIN, methods=("POST",)),
    page("/admin/users/{user_id}", edit_user_form, access=Access.ADMIN),
    page("/admin/users/{user_id}", update_user, access=Access.ADMIN, methods=("POST",)),
    page("/admin/users/{user_id}/deactivate", deactivate_user, access=Access.ADMIN, methods=("POST",)),
    page("/admin/users/{user_id}/activate", activate_user, access=Access.ADMIN, methods=("POST",)),
    page("/admin/users/{user_id}/reset-password", reset_password, access=Access.ADMIN, methods=("POST",)),
    page("/admin/units", units, access=Access.ADMIN),
    page("/admin/units", create_unit, access=Access.ADMIN, methods=("POST",)),
    page("/admin/audit", audit_log, access=Access.ADMIN),
]
