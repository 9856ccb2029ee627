"""Authoring a module in a real Chromium, in English and in Chinese (issue 18, the module part),
on a desktop (and the draft, history and version pages at 360 px):

1. Trainer A opens Authoring from the account menu, edits an English module of the small test
   course (demo-first; in the Chinese interface demo-second, which has no translation, so the
   inspector reads the same file: a translation's regulations are not checked, the original's
   count). The UI edits existing modules and translations; it does not start new modules yet.
   A uploads a PNG with alt text and pastes the
   Markdown the page shows, writes a table and a call-out, cites an unknown regulation; Save and
   preview shows the problem with its file and line. A fixes it, sees the table, the call-out
   and the image rendered, and submits for review.
2. Trainer B sees it waiting, opens it (rendered text and line diff), requests changes with a
   comment; A sees the comment, fixes, submits again; B approves, which publishes.
3. An inspector on a second app (its own uvicorn, sharing nothing but the database, as app
   processes do) sees the new text and the image without a restart: the time from approval to
   visible is printed.
4. A restores the older version from the module's History; B approves; the inspector sees the
   older text again.

The older version is published before the journey through the service, as `trainer content
import` would (History needs two versions to restore one). Every draft, review and history
page passes axe with no violation at all. Screenshots:
test-artifacts/journey-authoring-<lang>-<step>.png."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, Response, expect

from tests import test_authoring, test_browser
from tests.conftest import ContentDirs, LiveServer, Person, make_person, serve
from tests.test_accessibility import AXE, Audit
from tests.test_browser import open_page, shot
from trainer.app import create_app
from trainer.audit import service as audit
from trainer.config import Settings
from trainer.content import publishing
from trainer.content.models import ContentDraft
from trainer.db import Database
from trainer.web.i18n import translations

# Publishes, as tests/test_authoring.py does: one worker, one at a time.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("content_versions")]
clean_content_tables = test_authoring.clean_content_tables  # no published version or image left
browser = test_browser.browser  # the module-scoped Chromium fixture

DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE_360 = {"viewport": {"width": 360, "height": 780}, "is_mobile": True, "has_touch": True}


@dataclass(frozen=True)
class Words:
    """What each journey writes, in its language."""

    module: str  # the module it edits (in English: the UI edits existing modules)
    path: str  # its file
    regulations: str  # the codes the file cites
    older: str  # a line of the older version, restored at the end
    heading: str
    table: str  # a cell of the table
    callout_title: str
    alt: str
    comment: str
    fix: str  # what A adds after the review


WORDS = {
    "en": Words(
        module="demo-first",
        path="demo-course/01-first.md",
        regulations="demo-law",
        older="Older guidance: walk the intake airway once a day.",
        heading="Main fan checks",
        table="Vibration within limits",
        callout_title="Stop the fan first",
        alt="The main fan at the shaft top",
        comment="Say who signs the fan record.",
        fix="The ventilation officer signs the fan record every shift.",
    ),
    "zh": Words(
        module="demo-second",
        path="demo-course/02-second.md",
        regulations="demo-law, other-rule",
        older="Older guidance: read the sensor log once a week.",
        heading="Sensor calibration",
        table="Calibrated this month",
        callout_title="Withdraw people first",
        alt="A methane sensor at the working face",
        comment="Say who calibrates the sensors.",
        fix="The monitoring technician calibrates every sensor monthly.",
    ),
}


@pytest.fixture
def two_processes(
    make_settings: Callable[..., Settings], content: ContentDirs
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two apps on the same database and files, each behind its own uvicorn, with the default
    content poll: the trainers use the first, the inspector the second."""
    settings = make_settings(content)
    apps = [create_app(settings), create_app(settings)]
    try:
        with serve(apps[0]) as first, serve(apps[1]) as second:
            yield first, second
    finally:
        for application in apps:
            application.state.content.close()
            application.state.database.dispose()


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), (30, 90, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


class Visit:
    """One person's browser (CSP bypassed so axe can be injected): sign-in, and per step a
    screenshot and, where asked, an axe audit."""

    def __init__(self, browser: Browser, lang: str, audit: Audit, **device: object) -> None:
        self.lang, self.audit = lang, audit
        self.gettext = translations("zh-CN" if lang == "zh" else "en").gettext
        self.used: set[str] = set()  # every label the journey looked for
        options = {**DESKTOP, **device}
        locale = "zh-CN" if lang == "zh" else "en-US"
        self.page, self.problems = open_page(browser, locale=locale, bypass_csp=True, **options)
        self.failed: list[str] = []  # every response of 400 or more, by method, status and path
        self.page.on("response", self._on_response)

    def _on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.request.method} {response.status} {response.url}")

    def _(self, message: str) -> str:
        self.used.add(message)
        return str(self.gettext(message))

    def untranslated(self) -> list[str]:
        """The labels the journey used that have no Chinese (the page would show English)."""
        return sorted(m for m in self.used if self.gettext(m) == m) if self.lang == "zh" else []

    def sign_in(self, url: str, person: Person) -> None:
        page, _ = self.page, self._
        page.goto(f"{url}/login")
        page.get_by_label(_("Username")).fill(person.username)
        page.get_by_label(_("Password")).fill(person.password)
        page.get_by_role("button", name=_("Sign in")).click()
        page.wait_for_url("**/dashboard")
        assert page.locator("html").get_attribute("lang") == ("zh-CN" if self.lang == "zh" else "en")

    def step(self, name: str, *, axe: bool = True) -> None:
        overflow = self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (name, overflow)
        shot(self.page, f"journey-authoring-{self.lang}-{name}")
        if axe:
            self.audit.run(self.page, f"{name} [{self.lang}]")


