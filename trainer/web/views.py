"""Site-wide routes: home, language choice, health check, metrics."""

from __future__ import annotations

import asyncio

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute

from trainer import metrics
from trainer.access import Access
from trainer.certification import service as certification
from trainer.content.store import content_of
from trainer.db import utcnow
from trainer.people import service as people
from trainer.web import state
from trainer.web.i18n import LANGUAGE_COOKIE, normalise_language
from trainer.web.pages import current_viewer, form_of, page, safe_next


async def choose_language(request: Request) -> Response:
    form = form_of(request)
    chosen = normalise_language(form.get("lang"))
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
    if chosen:
        viewer = await current_viewer(request)
        if viewer is not None:  # notifications are written in it
            await run_in_threadpool(people.remember_language, state.database(request), viewer.id, chosen)
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response


HEALTH_TIMEOUT_SECONDS = 1.5


async def healthz(request: Request) -> Response:
    """For load balancers: 200 when this process can reach the database and has a library.

    The ping runs in the threadpool and is waited for at most 1.5 s: a database that accepts
    connections but never answers makes this "unavailable" at once (the thread gives up at the
    connect or statement timeout), instead of holding the load balancer's check.
    """
    try:
        await asyncio.wait_for(run_in_threadpool(state.database(request).ping), HEALTH_TIMEOUT_SECONDS)
    except TimeoutError:
        return JSONResponse({"status": "unavailable", "database": "not answering"}, status_code=503)
    except Exception:  # any failure to reach the database means "not healthy", not a 500
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    library = content_of(request).library
    return JSONResponse(
        {"status": "ok", "database": "ok", "courses": len(library.courses), "modules": library.module_count},
        headers={"Cache-Control": "no-store"},
    )


async def metrics_page(request: Request) -> Response:
    """Prometheus text format, for the addresses in TRAINER_METRICS_ALLOW: 404 while
    TRAINER_METRICS is off (nothing there), 403 to anyone else."""
    settings = state.settings(request)
    if settings.metrics != "on":
        raise HTTPException(status_code=404)
    client = request.client.host if request.client else None
    if not metrics.allowed(client, metrics.parse_networks(settings.metrics_allow)):
        raise HTTPException(status_code=403)
    database = state.database(request)
    certificates = metrics.StateCounts(
        "trainer_certificates",
        "Certificates by state now (valid, due_for_renewal, grace, expired, suspended, revoked, superseded).",
        "state",
        lambda: certification.certificate_counts(database, utcnow()),
    )
    body = await run_in_threadpool(metrics.exposition, certificates)
    return Response(body, media_type=metrics.CONTENT_TYPE, headers={"Cache-Control": "no-store"})


routes: list[BaseRoute] = [
    page("/language", choose_language, access=Access.PUBLIC, methods=("POST",)),
    page("/healthz", healthz, access=Access.PUBLIC),
    page("/metrics", metrics_page, access=Access.PUBLIC),
]
