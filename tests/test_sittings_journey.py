"""A sitting in a real Chromium, in English and Chinese: a trainer schedules a sitting with an
access code and gives one inspector 15 extra minutes; inspectors start with the code, one comes
late and is refused; the supervisor watches the board refresh itself, extends a person's time and
closes the sitting; the results sheet downloads. Every page passes axe (no serious or critical
violation). Screenshots: test-artifacts/journey-sitting-<lang>-<step>.png.

Lateness is reached as the exam journeys reach time-up: the sitting's opening is moved back in
the database (by 40 minutes, past its 30 minutes of late entry) once the first two have started.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser
from sqlalchemy import select

from tests import test_browser
from tests.conftest import (
    ARTIFACTS,
    ContentDirs,
    LiveServer,
    complete_modules,
    make_person,
    right_answer,
    serve,
    token,
)
from tests.test_accessibility import AXE, NARROW, Audit
from tests.test_journeys import DESKTOP, LOCALES, Journey
from tests.test_sittings import sittings_mode
from trainer.app import create_app
from trainer.config import Settings
from trainer.db import Database, utcnow
from trainer.notifications import due, outbox
from trainer.quizzes.models import Attempt
from trainer.sittings.models import Sitting

pytestmark = pytest.mark.browser
browser = test_browser.browser  # the module-scoped Chromium fixture
ZONE = ZoneInfo("Asia/Shanghai")  # the tests' TRAINER_TIME_ZONE (the default)


@pytest.fixture
def sittings_site(make_settings: Callable[..., Settings], content: ContentDirs) -> Iterator[LiveServer]:
    sittings_mode(content)
    app = create_app(make_settings(content))
    with serve(app) as server:
        yield server
    app.state.database.dispose()


def field_value(minutes_from_now: int) -> str:
    return (utcnow() + timedelta(minutes=minutes_from_now)).astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("locale", LOCALES)
def test_a_sitting_from_scheduling_to_the_results_sheet(
    browser: Browser,
    sittings_site: LiveServer,
    migrated_database: Database,
    locale: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if not AXE.exists():
        pytest.fail(f"axe-core not found at {AXE}: run `npm ci` (make test does)")
    database, url = migrated_database, sittings_site.url
    tag = uuid.uuid4().hex[:6]
    unit = f"Sitting Journey {tag}/Harbin/Daoli District/Bureau"
    inspectors = [make_person(database, "inspector", unit=unit) for _ in range(3)]
    (on_time, with_extra, late), trainer = inspectors, make_person(database, "trainer", unit=None)
    supervisor = make_person(database, "inspector", unit=f"Sitting Journey {tag}/Examinations")
    with TestClient(sittings_site.app) as client:
        for person in inspectors:
            complete_modules(client, token(client, person), database)
    audit = Audit(f"sittings {locale}")

    # 1. The trainer schedules a sitting with an access code, the unit on its roster.
    organiser = Journey(browser, "sitting", locale, viewport=DESKTOP)
    page, _ = organiser.page, organiser._
    organiser.sign_in(url, trainer, "/sittings")
    page.wait_for_url("**/sittings")
    assert organiser.h1() == _("Exam sittings")
    page.get_by_role("link", name=_("Schedule a sitting")).click()
    page.wait_for_url("**/sittings/new")
    page.get_by_label(_("Course"), exact=True).select_option("demo-course")
    page.locator("#opens_at").fill(field_value(-5))
    page.locator("#closes_at").fill(field_value(120))
    page.get_by_label(_("Late entry: minutes after the opening (empty: until the close)")).fill("30")
    page.get_by_label(_("Place"), exact=True).fill("Room 3")
    page.locator("#unit_ids").select_option(label=unit)
    page.get_by_label(_("Supervisors: usernames, one per line")).fill(supervisor.username)
    page.get_by_label(_("Generate an access code to give the room when the sitting opens")).check()
    organiser.step("01-trainer-schedules")
    page.get_by_role("button", name=_("Schedule the sitting")).click()
    page.wait_for_url(re.compile(r".*/sittings/\d+/edit\?created=1$"))
    sitting_id = int(page.url.split("/sittings/")[1].split("/")[0])
    code = page.locator("code.access-code").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{6}", code)
    assert page.get_by_text(_("The sitting is scheduled.")).is_visible()

    # ... and gives one inspector 15 extra minutes.
    page.get_by_label(_("Username"), exact=True).fill(with_extra.username)
    page.get_by_label(_("Extra minutes in all (0 to 600)")).fill("15")
    page.get_by_role("button", name=_("Set the extra time")).click()
    page.wait_for_url("**/edit?extra=1#extra-time")
    assert page.get_by_text(f"Test {with_extra.username} ({with_extra.username})").is_visible()
    organiser.step("02-trainer-gives-extra-time")

    # The roster is invited (what `trainer notify` and serve's timer queue: this sitting's
    # invitations only, since the database is shared by the run's other tests).
    lang = "zh-CN" if locale == "zh-CN" else "en"
    context = due.Context(ZONE, lang, sittings_site.app.state.content.library, "training.example.org")
    with database.write() as db:
        invitations = [
            item for item in due.sitting_notices(db, context, utcnow()) if item.subject_id == sitting_id
        ]
        outbox.queue(db, invitations, utcnow())
    assert {item.user_id for item in invitations} >= {p.id for p in inspectors}

    # 2. Two inspectors start with the code (typed in lower case); the extra time shows. The
    # first sees the invitation on the dashboard first.
    starters: dict[str, tuple[Journey, int]] = {}
    for person in (on_time, with_extra):
        journey = Journey(browser, "sitting", locale, viewport=DESKTOP)
        if person is on_time:
            journey.sign_in(url, person, "/dashboard")
            journey.page.wait_for_url("**/dashboard")
            invited = journey.page.locator("#notifications-title + ul").inner_text()
            assert _("Exam sitting: %(course)s, %(when)s").split("%(course)s")[0] in invited, invited
            journey.step("02b-inspector-sees-the-invitation")
            journey.page.goto(f"{url}/courses/demo-course")
        else:
            journey.sign_in(url, person, "/courses/demo-course")
        journey.page.wait_for_url("**/courses/demo-course")
        journey.page.get_by_label(_("Access code (if the sitting has one)")).fill(code.lower())
        journey.page.get_by_role("button", name=_("Start or resume the final exam")).click()
        journey.page.wait_for_url(re.compile(r".*/attempts/\d+$"))
        starters[person.username] = (journey, int(journey.page.url.rsplit("/", 1)[1]))
    with database.session() as db:
        attempts = {
            name: db.get_one(Attempt, attempt_id) for name, (_journey, attempt_id) in starters.items()
        }
    assert attempts[on_time.username].deadline == attempts[on_time.username].started_at + timedelta(
        minutes=30
    )
    assert attempts[with_extra.username].deadline == attempts[with_extra.username].started_at + timedelta(
        minutes=45
    )
    extra_page = starters[with_extra.username][0]
    left = extra_page.page.locator("#deadline").inner_text()
    assert "44" in left or "45" in left  # minutes left when the page loaded
    extra_page.step("03-inspector-started-with-extra-time")

    # 3. The third comes after late entry closed: refused, in words.
    with database.write() as db:
        sitting = db.get_one(Sitting, sitting_id)
        sitting.opens_at -= timedelta(minutes=40)
    latecomer = Journey(browser, "sitting", locale, viewport=DESKTOP)
    latecomer.sign_in(url, late, "/courses/demo-course")
    latecomer.page.wait_for_url("**/courses/demo-course")
    latecomer.page.get_by_label(_("Access code (if the sitting has one)")).fill(code)
    latecomer.page.get_by_role("button", name=_("Start or resume the final exam")).click()
    latecomer.page.locator("p.notice").wait_for()
    refusal = latecomer.page.locator("p.notice").inner_text()
    before = _("Late entry to this sitting closed at %(time)s.").split("%(time)s")[0]
    assert refusal.startswith(before), refusal
    with database.session() as db:
        cutoff = db.get_one(Sitting, sitting_id).opens_at + timedelta(minutes=30)
        assert db.scalar(select(Attempt.id).where(Attempt.user_id == late.id, Attempt.kind == "exam")) is None
    assert cutoff.astimezone(ZONE).strftime("%H:%M") in refusal
    latecomer.step("04-inspector-late-refused")

    # 4. The supervisor's board: it refreshes itself when someone answers.
    room = Journey(browser, "sitting", locale, viewport=DESKTOP)
    room.sign_in(url, supervisor, "/sittings")
    room.page.wait_for_url("**/sittings")
    room.page.get_by_role("link", name=_("Demo course") if room.lang == "en" else "示例课程").first.click()
    room.page.wait_for_url(f"**/sittings/{sitting_id}")
    assert room.h1() == _("Supervisor's board")
    board = room.page.locator("#board")
    assert board.get_attribute("data-refresh") == "5"
    row = room.page.locator(f"#person-{on_time.id}")
    assert row.locator("td").nth(1).inner_text() == _("In progress")
    assert row.locator("td").nth(2).inner_text() == "0 / 3"
    assert room.page.locator(f"#person-{late.id} td").nth(1).inner_text() == _("Not started")
    room.step("05-supervisor-board")
    answered_id = starters[on_time.username][1]
    with TestClient(sittings_site.app) as client:  # an answer saved meanwhile (any way: the API here)
        saved = client.put(
            f"/api/v1/attempts/{answered_id}/answers/1",
            headers=token(client, on_time),
            json=right_answer(database, answered_id, 1),
        )
        assert saved.status_code == 200
    room.page.locator(f"#person-{on_time.id} td:nth-child(4)").filter(has_text="1 / 3").wait_for(
        timeout=20_000
    )
    room.step("06-supervisor-board-refreshed")

    # 5. The supervisor extends one person's time, with a reason.
    room.page.get_by_role("link", name=f"Test {on_time.username}").click()
    room.page.wait_for_url(f"**/sittings/{sitting_id}/people/{on_time.id}")
    room.page.get_by_label(_("Minutes to add")).fill("10")
    room.page.get_by_label(_("Reason (required, kept in the audit log)")).fill("The computer restarted.")
    room.step("07-supervisor-extend")
    room.page.get_by_role("button", name=_("Extend"), exact=True).click()
    room.page.wait_for_url("**?extended=1")
    with database.session() as db:
        moved = db.get_one(Attempt, answered_id).deadline
    assert moved == attempts[on_time.username].deadline + timedelta(minutes=10)
    assert room.page.locator("dl.facts").get_by_text("10", exact=True).is_visible()  # extra minutes

    # 6. ... and closes the sitting, after confirming with a reason.
    room.page.get_by_role("link", name=_("Back to the board")).click()
    room.page.get_by_role("button", name=_("Close the sitting…")).click()
    assert room.h1() == _("Close this sitting?")
    room.page.get_by_label(_("Reason (required, kept in the audit log)")).fill("The sitting's time is over.")
    room.step("08-supervisor-close-confirm")
    room.page.get_by_role("button", name=_("Close the sitting")).click()
    room.page.wait_for_url(f"**/sittings/{sitting_id}?closed=1")
    for person in (on_time, with_extra):
        assert room.page.locator(f"#person-{person.id} td").nth(1).inner_text() == _("Handed in")
    assert room.page.locator(f"#person-{late.id} td").nth(1).inner_text() == _("Absent")
    room.step("09-supervisor-closed")
    with database.session() as db:
        for attempt_id in (answered_id, starters[with_extra.username][1]):
            assert db.get_one(Attempt, attempt_id).status == "graded"

    # 7. The sheets: attendance to print and sign, results to print and download.
    room.page.get_by_role("link", name=_("Attendance sheet")).click()
    assert room.h1() == _("Attendance sheet")
    room.step("10-supervisor-attendance")
    room.page.go_back()
    room.page.get_by_role("link", name=_("Results sheet")).click()
    assert room.h1() == _("Results sheet")
    room.step("11-supervisor-results")
    with room.page.expect_download() as download_info:
        room.page.get_by_role("link", name=_("Results (CSV)")).click()
    download = download_info.value
    target = ARTIFACTS / f"journey-sitting-{room.lang}-results.csv"
    download.save_as(target)
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:4] == [_("Name"), _("Username"), _("Unit"), _("State")]
    states = {row[1]: row[3] for row in rows[1:]}
    assert states == {
        on_time.username: _("Handed in"),
        with_extra.username: _("Handed in"),
        late.username: _("Absent"),
    }

    # The refusal page answers 403 by design; nothing else may log a problem.
    refused = "Failed to load resource: the server responded with a status of 403 (Forbidden)"
    assert latecomer.problems == [refused]
    for journey in (organiser, latecomer, room, *(j for j, _id in starters.values())):
        assert journey.problems in ([], [refused])
        assert journey is latecomer or journey.problems == []
        journey.page.context.close()
    # Every page of the journey passes axe (a context of its own: axe needs the CSP bypassed), on a
    # desktop and on a phone, where no page is wider than the screen (wide tables scroll inside
    # their own region).
    views = [(locale, DESKTOP, locale), (locale, NARROW, f"{locale} 360")]
    organised = ["/sittings", "/sittings/new", f"/sittings/{sitting_id}/edit"]
    audit.visit(browser, url, trainer, [(path, path) for path in organised], views)
    supervised = [
        f"/sittings/{sitting_id}",
        f"/sittings/{sitting_id}/people/{on_time.id}",
        f"/sittings/{sitting_id}/attendance",
        f"/sittings/{sitting_id}/results",
    ]
    audit.visit(browser, url, supervisor, [(path, path) for path in supervised], views)
    assert len(audit.pages) == 2 * (len(organised) + len(supervised))
    audit.finish(capsys)  # no violation, and no page wider than the phone
