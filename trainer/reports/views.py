"""The manager's pages: the compliance roll-up of their part of the organisation, the lists
behind it, and their exports. Every page is scoped: a unit outside the viewer's subtree does not
exist for them (404).

Each handler runs in the request's unit of work (`session_of(request)`, trainer.web.unit) and
passes its session to trainer.reports.compliance, which owns the queries. The roll-up and the
lists first bring the tallies up to date (`compliance.bring_up_to_date`, a documented exception
with short transactions of its own), before the request's session first reads."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import quote, urlencode

from sqlalchemy.orm import Session as DbSession
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from trainer import localtime
from trainer.access import Access, Viewer
from trainer.assignments import rules as required
from trainer.audit import service as audit
from trainer.certification import service as certification
from trainer.content.library import Course
from trainer.content.store import content_of
from trainer.db import MAX_ID, utcnow
from trainer.i18n import N_, STATE_LABELS
from trainer.reports import charts, compliance, exports
from trainer.reports.compliance import ALL_STATES, NEVER, ListQuery, UnitRef
from trainer.reports.models import STATES
from trainer.reports.shared import MONTH, certifying_courses, course_titles
from trainer.web import state
from trainer.web.pages import Confirmation, ask, client_ip, confirmed, form_of, page, safe_next, viewer_of
from trainer.web.unit import session_of

LIST_STATES = ("expiring", *ALL_STATES)
EXPORT_LIMIT = 200_000  # rows in one export: a whole province's (inspector, course) pairs fit


def scope(db: DbSession, viewer: Viewer, raw: str | None) -> UnitRef:
    """The unit asked for (default: the viewer's own; an admin's default is the top unit)."""
    unit_id = None
    if raw:
        try:
            unit_id = int(raw)
        except ValueError:
            raise HTTPException(status_code=404) from None
        if not 1 <= unit_id <= MAX_ID:
            raise HTTPException(status_code=404)
    unit = compliance.unit_in_scope(db, viewer, unit_id)
    if unit is None:
        raise HTTPException(status_code=404)
    return unit


def _course_param(request: Request, courses: list[Course], *, default_first: bool = True) -> str | None:
    raw = request.query_params.get("course", "")
    if not raw:
        return courses[0].id if default_first and courses else None
    if raw not in {c.id for c in courses}:
        raise HTTPException(status_code=404)
    return raw


def _fresh(request: Request, now: datetime) -> None:
    """Before the request's session first reads: the tallies exact for `now`, and this month's
    snapshot kept if none is kept yet."""
    compliance.bring_up_to_date(state.database(request), now, keep_snapshot=True)


# -- the roll-up -------------------------------------------------------------------------------


def _rollup(request: Request) -> tuple[compliance.Rollup, list[Course], str | None, str | None]:
    viewer = viewer_of(request)
    library = content_of(request).library
    courses = certifying_courses(library)
    course_id = _course_param(request, courses)
    month = request.query_params.get("month") or None
    if month is None:
        _fresh(request, utcnow())
    elif not MONTH.fullmatch(month):
        raise HTTPException(status_code=404)
    db = session_of(request)
    unit = scope(db, viewer, request.query_params.get("unit"))
    result = compliance.rollup_as_of(db, unit, [c.id for c in courses], month)
    if result is None:  # no snapshot kept for that month
        raise HTTPException(status_code=404)
    return result, courses, course_id, month


def rollup_page(request: Request) -> Response:
    viewer = viewer_of(request)
    result, courses, course_id, month = _rollup(request)
    lang = request.state.lang
    titles = course_titles(content_of(request).library, lang)
    now = utcnow()
    db = session_of(request)
    crumbs = compliance.breadcrumbs(db, viewer, result.unit)
    months = compliance.snapshot_months(db)
    kept_at = compliance.snapshot_taken_at(db, month) if month else None
    last_12 = localtime.recent_months(now, state.database(request).time_zone)
    trend = compliance.pass_rates(db, result.unit, course_id, last_12) if course_id else []
    # Admins manage every tree: offer the other top-level units too.
    roots = compliance.other_top_units(db, result.unit.id) if viewer.is_admin else []
    selected = [(row, row.courses[course_id]) for row in result.rows] if course_id else []
    response = state.templates(request).render(
        request,
        "reports/rollup.html",
        {
            "viewer": viewer,
            "rollup": result,
            "courses": courses,
            "titles": titles,
            "course_id": course_id,
            "month": month,
            "kept_at": kept_at,
            "months": months,
            "crumbs": crumbs,
            "roots": roots,
            "states": ALL_STATES,
            "overview_chart": charts.stacked_bars(
                [(titles[c.id], result.total[c.id]) for c in courses], ALL_STATES
            ),
            "unit_chart": charts.stacked_bars(
                [(row.unit.name if row.unit else "", counts) for row, counts in selected], ALL_STATES
            ),
            "selected": selected,
            "required_states": required.REQUIRED_STATES,
            "required_labels": required.STATE_LABELS,
            "trend": trend,
            "trend_chart": charts.rate_bars(trend),
            "windows": compliance.EXPIRING_WINDOWS,
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


ROLLUP_HEADER = [
    N_("Unit"),
    N_("Course"),
    N_("Inspectors"),
    *(STATE_LABELS[s] for s in ALL_STATES),
    N_("Share certified"),
]
# Then the people required each course (now only: a month's snapshot keeps certificate states
# alone, so those cells stay empty): "Required", "Required: Valid", …
REQUIRED_HEADER = N_("Required")
REQUIRED_STATE_HEADER = N_("Required: %(state)s")


def _rollup_rows(
    result: compliance.Rollup, courses: list[Course], titles: dict[str, str], own: str
) -> Iterator[list[exports.Cell]]:
    whole = compliance.RollupRow(result.unit, result.total, required=result.required)
    for row in [*result.rows, whole]:
        name = own if row.unit is None else row.unit.path
        for course in courses:
            counts = row.courses[course.id]
            live = counts.states["valid"] + counts.states["due_for_renewal"]
            people = row.required.get(course.id) if result.month is None else None
            yield [
                name,
                titles[course.id],
                counts.inspectors,
                *(counts.states[s] for s in STATES),
                counts.never_certified,
                round(live / counts.inspectors, 4) if counts.inspectors else 0.0,
                *(
                    [people.required, *(people.get(s) for s in required.REQUIRED_STATES)]
                    if people is not None
                    else [None] * (1 + len(required.REQUIRED_STATES))
                ),
            ]


def rollup_export(request: Request) -> Response:
    result, courses, _course_id, month = _rollup(request)
    lang = request.state.lang
    titles = course_titles(content_of(request).library, lang)
    gettext = state.templates(request).gettext(lang)
    header = [
        *(gettext(h) for h in ROLLUP_HEADER),
        gettext(REQUIRED_HEADER),
        *(
            gettext(REQUIRED_STATE_HEADER) % {"state": gettext(required.STATE_LABELS[s])}
            for s in required.REQUIRED_STATES
        ),
    ]
    own = gettext("Directly in %(unit)s") % {"unit": result.unit.path}
    rows = list(_rollup_rows(result, courses, titles, own))
    today = localtime.local_date(utcnow(), state.database(request).time_zone)
    stem = f"compliance-{result.unit.name}-{month or today.isoformat()}"
    if request.url.path.endswith(".xlsx"):
        return exports.xlsx_response(f"{stem}.xlsx", gettext("Compliance"), header, rows)
    return exports.csv_response(f"{stem}.csv", header, rows)


# -- lists -------------------------------------------------------------------------------------


BASES = ("certificates", "required")  # every inspector's certificates; the people required a course


@dataclass(frozen=True)
class ListView:
    query: ListQuery
    unit: UnitRef
    course_id: str | None
    basis: str = "certificates"  # one of BASES


def _list_query(request: Request, db: DbSession, viewer: Viewer, courses: list[Course]) -> ListView:
    params = request.query_params
    unit = scope(db, viewer, params.get("unit"))
    basis = params.get("basis") or "certificates"
    state_ = params.get("state") or None
    if basis not in BASES or (
        state_ is not None
        and state_ not in (required.REQUIRED_STATES if basis == "required" else LIST_STATES)
    ):
        raise HTTPException(status_code=400)
    # "Never certified" and the people required a course are always of one course (the first,
    # unless one is chosen).
    one_course = state_ == NEVER or basis == "required"
    course_id = _course_param(request, courses, default_first=one_course)
    if one_course and course_id is None:
        raise HTTPException(status_code=404)  # no course offers a certificate
    try:
        within = int(params.get("within") or 30)
        page_number = int(params.get("page") or 1)
    except ValueError:
        raise HTTPException(status_code=400) from None
    sort = params.get("sort") or "expires"
    direction = params.get("dir") or "asc"
    if (
        within not in compliance.EXPIRING_WINDOWS
        or sort not in compliance.SORTS
        or direction not in ("asc", "desc")
    ):
        raise HTTPException(status_code=400)
    if not 1 <= page_number <= 100_000:
        raise HTTPException(status_code=400)
    query = ListQuery(
        lineage=unit.lineage,
        course_id=course_id,
        state=state_,
        within_days=within,
        sort=sort,
        descending=direction == "desc",
        page=page_number,
    )
    return ListView(query, unit, course_id, basis)


def _listed(
    request: Request, courses: list[Course], now: datetime, *, limit: int | None = None
) -> tuple[ListView, compliance.ListPage]:
    """The list asked for: the page asked for, or with a `limit` (exports) every row from the first."""
    _fresh(request, now)
    view = _list_query(request, session_of(request), viewer_of(request), courses)
    query = view.query if limit is None else replace(view.query, page=1)
    if view.basis == "required":
        assert view.course_id is not None
        return view, compliance.list_required(
            session_of(request),
            view.unit.lineage,
            view.course_id,
            now,
            state=query.state,
            sort=query.sort,
            descending=query.descending,
            page=query.page,
            per_page=query.per_page if limit is None else 0,
        )
    return view, compliance.list_inspectors(session_of(request), query, now, limit=limit)


def list_page(request: Request) -> Response:
    viewer = viewer_of(request)
    library = content_of(request).library
    courses = certifying_courses(library)
    now = utcnow()
    view, result = _listed(request, courses, now)
    db = session_of(request)
    total = None
    if view.basis == "required" and view.course_id is not None:
        people = compliance.rollup(db, view.unit, [view.course_id], by_child=False).required[view.course_id]
        total = people.get(view.query.state) if view.query.state else people.required
    elif view.query.state != "expiring":
        totals = compliance.rollup(db, view.unit, [c.id for c in courses], by_child=False).total
        total = compliance.count_for(totals, view.query)
    crumbs = compliance.breadcrumbs(db, viewer, view.unit)
    children = compliance.child_units(db, view.unit.id)
    query = view.query
    first = (query.page - 1) * query.per_page + 1
    response = state.templates(request).render(
        request,
        "reports/inspectors.html",
        {
            "viewer": viewer,
            "view": view,
            "filters": query,  # not "query": the site search box shows that one
            "rows": result.rows,
            "has_next": result.has_next,
            "total": total,
            "first": first,
            "last": first + len(result.rows) - 1,
            "courses": courses,
            "titles": course_titles(library, request.state.lang),
            "crumbs": crumbs,
            "children": children,
            "list_states": LIST_STATES,
            "required_states": required.REQUIRED_STATES,
            "required_labels": required.STATE_LABELS,
            "windows": compliance.EXPIRING_WINDOWS,
            "sorts": compliance.SORTS,
            "now": now,
            "params": _params(view),
            "crumb_suffix": "&" + urlencode({k: v for k, v in _params(view).items() if k != "unit"}),
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _params(view: ListView) -> dict[str, str]:
    """The filters as query parameters, for links that keep them (pagination, sort, export)."""
    q = view.query
    params = {"unit": str(view.unit.id)}
    if view.basis == "required":
        params["basis"] = "required"
    if view.course_id:
        params["course"] = view.course_id
    if q.state:
        params["state"] = q.state
    if q.state == "expiring":
        params["within"] = str(q.within_days)
    params["sort"] = q.sort
    params["dir"] = "desc" if q.descending else "asc"
    return params


EXPIRES = N_("Expires")
LIST_HEADER = [
    N_("Name"),
    N_("Username"),
    N_("Unit"),
    N_("Course"),
    N_("State"),
    N_("Certificate"),
    EXPIRES,
    N_("Days left"),
]


DUE = N_("Due by")
REQUIRED_LIST_HEADER = [
    N_("Name"),
    N_("Username"),
    N_("Unit"),
    N_("Course"),
    DUE,
    N_("State"),
    N_("Certificate"),
    EXPIRES,
    N_("Days left"),
]


def list_export(request: Request) -> Response:
    library = content_of(request).library
    now = utcnow()
    view, result = _listed(request, certifying_courses(library), now, limit=EXPORT_LIMIT)
    lang = request.state.lang
    gettext = state.templates(request).gettext(lang)
    titles = course_titles(library, lang)
    zone = state.database(request).time_zone
    # The expiry is the day it is in the installation's zone, and its heading names the zone.
    times = state.templates(request).local_times(lang)
    named = (EXPIRES, DUE)
    header = [
        times.heading(gettext(h)) if h in named else gettext(h)
        for h in (REQUIRED_LIST_HEADER if view.basis == "required" else LIST_HEADER)
    ]

    def required_rows() -> Iterator[list[exports.Cell]]:
        for row in result.rows:
            assert isinstance(row, compliance.RequiredRow)
            yield [
                row.full_name,
                row.username,
                row.unit_path,
                titles.get(row.course_id, row.course_id),
                row.due.isoformat(),
                gettext(required.STATE_LABELS[row.state]),
                row.number,
                localtime.local(row.expires_at, zone) if row.expires_at else None,
                (row.expires_at - now).days if row.expires_at else None,
            ]

    def rows() -> Iterator[list[exports.Cell]]:
        if view.basis == "required":
            yield from required_rows()
            return
        for row in result.rows:
            yield [
                row.full_name,
                row.username,
                row.unit_path,
                titles.get(row.course_id, row.course_id),
                gettext(STATE_LABELS[row.state]),
                row.number,
                localtime.local(row.expires_at, zone) if row.expires_at else None,
                (row.expires_at - now).days if row.expires_at else None,
            ]

    today = localtime.local_date(now, zone).isoformat()
    basis = "required-" if view.basis == "required" else ""
    stem = f"inspectors-{view.unit.name}-{basis}{view.query.state or 'all'}-{today}"
    if request.url.path.endswith(".xlsx"):
        return exports.xlsx_response(f"{stem}.xlsx", gettext("Inspectors"), header, rows())
    return exports.csv_response(f"{stem}.csv", header, rows())


# -- acting on a certificate from a page ---------------------------------------------------------


def certificate_action(request: Request) -> Response:
    """Suspend, reinstate or revoke from the inspector's record (the same rule as the API)."""
    viewer = viewer_of(request)
    form = form_of(request)
    action = str(form.get("action", ""))
    reason = str(form.get("reason", ""))[:2000]
    number = request.path_params["number"][:40]
    back = safe_next(str(form.get("next", "")) or f"/certificates/{number}")
    if action not in ("suspend", "reinstate", "revoke"):
        raise HTTPException(status_code=400)
    if action == "revoke":  # final: asked first, with the reason required
        is_confirmed, reason = confirmed(request)
        if not is_confirmed or not reason:
            return ask(
                request,
                Confirmation(
                    heading=N_("Revoke this certificate?"),
                    message=N_("Revocation is final: the certificate can never be valid again."),
                    subject=number,
                    action=f"/certificates/{quote(number)}/action",
                    button=N_("Revoke (final)"),
                    back=back,
                    fields={"action": "revoke", "next": back},
                    reason=reason,
                ),
                missing_reason=is_confirmed,
            )
    certification.act(  # a refusal (DomainError) is the error page, linking back
        session_of(request),
        viewer,
        audit.Actor(viewer.id, viewer.username, client_ip(request)),
        number,
        action=action,
        reason=reason,
        now=utcnow(),
    )
    return RedirectResponse(back, status_code=303)


routes: list[BaseRoute] = [
    page("/manage", rollup_page, access=Access.MANAGER),
    page("/manage/rollup.csv", rollup_export, access=Access.MANAGER),
    page("/manage/rollup.xlsx", rollup_export, access=Access.MANAGER),
    page("/manage/inspectors", list_page, access=Access.MANAGER),
    page("/manage/inspectors.csv", list_export, access=Access.MANAGER),
    page("/manage/inspectors.xlsx", list_export, access=Access.MANAGER),
    page("/certificates/{number}/action", certificate_action, access=Access.MANAGER, methods=("POST",)),
]
