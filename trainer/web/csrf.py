"""CSRF protection for every form that changes state.

A random value lives in an HttpOnly, SameSite=Lax cookie; forms carry an HMAC, under the
server's secret key, of that value and of the session cookie. A cross-site attacker can neither
read the cookies nor compute the token, and signing in (a new session cookie) changes the token,
so a token captured before login is worthless after it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.exceptions import HTTPException
from starlette.requests import Request

from trainer.web import state

CSRF_COOKIE = "trainer_csrf"
CSRF_FIELD = "csrf_token"
SESSION_COOKIE = "trainer_session"


def new_cookie_value() -> str:
    return secrets.token_urlsafe(32)


def token_for(secret_key: str, cookie_value: str, session_cookie: str | None) -> str:
    message = f"csrf:{cookie_value}:{session_cookie or ''}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def verify(request: Request, submitted: str | None) -> None:
    """Raise 403 unless `submitted` is the token for this browser's cookies."""
    cookie_value = request.cookies.get(CSRF_COOKIE)
    secret_key = state.settings(request).secret_key
    if not cookie_value or not submitted:
        raise HTTPException(status_code=403, detail="csrf")
    expected = token_for(secret_key, cookie_value, request.cookies.get(SESSION_COOKIE))
    if not hmac.compare_digest(expected, submitted):
        raise HTTPException(status_code=403, detail="csrf")
