"""Markdown to safe HTML.

Python-Markdown does not sanitise, so two walls stand between a module file and the page:
raw HTML is switched off in the parser (it comes out as visible, escaped text), and every
fragment then passes through nh3 with an allowlist of tags, attributes, classes and URL schemes.
Only the output of `render_markdown` is ever marked safe in a template; content is never rendered
through Jinja (that would be template injection).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import markdown
import nh3
from markdown.extensions import Extension
from markdown.extensions.toc import slugify_unicode
from markdown.treeprocessors import Treeprocessor

CALLOUT_KINDS = ("note", "warning", "danger", "regulation", "case-study")

# Default call-out titles in each content language, used when the author gives none.
_CALLOUT_TITLES = {
    "en": {
        "note": "Note",
        "warning": "Warning",
        "danger": "Danger",
        "regulation": "Regulation",
        "case-study": "Case study",
    },
    "zh-CN": {
        "note": "提示",
        "warning": "警告",
        "danger": "危险",
        "regulation": "法规依据",
        "case-study": "案例",
    },
}

_TAGS = {
    "p",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "a",
    "img",
    "strong",
    "em",
    "b",
    "i",
    "code",
    "pre",
    "blockquote",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "hr",
    "br",
    "sup",
    "sub",
    "div",
    "abbr",
    "dl",
    "dt",
    "dd",
    "del",
    "caption",
}
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "loading"},
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
    "h5": {"id"},
    "h6": {"id"},
    "sup": {"id"},
    "li": {"id"},
    "ol": {"start"},
    "abbr": {"title"},
}
_CLASSES = {
    "div": {"admonition", "footnote", *CALLOUT_KINDS},
    "p": {"admonition-title"},
    "a": {"footnote-ref", "footnote-backref"},
    "th": {"align-left", "align-center", "align-right"},
    "td": {"align-left", "align-center", "align-right"},
}
_URL_SCHEMES = {"http", "https", "mailto"}

_ALIGN = re.compile(r"text-align:\s*(left|center|right)")


@dataclass(frozen=True)
class TocEntry:
    id: str
    title: str
    level: int
    children: tuple[TocEntry, ...]


@dataclass(frozen=True)
class Rendered:
    html: str
    toc: tuple[TocEntry, ...]
    text: str  # plain text, for search and word counts


LinkRewriter = Callable[[str, str], str | None]
"""(url, "a" or "img") -> the URL to use, or None to leave it unchanged."""


class _PageTreeprocessor(Treeprocessor):
    """Rewrites relative links, turns table alignment into classes (CSP forbids inline style),
    and gives call-outs a title in the module's language."""

    def __init__(self, md: markdown.Markdown, extension: _PageExtension) -> None:
        super().__init__(md)
        self.extension = extension

    def run(self, root: ElementTree.Element) -> None:
        rewrite = self.extension.rewrite
        titles = _CALLOUT_TITLES.get(self.extension.lang, _CALLOUT_TITLES["en"])
        for element in root.iter():
            if element.tag == "a" and rewrite is not None:
                new = rewrite(element.get("href", ""), "a")
                if new is not None:
                    element.set("href", new)
            elif element.tag == "img":
                if rewrite is not None:
                    new = rewrite(element.get("src", ""), "img")
                    if new is not None:
                        element.set("src", new)
                element.set("loading", "lazy")
            elif element.tag in ("th", "td") and "style" in element.attrib:
                match = _ALIGN.search(element.attrib.pop("style"))
                if match:
                    element.set("class", f"align-{match.group(1)}")
            elif element.tag == "div" and "admonition" in element.get("class", "").split():
                kinds = [c for c in element.get("class", "").split() if c in CALLOUT_KINDS]
                title = element.find("p")
                # Python-Markdown titles an untitled call-out "Warning", "Case-study": localise it.
                if (
                    kinds
                    and title is not None
                    and title.get("class") == "admonition-title"
                    and (title.text or "") == kinds[0].capitalize()
                ):
                    title.text = titles[kinds[0]]


class _PageExtension(Extension):
    def __init__(self) -> None:
        super().__init__()
        self.rewrite: LinkRewriter | None = None
        self.lang = "en"

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 (Markdown's API)
        # Raw HTML off: block-level HTML and inline tags are left as text, and escaped.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_PageTreeprocessor(md, self), "trainer_page", 0)


class MarkdownRenderer:
    """Not thread-safe (Python-Markdown keeps state): one per loading run."""

    def __init__(self) -> None:
        self._page = _PageExtension()
        self._md = markdown.Markdown(
            extensions=["tables", "footnotes", "toc", "fenced_code", "admonition", "sane_lists", self._page],
            extension_configs={
                "toc": {"toc_depth": "2-3", "slugify": slugify_unicode},
                "footnotes": {"BACKLINK_TITLE": ""},
            },
            output_format="html",
        )

    def render(self, source: str, *, lang: str = "en", rewrite: LinkRewriter | None = None) -> Rendered:
        self._md.reset()
        self._page.rewrite = rewrite
        self._page.lang = lang
        raw = self._md.convert(source)
        tokens: list[dict[str, Any]] = getattr(self._md, "toc_tokens", [])
        safe = sanitize(raw)
        return Rendered(html=safe, toc=tuple(_toc(t) for t in tokens), text=plain_text(safe))


def sanitize(fragment: str) -> str:
    return nh3.clean(
        fragment,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        allowed_classes=_CLASSES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
        clean_content_tags={"script", "style"},
    )


def plain_text(fragment: str) -> str:
    text = nh3.clean(fragment.replace("<", " <"), tags=set(), clean_content_tags={"script", "style"})
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def _toc(token: dict[str, Any]) -> TocEntry:
    return TocEntry(
        id=token["id"],
        title=html.unescape(re.sub(r"<[^>]+>", "", token["name"])),
        level=token["level"],
        children=tuple(_toc(child) for child in token.get("children", [])),
    )


_LATIN_WORD = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")
_CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def count_words(text: str) -> int:
    """Latin words plus CJK characters (the usual measure of Chinese text length)."""
    return len(_LATIN_WORD.findall(text)) + len(_CJK_CHAR.findall(text))
