"""Signing in and staying signed in: passwords checked under throttling, browser sessions and
API tokens (random, stored only as SHA-256, revocable, expiring).

Like the other services, `logout` and `end_all_sessions` take the caller's session and never
commit. Documented exceptions, which take the `Database` and run their own transactions:
- `login`: it records the attempt (a failure until the password proves right) and may then
  refuse, and that record must stay; the slow password check runs between its two short
  transactions, outside any. Callers hand it the database before they open the request's unit
  of work (on SQLite a second write unit in one thread is refused).
- `load_session` and `load_api_token`: the request plumbing's lookup of who is asking, before
  the request's unit of work exists (one prebuilt statement on a connection of its own; a
  session's last-seen time is written at most once a minute, in a short write of its own).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Row, Select, bindparam, event, func, select, update
from sqlalchemy.orm import Session as DbSession

from trainer.access import Viewer
from trainer.audit import service as audit
from trainer.caching import CacheSlot
from trainer.config import Settings
from trainer.db import Database
from trainer.people import passwords, throttle
from trainer.people.models import ApiToken, CredentialEpoch, LoginAttempt, Session, Unit, User, UserRole

TOUCH_INTERVAL = timedelta(minutes=1)  # last_seen_at is written at most this often


def new_token() -> tuple[str, str]:
    """A 256-bit random token and the hash we store in its place."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalise_username(username: str) -> str:
    return username.strip().casefold()


@dataclass(frozen=True)
class LoginResult:
    outcome: Literal["ok", "invalid", "throttled"]
    user_id: int | None = None
    token: str | None = None  # the new session's or API token's secret, to hand to the client
    expires_at: datetime | None = None
    retry_after: int = 0
    must_change_password: bool = False


def login(
    database: Database,
    settings: Settings,
    username: str,
    password: str,
    *,
    ip: str,
    now: datetime,
    kind: Literal["session", "api"] = "session",
) -> LoginResult:
    """Check a password (throttled) and, if right, open a browser session or issue an API token.

    The throttle decides and reserves the attempt in one short write transaction holding a lock
    on this account and on this address (SQLite: its single writer; PostgreSQL: transaction-level
    advisory locks), so parallel guesses are counted one after another: 30 at once get the free
    tries and 429s, instead of all reading the counts before any failure was written. The
    reserved attempt counts as a failure until the password proves right. The slow password
    check runs outside any transaction; a second short unit of work then records the outcome,
    the audit event and the new session together.
    """
    name = normalise_username(username)[:64]
    with database.write() as db:
        _lock_attempts(db, name, ip)
        decision = throttle.decide(_counts(db, name, ip, now), now)
        if not decision.allowed:
            return LoginResult("throttled", retry_after=decision.retry_after)
        user = db.scalar(select(User).where(User.username == name))
        reserved = LoginAttempt(username=name, ip=ip, succeeded=False, attempted_at=now)
        db.add(reserved)
        db.flush()
        attempt_id = reserved.id
    correct = passwords.verify_password(user.password_hash if user else None, password)
    succeeded = bool(correct and user is not None and user.is_active)
    with database.write() as db:
        if succeeded:
            db.execute(update(LoginAttempt).where(LoginAttempt.id == attempt_id).values(succeeded=True))
        if not succeeded or user is None:
            reason = "unknown user" if user is None else ("inactive" if correct else "wrong password")
            audit.record(
                db,
                "login.failed",
                audit.Actor(user.id if user else None, name, ip),
                target_type="user",
                target_id=user.id if user else None,
                details={"reason": reason},
            )
            return LoginResult("invalid")
        if passwords.needs_rehash(user.password_hash):
            db.get_one(User, user.id).password_hash = passwords.hash_password(password)
        token, hashed = new_token()
        if kind == "session":
            expires_at = now + timedelta(hours=settings.session_max_hours)
            db.add(
                Session(
                    token_hash=hashed,
                    user_id=user.id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=expires_at,
                    ip=ip,
                )
            )
            audit.record(
                db, "login", audit.Actor(user.id, user.username, ip), target_type="user", target_id=user.id
            )
        else:
            expires_at = now + timedelta(hours=settings.api_token_hours)
            db.add(ApiToken(token_hash=hashed, user_id=user.id, created_at=now, expires_at=expires_at))
            audit.record(
                db,
                "api_token.issued",
                audit.Actor(user.id, user.username, ip),
                target_type="user",
                target_id=user.id,
            )
    return LoginResult("ok", user.id, token, expires_at, must_change_password=user.must_change_password)


