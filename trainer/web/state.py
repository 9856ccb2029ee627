"""Typed access to what the app factory puts on `app.state` (Starlette types it as Any)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, cast

from starlette.requests import Request

if TYPE_CHECKING:
    from trainer.access import Viewer
    from trainer.config import Settings
    from trainer.db import Database
    from trainer.web.templating import Templates


@dataclass(frozen=True)
class Sessions:
    """How the page wrapper finds who a session cookie belongs to. The sign-in side
    (`trainer.people.auth`) provides both lookups and the app factory registers them here, so the
    plumbing knows no domain."""

    remembered: Callable[[Database, Settings, str, datetime], Viewer | None]  # memory only: no I/O
    load: Callable[[Database, Settings, str, datetime], Viewer | None]  # the database (a worker thread)


def settings(request: Request) -> Settings:
    return cast("Settings", request.app.state.settings)


def database(request: Request) -> Database:
    return cast("Database", request.app.state.database)


def templates(request: Request) -> Templates:
    return cast("Templates", request.app.state.templates)


def sessions(request: Request) -> Sessions:
    return cast("Sessions", request.app.state.sessions)
