"""The inspector's first page after signing in: "what must I do next".

It reads through the request's unit of work (`session_of(request)`); the services own the
queries (trainer.certification.service, trainer.quizzes.service)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from trainer import localtime
from trainer.access import Access
from trainer.assignments import rules as required_rules
from trainer.assignments import service as assignments
from trainer.certification import policy, service
from trainer.certification.models import Certificate
from trainer.content.library import Course, Library, Module
from trainer.content.store import content_of
from trainer.db import utcnow
from trainer.notifications import outbox
from trainer.quizzes import service as quizzes
from trainer.web import state
from trainer.web.pages import current_viewer, page, viewer_of
from trainer.web.unit import session_of

UNREAD_LISTED = 20  # the newest unread notifications; the rest are on /notifications


@dataclass(frozen=True)
class Held:
    certificate: Certificate
    course: Course | None
    state: str
    days_left: int
    title: str  # in the reader's language where the course has it


@dataclass(frozen=True)
class Required:
    """A course required of the inspector: by when, where they stand, and what to do next."""

    course_id: str
    course: Course | None
    title: str
    due: date
    state: str  # one of trainer.assignments.rules.REQUIRED_STATES
    next_step: str  # read | exam | renew | none
    next_module: Module | None  # with "read": the first module not done yet
    certificate_number: str | None


def _required(
    found: list[assignments.Mine], library: Library, completed: dict[str, set[str]], lang: str
) -> list[Required]:
    """The earliest requirement per course, overdue ones first, then by due date."""
    shown = []
    for m in found:
        course = library.courses.get(m.course_id)
        done = completed.get(m.course_id, set())
        next_module = None
        if m.state in ("due_for_renewal", "grace", "expired"):
            step = "renew"
        elif m.state == "valid":
            step = "none"
        else:
            next_module = next((x for x in course.modules if x.id not in done), None) if course else None
            step = "read" if next_module is not None else "exam"
        title = course.text_for(lang).title if course else m.course_id
        shown.append(
            Required(m.course_id, course, title, m.due, m.state, step, next_module, m.certificate_number)
        )
    return sorted(shown, key=lambda r: (r.state != "overdue", r.due, r.title))


@dataclass(frozen=True)
class InProgress:
    course: Course
    done: int
    next_module: Module | None  # None: every module done, the exam is next


async def home(request: Request) -> Response:
    """Signed-in people start at their dashboard; everyone else at the catalogue."""
    viewer = await current_viewer(request)
    return RedirectResponse("/dashboard" if viewer else "/courses", status_code=303)


def dashboard(request: Request) -> Response:
    viewer = viewer_of(request)
    library = content_of(request).library
    db = session_of(request)
    now = utcnow()
    certificates = service.current_certificates(db, viewer.id)
    completed = quizzes.completed_modules(db, viewer.id, library.courses.values())
    held = [
        Held(
            c,
            library.courses.get(c.course_id),
            service.state_of(c, now).value,
            policy.days_left(service.facts(c), now),
            service.shown_title(c, library.courses.get(c.course_id), request.state.lang),
        )
        for c in certificates
    ]
    certified = {h.certificate.course_id for h in held if h.state in ("valid", "suspended")}
    in_progress = []
    for course in library.courses.values():
        done = completed[course.id]
        if course.id in certified or not done:
            continue
        next_module = next((m for m in course.modules if m.id not in done), None)
        in_progress.append(InProgress(course, len(done), next_module))
    recent = quizzes.my_attempts(db, viewer)[:5]
    notifications = outbox.unread(db, viewer.id, UNREAD_LISTED)
    required = _required(
        assignments.earliest_per_course(assignments.of_person(db, assignments.person_of(db, viewer), now)),
        library,
        completed,
        request.state.lang,
    )
    response = state.templates(request).render(
        request,
        "quizzes/dashboard.html",
        {
            "viewer": viewer,
            "held": held,
            "in_progress": in_progress,
            "recent": recent,
            "notifications": notifications,
            "required": required,
            "required_labels": required_rules.STATE_LABELS,
            "today": localtime.local_date(now, state.settings(request).zone),
            "due": [h for h in held if h.state in ("due_for_renewal", "grace")],
            "library": library,
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


routes: list[BaseRoute] = [page("/dashboard", dashboard, access=Access.SIGNED_IN)]
