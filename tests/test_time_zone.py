"""Every date and time people read is in TRAINER_TIME_ZONE (default Asia/Shanghai), with the zone
named, and reports count months there: at 2026-11-30 17:00 UTC it is already 1 December in
Harbin. The JSON API stays in UTC."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Text, column, insert, select, table, update

from tests.conftest import (
    AUDIT_KEY,
    ZH,
    ContentDirs,
    make_person,
    pass_exam,
    ready_for_exam,
    sign_in,
)
from tests.test_cli import trainer
from trainer import migrate
from trainer.app import create_app
from trainer.audit import service as audit
from trainer.certification.models import Certificate
from trainer.config import Settings, SettingsError
from trainer.db import Database, utcnow
from trainer.people import service as people
from trainer.people.models import Unit, User
from trainer.quizzes.models import Attempt
from trainer.reports import compliance, reminders
from trainer.reports.models import ComplianceSnapshot, ExamTally
from trainer.tallies import results

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 20:00 UTC on New Year's Eve is 04:00 on New Year's Day in Shanghai and 21:00 the day before
# in Berlin: the day shown depends on the zone.
ISSUED = datetime(2028, 12, 31, 17, 30, tzinfo=UTC)
EXPIRES = datetime(2031, 12, 31, 20, 0, tzinfo=UTC)


def _certificate(client: TestClient, database: Database) -> tuple[dict[str, object], object]:
    """An inspector (in Heilongjiang/Harbin) holding a certificate issued and expiring at the
    moments above."""
    headers, person = ready_for_exam(client, database)
    pass_exam(client, database, headers)
    cert = client.get("/api/v1/me/certificates", headers=headers).json()[0]
    with database.write() as db:
        db.execute(
            update(Certificate)
            .where(Certificate.number == cert["number"])
            .values(
                issued_at=ISSUED,
                valid_from=ISSUED,
                expires_at=EXPIRES,
                renewal_from=EXPIRES - timedelta(days=90),
                renewal_window_days=90,
                grace_until=EXPIRES + timedelta(days=30),
            )
        )
    cert["headers"] = headers
    return cert, person


def test_certificate_pages_show_the_day_in_shanghai_and_name_the_zone(
    client: TestClient, migrated_database: Database
) -> None:
    cert, person = _certificate(client, migrated_database)
    sign_in(client, person)  # type: ignore[arg-type]
    page = client.get(f"/certificates/{cert['number']}").text
    assert "2029-01-01 (Asia/Shanghai)" in page  # issued 2028-12-31 17:30 UTC
    assert "2032-01-01 (Asia/Shanghai)" in page  # expires 2031-12-31 20:00 UTC
    assert "2031-12-31" not in page
    chinese = client.get(f"/certificates/{cert['number']}", headers=ZH).text
    assert "2032年1月1日（北京时间）" in chinese
    dashboard = client.get("/", headers=ZH).text
    assert "有效期至 2032年1月1日（北京时间）" in dashboard

    verify = client.get(f"/verify/{cert['verification_code']}").text
    now = utcnow().astimezone(SHANGHAI)
    assert re.search(rf"As of {now:%Y-%m-%d} \d\d:\d\d \(Asia/Shanghai, UTC\+8\)", verify)
    assert "2032-01-01 (Asia/Shanghai)" in verify
    assert " UTC<" not in verify
    verify_zh = client.get(f"/verify/{cert['verification_code']}", headers=ZH).text
    assert re.search(rf"截至 {now.year}年{now.month}月{now.day}日 \d\d:\d\d（北京时间，UTC\+8）", verify_zh)

    # The JSON API stays in UTC ISO-8601, for machines.
    api = client.get("/api/v1/me/certificates", headers=cert["headers"]).json()  # type: ignore[arg-type]
    mine = next(c for c in api if c["number"] == cert["number"])
    assert datetime.fromisoformat(mine["expires_at"].replace("Z", "+00:00")) == EXPIRES


def test_renewal_opens_on_the_day_in_shanghai(client: TestClient, migrated_database: Database) -> None:
    cert, _ = _certificate(client, migrated_database)
    refused = client.post("/api/v1/courses/demo-course/exam/attempts", headers=cert["headers"])  # type: ignore[arg-type]
    assert refused.status_code == 403
    opens = EXPIRES - timedelta(days=90)  # 2031-10-02 20:00 UTC
    assert f"renewal opens on {opens.astimezone(SHANGHAI).date().isoformat()}" in refused.text
    assert opens.astimezone(SHANGHAI).date() != opens.date()


@pytest.fixture
def berlin(make_settings: Callable[..., Settings], content: ContentDirs) -> Iterator[TestClient]:
    application: FastAPI = create_app(make_settings(content, time_zone="Europe/Berlin"))
    try:
        with TestClient(application, base_url="http://testserver") as test_client:
            yield test_client
    finally:
        application.state.database.dispose()


def test_another_time_zone_changes_what_is_shown(
    client: TestClient, berlin: TestClient, migrated_database: Database
) -> None:
    cert, person = _certificate(client, migrated_database)
    sign_in(berlin, person)  # type: ignore[arg-type]
    page = berlin.get(f"/certificates/{cert['number']}").text
    assert "2028-12-31 (Europe/Berlin)" in page
    assert "2031-12-31 (Europe/Berlin)" in page
    assert "Asia/Shanghai" not in page
    verify = berlin.get(f"/verify/{cert['verification_code']}").text
    assert re.search(r"As of \d{4}-\d\d-\d\d \d\d:\d\d \(Europe/Berlin, UTC\+[12]\)", verify)
    chinese = berlin.get(f"/verify/{cert['verification_code']}", headers=ZH).text
    assert "2031年12月31日（中欧标准时间）" in chinese


def test_an_unknown_time_zone_refuses_to_start(
    make_settings: Callable[..., Settings], content: ContentDirs, tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match="TRAINER_TIME_ZONE 'Asia/Harbinn' is not an IANA time zone"):
        create_app(make_settings(content, time_zone="Asia/Harbinn"))
    done = trainer(
        "reports",
        "snapshot",
        env={
            "TRAINER_TIME_ZONE": "Mars/Olympus",
            "TRAINER_DATABASE_URL": f"sqlite:///{tmp_path / 'never.db'}",
            "TRAINER_DATA_DIR": str(tmp_path),
        },
    )
    assert done.returncode == 2
    assert "TRAINER_TIME_ZONE 'Mars/Olympus' is not an IANA time zone name" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "never.db").exists()


def test_a_grading_at_17_utc_on_30_november_counts_in_december(
    client: TestClient, migrated_database: Database
) -> None:
    lineage = f"TZ {uuid.uuid4().hex[:8]}/Harbin/Daoli/Bureau"
    manager = make_person(migrated_database, "manager", unit=lineage)
    inspector = make_person(migrated_database, "inspector", unit=lineage)
    with migrated_database.session() as db:
        unit = db.scalars(select(Unit).where(Unit.path == lineage)).one()
        unit_ref = compliance.unit_ref(db, unit.id)
    graded_at = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 2026-12-01 01:00 in Harbin
    with migrated_database.write() as db:
        attempt = Attempt(
            user_id=inspector.id,
            unit_id=unit.id,
            kind="exam",
            course_id="demo-course",
            content_hash="0" * 64,
            seed=1,
            status="graded",
            started_at=graded_at - timedelta(minutes=40),
            submitted_at=graded_at,
            score=9.0,
            max_score=10.0,
            pass_mark=0.6,
            passed=True,
            review="never",
        )
        db.add(attempt)
        db.flush()
        results.record_graded(db, attempt, [], {})  # what grading writes for reports
    with migrated_database.session() as db:
        months = db.execute(select(ExamTally.month).where(ExamTally.unit_id == unit.id)).scalars().all()
        assert unit_ref is not None
        rates = compliance.pass_rates(db, unit_ref, "demo-course", ["2026-11", "2026-12"])
    assert months == ["2026-12"]
    assert rates == [("2026-11", 0, 0), ("2026-12", 1, 1)]
    now = utcnow().astimezone(SHANGHAI)
    if (now.year - 2026) * 12 + now.month - 11 < 12:  # the chart shows the last 12 months
        sign_in(client, manager)
        page = client.get("/manage?course=demo-course").text
        assert '<th scope="row">2026-12</th><td>1</td><td>1</td>' in page
        assert '<th scope="row">2026-11</th><td>0</td><td>0</td>' in page
        assert "Month (Asia/Shanghai)" in page


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[Database]:
    """A database of its own: a snapshot is kept for the whole organisation, once per month."""
    database = Database(f"sqlite:///{tmp_path / 'own.db'}", audit_key=AUDIT_KEY)
    migrate.upgrade(database)
    yield database
    database.dispose()


def test_the_snapshot_for_december_is_taken_from_midnight_in_shanghai(
    fresh_database: Database, make_settings: Callable[..., Settings], content: ContentDirs
) -> None:
    manager = make_person(fresh_database, "manager", unit="Heilongjiang/Harbin")
    make_person(fresh_database, "inspector", unit="Heilongjiang/Harbin/Daoli/Bureau")
    boundary = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 2026-12-01 00:00 in Shanghai
    assert compliance.take_snapshot(fresh_database, boundary - timedelta(minutes=1))
    assert compliance.take_snapshot(fresh_database, boundary + timedelta(minutes=30))
    assert not compliance.take_snapshot(fresh_database, boundary + timedelta(hours=9))  # still 1 Dec
    with fresh_database.session() as db:
        assert compliance.snapshot_months(db) == ["2026-12", "2026-11"]
        kept = compliance.snapshot_taken_at(db, "2026-12")
    assert kept == boundary + timedelta(minutes=30)
    application = create_app(make_settings(content, database_url=fresh_database.url))
    try:
        with TestClient(application, base_url="http://testserver") as client:
            sign_in(client, manager)
            page = client.get("/manage?month=2026-12").text
            assert "As kept on 2026-12-01 00:30 (Asia/Shanghai, UTC+8) for auditors." in page
            chinese = client.get("/manage?month=2026-12", headers=ZH).text
            assert "为审计保存于 2026年12月1日 00:30（北京时间，UTC+8）。" in chinese
    finally:
        application.state.database.dispose()


def test_the_inspector_list_exports_the_expiry_day_in_shanghai(
    client: TestClient, migrated_database: Database
) -> None:
    cert, _ = _certificate(client, migrated_database)
    manager = make_person(migrated_database, "manager", unit="Heilongjiang/Harbin")
    sign_in(client, manager)
    exported = client.get("/manage/inspectors.csv?course=demo-course")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    mine = next(r for r in rows if r["Certificate"] == cert["number"])
    assert mine["Expires (Asia/Shanghai)"] == "2032-01-01"
    book = openpyxl.load_workbook(
        io.BytesIO(client.get("/manage/inspectors.xlsx?course=demo-course").content)
    )
    sheet = book.active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    column = header.index("Expires (Asia/Shanghai)")
    found = next(
        r
        for r in sheet.iter_rows(min_row=2, values_only=True)
        if r[header.index("Certificate")] == cert["number"]
    )
    assert isinstance(found[column], datetime)
    assert found[column].date() == date(2032, 1, 1)
    listing = client.get("/manage/inspectors?course=demo-course", headers=ZH).text
    assert "到期（北京时间）" in listing
    assert "2032年1月1日" in listing


def test_reminders_give_the_expiry_day_in_the_installation_zone() -> None:
    def reminder(zone: ZoneInfo) -> reminders.Reminder:
        return reminders.Reminder(
            manager="mgr",
            manager_email="mgr@example.org",
            holder="insp",
            holder_name="李明",
            unit="Heilongjiang/Harbin",
            course_id="coal-mine-inspection",
            number="HLJ-COAL-2031-000001",
            state="due_for_renewal",
            expires_at=datetime(2026, 12, 31, 20, 0, tzinfo=UTC),
            days_left=28,
            time_zone=zone,
        )

    [row] = list(csv.DictReader(io.StringIO(reminders.to_csv([reminder(SHANGHAI)])[1:])))
    assert row["expires_at"] == "2027-01-01"
    assert row["time_zone"] == "Asia/Shanghai"
    [row] = list(csv.DictReader(io.StringIO(reminders.to_csv([reminder(ZoneInfo("Europe/Berlin"))])[1:])))
    assert row["expires_at"] == "2026-12-31"
    assert row["time_zone"] == "Europe/Berlin"


def test_reminders_due_carry_the_database_zone(client: TestClient, migrated_database: Database) -> None:
    cert, _ = _certificate(client, migrated_database)
    with migrated_database.write() as db:
        db.execute(
            update(Certificate)
            .where(Certificate.number == cert["number"])
            .values(expires_at=utcnow() + timedelta(days=10), renewal_from=utcnow() - timedelta(days=80))
        )
    make_person(migrated_database, "manager", unit="Heilongjiang/Harbin")
    due = [r for r in reminders.due(migrated_database, utcnow()) if r.number == cert["number"]]
    assert due
    assert all(r.time_zone == migrated_database.time_zone for r in due)
    expected = (utcnow() + timedelta(days=10)).astimezone(SHANGHAI).date().isoformat()
    assert {r.expires_on for r in due} == {expected}


def test_the_month_keys_are_recomputed_when_upgrading(tmp_path: Path) -> None:
    """Revision 0009 moves what UTC months counted into the zone's months."""
    database = Database(f"sqlite:///{tmp_path / 'old.db'}", audit_key=AUDIT_KEY)
    try:
        migrate.upgrade(database, "0008")
        with database.write() as db:
            # Core, naming only the columns revision 0008 has (users has grown since: `language`).
            unit_row = people.ensure_unit_path(db, audit.SYSTEM, "Heilongjiang/Harbin/Daoli/Bureau", utcnow())
            inspector_id = db.execute(
                insert(User)
                .values(
                    username="inspector-0008",
                    full_name="Inspector 0008",
                    unit_id=unit_row.id,
                    password_hash="-",
                    must_change_password=False,
                    is_active=True,
                    created_at=utcnow(),
                    password_changed_at=utcnow(),
                )
                .returning(User.id)
            ).scalar_one()
        graded_at = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
        with database.write() as db:
            unit_id = db.scalars(select(Unit.id).where(Unit.path == "Heilongjiang/Harbin/Daoli/Bureau")).one()
            for minutes, passed in ((0, True), (-2 * 60, False)):  # 01:00 on 1 Dec; 23:00 on 30 Nov
                # Core, naming only the columns revision 0008 has (the model has changed since: the
                # paper, then in `snapshot`, has a table of its own).
                columns = [column(c.name, c.type) for c in Attempt.__table__.c]
                attempts_0008 = table("attempts", *columns, column("snapshot", Text()))
                db.execute(
                    insert(attempts_0008).values(
                        user_id=inspector_id,
                        unit_id=unit_id,
                        kind="exam",
                        course_id="demo-course",
                        content_hash="0" * 64,
                        seed=1,
                        status="graded",
                        started_at=graded_at - timedelta(hours=3),
                        submitted_at=graded_at + timedelta(minutes=minutes),
                        score=1.0,
                        max_score=1.0,
                        pass_mark=0.6,
                        passed=passed,
                        review="never",
                        snapshot="[]",
                    )
                )
            # As the code before 0009 kept them: both in November (UTC).
            db.add(ExamTally(unit_id=unit_id, course_id="demo-course", month="2026-11", taken=2, passed=1))
            for month, taken_at in (
                ("2026-10", datetime(2026, 10, 1, 3, tzinfo=UTC)),
                ("2026-11", datetime(2026, 11, 30, 18, tzinfo=UTC)),
            ):
                db.add(
                    ComplianceSnapshot(
                        month=month,
                        unit_id=unit_id,
                        course_id="",
                        inspectors=1,
                        valid=0,
                        due_for_renewal=0,
                        grace=0,
                        expired=0,
                        suspended=0,
                        revoked=0,
                        taken_at=taken_at,
                    )
                )
        migrate.upgrade(database)
        with database.session() as db:
            tallies = {(t.month, t.taken, t.passed) for t in db.scalars(select(ExamTally))}
            months = compliance.snapshot_months(db)
        assert tallies == {("2026-11", 1, 0), ("2026-12", 1, 1)}
        assert months == ["2026-12", "2026-10"]
        migrate.upgrade(database)  # nothing left to do
        migrate.downgrade(database, "0008")
        with database.session() as db:
            assert {(t.month, t.taken, t.passed) for t in db.scalars(select(ExamTally))} == {
                ("2026-11", 2, 1)
            }
            assert compliance.snapshot_months(db) == ["2026-11", "2026-10"]
    finally:
        database.dispose()


