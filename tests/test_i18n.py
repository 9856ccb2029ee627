"""Every interface string is translated into Chinese, with the same placeholders."""

from __future__ import annotations

import re

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from trainer.config import PROJECT_ROOT
from trainer.web.i18n import CATALOG_DIR, negotiate, normalise_language, translations

_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%%")


def source_messages() -> set[str]:
    method_map = [("trainer/**.py", "python"), ("trainer/templates/**.html", "jinja2")]
    options = {
        "trainer/templates/**.html": {
            "extensions": "jinja2.ext.i18n",
            "trim_blocks": "true",
            "lstrip_blocks": "true",
        }
    }
    found = set()
    for _, _, message, _, _ in extract_from_dir(
        PROJECT_ROOT,
        method_map,
        options_map=options,
        keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "DomainError": (3,)},
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def catalogue() -> dict[str, object]:
    with (CATALOG_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        po = read_po(handle, locale="zh_CN")
    return {(m.id[0] if isinstance(m.id, tuple) else m.id): m for m in po if m.id}


def test_every_interface_string_has_a_chinese_translation() -> None:
    messages = source_messages()
    assert len(messages) > 50
    entries = catalogue()
    missing = sorted(m for m in messages if m not in entries)
    assert missing == [], "run pybabel extract/update (see the .po header) and translate"
    for message in messages:
        entry = entries[message]
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)  # type: ignore[attr-defined]
        assert all(strings), f"untranslated: {message!r}"
        assert "fuzzy" not in entry.flags, f"fuzzy: {message!r}"  # type: ignore[attr-defined]
        for translated in strings:
            assert sorted(_PLACEHOLDER.findall(translated)) == sorted(_PLACEHOLDER.findall(message)), message


def test_no_stale_entries_in_the_catalogue() -> None:
    assert set(catalogue()) - source_messages() == set()


def test_catalogue_loads_and_translates() -> None:
    zh = translations("zh-CN")
    assert zh.gettext("Courses") == "课程"
    assert zh.ngettext("%(num)d module", "%(num)d modules", 3) % {"num": 3} == "3 个模块"
    assert translations("en").gettext("Courses") == "Courses"


def test_language_names_are_normalised() -> None:
    assert normalise_language("zh") == "zh-CN"
    assert normalise_language("zh_Hans_CN") == "zh-CN"
    assert normalise_language("EN-gb") == "en"
    assert normalise_language("fr") is None
    assert normalise_language("") is None


def test_accept_language_quality_values_are_respected() -> None:
    from starlette.requests import Request

    def request(header: str, cookie: str = "") -> Request:
        headers = [(b"accept-language", header.encode())]
        if cookie:
            headers.append((b"cookie", f"trainer_lang={cookie}".encode()))
        return Request({"type": "http", "headers": headers})

    assert negotiate(request("en;q=0.5, zh-CN;q=0.9"), "en") == "zh-CN"
    assert negotiate(request("zh;q=0, en"), "zh-CN") == "en"
    assert negotiate(request("de, fr"), "zh-CN") == "zh-CN"
    assert negotiate(request("en;q=bad"), "zh-CN") == "zh-CN"
    assert negotiate(request("en", cookie="zh-CN"), "en") == "zh-CN"
