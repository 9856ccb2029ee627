"""Site-wide routes: home, language choice, health check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse

from trainer.web import csrf
from trainer.web.i18n import LANGUAGE_COOKIE, normalise_language

router = APIRouter()


@router.get("/", include_in_schema=False)
async def home() -> RedirectResponse:
    return RedirectResponse("/courses", status_code=303)


def safe_next(target: str | None) -> str:
    """Only a path on this site: never `//host` or `/\\host`, which browsers treat as another site."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or "\n" in target:
        return "/"
    return target


@router.post("/language", include_in_schema=False)
async def choose_language(
    request: Request,
    lang: Annotated[str, Form(max_length=10)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",  # noqa: A002 (the form field's name)
) -> RedirectResponse:
    csrf.verify(request, csrf_token)
    chosen = normalise_language(lang)
    response = RedirectResponse(safe_next(next), status_code=303)
    if chosen:
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response


@router.get("/healthz", include_in_schema=False)
def healthz(request: Request) -> JSONResponse:
    """For load balancers: 200 when this process can reach the database and has a library."""
    try:
        request.app.state.database.ping()
    except Exception:  # any failure to reach the database means "not healthy", not a 500
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    library = request.app.state.content.library
    return JSONResponse(
        {
            "status": "ok",
            "database": "ok",
            "courses": len(library.courses),
            "modules": library.module_count,
        },
        headers={"Cache-Control": "no-store"},
    )
