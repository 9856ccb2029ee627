"""Sittings pages: the list, scheduling and editing (forms with CSRF, no JavaScript needed), the
supervisor's board with its actions (extend a person's time, void an exam, close the sitting:
each with a reason, the last two confirmed first), and the printable attendance and results
sheets (and the results as CSV). Each handler translates HTTP to one service call and back
(trainer.sittings.service decides who may do what).

Times are typed and shown in TRAINER_TIME_ZONE, the zone named beside them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from trainer.access import Access, Viewer
from trainer.audit import service as audit
from trainer.content.store import content_of
from trainer.db import utcnow
from trainer.errors import DomainError, rejected
from trainer.i18n import N_
from trainer.quizzes.service import Certifying
from trainer.reports import exports
from trainer.sittings import rules, service
from trainer.web import state
from trainer.web.i18n import translations
from trainer.web.pages import (
    Confirmation,
    ask,
    client_ip,
    confirmed,
    form_of,
    form_values,
    id_param,
    page,
    viewer_of,
)
from trainer.web.unit import session_of

STATE_LABELS = {
    "not_started": N_("Not started"),
    "in_progress": N_("In progress"),
    "submitted": N_("Handed in"),
    "absent": N_("Absent"),
}
SITTING_STATE_LABELS = {
    "scheduled": N_("Scheduled"),
    "open": N_("Open"),
    "over": N_("Past its close"),
    "closed": N_("Closed"),
}
REFRESH_SECONDS = 5  # the board's script; without JavaScript, the Refresh link
# What the edit page says after each of its forms (the query parameter of the redirect).
NOTICES = {
    "created": N_("The sitting is scheduled."),
    "saved": N_("The sitting is saved."),
    "roster": N_("The people in the file are on the roster."),
    "extra": N_("The extra time is set."),
}


def _actor(request: Request, viewer: Viewer) -> audit.Actor:
    return audit.Actor(viewer.id, viewer.username, client_ip(request))


def _sitting_id(request: Request) -> int:
    return id_param(request, "sitting_id")


def _messages(request: Request, error: DomainError) -> list[str]:
    """A refusal's messages in the reader's language (every problem of a rejected form)."""
    gettext = translations(request.state.lang).gettext
    if "problems" in error.extra:
        return [gettext(problem) for problem in error.problems]
    return [error.text(gettext)]


def _render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    response = state.templates(request).render(
        request,
        name,
        {
            "viewer": viewer_of(request),
            "state_labels_sitting": STATE_LABELS,
            "sitting_states": SITTING_STATE_LABELS,
            **context,
        },
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _course_titles(request: Request) -> dict[str, str]:
    lang = request.state.lang
    return {course.id: course.text_for(lang).title for course in content_of(request).library.courses.values()}


# -- the list ---------------------------------------------------------------------------------


def list_page(request: Request) -> Response:
    viewer = viewer_of(request)
    now = utcnow()
    found = service.listing(session_of(request), viewer, now)
    return _render(
        request,
        "sittings/list.html",
        {
            "listing": found,
            "titles": _course_titles(request),
            "states": {
                s.id: service.state_of(s, now) for s in [*found.organised, *found.supervised, *found.mine]
            },
            "organises": service.organises(viewer),
        },
    )


# -- scheduling and editing -------------------------------------------------------------------


def _zone(request: Request) -> ZoneInfo:
    return state.settings(request).zone


def local_moment(text: str, zone: ZoneInfo) -> datetime | None:
    """A `datetime-local` field ("2026-12-12T09:00") as the moment it names in the zone."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is not None or not 2000 <= moment.year <= 2999:
        return None
    return moment.replace(tzinfo=zone)


