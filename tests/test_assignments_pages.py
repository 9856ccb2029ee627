"""Required qualifications in the browser's pages, through the app over real HTTP (no JavaScript):
the manager's page lists and creates requirements (a date typed in full-width digits too), keeps
what was typed beside its errors, is scoped (a manager elsewhere neither sees nor withdraws), asks
before withdrawing and wants a reason, refuses a form without its CSRF token; the roll-up counts
the required people as the tallies do, the list of required people filters by state, both
exports carry the required columns, and the inspector's dashboard shows what is required of
them and by when.

Each test builds its own organisation under a fresh top-level unit (the database is shared)."""

from __future__ import annotations

import csv
import html
import io
import re
import uuid
from datetime import date, timedelta
from typing import Any

import openpyxl
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import ZH, Person, csrf_token, make_person, sign_in, token
from tests.test_compliance import _certify
from trainer import localtime
from trainer.assignments.models import Assignment
from trainer.assignments.views import due_from_text
from trainer.audit.models import AuditEvent
from trainer.db import Database, utcnow
from trainer.people.models import Unit
from trainer.reports import compliance
from trainer.tallies.changes import mark_changed
from trainer.web.i18n import translations

COURSE = "demo-course"
TITLE = {"en": "Demo course", "zh-CN": "示例课程"}
LANGS = [pytest.param("en", id="en"), pytest.param("zh-CN", id="zh")]
PAGE = "/manage/requirements"


def browser(app: FastAPI, person: Person, lang: str = "en") -> TestClient:
    client = TestClient(app, base_url="http://testserver")
    if lang == "zh-CN":
        client.headers.update(ZH)
    sign_in(client, person)
    return client


def post(client: TestClient, url: str, data: dict[str, Any]) -> Any:
    return client.post(url, data={"csrf_token": csrf_token(client), **data}, follow_redirects=False)


def seen(response: Any) -> str:
    return html.unescape(response.text)


def today(database: Database) -> date:
    return localtime.local_date(utcnow(), database.time_zone)


def shown_date(day: date, lang: str) -> str:
    return day.isoformat() if lang == "en" else f"{day.year}年{day.month}月{day.day}日"


def unit_id(database: Database, path: str) -> int:
    with database.session() as db:
        return db.scalars(select(Unit.id).where(Unit.path == path)).one()


def organisation(database: Database) -> dict[str, Any]:
    root = f"ReqPages {uuid.uuid4().hex[:8]}"
    county = f"{root}/City/County"
    return {
        "root": root,
        "city": f"{root}/City",
        "county": county,
        "manager": make_person(database, "manager", unit=f"{root}/City"),
        "elsewhere": make_person(database, "manager", unit=f"{root}/Other city"),
        "inspectors": [make_person(database, "inspector", unit=f"{county}/Bureau") for _ in range(3)],
        "beside": make_person(database, "inspector", unit=f"{root}/City/Other county"),
    }


def require_county(client: TestClient, database: Database, org: dict[str, Any], due: str) -> Any:
    return post(
        client,
        PAGE,
        {"course_id": COURSE, "target": "unit", "unit_id": str(unit_id(database, org["county"])), "due": due},
    )


def active(database: Database, lineage_of: str) -> list[Assignment]:
    with database.session() as db:
        lineage = db.scalars(select(Unit.lineage).where(Unit.path == lineage_of)).one()
        return list(
            db.scalars(
                select(Assignment).where(Assignment.lineage == lineage, Assignment.withdrawn_at.is_(None))
            )
        )


def test_due_dates_are_read_as_typed() -> None:
    assert due_from_text("2027-03-31") == date(2027, 3, 31)
    assert due_from_text(" ２０２７－０３－３１ ") == date(2027, 3, 31)
    assert due_from_text("2027/3/5") == date(2027, 3, 5)
    assert due_from_text("２０２７年３月５日") == date(2027, 3, 5)
    for wrong in ("2027-02-30", "31/03/2027", "tomorrow", "", "٢٠٢٧-٠٣-٣١", "2027-03-31x"):
        assert due_from_text(wrong) is None, wrong


