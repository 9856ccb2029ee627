"""Notifications: the outbox sends each message exactly once to a real SMTP server (aiosmtpd),
across runs, concurrent runs and two `trainer notify` processes; a failing server is reported
and the message retried next run; the .ics invitations read back with the `icalendar` parser at
the right times; the dashboard lists unread notifications and opening one marks it read."""

from __future__ import annotations

import email
import email.message
import email.policy
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.conftest import make_person, run_together, sign_in
from trainer.certification import policy
from trainer.config import Settings
from trainer.db import Database, utcnow
from trainer.notifications import due, ical, outbox
from trainer.notifications.mail import SmtpSender
from trainer.notifications.models import FAILED, PENDING, SENT, Notification
from trainer.people.models import Unit, User
from trainer.quizzes.models import GRADED, Attempt
from trainer.sittings.models import Sitting, SittingPerson, SittingUnit

ROOT = Path(__file__).resolve().parent.parent
SHANGHAI = ZoneInfo("Asia/Shanghai")


class Inbox:
    """An SMTP server's receiving end: keeps every message; refuses all while `failing`."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.failing = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.failing:
            return "451 4.3.0 try again later"
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def to(self, address: str) -> list[email.message.Message]:
        return [m for m in self.messages if m["To"] == address]


@dataclass
class Smtp:
    inbox: Inbox
    port: int

    def settings(self) -> Settings:
        return Settings(
            smtp_host="127.0.0.1", smtp_port=self.port, smtp_starttls=False, smtp_from="trainer@example.org"
        )


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Smtp(inbox, port)
    finally:
        controller.stop()


def _person(database: Database, *roles: str, unit: str, lang: str | None = None) -> tuple[int, str]:
    person = make_person(database, *roles, unit=unit)
    address = f"{person.username}@example.org"
    with database.write() as db:
        db.execute(update(User).where(User.id == person.id).values(email=address, language=lang))
    return person.id, address


def _sitting(database: Database, *, unit: str, named: list[int], opens: datetime, place: str) -> int:
    with database.write() as db:
        unit_row = db.scalars(select(Unit).where(Unit.path == unit)).one()
        sitting = Sitting(
            course_id="demo-course",
            opens_at=opens,
            closes_at=opens + timedelta(hours=2),
            late_entry_minutes=15,
            place=place,
            access_code="ABCD2345",
            scope_lineage=unit_row.lineage,
            created_by=None,
            created_at=utcnow(),
        )
        db.add(sitting)
        db.flush()
        db.add(SittingUnit(sitting_id=sitting.id, unit_id=unit_row.id))
        db.add_all(
            SittingPerson(sitting_id=sitting.id, user_id=i, named=True, extra_minutes=0) for i in named
        )
        return sitting.id


def _context() -> due.Context:
    return due.Context(SHANGHAI, "en", None, "training.example.org")


def _calendar(message: email.message.Message) -> icalendar.Calendar:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return icalendar.Calendar.from_ical(payload.decode("utf-8"))


def _event(message: email.message.Message) -> Any:
    [event] = _calendar(message).walk("VEVENT")
    return event


def _text(message: email.message.Message) -> str:
    body = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    return str(body.get_content())


def test_invitations_and_changes_are_emailed_once_with_a_calendar_file(
    migrated_database: Database, smtp: Smtp
) -> None:
    unit = f"Notify/City/County {uuid.uuid4().hex[:6]}"
    first_id, first = _person(migrated_database, "inspector", unit=unit)
    second_id, second = _person(migrated_database, "inspector", unit=unit, lang="zh-CN")
    named_id, named = _person(migrated_database, "trainer", unit="Notify/Elsewhere")  # on by name
    _manager_id, manager = _person(migrated_database, "manager", unit=unit)  # a unit rosters inspectors only
    opens = datetime(2031, 3, 3, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    sitting_id = _sitting(
        migrated_database, unit=unit, named=[named_id], opens=opens, place="Room 3, Harbin; east"
    )
    sender = SmtpSender(smtp.settings())

    done = due.run(migrated_database, _context(), utcnow(), sender=sender)
    again = due.run(migrated_database, _context(), utcnow(), sender=sender)
    assert done.delivery is not None
    assert again.delivery is not None
    print("first run: queued", dict(done.queued), "emailed", dict(done.delivery.sent))
    print("second run: queued", dict(again.queued), "emailed", dict(again.delivery.sent))
    for address in (first, second, named):
        assert len(smtp.inbox.to(address)) == 1, address
    assert smtp.inbox.to(manager) == []
    assert again.queued.get(due.INVITATION, 0) == 0
    assert again.delivery.sent.get(due.INVITATION, 0) == 0

    message = smtp.inbox.to(first)[0]
    assert message["Subject"] == "Exam sitting: demo-course, 2031-03-03 09:30 (Asia/Shanghai, UTC+8)"
    text = _text(message)
    assert "Opens: 2031-03-03 09:30 (Asia/Shanghai, UTC+8)" in text
    assert "Entry until: 2031-03-03 09:45 (Asia/Shanghai, UTC+8)" in text
    assert "ABCD2345" not in text  # the code is given out at the sitting, not by email
    event = _event(message)
    assert event.decoded("DTSTART") == opens
    assert event.decoded("DTEND") == opens + timedelta(hours=2)
    assert str(event["LOCATION"]) == "Room 3, Harbin; east"
    assert str(event["SUMMARY"]) == "Exam: demo-course"
    assert str(event["UID"]) == f"sitting-{sitting_id}-person-{first_id}@training.example.org"
    assert int(event["SEQUENCE"]) == 0
    chinese = smtp.inbox.to(second)[0]
    assert chinese["Subject"].startswith("考试场次：demo-course，2031年3月3日 09:30（北京时间，UTC+8）")
    assert "开始：2031年3月3日 09:30（北京时间，UTC+8）" in _text(chinese)

    # The place and time change: each person is told once more, the same event a version later.
    with migrated_database.write() as db:
        db.execute(
            update(Sitting)
            .where(Sitting.id == sitting_id)
            .values(place="Room 5", opens_at=opens + timedelta(hours=1), closes_at=opens + timedelta(hours=3))
        )
    changed = due.run(migrated_database, _context(), utcnow(), sender=sender)
    unchanged = due.run(migrated_database, _context(), utcnow(), sender=sender)
    print("change run: queued", dict(changed.queued), "then", dict(unchanged.queued))
    assert len(smtp.inbox.to(first)) == 2
    update_mail = smtp.inbox.to(first)[1]
    assert update_mail["Subject"].strip().startswith("Exam sitting changed: demo-course, 2031-03-03 10:30")
    event = _event(update_mail)
    assert str(event["UID"]) == f"sitting-{sitting_id}-person-{first_id}@training.example.org"
    assert int(event["SEQUENCE"]) == 1
    assert event.decoded("DTSTART") == opens + timedelta(hours=1)
    assert str(event["LOCATION"]) == "Room 5"
    assert unchanged.queued.get(due.CHANGED, 0) == 0
    with migrated_database.session() as db:
        rows = db.scalars(
            select(Notification).where(
                Notification.subject_id == sitting_id, Notification.subject_type == "sitting"
            )
        ).all()
    assert sorted((r.user_id, r.kind) for r in rows) == sorted(
        [(i, k) for i in (first_id, second_id, named_id) for k in (due.INVITATION, due.CHANGED)]
    )
    assert {r.email_state for r in rows} == {SENT}


def test_two_concurrent_runs_send_each_message_once(migrated_database: Database, smtp: Smtp) -> None:
    unit = f"Notify/City/County {uuid.uuid4().hex[:6]}"
    people = [_person(migrated_database, "inspector", unit=unit) for _ in range(12)]
    sitting_id = _sitting(
        migrated_database, unit=unit, named=[], opens=datetime(2031, 4, 1, 1, 0, tzinfo=UTC), place="Hall"
    )
    sender = SmtpSender(smtp.settings())
    runs = run_together([lambda: due.run(migrated_database, _context(), utcnow(), sender=sender)] * 2)
    for run in runs:
        assert run.delivery is not None
        print(
            "concurrent run: queued",
            dict(run.queued),
            "emailed",
            dict(run.delivery.sent),
            "skipped",
            run.delivery.skipped,
        )
    for _, address in people:
        assert len(smtp.inbox.to(address)) == 1, address
    with migrated_database.session() as db:
        rows = db.scalars(
            select(Notification).where(
                Notification.subject_id == sitting_id, Notification.subject_type == "sitting"
            )
        ).all()
    assert len(rows) == len(people)
    assert sum(run.queued.get(due.INVITATION, 0) for run in runs) == len(people)  # counted once


def _notify(database_url: str, port: int, tmp_path: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TRAINER_DATABASE_URL": database_url,
        "TRAINER_DATA_DIR": str(tmp_path),
        "TRAINER_COURSES_DIR": str(ROOT / "tests/fixtures/library/courses"),
        "TRAINER_QUESTION_BANK_DIR": str(ROOT / "tests/fixtures/library/question_bank"),
        "TRAINER_SMTP_HOST": "127.0.0.1",
        "TRAINER_SMTP_PORT": str(port),
        "TRAINER_SMTP_STARTTLS": "false",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "trainer.cli", "notify"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_notify_processes_send_each_message_once_and_a_failure_is_retried(
    migrated_database: Database, database_url: str, smtp: Smtp, tmp_path: Path
) -> None:
    unit = f"Notify/City/County {uuid.uuid4().hex[:6]}"
    people = [_person(migrated_database, "inspector", unit=unit) for _ in range(6)]
    sitting_id = _sitting(
        migrated_database, unit=unit, named=[], opens=datetime(2031, 5, 1, 1, 0, tzinfo=UTC), place="Hall B"
    )

    # The mail server refuses: every send fails, is reported (exit 1) and stays pending.
    smtp.inbox.failing = True
    failed = _notify(database_url, smtp.port, tmp_path)
    out, err = failed.communicate(timeout=120)
    print("failing server:", out.strip())
    assert failed.returncode == 1, err
    assert "failed: notification" in err
    assert "451" in err
    with migrated_database.session() as db:
        rows = db.scalars(
            select(Notification).where(
                Notification.subject_id == sitting_id, Notification.subject_type == "sitting"
            )
        ).all()
    assert len(rows) == len(people)
    assert {(r.email_state, r.attempts) for r in rows} == {(PENDING, 1)}
    assert all("451" in (r.last_error or "") for r in rows)

    # Back up: two processes at once send each message exactly once.
    smtp.inbox.failing = False
    runs = [_notify(database_url, smtp.port, tmp_path) for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        print("process:", out.strip())
        assert run.returncode == 0, err
        assert out.startswith("queued ")
    for _, address in people:
        assert len(smtp.inbox.to(address)) == 1, address
    with migrated_database.session() as db:
        states = set(
            db.scalars(
                select(Notification.email_state).where(
                    Notification.subject_id == sitting_id, Notification.subject_type == "sitting"
                )
            )
        )
    assert states == {SENT}


def test_a_send_failing_every_time_is_given_up_and_reported(migrated_database: Database) -> None:
    unit = f"Notify/City/County {uuid.uuid4().hex[:6]}"
    person_id, _ = _person(migrated_database, "inspector", unit=unit)
    sitting_id = _sitting(
        migrated_database, unit=unit, named=[], opens=datetime(2031, 6, 1, 1, 0, tzinfo=UTC), place="Hall"
    )

    class Refusing:
        def send(self, to: str, subject: str, body: str, attachments: Any = ()) -> None:
            raise ConnectionRefusedError("no mail server")

    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        run = due.run(migrated_database, _context(), utcnow(), sender=Refusing())
        assert run.delivery is not None
        mine = [f for f in run.delivery.failed + run.delivery.given_up if f[1].startswith("inspector-")]
        assert mine, attempt
    with migrated_database.session() as db:
        row = db.scalars(
            select(Notification).where(
                Notification.subject_id == sitting_id, Notification.user_id == person_id
            )
        ).one()
    assert (row.email_state, row.attempts) == (FAILED, outbox.MAX_ATTEMPTS)


def test_a_dry_run_changes_nothing(migrated_database: Database) -> None:
    unit = f"Notify/City/County {uuid.uuid4().hex[:6]}"
    _person(migrated_database, "inspector", unit=unit)
    sitting_id = _sitting(
        migrated_database, unit=unit, named=[], opens=datetime(2031, 7, 1, 1, 0, tzinfo=UTC), place="Hall"
    )
    run = due.run(migrated_database, _context(), utcnow(), sender=None, dry_run=True)
    assert run.queued.get(due.INVITATION, 0) >= 1
    assert run.would_send.get(due.INVITATION, 0) >= 1
    with migrated_database.session() as db:
        assert (
            db.scalars(
                select(Notification).where(
                    Notification.subject_id == sitting_id, Notification.subject_type == "sitting"
                )
            ).all()
            == []
        )


def test_the_dashboard_lists_unread_notifications_and_reading_marks_them(
    client: TestClient, migrated_database: Database
) -> None:
    unit = f"Notify/City/County {uuid.uuid4().hex[:6]}"
    person = make_person(migrated_database, "inspector", unit=unit)
    other = make_person(migrated_database, "inspector", unit="Notify/Elsewhere")
    sitting_id = _sitting(
        migrated_database, unit=unit, named=[], opens=datetime(2031, 8, 1, 1, 0, tzinfo=UTC), place="Room 9"
    )
    due.run(
        migrated_database, _context(), utcnow(), sender=None
    )  # no email set up: the dashboard still has it
    with migrated_database.session() as db:
        row = db.scalars(
            select(Notification).where(
                Notification.subject_id == sitting_id, Notification.user_id == person.id
            )
        ).one()
    sign_in(client, person)
    page = client.get("/dashboard").text
    assert "New notifications" in page
    assert f'href="/notifications/{row.id}"' in page
    opened = client.get(f"/notifications/{row.id}")
    assert opened.status_code == 200
    assert "Room 9" in opened.text
    assert "calendar.ics" in opened.text
    assert f'href="/notifications/{row.id}"' not in client.get("/dashboard").text  # read now
    ics = client.get(f"/notifications/{row.id}/calendar.ics")
    assert ics.status_code == 200
    assert ics.headers["content-type"].startswith("text/calendar")
    [event] = icalendar.Calendar.from_ical(ics.text).walk("VEVENT")
    assert event.decoded("DTSTART") == datetime(2031, 8, 1, 1, 0, tzinfo=UTC)
    with migrated_database.session() as db:
        assert db.get_one(Notification, row.id).read_at is not None

    # Marking all read, with the form's CSRF token; someone else's notification does not exist.
    with migrated_database.write() as db:
        db.execute(update(Notification).where(Notification.id == row.id).values(read_at=None))
    page = client.get("/dashboard").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert (
        client.post("/notifications/read", data={"csrf_token": token}, follow_redirects=False).status_code
        == 303
    )
    assert f'href="/notifications/{row.id}"' not in client.get("/dashboard").text
    client.cookies.clear()
    sign_in(client, other)
    assert client.get(f"/notifications/{row.id}").status_code == 404
    assert client.get(f"/notifications/{row.id}/calendar.ics").status_code == 404


def test_the_language_chosen_while_signed_in_is_remembered(
    client: TestClient, migrated_database: Database
) -> None:
    person = make_person(migrated_database, "inspector", unit="Notify/Elsewhere")
    sign_in(client, person)
    token = client.get("/courses").text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/language", data={"csrf_token": token, "lang": "zh-CN", "next": "/courses"})
    with migrated_database.session() as db:
        assert db.get_one(User, person.id).language == "zh-CN"


# -- pure parts ---------------------------------------------------------------------------------


def test_renewal_reminders_are_due_at_the_window_30_days_before_and_in_grace() -> None:
    expires = datetime(2031, 12, 31, tzinfo=UTC)
    facts = policy.Facts(
        valid_from=datetime(2029, 12, 31, tzinfo=UTC),
        expires_at=expires,
        renewal_window_days=90,
        grace_days=60,
    )
    assert due.occasion_of(facts, expires - timedelta(days=91)) is None
    assert due.occasion_of(facts, expires - timedelta(days=89)) == "window"
    assert due.occasion_of(facts, expires - timedelta(days=30)) == "30_days"
    assert due.occasion_of(facts, expires + timedelta(days=1)) == "grace"
    assert due.occasion_of(facts, expires + timedelta(days=61)) is None
    short = policy.Facts(facts.valid_from, expires, renewal_window_days=14, grace_days=0)
    assert due.occasion_of(short, expires - timedelta(days=20)) == "30_days"  # valid, 30 days to go


def test_the_calendar_file_folds_and_escapes_as_rfc_5545_says() -> None:
    place = "哈尔滨市道里区安全生产监督管理局三楼第三会议室, Room 3; \\ 东侧\n入口" * 2
    event = ical.Event(
        uid="sitting-1-person-2@example.org",
        sequence=0,
        starts_at=datetime(2031, 3, 3, 1, 30, tzinfo=UTC),
        ends_at=datetime(2031, 3, 3, 3, 30, tzinfo=UTC),
        summary="Exam: 煤矿安全",
        location=place,
        description="line one\nline two, with; everything",
        stamp=datetime(2031, 1, 1, tzinfo=UTC),
    )
    text = ical.calendar(event)
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")
    for line in text.split("\r\n"):
        assert len(line.encode("utf-8")) <= 75
    [parsed] = icalendar.Calendar.from_ical(text).walk("VEVENT")
    assert str(parsed["LOCATION"]) == place
    assert str(parsed["DESCRIPTION"]) == "line one\nline two, with; everything"
    assert parsed.decoded("DTSTART") == datetime(2031, 3, 3, 1, 30, tzinfo=UTC)
    assert "DTSTART:20310303T013000Z" in text


def test_a_person_no_longer_expected_is_told_once_and_the_event_cancelled(
    migrated_database: Database, smtp: Smtp
) -> None:
    """Taken off a sitting's roster (or the sitting closed before it opened), each person told
    about it gets one withdrawal whose .ics cancels the same event (same UID, next SEQUENCE);
    put back, they get the sitting again as a change; someone who sat there gets nothing."""
    unit = f"Withdraw/City/County {uuid.uuid4().hex[:6]}"
    elsewhere = f"Withdraw/Elsewhere {uuid.uuid4().hex[:6]}"
    _stays_id, stays = _person(migrated_database, "inspector", unit=unit)
    moved_id, moved = _person(migrated_database, "inspector", unit=unit, lang="zh-CN")
    sat_id, sat = _person(migrated_database, "inspector", unit=unit)
    make_person(migrated_database, "inspector", unit=elsewhere)  # the unit people move to
    opens = datetime(2031, 4, 7, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    sitting_id = _sitting(migrated_database, unit=unit, named=[], opens=opens, place="Hall 2")
    sender = SmtpSender(smtp.settings())
    due.run(migrated_database, _context(), utcnow(), sender=sender)
    assert [len(smtp.inbox.to(a)) for a in (stays, moved, sat)] == [1, 1, 1]

    def move(user_id: int, path: str) -> None:
        with migrated_database.write() as db:
            target = db.scalars(select(Unit).where(Unit.path == path)).one()
            db.execute(update(User).where(User.id == user_id).values(unit_id=target.id))

    with migrated_database.write() as db:  # one of them started the exam there (a test sitting)
        db.add(
            Attempt(
                user_id=sat_id, unit_id=None, kind="exam", course_id="demo-course", module_id=None,
                content_hash="x", seed=0, status=GRADED, started_at=opens, deadline=None,
                submitted_at=opens, score=0.0, max_score=1.0, pass_mark=0.8, passed=False,
                review="score", sitting_id=sitting_id,
            )
        )  # fmt: skip
    move(moved_id, elsewhere)
    move(sat_id, elsewhere)
    first = due.run(migrated_database, _context(), utcnow(), sender=sender)
    again = due.run(migrated_database, _context(), utcnow(), sender=sender)
    assert first.queued.get(due.WITHDRAWN, 0) >= 1
    assert again.queued.get(due.WITHDRAWN, 0) == 0
    assert [len(smtp.inbox.to(a)) for a in (stays, moved, sat)] == [1, 2, 1]
    withdrawal = smtp.inbox.to(moved)[1]
    assert withdrawal["Subject"].strip().startswith("不再需要参加考试场次：demo-course，2031年4月7日 09:00")
    assert "您已被移出该考试场次的名单" in _text(withdrawal)
    event = _event(withdrawal)
    assert str(event["UID"]) == f"sitting-{sitting_id}-person-{moved_id}@training.example.org"
    assert int(event["SEQUENCE"]) == 1
    assert str(event["STATUS"]) == "CANCELLED"
    assert _calendar(withdrawal)["METHOD"] == "PUBLISH"

    move(moved_id, unit)  # put back: the sitting again, as a change, the event confirmed
    due.run(migrated_database, _context(), utcnow(), sender=sender)
    back = smtp.inbox.to(moved)[2]
    assert int(_event(back)["SEQUENCE"]) == 2
    assert str(_event(back)["STATUS"]) == "CONFIRMED"

    with migrated_database.write() as db:  # closed before it opened: cancelled for everyone
        db.execute(update(Sitting).where(Sitting.id == sitting_id).values(closed_at=utcnow()))
    due.run(migrated_database, _context(), utcnow(), sender=sender)
    due.run(migrated_database, _context(), utcnow(), sender=sender)
    assert [len(smtp.inbox.to(a)) for a in (stays, moved, sat)] == [2, 4, 1]
    cancelled = smtp.inbox.to(stays)[1]
    assert cancelled["Subject"].strip().startswith("Exam sitting cancelled: demo-course, 2031-04-07 09:00")
    assert "This exam sitting has been cancelled" in _text(cancelled)
    assert str(_event(cancelled)["STATUS"]) == "CANCELLED"
    assert int(_event(cancelled)["SEQUENCE"]) == 1
    with migrated_database.session() as db:
        kinds = db.scalars(
            select(Notification.kind)
            .where(Notification.subject_id == sitting_id, Notification.user_id == moved_id)
            .order_by(Notification.id)
        ).all()
    assert kinds == [due.INVITATION, due.WITHDRAWN, due.CHANGED, due.WITHDRAWN]