def _field_value(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if moment is not None else ""


def _usernames(text: str) -> tuple[str, ...]:
    """Usernames typed one per line, or separated by commas, semicolons or spaces (full-width too)."""
    for separator in ",;，；、\n\r\t\u3000":
        text = text.replace(separator, " ")
    return tuple(name for name in text.split(" ") if name)


def _form_input(request: Request) -> tuple[service.SittingInput | None, list[str]]:
    """The posted form as a sitting, or the problems that stop it being read at all."""
    form = form_of(request)
    zone = _zone(request)
    opens, closes = (
        local_moment(form.get("opens_at", ""), zone),
        local_moment(form.get("closes_at", ""), zone),
    )
    problems = []
    if opens is None or closes is None:
        problems.append(N_("Give the opening and closing times as a date and a time."))
    late_text = form.get("late_entry_minutes", "").strip()
    late = None
    if late_text:
        if not (late_text.isascii() and late_text.isdigit() and len(late_text) <= 5):
            problems.append(N_("Late entry is 0 to 1,440 minutes after the opening."))
        else:
            late = int(late_text)
    unit_ids = []
    for raw in form_values(request, "unit_ids"):
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 10):
            problems.append(N_("A unit chosen for the roster does not exist."))
            break
        unit_ids.append(int(raw))
    if problems or opens is None or closes is None:
        return None, problems
    return (
        service.SittingInput(
            opens_at=opens,
            closes_at=closes,
            place=form.get("place", ""),
            late_entry_minutes=late,
            unit_ids=tuple(unit_ids),
            person_usernames=_usernames(form.get("people", "")),
            supervisor_usernames=_usernames(form.get("supervisors", "")),
            access_code=form.get("access_code", "none") or "none",
        ),
        [],
    )


def _form_page(
    request: Request,
    *,
    sitting: service.SittingView | None,
    values: dict[str, Any],
    errors: list[str] | None = None,
    status_code: int = 200,
    notice: str | None = None,
) -> Response:
    viewer = viewer_of(request)
    db = session_of(request)
    library = content_of(request).library
    courses = [
        c
        for c in library.courses.values()
        if c.certification is not None and c.certification.exam.mode == "sittings"
    ]
    return _render(
        request,
        "sittings/form.html",
        {
            "sitting": sitting,
            "values": values,
            "errors": errors or [],
            "courses": courses,
            "titles": _course_titles(request),
            "units": service.units_to_choose(db, viewer),
            "notice": notice,
        },
        status_code=status_code,
    )


def _values_of(view: service.SittingView, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "course_id": view.course_id,
        "opens_at": _field_value(view.opens_at, zone),
        "closes_at": _field_value(view.closes_at, zone),
        "late_entry_minutes": "" if view.late_entry_minutes is None else str(view.late_entry_minutes),
        "place": view.place,
        "unit_ids": [str(unit_id) for unit_id, _ in view.units],
        "people": "\n".join(person.username for person in view.named),
        "supervisors": "\n".join(person.username for person in view.supervisors),
        "access_code": "keep",
    }


def _typed(request: Request) -> dict[str, Any]:
    form = form_of(request)
    return {
        key: form.get(key, "")
        for key in (
            "course_id",
            "opens_at",
            "closes_at",
            "late_entry_minutes",
            "place",
            "people",
            "supervisors",
        )
    } | {"unit_ids": form_values(request, "unit_ids"), "access_code": form.get("access_code", "none")}


def new_form(request: Request) -> Response:
    values: dict[str, Any] = {
        "course_id": request.query_params.get("course", ""),
        "opens_at": "",
        "closes_at": "",
        "late_entry_minutes": "",
        "place": "",
        "unit_ids": [],
        "people": "",
        "supervisors": "",
        "access_code": "none",
    }
    return _form_page(request, sitting=None, values=values)


def create(request: Request) -> Response:
    viewer = viewer_of(request)
    given, problems = _form_input(request)
    if given is None:
        errors = _messages(request, rejected("invalid_sitting", problems))
        return _form_page(request, sitting=None, values=_typed(request), errors=errors, status_code=400)
    try:
        sitting = service.create(
            session_of(request),
            _actor(request, viewer),
            viewer,
            form_of(request).get("course_id", "")[:100],
            given,
            library=content_of(request).library,
            now=utcnow(),
        )
    except DomainError as error:
        return _form_page(
            request,
            sitting=None,
            values=_typed(request),
            errors=_messages(request, error),
            status_code=error.status,
        )
    return RedirectResponse(f"/sittings/{sitting.id}/edit?created=1", status_code=303)


