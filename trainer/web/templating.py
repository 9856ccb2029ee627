"""Jinja2 set-up: one environment per interface language, each with its gettext catalogue.

Templates mirror the domain folders (`templates/content/…`). Autoescaping is on everywhere; the
only HTML marked safe is content that went through the sanitiser in `trainer.content.render`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from trainer.access import Viewer
from trainer.config import SUPPORTED_LANGUAGES, Settings
from trainer.i18n import (
    DOMAIN_LABELS,
    REGULATION_STATUS_LABELS,
    ROLE_LABELS,
    STATE_DESCRIPTIONS,
    STATE_LABELS,
    UNIT_KIND_LABELS,
)
from trainer.localtime import LocalTimes
from trainer.web.i18n import LANGUAGE_NAMES, translations

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
PAGE_CACHE_SIZE = 1024  # the sample library needs ~100 entries; a page is ~10-30 KB
ACCOUNT_CACHE_SIZE = 4096  # signed-in headers: one per language, name and roles (~1 KB each)
# Private-use characters: never in content, untouched by autoescaping.
_SLOTS = ("csrf_token", "current_url", "account_html")  # *_html slots hold rendered HTML
_SLOT_MARKERS = {name: f"\ue000{name}\ue001" for name in _SLOTS}
_SLOT_SPLIT = re.compile("\ue000(" + "|".join(_SLOTS) + ")\ue001")


def _current_url(request: Request) -> str:
    """Path and query as the browser sent them (cheaper than building `request.url`)."""
    path: str = request.scope["path"]
    query: bytes = request.scope.get("query_string", b"")
    return path + ("?" + query.decode("latin-1") if query else "")


class Templates:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalogues = {lang: translations(lang) for lang in SUPPORTED_LANGUAGES}
        self.environments = {lang: self._environment(lang) for lang in SUPPORTED_LANGUAGES}
        self._pages: dict[tuple[object, ...], list[str]] = {}
        self._anonymous_account: dict[str, str] = {}
        self._signed_in_account: dict[tuple[str, str, frozenset[str]], str] = {}

    def _environment(self, lang: str) -> Environment:
        env = Environment(
            loader=FileSystemLoader(TEMPLATE_DIR),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=self.settings.content_reload,
        )
        env.install_gettext_translations(self.catalogues[lang], newstyle=True)  # type: ignore[attr-defined]
        env.globals.update(
            lang=lang,
            language_names=LANGUAGE_NAMES,
            languages=SUPPORTED_LANGUAGES,
            domain_labels=DOMAIN_LABELS,
            regulation_status_labels=REGULATION_STATUS_LABELS,
            role_labels=ROLE_LABELS,
            unit_kind_labels=UNIT_KIND_LABELS,
            state_labels=STATE_LABELS,
            state_descriptions=STATE_DESCRIPTIONS,
            static=self.static_url,
        )
        times = self.local_times(lang)
        env.globals["local_times"] = times
        env.filters.update(
            local_datetime=times.when,
            local_date=times.day,
            local_time=times.clock,
            local_iso=times.iso,
            calendar_date=times.calendar,
        )
        return env

    @cached_property
    def _static_versions(self) -> dict[str, str]:
        versions = {}
        for path in self.settings.static_dir.rglob("*"):
            if path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
                versions[path.relative_to(self.settings.static_dir).as_posix()] = digest
        return versions

    def static_url(self, name: str) -> str:
        """A URL that changes when the file does, so browsers may cache it for long."""
        return f"/static/{name}?v={self._static_versions.get(name, '0')}"

    def local_times(self, lang: str) -> LocalTimes:
        """Dates and times in the installation's zone, as `lang` writes them (exports, views)."""
        return LocalTimes(self.settings.zone, lang, self.catalogues[lang].gettext)

    def gettext(self, lang: str) -> Callable[[str], str]:
        """Translate in Python code (exports, headers) with the same catalogue as the pages."""
        return self.catalogues[lang].gettext

    def render(
        self,
        request: Request,
        name: str,
        context: dict[str, Any],
        status_code: int = 200,
        cache_key: tuple[object, ...] | None = None,
        *,
        lang: str | None = None,
    ) -> HTMLResponse:
        """Render a page; with `cache_key`, render it once and reuse it.

        Library pages are the same for every reader of a language except for a few per-request
        values (the CSRF token, the current URL for the language form). A cached page is
        rendered once with markers in those places, split there, and each request joins the
        parts around its own, escaped, values. `cache_key` must name everything else the page
        depends on, the library generation included. Pages are never cached while an author's
        problems are being shown.

        `lang` renders the page in another language than the request's: a paper is shown in
        the language it was started in, labels and all.
        """
        if lang not in self.environments:
            lang = request.state.lang
        assert lang is not None
        slots = {"csrf_token": request.state.csrf_token, "current_url": _current_url(request)}
        slots["account_html"] = self._account_html(lang, getattr(request.state, "viewer", None), slots)
        viewer = getattr(request.state, "viewer", None)
        author_problems = getattr(request.state, "author_problems", None)
        if author_problems is None:  # every page, not just the library's, tells the author
            store = getattr(request.app.state, "content", None)
            author_problems = store.problems if store is not None else ()
        if viewer is None or not viewer.has_role("trainer"):
            author_problems = ()  # file paths and parser messages are for authors (and admins) only
        if cache_key is None or author_problems:
            page = self._render(
                lang,
                name,
                {
                    **context,
                    **slots,
                    "account_html": Markup(slots["account_html"]),  # noqa: S704
                    "author_problems": author_problems,
                },
            )
            return HTMLResponse(page, status_code=status_code)
        key = (lang, name, *cache_key)
        parts = self._pages.get(key)
        if parts is None:
            page = self._render(lang, name, {**context, **_SLOT_MARKERS, "author_problems": ()})
            parts = _SLOT_SPLIT.split(page)
            if len(self._pages) >= PAGE_CACHE_SIZE:
                self._pages.clear()  # crude but bounded; the whole sample library fits many times
            self._pages[key] = parts
        # Odd positions are slot names (the split pattern's group), even ones literal HTML.
        page = "".join(
            part if i % 2 == 0 else slots[part] if part.endswith("_html") else escape(slots[part])
            for i, part in enumerate(parts)
        )
        return HTMLResponse(page, status_code=status_code)

    def _account_html(self, lang: str, viewer: Viewer | None, slots: dict[str, str]) -> str:
        """The header's sign-in link, or the signed-in person's name and sign-out form."""
        if viewer is not None:
            # Rendered once per language, name and roles (all it shows), with the CSRF token put
            # in per request: a signed-in page would otherwise pay a template render for it.
            key = (lang, viewer.full_name, viewer.roles)
            signed_in = self._signed_in_account.get(key)
            if signed_in is None:
                signed_in = self._render(lang, "_account.html", {"viewer": viewer, **_SLOT_MARKERS})
                if len(self._signed_in_account) >= ACCOUNT_CACHE_SIZE:
                    self._signed_in_account.clear()
                self._signed_in_account[key] = signed_in
            return signed_in.replace(_SLOT_MARKERS["csrf_token"], str(escape(slots["csrf_token"])))
        anonymous = self._anonymous_account.get(lang)
        if anonymous is None:
            anonymous = self._render(lang, "_account.html", {"viewer": None, **_SLOT_MARKERS})
            self._anonymous_account[lang] = anonymous
        # Here the current URL is a query parameter (/login?next=…), so it is URL-encoded too.
        return anonymous.replace(
            _SLOT_MARKERS["current_url"], str(escape(quote(slots["current_url"], safe="/")))
        )

    def _render(self, lang: str, name: str, context: dict[str, Any]) -> str:
        return self.environments[lang].get_template(name).render(**context)
