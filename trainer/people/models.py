"""Tables of the people domain: the organisation tree, accounts, roles, sessions, API tokens,
and the login attempts that throttling counts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trainer.db import Base, UTCDateTime

ROLES = ("inspector", "trainer", "manager", "admin")
UNIT_KINDS = ("province", "city", "county", "unit")


class Unit(Base):
    """A node of the organisation: province -> city/prefecture -> county/district -> unit.

    `lineage` is the materialised path of ids ("/1/4/9/"), so "everything under this unit" is
    one indexed prefix match rather than a recursive query.
    """

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("parent_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed first in the unique constraint (no index of its own).
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    lineage: Mapped[str] = mapped_column(String(400), index=True)
    path: Mapped[str] = mapped_column(String(1000))  # "Heilongjiang/Harbin/Daoli District/…"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)  # stored lowercase
    full_name: Mapped[str] = mapped_column(String(200), index=True)  # lists sort by name
    email: Mapped[str | None] = mapped_column(String(320))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The interface language they last chose while signed in ("en", "zh-CN"); None: never chose.
    # Notifications are written in it (TRAINER_DEFAULT_LANGUAGE otherwise).
    language: Mapped[str | None] = mapped_column(String(8))

    # lazy="raise": an N+1 query fails loudly in development instead of slowly in production.
    roles: Mapped[list[UserRole]] = relationship(lazy="raise", cascade="all, delete-orphan")
    unit: Mapped[Unit | None] = relationship(lazy="raise")


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)


class Session(Base):
    """A browser login. Only the SHA-256 of the cookie's token is stored."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())  # absolute time-out
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(String(64))


class ApiToken(Base):
    """A bearer token for the JSON API. Only the SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginAttempt(Base):
    """Every password check, kept in the database so throttling holds across app processes."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "attempted_at"),
        Index("ix_login_attempts_ip_at", "ip", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CredentialEpoch(Base):
    """One row whose `value` goes up with every change to what a credential check reads: a
    session's or token's expiry, revocation or deletion, a person's name, unit, roles or
    activation, a unit's name or place in the tree. Database triggers bump it (migration 0023),
    so no code path, command or hand-written SQL can change a credential without it.

    An app process that read it in the same statement as a credential, and reads the same value
    again later, knows the credential is unchanged without reading it again
    (trainer.people.auth: the credential cache)."""

    __tablename__ = "credential_epoch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    value: Mapped[int] = mapped_column(BigInteger)
