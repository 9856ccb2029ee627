"""Request plumbing shared by every response: language, CSRF cookie, security headers.

A plain ASGI middleware rather than Starlette's BaseHTTPMiddleware, which costs a task and a
stream copy per request on the hottest paths (module pages, answer saves).
"""

from __future__ import annotations

from http.cookies import SimpleCookie

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trainer.config import Settings
from trainer.web import csrf
from trainer.web.i18n import negotiate

# No inline script or style anywhere: the pages need neither, and this makes injected markup inert.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


_DEFAULT_HEADERS = [
    (name.encode(), value.encode())
    for name, value in {**SECURITY_HEADERS, "vary": "Accept-Language, Cookie"}.items()
]


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        state = scope.setdefault("state", {})
        state["lang"] = negotiate(request, self.settings.default_language)
        cookie_value = request.cookies.get(csrf.CSRF_COOKIE)
        new_cookie = None
        if not cookie_value:
            cookie_value = new_cookie = csrf.new_cookie_value()
        state["csrf_token"] = csrf.token_for(
            self.settings.secret_key, cookie_value, request.cookies.get(csrf.SESSION_COOKIE)
        )
        secure = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Raw header pairs: this runs on every response, so no header-object parsing.
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(pair for pair in _DEFAULT_HEADERS if pair[0] not in present)
                if new_cookie and any(
                    name.lower() == b"content-type" and value.startswith(b"text/html")
                    for name, value in headers
                ):
                    headers.append((b"set-cookie", _cookie(new_cookie, secure).encode("latin-1")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _cookie(value: str, secure: bool) -> str:
    cookie: SimpleCookie = SimpleCookie()
    cookie[csrf.CSRF_COOKIE] = value
    morsel = cookie[csrf.CSRF_COOKIE]
    morsel["path"] = "/"
    morsel["httponly"] = True
    morsel["samesite"] = "Lax"
    if secure:
        morsel["secure"] = True
    return morsel.OutputString()