def edit_form(
    request: Request, *, errors: list[str] | None = None, status_code: int = 200, notice: str | None = None
) -> Response:
    viewer = viewer_of(request)
    db = session_of(request)
    sitting = service.for_organiser(db, viewer, _sitting_id(request))
    view = service.view_of(db, sitting, utcnow())
    if notice is None:
        notice = next((text for key, text in NOTICES.items() if request.query_params.get(key)), None)
    return _form_page(
        request,
        sitting=view,
        values=_values_of(view, _zone(request)),
        errors=errors,
        status_code=status_code,
        notice=notice,
    )


def update(request: Request) -> Response:
    viewer = viewer_of(request)
    sitting_id = _sitting_id(request)
    db = session_of(request)
    given, problems = _form_input(request)
    try:
        if given is None:
            raise rejected("invalid_sitting", problems)
        service.update(
            db,
            _actor(request, viewer),
            viewer,
            sitting_id,
            given,
            library=content_of(request).library,
            now=utcnow(),
        )
    except DomainError as error:
        if error.status == 404:
            raise
        view = service.view_of(db, service.for_organiser(db, viewer, sitting_id), utcnow())
        return _form_page(
            request,
            sitting=view,
            values=_typed(request),
            errors=_messages(request, error),
            status_code=error.status,
        )
    return RedirectResponse(f"/sittings/{sitting_id}/edit?saved=1", status_code=303)


def upload_roster(request: Request) -> Response:
    """A CSV file of usernames (first column) put on the roster by name: all or nobody."""
    viewer = viewer_of(request)
    sitting_id = _sitting_id(request)
    upload = request.state.form.get("file")
    db = session_of(request)
    try:
        if not isinstance(upload, UploadFile):
            raise DomainError(400, "roster_file_missing", "Choose a CSV file of usernames.")
        names = service.read_usernames(upload.file.read(service.MAX_ROSTER_FILE_BYTES + 1))
        service.add_people(db, _actor(request, viewer), viewer, sitting_id, names)
    except DomainError as error:
        if error.status == 404:
            raise
        return edit_form(request, errors=_messages(request, error), status_code=error.status)
    return RedirectResponse(f"/sittings/{sitting_id}/edit?roster=1", status_code=303)


def set_extra(request: Request) -> Response:
    """The edit page's "extra time" form: one person (by username) and their extra minutes."""
    viewer = viewer_of(request)
    sitting_id = _sitting_id(request)
    form = form_of(request)
    minutes = form.get("extra_minutes", "").strip()
    db = session_of(request)
    try:
        if not (minutes.isascii() and minutes.isdigit() and len(minutes) <= 4):
            raise DomainError(400, "invalid_extra_time", "Extra time is 0 to 600 minutes in all.")
        service.set_extra_for_username(
            db,
            _actor(request, viewer),
            viewer,
            sitting_id,
            form.get("username", ""),
            minutes=int(minutes),
            now=utcnow(),
        )
    except DomainError as error:
        if error.status == 404 and error.code == "no_such_sitting":
            raise
        return edit_form(request, errors=_messages(request, error), status_code=error.status)
    return RedirectResponse(f"/sittings/{sitting_id}/edit?extra=1#extra-time", status_code=303)


# -- the board --------------------------------------------------------------------------------


def board_page(request: Request) -> Response:
    viewer = viewer_of(request)
    db = session_of(request)
    now = utcnow()
    sitting = service.for_board(db, viewer, _sitting_id(request))
    found = service.board(db, sitting, content_of(request).library, now)
    shown = request.query_params.get("state", "")
    rows = [row for row in found.rows if row.state == shown] if shown in rules.STATES else found.rows
    return _render(
        request,
        "sittings/board.html",
        {
            "sitting": service.view_of(db, sitting, now),
            "board": found,
            "rows": rows,
            "shown": shown if shown in rules.STATES else "",
            "titles": _course_titles(request),
            "may_edit": service.organises(viewer) and service.may_edit(viewer, sitting),
            "refresh_seconds": REFRESH_SECONDS,
            "now": now,
        },
    )


