"""The audit log records security events in a hash chain that `trainer audit verify` checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from tests.conftest import csrf_token, make_person, run_together, sign_in
from trainer.audit import service as audit
from trainer.audit.models import AuditEvent, AuditHead
from trainer.config import derive_audit_key
from trainer.db import Database, utcnow
from trainer.people import service
from trainer.people.models import Unit, User

CLI_SECRET = "s" * 20 + "0123456789abcdefghijkl"


def verify_cli(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRAINER_DATABASE_URL": database_url, "TRAINER_SECRET_KEY": CLI_SECRET}
    return subprocess.run(
        [sys.executable, "-m", "trainer.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def fresh_log(tmp_path: Path) -> Database:
    """A database of its own, so rows can be tampered with without breaking other tests."""
    from trainer import migrate

    database = Database(f"sqlite:///{tmp_path / 'audit.db'}", audit_key=derive_audit_key(CLI_SECRET))
    migrate.upgrade(database)
    return database


def actions_for(database: Database, user_id: int) -> list[str]:
    with database.session() as db:
        return list(
            db.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.target_type == "user", AuditEvent.target_id == str(user_id))
                .order_by(AuditEvent.id)
            )
        )


def test_security_events_are_recorded(client: TestClient, migrated_database: Database) -> None:
    person = make_person(migrated_database, "inspector")
    client.post(
        "/login",
        data={
            "username": person.username,
            "password": "wrong-wrong-wrong",
            "csrf_token": csrf_token(client, "/login"),
        },
    )
    sign_in(client, person)
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    admin = make_person(migrated_database, "admin", unit=None)
    sign_in(client, admin)
    token = csrf_token(client)
    client.post(
        f"/admin/users/{person.id}",
        data={"csrf_token": token, "full_name": "Renamed", "roles": ["trainer"], "unit_id": ""},
    )
    confirmed = {"csrf_token": token, "confirm": "yes", "reason": "test"}
    client.post(f"/admin/users/{person.id}/reset-password", data=confirmed)
    client.post(f"/admin/users/{person.id}/deactivate", data=confirmed)
    actions = actions_for(migrated_database, person.id)
    assert actions[:4] == ["user.created", "login.failed", "login", "logout"]
    assert {"user.roles_changed", "user.unit_changed", "user.password_reset", "user.deactivated"} <= set(
        actions
    )
    with migrated_database.session() as db:
        failed = db.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "login.failed", AuditEvent.target_id == str(person.id)
            )
        )
    assert failed is not None
    assert '"reason":"wrong password"' in failed.details
    assert failed.ip == "testclient"
    assert "wrong-wrong-wrong" not in failed.details  # never the password itself


def test_admins_can_browse_and_filter_the_log(client: TestClient, migrated_database: Database) -> None:
    admin = make_person(migrated_database, "admin", unit=None)
    sign_in(client, admin)
    page = client.get("/admin/audit", params={"action": "login", "actor": admin.username})
    assert page.status_code == 200
    assert f"<td>{admin.username}</td>" in page.text
    assert "user.created" not in page.text.split("<tbody>")[1]


def _populate(database: Database) -> None:
    now = utcnow()
    with database.write() as db:
        unit = service.ensure_unit_path(db, audit.SYSTEM, "P/C/D/U", now)
        for i in range(3):
            user, _ = service.create_user(
                db,
                audit.SYSTEM,
                username=f"person{i}",
                full_name=f"Person {i}",
                unit=unit,
                roles=["inspector"],
                email=None,
                now=now,
                password="a long passphrase 1",
            )
            service.reset_password(db, audit.SYSTEM, user, now)


def test_an_intact_chain_verifies(fresh_log: Database) -> None:
    _populate(fresh_log)
    result = audit.verify(fresh_log)
    assert result.ok
    assert result.checked >= 10


@pytest.mark.parametrize("field", ["action", "details", "actor", "occurred_at"])
def test_editing_any_entry_breaks_verification_at_that_entry(fresh_log: Database, field: str) -> None:
    _populate(fresh_log)
    with fresh_log.session() as db:
        ids = list(db.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))
    for victim in ids:
        with fresh_log.session() as db:
            original = db.get_one(AuditEvent, victim)
            saved = getattr(original, field)
        new_value = {
            "action": "tampered",
            "details": '{"x":1}',
            "actor": "mallory",
            "occurred_at": saved.replace(year=2001) if field == "occurred_at" else None,
        }[field]
        with fresh_log.write() as db:
            db.execute(update(AuditEvent).where(AuditEvent.id == victim).values({field: new_value}))
        result = audit.verify(fresh_log)
        assert not result.ok
        assert result.broken_id == victim, (field, victim)
        with fresh_log.write() as db:
            db.execute(update(AuditEvent).where(AuditEvent.id == victim).values({field: saved}))
        assert audit.verify(fresh_log).ok


def test_removing_entries_is_detected(fresh_log: Database) -> None:
    _populate(fresh_log)
    with fresh_log.session() as db:
        ids = list(db.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))
    with fresh_log.write() as db:
        db.execute(delete(AuditEvent).where(AuditEvent.id == ids[3]))
    result = audit.verify(fresh_log)
    assert result.broken_id == ids[4]
    with fresh_log.write() as db:
        db.execute(delete(AuditEvent).where(AuditEvent.id >= ids[3]))
        # Cutting the tail leaves a chain that is consistent in itself; the head row gives it away.
    result = audit.verify(fresh_log)
    assert not result.ok
    assert "missing" in result.reason


def test_the_cli_reports_the_first_broken_entry(fresh_log: Database) -> None:
    _populate(fresh_log)
    ok = verify_cli(fresh_log.url)
    assert ok.returncode == 0
    assert "chain intact" in ok.stdout
    with fresh_log.session() as db:
        second = db.scalars(select(AuditEvent.id).order_by(AuditEvent.id).offset(1)).first()
    with fresh_log.write() as db:
        db.execute(update(AuditEvent).where(AuditEvent.id == second).values(details='{"forged":true}'))
    broken = verify_cli(fresh_log.url)
    assert broken.returncode == 1
    assert f"BROKEN at entry #{second}" in broken.stderr


def test_concurrent_appends_keep_one_chain(migrated_database: Database) -> None:
    databases = [Database(migrated_database.url, audit_key=migrated_database.audit_key) for _ in range(4)]

    def append(database: Database) -> None:
        for i in range(5):
            with database.write() as db:
                audit.record(db, "test.concurrent", audit.SYSTEM, details={"i": i})

    try:
        run_together([lambda d=d: append(d) for d in databases])
    finally:
        for database in databases:
            database.dispose()
    assert audit.verify(migrated_database).ok
    with migrated_database.session() as db:
        head = db.get_one(AuditHead, 1)
        last = db.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()))
    assert last is not None
    assert head.last_hash == last.hash


def test_units_and_users_have_their_events(fresh_log: Database) -> None:
    _populate(fresh_log)
    with fresh_log.session() as db:
        actions = set(db.scalars(select(AuditEvent.action)))
        assert db.scalar(select(Unit).where(Unit.path == "P/C/D/U")) is not None
        assert len(db.scalars(select(User)).all()) == 3
    assert {"unit.created", "user.created", "user.password_reset"} <= actions


# -- issue 13: a chain nobody can rewrite without the key, and its head kept outside -------------


def _public_formula(event: AuditEvent, prev_hash: str) -> str:
    """How anyone could hash an entry before the chain was keyed (fields joined by \\x1f)."""
    import hashlib

    fields = [
        str(event.id),
        event.occurred_at.isoformat(timespec="microseconds"),
        event.action,
        "" if event.actor_id is None else str(event.actor_id),
        event.actor or "",
        event.target_type or "",
        event.target_id or "",
        event.ip or "",
        event.details,
        prev_hash,
    ]
    return hashlib.sha256("\x1f".join(fields).encode("utf-8")).hexdigest()


def test_a_rewritten_chain_with_recomputed_hashes_does_not_verify(fresh_log: Database) -> None:
    _populate(fresh_log)
    with fresh_log.write() as db:
        events = list(db.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        events[2].details = '{"forged":true}'
        previous = events[1].hash
        for event in events[2:]:  # recompute every later hash, as someone with write access would
            event.prev_hash = previous
            event.hash = previous = _public_formula(event, previous)
        head = db.get_one(AuditHead, 1)
        head.last_hash = previous
    assert not audit.verify(fresh_log).ok
    assert verify_cli(fresh_log.url).returncode == 1


def test_fields_cannot_be_shifted_across_a_separator(fresh_log: Database) -> None:
    with fresh_log.write() as db:
        # A failed sign-in records the username as typed, separator and all.
        event = audit.record(db, "login.failed", audit.Actor(None, "mallory\x1fa"), target_type="user")
        victim = event.id
    assert audit.verify(fresh_log).ok
    with fresh_log.write() as db:
        shifted = {"actor": "mallory", "target_type": "a\x1fuser"}  # the same joined string
        db.execute(update(AuditEvent).where(AuditEvent.id == victim).values(shifted))
    result = audit.verify(fresh_log)
    assert result.broken_id == victim


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRAINER_DATABASE_URL": database_url, "TRAINER_SECRET_KEY": CLI_SECRET}
    return subprocess.run(
        [sys.executable, "-m", "trainer.cli", "audit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_an_anchor_kept_outside_reveals_a_cut_tail_with_the_head_rewritten(
    fresh_log: Database, tmp_path: Path
) -> None:
    _populate(fresh_log)
    anchor = _cli(fresh_log.url, "anchor")
    assert anchor.returncode == 0, anchor.stderr
    anchor_file = tmp_path / "anchor.txt"
    anchor_file.write_text(anchor.stdout, encoding="utf-8")
    assert _cli(fresh_log.url, "verify", "--anchor", str(anchor_file)).returncode == 0
    assert _cli(fresh_log.url, "verify", "--anchor", anchor.stdout.strip()).returncode == 0
    with fresh_log.write() as db:
        ids = list(db.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))
        keep = db.get_one(AuditEvent, ids[-4])
        db.execute(delete(AuditEvent).where(AuditEvent.id > keep.id))
        head = db.get_one(AuditHead, 1)
        head.last_id, head.last_hash = keep.id, keep.hash
    assert _cli(fresh_log.url, "verify").returncode == 0  # consistent in itself
    cut = _cli(fresh_log.url, "verify", "--anchor", str(anchor_file))
    assert cut.returncode == 1
    assert "anchor" in cut.stderr


def _old_chain(database: Database, count: int) -> None:
    """Entries as the code before migration 0008 wrote them (plain SHA-256, joined fields)."""
    with database.write() as db:
        previous = db.get_one(AuditHead, 1).last_hash
        for i in range(count):
            event = AuditEvent(
                occurred_at=utcnow(),
                action="test.old",
                actor="old\x1fstyle" if i == 1 else "system",
                details=f'{{"i":{i}}}',
                prev_hash=previous,
                hash=f"pending-{i}",
            )
            db.add(event)
            db.flush()
            event.hash = previous = _public_formula(event, previous)
            head = db.get_one(AuditHead, 1)
            head.last_id, head.last_hash = event.id, event.hash


def test_the_migration_rekeys_an_intact_chain_and_refuses_a_broken_one(tmp_path: Path) -> None:
    from trainer import migrate

    key = derive_audit_key(CLI_SECRET)
    intact = Database(f"sqlite:///{tmp_path / 'intact.db'}", audit_key=key)
    migrate.upgrade(intact, "0007")
    _old_chain(intact, 5)
    migrate.upgrade(intact)
    result = audit.verify(intact)
    assert result.ok
    assert result.checked == 5
    with intact.write() as db:  # and the chain carries on
        audit.record(db, "test.new", audit.SYSTEM)
    assert audit.verify(intact).ok
    assert not audit.verify(Database(intact.url, audit_key=derive_audit_key("another key " * 4))).ok

    broken = Database(f"sqlite:///{tmp_path / 'broken.db'}", audit_key=key)
    migrate.upgrade(broken, "0007")
    _old_chain(broken, 5)
    with broken.write() as db:
        db.execute(update(AuditEvent).where(AuditEvent.action == "test.old").values(details='{"i":0}'))
    with pytest.raises(RuntimeError, match="broken at entry"):
        migrate.upgrade(broken)
    assert migrate.current_revision(broken) == "0007"
