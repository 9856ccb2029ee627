"""Taking an exam in a real Chromium, in English and Chinese, on a desktop and on a 320 px
phone: the navigator, flagging, a rejected answer repaired, a match question on a narrow
screen, the confirmation before handing in (a double click hands nothing in), the time-up
warnings and hand-in, and practice feedback shown in place.

Uses the one-minute exam course of tests/exam_content.py; the time-up is reached by moving the
attempt's deadline in the database and reloading (the page counts from the server's clock).
Screenshots: test-artifacts/journey-exam-<device>-<lang>-<step>.png.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import select, update

from tests import test_browser
from tests.conftest import ContentDirs, LiveServer, make_person, right_answer, serve
from tests.exam_content import add_exam_course, slot_of
from tests.test_journeys import DESKTOP, LOCALES, Journey
from trainer.app import create_app
from trainer.config import Settings
from trainer.db import Database, utcnow
from trainer.quizzes.models import Attempt, AttemptAnswer
from trainer.quizzes.service import paper_of
from trainer.quizzes.snapshot import to_served

pytestmark = pytest.mark.browser
browser = test_browser.browser  # the module-scoped Chromium fixture

PHONE_320 = {"width": 320, "height": 640}
DEVICES = [
    pytest.param({"viewport": DESKTOP}, id="desktop"),
    pytest.param({"viewport": PHONE_320, "is_mobile": True}, id="phone320"),
]


@pytest.fixture
def exam_site(make_settings: Callable[..., Settings], content: ContentDirs) -> Iterator[LiveServer]:
    add_exam_course(content)
    app = create_app(make_settings(content))
    with serve(app) as server:
        yield server
    app.state.database.dispose()


def device_name(options: dict[str, Any]) -> str:
    return "phone320" if options.get("is_mobile") else "desktop"


def attempt_id_of(page: Page) -> int:
    page.wait_for_url("**/attempts/*")
    return int(page.url.split("#")[0].rsplit("/", 1)[1])


def stored(database: Database, attempt_id: int) -> dict[int, Any]:
    """The saved answers in the paper's served keys (they are stored in the bank's)."""
    with database.session() as db:
        rows = db.scalars(select(AttemptAnswer).where(AttemptAnswer.attempt_id == attempt_id)).all()
        paper = {e["slot"]: e for e in json.loads(paper_of(db, attempt_id))}
    return {row.slot: to_served(paper[row.slot], json.loads(row.response)) for row in rows}


def status_of(database: Database, attempt_id: int) -> str:
    with database.session() as db:
        return db.get_one(Attempt, attempt_id).status


def fits(page: Page, selector: str = "html") -> None:
    """Nothing wider than the screen: the element's scrollWidth within its clientWidth."""
    sizes = page.eval_on_selector(selector, "e => [e.scrollWidth, e.clientWidth]")
    assert sizes[0] <= sizes[1], (selector, sizes)


def step(journey: Journey, name: str) -> None:
    """A screenshot; on a phone, first proof that nothing is wider than the screen (a page
    wider than a mobile viewport widens the layout viewport, which innerWidth would follow)."""
    if journey.options.get("is_mobile"):
        fits(journey.page)
    journey.step(name)