def test_recount_counts_past_exams_in_a_new_zone_s_months(fresh_database: Database) -> None:
    inspector = make_person(fresh_database, "inspector", unit="Heilongjiang/Harbin/Daoli/Bureau")
    graded_at = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 1 December in Shanghai, 30 November in Berlin
    with fresh_database.write() as db:
        unit_id = db.scalars(select(Unit.id).where(Unit.path == "Heilongjiang/Harbin/Daoli/Bureau")).one()
        attempt = Attempt(
            user_id=inspector.id,
            unit_id=unit_id,
            kind="exam",
            course_id="demo-course",
            content_hash="0" * 64,
            seed=1,
            status="graded",
            started_at=graded_at - timedelta(minutes=40),
            submitted_at=graded_at,
            score=1.0,
            max_score=1.0,
            pass_mark=0.6,
            passed=True,
            review="never",
        )
        db.add(attempt)
        db.flush()
        results.record_graded(db, attempt, [], {})

    def months() -> list[tuple[str, int, int]]:
        with fresh_database.session() as db:
            return [(t.month, t.taken, t.passed) for t in db.scalars(select(ExamTally))]

    assert months() == [("2026-12", 1, 1)]
    done = trainer(
        "reports",
        "recount",
        env={"TRAINER_DATABASE_URL": fresh_database.url, "TRAINER_TIME_ZONE": "Europe/Berlin"},
    )
    assert done.returncode == 0, done.stderr
    assert "1 monthly exam tally row(s)" in done.stdout
    assert months() == [("2026-11", 1, 1)]


def test_audit_and_person_pages_give_times_in_the_zone(
    client: TestClient, migrated_database: Database
) -> None:
    inspector = make_person(migrated_database, "inspector", unit="Heilongjiang/Harbin/Daoli/Bureau")
    sign_in(client, make_person(migrated_database, "admin", unit=None))
    audit = client.get("/admin/audit").text
    assert "When (Asia/Shanghai)" in audit
    assert "When (UTC)" not in audit
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+08:00">', audit)
    assert "时间（北京时间）" in client.get("/admin/audit", headers=ZH).text
    record = client.get(f"/people/{inspector.id}").text
    assert "When (Asia/Shanghai)" in record  # the audit events about them
