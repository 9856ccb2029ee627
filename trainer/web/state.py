"""Typed access to what the app factory puts on `app.state` (Starlette types it as Any)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from starlette.requests import Request

if TYPE_CHECKING:
    from trainer.config import Settings
    from trainer.content.store import ContentStore
    from trainer.db import Database
    from trainer.web.templating import Templates


def settings(request: Request) -> Settings:
    return cast("Settings", request.app.state.settings)


def database(request: Request) -> Database:
    return cast("Database", request.app.state.database)


def content(request: Request) -> ContentStore:
    return cast("ContentStore", request.app.state.content)


def templates(request: Request) -> Templates:
    return cast("Templates", request.app.state.templates)
