"""Required-qualification reminders: a person required a course and holding no valid certificate
for it is reminded 30 days before the due date, 7 days before and once overdue, each exactly once
(across runs, concurrent runs and two `trainer notify` processes, a failed send retried), by
email to a real SMTP server (aiosmtpd) and on the dashboard, in their language with dates in the
configured time zone; nothing goes to the certified, nothing more after a withdrawal; a later due
date reminds afresh; each manager's weekly digest names the overdue people of their part only.

The database is shared by the whole run, so every test builds its own organisation under a fresh
top-level unit and counts only its own people's notifications. The in-process tests inject `now`
years ahead (due dates in 2032), far from what other tests queue at the real time."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, update

from tests.conftest import Person, make_person, run_together, sign_in
from tests.test_compliance import _certify
from tests.test_notifications import Smtp, _notify, _person, _text, smtp  # noqa: F401 (a fixture)
from trainer import localtime
from trainer.access import Viewer
from trainer.assignments import service as assignments
from trainer.assignments.models import Assignment
from trainer.audit import service as audit
from trainer.db import Database, utcnow
from trainer.notifications import due
from trainer.notifications.mail import SmtpSender
from trainer.notifications.models import NO_EMAIL, PENDING, SENT, Notification
from trainer.people.models import Unit, User

COURSE = "demo-course"
SHANGHAI = ZoneInfo("Asia/Shanghai")
DUE = date(2032, 3, 31)


def _context(zone: ZoneInfo = SHANGHAI) -> due.Context:
    return due.Context(zone, "en", None, "training.example.org")


def _at(day: date, hour: int, minute: int = 0, zone: ZoneInfo = SHANGHAI) -> datetime:
    """A moment on the zone's wall clock, as UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(UTC)


ADMIN = Viewer(0, "admin", "Admin", frozenset({"admin"}), None, None, None, None, False)


def _require(
    database: Database, due_on: date, *, unit_id: int | None = None, person_id: int | None = None
) -> int:
    with database.write() as db:
        created = assignments.create(
            db,
            audit.SYSTEM,
            ADMIN,
            assignments.AssignmentInput(COURSE, due_on, unit_id=unit_id, person_id=person_id),
            course_ids={COURSE},
            now=utcnow(),
        )
        return created.id


def _withdraw(database: Database, assignment_id: int) -> None:
    with database.write() as db:
        assignments.withdraw(db, audit.SYSTEM, ADMIN, assignment_id, reason="no longer needed", now=utcnow())


def _unit_id(database: Database, person_id: int) -> int:
    with database.session() as db:
        unit_id = db.get_one(User, person_id).unit_id
    assert unit_id is not None
    return unit_id