@pytest.mark.parametrize("lang", LANGS)
def test_the_page_lists_and_creates_a_requirement(
    app: FastAPI, migrated_database: Database, lang: str
) -> None:
    database = migrated_database
    org = organisation(database)
    _ = translations(lang).gettext
    client = browser(app, org["manager"], lang)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert _("No course is required yet.") in seen(page)
    due = today(database) + timedelta(days=90)
    typed = due.isoformat().translate(str.maketrans("0123456789-", "０１２３４５６７８９－"))
    created = require_county(client, database, org, typed)  # full-width, as a Chinese keyboard gives
    assert created.status_code == 303, seen(created)[:2000]
    assert created.headers["location"] == f"{PAGE}?created=1"
    listed = client.get(created.headers["location"])
    text = seen(listed)
    assert _("The course is now required of them.") in text
    assert TITLE[lang] in text
    assert _("the inspectors of %(unit)s and every unit under it") % {"unit": org["county"]} in text
    assert shown_date(due, lang) in text
    row = re.search(r'<tr id="assignment-(\d+)">(.*?)</tr>', listed.text, re.S)
    assert row is not None
    assert re.search(r">3</a>", row.group(2)), row.group(2)  # three inspectors covered
    [made] = active(database, org["county"])
    assert made.due == due
    assert made.kind == "unit"
    assert int(row.group(1)) == made.id
    with database.session() as db:
        event = db.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "assignment.created", AuditEvent.target_id == str(made.id)
            )
        ).one()
    assert event.actor_id == org["manager"].id
    # A role inside a unit, and one named person: described in words too.
    role = post(
        client,
        PAGE,
        {
            "course_id": COURSE,
            "target": "role",
            "role": "manager",
            "role_unit_id": str(unit_id(database, org["city"])),
            "due": due.isoformat(),
        },
    )
    assert role.status_code == 303
    person = post(
        client,
        PAGE,
        {"course_id": COURSE, "target": "person", "username": org["beside"].username, "due": due.isoformat()},
    )
    assert person.status_code == 303
    text = seen(client.get(PAGE))
    role_words = _("everyone with the role %(role)s in %(unit)s and under it") % {
        "role": _("Manager"),
        "unit": org["city"],
    }
    assert role_words in text
    assert f"Test {org['beside'].username}" in text


@pytest.mark.parametrize("lang", LANGS)
def test_form_errors_are_shown_beside_the_form_keeping_what_was_typed(
    app: FastAPI, migrated_database: Database, lang: str
) -> None:
    database = migrated_database
    org = organisation(database)
    _ = translations(lang).gettext
    client = browser(app, org["manager"], lang)
    unknown = post(
        client,
        PAGE,
        {"course_id": COURSE, "target": "person", "username": "nobody-such-person", "due": "next spring"},
    )
    assert unknown.status_code == 400
    text = seen(unknown)
    assert _("Nobody with this username is in your part of the organisation.") in text
    assert _("Give the due date as year-month-day, such as 2027-03-31.") in text
    assert 'value="nobody-such-person"' in text
    assert 'value="next spring"' in text
    assert re.search(r'value="person" checked', text)
    empty = post(client, PAGE, {"course_id": COURSE, "target": "role", "role": "trainer", "due": ""})
    assert empty.status_code == 400
    assert _("Give a due date.") in seen(empty)
    assert re.search(r'value="role" checked', empty.text)
    assert re.search(r'<option value="trainer" selected>', empty.text)
    past = (today(database) - timedelta(days=1)).isoformat()
    late = require_county(client, database, org, past)
    assert late.status_code == 400
    assert _("The due date has passed: give today or a later day.") in seen(late)
    assert f'value="{past}"' in late.text
    county = unit_id(database, org["county"])
    assert re.search(rf'<option value="{county}" selected>', late.text)
    # The same requirement twice: the second is refused in words.
    due = (today(database) + timedelta(days=30)).isoformat()
    assert require_county(client, database, org, due).status_code == 303
    again = require_county(client, database, org, due)
    assert again.status_code == 409
    assert "alert" in again.text
    assert str(active(database, org["county"])[0].id) in again.text
    # Someone outside the manager's part does not exist for them.
    elsewhere = post(
        client,
        PAGE,
        {"course_id": COURSE, "target": "person", "username": org["elsewhere"].username, "due": due},
    )
    assert elsewhere.status_code == 400
    assert _("Nobody with this username is in your part of the organisation.") in seen(elsewhere)


