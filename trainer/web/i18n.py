"""Interface languages: the catalogues, and which language a request is answered in.

Interface text is written in English in the code and templates and translated through gettext
catalogues (`trainer/i18n/<locale>/LC_MESSAGES/messages.po`), read directly at start-up so there
is no compile step to forget. The language is the user's choice (a cookie set by the language
form), else the browser's Accept-Language, else TRAINER_DEFAULT_LANGUAGE.
"""

from __future__ import annotations

from functools import lru_cache

from babel.support import NullTranslations
from starlette.requests import Request

from trainer.config import SUPPORTED_LANGUAGES
from trainer.i18n import CATALOG_DIR, catalogue, locale_dir_name

__all__ = ["CATALOG_DIR", "LANGUAGE_COOKIE", "LANGUAGE_NAMES", "locale_dir_name", "negotiate", "translations"]

LANGUAGE_COOKIE = "trainer_lang"
LANGUAGE_NAMES = {"en": "English", "zh-CN": "中文"}


def translations(lang: str) -> NullTranslations:
    """The gettext catalogue for `lang` (read once: see trainer.i18n.catalogue)."""
    return catalogue(lang)


def normalise_language(value: str | None) -> str | None:
    """Map 'zh', 'zh-cn', 'zh_Hans' ... and 'en-GB' ... onto a supported language, or None."""
    if not value:
        return None
    value = value.strip().replace("_", "-").lower()
    if value.startswith("zh"):
        return "zh-CN"
    if value == "en" or value.startswith("en-"):
        return "en"
    return None


def negotiate(request: Request, default: str) -> str:
    return _negotiate(
        request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language", ""), default
    )


@lru_cache(maxsize=1024)  # browsers send a handful of distinct headers; parse each once
def _negotiate(cookie: str | None, header: str, default: str) -> str:
    chosen = normalise_language(cookie)
    if chosen:
        return chosen
    weighted = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        lang = normalise_language(tag)
        if lang and quality > 0:
            weighted.append((-quality, position, lang))
    if weighted:
        return min(weighted)[2]
    return default if default in SUPPORTED_LANGUAGES else "en"
