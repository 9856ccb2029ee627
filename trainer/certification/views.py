"""Public verification of a certificate (no sign-in), page and JSON; the holder's list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel
from sqlalchemy import select
from starlette.exceptions import HTTPException as PageHTTPException
from starlette.requests import Request as PageRequest
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from trainer.certification import service
from trainer.certification.models import Certificate
from trainer.db import utcnow
from trainer.people.access import Access
from trainer.people.api import ApiViewer
from trainer.web import state
from trainer.web.pages import page

router = APIRouter(prefix="/api/v1")


def verification(certificate: Certificate, now: datetime) -> dict[str, Any]:
    """What anyone may learn from a verification code: never a score, never the full name."""
    return {
        "state": service.state_of(certificate, now).value,
        "number": certificate.number,
        "course_id": certificate.course_id,
        "title": certificate.title,
        "holder": service.mask_name(certificate.holder_name),
        "unit": certificate.unit_path,
        "issued_at": certificate.issued_at,
        "valid_from": certificate.valid_from,
        "expires_at": certificate.expires_at,
    }


def verify_form(request: PageRequest) -> Response:
    code = request.query_params.get("code", "").strip()
    if code:
        return RedirectResponse(f"/verify/{service.normalise_code(code)[:40]}", status_code=303)
    return state.templates(request).render(request, "certification/verify.html", {"result": None, "code": ""})


def verify_page(request: PageRequest) -> Response:
    code = request.path_params["code"][:40]
    with state.database(request).session() as db:
        certificate = service.find_by_code(db, code)
    if certificate is None:
        raise PageHTTPException(status_code=404)
    response = state.templates(request).render(
        request,
        "certification/verify.html",
        {
            "result": verification(certificate, now := utcnow()),
            "code": code,
            "now_utc": now.strftime("%Y-%m-%d %H:%M"),
        },
    )
    response.headers["Cache-Control"] = "no-store"  # the state is as of now
    return response


class VerificationOut(BaseModel):
    state: str
    number: str
    course_id: str
    title: str
    holder: str
    unit: str | None
    issued_at: datetime
    valid_from: datetime
    expires_at: datetime


class CertificateOut(BaseModel):
    number: str
    verification_code: str
    course_id: str
    state: str
    issued_at: datetime
    expires_at: datetime


@router.get(
    "/verify/{code}", response_model=VerificationOut, responses={404: {"description": "Unknown code"}}
)
def verify_api(code: Annotated[str, Path(max_length=40)], request: Request) -> VerificationOut:
    with state.database(request).session() as db:
        certificate = service.find_by_code(db, code)
    if certificate is None:
        raise HTTPException(status_code=404, detail="not found")
    return VerificationOut(**verification(certificate, utcnow()))


@router.get(
    "/me/certificates",
    response_model=list[CertificateOut],
    responses={401: {"description": "No valid token"}},
)
def my_certificates(viewer: ApiViewer, request: Request) -> list[CertificateOut]:
    now = utcnow()
    with state.database(request).session() as db:
        rows = db.scalars(
            select(Certificate).where(Certificate.user_id == viewer.id).order_by(Certificate.issued_at.desc())
        ).all()
    return [
        CertificateOut(
            number=c.number,
            verification_code=c.verification_code,
            course_id=c.course_id,
            state=service.state_of(c, now).value,
            issued_at=c.issued_at,
            expires_at=c.expires_at,
        )
        for c in rows
    ]


routes: list[BaseRoute] = [
    page("/verify", verify_form, access=Access.PUBLIC),
    page("/verify/{code}", verify_page, access=Access.PUBLIC),
]
