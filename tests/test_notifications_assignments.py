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
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tests.conftest import Person, make_person, run_together
from tests.test_compliance import _certify
from tests.test_notifications import Smtp, _notify, _person, _text, smtp  # noqa: F401 (a fixture)
from trainer.access import Viewer
from trainer.assignments import service as assignments
from trainer.audit import service as audit
from trainer.db import Database, utcnow
from trainer.notifications import due
from trainer.notifications.mail import SmtpSender
from trainer.notifications.models import NO_EMAIL, SENT, Notification
from trainer.people.models import User

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
    assert "截止日期为 2032年3月31日（北京时间）" in _text(message)

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
