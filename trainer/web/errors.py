"""Error responses: JSON under /api, a translated page everywhere else. Never a stack trace.

A refusal by the rules (`trainer.errors.DomainError`, raised by any service) is answered here
and nowhere else: on an API path `{"detail": {"message", "code", ...extra}}` with its status,
on a page the error page with the message in the reader's language."""

from __future__ import annotations

import logging

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from trainer.errors import DomainError
from trainer.web import state
from trainer.web.i18n import translations
from trainer.web.pages import current_viewer, is_api, safe_next

log = logging.getLogger(__name__)
DATABASE_TROUBLE = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.TimeoutError,
    sqlalchemy.exc.DisconnectionError,
)
RETRY_AFTER_SECONDS = 10


def _wants_json(request: Request) -> bool:
    return is_api(request.scope)


async def _page(
    request: Request, status: int, reason: str | None = None, error: DomainError | None = None
) -> Response:
    templates = state.templates(request)
    if getattr(request.state, "lang", None) is None:  # failed before the middleware ran
        request.state.lang = state.settings(request).default_language
        request.state.csrf_token = ""
    if status < 500:
        await current_viewer(request)  # so the header shows who is signed in
    message = error.text(translations(request.state.lang).gettext) if error is not None else None
    # The request id on the page and in a header, also for a 500 (answered outside the request
    # middleware): what a person quotes to the help desk, and what finds the request's log lines.
    request_id = getattr(request.state, "request_id", None)
    response = templates.render(
        request,
        "errors/error.html",
        {
            "status": status,
            "reason": reason,
            "message": message,
            "back": _back(request),
            "request_id": request_id,
        },
        status_code=status,
    )
    if request_id:
        response.headers["X-Request-ID"] = request_id
    return response


def _back(request: Request) -> str | None:
    """Where a refused form came from, if it said (its `next` field): the page links back."""
    form = getattr(request.state, "form", None)
    target = form.get("next") if form is not None else None
    return safe_next(target) if isinstance(target, str) and target else None


async def domain_error(request: Request, exc: Exception) -> Response:
    """The one answer to a refusal by the rules, for pages and API alike."""
    assert isinstance(exc, DomainError)
    headers = exc.headers()
    if _wants_json(request):
        return JSONResponse({"detail": exc.body()}, status_code=exc.status, headers=headers)
    response = await _page(request, exc.status, error=exc)
    response.headers.update(headers or {})
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_json(request):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
            )
        reason = (
            exc.detail if exc.detail in ("csrf", "password-change-required", "control-characters") else None
        )
        response = await _page(request, exc.status_code, reason)
        for name, value in (getattr(exc, "headers", None) or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        if _wants_json(request):
            # The raw body of a wrong content type comes back as bytes, which JSON cannot carry.
            errors = jsonable_encoder(
                exc.errors(), custom_encoder={bytes: lambda raw: raw.decode("utf-8", "replace")}
            )
            return JSONResponse({"detail": errors}, status_code=422)
        return await _page(request, 400)

    async def database_unavailable(request: Request, exc: Exception) -> Response:
        # Unreachable, restarting, or too slow: nothing wrong with the request; try again soon.
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        if _wants_json(request):
            return JSONResponse({"detail": "database unavailable"}, status_code=503, headers=headers)
        response = await _page(request, 503)
        response.headers.update(headers)
        return response

    # Registered per class (not under Exception): answered like any handled error, not re-raised.
    for trouble in DATABASE_TROUBLE:
        app.add_exception_handler(trouble, database_unavailable)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if _wants_json(request):
            request_id = getattr(request.state, "request_id", None)
            return JSONResponse(
                {"detail": "internal error", "request_id": request_id},
                status_code=500,
                headers={"X-Request-ID": request_id} if request_id else None,
            )
        return await _page(request, 500)