def image_loaded(page: Page, alt: str) -> bool:
    image = page.locator(f"img[alt='{alt}']")
    image.scroll_into_view_if_needed()  # the module pages load images lazily
    return bool(image.evaluate("img => img.decode().then(() => img.naturalWidth > 0, () => false)"))


def text_of(page: Page) -> str:
    return str(page.locator("main").inner_text())


def seen_within(page: Page, url: str, check: Callable[[str], bool], seconds: float = 15) -> float:
    """Reload `url` until `check` holds for the main text; the seconds it took."""
    began = time.monotonic()
    while True:
        page.goto(url)
        if check(text_of(page)):
            return time.monotonic() - began
        if time.monotonic() - began > seconds:
            raise AssertionError(f"not within {seconds} s: {url}")
        time.sleep(0.1)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_module_is_written_reviewed_published_and_restored_in_the_browser(
    browser: Browser,
    two_processes: tuple[LiveServer, LiveServer],
    content: ContentDirs,
    migrated_database: Database,
    lang: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if not AXE.exists():
        pytest.fail(f"axe-core not found at {AXE}: run `npm ci` (make test does)")
    first, second = two_processes
    words = WORDS[lang]
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "trainer")
    inspector = make_person(migrated_database, "inspector")
    audit_ = Audit(f"authoring journey {lang}")
    module_url = f"/courses/demo-course/{words.module}"

    # The older version: the file with one line more, published as an import would.
    older_text = (content.courses / words.path).read_text(encoding="utf-8") + f"\n{words.older}\n"
    with migrated_database.write() as db:
        older = publishing._publish(
            db, audit.SYSTEM, path=words.path, item_id=words.module, lang="en",
            text=older_text, by=None, draft_id=None,
        )  # fmt: skip
        older_id = older.id

    # The inspector reads the module on the second process: the older version, as published.
    reader = Visit(browser, lang, audit_)
    reader.sign_in(second.url, inspector)
    seen_within(reader.page, second.url + module_url, lambda text: words.older in text)

    # 1. A opens Authoring from the account menu and edits the module.
    a = Visit(browser, lang, audit_)
    page, _ = a.page, a._
    a.sign_in(first.url, author)
    page.get_by_role("link", name=_("Item statistics")).first.click()
    page.get_by_role("link", name=_("Authoring"), exact=True).click()
    page.wait_for_url("**/trainer/authoring")
    language = "English"  # the file's language (the interface's is the journey's)
    page.locator(f"#module-{words.module}").get_by_role(
        "button", name=_("Edit (%(language)s)") % {"language": _(language)}
    ).click()
    page.wait_for_url(re.compile(r".*/trainer/authoring/drafts/\d+$"))
    draft_url = page.url
    draft_id = int(draft_url.rsplit("/", 1)[1])
    assert page.locator("#draft-status").inner_text() == _("Being written")
    assert words.older in page.get_by_label(_("Text (Markdown: sections start with ##)")).input_value()
    a.step("01-draft")

    # ... uploads a picture with its alt text, and is given the Markdown to paste.
    page.get_by_label(_("Image file")).set_input_files(
        {"name": "Main fan.png", "mimeType": "image/png", "buffer": png()}
    )
    page.get_by_label(_("Alt text (what the picture shows, for readers who cannot see it)")).fill(words.alt)
    page.get_by_role("button", name=_("Upload image")).click()
    page.wait_for_url("**done=uploaded#images")
    assert page.get_by_role("status").inner_text() == _(
        "Image uploaded. Paste its Markdown (under Images) into the text where it belongs."
    )
    markdown = page.locator("#uploads code.image-markdown").inner_text()
    assert markdown == f"![{words.alt}](assets/main-fan.png)"
    a.step("02-image-uploaded")

    # ... writes a table, a call-out and the image in place of the older line, and cites an
    # unknown regulation.
    body = page.get_by_label(_("Text (Markdown: sections start with ##)"))
    section = (
        f"## {words.heading}\n\n"
        f"| {words.heading} | ✓ |\n|---|:-:|\n| {words.table} | ✓ |\n\n"
        f'!!! warning "{words.callout_title}"\n    {words.table}.\n\n'
        f"{markdown}\n"
    )
    body.fill(body.input_value().replace(words.older, section))
    regulations = page.get_by_label(_("Regulations cited (codes from regulations.yaml, separated by commas)"))
    assert regulations.input_value() == words.regulations
    regulations.fill(f"{words.regulations}, no-such-law")
    page.get_by_role("button", name=_("Save and preview")).click()
    page.wait_for_url("**done=saved#preview")
    assert page.get_by_role("status").inner_text() == _("Draft saved.")
    problems = page.locator("#draft-problems")
    with migrated_database.session() as db:
        saved = db.get_one(ContentDraft, draft_id).text
    line = next(n for n, text in enumerate(saved.splitlines(), 1) if "no-such-law" in text)
    expect(problems).to_contain_text(f"courses/{words.path}:{line}: unknown regulation 'no-such-law'")
    assert page.get_by_text(
        _("The library would not load with this draft; it cannot be submitted until these are fixed:")
    ).is_visible()
    a.step("03-problem-with-its-line")
    # The same page at 360 px: nothing wider than the screen, the long problem line included.
    phone = Visit(browser, lang, audit_, **PHONE_360)
    phone.sign_in(first.url, author)
    phone.page.goto(draft_url)
    expect(phone.page.locator("#draft-problems")).to_contain_text("no-such-law")
    phone.step("03-problem-phone-360")

    # Submitting anyway is refused, and the text is kept.
    page.get_by_role("button", name=_("Submit for review")).click()
    expect(page.locator("#form-errors")).to_have_text(
        _("The draft cannot be submitted: the library would not load with it.")
    )
    assert page.locator("#draft-status").inner_text() == _("Being written")
    assert words.table in page.get_by_label(_("Text (Markdown: sections start with ##)")).input_value()

    # A fixes it and sees the preview: the table, the call-out and the image.
    page.get_by_label(_("Regulations cited (codes from regulations.yaml, separated by commas)")).fill(
        words.regulations
    )
    page.get_by_role("button", name=_("Save and preview")).click()
    page.wait_for_url("**done=saved#preview")
    assert page.locator("#draft-ok").inner_text() == _("The library loads with this draft.")
    preview = page.locator("#preview article")
    expect(preview.locator("table td", has_text=words.table)).to_be_visible()
    expect(preview.locator("div.admonition.warning p.admonition-title")).to_have_text(words.callout_title)
    assert image_loaded(page, words.alt)
    assert page.locator("#diff .diff-add", has_text=f"| {words.table} |").count() == 1
    assert page.locator("#diff .diff-del", has_text=words.older).count() == 1
    a.step("04-preview")

    # ... and at 360 px.
    phone.page.goto(draft_url)
    assert image_loaded(phone.page, words.alt)
    phone.step("05-draft-phone-360")

    page.get_by_role("button", name=_("Submit for review")).click()
    page.wait_for_url("**done=submitted")
    assert page.get_by_role("status").inner_text() == _("Submitted for review.")
    assert page.locator("#draft-status").inner_text() == _("Waiting for review")
    assert page.get_by_text(_("Waiting for another trainer's review.")).is_visible()

    # 2. B sees it waiting, opens it and asks for a change.
    b = Visit(browser, lang, audit_)
    them = b.page
    b.sign_in(first.url, reviewer)
    them.goto(f"{first.url}/trainer/authoring")
    waiting = them.locator("#waiting")
    expect(waiting).to_contain_text(f"{words.module} ({_(language)})")
    b.step("06-waiting", axe=False)
    waiting.get_by_role("link", name=f"{words.module} ({_(language)})").click()
    them.wait_for_url(draft_url)
    assert them.locator("#draft-status").inner_text() == _("Waiting for review")
    expect(them.locator("#preview article table td", has_text=words.table)).to_be_visible()
    assert image_loaded(them, words.alt)
    expect(them.locator("#diff .diff-add", has_text=f"| {words.table} |")).to_be_visible()
    assert them.get_by_label(_("Text (Markdown: sections start with ##)")).count() == 0  # not B's to edit
    b.step("07-review")
    # By keyboard: type the comment, Tab past "Comment" to "Request changes", Enter.
    them.get_by_label(_("Comment (needed to request changes)")).focus()
    them.keyboard.type(words.comment)
    them.keyboard.press("Tab")
    them.keyboard.press("Tab")
    assert them.evaluate("document.activeElement.textContent") == _("Request changes")
    them.keyboard.press("Enter")
    them.wait_for_url("**done=reviewed")
    assert them.get_by_role("status").inner_text() == _("Your review is recorded.")
    assert them.locator("#draft-status").inner_text() == _("Changes requested")

    # A sees the comment, fixes, submits again.
    page.goto(draft_url)
    assert page.locator("#draft-status").inner_text() == _("Changes requested")
    latest = page.locator("#events > li").last
    expect(latest).to_contain_text(_("Changes requested"))
    expect(latest.locator("blockquote")).to_have_text(words.comment)
    a.step("08-changes-requested")
    body = page.get_by_label(_("Text (Markdown: sections start with ##)"))
    body.fill(body.input_value().replace(markdown, f"{markdown}\n\n{words.fix}"))
    page.get_by_role("button", name=_("Submit for review")).click()
    page.wait_for_url("**done=submitted")
    assert page.locator("#draft-status").inner_text() == _("Waiting for review")

    # B approves, which publishes.
    them.goto(draft_url)
    expect(them.locator("#preview article")).to_contain_text(words.fix)
    them.get_by_role("button", name=_("Approve and publish")).click()
    them.wait_for_url("**done=published")
    approved = time.monotonic()
    assert them.get_by_role("status").inner_text() == _(
        "Published: every app process serves it within a few seconds."
    )
    assert them.locator("#draft-status").inner_text() == _("Published")
    b.step("09-published", axe=False)

    # 3. The inspector, on the second process, sees it without a restart.
    seen_within(reader.page, second.url + module_url, lambda text: words.fix in text)
    seconds = time.monotonic() - approved
    with capsys.disabled():
        print(f"\n[{lang}] approval to visible on the second app process: {seconds:.2f} s")
    assert seconds < 10
    shown = text_of(reader.page)
    assert words.table in shown
    assert words.older not in shown
    assert reader.page.locator("article div.admonition.warning p.admonition-title").inner_text() == (
        words.callout_title
    )
    assert image_loaded(reader.page, words.alt)
    source = reader.page.locator(f"img[alt='{words.alt}']").get_attribute("src")
    assert source is not None
    response = reader.page.request.get(second.url + source if source.startswith("/") else source)
    assert response.status == 200
    assert response.headers["content-type"] == "image/png"
    reader.step("10-inspector-sees-it", axe=False)

    # 4. A restores the older version from the History ...
    page.goto(f"{first.url}/trainer/authoring")
    page.locator(f"#module-{words.module}").get_by_role("link", name=_("History")).click()
    page.wait_for_url(f"**/trainer/authoring/modules/{words.module}")
    versions = page.locator("#versions > li")
    assert versions.count() == 2
    expect(versions.nth(0)).to_contain_text(_("Version %(number)s") % {"number": 2})
    expect(versions.nth(0)).to_contain_text(f"Test {reviewer.username}")
    expect(versions.nth(1)).to_contain_text(_("imported from files"))
    a.step("11-history")
    versions.nth(1).get_by_role("link").click()
    page.wait_for_url(f"**/trainer/authoring/versions/{older_id}")
    expect(page.locator("#diff .diff-add", has_text=words.older)).to_be_visible()
    a.step("12-older-version")
    for path, name in (
        (f"modules/{words.module}", "11-history"),
        (f"versions/{older_id}", "12-older-version"),
    ):
        phone.page.goto(f"{first.url}/trainer/authoring/{path}")
        phone.step(f"{name}-phone-360")
    phone.page.context.close()
    page.get_by_role("button", name=_("Restore this version (through review)")).click()
    page.wait_for_url(re.compile(r".*/trainer/authoring/drafts/\d+$"))
    restore_url = page.url
    assert restore_url != draft_url
    expect(page.locator("p.meta").first).to_contain_text(_("restores version #%(id)s") % {"id": older_id})
    expect(page.locator("#diff .diff-add", has_text=words.older)).to_be_visible()
    expect(page.locator("#diff .diff-del", has_text=f"| {words.table} |")).to_be_visible()
    a.step("13-restore-draft")
    page.get_by_role("button", name=_("Submit for review")).click()
    page.wait_for_url("**done=submitted")

    # ... B approves it ...
    them.goto(f"{first.url}/trainer/authoring")
    them.locator("#waiting").get_by_role("link").click()
    them.wait_for_url(restore_url)
    them.get_by_role("button", name=_("Approve and publish")).click()
    them.wait_for_url("**done=published")
    restored = time.monotonic()

    # ... and the inspector reads the older text again.
    seen_within(
        reader.page, second.url + module_url, lambda text: words.older in text and words.fix not in text
    )
    seconds = time.monotonic() - restored
    with capsys.disabled():
        print(f"[{lang}] restore approval to visible on the second app process: {seconds:.2f} s")
    assert seconds < 10
    reader.step("14-inspector-sees-the-older-text", axe=False)

    page.goto(f"{first.url}/trainer/authoring/modules/{words.module}")
    assert page.locator("#versions > li").count() == 3

    # Nothing failed to load but the refused submit (422, on purpose); no script or CSP error.
    assert a.failed == [f"POST 422 {draft_url}"]
    assert [p for p in a.problems if "status of 422" not in p] == []
    for visit in (b, reader):
        assert visit.failed == []
    # In Chinese every label the journey found on the pages was the Chinese one.
    assert a.untranslated() == b.untranslated() == reader.untranslated() == []
    assert len(a.used) > 20
    for visit in (a, b, reader):
        assert [p for p in visit.problems if "status of 422" not in p] == []
        visit.page.context.close()
    audit_.finish(capsys)
    assert audit_.violations == [], audit_.violations  # none at all, whatever the impact
