"""Interface languages: the catalogues, and which language a request is answered in.

Interface text is written in English in the code and templates and translated through gettext
catalogues (`trainer/i18n/<locale>/LC_MESSAGES/messages.po`), read directly at start-up so there
is no compile step to forget. The language is the user's choice (a cookie set by the language
form), else the browser's Accept-Language, else TRAINER_DEFAULT_LANGUAGE.
"""

from __future__ import annotations

import io
from functools import cache, lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from starlette.requests import Request

from trainer.config import SUPPORTED_LANGUAGES

CATALOG_DIR = Path(__file__).resolve().parent.parent / "i18n"
LANGUAGE_COOKIE = "trainer_lang"
LANGUAGE_NAMES = {"en": "English", "zh-CN": "中文"}


def locale_dir_name(lang: str) -> str:
    return lang.replace("-", "_")


@cache
def translations(lang: str) -> NullTranslations:
    """The gettext catalogue for `lang` (English is the source language: no catalogue)."""
    if lang == "en":
        return NullTranslations()
    po_file = CATALOG_DIR / locale_dir_name(lang) / "LC_MESSAGES" / "messages.po"
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=locale_dir_name(lang))
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


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