def _reminders(database: Database, *user_ids: int) -> list[tuple[int, str, str]]:
    """(person, occasion, email state) of the due-date reminders these people have."""
    with database.session() as db:
        rows = db.execute(
            select(Notification.user_id, Notification.occasion, Notification.email_state)
            .where(Notification.kind == due.ASSIGNMENT_DUE, Notification.user_id.in_(user_ids))
            .order_by(Notification.user_id, Notification.id)
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def _queued_since(database: Database, since: int, user_ids: tuple[int, ...]) -> int:
    """How many due-date reminders of these people were queued after notification `since`."""
    with database.session() as db:
        return len(
            db.scalars(
                select(Notification.id).where(
                    Notification.kind == due.ASSIGNMENT_DUE,
                    Notification.user_id.in_(user_ids),
                    Notification.id > since,
                )
            ).all()
        )


def _last_id(database: Database) -> int:
    with database.session() as db:
        return db.scalar(select(Notification.id).order_by(Notification.id.desc()).limit(1)) or 0


def _subjects(server: Smtp, address: str) -> list[str]:
    return [str(m["Subject"]) for m in server.inbox.to(address)]


def test_reminders_at_30_days_7_days_and_overdue_go_out_once_each(
    migrated_database: Database,
    smtp: Smtp,  # noqa: F811 (the fixture)
) -> None:
    database = migrated_database
    root = f"Due {uuid.uuid4().hex[:8]}"
    county = f"{root}/City/County"
    english_id, english = _person(database, "inspector", unit=county)
    chinese_id, chinese = _person(database, "inspector", unit=county, lang="zh-CN")
    no_email = make_person(database, "inspector", unit=county)
    certified_id, certified = _person(database, "inspector", unit=county)
    later_id, later = _person(database, "inspector", unit=county)  # certified after the first reminder
    withdrawn_id, withdrawn = _person(database, "inspector", unit=f"{root}/City/Other county")
    elsewhere_id, _ = _person(database, "inspector", unit=f"{root}/Far/County")
    manager_id, manager = _person(database, "manager", unit=f"{root}/City")
    far_manager_id, far_manager = _person(database, "manager", unit=f"{root}/Far")
    _certify(database, _p(certified_id), expires_in=timedelta(days=8 * 365))
    people = (english_id, chinese_id, no_email.id, certified_id, later_id, withdrawn_id, elsewhere_id)

    county_assignment = _require(database, DUE, unit_id=_unit_id(database, english_id))
    _require(database, DUE + timedelta(days=60), person_id=english_id)  # later: the earliest counts
    withdrawn_assignment = _require(database, DUE, person_id=withdrawn_id)
    _require(database, DUE - timedelta(days=10), unit_id=_unit_id(database, elsewhere_id))
    sender = SmtpSender(smtp.settings())
    addresses = (english, chinese, certified, later, withdrawn)
    queued: dict[str, int] = {}
    emailed: dict[str, int] = {}
    seen = [0]

    def phase(name: str, runs: list[datetime], *, together: bool = False) -> None:
        """Run `trainer notify`'s work at these moments (at once, when `together`), and count
        this test's people's reminders queued and emailed by it."""
        start = _last_id(database)
        calls = [lambda at=at: due.run(database, _context(), at, sender=sender) for at in runs]
        run_together(calls) if together else [call() for call in calls]
        queued[name] = _queued_since(database, start, people)
        total = sum(len(smtp.inbox.to(a)) for a in addresses)
        emailed[name] = total - seen[0]
        seen[0] = total

    # 31 days before nothing (but the far county's earlier date is 20 days off: its 30-day one).
    phase("31 days before", [_at(DUE - timedelta(days=31), 23, 59)])
    assert _reminders(database, *people) == [(elsewhere_id, f"{COURSE}|2032-03-21|30_days", SENT)]

    # 30 days before: two runs at once write and send each reminder once.
    at_30 = _at(DUE - timedelta(days=30), 0, 0)
    phase("30 days before, two concurrent runs", [at_30, at_30], together=True)
    thirty = f"{COURSE}|2032-03-31|30_days"
    assert _reminders(database, *people) == sorted(
        [
            (english_id, thirty, SENT),
            (chinese_id, thirty, SENT),
            (no_email.id, thirty, NO_EMAIL),  # on the dashboard only
            (later_id, thirty, SENT),
            (withdrawn_id, thirty, SENT),
            (elsewhere_id, f"{COURSE}|2032-03-21|30_days", SENT),
        ]
    )
    assert [len(smtp.inbox.to(a)) for a in addresses] == [1, 1, 0, 1, 1]
    message = smtp.inbox.to(english)[0]
    assert message["Subject"] == "Certificate required by 2032-03-31: demo-course (30 day(s) left)"
    text = _text(message)
    assert "by 2032-03-31 (Asia/Shanghai)" in text
    assert "You do not hold a valid certificate for it yet." in text
    message = smtp.inbox.to(chinese)[0]
    assert message["Subject"] == "应取得“demo-course”证书，截止日期 2032年3月31日（还剩 30 天）"
    assert "您应在截止日期 2032年3月31日（北京时间） 当天结束前取得“demo-course”证书。" in _text(message)

    # A re-run sends nothing new. Then one person is certified and another's requirement is
    # withdrawn before the 7-day reminders are due: neither hears again.
    phase("30 days before, a re-run", [at_30 + timedelta(hours=5)])
    _certify(database, _p(later_id), expires_in=timedelta(days=8 * 365))
    _withdraw(database, withdrawn_assignment)

    at_7 = _at(DUE - timedelta(days=7), 9, 30)
    phase("7 days before, two runs", [at_7, at_7 + timedelta(minutes=5)])
    sevens = [(r[0], r[2]) for r in _reminders(database, *people) if r[1].endswith("|7_days")]
    assert sorted(sevens) == sorted([(english_id, SENT), (chinese_id, SENT), (no_email.id, NO_EMAIL)])
    # The far county's date passed 3 days ago: overdue, skipping a 7-day reminder it was never due.
    assert _reminders(database, elsewhere_id)[-1] == (elsewhere_id, f"{COURSE}|2032-03-21|overdue", SENT)
    assert _subjects(smtp, english)[1] == "Certificate required by 2032-03-31: demo-course (7 day(s) left)"
    assert [len(smtp.inbox.to(a)) for a in addresses] == [2, 2, 0, 1, 1]

    # The last minute of the due day in Shanghai is not overdue; the next is, once, though three
    # runs (two at once) see it.
    phase("the due day's last minute", [_at(DUE, 23, 59)])
    overdue_at = _at(DUE + timedelta(days=1), 0, 0)
    phase("overdue, two concurrent runs", [overdue_at, overdue_at], together=True)
    phase("overdue, a re-run", [overdue_at + timedelta(hours=1)])
    overdue = sorted(r[0] for r in _reminders(database, *people) if r[1].endswith("|overdue"))
    assert overdue == sorted([english_id, chinese_id, no_email.id, elsewhere_id])
    assert _subjects(smtp, english)[2] == "Overdue: the demo-course certificate was due by 2032-03-31"
    assert _subjects(smtp, chinese)[2] == "已逾期：“demo-course”证书的截止日期 2032年3月31日 已过"
    assert "已逾期" in _text(smtp.inbox.to(chinese)[2])
    assert [len(smtp.inbox.to(a)) for a in addresses] == [3, 3, 0, 1, 1]

    # This week's digest to each manager names the overdue people of their own part, only those.
    [digest] = smtp.inbox.to(manager)
    assert digest["Subject"] == (
        "Needing action in your area: 0 certificate(s) to renew, 3 required certificate(s) overdue"
    )
    body = _text(digest)
    for person_id in (english_id, chinese_id, no_email.id):
        assert _name(database, person_id) in body
    for person_id in (certified_id, later_id, withdrawn_id, elsewhere_id):
        assert _name(database, person_id) not in body
    assert "demo-course, due 2032-03-31 (Asia/Shanghai), 1 day(s) overdue" in body
    # One a week: the week of the 7-day run, and this one's, written by its first run with
    # something to say (the due day's last minute, the far county 10 days overdue then).
    far = smtp.inbox.to(far_manager)
    assert len(far) == 2
    far_body = _text(far[-1])
    assert _name(database, elsewhere_id) in far_body
    assert "demo-course, due 2032-03-21 (Asia/Shanghai), 10 day(s) overdue" in far_body
    for person_id in (english_id, chinese_id, no_email.id, certified_id):
        assert _name(database, person_id) not in far_body
    with database.session() as db:
        digests = db.scalars(
            select(Notification.user_id).where(
                Notification.kind == due.DIGEST, Notification.user_id.in_([manager_id, far_manager_id])
            )
        ).all()
    assert sorted(digests) == sorted([manager_id, far_manager_id, far_manager_id])

    # A later due date reminds afresh: with the county's requirement withdrawn, the English
    # inspector's own (60 days later) counts and reminds 30 days before it; the others are no
    # longer required anything.
    _withdraw(database, county_assignment)
    phase("a later due date, two runs", [_at(DUE + timedelta(days=30), 8), _at(DUE + timedelta(days=30), 9)])
    assert _reminders(database, english_id)[-1] == (english_id, f"{COURSE}|2032-05-30|30_days", SENT)
    assert [len(smtp.inbox.to(a)) for a in addresses] == [4, 3, 0, 1, 1]

    print("due-date reminders queued, by phase:", queued)
    print("due-date reminders emailed, by phase:", emailed)
    assert queued == {
        "31 days before": 1,
        "30 days before, two concurrent runs": 5,
        "30 days before, a re-run": 0,
        "7 days before, two runs": 4,
        "the due day's last minute": 0,
        "overdue, two concurrent runs": 3,
        "overdue, a re-run": 0,
        "a later due date, two runs": 1,
    }
    assert emailed == {
        "31 days before": 0,
        "30 days before, two concurrent runs": 4,
        "30 days before, a re-run": 0,
        "7 days before, two runs": 2,
        "the due day's last minute": 0,
        "overdue, two concurrent runs": 2,
        "overdue, a re-run": 0,
        "a later due date, two runs": 1,
    }


def _p(person_id: int) -> Person:
    return Person(person_id, "", "", None)


def _name(database: Database, person_id: int) -> str:
    with database.session() as db:
        return db.get_one(User, person_id).full_name


def test_two_notify_processes_send_each_reminder_once_and_a_failure_is_retried(
    migrated_database: Database,
    database_url: str,
    smtp: Smtp,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    """`trainer notify` as run by cron or two app processes' timers, at the real time: due dates
    20 and 5 days ahead and 2 days past give one reminder each (30-day, 7-day, overdue)."""
    database = migrated_database
    root = f"Due {uuid.uuid4().hex[:8]}"
    today = localtime.local_date(utcnow(), SHANGHAI)
    people = {
        "30_days": _person(database, "inspector", unit=f"{root}/A"),
        "7_days": _person(database, "inspector", unit=f"{root}/B", lang="zh-CN"),
        "overdue": _person(database, "inspector", unit=f"{root}/C"),
    }
    _require(database, today + timedelta(days=20), person_id=people["30_days"][0])
    _require(database, today + timedelta(days=5), person_id=people["7_days"][0])
    overdue_assignment = _require(database, today, person_id=people["overdue"][0])
    with database.write() as db:  # made two days ago (the API refuses a date already past)
        db.execute(
            update(Assignment)
            .where(Assignment.id == overdue_assignment)
            .values(due=today - timedelta(days=2))
        )
    ids = tuple(person_id for person_id, _ in people.values())

    # The mail server refuses: every send fails, is reported (exit 1) and stays pending.
    smtp.inbox.failing = True
    failed = _notify(database_url, smtp.port, tmp_path)
    out, err = failed.communicate(timeout=120)
    print("failing server:", out.strip())
    assert failed.returncode == 1, err
    assert "451" in err
    with database.session() as db:
        rows = db.execute(
            select(
                Notification.user_id, Notification.occasion, Notification.email_state, Notification.attempts
            ).where(Notification.kind == due.ASSIGNMENT_DUE, Notification.user_id.in_(ids))
        ).all()
    assert sorted((r[0], r[1].rsplit("|", 1)[1], r[2], r[3]) for r in rows) == sorted(
        (person_id, occasion, PENDING, 1) for occasion, (person_id, _) in people.items()
    )

    # Back up: two processes at once send each reminder exactly once.
    smtp.inbox.failing = False
    runs = [_notify(database_url, smtp.port, tmp_path) for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        print("process:", out.strip())
        assert run.returncode == 0, err
    for occasion, (_, address) in people.items():
        assert len(smtp.inbox.to(address)) == 1, occasion
    assert str(smtp.inbox.to(people["7_days"][1])[0]["Subject"]).endswith("（还剩 5 天）")
    assert str(smtp.inbox.to(people["overdue"][1])[0]["Subject"]).startswith("Overdue: ")
    with database.session() as db:
        states = db.execute(
            select(Notification.email_state, func.count())
            .where(Notification.kind == due.ASSIGNMENT_DUE, Notification.user_id.in_(ids))
            .group_by(Notification.email_state)
        ).all()
    assert [tuple(s) for s in states] == [(SENT, 3)]
    print(
        "two processes: this test's reminders emailed", sum(len(smtp.inbox.to(a)) for _, a in people.values())
    )


def test_the_reminder_is_on_the_dashboard_in_the_persons_language_and_the_zones_day(
    client: TestClient, migrated_database: Database
) -> None:
    """Without an address the reminder is on the dashboard only; the zone decides the day: at
    2032-04-01 02:00 UTC the due day 2032-03-31 is over in Shanghai but is today in New York."""
    database = migrated_database
    root = f"Due {uuid.uuid4().hex[:8]}"
    person = make_person(database, "inspector", unit=f"{root}/County")
    with database.write() as db:
        db.execute(update(User).where(User.id == person.id).values(language="zh-CN"))
    _require(database, DUE, person_id=person.id)
    new_york = ZoneInfo("America/New_York")
    due.run(database, _context(new_york), datetime(2032, 4, 1, 2, 0, tzinfo=UTC), sender=None)
    with database.session() as db:
        [row] = db.scalars(
            select(Notification).where(
                Notification.kind == due.ASSIGNMENT_DUE, Notification.user_id == person.id
            )
        ).all()
    assert row.occasion == f"{COURSE}|2032-03-31|7_days"
    assert row.email_state == NO_EMAIL
    assert row.lang == "zh-CN"
    assert row.title == "应取得“demo-course”证书，今天（2032年3月31日）截止"
    assert "您应在截止日期 2032年3月31日（北美东部夏令时间） 当天结束前取得“demo-course”证书。" in row.body

    sign_in(client, person)
    page = client.get("/dashboard").text
    assert f'href="/notifications/{row.id}"' in page
    opened = client.get(f"/notifications/{row.id}")
    assert opened.status_code == 200
    assert "您目前还没有该课程的有效证书。" in opened.text

    # At midnight in New York it is overdue there, once.
    due.run(database, _context(new_york), datetime(2032, 4, 1, 4, 0, tzinfo=UTC), sender=None)
    due.run(database, _context(new_york), datetime(2032, 4, 1, 5, 0, tzinfo=UTC), sender=None)
    assert [r[1] for r in _reminders(database, person.id)] == [
        f"{COURSE}|2032-03-31|7_days",
        f"{COURSE}|2032-03-31|overdue",
    ]


def test_which_reminder_is_due_when() -> None:
    due_on = date(2032, 3, 31)
    assert due.due_occasion(due_on, _at(date(2032, 2, 29), 23, 59), SHANGHAI) is None  # 31 days
    assert due.due_occasion(due_on, _at(date(2032, 3, 1), 0, 0), SHANGHAI) == "30_days"
    assert due.due_occasion(due_on, _at(date(2032, 3, 23), 23, 59), SHANGHAI) == "30_days"
    assert due.due_occasion(due_on, _at(date(2032, 3, 24), 0, 0), SHANGHAI) == "7_days"
    assert due.due_occasion(due_on, _at(due_on, 23, 59), SHANGHAI) == "7_days"
    assert due.due_occasion(due_on, _at(date(2032, 4, 1), 0, 0), SHANGHAI) == "overdue"
    moment = datetime(
        2032, 3, 31, 16, 30, tzinfo=UTC
    )  # 00:30 on 1 April in Shanghai, 18:30 on 31 March in Berlin
    assert due.due_occasion(due_on, moment, SHANGHAI) == "overdue"
    assert due.due_occasion(due_on, moment, ZoneInfo("Europe/Berlin")) == "7_days"


def test_with_no_assignment_due_soon_no_person_is_read(migrated_database: Database) -> None:
    """The reminders read the active assignments and nothing else when none is due within 30
    days (at 2020-01-01 every assignment the API allowed is further off): one statement."""
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    with migrated_database.session() as db:
        engine = db.get_bind()
        event.listen(engine, "before_cursor_execute", seen)
        try:
            found = due.behind(db, datetime(2020, 1, 1, tzinfo=UTC), SHANGHAI)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    assert found == []
    queries = [q for q in statements if q.strip().upper() != "BEGIN"]  # SQLite's own
    assert len(queries) == 1
    assert "FROM assignments" in queries[0]
    assert "users" not in queries[0]


def test_the_digest_lists_a_bounded_number_and_counts_the_rest(
    migrated_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = migrated_database
    root = f"Due {uuid.uuid4().hex[:8]}"
    manager_id, _ = _person(database, "manager", unit=f"{root}/City", lang="zh-CN")
    with database.session() as db:
        lineage = db.execute(
            select(Unit.lineage).join(User, User.unit_id == Unit.id).where(User.id == manager_id)
        ).scalar_one()
    late = [
        due.Behind(i, f"Person {i}", lineage, f"{root}/City", None, None, COURSE, DUE, "overdue")
        for i in range(3)
    ]
    monkeypatch.setattr(due, "DIGEST_LISTED", 2)
    now = _at(DUE + timedelta(days=3), 9)
    with database.session() as db:
        assert due.overdue_by_manager(db, late, now, SHANGHAI) == {manager_id: late}
        [digest] = list(due.manager_digests(db, _context(), now, [], {manager_id: late}))
    assert digest.title == "您所辖范围内需要处理：待续证 0 张，逾期未取得应取得证书 3 项"
    assert [f"Person {i}" in digest.body for i in range(3)] == [True, True, False]
    assert "已逾期 3 天" in digest.body
    assert "……另有 1 项，详见合规报表。" in digest.body
