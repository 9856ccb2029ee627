"""A person's notifications: the list, one notification (opening it marks it read), its calendar
file, and marking them all read. Everyone sees only their own: another person's is a 404."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from trainer.access import Access
from trainer.db import utcnow
from trainer.notifications import outbox
from trainer.web import state
from trainer.web.pages import id_param, page, viewer_of
from trainer.web.unit import session_of

LISTED = 100


def listing(request: Request) -> Response:
    viewer = viewer_of(request)
    rows = outbox.recent(session_of(request), viewer.id, LISTED)
    response = state.templates(request).render(request, "notifications/list.html", {"notifications": rows})
    response.headers["Cache-Control"] = "no-store"
    return response


def one(request: Request) -> Response:
    viewer = viewer_of(request)
    notification_id = id_param(request, "notification_id")
    outbox.mark_read(state.database(request), viewer.id, notification_id, utcnow())
    row = outbox.mine(session_of(request), viewer.id, notification_id)
    response = state.templates(request).render(request, "notifications/one.html", {"n": row})
    response.headers["Cache-Control"] = "no-store"
    return response


def calendar(request: Request) -> Response:
    viewer = viewer_of(request)
    row = outbox.mine(session_of(request), viewer.id, id_param(request, "notification_id"))
    if row.attachment is None:
        return Response(status_code=404)
    return Response(
        row.attachment.encode("utf-8"),
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{row.attachment_name or "sitting.ics"}"',
            "Cache-Control": "no-store",
        },
    )


def read_all(request: Request) -> Response:
    outbox.read_all(session_of(request), viewer_of(request).id, utcnow())
    return RedirectResponse("/dashboard", status_code=303)


routes: list[BaseRoute] = [
    page("/notifications", listing, access=Access.SIGNED_IN),
    page("/notifications/read", read_all, access=Access.SIGNED_IN, methods=("POST",)),
    page("/notifications/{notification_id}", one, access=Access.SIGNED_IN),
    page("/notifications/{notification_id}/calendar.ics", calendar, access=Access.SIGNED_IN),
]
