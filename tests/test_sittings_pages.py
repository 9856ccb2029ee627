"""The sittings pages through the app, without JavaScript, in English and Chinese: schedule a
sitting with a form, give extra time, add people from a CSV file (UTF-8 and GB18030), the board
and a person on it, extend with a reason, void and close after a confirmation, the attendance
and results sheets and the results CSV; and an inspector starting with the code from the
course page, or refused in words with their next sitting."""

from __future__ import annotations

import csv
import html
import io
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import openpyxl
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import ZH, ContentDirs, complete_modules, csrf_token, make_person, sign_in, token
from tests.test_sittings import sittings_mode, unit_id, unit_path
from trainer.app import create_app
from trainer.audit.models import AuditEvent
from trainer.config import Settings
from trainer.db import Database, utcnow
from trainer.quizzes.models import Attempt
from trainer.sittings.models import Sitting, SittingPerson
from trainer.web.i18n import translations

LANGS = [pytest.param("en", id="en"), pytest.param("zh-CN", id="zh")]


@pytest.fixture
def sit_app(make_settings: Callable[..., Settings], content: ContentDirs) -> Iterator[FastAPI]:
    sittings_mode(content)
    app = create_app(make_settings(content))
    yield app
    app.state.database.dispose()


def browser(app: FastAPI, lang: str) -> TestClient:
    client = TestClient(app, base_url="http://testserver")
    if lang == "zh-CN":
        client.headers.update(ZH)
    return client


def post(client: TestClient, url: str, data: dict[str, Any], **kwargs: Any) -> Any:
    return client.post(url, data={"csrf_token": csrf_token(client), **data}, follow_redirects=False, **kwargs)


def seen(response: Any) -> str:
    """The page's text as read (entities such as &#39; unescaped)."""
    return html.unescape(response.text)