def start_exam(journey: Journey, url: str, database: Database, *, minutes: float = 30) -> int:
    """Sign in and start the one-minute exam, its deadline moved `minutes` ahead (the page is
    reloaded to count from it) so a slow test run is not cut short by the time-up."""
    page, _ = journey.page, journey._
    journey.sign_in(url, make_person(database, "inspector"), "/courses/ux-course")
    page.wait_for_url("**/courses/ux-course")
    page.get_by_role("button", name=_("Start or resume the final exam")).click()
    attempt_id = attempt_id_of(page)
    with database.write() as db:
        db.execute(
            update(Attempt)
            .where(Attempt.id == attempt_id)
            .values(deadline=utcnow() + timedelta(minutes=minutes))
        )
    page.reload()
    return attempt_id


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("locale", LOCALES)
def test_navigator_flags_repair_match_and_confirmation(
    browser: Browser, exam_site: LiveServer, migrated_database: Database, locale: str, device: dict[str, Any]
) -> None:
    database, url = migrated_database, exam_site.url
    journey = Journey(browser, f"exam-{device_name(device)}", locale, **device)
    page, _ = journey.page, journey._
    attempt_id = start_exam(journey, url, database)
    assert journey.h1() == _("Final exam")
    navigator = page.locator("#navigator")
    assert navigator.get_by_role("link").count() == 6
    assert (
        navigator.get_by_role("link", name=_("Question %(n)d") % {"n": 1} + ": " + _("not answered")).count()
        == 1
    )
    step(journey, "01-navigator")

    # An answer typed: autosave stores it and the navigator says "answered".
    text = slot_of(database, attempt_id, "UX-0006")
    page.locator(f"#q{text}-text").fill("SDS")
    page.locator(f"#q{text}-text").press("Tab")
    page.locator(f"#nav-{text}.is-answered").wait_for()
    assert page.locator(f"#nav-{text} .nav-words").inner_text() == (
        _("Question %(n)d") % {"n": text} + ": " + _("answered")
    )

    # Flag a question for review: in place, kept by the server, named in the navigator.
    single = slot_of(database, attempt_id, "UX-0005")
    flag = page.locator(f"#question-{single}").get_by_role("button", name=_("Flag for review"))
    assert flag.get_attribute("aria-pressed") == "false"
    flag.click()
    page.locator(f"#question-{single} button[name=flag][aria-pressed=true]").wait_for()
    assert page.locator(f"#nav-{single}.is-flagged .nav-words").inner_text().endswith(_("flagged"))
    page.locator(f"#question-{single}").scroll_into_view_if_needed()
    step(journey, "02-flagged")

    # A wrong-format answer: refused beside the field, what was typed kept; then repaired.
    percent = slot_of(database, attempt_id, "UX-0001")
    field = page.locator(f"#q{percent}-value")
    field.fill("abc")
    page.locator(".quiz-actions").get_by_role("button", name=_("Save answers")).click()
    page.locator(f"#error-{percent}").wait_for()
    assert field.input_value() == "abc"
    assert field.get_attribute("aria-invalid") == "true"
    assert field.get_attribute("aria-describedby") == f"error-{percent}"
    assert (
        page.locator(f"#error-{percent}")
        .inner_text()
        .strip()
        .endswith(_("Enter a number, such as 12.5 (a unit after it is fine)."))
    )
    field.scroll_into_view_if_needed()
    step(journey, "03-rejected")
    field.fill("０．５％")  # full-width, with its unit
    page.locator(".quiz-actions").get_by_role("button", name=_("Save answers")).click()
    page.wait_for_url(f"**/attempts/{attempt_id}#saved")
    assert stored(database, attempt_id)[percent] == {"value": 0.5, "unit": "%"}
    assert page.locator(f"#error-{percent}").count() == 0
    assert page.locator(f"#nav-{percent}.is-answered").count() == 1
    step(journey, "04-repaired")

    # The match question fits the screen, and is answered there.
    match = slot_of(database, attempt_id, "UX-0004")
    fits(page)
    fits(page, f"#question-{match}")
    for left, right in right_answer(database, attempt_id, match)["pairs"].items():  # type: ignore[union-attr]
        page.locator(f"#q{match}-{left}").select_option(right)
    page.locator(f"#nav-{match}.is-answered").wait_for()
    fits(page, f"#question-{match}")
    page.locator(f"#question-{match}").scroll_into_view_if_needed()
    step(journey, "05-match")

    # Submit, clicked twice: the confirmation page, nothing handed in.
    page.locator(".quiz-actions").get_by_role("button", name=_("Submit for grading")).dblclick()
    # The second click's post replaces the first's navigation: wait for where both lead.
    page.get_by_role("heading", name=_("Hand in the exam?")).wait_for()
    assert page.url.endswith(f"/attempts/{attempt_id}/submit")
    assert status_of(database, attempt_id) == "in_progress"
    unanswered = page.locator("section", has=page.locator("#unanswered-title")).get_by_role("link")
    assert unanswered.count() == 3  # of six: text, percent and match answered
    flagged = page.locator("section", has=page.locator("#flagged-title")).get_by_role("link")
    assert flagged.all_inner_texts() == [_("Question %(n)d") % {"n": single}]
    step(journey, "06-confirm")
    flagged.first.click()  # back to the flagged question
    page.wait_for_url(f"**/attempts/{attempt_id}#question-{single}")
    page.locator(f"#question-{single} input").first.check()
    page.locator(f"#nav-{single}.is-answered").wait_for()
    page.locator(".quiz-actions").get_by_role("button", name=_("Submit for grading")).click()
    page.wait_for_url(f"**/attempts/{attempt_id}/submit")
    assert unanswered.count() == 2
    page.get_by_role("button", name=_("Hand in")).click()
    page.wait_for_url(f"**/attempts/{attempt_id}")
    assert page.locator("#result-title").is_visible()
    assert status_of(database, attempt_id) == "graded"
    assert page.locator(".mark.yours").count() >= 4
    step(journey, "07-result")
    # The refused answer's form post (and the autosave before it) answer 400 by design.
    refused = "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    assert [p for p in journey.problems if p != refused] == []
    page.context.close()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("locale", LOCALES)
