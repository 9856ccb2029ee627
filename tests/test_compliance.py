"""Manager compliance views: the roll-up agrees with a direct count of the same data whatever
happens (issue, suspend, move, deactivate, the clock), lists filter/sort/paginate correctly,
exports read back with Chinese intact, snapshots keep the past, and every view is scoped."""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from datetime import timedelta

import openpyxl
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from tests.conftest import (
    Person,
    csrf_token,
    make_person,
    pass_exam,
    right_answer,
    sign_in,
    token,
)
from trainer import localtime
from trainer.access import Viewer
from trainer.audit import service as audit
from trainer.certification import policy
from trainer.certification.models import Certificate
from trainer.db import MAX_ID, Database, utcnow
from trainer.people import service as people
from trainer.people.models import Unit, User, UserRole
from trainer.quizzes.models import Attempt
from trainer.reports import compliance
from trainer.reports.compliance import ListQuery
from trainer.reports.models import ComplianceChange, ComplianceSnapshot, ExamTally, ItemMark
from trainer.tallies import changes

COURSE = "demo-course"


def _province(name: str | None = None) -> str:
    return name or f"省{uuid.uuid4().hex[:6]}"


def _certify(
    database: Database,
    person: Person,
    *,
    expires_in: timedelta,
    course_id: str = COURSE,
    suspended: bool = False,
    revoked: bool = False,
) -> str:
    """A current certificate with chosen dates, written as the service would (and queued)."""
    now = utcnow()
    with database.write() as db:
        user = db.get_one(User, person.id)
        attempt = Attempt(
            user_id=user.id,
            unit_id=user.unit_id,
            kind="exam",
            course_id=course_id,
            content_hash="test",
            seed=1,
            status="graded",
            started_at=now,
            submitted_at=now,
            score=3.0,
            max_score=3.0,
            pass_mark=0.8,
            passed=True,
            review="after_submit",
        )
        db.add(attempt)
        db.flush()
        expires = now + expires_in
        number = f"T-{uuid.uuid4().hex[:12]}"
        db.add(
            Certificate(
                number=number,
                verification_code=uuid.uuid4().hex[:16],
                user_id=user.id,
                course_id=course_id,
                content_hash="test",
                holder_name=user.full_name,
                unit_path=None,
                title="Demo qualification",
                issued_at=now,
                valid_from=expires - timedelta(days=3 * 365),
                expires_at=expires,
                renewal_window_days=90,
                grace_days=60,
                renewal_from=expires - timedelta(days=90),
                grace_until=expires + timedelta(days=60),
                attempt_id=attempt.id,
                score=3.0,
                max_score=3.0,
                snapshot_hash="x",
                is_current=True,
                suspended_at=now if suspended else None,
                suspended_reason="test" if suspended else None,
                revoked_at=now if revoked else None,
                revoked_reason="test" if revoked else None,
            )
        )
        changes.mark_changed(db, user.unit_id)
    return number


def _direct(database: Database, lineage: str, course_id: str, now: object) -> dict[str, int]:
    """The same figures counted straight from people and certificates, row by row."""
    with database.session() as db:
        inspectors = db.execute(
            select(User.id)
            .join(Unit, Unit.id == User.unit_id)
            .join(UserRole, (UserRole.user_id == User.id) & (UserRole.role == "inspector"))
            .where(User.is_active.is_(True), Unit.lineage.startswith(lineage))
        ).all()
        ids = {i for (i,) in inspectors}
        certificates = db.scalars(
            select(Certificate).where(
                Certificate.user_id.in_(ids),
                Certificate.course_id == course_id,
                Certificate.is_current.is_(True),
            )
        ).all()
    counts = Counter(policy.state_at(_facts(c), now).value for c in certificates)  # type: ignore[arg-type]
    result = {"inspectors": len(ids), **{s: counts.get(s, 0) for s in compliance.STATES}}
    result["never_certified"] = len(ids) - len(certificates)
    return result


def _facts(c: Certificate) -> policy.Facts:
    return policy.Facts(
        c.valid_from, c.expires_at, c.renewal_window_days, c.grace_days, c.suspended_at, c.revoked_at
    )


