"""Log lines for people (the default) or one JSON object per line for a log collector
(`TRAINER_LOG_FORMAT=json`), each carrying the request it was written during.

The request plumbing (trainer.web.middleware) puts the request's ASGI scope in `current` when a
request arrives; a line written while it is handled, on the event loop or in a worker thread
(which runs in a copy of the context, so it sees the same scope), names its request id, route
template, method and, once known, the person's id. The scope is read, never copied: the
person becomes known half-way through (`request.state.viewer`), and the line written at the
end sees it.

What a line may carry is fixed here and nowhere else: the fields below, and the message, which
the app writes itself. Never a password, token, cookie, answer or key: the app does not log
request bodies, headers or query strings; the route is the template (`/api/attempts/{attempt_id}`),
not the path; and the database engine hides statement parameters from its error messages
(trainer.db), which would otherwise carry an answer or a password hash into a logged error.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"
ACCESS_LOGGER = "trainer.access"

current: ContextVar[MutableMapping[str, Any] | None] = ContextVar("trainer_request_scope", default=None)

# An incoming X-Request-ID (from a proxy that made one) is kept only if it is short and plain:
# it is echoed in a header, on error pages and into every log line, so it must not carry markup,
# line breaks or anything a reader could mistake for another field.
_SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def request_id(incoming: bytes | None) -> str:
    """The incoming id if it is a safe token (1-64 letters, digits, `.`, `_`, `:`, `-`), else a new
    random one (16 hex digits)."""
    if incoming and _SAFE_REQUEST_ID.fullmatch(incoming):
        return incoming.decode("ascii")
    return secrets.token_hex(8)


def route_of(scope: MutableMapping[str, Any]) -> str:
    """The template of the route that answered (`/attempts/{attempt_id}`), or "unmatched"."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


def request_fields(scope: MutableMapping[str, Any] | None) -> dict[str, Any]:
    if scope is None:
        return {}
    state = scope.get("state") or {}
    fields: dict[str, Any] = {
        "request_id": state.get("request_id"),
        "route": route_of(scope),
        "method": scope.get("method"),
    }
    viewer = state.get("viewer")
    person = getattr(viewer, "id", None)
    if person is not None:
        fields["person_id"] = person
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the request's
    fields, and status and duration_ms on access lines; a traceback under "error"."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(request_fields(current.get()))
        for extra in ("status", "duration_ms"):
            value = record.__dict__.get(extra)
            if value is not None:
                line[extra] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def logging_config(log_format: LogFormat, level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` for the app and uvicorn (handed to uvicorn as its
    `log_config`, so each worker process sets it up too)."""
    formatter: dict[str, Any] = (
        {"()": "trainer.logs.JsonFormatter"} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            # uvicorn's own loggers write through the root handler, in the same format.
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": level, "propagate": True},
        },
    }