def _lock_attempts(db: DbSession, username: str, ip: str) -> None:
    """PostgreSQL: serialise sign-ins for this account and from this address until commit (always
    in key order, so two transactions never wait on each other). SQLite's writer lock already does."""
    if db.get_bind().dialect.name != "postgresql":
        return
    keys = sorted(
        int.from_bytes(hashlib.sha256(f"login:{kind}:{value}".encode()).digest()[:8], "big", signed=True)
        for kind, value in (("user", username), ("ip", ip))
    )
    for key in keys:
        db.execute(select(func.pg_advisory_xact_lock(key)))


def _counts(db: DbSession, username: str, ip: str, now: datetime) -> throttle.Counts:
    last_pair_success = db.scalar(
        select(func.max(LoginAttempt.attempted_at)).where(
            LoginAttempt.username == username,
            LoginAttempt.ip == ip,
            LoginAttempt.succeeded.is_(True),
            LoginAttempt.attempted_at > now - throttle.TRUST_WINDOW,
        )
    )
    pair_since = max(filter(None, [last_pair_success, now - throttle.PAIR_MEMORY]))
    pair_failures, pair_last = db.execute(
        select(func.count(), func.max(LoginAttempt.attempted_at)).where(
            LoginAttempt.username == username,
            LoginAttempt.ip == ip,
            LoginAttempt.succeeded.is_(False),
            LoginAttempt.attempted_at > pair_since,
        )
    ).one()
    ip_failures, ip_oldest = db.execute(
        select(func.count(), func.min(LoginAttempt.attempted_at)).where(
            LoginAttempt.ip == ip,
            LoginAttempt.succeeded.is_(False),
            LoginAttempt.attempted_at > now - throttle.IP_WINDOW,
        )
    ).one()
    account_failures, account_oldest = db.execute(
        select(func.count(), func.min(LoginAttempt.attempted_at)).where(
            LoginAttempt.username == username,
            LoginAttempt.succeeded.is_(False),
            LoginAttempt.attempted_at > now - throttle.ACCOUNT_WINDOW,
        )
    ).one()
    return throttle.Counts(
        pair_failures=pair_failures,
        pair_last_failure=pair_last,
        ip_failures=ip_failures,
        ip_oldest_failure=ip_oldest,
        account_failures=account_failures,
        account_oldest_failure=account_oldest,
        trusted_address=last_pair_success is not None,
    )


def _viewer_query(credential: type[Session] | type[ApiToken]) -> Select[*tuple[Any, ...]]:
    """One statement for everything a request needs to know about its viewer, built once.

    Every page a signed-in person opens runs it, so it is a single round trip with the roles
    aggregated in SQL, and built at import time (building SQLAlchemy expressions per call cost
    more than running them).
    """
    roles = (
        select(func.aggregate_strings(UserRole.role, ","))
        .where(UserRole.user_id == User.id)
        .scalar_subquery()
    )
    touched = Session.last_seen_at if credential is Session else ApiToken.created_at
    statement = (
        select(
            credential.id,
            touched,
            credential.expires_at,
            User.id,
            User.username,
            User.full_name,
            User.must_change_password,
            User.unit_id,
            Unit.lineage,
            Unit.name,
            Unit.path,
            roles,
            # Read with the credential, in the same snapshot (the credential cache below).
            select(CredentialEpoch.value).where(CredentialEpoch.id == 1).scalar_subquery(),
        )
        .join(User, User.id == credential.user_id)
        .outerjoin(Unit, Unit.id == User.unit_id)
        .where(
            credential.token_hash == bindparam("token_hash"),
            credential.revoked_at.is_(None),
            credential.expires_at > bindparam("now"),
            User.is_active.is_(True),
        )
    )
    if credential is Session:
        statement = statement.where(Session.last_seen_at > bindparam("idle_since"))
    return statement


_SESSION_VIEWER = _viewer_query(Session)
_TOKEN_VIEWER = _viewer_query(ApiToken)


def _viewer_from_row(row: Row[*tuple[Any, ...]], *, session: bool) -> Viewer:
    (
        credential_id,
        _,
        _,
        user_id,
        username,
        full_name,
        must_change,
        unit_id,
        lineage,
        unit_name,
        unit_path,
        roles,
        _,
    ) = tuple(row)
    return Viewer(
        id=user_id,
        username=username,
        full_name=full_name,
        roles=frozenset(roles.split(",")) if roles else frozenset(),
        unit_id=unit_id,
        unit_lineage=lineage,
        unit_name=unit_name,
        unit_path=unit_path,
        must_change_password=must_change,
        session_id=credential_id if session else None,
        token_id=None if session else credential_id,
    )