def _lineage(database: Database, path: str) -> tuple[int, str]:
    with database.session() as db:
        row = db.execute(select(Unit.id, Unit.lineage).where(Unit.path == path)).one()
    return row.id, row.lineage


def _rollup(
    database: Database, unit_id: int, now: object, course_ids: list[str] | None = None
) -> compliance.Rollup:
    compliance.refresh(database, now)  # type: ignore[arg-type]
    with database.session() as db:
        ref = compliance.unit_ref(db, unit_id)
        assert ref is not None
        return compliance.rollup(db, ref, course_ids or [COURSE])


def _assert_agrees(database: Database, unit_path: str, now: object) -> compliance.Rollup:
    unit_id, lineage = _lineage(database, unit_path)
    result = _rollup(database, unit_id, now)
    assert result.total[COURSE].as_dict() == _direct(database, lineage, COURSE, now)
    for row in result.rows:
        if row.unit is not None:
            assert row.courses[COURSE].as_dict() == _direct(database, row.unit.lineage, COURSE, now), (
                row.unit.path
            )
    return result


def _populate(database: Database, province: str) -> dict[str, list[Person]]:
    """Two cities, three units, inspectors in every state (and one never certified per unit)."""
    units = {
        "a1": f"{province}/哈尔滨市/道里区/监察一队",
        "a2": f"{province}/哈尔滨市/南岗区/监察二队",
        "b1": f"{province}/齐齐哈尔市/龙沙区/监察队",
    }
    people_by_unit: dict[str, list[Person]] = {}
    plans = {
        "a1": [timedelta(days=400), timedelta(days=20), timedelta(days=-10), timedelta(days=-100), None],
        "a2": [timedelta(days=700), timedelta(days=45), "suspended", "revoked", None, None],
        "b1": [timedelta(days=80), timedelta(days=-30), None],
    }
    for key, plan in plans.items():
        people_by_unit[key] = []
        for item in plan:
            person = make_person(database, "inspector", unit=units[key])
            people_by_unit[key].append(person)
            if isinstance(item, timedelta):
                _certify(database, person, expires_in=item)
            elif item == "suspended":
                _certify(database, person, expires_in=timedelta(days=300), suspended=True)
            elif item == "revoked":
                _certify(database, person, expires_in=timedelta(days=300), revoked=True)
    # Not counted: a trainer with a certificate, and a deactivated inspector.
    trainer = make_person(database, "trainer", unit=units["a1"])
    _certify(database, trainer, expires_in=timedelta(days=300))
    gone = make_person(database, "inspector", unit=units["b1"], active=False)
    _certify(database, gone, expires_in=timedelta(days=300))
    return people_by_unit


