"""Jinja2 set-up: one environment per interface language, each with its gettext catalogue.

Templates mirror the domain folders (`templates/content/…`). Autoescaping is on everywhere; the
only HTML marked safe is content that went through the sanitiser in `trainer.content.render`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from babel.dates import get_timezone_name
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from trainer import localtime
from trainer.access import Viewer
from trainer.config import SUPPORTED_LANGUAGES, Settings
from trainer.db import utcnow
from trainer.i18n import (
    DOMAIN_LABELS,
    N_,
    REGULATION_STATUS_LABELS,
    ROLE_LABELS,
    STATE_DESCRIPTIONS,
    STATE_LABELS,
    UNIT_KIND_LABELS,
)
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


# Zones whose name in a language is not CLDR's: in Chinese, China's one zone is 北京时间 (what
# clocks, broadcasts and documents say) rather than "中国标准时间". English shows the IANA name, as
# set in TRAINER_TIME_ZONE.
ZONE_NAMES = {"Asia/Shanghai": N_("Asia/Shanghai")}
# Dates as each language writes them: ISO in English (as before), 2027年1月1日 in Chinese (by hand:
# Babel's formatter costs ~50 us a date, felt on a list of 50 or an audit page of 100).
_DATE_FORMATS = {"en": "{0:%Y-%m-%d}", "zh-CN": "{0.year}年{0.month}月{0.day}日"}
_BABEL_LOCALES = {"en": "en", "zh-CN": "zh_CN"}


class LocalTimes:
    """Dates and times as a person reads them: in the installation's zone, in their language,
    with the zone named ("2026-12-03 19:49 (Asia/Shanghai, UTC+8)", "2026年12月3日 19:49（北京时间，
    UTC+8）"). The templates' filters; views and exports use the same methods."""

    def __init__(self, zone: ZoneInfo, lang: str, gettext: Callable[[str], str]) -> None:
        self.zone = zone
        self.lang = lang
        self.gettext = gettext
        self._locale = _BABEL_LOCALES.get(lang, "en")
        self._date = _DATE_FORMATS.get(lang, _DATE_FORMATS["en"])

    def zone_name(self, moment: datetime | None = None) -> str:
        key = self.zone.key
        if key in ZONE_NAMES:
            return self.gettext(ZONE_NAMES[key])
        if self.lang == "en":
            return key
        return get_timezone_name(localtime.local(moment or utcnow(), self.zone), "long", locale=self._locale)

    def zone_label(self, moment: datetime | None = None) -> str:
        """The zone and its offset at that moment (DST zones change offset): "Asia/Shanghai, UTC+8"."""
        at = moment or utcnow()
        return self.gettext("%(zone)s, %(offset)s") % {
            "zone": self.zone_name(at),
            "offset": localtime.utc_offset(at, self.zone),
        }

    def named(self, text: str, zone: str) -> str:
        return self.gettext("%(value)s (%(zone)s)") % {"value": text, "zone": zone}

    def heading(self, text: str) -> str:
        """A column heading for dates or times in the zone: "Expires (Asia/Shanghai)"."""
        return self.named(text, self.zone_name())

    def when(self, moment: datetime | None, *, seconds: bool = False, named: bool = True) -> str:
        if moment is None:
            return ""
        local = localtime.local(moment, self.zone)
        text = self._date.format(local) + local.strftime(" %H:%M:%S" if seconds else " %H:%M")
        return self.named(text, self.zone_label(moment)) if named else text

    def clock(self, moment: datetime | None, *, named: bool = True) -> str:
        if moment is None:
            return ""
        text = localtime.local(moment, self.zone).strftime("%H:%M")
        return self.named(text, self.zone_label(moment)) if named else text

    def day(self, moment: datetime | None, *, named: bool = False) -> str:
        """The calendar day in the zone (a certificate expiring at 2026-12-31 20:00 UTC expires
        on 2027-01-01 in Shanghai). Unnamed by default: tables name the zone in their heading."""
        if moment is None:
            return ""
        text = self._date.format(localtime.local(moment, self.zone))
        return self.named(text, self.zone_name(moment)) if named else text

    def iso(self, moment: datetime | None) -> str:
        """For `<time datetime=…>`: the moment with the zone's offset, as machines read it."""
        return localtime.local(moment, self.zone).isoformat() if moment is not None else ""


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