# -- the credential cache ------------------------------------------------------------------------
#
# Every signed-in request needs its viewer. Looking it up is one indexed query, but on a hot page
# or an answer save the query and the trip to a worker thread that runs it cost several times the
# work itself. So each process remembers the credentials it checked, and answers the same cookie
# or token from memory (its absolute expiry, and for a session the idle time-out, still checked
# against the clock):
# - for CREDENTIAL_CACHE_SECONDS after the check, unconditionally;
# - after that, for up to CREDENTIAL_TRUST_SECONDS, while the credential epoch is unchanged: a
#   counter in the database that triggers bump whenever anything a check reads changes, in any
#   process or by hand (trainer.people.models.CredentialEpoch). Every check reads it with the
#   credential; the process keeps the latest value it read and when (`_EpochReading`), and a
#   remembered credential is trusted while that reading is under CREDENTIAL_CACHE_SECONDS old and
#   equals the value read with the credential: nothing changed between the two reads. So a
#   change takes effect in other processes within CREDENTIAL_CACHE_SECONDS either way, and an
#   inspector saving an answer every 10-60 s is not looked up again each time: one lookup a
#   process makes (any credential's) renews the reading for every credential it remembers. A
#   session is looked up again within TOUCH_INTERVAL of its last-seen time, which the lookup writes.
# Sign-out, password changes and resets, deactivation and role or unit changes also forget the
# person's entries, and the reading, in this process at once.

CREDENTIAL_CACHE_SECONDS = 5
CREDENTIAL_TRUST_SECONDS = 600
CREDENTIAL_CACHE_SIZE = 20_000
_WINDOW = timedelta(seconds=CREDENTIAL_CACHE_SECONDS)
_TRUST = timedelta(seconds=CREDENTIAL_TRUST_SECONDS)


@dataclass(frozen=True)
class _Checked:
    viewer: Viewer
    checked_at: datetime  # when the database last confirmed it
    last_seen_at: datetime  # sessions: as stored (or just written)
    expires_at: datetime
    epoch: int | None  # the credential epoch read with it (None: the counter's row is missing)


@dataclass(frozen=True)
class _EpochReading:
    value: int
    read_at: datetime  # no later than the statement that read it


# Each database's checked credentials, by token hash; and its latest epoch reading.
_CHECKED: CacheSlot[str, _Checked] = CacheSlot("credentials", CREDENTIAL_CACHE_SIZE)
_EPOCH: CacheSlot[str, _EpochReading] = CacheSlot("credential epoch", 1)
_LATEST = "latest"


def _remembered(database: Database, digest: str, now: datetime, idle: timedelta | None) -> Viewer | None:
    entry = database.caches[_CHECKED].get(digest)
    if entry is None or now < entry.checked_at:  # a clock that ran backwards reads nothing
        return None
    if now >= entry.expires_at or (idle is not None and entry.last_seen_at <= now - idle):
        return None
    age = now - entry.checked_at
    if age < _WINDOW:
        return entry.viewer
    if (
        entry.epoch is None
        or age >= _TRUST
        or (idle is not None and now >= entry.last_seen_at + TOUCH_INTERVAL)
    ):
        return None
    reading = database.caches[_EPOCH].get(_LATEST)
    if (
        reading is None
        or reading.value != entry.epoch
        or not reading.read_at <= now < reading.read_at + _WINDOW
    ):
        return None
    return entry.viewer


def _note_epoch(database: Database, value: int | None, read_at: datetime) -> None:
    """Keep the newer of this reading and the process's latest. Any reading is a true statement
    ("the epoch was `value` at `read_at` or later"), so two threads racing here cannot make the
    cache trust a changed credential for longer than the window: no lock."""
    if value is None:
        return
    readings = database.caches[_EPOCH]
    latest = readings.get(_LATEST)
    if latest is None or (value, read_at) > (latest.value, latest.read_at):
        readings.put(_LATEST, _EpochReading(value, read_at))


def _remember(database: Database, digest: str, entry: _Checked) -> None:
    database.caches[_CHECKED].put(digest, entry)