def test_the_rollup_equals_a_direct_count_through_changes_and_time(
    client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    province = _province()
    people_by_unit = _populate(database, province)
    now = utcnow()
    result = _assert_agrees(database, province, now)
    counts = result.total[COURSE]
    assert counts.inspectors == 14
    assert counts.states == {
        "valid": 2,
        "due_for_renewal": 3,
        "grace": 2,
        "expired": 1,
        "suspended": 1,
        "revoked": 1,
    }
    assert counts.never_certified == 4
    assert [r.unit.name for r in result.rows if r.unit] == sorted(["哈尔滨市", "齐齐哈尔市"])
    _assert_agrees(database, f"{province}/哈尔滨市", now)

    # The clock alone moves certificates between states: a year on, the tallies recount.
    for later in (now + timedelta(days=30), now + timedelta(days=95), now + timedelta(days=500)):
        _assert_agrees(database, province, later)
    compliance.rebuild(database, now)  # back from the future (real clocks only move forward)
    _assert_agrees(database, province, now)

    # People change: deactivation, a move to another city, a new inspector.
    with database.write() as db:
        people.set_active(db, audit.SYSTEM, db.get_one(User, people_by_unit["a1"][0].id), False, now)
        moved = db.get_one(User, people_by_unit["a2"][0].id)
        target = db.scalars(select(Unit).where(Unit.path == f"{province}/齐齐哈尔市/龙沙区/监察队")).one()
        people.update_user(
            db,
            audit.SYSTEM,
            moved,
            full_name=moved.full_name,
            email=None,
            unit=target,
            roles=["inspector"],
            now=now,
        )
    make_person(database, "inspector", unit=f"{province}/齐齐哈尔市/龙沙区/监察队")
    result = _assert_agrees(database, province, now)
    assert result.total[COURSE].inspectors == 14
    qiqihar = next(r for r in result.rows if r.unit and r.unit.name == "齐齐哈尔市")
    assert qiqihar.courses[COURSE].inspectors == 5

    # A manager suspends through the API: counted as suspended at once.
    manager = make_person(database, "manager", unit=province)
    number = _certify(database, people_by_unit["b1"][2], expires_in=timedelta(days=900))
    response = client.post(
        f"/api/v1/certificates/{number}/suspend", headers=token(client, manager), json={"reason": "audit"}
    )
    assert response.status_code == 200, response.text
    _assert_agrees(database, province, utcnow())


def test_passing_an_exam_counts_at_once_with_item_marks_and_monthly_tally(
    client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    province = _province()
    unit_path = f"{province}/City/County/Unit"
    person = make_person(database, "inspector", unit=unit_path)
    headers = token(client, person)
    unit_id, _ = _lineage(database, unit_path)
    before = _rollup(database, unit_id, utcnow()).total[COURSE]
    assert (before.inspectors, before.never_certified) == (1, 1)
    from tests.conftest import complete_modules

    complete_modules(client, headers, database)
    result = pass_exam(client, database, headers)
    after = _rollup(database, unit_id, utcnow()).total[COURSE]
    assert (after.states["valid"], after.never_certified) == (1, 0)
    with database.session() as db:
        attempt = db.scalars(
            select(Attempt).where(Attempt.user_id == person.id, Attempt.kind == "exam")
        ).one()
        marks = db.scalars(select(ItemMark).where(ItemMark.attempt_id == attempt.id)).all()
        tally = db.scalars(select(ExamTally).where(ExamTally.unit_id == unit_id)).one()
    assert attempt.unit_id == unit_id
    assert len(marks) == attempt.max_score  # every question drawn (a scenario brings its group)
    assert sum(m.mark for m in marks) == result["score"]
    assert (tally.course_id, tally.taken, tally.passed) == (COURSE, 1, 1)
    assert tally.month == utcnow().strftime("%Y-%m")


def test_unanswered_questions_are_item_marks_of_zero(client: TestClient, migrated_database: Database) -> None:
    database = migrated_database
    person = make_person(database, "inspector", unit=f"{_province()}/C/C/U")
    headers = token(client, person)
    from tests.conftest import complete_modules

    complete_modules(client, headers, database)
    attempt = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers).json()
    first = attempt["questions"][0]["slot"]
    client.put(
        f"/api/v1/attempts/{attempt['id']}/answers/{first}",
        headers=headers,
        json=right_answer(database, attempt["id"], first),
    )
    assert client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers).json()["passed"] is False
    with database.session() as db:
        marks = {
            m.slot: m.mark for m in db.scalars(select(ItemMark).where(ItemMark.attempt_id == attempt["id"]))
        }
    assert len(marks) == len(attempt["questions"])
    assert marks[first] == 1.0
    assert sorted(marks.values()) == [0.0] * (len(marks) - 1) + [1.0]


def _all_rows(database: Database, query: ListQuery, now: object) -> list[compliance.ListRow]:
    with database.session() as db:
        return compliance.list_inspectors(db, query, now, limit=0).rows  # type: ignore[arg-type]


