"""The credential epoch (migration 0023, trainer.people.auth's credential cache): every change to
what a credential check reads bumps it, in whatever way it is made, and a process trusts a
credential it checked long ago only while the epoch it reads now is the one it read then."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Column, Table, delete, insert, select, text, update
from sqlalchemy.sql import visitors

from tests.conftest import make_person
from trainer.config import Settings
from trainer.db import Database, utcnow
from trainer.people import auth
from trainer.people.models import ApiToken, CredentialEpoch, Session, Unit, User, UserRole

# Read by a check but not watched, and why:
UNWATCHED = {
    ("sessions", "last_seen_at"),  # a session's last use, written by the lookup once a minute
    ("api_tokens", "created_at"),  # read in the same place as last_seen_at, not used for a token
    # Primary keys are never rewritten (the foreign keys pointing at them would break).
    ("sessions", "id"),
    ("api_tokens", "id"),
    ("users", "id"),
    ("units", "id"),
    ("credential_epoch", "id"),
    ("credential_epoch", "value"),
}


def _read_by_a_check() -> list[tuple[str, str]]:
    """Every (table, column) the two credential lookups read, from the statements themselves."""
    found: set[tuple[str, str]] = set()
    for statement in (auth._SESSION_VIEWER, auth._TOKEN_VIEWER):
        for element in visitors.iterate(statement):
            if isinstance(element, Column) and isinstance(element.table, Table):
                found.add((element.table.name, element.name))
    return sorted(found - UNWATCHED)


@dataclass
class Credentials:
    user_id: int
    unit_id: int
    session_id: int
    token_id: int
    token: str


def _epoch(database: Database) -> int:
    with database.session() as db:
        return int(db.scalars(select(CredentialEpoch.value)).one())


def _credentials(database: Database, now: datetime) -> Credentials:
    person = make_person(database, "inspector")
    token, digest = auth.new_token()
    _, session_digest = auth.new_token()
    with database.write() as db:
        user = db.get_one(User, person.id)
        assert user.unit_id is not None
        token_id = db.execute(
            insert(ApiToken)
            .values(token_hash=digest, user_id=user.id, created_at=now, expires_at=now + timedelta(days=1))
            .returning(ApiToken.id)
        ).scalar_one()
        session_id = db.execute(
            insert(Session)
            .values(
                token_hash=session_digest,
                user_id=user.id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(days=1),
            )
            .returning(Session.id)
        ).scalar_one()
        return Credentials(user.id, user.unit_id, session_id, token_id, token)


@pytest.fixture
def credentials(migrated_database: Database) -> Iterator[Credentials]:
    yield _credentials(migrated_database, utcnow())
    migrated_database.clear_caches()


def test_the_statements_read_what_the_triggers_watch() -> None:
    """The parametrised test below covers every column a check reads: a column added to the
    lookups without a trigger fails it (and this list shows what it covers)."""
    assert _read_by_a_check() == [
        ("api_tokens", "expires_at"),
        ("api_tokens", "revoked_at"),
        ("api_tokens", "token_hash"),
        ("api_tokens", "user_id"),
        ("sessions", "expires_at"),
        ("sessions", "revoked_at"),
        ("sessions", "token_hash"),
        ("sessions", "user_id"),
        ("units", "lineage"),
        ("units", "name"),
        ("units", "path"),
        ("user_roles", "role"),
        ("user_roles", "user_id"),
        ("users", "full_name"),
        ("users", "is_active"),
        ("users", "must_change_password"),
        ("users", "unit_id"),
        ("users", "username"),
    ]


@pytest.mark.parametrize(("table", "column"), _read_by_a_check())
def test_changing_anything_a_check_reads_bumps_the_epoch(
    migrated_database: Database, credentials: Credentials, table: str, column: str
) -> None:
    """Written as another process or a person at a SQL prompt would: a plain UPDATE, no app code."""
    row = {
        "sessions": credentials.session_id,
        "api_tokens": credentials.token_id,
        "users": credentials.user_id,
        "units": credentials.unit_id,
    }
    where = "user_id = :id" if table == "user_roles" else "id = :id"
    key = credentials.user_id if table == "user_roles" else row[table]
    before = _epoch(migrated_database)
    with migrated_database.write() as db:
        changed = db.execute(text(f"UPDATE {table} SET {column} = {column} WHERE {where}"), {"id": key})
        assert changed.rowcount == 1  # type: ignore[attr-defined]
    assert _epoch(migrated_database) > before


def test_deleting_credentials_people_roles_or_units_and_giving_a_role_bump_the_epoch(
    migrated_database: Database, credentials: Credentials
) -> None:
    changes = [
        insert(UserRole).values(user_id=credentials.user_id, role="manager"),
        delete(UserRole).where(UserRole.user_id == credentials.user_id, UserRole.role == "manager"),
        delete(Session).where(Session.id == credentials.session_id),
        delete(ApiToken).where(ApiToken.id == credentials.token_id),
        delete(User).where(User.id == credentials.user_id),
    ]
    for change in changes:
        before = _epoch(migrated_database)
        with migrated_database.write() as db:
            db.execute(change)
        assert _epoch(migrated_database) > before, str(change)
    with migrated_database.write() as db:
        unit = db.execute(
            insert(Unit)
            .values(
                parent_id=None,
                name=f"unit {credentials.unit_id}",
                kind="unit",
                lineage="/",
                path="x",
                created_at=utcnow(),
            )
            .returning(Unit.id)
        ).scalar_one()
    before = _epoch(migrated_database)
    with migrated_database.write() as db:
        db.execute(delete(Unit).where(Unit.id == unit))
    assert _epoch(migrated_database) > before


def test_what_a_check_does_not_read_leaves_the_epoch_alone(
    migrated_database: Database, credentials: Credentials
) -> None:
    """Above all a session's last-seen time, which the lookup itself writes once a minute, and
    new credentials (a sign-in): each would make every process look every credential up again."""
    now = utcnow()
    before = _epoch(migrated_database)
    with migrated_database.write() as db:
        db.execute(update(Session).where(Session.id == credentials.session_id).values(last_seen_at=now))
        db.execute(update(User).where(User.id == credentials.user_id).values(language="zh-CN"))
        db.execute(update(User).where(User.id == credentials.user_id).values(password_hash="x"))
    _credentials(migrated_database, now)  # a new person, session and token
    assert _epoch(migrated_database) == before + 1  # the new person's role (user_roles INSERT)


def test_a_credential_checked_long_ago_is_trusted_while_the_epoch_is_unchanged(
    migrated_database: Database, credentials: Credentials
) -> None:
    database = migrated_database
    t0 = utcnow()
    other = _credentials(database, t0)
    viewer = auth.load_api_token(database, credentials.token, t0)
    assert viewer is not None
    assert viewer.id == credentials.user_id
    window = timedelta(seconds=auth.CREDENTIAL_CACHE_SECONDS)

    # Past the window, the epoch reading is as old as the check: ask the database.
    assert auth.remembered_api_token(database, credentials.token, t0 + window) is None
    # Another credential's lookup renews the reading, and the first is trusted on it.
    assert auth.load_api_token(database, other.token, t0 + 30 * window) is not None
    assert auth.remembered_api_token(database, credentials.token, t0 + 30 * window) == viewer
    # ... but not by a clock that ran back before the reading.
    assert auth.remembered_api_token(database, credentials.token, t0 + 29 * window) is None

    # Revoked by another process (a plain UPDATE here: nothing in this process forgets it).
    with database.write() as db:
        db.execute(update(ApiToken).where(ApiToken.id == credentials.token_id).values(revoked_at=t0))
    # Until this process reads the epoch again (at most the window after its last reading) the
    # revocation is not seen: the bound the README states for every change.
    assert auth.remembered_api_token(database, credentials.token, t0 + 31 * window - timedelta(seconds=1))
    assert auth.remembered_api_token(database, credentials.token, t0 + 31 * window) is None
    assert auth.load_api_token(database, other.token, t0 + 31 * window) is not None  # reads the new epoch
    assert auth.remembered_api_token(database, credentials.token, t0 + 31 * window) is None
    assert auth.load_api_token(database, credentials.token, t0 + 31 * window) is None


def test_trust_on_the_epoch_ends_after_its_limit_and_for_a_session_at_its_next_touch(
    migrated_database: Database, credentials: Credentials, make_settings: Callable[..., Settings]
) -> None:
    database = migrated_database
    settings = make_settings()
    t0 = utcnow()
    session_token, session_digest = auth.new_token()
    with database.write() as db:
        db.execute(
            update(Session)
            .where(Session.id == credentials.session_id)
            .values(token_hash=session_digest, last_seen_at=t0)
        )
    other = _credentials(database, t0)
    assert auth.load_api_token(database, credentials.token, t0) is not None
    assert auth.load_session(database, settings, session_token, t0) is not None

    def renewed(at: datetime) -> None:  # another credential's lookup renews the epoch reading
        assert auth.load_api_token(database, other.token, at) is not None

    touch = auth.TOUCH_INTERVAL
    renewed(t0 + touch - timedelta(seconds=1))
    assert auth.remembered_api_token(database, credentials.token, t0 + touch - timedelta(seconds=1))
    assert auth.remembered_session(database, settings, session_token, t0 + touch - timedelta(seconds=1))
    renewed(t0 + touch)
    assert auth.remembered_api_token(database, credentials.token, t0 + touch)
    # A session is looked up again once its last-seen time is due to be written.
    assert auth.remembered_session(database, settings, session_token, t0 + touch) is None
    limit = timedelta(seconds=auth.CREDENTIAL_TRUST_SECONDS)
    renewed(t0 + limit - timedelta(seconds=1))
    assert auth.remembered_api_token(database, credentials.token, t0 + limit - timedelta(seconds=1))
    renewed(t0 + limit)
    assert auth.remembered_api_token(database, credentials.token, t0 + limit) is None


def test_an_account_change_in_this_process_drops_the_epoch_reading(
    migrated_database: Database, credentials: Credentials
) -> None:
    """What this process changes it forgets at once, and it reads the epoch again before trusting
    any other credential on it (the change bumped it)."""
    database = migrated_database
    t0 = utcnow()
    other = _credentials(database, t0)
    assert auth.load_api_token(database, credentials.token, t0) is not None
    assert auth.load_api_token(database, other.token, t0 + timedelta(seconds=30)) is not None
    assert auth.remembered_api_token(database, credentials.token, t0 + timedelta(seconds=31))
    auth.forget_user(other.user_id)
    assert auth.remembered_api_token(database, credentials.token, t0 + timedelta(seconds=31)) is None
