"""CSRF protection for every form that changes state.

A random value lives in an HttpOnly, SameSite=Lax cookie; forms carry an HMAC of it under the
server's secret key. A cross-site attacker can neither read the cookie nor compute the token.
(When accounts arrive the token will also be bound to the login session.)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import HTTPException
from starlette.requests import Request

from trainer.web import state

CSRF_COOKIE = "trainer_csrf"
CSRF_FIELD = "csrf_token"


def new_cookie_value() -> str:
    return secrets.token_urlsafe(32)


def token_for(secret_key: str, cookie_value: str) -> str:
    return hmac.new(secret_key.encode(), b"csrf:" + cookie_value.encode(), hashlib.sha256).hexdigest()


def verify(request: Request, submitted: str | None) -> None:
    """Raise 403 unless `submitted` is the token for this browser's CSRF cookie."""
    cookie_value = request.cookies.get(CSRF_COOKIE)
    secret_key: str = state.settings(request).secret_key
    if not cookie_value or not submitted:
        raise HTTPException(status_code=403, detail="csrf")
    if not hmac.compare_digest(token_for(secret_key, cookie_value), submitted):
        raise HTTPException(status_code=403, detail="csrf")