def test_lists_filter_sort_and_paginate(migrated_database: Database) -> None:
    database = migrated_database
    province = _province()
    _populate(database, province)
    now = utcnow()
    _, lineage = _lineage(database, province)
    everyone = _all_rows(database, ListQuery(lineage=lineage), now)
    assert len(everyone) == 10  # current certificates of active inspectors
    assert [r.expires_at for r in everyone] == sorted(r.expires_at for r in everyone)  # type: ignore[type-var]
    for state in compliance.STATES:
        rows = _all_rows(database, ListQuery(lineage=lineage, state=state), now)
        assert rows, state
        assert {r.state for r in rows} == {state}
        assert len(rows) == sum(1 for r in everyone if r.state == state)
    never = _all_rows(database, ListQuery(lineage=lineage, state="never_certified", course_id=COURSE), now)
    assert len(never) == 4
    assert all(r.number is None and r.state == "never_certified" for r in never)
    assert [r.full_name for r in never] == sorted(r.full_name for r in never)
    for days, expected in ((30, 1), (60, 2), (90, 3)):
        rows = _all_rows(database, ListQuery(lineage=lineage, state="expiring", within_days=days), now)
        assert len(rows) == expected, days
        assert all(r.expires_at is not None and 0 < (r.expires_at - now).days + 1 <= days for r in rows)
    by_name = _all_rows(database, ListQuery(lineage=lineage, sort="name", descending=True), now)
    assert [r.full_name for r in by_name] == sorted((r.full_name for r in everyone), reverse=True)
    # Pages of 4: every row exactly once, in order.
    seen = []
    page = 1
    while True:
        with database.session() as db:
            result = compliance.list_inspectors(db, ListQuery(lineage=lineage, page=page, per_page=4), now)
        seen += result.rows
        if not result.has_next:
            break
        page += 1
    assert page == 3
    assert [r.number for r in seen] == [r.number for r in everyone]
    # A unit's list is its subtree only.
    _, city = _lineage(database, f"{province}/齐齐哈尔市")
    assert len(_all_rows(database, ListQuery(lineage=city), now)) == 2


def test_manager_pages_and_api_are_scoped(client: TestClient, migrated_database: Database) -> None:
    database = migrated_database
    province = _province()
    _populate(database, province)
    harbin_id, _ = _lineage(database, f"{province}/哈尔滨市")
    qiqihar_id, _ = _lineage(database, f"{province}/齐齐哈尔市")
    manager = make_person(database, "manager", unit=f"{province}/哈尔滨市")
    sign_in(client, manager)
    page = client.get("/manage")
    assert page.status_code == 200
    assert "哈尔滨市" in page.text
    assert "道里区" in page.text
    assert "齐齐哈尔市" not in page.text
    assert client.get(f"/manage?unit={qiqihar_id}").status_code == 404
    assert client.get(f"/manage/inspectors?unit={qiqihar_id}").status_code == 404
    assert client.get(f"/manage/rollup.csv?unit={qiqihar_id}").status_code == 404
    assert client.get("/manage?unit=abc").status_code == 404
    assert client.get("/manage?course=nope").status_code == 404
    assert client.get("/manage/inspectors?state=bogus").status_code == 400
    assert client.get("/manage/inspectors?within=45&state=expiring").status_code == 400
    listing = client.get(f"/manage/inspectors?unit={harbin_id}&state=grace")
    assert listing.status_code == 200
    assert listing.text.count('class="badge state-badge-grace"') == 1
    assert "Showing 1–1 of 1" in listing.text
    headers = token(client, manager)
    api = client.get(f"/api/v1/units/{harbin_id}/compliance", headers=headers)
    assert api.status_code == 200
    body = api.json()
    course = next(c for c in body["courses"] if c["course_id"] == COURSE)
    assert course["inspectors"] == 11
    assert course["never_certified"] == 3
    assert {c["unit"]["name"] for c in body["children"]} == {"道里区", "南岗区"}
    assert client.get(f"/api/v1/units/{qiqihar_id}/compliance", headers=headers).status_code == 404
    inspector = make_person(database, "inspector", unit=f"{province}/哈尔滨市/道里区/监察一队")
    other = token(client, inspector)
    assert client.get(f"/api/v1/units/{harbin_id}/compliance", headers=other).status_code == 403
    assert client.get(f"/api/v1/inspectors/{inspector.id}/transcript", headers=other).status_code == 200
    assert client.get(f"/api/v1/inspectors/{manager.id}/transcript", headers=other).status_code == 404
    transcript = client.get(f"/api/v1/inspectors/{inspector.id}/transcript", headers=headers).json()
    assert transcript["inspector"]["username"] == inspector.username
    assert transcript["courses"][0]["course_id"] == COURSE


