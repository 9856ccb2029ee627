"""A corpus of XSS payloads in module files leaves nothing executable in the served page."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ContentDirs
from trainer.app import create_app
from trainer.content.render import MarkdownRenderer

PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<script>/*</script><script>*/alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<img src="x" onerror="alert(1)">',
    "<IMG SRC=javascript:alert('XSS')>",
    "<img src=`javascript:alert(1)`>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<body onload=alert(1)>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<style>body{background:url(javascript:alert(1))}</style>",
    "<link rel=stylesheet href=//evil.example/x.css>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="//evil.example/">',
    '<form action="//evil.example"><input name=x></form>',
    "<details open ontoggle=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "<audio src=x onerror=alert(1)>",
    "<marquee onstart=alert(1)>x</marquee>",
    "<!--<img src=--><img src=x onerror=alert(1)//-->",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "<textarea><script>alert(1)</script></textarea>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](javascript&#58;alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](javascript:alert(1))",
    '[x](https://example.org" onmouseover="alert(1))',
    '![x" onerror="alert(1)](https://example.org/a.png)',
    "[ref]\n\n[ref]: javascript:alert(1)",
    '<https://example.org/" onclick="alert(1)>',
    "<javascript:alert(1)>",
    '# Heading {: onclick="alert(1)" }',
    'Paragraph\n{: onclick="alert(1)" style="x" }',
    "## Title {#x onclick=alert(1)}",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    '!!! note "<img src=x onerror=alert(1)>"\n    body',
    "Footnote[^x]\n\n[^x]: <script>alert(1)</script>",
    "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '"><script>alert(1)</script>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    # Aimed at the authoring form, which shows what was typed back in inputs and text areas.
    "</textarea><script>alert(1)</script>",
    '" autofocus onfocus="alert(1)',
    "' onmouseover='alert(1)",
    "</title><script>alert(1)</script>",
    '![x](assets/airflow.svg){: onerror="alert(1)" }',
    '<img src="assets/airflow.svg" onerror="alert(1)">',
    "]]><script>alert(1)</script>",
]

_SCRIPT_SCHEMES = ("javascript:", "vbscript:", "data:")
_FORBIDDEN_TAGS = {
    "script",
    "iframe",
    "object",
    "embed",
    "style",
    "base",
    "form",
    "input",
    "svg",
    "math",
    "video",
    "audio",
    "textarea",
    "noscript",
    "frame",
    "frameset",
    "applet",
}


_OWN_FORMS = {("/search", "get"), ("/language", "post")}
_OWN_FORM_ACTIONS = re.compile(r"^/(courses/[a-z0-9-]+/exam|modules/[a-z0-9-]+/practice)$")
_OWN_INPUTS = {("search", "q"), ("hidden", "csrf_token"), ("hidden", "next")}


def _is_own_form_part(tag: str, attrs: dict[str, str | None]) -> bool:
    """The site's search and language forms; the sanitiser lets no form or input through."""
    if tag == "form":
        action, method = attrs.get("action"), attrs.get("method")
        own = (action, method) in _OWN_FORMS or (method == "post" and _OWN_FORM_ACTIONS.match(action or ""))
        return bool(own) and len(attrs) <= 4
    if tag == "input":
        return (attrs.get("type"), attrs.get("name")) in _OWN_INPUTS and not any(
            name.startswith("on") for name in attrs
        )
    return False


class _Scanner(HTMLParser):
    """Collects everything in a page that a browser could execute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.dangers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if _is_own_form_part(tag, dict(attrs)):
            return
        if tag in _FORBIDDEN_TAGS:
            self.dangers.append(f"<{tag}>")
        if tag == "meta" and any(k == "http-equiv" for k, _ in attrs):
            self.dangers.append("<meta http-equiv>")
        if tag == "link" and dict(attrs).get("href", "").startswith("/static/") is False:  # type: ignore[union-attr]
            self.dangers.append("<link> to elsewhere")
        for name, value in attrs:
            if name.startswith("on"):
                self.dangers.append(f"{tag}[{name}]")
            if name in ("style", "srcdoc", "formaction"):
                self.dangers.append(f"{tag}[{name}]")
            if name in ("href", "src", "action", "data") and value is not None:
                cleaned = re.sub(r"[\x00-\x20]", "", value).lower()
                if cleaned.startswith(_SCRIPT_SCHEMES):
                    self.dangers.append(f"{tag}[{name}={value}]")


def executable_parts(page: str) -> list[str]:
    """Dangerous parts of a page (the site's own search and language forms are exempt)."""
    scanner = _Scanner()
    scanner.feed(page)
    return scanner.dangers


def test_a_clean_page_has_only_the_sites_own_forms(client: TestClient) -> None:
    page = client.get("/courses/demo-course/demo-second").text
    assert executable_parts(page) == []
    assert executable_parts(page + "<form></form>") == ["<form>"]


def test_the_scanner_finds_what_it_looks_for() -> None:
    assert executable_parts('<img src=x onerror="alert(1)">') == ["img[onerror]"]
    assert executable_parts('<a href=" javascript:alert(1)">x</a>') == ["a[href= javascript:alert(1)]"]
    assert executable_parts("<script>x</script>") == ["<script>"]


def test_the_corpus_is_large_enough() -> None:
    assert len(PAYLOADS) >= 60


@pytest.fixture
def reloading_client(make_settings, content: ContentDirs):  # type: ignore[no-untyped-def]
    app = create_app(make_settings(content, content_reload=True))
    with TestClient(app) as client:
        yield client
    app.state.database.dispose()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_in_module_body_is_inert(
    reloading_client: TestClient, content: ContentDirs, payload: str
) -> None:
    content.edit("courses/demo-course/02-second.md", "Sensors watch methane at the face.", payload)
    response = reloading_client.get("/courses/demo-course/demo-second")
    assert response.status_code == 200
    # A payload the check rejects (a level-1 heading, a link to a missing file) is shown to the
    # author in the problems banner instead: that page must be inert too.
    problems = reloading_client.app.state.content.problems  # type: ignore[attr-defined]
    if not problems:
        assert "Methane monitoring" in response.text
        assert "Sensors watch methane" not in response.text
    assert executable_parts(response.text) == []
    # And the renderer itself, whatever the check says.
    assert executable_parts(MarkdownRenderer().render(payload).html) == []


@pytest.mark.parametrize("payload", PAYLOADS[:12])
def test_payload_in_front_matter_is_escaped(
    reloading_client: TestClient, content: ContentDirs, payload: str
) -> None:
    quoted = payload.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    content.edit("courses/demo-course/02-second.md", "title: Methane monitoring", f'title: "{quoted}"')
    content.edit(
        "courses/demo-course/02-second.md",
        "summary: Sensors and what to do on an alarm.",
        f'summary: "{quoted}"',
    )
    for path in ("/courses/demo-course/demo-second", "/courses/demo-course", "/search?q=sensors"):
        response = reloading_client.get(path)
        assert response.status_code == 200
        assert executable_parts(response.text) == [], path
