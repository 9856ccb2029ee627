"""Request plumbing shared by every response: the client's address and scheme (from a trusted
proxy's headers only), language, CSRF cookie, security headers, the request id (X-Request-ID),
and the request's count, duration and (with TRAINER_LOG_FORMAT=json) its access log line.

A plain ASGI middleware rather than Starlette's BaseHTTPMiddleware, which costs a task and a
stream copy per request on the hottest paths (module pages, answer saves).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from http.cookies import SimpleCookie

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trainer import logs, metrics
from trainer.config import Settings
from trainer.web import csrf
from trainer.web.i18n import negotiate
from trainer.web.pages import is_api

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


# Over HTTPS: browsers keep to HTTPS for a year (set only on responses that came over HTTPS).
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
# JSON is personal (a person's record, attempts, certificates) or as of now (verification): no
# browser or proxy keeps a copy.
NO_STORE = (b"cache-control", b"no-store")
MAX_ADDRESS_LENGTH = 45  # the longest textual IPv6 address
REQUEST_ID_HEADER = b"x-request-id"
# Methods counted under their own name; anything else a client invents is "other" (a label per
# invented method would let any client grow the metrics without bound).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
access_log = logging.getLogger(logs.ACCESS_LOGGER)

_DEFAULT_HEADERS = [
    (name.encode(), value.encode())
    for name, value in {**SECURITY_HEADERS, "vary": "Accept-Language, Cookie"}.items()
]


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.proxies = settings.trusted_proxy_networks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        if self.proxies:
            _believe_proxy(scope, self.proxies)
        request = Request(scope)
        state = scope.setdefault("state", {})
        rid = state["request_id"] = logs.request_id(
            next((value for name, value in scope["headers"] if name == REQUEST_ID_HEADER), None)
        )
        logs.current.set(scope)  # the request's task (and its worker threads) only: not reset
        state["lang"] = negotiate(request, self.settings.default_language)
        new_cookie = None
        if is_api(scope):
            # JSON only (errors included: trainer.web.errors): no form to sign, no cookie to set.
            # Exam day's starts, saves and submits skip a random cookie value and an HMAC each.
            state["csrf_token"] = ""
        else:
            cookie_value = request.cookies.get(csrf.CSRF_COOKIE)
            if not cookie_value:
                cookie_value = new_cookie = csrf.new_cookie_value()
            state["csrf_token"] = csrf.token_for(
                self.settings.secret_key, cookie_value, request.cookies.get(csrf.SESSION_COOKIE)
            )
        secure = scope.get("scheme") == "https"
        status = 500  # until a response starts: an exception escaping the app becomes a 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # Raw header pairs: this runs on every response, so no header-object parsing.
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(pair for pair in _DEFAULT_HEADERS if pair[0] not in present)
                if REQUEST_ID_HEADER not in present:
                    headers.append((REQUEST_ID_HEADER, rid.encode("ascii")))
                if secure:
                    headers.append(HSTS)
                if b"cache-control" not in present and any(
                    name.lower() == b"content-type" and b"json" in value for name, value in headers
                ):
                    headers.append(NO_STORE)
                if new_cookie and any(
                    name.lower() == b"content-type" and value.startswith(b"text/html")
                    for name, value in headers
                ):
                    headers.append((b"set-cookie", _cookie(new_cookie, secure).encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self._account(scope, status, time.perf_counter() - started)

    def _account(self, scope: Scope, status: int, seconds: float) -> None:
        """Count and time the request under its route template; its access line in JSON mode
        (in text mode uvicorn writes its own)."""
        route = logs.route_of(scope)
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
        metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
        metrics.HTTP_DURATION.labels(route, method).observe(seconds)
        if self.settings.log_format == "json":
            duration_ms = round(seconds * 1000, 2)
            access_log.info(
                "%s %s %d", method, route, status, extra={"status": status, "duration_ms": duration_ms}
            )


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


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if not text or len(text) > MAX_ADDRESS_LENGTH:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _believe_proxy(scope: Scope, proxies: tuple[Network, ...]) -> None:
    """If the connection comes from a trusted proxy, take the client's address from
    X-Forwarded-For (the nearest address not itself a trusted proxy; a malformed entry ends the
    search) and the scheme from X-Forwarded-Proto. From anyone else both are ignored, so a client
    cannot pick a fresh address per guess to slip past throttling."""

    def trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        return address is not None and any(address in network for network in proxies)

    client = scope.get("client")
    if not client or not trusted(_address(str(client[0]))):
        return
    forwarded_for = proto = None
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-for":
            forwarded_for = value.decode("latin-1")
        elif name == b"x-forwarded-proto":
            proto = value.decode("latin-1").strip().lower()
    if forwarded_for:
        for entry in reversed(forwarded_for.split(",")):
            address = _address(entry)
            if address is None:
                break  # not an address: believe nothing further out
            if not trusted(address):
                scope["client"] = (str(address), 0)
                break
    if proto in ("http", "https"):
        scope["scheme"] = proto