def person_page(request: Request, *, errors: list[str] | None = None, status_code: int = 200) -> Response:
    """One person on the board: their exam, time left, and the supervisor's actions on it."""
    viewer = viewer_of(request)
    db = session_of(request)
    now = utcnow()
    sitting = service.for_board(db, viewer, _sitting_id(request))
    row = service.person_on_board(
        db, sitting, content_of(request).library, id_param(request, "person_id"), now
    )
    return _render(
        request,
        "sittings/person.html",
        {
            "sitting": service.view_of(db, sitting, now),
            "row": row,
            "titles": _course_titles(request),
            "errors": errors or [],
            "now": now,
        },
        status_code=status_code,
    )


def extend(request: Request) -> Response:
    viewer = viewer_of(request)
    sitting_id = _sitting_id(request)
    person_id = id_param(request, "person_id")
    form = form_of(request)
    minutes, reason = form.get("minutes", "").strip(), form.get("reason", "").strip()[:2000]
    try:
        if not reason:
            raise DomainError(400, "reason_required", "Give a reason: it is kept in the audit log.")
        if not (minutes.isascii() and minutes.isdigit() and len(minutes) <= 3):
            raise DomainError(400, "invalid_extra_time", "Extend by 1 minute or more.")
        service.set_extra_minutes(
            session_of(request),
            _actor(request, viewer),
            viewer,
            sitting_id,
            person_id,
            minutes=int(minutes),
            now=utcnow(),
            reason=reason,
            add=True,
        )
    except DomainError as error:
        if error.status == 404:
            raise
        return person_page(request, errors=_messages(request, error), status_code=error.status)
    return RedirectResponse(f"/sittings/{sitting_id}/people/{person_id}?extended=1", status_code=303)


def void(request: Request) -> Response:
    """Void an exam of the sitting: asked first, with the reason required."""
    viewer = viewer_of(request)
    sitting_id = _sitting_id(request)
    attempt_id = id_param(request, "attempt_id")
    form = form_of(request)
    back = f"/sittings/{sitting_id}"
    person = form.get("person_id", "")
    if person.isascii() and person.isdigit() and len(person) <= 10:
        back = f"/sittings/{sitting_id}/people/{person}"
    service.for_board(session_of(request), viewer, sitting_id)
    is_confirmed, reason = confirmed(request)
    if not is_confirmed or not reason:
        return ask(
            request,
            Confirmation(
                heading=N_("Void this exam?"),
                message=N_(
                    "The exam stops counting: it is not graded (or its grade is taken back) and is not an "
                    "attempt used. The person may start again while the sitting admits them."
                ),
                subject=f"#{attempt_id}",
                action=f"/sittings/{sitting_id}/attempts/{attempt_id}/void",
                button=N_("Void the exam"),
                back=back,
                fields={"person_id": person} if back != f"/sittings/{sitting_id}" else {},
                reason=reason,
            ),
            missing_reason=is_confirmed,
        )
    service.void_attempt(
        session_of(request),
        _actor(request, viewer),
        viewer,
        sitting_id,
        attempt_id,
        now=utcnow(),
        reason=reason,
    )
    return RedirectResponse(f"{back}?voided=1", status_code=303)


def close(request: Request) -> Response:
    """Close the sitting: asked first, with the reason required; then every open exam of it is
    handed in as of that moment (the service's own transactions: this handler opens no unit)."""
    viewer = viewer_of(request)
    sitting_id = _sitting_id(request)
    database = state.database(request)
    service.check_board_access(database, viewer, sitting_id)
    is_confirmed, reason = confirmed(request)
    if not is_confirmed or not reason:
        return ask(
            request,
            Confirmation(
                heading=N_("Close this sitting?"),
                message=N_(
                    "Every exam still open in it is handed in now and graded from the answers saved so far, "
                    "and nobody can start any more. This cannot be undone."
                ),
                subject=f"#{sitting_id}",
                action=f"/sittings/{sitting_id}/close",
                button=N_("Close the sitting"),
                back=f"/sittings/{sitting_id}",
                reason=reason,
            ),
            missing_reason=is_confirmed,
        )
    service.close(
        database,
        _actor(request, viewer),
        viewer,
        sitting_id,
        utcnow(),
        reason=reason,
        certify=Certifying(content_of(request).library, state.settings(request).certificate_prefix),
    )
    return RedirectResponse(f"/sittings/{sitting_id}?closed=1", status_code=303)


# -- sheets -----------------------------------------------------------------------------------


