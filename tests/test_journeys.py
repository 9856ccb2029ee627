"""Three people's journeys end to end in a real Chromium, each in English and in Chinese: an
inspector from sign-in to a verified certificate (on a phone), a trainer who breaks and fixes a
module with reload on and reads the item statistics, and a manager who drills down, exports a
list and suspends a certificate that the public verification page then shows as suspended.

Every step asserts on what the person sees and keeps a screenshot in test-artifacts/ named
`journey-<who>-<lang>-<step>.png`; no step may log a console error or warning.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page
from sqlalchemy import func, select

from tests import test_browser
from tests.conftest import (
    ARTIFACTS,
    ContentDirs,
    LiveServer,
    Person,
    complete_modules,
    make_person,
    pass_exam,
    ready_for_exam,
    serve,
    token,
)
from tests.test_browser import PHONE, _answer_everything, open_page, shot
from trainer.app import create_app
from trainer.config import Settings
from trainer.db import Database
from trainer.reports.models import ItemMark
from trainer.web.i18n import translations

pytestmark = pytest.mark.browser
browser = test_browser.browser  # the module-scoped Chromium fixture, shared with test_browser

LOCALES = [pytest.param("en-US", id="en"), pytest.param("zh-CN", id="zh")]
COURSE_TITLE = {"en": "Demo course", "zh": "示例课程"}
QUALIFICATION = {"en": "Demo qualification", "zh": "示例资格"}
# The states the public verification page shows (trainer/i18n/zh_CN/LC_MESSAGES/messages.po).
VALID = {"en": "Valid", "zh": "有效"}
SUSPENDED = {"en": "Suspended", "zh": "已暂停"}
DESKTOP = {"width": 1280, "height": 900}


class Journey:
    """One person's browser: the page, its console problems, the interface language, and a
    screenshot per step (on a phone, each step must also fit the screen's width)."""

    def __init__(self, browser: Browser, who: str, locale: str, **options: object) -> None:
        self.browser, self.who, self.locale, self.options = browser, who, locale, options
        self.lang = "zh" if locale == "zh-CN" else "en"
        self._ = translations("zh-CN" if self.lang == "zh" else "en").gettext
        self.page, self.problems = open_page(browser, locale=locale, **options)
        self.shots: list[str] = []

    def stranger(self) -> tuple[Page, list[str]]:
        """A fresh, signed-out browser context with the same language and screen."""
        return open_page(self.browser, locale=self.locale, **self.options)

    def step(self, name: str, page: Page | None = None) -> None:
        page = page or self.page
        if self.options.get("is_mobile"):
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (name, overflow)
        shot_name = f"journey-{self.who}-{self.lang}-{name}"
        shot(page, shot_name)
        self.shots.append(shot_name)

    def h1(self) -> str:
        return self.page.locator("h1").inner_text()

    def sign_in(self, base_url: str, person: Person, next_url: str | None = None) -> None:
        _ = self._
        self.page.goto(f"{base_url}/login" + (f"?next={next_url}" if next_url else ""))
        assert self.h1() == _("Sign in")
        self.page.get_by_label(_("Username")).fill(person.username)
        self.page.get_by_label(_("Password")).fill(person.password)
        self.page.get_by_role("button", name=_("Sign in")).click()


def _attempt_id(page: Page) -> int:
    page.wait_for_url(re.compile(r".*/attempts/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def _verification_url(page: Page, base_url: str) -> str:
    """The address printed under the QR code, which must name this certificate's code."""
    code = page.locator(".certificate dl.facts code").inner_text()
    url = page.locator(".certificate-qr .url").inner_text()
    assert url == f"{base_url}/verify/{code}"
    return url


def _cells(page: Page, row_header: str) -> list[str]:
    """The data cells of the first table row whose header cell reads `row_header`, outside the
    roll-up's tables of required people (which come first: test_browser_assignments reads them)."""
    row = page.locator(
        "table:not(.required-counts):not(.required-by-unit) tr",
        has=page.locator("th", has_text=re.compile(rf"^\s*{re.escape(row_header)}\s*$")),
    ).first
    return [" ".join(text.split()) for text in row.locator("td").all_inner_texts()]


# -- 1. the inspector ------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_an_inspector_reads_passes_prints_and_verifies_on_a_phone(
    browser: Browser, live_server: LiveServer, migrated_database: Database, locale: str
) -> None:
    database, url = migrated_database, live_server.url
    person = make_person(database, "inspector", unit="Journey Province/Journey City/Journey County/Unit")
    journey = Journey(browser, "inspector", locale, viewport=PHONE, is_mobile=True)
    page, _, lang = journey.page, journey._, journey.lang

    journey.sign_in(url, person)
    page.wait_for_url("**/dashboard")
    assert journey.h1() == _("My training")
    assert page.get_by_text(_("No certificates yet.")).is_visible()
    assert page.locator(".account-name").inner_text() == f"Test {person.username}"
    journey.step("01-dashboard")

    page.get_by_role("link", name=_("Choose a course")).click()
    page.wait_for_url("**/courses")
    page.get_by_role("link", name=COURSE_TITLE[lang]).click()
    page.wait_for_url("**/courses/demo-course")
    assert journey.h1().startswith(COURSE_TITLE[lang])
    modules = page.locator("ol.module-list > li > a")
    assert modules.count() == 2
    qualification = _("Qualification: %(title)s") % {"title": QUALIFICATION[lang]}
    assert page.get_by_role("heading", name=qualification).is_visible()
    journey.step("02-course")

    # The first module, then its practice quiz through the page's form.
    modules.first.click()
    page.wait_for_url("**/courses/demo-course/demo-first")
    assert journey.h1() == {"en": "Ventilation first steps", "zh": "通风入门"}[lang]
    assert (
        page.locator(".module-header .meta")
        .inner_text()
        .startswith(_("Module %(position)d of %(count)d") % {"position": 1, "count": 2})
    )
    assert (
        page.locator(".prose")
        .inner_text()
        .startswith({"en": "Fresh air keeps miners alive.", "zh": "新鲜空气是矿工的生命线。"}[lang])
    )
    journey.step("03-module-first")
    page.get_by_role("button", name=_("Start the practice quiz")).click()
    practice_id = _attempt_id(page)
    assert journey.h1() == _("Practice quiz")
    questions = page.locator("fieldset.question").count()
    assert questions >= 2  # the module's draw of two (a case brings its sub-questions along)
    _answer_everything(page, database, practice_id)
    journey.step("04-practice-answered")
    page.get_by_role("button", name=_("Submit for grading")).click()
    page.wait_for_url(f"**/attempts/{practice_id}")
    assert page.locator(".result .pass").inner_text() == _("Passed")
    assert (
        page.locator(".result .score")
        .inner_text()
        .startswith(_("%(score)s of %(max)s points") % {"score": questions, "max": questions})
    )
    journey.step("05-practice-passed")

    # The second module, by the module's own "next" link (not translated: the original is shown).
    page.get_by_role("link", name=_("Back to the module")).click()
    page.locator("nav.pager a[rel=next]").click()
    page.wait_for_url("**/courses/demo-course/demo-second")
    assert journey.h1() == "Methane monitoring"
    assert (
        page.locator(".module-header .meta")
        .inner_text()
        .startswith(_("Module %(position)d of %(count)d") % {"position": 2, "count": 2})
    )
    note = page.locator(".version-note")
    if lang == "zh":
        assert note.inner_text().strip() == _(
            "This module is not yet translated into your language; the original is shown."
        )
    else:
        assert note.count() == 0
    journey.step("06-module-second")

    # The final exam, started from the course page.
    page.locator("nav.pager a").last.click()
    page.wait_for_url("**/courses/demo-course")
    page.get_by_role("button", name=_("Start or resume the final exam")).click()
    exam_id = _attempt_id(page)
    assert journey.h1() == _("Final exam")
    page.locator("#deadline .countdown").filter(has_text=re.compile(r"\d")).wait_for()  # the clock runs
    exam_questions = page.locator("fieldset.question").count()
    assert exam_questions >= 3  # the blueprint's one row of three (and a case's sub-questions)
    _answer_everything(page, database, exam_id)
    journey.step("07-exam-answered")
    page.get_by_role("button", name=_("Submit for grading")).click()
    page.wait_for_url(f"**/attempts/{exam_id}/submit")  # the confirmation: nothing left unanswered
    assert page.locator("#unanswered-title").count() == 0
    page.get_by_role("button", name=_("Hand in")).click()
    page.wait_for_url(f"**/attempts/{exam_id}")
    assert page.locator(".result .pass").inner_text() == _("Passed")
    assert (
        page.locator(".result .score")
        .inner_text()
        .startswith(_("%(score)s of %(max)s points") % {"score": exam_questions, "max": exam_questions})
    )
    journey.step("08-exam-passed")

    # The certificate on the dashboard, then its page.
    page.get_by_role("link", name=_("My training")).click()
    page.wait_for_url("**/dashboard")
    card = page.locator("ul.cards > li.card")
    assert card.count() == 1
    assert card.locator("h3").inner_text() == QUALIFICATION[lang]
    assert card.locator("strong").inner_text() == _("Valid")
    number = card.locator(".meta").inner_text().split(" · ")[0]
    assert re.fullmatch(r"HLJ-COAL-\d{4}-\d{6}", number), number
    journey.step("09-dashboard-certified")
    card.get_by_role("link", name=QUALIFICATION[lang]).click()
    page.wait_for_url(f"**/certificates/{number}")
    assert page.locator("#certificate-title").inner_text() == QUALIFICATION[lang]
    assert page.locator(".certificate-holder").inner_text() == f"Test {person.username}"
    assert page.locator(".certificate-unit").inner_text() == person.unit_path
    assert page.locator(".certificate-qr svg").is_visible()
    verify_url = _verification_url(page, url)
    journey.step("10-certificate")

    # Printed to PDF, as the page invites.
    pdf = page.pdf(format="A4", print_background=True)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"journey-inspector-{lang}-certificate.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF")
    assert len(pdf) > 10_000, len(pdf)

    # Anyone scanning the QR code, signed out, sees the certificate valid now.
    stranger, stranger_problems = journey.stranger()
    stranger.goto(verify_url)
    assert stranger.locator("h1").inner_text() == _("Verify a certificate")
    assert stranger.locator(".verification-state").inner_text() == VALID[lang]
    facts = stranger.locator("dl.facts").inner_text()
    assert number in facts
    assert QUALIFICATION[lang] in facts
    assert person.username not in facts  # the holder's name is masked
    assert stranger.get_by_role("link", name=_("Sign in")).is_visible()
    journey.step("11-verified", stranger)
    stranger.context.close()

    assert journey.problems == []
    assert stranger_problems == []
    assert len(journey.shots) == 11
    journey.page.context.close()


# -- 2. the trainer --------------------------------------------------------------------------------


@pytest.fixture
def authoring_site(make_settings: Callable[..., Settings], content: ContentDirs) -> Iterator[LiveServer]:
    """The app on a writable copy of the fixture library, re-reading edits on each page load."""
    app = create_app(make_settings(content, content_reload=True))
    with serve(app) as server:
        yield server
    app.state.database.dispose()


@pytest.mark.parametrize("locale", LOCALES)
def test_a_trainer_breaks_and_fixes_a_module_then_reads_the_item_statistics(
    browser: Browser,
    authoring_site: LiveServer,
    content: ContentDirs,
    migrated_database: Database,
    locale: str,
) -> None:
    database, url = migrated_database, authoring_site.url
    trainer = make_person(database, "trainer", unit=None)
    journey = Journey(browser, "trainer", locale, viewport=DESKTOP)
    page, _ = journey.page, journey._
    module_url = f"{url}/courses/demo-course/demo-second"

    journey.sign_in(url, trainer, "/trainer/content")
    page.wait_for_url("**/trainer/content")
    assert journey.h1() == _("Content status")
    assert page.locator("p.notice").inner_text() == _("The files load without errors.")
    assert page.locator("[role=alert]").count() == 0
    journey.step("01-content-ok")

    # A typo in a module's front matter: the page names the file and the line.
    content.edit(
        "courses/demo-course/02-second.md", "regulations: [demo-law, other-rule]", "regulations: [typo-law]"
    )
    page.reload()
    listed = page.locator("#problems li").all_inner_texts()
    assert len(listed) == 1
    problem = listed[0]  # the file, the line, and what is wrong (and maybe how to fix it)
    assert problem.startswith("courses/demo-course/02-second.md:7: unknown regulation 'typo-law'")
    assert page.locator("main [role=alert] strong").inner_text() == _(
        "The last edit could not be loaded; the previous version is still served."
    )
    journey.step("02-content-broken")

    # Meanwhile the module still serves its last good version, under the same warning.
    page.goto(module_url)
    assert journey.h1() == "Methane monitoring"
    assert page.locator(".author-problems h2").inner_text() == _(
        "Your last edit has problems; the previous version is still shown"
    )
    assert page.locator(".author-problems li").all_inner_texts() == [problem]
    assert page.locator(".prose").inner_text().startswith("Sensors watch methane at the face.")
    assert page.locator(".regulations li").count() == 2
    journey.step("03-module-last-good")

    # The fix, with a new sentence: both show on the next page load.
    content.edit("courses/demo-course/02-second.md", "regulations: [typo-law]", "regulations: [demo-law]")
    content.edit(
        "courses/demo-course/02-second.md",
        "Sensors watch methane at the face.",
        "Sensors watch methane at the face and in the return airway.",
    )
    page.goto(f"{url}/trainer/content")
    assert page.locator("p.notice").inner_text() == _("The files load without errors.")
    assert page.locator("#problems").count() == 0
    assert page.locator(".author-problems").count() == 0
    journey.step("04-content-fixed")
    page.goto(module_url)
    assert page.locator(".author-problems").count() == 0
    assert (
        page.locator(".prose")
        .inner_text()
        .startswith("Sensors watch methane at the face and in the return airway.")
    )
    assert page.locator(".regulations li").count() == 1
    journey.step("05-module-live")

    # Two inspectors take the exam (through the API, quickly), then the item statistics.
    with TestClient(authoring_site.app) as client:
        exam_ids = []
        for _index in range(2):
            headers, _person = ready_for_exam(client, database)
            exam_ids.append(int(pass_exam(client, database, headers)["id"]))  # type: ignore[call-overload]
    with database.session() as db:
        drawn = sorted(set(db.scalars(select(ItemMark.question_id).where(ItemMark.attempt_id.in_(exam_ids)))))
    question = drawn[0]

    def stored() -> tuple[int, int]:
        """(graded exams with item marks, answers to `question`) as stored now: what the page
        counts. Other tests of the run may grade demo exams meanwhile, so the page's figures are
        checked to lie between a count taken before it loaded and one taken after."""
        with database.session() as db:
            exams = db.scalar(
                select(func.count(func.distinct(ItemMark.attempt_id))).where(
                    ItemMark.course_id == "demo-course"
                )
            )
            answers = db.scalar(
                select(func.count()).where(
                    ItemMark.course_id == "demo-course", ItemMark.question_id == question
                )
            )
        return int(exams or 0), int(answers or 0)

    before = stored()
    assert len(drawn) >= 3
    page.get_by_role("link", name=_("Item statistics")).click()
    page.wait_for_url("**/trainer/items")
    page.locator("nav.subnav").get_by_role("link", name=COURSE_TITLE[journey.lang]).click()
    page.wait_for_url("**/trainer/items?course=demo-course")
    assert journey.h1() == _("Item statistics")
    assert page.locator("#course-title").inner_text() == COURSE_TITLE[journey.lang]
    summary = page.locator("dl.facts")
    assert summary.locator("dt").first.inner_text() == _("Graded exams")
    after = stored()
    assert before[0] <= int(summary.locator("dd").first.inner_text()) <= after[0]
    assert before[0] >= 2
    headers_row = page.locator("#item-table thead th").all_inner_texts()
    assert headers_row[0] == _("Question")
    assert headers_row[3] == "N"
    row = page.locator(f"#item-table tr#item-{question}")
    assert row.locator("th a").inner_text() == question
    cells = row.locator("td").all_inner_texts()
    assert before[1] <= int(cells[2]) <= after[1]  # N: graded answers to this question, as stored
    assert before[1] >= 1
    assert re.fullmatch(r"\d+\.\d%", cells[3]), cells  # facility
    journey.step("06-item-statistics")

    assert journey.problems == []
    assert len(journey.shots) == 6
    journey.page.context.close()


# -- 3. the manager --------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_a_manager_drills_down_exports_and_suspends_a_certificate(
    browser: Browser, live_server: LiveServer, migrated_database: Database, locale: str, tmp_path: Path
) -> None:
    from tests.test_compliance import _populate, _province

    database, url = migrated_database, live_server.url
    province = _province()
    _populate(database, province)  # 14 inspectors in every state, in two cities
    # One more inspector in the first unit, certified for real (so the certificate verifies).
    holder = make_person(database, "inspector", unit=f"{province}/哈尔滨市/道里区/监察一队")
    with TestClient(live_server.app) as client:
        headers = token(client, holder)
        complete_modules(client, headers, database)
        pass_exam(client, database, headers)
    manager = make_person(database, "manager", unit=province)
    journey = Journey(browser, "manager", locale, viewport=DESKTOP)
    page, _, lang = journey.page, journey._, journey.lang
    course = COURSE_TITLE[lang]

    journey.sign_in(url, manager)
    page.wait_for_url("**/dashboard")
    page.get_by_role("link", name=_("Compliance"), exact=True).click()
    page.wait_for_url("**/manage")
    assert journey.h1() == _("Compliance: %(unit)s") % {"unit": province}
    assert _cells(page, course)[0] == "15"  # inspectors in the province, this course
    assert _cells(page, "哈尔滨市")[0] == "12"
    assert _cells(page, "齐齐哈尔市")[0] == "3"
    journey.step("01-rollup")

    page.get_by_role("link", name="哈尔滨市", exact=True).click()
    assert journey.h1() == _("Compliance: %(unit)s") % {"unit": "哈尔滨市"}
    assert _cells(page, course)[0] == "12"
    assert _cells(page, "道里区")[0] == "6"
    assert _cells(page, "南岗区")[0] == "6"
    journey.step("02-city")

    page.get_by_role("link", name="道里区", exact=True).click()
    assert journey.h1() == _("Compliance: %(unit)s") % {"unit": "道里区"}
    assert _cells(page, course)[0] == "6"
    assert _cells(page, "监察一队")[0] == "6"
    journey.step("03-county")

    page.get_by_role("link", name="监察一队", exact=True).click()
    page.wait_for_url("**/manage/inspectors?*")
    assert journey.h1() == _("Inspectors: %(unit)s") % {"unit": "监察一队"}
    rows = page.locator("main table tbody tr")
    shown = rows.count()
    assert shown == 5  # every certificate holder: four certified by the fixture, one by the exam
    assert page.locator("p[role=status]").inner_text() == _("Showing %(first)d–%(last)d of %(total)d") % {
        "first": 1,
        "last": shown,
        "total": shown,
    }
    names = [rows.nth(i).locator("td").first.inner_text() for i in range(shown)]
    assert f"Test {holder.username}" in names
    journey.step("04-unit-list")

    # The list as CSV: UTF-8 with a BOM, the same people in the same order.
    with page.expect_download() as download_info:
        page.get_by_role("link", name=_("This list as CSV")).click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    data = saved.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0][0] == _("Name")
    assert [r[0] for r in table[1:]] == names
    assert all(r[2] == f"{province}/哈尔滨市/道里区/监察一队" for r in table[1:])

    # The holder's record: suspend their certificate with a reason.
    page.get_by_role("link", name=f"Test {holder.username}").click()
    page.wait_for_url(f"**/people/{holder.id}")
    assert journey.h1() == f"Test {holder.username}"
    certificate_row = page.locator("section[aria-labelledby=certificates-title] tbody tr")
    assert certificate_row.count() == 1
    assert certificate_row.locator(".badge").inner_text() == _("Valid")
    number = certificate_row.locator("td a").first.inner_text()
    journey.step("05-record")
    reason = {"en": "Under investigation", "zh": "接受调查"}[lang]
    certificate_row.get_by_label(_("Reason")).fill(reason)
    certificate_row.get_by_role("button", name=_("Suspend"), exact=True).click()
    page.wait_for_url(f"**/people/{holder.id}")
    assert certificate_row.locator(".badge").inner_text() == _("Suspended")
    assert certificate_row.locator("small").inner_text() == f"{_('Reason')}: {reason}"
    assert certificate_row.get_by_role("button", name=_("Reinstate")).is_visible()
    journey.step("06-suspended")

    # Its public verification page, signed out, says so.
    certificate_row.get_by_role("link", name=number).click()
    page.wait_for_url(f"**/certificates/{number}")
    verify_url = _verification_url(page, url)
    journey.step("07-certificate")
    stranger, stranger_problems = journey.stranger()
    stranger.goto(verify_url)
    assert stranger.locator(".verification-state").inner_text() == SUSPENDED[lang]
    assert number in stranger.locator("dl.facts").inner_text()
    journey.step("08-verified-suspended", stranger)
    stranger.context.close()

    assert journey.problems == []
    assert stranger_problems == []
    assert len(journey.shots) == 8
    journey.page.context.close()