def test_exports_read_back_with_chinese_intact(client: TestClient, migrated_database: Database) -> None:
    database = migrated_database
    province = _province()
    _populate(database, province)
    sneaky = make_person(database, "inspector", unit=f"{province}/哈尔滨市/道里区/监察一队")
    with database.write() as db:
        db.get_one(User, sneaky.id).full_name = '=HYPERLINK("http://evil")'
    manager = make_person(database, "manager", unit=province)
    sign_in(client, manager)
    province_id, _ = _lineage(database, province)
    query = f"unit={province_id}&course={COURSE}&state=never_certified&sort=name"
    csv_response = client.get(f"/manage/inspectors.csv?{query}")
    assert csv_response.status_code == 200
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert csv_response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(csv_response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Name", "Username", "Unit"]
    assert len(rows) == 1 + 5
    assert any(r[2] == f"{province}/哈尔滨市/道里区/监察一队" for r in rows[1:])
    assert [r[0] for r in rows[1:] if "HYPERLINK" in r[0]] == ['\'=HYPERLINK("http://evil")']
    xlsx_response = client.get(f"/manage/inspectors.xlsx?{query}")
    assert xlsx_response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(xlsx_response.content), read_only=True)
    sheet = book.worksheets[0]
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0][:3] == ["Name", "Username", "Unit"]
    assert sorted(r[1] for r in values[1:]) == sorted(r[1] for r in rows[1:])
    assert any(r[2] == f"{province}/齐齐哈尔市/龙沙区/监察队" for r in values[1:])
    # The roll-up export, in Chinese: headers translated, every child and the total.
    zh = {"Accept-Language": "zh-CN"}
    rollup = client.get(f"/manage/rollup.xlsx?unit={province_id}", headers=zh)
    sheet = openpyxl.load_workbook(io.BytesIO(rollup.content), read_only=True).worksheets[0]
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert table[0][0] == "单位"
    assert {r[0] for r in table[1:]} == {f"{province}/哈尔滨市", f"{province}/齐齐哈尔市", province}
    total = next(r for r in table[1:] if r[0] == province)
    assert total[2] == 15  # inspectors, with the sneaky one
    rollup_csv = client.get(f"/manage/rollup.csv?unit={province_id}", headers=zh)
    parsed = list(csv.reader(io.StringIO(rollup_csv.content.decode("utf-8-sig"))))
    assert parsed[1:] == [[str(c) for c in r] for r in table[1:]]


def test_a_monthly_snapshot_keeps_the_past(client: TestClient, migrated_database: Database) -> None:
    database = migrated_database
    province = _province()
    people_by_unit = _populate(database, province)
    now = utcnow()
    compliance.take_snapshot(database, now)  # may already be kept by another test this month
    manager = make_person(database, "manager", unit=province)
    sign_in(client, manager)
    province_id, _ = _lineage(database, province)
    month = now.strftime("%Y-%m")
    with database.session() as db:
        ref = compliance.unit_ref(db, province_id)
        assert ref is not None
        kept = compliance.rollup(db, ref, [COURSE], month=month).total[COURSE]
    # Units created after the snapshot have nothing kept; re-keep by hand for this province.
    if kept.inspectors == 0:
        from sqlalchemy import delete

        from trainer.reports.models import ComplianceSnapshot

        with database.write() as db:
            db.execute(delete(ComplianceSnapshot).where(ComplianceSnapshot.month == month))
        assert compliance.take_snapshot(database, now)
        with database.session() as db:
            kept = compliance.rollup(db, ref, [COURSE], month=month).total[COURSE]
    assert kept.as_dict() == _direct(database, ref.lineage, COURSE, now)
    assert not compliance.take_snapshot(database, now)  # once a month
    # Later changes do not rewrite the kept month.
    with database.write() as db:
        people.set_active(db, audit.SYSTEM, db.get_one(User, people_by_unit["a1"][1].id), False, now)
    with database.session() as db:
        again = compliance.rollup(db, ref, [COURSE], month=month).total[COURSE]
    assert again.as_dict() == kept.as_dict()
    assert _rollup(database, province_id, utcnow()).total[COURSE].inspectors == kept.inspectors - 1
    page = client.get(f"/manage?unit={province_id}&month={month}")
    assert page.status_code == 200
    assert "As kept on " in page.text
    assert f"{month}-" in page.text
    assert client.get(f"/manage?unit={province_id}&month=1999-01").status_code == 404


