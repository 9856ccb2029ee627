"""The one error type for a request the rules refuse, whatever the domain.

A service raises `DomainError(status, code, message, **extra)`; one handler
(`trainer.web.errors`) answers it, on an API path as JSON and on a page as the error page with
the message in the reader's language. Views and API handlers do not catch it to translate it
to HTTP. They catch it only where the page has more to do than say no: a form shown again with
its problems beside what was typed.

- `status`: the HTTP status to answer with (403, 404, 409, 413, 422…).
- `code`: a stable machine string for clients ("attempt_closed", "no_such_attempt").
- `message`: an English msgid (extracted for translation: see `DomainError` in the .po
  header's extract command), with `%(name)s` placeholders filled from `extra`.
- `extra`: what else a client needs, sent beside the message: `retry_after` (seconds, also sent
  as a Retry-After header), `missing_modules`, `locked`, `problems` (every msgid of a rejected
  form when there is more than one)…

The API body is `{"detail": {"message": ..., "code": ..., **extra}}`, with the message in
English (clients show their own text or match `code`).

Bottom layer: imports nothing of the product.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _same(message: str) -> str:
    return message


class DomainError(Exception):
    """A request the rules refuse; answered the same way by every page and API route."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    @property
    def problems(self) -> list[str]:
        """Every msgid of a rejected form (one, unless the service found several)."""
        problems: list[str] = self.extra.get("problems") or [self.message]
        return problems

    def text(self, gettext: Callable[[str], str] = _same) -> str:
        """The message, translated by `gettext` (English by default), placeholders filled."""
        translated = gettext(self.message)
        return translated % self.extra if "%(" in translated else translated

    def body(self) -> dict[str, Any]:
        """The API answer's `detail`."""
        return {"message": self.text(), "code": self.code, **self.extra}

    def headers(self) -> dict[str, str] | None:
        retry_after = self.extra.get("retry_after")
        return {"Retry-After": str(retry_after)} if retry_after is not None else None


def rejected(code: str, problems: list[str]) -> DomainError:
    """Input refused for one or more reasons (each a msgid, shown beside the form): a 400 whose
    message is the first reason and whose `problems` are all of them."""
    return DomainError(400, code, problems[0], problems=problems)
