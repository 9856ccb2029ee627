"""Required qualifications in a real Chromium, in English and Chinese, on a desktop and a 390 px
phone: a manager requires a course of a county by a due date (picked in the date field), sees it
listed and counted in the roll-up's first section, follows the count to the list of the people
required it, opens the withdrawal's confirmation (and cancels); an inspector of that county signs
in and sees the requirement and its due date on their dashboard, with what to do next.

Every page passes axe with no violation at all (any impact); on the phone nothing is wider than
the screen. Screenshots: test-artifacts/assignments-<lang>-<device>-<step>.png."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from playwright.sync_api import Browser

from tests import test_browser
from tests.conftest import LiveServer, Person, make_person
from tests.test_accessibility import AXE, Audit
from tests.test_browser import open_page, shot
from trainer import localtime
from trainer.db import Database, utcnow
from trainer.web.i18n import translations

pytestmark = pytest.mark.browser
browser = test_browser.browser  # the module-scoped Chromium fixture

PHONE_390 = {"width": 390, "height": 844}
DEVICES = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": PHONE_390, "is_mobile": True, "has_touch": True},
}
CASES = [
    pytest.param(locale, device, id=f"{locale[:2]}-{device}")
    for locale in ("en-US", "zh-CN")
    for device in ("desktop", "phone")
]
TITLE = {"en": "Demo course", "zh": "示例课程"}


class Visit:
    """One person's browser (the CSP bypassed so axe can be injected), its console problems, and
    a screenshot and an axe audit per step."""

    def __init__(self, browser: Browser, locale: str, device: str, audit: Audit) -> None:
        self.lang = "zh" if locale == "zh-CN" else "en"
        self.device, self.audit = device, audit
        self._ = translations("zh-CN" if self.lang == "zh" else "en").gettext
        self.page, self.problems = open_page(browser, locale=locale, bypass_csp=True, **DEVICES[device])

    def sign_in(self, url: str, person: Person) -> None:
        page, _ = self.page, self._
        page.goto(f"{url}/login")
        page.get_by_label(_("Username")).fill(person.username)
        page.get_by_label(_("Password")).fill(person.password)
        page.get_by_role("button", name=_("Sign in")).click()
        page.wait_for_url("**/dashboard")

    def step(self, name: str) -> None:
        page = self.page
        if self.device == "phone":
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (name, overflow)
        shot(page, f"assignments-{self.lang}-{self.device}-{name}")
        self.audit.run(page, f"{name} [{self.lang} {self.device}]")


def shown(day: date, lang: str) -> str:
    return day.isoformat() if lang == "en" else f"{day.year}年{day.month}月{day.day}日"


@pytest.mark.parametrize(("locale", "device"), CASES)
def test_a_manager_requires_a_course_of_a_county_and_its_inspector_sees_it(
    browser: Browser,
    live_server: LiveServer,
    migrated_database: Database,
    locale: str,
    device: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if not AXE.exists():
        pytest.fail(f"axe-core not found at {AXE}: run `npm ci` (make test does)")
    database, url = migrated_database, live_server.url
    root = f"Req Journey {uuid.uuid4().hex[:6]}"
    county = f"{root}/Harbin/Daoli District"
    manager = make_person(database, "manager", unit=f"{root}/Harbin")
    inspector = make_person(database, "inspector", unit=f"{county}/Work Safety Bureau")
    make_person(database, "inspector", unit=f"{root}/Harbin/Nangang District/Bureau")  # not required
    due = localtime.local_date(utcnow(), database.time_zone) + timedelta(days=60)
    audit = Audit(f"assignments {locale} {device}")

    # 1. The manager goes from the roll-up to the requirements page.
    boss = Visit(browser, locale, device, audit)
    page, _, lang = boss.page, boss._, boss.lang
    boss.sign_in(url, manager)
    page.goto(f"{url}/manage")
    page.get_by_role("link", name=_("Required qualifications: what is required of whom, and by when")).click()
    page.wait_for_url("**/manage/requirements")
    assert page.locator("h1").inner_text() == _("Required qualifications")
    assert page.get_by_text(_("No course is required yet.")).is_visible()
    boss.step("01-requirements-empty")

    # 2. ... and requires the course of the county, by a day picked in the date field.
    page.get_by_label(_("Course"), exact=True).select_option("demo-course")
    page.get_by_label(_("The inspectors of a unit and every unit under it")).check()
    page.get_by_label(_("Unit"), exact=True).select_option(label=county)
    page.locator("#due").fill(due.isoformat())
    boss.step("02-require-form")
    page.get_by_role("button", name=_("Require the course")).click()
    page.wait_for_url("**/manage/requirements?created=1")
    assert page.get_by_role("status").inner_text() == _("The course is now required of them.")
    row = page.locator("tr[id^=assignment-]")
    assert row.count() == 1
    cells = [" ".join(t.split()) for t in row.locator("td").all_inner_texts()]
    assert cells[0] == TITLE[lang]
    assert cells[1] == _("the inspectors of %(unit)s and every unit under it") % {"unit": county}
    assert cells[2] == shown(due, lang)
    assert cells[3] == "1"  # the county's one inspector
    boss.step("03-requirement-listed")

    # 3. The roll-up counts them first: one person required, not yet certified.
    page.get_by_role("link", name=_("Back to the roll-up")).click()
    page.wait_for_url("**/manage")
    required = page.locator("#required-demo-course td")
    assert required.nth(0).inner_text() == "1"
    not_yet = page.locator("#required-demo-course td[data-state=not_yet_certified]")
    assert not_yet.inner_text().split()[0] == "1"
    assert page.locator("#required-title").inner_text() == _("Required of people in %(unit)s") % {
        "unit": "Harbin"
    }
    boss.step("04-rollup-required")
    not_yet.get_by_role("link").click()
    page.wait_for_url("**basis=required**state=not_yet_certified**")
    assert page.locator("table.required-list tbody tr").count() == 1
    assert page.locator("table.required-list").get_by_text(f"Test {inspector.username}").is_visible()
    assert page.locator("table.required-list").get_by_text(shown(due, lang)).is_visible()
    boss.step("05-required-list")

    # 4. Withdrawing asks first, with a reason; the manager cancels.
    page.goto(f"{url}/manage/requirements")
    page.get_by_role("button", name=_("Withdraw…")).click()
    assert page.locator("h1").inner_text() == _("Withdraw this requirement?")
    assert page.get_by_label(_("Reason (required, kept in the audit log)")).is_visible()
    boss.step("06-withdraw-confirm")
    page.get_by_role("link", name=_("Cancel")).click()
    page.wait_for_url("**/manage/requirements")
    assert page.locator("tr[id^=assignment-]").count() == 1

    # 5. The inspector of the county sees it on their dashboard, with the due date and what next.
    person = Visit(browser, locale, device, audit)
    person.sign_in(url, inspector)
    them = person.page
    section = them.locator("section.required-of-you")
    assert section.locator("h2").inner_text() == _("Required of you")
    assert section.get_by_text(TITLE[lang]).is_visible()
    assert section.get_by_text(_("Due by %(date)s") % {"date": shown(due, lang)}).is_visible()
    assert section.get_by_text(_("Not yet certified")).is_visible()
    next_link = section.locator("a[href='/courses/demo-course/demo-first']")
    assert next_link.is_visible()
    person.step("07-inspector-dashboard")
    next_link.click()
    them.wait_for_url("**/courses/demo-course/demo-first")

    for visit in (boss, person):
        assert visit.problems == []
        visit.page.context.close()
    audit.finish(capsys)
    assert audit.violations == [], audit.violations  # none at all, whatever the impact