def forget_user(user_id: int) -> None:
    """Drop a person's remembered credentials in this process, for every database (their account
    just changed)."""
    for checked in _CHECKED.instances():
        checked.discard_where(lambda _digest, entry: entry.viewer.id == user_id)
    for readings in _EPOCH.instances():  # the change bumped the epoch: read it again
        readings.clear()


def forget_user_on_commit(db: DbSession, user_id: int) -> None:
    """Forget the person's credentials now and again when `db` commits, so that a request
    reading the old rows meanwhile cannot leave them remembered."""
    forget_user(user_id)
    event.listen(db, "after_commit", lambda _session: forget_user(user_id), once=True)


def remembered_session(database: Database, settings: Settings, token: str, now: datetime) -> Viewer | None:
    """The viewer of a session cookie whose check this process still trusts, from memory (no I/O:
    safe on the event loop); None means "ask `load_session`", not "signed out"."""
    return _remembered(database, token_hash(token), now, timedelta(minutes=settings.session_idle_minutes))


def load_session(database: Database, settings: Settings, token: str, now: datetime) -> Viewer | None:
    """The viewer behind a session cookie, or None if it is unknown, revoked or timed out."""
    idle = timedelta(minutes=settings.session_idle_minutes)
    digest = token_hash(token)
    known = _remembered(database, digest, now, idle)
    if known is not None:
        return known
    with database.read_connection() as conn:
        row = conn.execute(
            _SESSION_VIEWER, {"token_hash": digest, "now": now, "idle_since": now - idle}
        ).one_or_none()
    if row is None:
        return None
    viewer = _viewer_from_row(row, session=True)
    last_seen = row[1]
    if last_seen < now - TOUCH_INTERVAL:  # written at most once a minute
        with database.write() as db:
            db.execute(update(Session).where(Session.id == viewer.session_id).values(last_seen_at=now))
        last_seen = now
    _remember(database, digest, _Checked(viewer, now, last_seen, row[2], row[-1]))
    _note_epoch(database, row[-1], now)
    return viewer


def load_api_token(database: Database, token: str, now: datetime) -> Viewer | None:
    digest = token_hash(token)
    known = _remembered(database, digest, now, None)
    if known is not None:
        return known
    with database.read_connection() as conn:
        row = conn.execute(_TOKEN_VIEWER, {"token_hash": digest, "now": now}).one_or_none()
    if row is None:
        return None
    viewer = _viewer_from_row(row, session=False)
    _remember(database, digest, _Checked(viewer, now, now, row[2], row[-1]))
    _note_epoch(database, row[-1], now)
    return viewer


def remembered_api_token(database: Database, token: str, now: datetime) -> Viewer | None:
    """`load_api_token` from this process's memory only (no I/O, so fit for the event loop):
    None if this process does not trust a check of it (see the credential cache above) or it is
    not valid: ask the database."""
    return _remembered(database, token_hash(token), now, None)


def logout(db: DbSession, viewer: Viewer, *, ip: str | None, now: datetime) -> None:
    """End the browser session or API token the viewer is using (audited)."""
    forget_user_on_commit(db, viewer.id)
    if viewer.session_id is not None:
        db.execute(update(Session).where(Session.id == viewer.session_id).values(revoked_at=now))
        audit.record(
            db,
            "logout",
            audit.Actor(viewer.id, viewer.username, ip),
            target_type="user",
            target_id=viewer.id,
        )
    if viewer.token_id is not None:
        db.execute(update(ApiToken).where(ApiToken.id == viewer.token_id).values(revoked_at=now))
        audit.record(
            db,
            "api_token.revoked",
            audit.Actor(viewer.id, viewer.username, ip),
            target_type="user",
            target_id=viewer.id,
        )


def end_all_sessions(
    db: DbSession,
    user_id: int,
    now: datetime,
    *,
    keep_session_id: int | None = None,
    keep_token_id: int | None = None,
) -> None:
    """Revoke a user's browser sessions and API tokens (deactivation, password change or reset),
    except the one the person is using right now, if named."""
    forget_user_on_commit(db, user_id)
    sessions = update(Session).where(Session.user_id == user_id, Session.revoked_at.is_(None))
    if keep_session_id is not None:
        sessions = sessions.where(Session.id != keep_session_id)
    db.execute(sessions.values(revoked_at=now))
    tokens = update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    if keep_token_id is not None:
        tokens = tokens.where(ApiToken.id != keep_token_id)
    db.execute(tokens.values(revoked_at=now))
