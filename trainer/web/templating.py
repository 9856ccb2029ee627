"""Jinja2 set-up: one environment per interface language, each with its gettext catalogue.

Templates mirror the domain folders (`templates/content/…`). Autoescaping is on everywhere; the
only HTML marked safe is content that went through the sanitiser in `trainer.content.render`.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from trainer.config import SUPPORTED_LANGUAGES, Settings
from trainer.web.i18n import LANGUAGE_NAMES, translations

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


def N_(message: str) -> str:  # noqa: N802 (gettext convention)
    """Mark a string for translation where it is defined; it is translated where it is shown."""
    return message


DOMAIN_LABELS = {
    "enforcement": N_("Enforcement law and procedure"),
    "coal": N_("Coal mines"),
    "gas": N_("Gas"),
    "hazchem": N_("Hazardous chemicals"),
    "fire": N_("Fire safety"),
    "emergency": N_("Emergency response"),
}


class Templates:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.environments = {lang: self._environment(lang) for lang in SUPPORTED_LANGUAGES}

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
        env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
        env.globals.update(
            lang=lang,
            language_names=LANGUAGE_NAMES,
            languages=SUPPORTED_LANGUAGES,
            domain_labels=DOMAIN_LABELS,
            static=self.static_url,
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

    def render(
        self, request: Request, name: str, context: dict[str, Any], status_code: int = 200
    ) -> HTMLResponse:
        lang: str = request.state.lang
        template = self.environments[lang].get_template(name)
        page = template.render(
            request=request,
            csrf_token=request.state.csrf_token,
            current_path=request.url.path,
            author_problems=getattr(request.state, "author_problems", ()),
            **context,
        )
        return HTMLResponse(page, status_code=status_code)