def _sheet(request: Request, template: str) -> Response:
    viewer = viewer_of(request)
    db = session_of(request)
    now = utcnow()
    sitting = service.for_board(db, viewer, _sitting_id(request))
    found = service.board(db, sitting, content_of(request).library, now)
    return _render(
        request,
        template,
        {
            "sitting": service.view_of(db, sitting, now),
            "board": found,
            "titles": _course_titles(request),
            "now": now,
        },
    )


def attendance(request: Request) -> Response:
    """The printable attendance sheet: everyone on the roster, their unit, a column to sign."""
    return _sheet(request, "sittings/attendance.html")


def results(request: Request) -> Response:
    """The results sheet to print (scores are final once the sitting is closed)."""
    return _sheet(request, "sittings/results.html")


def results_download(request: Request) -> Response:
    """The results as CSV (UTF-8 with a byte-order mark; cells a spreadsheet would run as a
    formula neutralised) or XLSX, by the path's ending: one row per person on the board, times in
    TRAINER_TIME_ZONE."""
    viewer = viewer_of(request)
    db = session_of(request)
    now = utcnow()
    sitting = service.for_board(db, viewer, _sitting_id(request))
    found = service.board(db, sitting, content_of(request).library, now)
    lang = request.state.lang
    times = state.templates(request).local_times(lang)
    _ = state.templates(request).gettext(lang)
    header = [
        _("Name"),
        _("Username"),
        _("Unit"),
        _("State"),
        _("Score"),
        _("Out of"),
        _("Passed"),
        times.heading(_("Started")),
        times.heading(_("Handed in")),
        _("Extra minutes"),
        _("Voided exams"),
    ]

    def rows() -> Iterator[list[exports.Cell]]:
        for row in found.rows:
            yield [
                row.full_name,
                row.username,
                row.unit or "",
                _(STATE_LABELS[row.state]),
                row.score if row.state == "submitted" else None,
                row.total if row.state == "submitted" else None,
                ("" if row.passed is None else _("Yes") if row.passed else _("No"))
                if row.state == "submitted"
                else "",
                times.when(row.started_at, named=False),
                times.when(row.submitted_at, named=False) if row.state == "submitted" else "",
                row.extra_minutes,
                row.voided,
            ]

    day = sitting.opens_at.astimezone(_zone(request)).strftime("%Y-%m-%d")
    stem = f"sitting-{sitting.id}-{sitting.course_id}-{day}-results"
    if request.url.path.endswith(".xlsx"):
        return exports.xlsx_response(f"{stem}.xlsx", _("Results"), header, rows())
    return exports.csv_response(f"{stem}.csv", header, rows())


SIGNED_IN, ORGANISER, POST = Access.SIGNED_IN, Access.ORGANISER, ("POST",)
routes: list[BaseRoute] = [
    page("/sittings", list_page, access=SIGNED_IN),
    page("/sittings/new", new_form, access=ORGANISER),
    page("/sittings/new", create, access=ORGANISER, methods=POST),
    page("/sittings/{sitting_id}", board_page, access=SIGNED_IN),
    page("/sittings/{sitting_id}/edit", edit_form, access=ORGANISER),
    page("/sittings/{sitting_id}/edit", update, access=ORGANISER, methods=POST),
    page("/sittings/{sitting_id}/roster", upload_roster, access=ORGANISER, methods=POST, max_files=1),
    page("/sittings/{sitting_id}/extra", set_extra, access=ORGANISER, methods=POST),
    page("/sittings/{sitting_id}/people/{person_id}", person_page, access=SIGNED_IN),
    page("/sittings/{sitting_id}/people/{person_id}/extend", extend, access=SIGNED_IN, methods=POST),
    page("/sittings/{sitting_id}/attempts/{attempt_id}/void", void, access=SIGNED_IN, methods=POST),
    page("/sittings/{sitting_id}/close", close, access=SIGNED_IN, methods=POST),
    page("/sittings/{sitting_id}/attendance", attendance, access=SIGNED_IN),
    page("/sittings/{sitting_id}/results", results, access=SIGNED_IN),
    page("/sittings/{sitting_id}/results.csv", results_download, access=SIGNED_IN),
    page("/sittings/{sitting_id}/results.xlsx", results_download, access=SIGNED_IN),
]