def test_managers_act_on_certificates_from_the_record_page(
    client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    province = _province()
    inspector = make_person(database, "inspector", unit=f"{province}/哈尔滨市/道里区/队")
    number = _certify(database, inspector, expires_in=timedelta(days=500))
    elsewhere = make_person(database, "manager", unit=f"{province}/齐齐哈尔市")
    sign_in(client, elsewhere)
    refused = client.post(
        f"/certificates/{number}/action",
        data={"action": "suspend", "reason": "x", "csrf_token": csrf_token(client)},
        follow_redirects=False,
    )
    assert refused.status_code == 404
    client.cookies.clear()
    manager = make_person(database, "manager", unit=f"{province}/哈尔滨市")
    sign_in(client, manager)
    record = client.get(f"/people/{inspector.id}")
    assert record.status_code == 200
    assert number in record.text
    assert 'value="suspend"' in record.text
    no_reason = client.post(
        f"/certificates/{number}/action",
        data={
            "action": "suspend",
            "reason": " ",
            "csrf_token": csrf_token(client),
            "next": f"/people/{inspector.id}",
        },
        follow_redirects=False,
    )
    assert no_reason.status_code == 422
    assert "Give a reason" in no_reason.text
    done = client.post(
        f"/certificates/{number}/action",
        data={
            "action": "suspend",
            "reason": "Under investigation",
            "csrf_token": csrf_token(client),
            "next": f"/people/{inspector.id}",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/people/{inspector.id}"
    with database.session() as db:
        certificate = db.scalars(select(Certificate).where(Certificate.number == number)).one()
    assert policy.state_at(_facts(certificate), utcnow()) is policy.State.SUSPENDED
    assert certificate.suspended_reason == "Under investigation"
    record = client.get(f"/people/{inspector.id}").text
    assert "Under investigation" in record
    assert "certificate.suspended" in record
    assert 'value="reinstate"' in record


def test_report_commands_keep_a_snapshot_and_recount(database_url: str, migrated_database: Database) -> None:
    from tests.test_cli import trainer

    province = _province()
    _populate(migrated_database, province)
    unit_id, lineage = _lineage(migrated_database, province)
    from trainer.reports.models import ComplianceTally

    with migrated_database.write() as db:  # spoil the tallies: recount must restore them
        db.execute(ComplianceTally.__table__.update().values(valid=999))
    env = {"TRAINER_DATABASE_URL": database_url}
    recount = trainer("reports", "recount", env=env)
    assert recount.returncode == 0, recount.stderr
    assert "recounted" in recount.stdout
    with migrated_database.session() as db:
        ref = compliance.unit_ref(db, unit_id)
        assert ref is not None
        counts = compliance.rollup(db, ref, [COURSE]).total[COURSE]
    assert counts.as_dict() == _direct(migrated_database, lineage, COURSE, utcnow())
    first = trainer("reports", "snapshot", env=env)
    assert first.returncode == 0, first.stderr
    again = trainer("reports", "snapshot", env=env)
    assert "already kept" in again.stdout


def test_admins_reach_every_organisation(client: TestClient, migrated_database: Database) -> None:
    first, second = _province(), _province()
    make_person(migrated_database, "inspector", unit=f"{first}/A/B/C")
    make_person(migrated_database, "inspector", unit=f"{second}/A/B/C")
    second_id, _ = _lineage(migrated_database, second)
    admin = make_person(migrated_database, "admin", unit=None)
    sign_in(client, admin)
    first_id, _ = _lineage(migrated_database, first)
    page = client.get(f"/manage?unit={first_id}").text
    assert f'href="/manage?unit={second_id}"' in page  # the other top-level unit, one click away
    assert client.get(f"/manage?unit={second_id}").status_code == 200


def _viewer(database: Database, person: Person, *roles: str) -> Viewer:
    """The Viewer a request by `person` would carry (roles as given)."""
    with database.session() as db:
        user = db.get_one(User, person.id)
        unit = db.get(Unit, user.unit_id) if user.unit_id is not None else None
    return Viewer(
        id=person.id,
        username=person.username,
        full_name=user.full_name,
        roles=frozenset(roles),
        unit_id=unit.id if unit else None,
        unit_lineage=unit.lineage if unit else None,
        unit_name=unit.name if unit else None,
        unit_path=unit.path if unit else None,
        must_change_password=False,
    )


def test_a_managers_scope_and_the_units_around_it(migrated_database: Database) -> None:
    database = migrated_database
    province = _province()
    _populate(database, province)
    for name in ("Zeta", "Alpha"):
        make_person(database, "inspector", unit=f"{province}/哈尔滨市/{name}")
    ids = {
        name: _lineage(database, f"{province}/{name}" if name else province)[0]
        for name in ("", "哈尔滨市", "齐齐哈尔市", "哈尔滨市/道里区", "哈尔滨市/Alpha", "哈尔滨市/Zeta")
    }
    other = _province()
    make_person(database, "inspector", unit=f"{other}/X")
    other_id, _ = _lineage(database, other)
    manager = _viewer(database, make_person(database, "manager", unit=f"{province}/哈尔滨市"), "manager")
    admin = _viewer(database, make_person(database, "admin", unit=None), "admin")
    inspector = _viewer(
        database, make_person(database, "inspector", unit=f"{province}/哈尔滨市"), "inspector"
    )
    with database.session() as db:
        in_scope = compliance.unit_in_scope
        own = in_scope(db, manager, None)  # no id: the manager's own unit
        assert own is not None
        assert own.id == ids["哈尔滨市"]
        daoli = in_scope(db, manager, ids["哈尔滨市/道里区"])
        assert daoli is not None
        assert daoli.path == f"{province}/哈尔滨市/道里区"
        # Beside, above, unknown: none of them exist for this manager; nor anything for an inspector.
        assert [in_scope(db, manager, i) for i in (ids["齐齐哈尔市"], ids[""], MAX_ID)] == [None] * 3
        assert in_scope(db, inspector, None) is None
        first_top = db.scalar(select(func.min(Unit.id)).where(Unit.parent_id.is_(None)))
        top = in_scope(db, admin, None)  # an admin without a unit starts at the first top unit
        assert top is not None
        assert top.id == first_top
        assert in_scope(db, admin, ids["齐齐哈尔市"]) is not None

        # Breadcrumbs stop at the top of what the viewer manages.
        assert compliance.breadcrumbs(db, manager, daoli) == [
            (ids["哈尔滨市"], "哈尔滨市"),
            (ids["哈尔滨市/道里区"], "道里区"),
        ]
        assert [i for i, _ in compliance.breadcrumbs(db, admin, daoli)] == [
            ids[""],
            ids["哈尔滨市"],
            ids["哈尔滨市/道里区"],
        ]
        children = compliance.child_units(db, ids["哈尔滨市"])
        assert (ids["哈尔滨市/Alpha"], "Alpha") in children
        assert children.index((ids["哈尔滨市/Alpha"], "Alpha")) < children.index(
            (ids["哈尔滨市/Zeta"], "Zeta")
        )
        assert {i for i, _ in children} == {
            ids["哈尔滨市/道里区"],
            _lineage(database, f"{province}/哈尔滨市/南岗区")[0],
            ids["哈尔滨市/Alpha"],
            ids["哈尔滨市/Zeta"],
        }
        roots = compliance.other_top_units(db, ids[""])
        assert (other_id, other) in roots
        assert ids[""] not in {i for i, _ in roots}
        top_level = set(db.scalars(select(Unit.id).where(Unit.parent_id.is_(None))))
        assert {i for i, _ in roots} == top_level - {ids[""]}


def test_the_rollup_as_of_now_or_a_kept_month(migrated_database: Database) -> None:
    database = migrated_database
    province = _province()
    _populate(database, province)
    province_id, lineage = _lineage(database, province)
    now = utcnow()
    compliance.bring_up_to_date(database, now, keep_snapshot=True)
    month = localtime.month_of(now, database.time_zone)
    with database.session() as db:
        ref = compliance.unit_ref(db, province_id)
        assert ref is not None
        current = compliance.rollup_as_of(db, ref, [COURSE], None)
        assert current is not None
        assert current.month is None
        assert current.total[COURSE].as_dict() == _direct(database, lineage, COURSE, now)
        assert current == compliance.rollup(db, ref, [COURSE])
        kept = compliance.rollup_as_of(db, ref, [COURSE], month)
        assert kept is not None
        assert kept.month == month
        assert kept == compliance.rollup(db, ref, [COURSE], month=month)
        assert compliance.rollup_as_of(db, ref, [COURSE], "1999-01") is None  # nothing kept then


def test_bringing_up_to_date_recounts_the_queue_and_keeps_the_month_only_when_asked(
    migrated_database: Database,
) -> None:
    database = migrated_database
    province = _province()
    person = make_person(database, "inspector", unit=f"{province}/A")
    unit_id, lineage = _lineage(database, f"{province}/A")
    now = utcnow()
    compliance.bring_up_to_date(database, now, keep_snapshot=False)
    _certify(database, person, expires_in=timedelta(days=400))  # queued, not counted yet
    month = localtime.month_of(now, database.time_zone)
    with database.write() as db:
        db.execute(delete(ComplianceSnapshot).where(ComplianceSnapshot.month == month))
    with database.session() as db:
        ref = compliance.unit_ref(db, unit_id)
        assert ref is not None
        assert compliance.rollup(db, ref, [COURSE]).total[COURSE].states["valid"] == 0
    compliance.bring_up_to_date(database, now, keep_snapshot=False)
    with database.session() as db:
        counts = compliance.rollup(db, ref, [COURSE]).total[COURSE]
        assert counts.as_dict() == _direct(database, lineage, COURSE, now)
        assert counts.states["valid"] == 1
        assert db.scalar(select(func.count()).select_from(ComplianceChange)) == 0
        assert month not in compliance.snapshot_months(db)  # the API's way: no snapshot
    compliance.bring_up_to_date(database, now, keep_snapshot=True)
    with database.session() as db:
        assert month in compliance.snapshot_months(db)  # the pages' way: this month kept
        kept = compliance.rollup(db, ref, [COURSE], month=month).total[COURSE]
    assert kept.as_dict() == counts.as_dict()


def test_the_api_reads_a_kept_month_and_counts_a_change_at_once(
    client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    province = _province()
    _populate(database, province)
    province_id, _ = _lineage(database, province)
    headers = token(client, make_person(database, "manager", unit=province))
    url = f"/api/v1/units/{province_id}/compliance"
    now = utcnow()
    compliance.take_snapshot(database, now)  # may be kept already
    month = localtime.month_of(now, database.time_zone)
    with database.session() as db:
        ref = compliance.unit_ref(db, province_id)
        assert ref is not None
        kept = compliance.rollup(db, ref, [COURSE], month=month).total[COURSE].as_dict()
    body = client.get(url, params={"month": month}, headers=headers).json()
    assert body["month"] == month
    course = next(c for c in body["courses"] if c["course_id"] == COURSE)
    assert {key: course[key] for key in kept} == kept
    for missing in ("1999-01", "2026-1x"):
        refused = client.get(url, params={"month": missing}, headers=headers)
        assert (refused.status_code, refused.json()) == (404, {"detail": "no snapshot for that month"})
    unknown = client.get(f"/api/v1/units/{MAX_ID}/compliance", headers=headers)
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "no such unit"})

    def now_counts() -> dict[str, int]:
        body = client.get(url, headers=headers).json()
        assert body["month"] is None
        return next(c for c in body["courses"] if c["course_id"] == COURSE)  # type: ignore[no-any-return]

    before = now_counts()
    newcomer = make_person(database, "inspector", unit=f"{province}/哈尔滨市/道里区/监察一队")
    _certify(database, newcomer, expires_in=timedelta(days=400))
    after = now_counts()  # no page in between: the API's own read recounted the queued unit
    assert (after["inspectors"], after["valid"]) == (before["inspectors"] + 1, before["valid"] + 1)