def local_field(moment: datetime) -> str:
    """A datetime-local field's value in the tests' zone (Asia/Shanghai)."""
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("lang", LANGS)
def test_schedule_edit_supervise_and_close_through_the_pages(
    sit_app: FastAPI, migrated_database: Database, lang: str
) -> None:
    database = migrated_database
    _ = translations(lang).gettext
    unit = unit_path()
    people = [make_person(database, "inspector", unit=unit) for _ in range(3)]
    named = [make_person(database, "inspector", unit=unit_path()) for _ in range(2)]
    trainer = make_person(database, "trainer", unit=None)
    supervisor = make_person(database, "inspector", unit=unit_path())
    now = utcnow()
    place = "第三考场 Room 3"
    with browser(sit_app, lang) as organiser:
        sign_in(organiser, trainer)
        form = organiser.get("/sittings/new")
        assert form.status_code == 200
        assert _("Schedule a sitting") in seen(form)
        assert "(Asia/Shanghai)" in seen(form) or "（北京时间）" in seen(form) or "北京时间" in seen(form)

        # A form with problems comes back with them, and what was typed.
        refused = post(
            organiser, "/sittings/new", {"course_id": "demo-course", "opens_at": "tomorrow", "place": place}
        )
        assert refused.status_code == 400
        assert _("Give the opening and closing times as a date and a time.") in seen(refused)
        assert place in seen(refused)

        created = post(
            organiser,
            "/sittings/new",
            {
                "course_id": "demo-course",
                "opens_at": local_field(now - timedelta(minutes=5)),
                "closes_at": local_field(now + timedelta(hours=2)),
                "late_entry_minutes": "30",
                "place": place,
                "unit_ids": [str(unit_id(database, unit))],
                "people": named[0].username,
                "supervisors": supervisor.username,
                "access_code": "new",
            },
        )
        assert created.status_code == 303, created.text[:2000]
        found = re.fullmatch(r"/sittings/(\d+)/edit\?created=1", created.headers["location"])
        assert found
        sitting_id = int(found.group(1))
        with database.session() as db:
            sitting = db.get_one(Sitting, sitting_id)
        assert sitting.place == place
        assert sitting.late_entry_minutes == 30
        assert sitting.access_code is not None
        edit = organiser.get(created.headers["location"])
        assert _("The sitting is scheduled.") in seen(edit)
        assert sitting.access_code in seen(edit)

        # Extra time for one inspector, by username.
        extra = post(
            organiser,
            f"/sittings/{sitting_id}/extra",
            {"username": people[0].username, "extra_minutes": "15"},
        )
        assert extra.status_code == 303
        assert _("The extra time is set.") in seen(organiser.get(extra.headers["location"]))
        with database.session() as db:
            row = db.get_one(SittingPerson, (sitting_id, people[0].id))
        assert (row.named, row.extra_minutes) == (False, 15)
        stranger = make_person(database, "inspector", unit=unit_path())
        off = post(
            organiser, f"/sittings/{sitting_id}/extra", {"username": stranger.username, "extra_minutes": "5"}
        )
        assert off.status_code == 404
        assert _("this person is not on the sitting's roster") in seen(off)

        # A CSV of usernames as a Chinese Excel saves it (GB18030, a Chinese header), and one with
        # an unknown name, which adds nobody.
        gb = ("用户名\r\n" + named[1].username + "\r\n").encode("gb18030")
        uploaded = organiser.post(
            f"/sittings/{sitting_id}/roster",
            data={"csrf_token": csrf_token(organiser)},
            files={"file": ("名单.csv", gb, "text/csv")},
            follow_redirects=False,
        )
        assert uploaded.status_code == 303, uploaded.text[:2000]
        bad = "username\nno-such-person-" + uuid.uuid4().hex[:6] + "\n" + stranger.username + "\n"
        refused = organiser.post(
            f"/sittings/{sitting_id}/roster",
            data={"csrf_token": csrf_token(organiser)},
            files={"file": ("list.csv", bad.encode("utf-8-sig"), "text/csv")},
            follow_redirects=False,
        )
        assert refused.status_code == 400
        assert "no-such-person-" in seen(refused)
        with database.session() as db:
            listed = set(
                db.scalars(
                    select(SittingPerson.user_id).where(
                        SittingPerson.sitting_id == sitting_id, SittingPerson.named.is_(True)
                    )
                )
            )
        assert listed == {named[0].id, named[1].id}

    # An inspector starts from the course page with the code; another is refused without it.
    with browser(sit_app, lang) as first, browser(sit_app, lang) as second:
        for client, person in ((first, people[0]), (second, people[1])):
            complete_modules(client, token(client, person), database)
            sign_in(client, person)
        course = first.get("/courses/demo-course")
        assert _("Access code (if the sitting has one)") in seen(course)
        started = post(first, "/courses/demo-course/exam", {"access_code": sitting.access_code.lower()})
        assert started.status_code == 303
        attempt_id = int(started.headers["location"].rsplit("/", 1)[1])
        with database.session() as db:
            attempt = db.get_one(Attempt, attempt_id)
        assert attempt.sitting_id == sitting_id
        assert attempt.deadline == attempt.started_at + timedelta(minutes=45)
        refused = post(second, "/courses/demo-course/exam", {"access_code": ""})
        assert refused.status_code == 403
        assert _(
            "The access code is missing or wrong. Ask the sitting's supervisor for it and try again."
        ) in seen(refused)
        assert 'name="access_code"' in seen(refused)

    # The supervisor's board, a person on it, and the actions.
    with browser(sit_app, lang) as room:
        sign_in(room, supervisor)
        listing = room.get("/sittings")
        assert _("Sittings you supervise") in seen(listing)
        board = room.get(f"/sittings/{sitting_id}")
        assert board.status_code == 200
        assert _("Supervisor's board") in seen(board)
        assert sitting.access_code in seen(board)
        for person in [*people, *named]:
            assert person.username in seen(board)
        assert 'data-refresh="5"' in seen(board)
        assert "board.js" in seen(board)
        assert f'href="/sittings/{sitting_id}"' in seen(board)  # the refresh link, for no JavaScript
        assert _("In progress") + ": 1" in seen(board)
        only = room.get(f"/sittings/{sitting_id}?state=in_progress")
        assert people[0].username in seen(only)
        assert people[1].username not in seen(only)
        assert room.get(f"/sittings/{sitting_id}/edit").status_code == 403  # supervisors do not edit

        person_url = f"/sittings/{sitting_id}/people/{people[0].id}"
        page = room.get(person_url)
        assert _("Extend this person's time") in seen(page)
        no_reason = post(room, f"{person_url}/extend", {"minutes": "10", "reason": " "})
        assert no_reason.status_code == 400
        extended = post(room, f"{person_url}/extend", {"minutes": "10", "reason": "their computer restarted"})
        assert extended.status_code == 303
        with database.session() as db:
            assert db.get_one(Attempt, attempt_id).deadline == attempt.deadline + timedelta(minutes=10)

        ask = post(
            room, f"/sittings/{sitting_id}/attempts/{attempt_id}/void", {"person_id": str(people[0].id)}
        )
        assert ask.status_code == 200
        assert _("Void this exam?") in seen(ask)
        missing = post(
            room, f"/sittings/{sitting_id}/attempts/{attempt_id}/void", {"confirm": "yes", "reason": ""}
        )
        assert missing.status_code == 422
        voided = post(
            room,
            f"/sittings/{sitting_id}/attempts/{attempt_id}/void",
            {"confirm": "yes", "reason": "notes on the desk", "person_id": str(people[0].id)},
        )
        assert voided.status_code == 303
        assert voided.headers["location"] == f"{person_url}?voided=1"
        with database.session() as db:
            assert db.get_one(Attempt, attempt_id).status == "voided"

        ask = post(room, f"/sittings/{sitting_id}/close", {})
        assert ask.status_code == 200
        assert _("Close this sitting?") in seen(ask)
        assert (
            post(room, f"/sittings/{sitting_id}/close", {"confirm": "yes", "reason": ""}).status_code == 422
        )
        with database.session() as db:
            assert db.get_one(Sitting, sitting_id).closed_at is None
        closed = post(room, f"/sittings/{sitting_id}/close", {"confirm": "yes", "reason": "the time is up"})
        assert closed.status_code == 303
        board = room.get(closed.headers["location"])
        assert _("Absent") in seen(board)
        assert _("Close the sitting…") not in seen(board)

        sheet = room.get(f"/sittings/{sitting_id}/attendance")
        assert _("Attendance sheet") in seen(sheet)
        assert _("Signature") in seen(sheet)
        for person in [*people, *named]:
            assert person.username in seen(sheet)
        results = room.get(f"/sittings/{sitting_id}/results")
        assert _("Results sheet") in seen(results)
        download = room.get(f"/sittings/{sitting_id}/results.csv")
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
        assert download.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
        assert rows[0][0] == _("Name")
        assert {row[1] for row in rows[1:]} == {p.username for p in [*people, *named]}
        assert all(row[3] == _("Absent") for row in rows[1:])
        assert [row[10] for row in rows[1:] if row[1] == people[0].username] == ["1"]  # one voided exam
        workbook = room.get(f"/sittings/{sitting_id}/results.xlsx")
        assert workbook.status_code == 200
        assert workbook.headers["content-type"].startswith(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
        sheet_rows = list(sheet.iter_rows(values_only=True))
        assert [str(cell) if cell is not None else "" for cell in sheet_rows[0]] == rows[0]
        assert {row[1] for row in sheet_rows[1:]} == {p.username for p in [*people, *named]}

    with database.session() as db:
        actions = set(
            db.scalars(
                select(AuditEvent.action).where(AuditEvent.target_id.in_([str(sitting_id), str(attempt_id)]))
            )
        )
    assert {
        "sitting.created",
        "sitting.extra_time",
        "sitting.roster_added",
        "exam.voided",
        "sitting.closed",
    } <= actions


@pytest.mark.parametrize("lang", LANGS)
def test_a_refusal_names_the_next_sitting_in_the_readers_language(
    sit_app: FastAPI, migrated_database: Database, lang: str
) -> None:
    database = migrated_database
    _ = translations(lang).gettext
    person = make_person(database, "inspector", unit=unit_path())
    trainer = make_person(database, "trainer", unit=None)
    opens = (utcnow() + timedelta(days=2)).replace(second=0, microsecond=0)
    with browser(sit_app, lang) as client:
        headers = token(client, trainer)
        created = client.post(
            "/api/v1/courses/demo-course/sittings",
            headers=headers,
            json={
                "opens_at": opens.isoformat(),
                "closes_at": (opens + timedelta(hours=2)).isoformat(),
                "person_ids": [person.id],
                "place": "Room 3",
            },
        )
        assert created.status_code == 201
        complete_modules(client, token(client, person), database)
        sign_in(client, person)
        refused = post(client, "/courses/demo-course/exam", {})
        assert refused.status_code == 403
        assert _("No sitting of this exam is open for you now.") in seen(refused)
        local = opens.astimezone(database.time_zone)
        day = f"{local:%Y-%m-%d}" if lang == "en" else f"{local.year}年{local.month}月{local.day}日"
        assert f"{day} {local:%H:%M}" in seen(refused)
        assert "Room 3" in seen(refused)
        mine = client.get("/sittings")
        assert _("Your sittings") in seen(mine)
        assert f'/sittings/{created.json()["id"]}"' not in seen(
            mine
        )  # an inspector's list links to the course
