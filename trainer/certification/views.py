"""Public verification of a certificate (no sign-in), page and JSON; the holder's list.

Pages take the request's unit of work (`session_of(request)`), API routes `db: Db`
(trainer.web.unit), and pass it to trainer.certification.service, which owns the queries and
refuses with DomainError. Verification first counts the request in a short write of its own
(`service.count_verification`: the count stands when the request is refused).
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated, Any, Literal

import segno
from fastapi import APIRouter, Path, Request
from markupsafe import Markup
from pydantic import BaseModel, Field
from starlette.requests import Request as PageRequest
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute

from trainer.access import Access
from trainer.audit import service as audit
from trainer.certification import credentials, policy, service
from trainer.certification.models import Certificate
from trainer.content.store import content_of
from trainer.db import MAX_ID, utcnow
from trainer.people.api import BODY, MANAGERS, SIGNED_IN, ApiViewer, ManagerViewer
from trainer.schemas import CertificateOut, Problem
from trainer.web import state
from trainer.web.pages import client_ip, page, viewer_of
from trainer.web.unit import Db, session_of

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


def _limit(request: PageRequest) -> None:
    """Verification needs no account, so it is rate-limited per address instead."""
    service.count_verification(
        state.database(request), client_ip(request), state.settings(request).verify_per_minute, utcnow()
    )


def _title(request: PageRequest, certificate: Certificate) -> str:
    course = content_of(request).library.courses.get(certificate.course_id)
    return service.shown_title(certificate, course, request.state.lang)


def verify_page(request: PageRequest) -> Response:
    _limit(request)
    code = request.path_params["code"][:40]
    certificate = service.verified(session_of(request), code)
    response = state.templates(request).render(
        request,
        "certification/verify.html",
        {
            "result": {**verification(certificate, now := utcnow()), "title": _title(request, certificate)},
            "code": code,
            "now": now,
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


@router.get(
    "/verify/{code}",
    response_model=VerificationOut,
    responses={
        404: {"model": Problem, "description": "Unknown code"},
        429: {"model": Problem, "description": "Too many verifications from this address"},
    },
)
def verify_api(code: Annotated[str, Path(max_length=40)], request: Request, db: Db) -> VerificationOut:
    _limit(request)
    return VerificationOut(**verification(service.verified(db, code), utcnow()))


@router.get(
    "/me/certificates",
    response_model=list[CertificateOut],
    responses=SIGNED_IN,
)
def my_certificates(viewer: ApiViewer, db: Db) -> list[CertificateOut]:
    now = utcnow()
    return [_out(c, now) for c in service.certificates_of(db, viewer.id)]


class ActionIn(BaseModel):
    reason: str = Field(default="", max_length=2000)


@router.post(
    "/certificates/{number}/{action}",
    response_model=CertificateOut,
    responses={
        **MANAGERS,
        **BODY,
        403: {"model": Problem, "description": "Managers only, on one's own certificate, or from below"},
        404: {"model": Problem, "description": "Unknown, or outside your part of the organisation"},
        409: {"model": Problem, "description": "Not possible in its state"},
        422: {"description": "Reason missing (code reason_required), or the body does not fit"},
    },
)
def certificate_action(
    number: Annotated[str, Path(max_length=40)],
    action: Annotated[Literal["suspend", "reinstate", "revoke"], Path()],
    body: ActionIn,
    *,
    viewer: ManagerViewer,
    request: Request,
    db: Db,
) -> CertificateOut:
    now = utcnow()
    certificate = service.act(
        db,
        viewer,
        audit.Actor(viewer.id, viewer.username, client_ip(request)),
        number,
        action=action,
        reason=body.reason,
        now=now,
    )
    return _out(certificate, now)


@router.get(
    "/inspectors/{user_id}/certificates",
    response_model=list[CertificateOut],
    responses={**MANAGERS, 404: {"model": Problem, "description": "Unknown or outside your scope"}},
)
def inspector_certificates(
    user_id: Annotated[int, Path(ge=1, le=MAX_ID)], viewer: ManagerViewer, db: Db
) -> list[CertificateOut]:
    now = utcnow()
    return [_out(c, now) for c in service.certificates_of_inspector(db, viewer, user_id)]


def _out(c: Certificate, now: datetime) -> CertificateOut:
    return CertificateOut(
        number=c.number,
        verification_code=c.verification_code,
        course_id=c.course_id,
        title=c.title,
        state=service.state_of(c, now).value,
        issued_at=c.issued_at,
        expires_at=c.expires_at,
        is_current=c.is_current,
    )


def base_url(request: PageRequest) -> str:
    """The public address for QR codes and badges: TRAINER_PUBLIC_URL (required in production),
    else the address the server is bound to - never the Host header, which any client can forge."""
    configured = state.settings(request).public_url.rstrip("/")
    if configured:
        return configured
    host, port = request.scope.get("server") or ("127.0.0.1", 8000)
    scheme = request.scope.get("scheme", "http")
    default = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    host = f"[{host}]" if ":" in str(host) else host
    return f"{scheme}://{host}" + ("" if default or port is None else f":{port}")


def qr_svg(url: str) -> Markup:
    """A QR code as inline SVG, made on the server (no script, no external service)."""
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", xmldecl=False, scale=4, border=2, title=url, nl=False)
    return Markup(buffer.getvalue().decode())  # noqa: S704 (segno's own output; the URL is escaped in <title>)


def _own_certificate(request: PageRequest) -> Certificate:
    """The certificate, if the viewer is its holder, manages the holder, or is an admin."""
    return service.certificate_for(
        session_of(request), viewer_of(request), request.path_params["number"][:40]
    )


def certificate_page(request: PageRequest) -> Response:
    certificate = _own_certificate(request)
    now = utcnow()
    verify_url = f"{base_url(request)}/verify/{certificate.verification_code}"
    response = state.templates(request).render(
        request,
        "certification/certificate.html",
        {
            "certificate": certificate,
            "state": service.state_of(certificate, now).value,
            "verify_url": verify_url,
            "qr": qr_svg(verify_url),
            "title": _title(request, certificate),
            "issuer": state.settings(request).issuer_name,
            "stamps": STAMPS,
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# The stamp across a certificate that is not valid now, in English and Chinese at once.
STAMPS = {
    "suspended": ("SUSPENDED", "已暂停"),
    "revoked": ("REVOKED", "已撤销"),
    "expired": ("EXPIRED", "已过期"),
    "superseded": ("SUPERSEDED", "已被新证书取代"),
}


def credential(request: PageRequest, certificate: Certificate) -> dict[str, Any]:
    """The certificate as an Open Badges 3.0 AchievementCredential (valid against 1EdTech's
    JSON Schema; tests/test_badges.py checks it)."""
    base = base_url(request)
    settings = state.settings(request)
    return {
        "@context": credentials.CONTEXTS,
        "id": f"{base}/verify/{certificate.verification_code}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": certificate.title,
        "issuer": {"id": credentials.issuer_id(base), "type": ["Profile"], "name": settings.issuer_name},
        "validFrom": certificate.valid_from.isoformat(),
        "validUntil": certificate.expires_at.isoformat(),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [
                {
                    "type": "IdentityObject",
                    "identityType": "name",
                    "hashed": False,
                    "identityHash": certificate.holder_name,
                }
            ],
            "achievement": {
                "id": f"{base}/courses/{certificate.course_id}",
                "type": ["Achievement"],
                "name": certificate.title,
                "description": f"Work-safety training certificate for the course {certificate.title}, "
                f"issued by {settings.issuer_name}.",
                "criteria": {"narrative": "Completed every module and passed the final exam."},
            },
        },
        # Where a verifier learns, online, whether the certificate has since been suspended or
        # revoked; the signed copy only says it was valid when it was signed.
        "credentialStatus": {
            "id": f"{base}/api/v1/verify/{certificate.verification_code}",
            "type": "TrainerVerification",
        },
        "evidence": [
            {
                "id": f"{base}/attempts/{certificate.attempt_id}",
                "type": ["Evidence"],
                "narrative": f"Certificate {certificate.number}; "
                f"paper snapshot SHA-256 {certificate.snapshot_hash}",
            }
        ],
    }


def badge(request: PageRequest) -> Response:
    """The certificate as an Open Badges 3.0 credential (unsigned: badge.jwt is the signed one)."""
    return JSONResponse(credential(request, _own_certificate(request)), media_type="application/ld+json")


# States in which a certificate is signed as a credential. A suspended, revoked, expired or
# superseded one is refused (409): a signature would let it pass offline for a valid one.
SIGNABLE = frozenset({policy.State.VALID, policy.State.DUE})


def badge_jwt(request: PageRequest) -> Response:
    """The credential signed as a VC-JWT (EdDSA), verifiable offline with the key on /issuer.json."""
    certificate = _own_certificate(request)
    current = service.state_of(certificate, utcnow())
    if current not in SIGNABLE:
        return state.templates(request).render(
            request,
            "certification/not_signed.html",
            {"certificate": certificate, "state": current.value},
            status_code=409,
        )
    key = credentials.load_key(state.settings(request).badge_key)
    token = credentials.sign(credential(request, certificate), base_url(request), key)
    return Response(
        token,
        media_type="application/jwt",
        headers={
            "Content-Disposition": f'attachment; filename="{certificate.number}.jwt"',
            "Cache-Control": "no-store",
        },
    )


def issuer_profile(request: PageRequest) -> Response:
    """The issuer's Open Badges profile with the public key that verifies its badges (public)."""
    settings = state.settings(request)
    document = credentials.issuer_profile(
        base_url(request), settings.issuer_name, credentials.load_key(settings.badge_key)
    )
    return JSONResponse(document, media_type="application/ld+json")


routes: list[BaseRoute] = [
    page("/certificates/{number}", certificate_page, access=Access.SIGNED_IN),
    page("/certificates/{number}/badge.json", badge, access=Access.SIGNED_IN),
    page("/certificates/{number}/badge.jwt", badge_jwt, access=Access.SIGNED_IN),
    page("/issuer.json", issuer_profile, access=Access.PUBLIC),
    page("/verify", verify_form, access=Access.PUBLIC),
    page("/verify/{code}", verify_page, access=Access.PUBLIC),
]