def test_time_up_warns_then_saves_and_hands_in(
    browser: Browser, exam_site: LiveServer, migrated_database: Database, locale: str, device: dict[str, Any]
) -> None:
    database, url = migrated_database, exam_site.url
    journey = Journey(browser, f"exam-{device_name(device)}", locale, **device)
    page, _ = journey.page, journey._
    attempt_id = start_exam(journey, url, database)

    def deadline_in(delta: timedelta) -> Any:
        deadline = utcnow() + delta
        with database.write() as db:
            db.execute(update(Attempt).where(Attempt.id == attempt_id).values(deadline=deadline))
        page.reload()
        return deadline

    warning = page.locator("#time-warning")
    assert warning.get_attribute("aria-live") == "assertive"
    assert warning.inner_text() == ""
    deadline_in(timedelta(minutes=4))
    warning.filter(
        has_text=_("5 minutes left. Answers are saved as you go; check the flagged and unanswered questions.")
    ).wait_for()
    step(journey, "08-five-minutes")
    deadline_in(timedelta(seconds=50))
    warning.filter(has_text=_("1 minute left. What is saved when the time is up is graded.")).wait_for()
    step(journey, "09-one-minute")

    # The last seconds: an answer typed and not yet saved (no change event) is saved at time-up.
    deadline = deadline_in(timedelta(seconds=4))
    text = slot_of(database, attempt_id, "UX-0006")
    page.locator(f"#q{text}-text").fill("SDS")
    notice = page.locator(".time-up")
    notice.wait_for(timeout=20_000)
    before, after = _("Time was up at %(time)s; answers saved by then were graded.").split("%(time)s")
    shown = notice.inner_text()
    local = deadline.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%H:%M")  # the tests' zone
    assert shown.startswith(before + local)
    assert shown.endswith(after)
    with database.session() as db:
        attempt = db.get_one(Attempt, attempt_id)
    assert attempt.status == "graded"
    assert attempt.submitted_at == attempt.deadline
    assert stored(database, attempt_id)[text] == {"text": "SDS"}
    step(journey, "10-time-up")
    assert journey.problems == []
    page.context.close()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("locale", LOCALES)
def test_practice_feedback_appears_in_place(
    browser: Browser, exam_site: LiveServer, migrated_database: Database, locale: str, device: dict[str, Any]
) -> None:
    database, url = migrated_database, exam_site.url
    journey = Journey(browser, f"practice-{device_name(device)}", locale, **device)
    page, _ = journey.page, journey._
    journey.sign_in(url, make_person(database, "inspector"), "/courses/ux-course/ux-module")
    page.wait_for_url("**/courses/ux-course/ux-module")
    page.get_by_role("button", name=_("Start the practice quiz")).click()
    attempt_id = attempt_id_of(page)
    single = slot_of(database, attempt_id, "UX-0005")
    right = right_answer(database, attempt_id, single)["selected"][0]  # type: ignore[index]
    page.locator(f"#question-{single} input[value='{right}']").check()
    page.locator(f"#question-{single}").get_by_role("button", name=_("Check answer")).click()
    verdict = page.locator(f"#verdict-{single}")
    verdict.wait_for()
    assert verdict.inner_text().strip().endswith(_("Right."))
    assert page.evaluate("document.activeElement.id") == f"verdict-{single}"
    assert page.locator(f"#question-{single} input[value='{right}']").is_disabled()
    assert page.locator(f"#nav-{single}.is-answered").count() == 1
    assert page.locator(f"#question-{single} .explanation").is_visible()
    assert stored(database, attempt_id) == {single: {"selected": [right]}}
    step(journey, "01-feedback")
    assert journey.problems == []
    page.context.close()


@pytest.mark.parametrize("locale", LOCALES)
def test_flag_and_practice_feedback_without_javascript(
    browser: Browser, exam_site: LiveServer, migrated_database: Database, locale: str
) -> None:
    database, url = migrated_database, exam_site.url
    journey = Journey(
        browser, "nojs-phone320", locale, viewport=PHONE_320, is_mobile=True, java_script_enabled=False
    )
    page, _ = journey.page, journey._
    attempt_id = start_exam(journey, url, database)
    single = slot_of(database, attempt_id, "UX-0005")
    text = slot_of(database, attempt_id, "UX-0006")
    page.locator(f"#q{text}-text").fill("SDS")  # saved by the flag's post too
    page.locator(f"#question-{single}").get_by_role("button", name=_("Flag for review")).click()
    page.wait_for_url(f"**/attempts/{attempt_id}#question-{single}")
    assert page.locator(f"#nav-{single}.is-flagged").count() == 1
    assert page.locator(f"#nav-{text}.is-answered").count() == 1
    assert stored(database, attempt_id) == {text: {"text": "SDS"}}
    step(journey, "01-flagged")
    page.locator(".quiz-actions").get_by_role("button", name=_("Submit for grading")).click()
    page.wait_for_url(f"**/attempts/{attempt_id}/submit")
    step(journey, "02-confirm")
    page.get_by_role("button", name=_("Hand in")).click()
    page.wait_for_url(f"**/attempts/{attempt_id}")
    assert status_of(database, attempt_id) == "graded"

    page.goto(f"{url}/courses/ux-course/ux-module")
    page.get_by_role("button", name=_("Start the practice quiz")).click()
    practice_id = attempt_id_of(page)
    single = slot_of(database, practice_id, "UX-0005")
    page.locator(f"#question-{single} input").first.check()
    page.locator(f"#question-{single}").get_by_role("button", name=_("Check answer")).click()
    page.wait_for_url(f"**/attempts/{practice_id}#question-{single}")
    assert page.locator(f"#verdict-{single}").is_visible()
    assert page.locator(f"#question-{single} .explanation").is_visible()
    step(journey, "03-practice-feedback")
    assert journey.problems == []
    page.context.close()