def test_a_manager_elsewhere_neither_sees_nor_withdraws(app: FastAPI, migrated_database: Database) -> None:
    database = migrated_database
    org = organisation(database)
    here = browser(app, org["manager"])
    due = (today(database) + timedelta(days=30)).isoformat()
    assert require_county(here, database, org, due).status_code == 303
    [made] = active(database, org["county"])
    other = browser(app, org["elsewhere"])
    page = other.get(PAGE)
    assert page.status_code == 200
    assert f'id="assignment-{made.id}"' not in page.text
    assert org["county"] not in page.text  # not even offered as a unit to choose
    refused = post(other, f"{PAGE}/{made.id}/withdraw", {"confirm": "yes", "reason": "not mine"})
    assert refused.status_code == 404
    tampered = require_county(other, database, org, due)  # a unit outside their part, by id
    assert tampered.status_code == 404
    assert active(database, org["county"]) != []
    # An inspector has no such page at all.
    inspector = browser(app, org["inspectors"][0])
    assert inspector.get(PAGE, follow_redirects=False).status_code == 403


def test_withdrawing_asks_first_and_wants_a_reason(app: FastAPI, migrated_database: Database) -> None:
    database = migrated_database
    org = organisation(database)
    _ = translations("en").gettext
    client = browser(app, org["manager"])
    due = today(database) + timedelta(days=30)
    assert require_county(client, database, org, due.isoformat()).status_code == 303
    [made] = active(database, org["county"])
    url = f"{PAGE}/{made.id}/withdraw"
    asked = post(client, url, {})
    assert asked.status_code == 200
    assert _("Withdraw this requirement?") in seen(asked)
    assert f"{TITLE['en']}, required of the inspectors of {org['county']}" in seen(asked)
    assert active(database, org["county"]) != []
    no_reason = post(client, url, {"confirm": "yes", "reason": "  "})
    assert no_reason.status_code == 422
    assert _("Give a reason: it is kept in the audit log.") in seen(no_reason)
    assert active(database, org["county"]) != []
    done = post(client, url, {"confirm": "yes", "reason": "Merged into the provincial plan."})
    assert done.status_code == 303
    assert done.headers["location"] == f"{PAGE}?withdrawn=1"
    assert active(database, org["county"]) == []
    with database.session() as db:
        kept = db.get_one(Assignment, made.id)
        assert kept.withdrawn_reason == "Merged into the provincial plan."
        event = db.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "assignment.withdrawn", AuditEvent.target_id == str(made.id)
            )
        ).one()
        assert "Merged into the provincial plan." in str(event.details)
    assert post(client, url, {"confirm": "yes", "reason": "again"}).status_code == 404
    page = client.get(f"{PAGE}?withdrawn=1")
    assert _("The requirement is withdrawn.") in seen(page)
    assert f'id="assignment-{made.id}"' not in page.text


