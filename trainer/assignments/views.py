"""The manager's page of required qualifications: the assignments in force they see, a form to
require a course of a unit, a role or a person by a due date, and withdrawing one (asked first,
with a reason). Each handler translates HTTP to one service call and back: who may do what is
trainer.assignments.service's decision (outside a manager's part, an assignment, a unit or a
person does not exist for them)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from trainer import localtime
from trainer.access import Access, Viewer
from trainer.assignments import rules, service
from trainer.audit import service as audit
from trainer.content.store import content_of
from trainer.db import utcnow
from trainer.errors import DomainError, rejected
from trainer.i18n import N_, ROLE_LABELS
from trainer.reports.shared import certifying_courses, course_titles
from trainer.web import state
from trainer.web.i18n import translations
from trainer.web.pages import (
    Confirmation,
    ask,
    client_ip,
    confirmed,
    form_id,
    form_of,
    id_param,
    page,
    viewer_of,
)
from trainer.web.unit import session_of

# A day typed by hand: 2027-03-31, 2027/3/31, 2027.3.31 or 2027年3月31日 (full-width digits and
# punctuation are read as their ASCII forms first).
_TYPED_DAY = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")


def due_from_text(text: str) -> date | None:
    """The due date as typed (the date picker sends 2027-03-31; a phone keyboard or a pasted
    date may give another common form), or None if it names no day."""
    typed = unicodedata.normalize("NFKC", text).strip()
    found = _TYPED_DAY.fullmatch(typed)
    if found is None or not all(c.isascii() or c in "年月日" for c in typed):
        return None
    try:
        return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    except ValueError:
        return None


def _actor(request: Request, viewer: Viewer) -> audit.Actor:
    return audit.Actor(viewer.id, viewer.username, client_ip(request))


def _messages(request: Request, error: DomainError) -> list[str]:
    """A refusal's messages in the reader's language (every problem of a rejected form)."""
    gettext = translations(request.state.lang).gettext
    if "problems" in error.extra:
        return [gettext(problem) for problem in error.problems]
    return [error.text(gettext)]


EMPTY_FORM = {
    "course_id": "",
    "target": "unit",
    "unit_id": "",
    "role": "inspector",
    "role_unit_id": "",
    "username": "",
    "due": "",
}
NOTICES = {
    "created": N_("The course is now required of them."),
    "withdrawn": N_("The requirement is withdrawn."),
}


def _page(
    request: Request, *, values: dict[str, str], errors: list[str] | None = None, status_code: int = 200
) -> Response:
    viewer = viewer_of(request)
    db = session_of(request)
    library = content_of(request).library
    listed = service.visible(db, viewer)
    gettext = translations(request.state.lang).gettext
    notice = next((text for key, text in NOTICES.items() if request.query_params.get(key)), None)
    response = state.templates(request).render(
        request,
        "assignments/requirements.html",
        {
            "viewer": viewer,
            "listed": listed,
            "covered": service.covered_counts(db, viewer, listed),
            "courses": certifying_courses(library),
            "titles": course_titles(library, request.state.lang),
            "units": service.units_to_choose(db, viewer),
            "roles": rules.ROLES,
            "values": values,
            "errors": errors or [],
            "notice": notice,
            "whom": {found.id: describe(gettext, found) for found in listed},
            "today": localtime.local_date(utcnow(), state.settings(request).zone),
        },
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def list_page(request: Request) -> Response:
    values = dict(EMPTY_FORM)
    if request.query_params.get("course"):
        values["course_id"] = request.query_params["course"][:100]
    return _page(request, values=values)


def _typed(request: Request) -> dict[str, str]:
    form = form_of(request)
    return {key: form.get(key, "")[:200] for key in EMPTY_FORM}


def _given(request: Request, typed: dict[str, str]) -> tuple[service.AssignmentInput | None, list[str]]:
    """The form as an assignment, or the problems that stop it being read at all."""
    viewer = viewer_of(request)
    problems: list[str] = []
    due = due_from_text(typed["due"]) if typed["due"].strip() else None
    if not typed["due"].strip():
        problems.append(N_("Give a due date."))
    elif due is None:
        problems.append(N_("Give the due date as year-month-day, such as 2027-03-31."))
    target = typed["target"]
    unit_id = role = person_id = None
    if target == "unit":
        unit_id = form_id(typed["unit_id"])
        if unit_id is None:
            problems.append(N_("Choose the unit."))
    elif target == "role":
        role = typed["role"]
        if typed["role_unit_id"]:
            unit_id = form_id(typed["role_unit_id"])
            if unit_id is None:
                problems.append(N_("Choose the unit."))
    elif target == "person":
        username = typed["username"].strip()
        if not username:
            problems.append(N_("Give the person's username."))
        else:
            person_id = service.person_by_username(session_of(request), viewer, username)
            if person_id is None:
                problems.append(N_("Nobody with this username is in your part of the organisation."))
    else:
        problems.append(N_("Require the course of one unit, one role or one person."))
    if problems:
        return None, problems
    return (
        service.AssignmentInput(
            course_id=typed["course_id"], due=due, unit_id=unit_id, role=role, person_id=person_id
        ),
        [],
    )


def create(request: Request) -> Response:
    viewer = viewer_of(request)
    typed = _typed(request)
    given, problems = _given(request, typed)
    try:
        if given is None:
            raise rejected("invalid_assignment", problems)
        service.create(
            session_of(request),
            _actor(request, viewer),
            viewer,
            given,
            course_ids={c.id for c in certifying_courses(content_of(request).library)},
            now=utcnow(),
        )
    except DomainError as error:
        return _page(request, values=typed, errors=_messages(request, error), status_code=error.status)
    return RedirectResponse("/manage/requirements?created=1", status_code=303)


def withdraw(request: Request) -> Response:
    """Withdraw an assignment inside the viewer's part: asked first, with the reason required."""
    viewer = viewer_of(request)
    assignment_id = id_param(request, "assignment_id")
    db = session_of(request)
    found = service.one_visible(db, viewer, assignment_id)  # 404 outside the viewer's part
    is_confirmed, reason = confirmed(request)
    if not is_confirmed or not reason:
        return ask(
            request,
            Confirmation(
                heading=N_("Withdraw this requirement?"),
                message=N_(
                    "The people it covers are no longer required the course by it (another requirement "
                    "may still require it of them). The requirement stays in the history and the audit log."
                ),
                subject=_subject(request, found),
                action=f"/manage/requirements/{assignment_id}/withdraw",
                button=N_("Withdraw the requirement"),
                back="/manage/requirements",
                reason=reason,
            ),
            missing_reason=is_confirmed,
        )
    service.withdraw(db, _actor(request, viewer), viewer, assignment_id, reason=reason, now=utcnow())
    return RedirectResponse("/manage/requirements?withdrawn=1", status_code=303)


