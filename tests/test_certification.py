"""Certificates: issued with a passing exam, states over time, renewal, public verification."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.conftest import (
    complete_modules,
    make_person,
    pass_exam,
    ready_for_exam,
    right_answer,
    run_together,
    token,
)
from trainer.certification import policy, service
from trainer.certification.models import Certificate
from trainer.certification.policy import State
from trainer.db import Database, utcnow
from trainer.quizzes import service as quizzes
from trainer.quizzes.models import Attempt, AttemptPaper

T0 = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)


def facts(**changes: Any) -> policy.Facts:
    base: dict[str, Any] = {
        "valid_from": T0,
        "expires_at": policy.add_months(T0, 36),
        "renewal_window_days": 90,
        "grace_days": 60,
    }
    base.update(changes)
    return policy.Facts(**base)


def test_states_follow_the_clock() -> None:
    f = facts()
    expiry = f.expires_at
    assert policy.state_at(f, T0) is State.VALID
    assert policy.state_at(f, expiry - timedelta(days=91)) is State.VALID
    assert policy.state_at(f, expiry - timedelta(days=89)) is State.DUE
    assert policy.state_at(f, expiry + timedelta(days=1)) is State.GRACE
    assert policy.state_at(f, expiry + timedelta(days=61)) is State.EXPIRED
    suspended = facts(suspended_at=T0 + timedelta(days=10))
    assert policy.state_at(suspended, T0 + timedelta(days=9)) is State.VALID
    assert policy.state_at(suspended, T0 + timedelta(days=10)) is State.SUSPENDED
    assert policy.state_at(facts(revoked_at=T0, suspended_at=T0), T0) is State.REVOKED  # revocation is final


def test_months_are_calendar_months() -> None:
    assert policy.add_months(T0, 1) == datetime(2026, 2, 28, 9, 0, tzinfo=UTC)
    assert policy.add_months(T0, 36) == datetime(2029, 1, 31, 9, 0, tzinfo=UTC)
    assert policy.add_months(datetime(2027, 12, 15, tzinfo=UTC), 2) == datetime(2028, 2, 15, tzinfo=UTC)


def test_a_renewal_runs_on_from_the_previous_expiry() -> None:
    previous = facts()
    in_window = previous.expires_at - timedelta(days=30)
    assert policy.validity(previous, in_window, 36) == (
        previous.expires_at,
        policy.add_months(previous.expires_at, 36),
    )
    in_grace = previous.expires_at + timedelta(days=30)
    assert policy.validity(previous, in_grace, 36)[0] == previous.expires_at
    too_late = previous.expires_at + timedelta(days=61)
    assert policy.validity(previous, too_late, 36)[0] == too_late  # expired: a fresh start


def test_verification_codes_and_masks() -> None:
    code = service.new_verification_code()
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{10}", code)
    assert service.normalise_code("abcd-efgh-jk") == "ABCDEFGHJK"
    assert service.normalise_code("O1lI") == "0111"
    assert service.mask_name("李明") == "李*"
    assert service.mask_name("欧阳娜娜") == "欧***"
    assert service.mask_name("Li Ming") == "L. M***"


def _shift(database: Database, number: str, expires_in: timedelta) -> None:
    """Move a certificate in time (the API answers for the real now)."""
    with database.write() as db:
        certificate = db.scalars(select(Certificate).where(Certificate.number == number)).one()
        certificate.expires_at = utcnow() + expires_in
        certificate.valid_from = certificate.expires_at - timedelta(days=3 * 365)
        certificate.renewal_from = certificate.expires_at - timedelta(days=certificate.renewal_window_days)
        certificate.grace_until = certificate.expires_at + timedelta(days=certificate.grace_days)


def test_passing_the_exam_issues_a_verifiable_certificate(
    client: TestClient, migrated_database: Database
) -> None:
    headers, person = ready_for_exam(client, migrated_database)
    pass_exam(client, migrated_database, headers)
    certificates = client.get("/api/v1/me/certificates", headers=headers).json()
    assert len(certificates) == 1
    cert = certificates[0]
    assert re.fullmatch(rf"HLJ-COAL-{utcnow().year}-\d{{6}}", cert["number"])
    assert cert["state"] == "valid"
    assert cert["course_id"] == "demo-course"
    verified = client.get(f"/api/v1/verify/{cert['verification_code'].lower()}")
    assert verified.status_code == 200
    body = verified.json()
    assert body["state"] == "valid"
    assert body["holder"] == "T. i***"  # "Test inspector-…", masked
    assert body["unit"] == "Heilongjiang/Harbin/Daoli District/Bureau"
    assert "score" not in verified.text
    assert person.username not in verified.text
    page = client.get(f"/verify/{cert['verification_code']}")
    assert page.status_code == 200
    assert "Valid" in page.text
    assert person.username not in page.text
    assert client.get("/api/v1/verify/0000000000").status_code == 404
    assert client.get("/verify/NOT-A-CODE").status_code == 404
    with migrated_database.session() as db:
        stored = db.scalar(select(Certificate).where(Certificate.number == cert["number"]))
        attempt = db.get_one(Attempt, stored.attempt_id) if stored else None
    assert stored is not None
    assert attempt is not None
    assert stored.score == attempt.score  # the evidence: attempt, score, snapshot hash
    assert len(stored.snapshot_hash) == 64


def test_one_inspector_through_every_state(client: TestClient, migrated_database: Database) -> None:
    headers, _ = ready_for_exam(client, migrated_database)
    pass_exam(client, migrated_database, headers)
    cert = client.get("/api/v1/me/certificates", headers=headers).json()[0]
    code, number = cert["verification_code"], cert["number"]

    def state() -> str:
        return str(client.get(f"/api/v1/verify/{code}").json()["state"])

    # While valid, the exam is closed: renewal opens inside the window.
    refused = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers)
    assert refused.status_code == 403
    assert "renewal opens on" in refused.json()["detail"]["message"]
    _shift(migrated_database, number, timedelta(days=30))
    assert state() == "due_for_renewal"
    _shift(migrated_database, number, -timedelta(days=10))
    assert state() == "grace"
    _shift(migrated_database, number, -timedelta(days=100))
    assert state() == "expired"
    _shift(migrated_database, number, timedelta(days=30))
    # Renewal inside the window: the new certificate runs on from the old expiry.
    with migrated_database.session() as db:
        old_expiry = db.scalar(select(Certificate.expires_at).where(Certificate.number == number))
    pass_exam(client, migrated_database, headers)
    certificates = {c["number"]: c for c in client.get("/api/v1/me/certificates", headers=headers).json()}
    assert certificates[number]["state"] == "superseded"
    renewed = next(c for n, c in certificates.items() if n != number)
    assert renewed["state"] == "valid"
    with migrated_database.session() as db:
        new = db.scalar(select(Certificate).where(Certificate.number == renewed["number"]))
    assert new is not None
    assert new.valid_from == old_expiry
    assert new.expires_at == policy.add_months(old_expiry, 36)
    # Suspension (reversible) and revocation (final) show at once.
    with migrated_database.write() as db:
        db.execute(update(Certificate).where(Certificate.id == new.id).values(suspended_at=utcnow()))
    assert client.get(f"/api/v1/verify/{renewed['verification_code']}").json()["state"] == "suspended"
    with migrated_database.write() as db:
        db.execute(update(Certificate).where(Certificate.id == new.id).values(suspended_at=None))
    assert client.get(f"/api/v1/verify/{renewed['verification_code']}").json()["state"] == "valid"
    with migrated_database.write() as db:
        db.execute(update(Certificate).where(Certificate.id == new.id).values(revoked_at=utcnow()))
    assert client.get(f"/api/v1/verify/{renewed['verification_code']}").json()["state"] == "revoked"
    assert "Revoked" in client.get(f"/verify/{renewed['verification_code']}").text


def test_two_gradings_at_once_never_issue_two_valid_certificates(
    client: TestClient, migrated_database: Database
) -> None:
    """Two passing exams of one inspector graded at the same moment (the issuing step of each
    grading transaction run concurrently, on separate connections): one certificate."""
    from trainer.access import Viewer

    headers, person = ready_for_exam(client, migrated_database)
    paper = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers).json()
    for question in paper["questions"]:
        client.put(
            f"/api/v1/attempts/{paper['id']}/answers/{question['slot']}",
            headers=headers,
            json=right_answer(migrated_database, paper["id"], question["slot"]),
        )
    viewer = Viewer(person.id, person.username, "x", frozenset({"inspector"}), None, None, None, None, False)
    quizzes.submit(migrated_database, viewer, paper["id"], utcnow())  # graded, no certificate yet
    with migrated_database.write() as db:
        original = db.get_one(Attempt, paper["id"])
        columns = (
            "user_id",
            "kind",
            "course_id",
            "module_id",
            "content_hash",
            "seed",
            "status",
            "started_at",
            "deadline",
            "submitted_at",
            "score",
            "max_score",
            "pass_mark",
            "passed",
            "review",
        )
        twin = Attempt(**{c: getattr(original, c) for c in columns})
        db.add(twin)
        db.flush()
        db.add(AttemptPaper(attempt_id=twin.id, paper_id=db.get_one(AttemptPaper, original.id).paper_id))
        attempt_ids = [paper["id"], twin.id]
    course = client.app.state.content.library.courses["demo-course"]  # type: ignore[attr-defined]
    databases = [Database(migrated_database.url, audit_key=migrated_database.audit_key) for _ in range(2)]

    def issue(database: Database, attempt_id: int) -> None:
        with database.write() as db:
            attempt = db.get_one(Attempt, attempt_id)
            service.issue_for(db, attempt, quizzes.paper_of(db, attempt_id), course, utcnow(), prefix="HLJ")

    try:
        run_together([lambda d=d, a=a: issue(d, a) for d, a in zip(databases, attempt_ids, strict=True)])
    finally:
        for database in databases:
            database.dispose()
    with migrated_database.session() as db:
        certificates = db.scalars(select(Certificate).where(Certificate.user_id == person.id)).all()
    assert len(certificates) == 1
    assert certificates[0].is_current


def test_managers_suspend_reinstate_and_revoke_within_their_subtree(
    client: TestClient, migrated_database: Database
) -> None:

    headers, person = ready_for_exam(client, migrated_database)
    pass_exam(client, migrated_database, headers)
    cert = client.get("/api/v1/me/certificates", headers=headers).json()[0]
    number, code = cert["number"], cert["verification_code"]
    here = token(client, make_person(migrated_database, "manager", unit="Heilongjiang/Harbin"))
    elsewhere = token(client, make_person(migrated_database, "manager", unit="Heilongjiang/Qiqihar"))
    url = f"/api/v1/certificates/{number}"
    # Another city's manager learns nothing, not even that it exists; inspectors may not act.
    assert client.post(f"{url}/suspend", headers=elsewhere, json={"reason": "x"}).status_code == 404
    assert client.get(f"/api/v1/inspectors/{person.id}/certificates", headers=elsewhere).status_code == 404
    assert client.post(f"{url}/suspend", headers=headers, json={"reason": "x"}).status_code == 403
    assert client.post(f"{url}/suspend", headers=here, json={"reason": " "}).status_code == 422
    suspended = client.post(f"{url}/suspend", headers=here, json={"reason": "under investigation"})
    assert suspended.status_code == 200
    assert suspended.json()["state"] == "suspended"
    assert client.get(f"/api/v1/verify/{code}").json()["state"] == "suspended"
    assert (
        client.get(f"/api/v1/inspectors/{person.id}/certificates", headers=here).json()[0]["state"]
        == "suspended"
    )
    assert client.post(f"{url}/reinstate", headers=here, json={}).json()["state"] == "valid"
    assert client.post(f"{url}/reinstate", headers=here, json={}).status_code == 409
    assert (
        client.post(
            f"{url}/revoke", headers=here, json={"reason": "no longer on an enforcement post"}
        ).json()["state"]
        == "revoked"
    )
    assert client.post(f"{url}/reinstate", headers=here, json={}).status_code == 409  # final
    assert client.get(f"/api/v1/verify/{code}").json()["state"] == "revoked"
    from trainer.audit.models import AuditEvent

    with migrated_database.session() as db:
        actions = list(
            db.scalars(
                select(AuditEvent.action).where(AuditEvent.target_id == number).order_by(AuditEvent.id)
            )
        )
    assert actions == [
        "certificate.issued",
        "certificate.suspended",
        "certificate.reinstated",
        "certificate.revoked",
    ]


def test_the_certificate_page_and_badge_are_for_the_holder_and_managers(
    client: TestClient, migrated_database: Database
) -> None:
    from tests.conftest import Person, sign_in

    headers, person = ready_for_exam(client, migrated_database)
    pass_exam(client, migrated_database, headers)
    cert = client.get("/api/v1/me/certificates", headers=headers).json()[0]
    sign_in(client, Person(person.id, person.username, person.password, None))
    page = client.get(f"/certificates/{cert['number']}")
    assert page.status_code == 200
    assert f"/verify/{cert['verification_code']}" in page.text
    assert "<svg" in page.text  # the QR code, made on the server
    badge = client.get(f"/certificates/{cert['number']}/badge.json").json()
    assert "OpenBadgeCredential" in badge["type"]
    assert badge["validFrom"]
    assert badge["validUntil"]
    assert badge["id"].endswith(f"/verify/{cert['verification_code']}")
    stranger = TestClient(client.app)
    sign_in(stranger, make_person(migrated_database, "inspector"))
    assert stranger.get(f"/certificates/{cert['number']}").status_code == 404
    manager = TestClient(client.app)
    sign_in(manager, make_person(migrated_database, "manager", unit="Heilongjiang/Harbin"))
    assert manager.get(f"/certificates/{cert['number']}").status_code == 200


def test_the_dashboard_says_what_to_do_next(client: TestClient, migrated_database: Database) -> None:
    from tests.conftest import Person, sign_in

    person = make_person(migrated_database, "inspector")
    headers = token(client, person)
    sign_in(client, Person(person.id, person.username, person.password, None))
    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard"
    empty = client.get("/dashboard").text
    assert "No certificates yet." in empty
    client.get("/api/v1/courses/demo-course/modules/demo-second", headers=headers)  # one module done
    started = client.get("/dashboard").text
    assert "1 of 2 modules done" in started
    assert 'href="/courses/demo-course/demo-first">Ventilation first steps' in started

    complete_modules(client, headers, migrated_database)
    pass_exam(client, migrated_database, headers)
    cert = client.get("/api/v1/me/certificates", headers=headers).json()[0]
    _shift(migrated_database, cert["number"], timedelta(days=20))
    due = client.get("/dashboard").text
    assert "Renewals due" in due
    assert "19 days left" in due or "20 days left" in due
    assert f'href="/certificates/{cert["number"]}"' in due


def test_reminders_list_holders_due_for_each_manager_in_scope(
    client: TestClient, migrated_database: Database, database_url: str, tmp_path: Any
) -> None:
    import csv
    import io
    import os
    import subprocess
    import sys

    from trainer.reports import reminders

    headers, _ = ready_for_exam(client, migrated_database)  # in Heilongjiang/Harbin/...
    pass_exam(client, migrated_database, headers)
    cert = client.get("/api/v1/me/certificates", headers=headers).json()[0]
    here = make_person(migrated_database, "manager", unit="Heilongjiang/Harbin")
    elsewhere = make_person(migrated_database, "manager", unit="Heilongjiang/Qiqihar")
    assert not [r for r in reminders.due(migrated_database, utcnow()) if r.number == cert["number"]]  # valid
    _shift(migrated_database, cert["number"], timedelta(days=30))
    mine = [r for r in reminders.due(migrated_database, utcnow()) if r.number == cert["number"]]
    managers = {r.manager for r in mine}
    assert here.username in managers
    assert elsewhere.username not in managers
    assert all(r.state == "due_for_renewal" for r in mine)
    out = tmp_path / "reminders.csv"
    env = {
        **os.environ,
        "TRAINER_DATABASE_URL": database_url,
        "TRAINER_SECRET_KEY": "m" * 20 + "0123456789abcdefghijkl",
    }
    result = subprocess.run(
        [sys.executable, "-m", "trainer.cli", "reminders", "--csv", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    raw = out.read_bytes()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert any(r["number"] == cert["number"] and r["manager"] == here.username for r in rows)


def test_verification_is_rate_limited_per_address_across_processes(
    make_settings: Any, content: Any, migrated_database: Database
) -> None:
    import uuid

    from trainer import ratelimit
    from trainer.app import create_app

    first = create_app(make_settings(content, verify_per_minute=3))
    second = create_app(make_settings(content, verify_per_minute=3))
    try:
        while True:  # the limit is per clock minute: start again if the four straddle one
            address = f"verify-test-{uuid.uuid4().hex[:6]}"
            minute = utcnow().replace(second=0, microsecond=0)
            statuses = []
            for app in (first, second, first, second):
                with TestClient(app, client=(address, 5000)) as client:
                    statuses.append(client.get("/api/v1/verify/0000000000").status_code)
            with TestClient(second, client=(address, 5000)) as client:
                refused = client.get("/verify/0000000000")
            if utcnow().replace(second=0, microsecond=0) == minute:
                break
        assert statuses == [404, 404, 404, 429]  # the fourth in a minute, whichever process gets it
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        with TestClient(first, client=("someone-else", 5000)) as client:
            assert client.get("/api/v1/verify/0000000000").status_code == 404
        assert ratelimit.hit(migrated_database, "unit-test", 1, utcnow()) == 0
    finally:
        first.state.database.dispose()
        second.state.database.dispose()


def test_reminders_are_emailed_to_each_manager(
    client: TestClient, migrated_database: Database, tmp_path: Any
) -> None:
    import email
    import socket

    from aiosmtpd.controller import Controller

    from trainer.config import Settings
    from trainer.notifications import due, mail

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[email.message.Message] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.messages.append(email.message_from_bytes(envelope.content))
            return "250 OK"

    headers, _ = ready_for_exam(client, migrated_database)
    pass_exam(client, migrated_database, headers)
    cert = client.get("/api/v1/me/certificates", headers=headers).json()[0]
    with migrated_database.write() as db:
        db.execute(update(Certificate).where(Certificate.number == cert["number"]).values(holder_name="李明"))
    _shift(migrated_database, cert["number"], timedelta(days=15))
    manager = make_person(migrated_database, "manager", unit="Heilongjiang/Harbin")
    from trainer.people.models import User

    with migrated_database.write() as db:
        db.execute(update(User).where(User.id == manager.id).values(email="chen@example.org"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = Settings(
            smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False, smtp_from="trainer@example.org"
        )
        context = due.Context(settings.zone, "en", None)
        due.run(migrated_database, context, utcnow(), sender=mail.SmtpSender(settings))
    finally:
        controller.stop()
    (message,) = [m for m in inbox.messages if m["To"] == "chen@example.org"]  # the weekly digest
    assert message["To"] == "chen@example.org"
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "李明" in body
    assert cert["number"] in body


def test_the_reminders_file_quotes_cells_a_spreadsheet_would_run() -> None:
    """Names and units come from people: a cell starting with = + - @ would be a formula when a
    manager opens the file, so it is quoted, as in the page exports; numbers stay numbers."""
    import csv
    import io
    from datetime import UTC, datetime

    from trainer.reports import reminders

    due = reminders.Reminder(
        manager="mgr",
        manager_email=None,
        holder="insp",
        holder_name='=HYPERLINK("http://evil.example","张三")',
        unit="+Harbin",
        course_id="coal-mine-inspection",
        number="HLJ-2026-000001",
        state="expired",
        expires_at=datetime(2026, 11, 1, tzinfo=UTC),
        days_left=-3,
    )
    text = reminders.to_csv([due])
    assert text.startswith("\ufeff")
    [row] = list(csv.DictReader(io.StringIO(text[1:])))
    assert row["holder_name"] == '\'=HYPERLINK("http://evil.example","张三")'
    assert row["unit"] == "'+Harbin"
    assert row["days_left"] == "-3"
    assert row["expires_at"] == "2026-11-01"