def test_forms_without_the_csrf_token_are_refused(app: FastAPI, migrated_database: Database) -> None:
    database = migrated_database
    org = organisation(database)
    client = browser(app, org["manager"])
    due = (today(database) + timedelta(days=30)).isoformat()
    county = str(unit_id(database, org["county"]))
    form = {"course_id": COURSE, "target": "unit", "unit_id": county, "due": due}
    assert client.post(PAGE, data=form, follow_redirects=False).status_code == 403
    assert active(database, org["county"]) == []
    assert require_county(client, database, org, due).status_code == 303
    [made] = active(database, org["county"])
    refused = client.post(
        f"{PAGE}/{made.id}/withdraw", data={"confirm": "yes", "reason": "x"}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert active(database, org["county"]) != []


def _required_setup(app: FastAPI, database: Database) -> dict[str, Any]:
    """The county's three inspectors required the course: one certified, two overdue (the due
    date moved into the past in the database, as the clock would)."""
    org = organisation(database)
    client = browser(app, org["manager"])
    assert (
        require_county(client, database, org, (today(database) + timedelta(days=5)).isoformat()).status_code
        == 303
    )
    certified, *late = org["inspectors"]
    _certify(database, certified, expires_in=timedelta(days=400))
    with database.write() as db:
        [made] = db.scalars(
            select(Assignment).where(
                Assignment.unit_id == unit_id(database, org["county"]), Assignment.withdrawn_at.is_(None)
            )
        ).all()
        made.due = today(database) - timedelta(days=3)
        mark_changed(db, *db.scalars(select(Unit.id).where(Unit.lineage.startswith(made.lineage))))
    return {**org, "client": client, "certified": certified, "late": late}


def _cells(page: str, row_id: str) -> dict[str, int]:
    row = re.search(rf'<tr id="{row_id}">(.*?)</tr>', page, re.S)
    assert row is not None, row_id
    cells = re.findall(r"<td(?: data-state=\"(\w+)\")?>(.*?)</td>", row.group(1), re.S)
    counts = {}
    for i, (name, cell) in enumerate(cells):
        number = re.sub(r"<[^>]+>", "", cell).split()[0]
        counts[name or ("required" if i == 0 else str(i))] = int(number)
    return counts


def test_the_rollup_counts_required_people_as_the_tallies_do(
    app: FastAPI, migrated_database: Database
) -> None:
    database = migrated_database
    setup = _required_setup(app, database)
    client = setup["client"]
    city = unit_id(database, setup["city"])
    page = client.get(f"/manage?unit={city}&course={COURSE}")
    assert page.status_code == 200
    text = seen(page)
    assert "Required of people in City" in text
    assert "Every inspector, every course in City" in text  # the all-inspector tables remain, below
    assert text.index("Required of people in City") < text.index("Every inspector, every course in City")
    assert 'href="/manage/requirements"' in page.text
    counts = _cells(page.text, f"required-{COURSE}")
    assert counts == {
        "required": 3,
        "valid": 1,
        "due_for_renewal": 0,
        "grace": 0,
        "expired": 0,
        "not_yet_certified": 0,
        "overdue": 2,
    }
    with database.session() as db:
        unit = compliance.unit_ref(db, city)
        assert unit is not None
        tallies = compliance.rollup(db, unit, [COURSE]).required[COURSE]
    assert tallies.as_dict() == counts
    api = client.get(f"/api/v1/units/{city}/compliance", headers=token(client, setup["manager"]))
    assert api.status_code == 200
    [course] = [c for c in api.json()["courses"] if c["course_id"] == COURSE]
    assert course["required"] == counts
    [county] = [c for c in api.json()["children"] if c["unit"] and c["unit"]["name"] == "County"]
    assert next(c for c in county["courses"] if c["course_id"] == COURSE)["required"] == counts
    assert (
        f"/manage/inspectors?basis=required&amp;unit={city}&amp;course={COURSE}&amp;state=overdue"
        in page.text
    )
    # The by-unit table of the course: the county's row carries the required counts.
    by_unit = re.search(r'<table class="numbers required-by-unit">(.*?)</table>', page.text, re.S)
    assert by_unit is not None
    county_row = re.search(r"<tr>\s*<th scope=\"row\">County</th>(.*?)</tr>", by_unit.group(1), re.S)
    assert county_row is not None
    numbers = [
        int(re.sub(r"<[^>]+>", "", c).split()[0])
        for c in re.findall(r"<td[^>]*>(.*?)</td>", county_row.group(1), re.S)
    ]
    assert numbers == [3, 1, 0, 0, 0, 0, 2]


def test_the_list_of_required_people_filters_by_state_and_sorts(
    app: FastAPI, migrated_database: Database
) -> None:
    database = migrated_database
    setup = _required_setup(app, database)
    client = setup["client"]
    city = unit_id(database, setup["city"])
    base = f"/manage/inspectors?basis=required&unit={city}&course={COURSE}"
    overdue = client.get(f"{base}&state=overdue&sort=name")
    assert overdue.status_code == 200
    late_names = sorted(f"Test {p.username}" for p in setup["late"])
    found = re.findall(r'<a href="/people/\d+">([^<]+)</a>', overdue.text)
    assert found == late_names
    assert "Showing 1–2 of 2" in seen(overdue)
    assert "Overdue" in overdue.text
    assert (today(database) - timedelta(days=3)).isoformat() in overdue.text
    valid = client.get(f"{base}&state=valid")
    assert re.findall(r'<a href="/people/\d+">([^<]+)</a>', valid.text) == [
        f"Test {setup['certified'].username}"
    ]
    assert 'href="/certificates/T-' in valid.text  # their certificate's number
    everyone = client.get(f"{base}&sort=name&dir=desc")
    assert re.findall(r'<a href="/people/\d+">([^<]+)</a>', everyone.text) == sorted(
        [*late_names, f"Test {setup['certified'].username}"], reverse=True
    )
    assert client.get(f"{base}&state=never_certified").status_code == 400  # not a required state
    assert client.get(f"{base}&state=not_yet_certified").status_code == 200
    # Pagination: the third person is on page 2 of pages of 2? No: pages hold 50; page 2 is empty.
    second = client.get(f"{base}&page=2")
    assert re.findall(r'<a href="/people/\d+">', second.text) == []
    # The beside-county inspector is not required anything.
    assert setup["beside"].username not in everyone.text


def test_exports_carry_the_required_columns(app: FastAPI, migrated_database: Database) -> None:
    database = migrated_database
    setup = _required_setup(app, database)
    client = setup["client"]
    city = unit_id(database, setup["city"])
    rollup = client.get(f"/manage/rollup.csv?unit={city}")
    assert rollup.status_code == 200
    rows = list(csv.reader(io.StringIO(rollup.content.decode("utf-8-sig"))))
    header = rows[0]
    assert header[-7:] == [
        "Required",
        "Required: Valid",
        "Required: Due for renewal",
        "Required: Grace period",
        "Required: Expired",
        "Required: Not yet certified",
        "Required: Overdue",
    ]
    whole = next(r for r in rows[1:] if r[0] == setup["city"] and r[1] == "Demo course")
    assert whole[-7:] == ["3", "1", "0", "0", "0", "0", "2"]
    xlsx = client.get(f"/manage/rollup.xlsx?unit={city}")
    assert xlsx.status_code == 200
    table = [
        list(r)
        for r in openpyxl.load_workbook(io.BytesIO(xlsx.content)).worksheets[0].iter_rows(values_only=True)
    ]
    assert table[0][-7:] == header[-7:]
    assert next(r for r in table[1:] if r[0] == setup["city"])[-7:] == [3, 1, 0, 0, 0, 0, 2]
    listed_xlsx = client.get(f"/manage/inspectors.xlsx?basis=required&unit={city}&course={COURSE}")
    listed_table = list(
        openpyxl.load_workbook(io.BytesIO(listed_xlsx.content)).worksheets[0].iter_rows(values_only=True)
    )
    assert listed_table[0][4] == "Due by (Asia/Shanghai)"
    assert len(listed_table) == 4  # the header and the three people required the course
    listed = client.get(f"/manage/inspectors.csv?basis=required&unit={city}&course={COURSE}&state=overdue")
    assert listed.status_code == 200
    rows = list(csv.reader(io.StringIO(listed.content.decode("utf-8-sig"))))
    assert rows[0][:6] == ["Name", "Username", "Unit", "Course", "Due by (Asia/Shanghai)", "State"]
    assert sorted(r[1] for r in rows[1:]) == sorted(p.username for p in setup["late"])
    assert {r[5] for r in rows[1:]} == {"Overdue"}
    assert {r[4] for r in rows[1:]} == {(today(database) - timedelta(days=3)).isoformat()}
    zh = TestClient(app, base_url="http://testserver")
    zh.cookies.update(client.cookies)
    zh.headers.update(ZH)
    chinese = zh.get(f"/manage/inspectors.csv?basis=required&unit={city}&course={COURSE}&state=overdue")
    zh_rows = list(csv.reader(io.StringIO(chinese.content.decode("utf-8-sig"))))
    assert {r[5] for r in zh_rows[1:]} == {translations("zh-CN").gettext("Overdue")} != {"Overdue"}


@pytest.mark.parametrize("lang", LANGS)
def test_the_dashboard_shows_what_is_required_and_by_when(
    app: FastAPI, migrated_database: Database, lang: str
) -> None:
    database = migrated_database
    org = organisation(database)
    _ = translations(lang).gettext
    manager = browser(app, org["manager"])
    due = today(database) + timedelta(days=45)
    assert require_county(manager, database, org, due.isoformat()).status_code == 303
    inspector = browser(app, org["inspectors"][0], lang)
    page = inspector.get("/dashboard")
    text = seen(page)
    assert _("Required of you") in text
    assert TITLE[lang] in text
    assert _("Due by %(date)s") % {"date": shown_date(due, lang)} in text
    assert _("Not yet certified") in text
    assert 'href="/courses/demo-course/demo-first"' in page.text  # next: read the first module
    # Past the due date: overdue, first, marked in words.
    with database.write() as db:
        [made] = db.scalars(
            select(Assignment).where(
                Assignment.unit_id == unit_id(database, org["county"]), Assignment.withdrawn_at.is_(None)
            )
        ).all()
        made.due = today(database) - timedelta(days=1)
    text = seen(inspector.get("/dashboard"))
    assert re.search(r'class="badge state-badge-overdue">' + re.escape(_("Overdue")), text)
    # Someone beside the county is not required anything.
    beside = browser(app, org["beside"], lang)
    assert _("Required of you") not in seen(beside.get("/dashboard"))