def _subject(request: Request, found: service.Listed) -> str:
    """The requirement in one line of words, for the confirmation page."""
    lang = request.state.lang
    gettext = translations(lang).gettext
    title = course_titles(content_of(request).library, lang).get(found.course_id, found.course_id)
    due = state.templates(request).local_times(lang).calendar(found.due)
    return gettext("%(course)s, required of %(whom)s by %(due)s") % {
        "course": title,
        "whom": describe(gettext, found),
        "due": due,
    }


def describe(gettext: Callable[[str], str], found: service.Listed) -> str:
    """Whom an assignment covers, in words (the page's list says the same)."""
    if found.kind == "person":
        return found.person_name or gettext("a person")
    if found.kind == "unit":
        return gettext("the inspectors of %(unit)s and every unit under it") % {"unit": found.unit_path}
    role = gettext(ROLE_LABELS.get(found.role or "", found.role or ""))
    if found.unit_path is None:
        return gettext("everyone with the role %(role)s, across the organisation") % {"role": role}
    return gettext("everyone with the role %(role)s in %(unit)s and under it") % {
        "role": role,
        "unit": found.unit_path,
    }


MANAGER, POST = Access.MANAGER, ("POST",)
routes: list[BaseRoute] = [
    page("/manage/requirements", list_page, access=MANAGER),
    page("/manage/requirements", create, access=MANAGER, methods=POST),
    page("/manage/requirements/{assignment_id}/withdraw", withdraw, access=MANAGER, methods=POST),
]
