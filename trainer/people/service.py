"""Units and accounts: creating, changing, deactivating, importing, and the lookups the people
and admin pages show. Every change is audited.

Services take the caller's session (a request's unit of work, or `Database.write()` in tools) and
never commit: the unit of work does, so a change and its audit entry are stored together or not
at all. Each change checks its input before it writes anything, so a refusal (DomainError) that
a page answers with the form again leaves nothing behind to commit. Signing in and out lives in
trainer.people.auth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session as DbSession

from trainer.audit import service as audit
from trainer.db import Database
from trainer.errors import DomainError, rejected
from trainer.i18n import N_
from trainer.people import passwords
from trainer.people.auth import end_all_sessions, forget_user_on_commit, normalise_username
from trainer.people.models import ROLES, UNIT_KINDS, Unit, User, UserRole
from trainer.tallies.changes import mark_changed

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Names are one line of text: a line break in a unit name went into export file names (and the
# Content-Disposition header) and broke every export of the unit.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


# -- units ----------------------------------------------------------------------------------


def split_unit_path(path: str) -> list[str]:
    return [part.strip() for part in path.split("/") if part.strip()]


def create_unit(db: DbSession, actor: audit.Actor, parent: Unit | None, name: str, now: datetime) -> Unit:
    name = name.strip()
    if not name or "/" in name or len(name) > 200:
        raise DomainError(400, "invalid_unit_name", "A unit name is 1 to 200 characters, without '/'.")
    if CONTROL.search(name):
        raise DomainError(
            400,
            "control_characters",
            "A name is one line of text: no line breaks, tabs or other control characters.",
        )
    depth = 0 if parent is None else parent.lineage.count("/") - 1
    existing = db.scalar(
        select(Unit).where(Unit.parent_id == (parent.id if parent else None), Unit.name == name)
    )
    if existing is not None:
        raise DomainError(400, "unit_exists", "A unit with this name already exists here.")
    unit = Unit(
        parent_id=parent.id if parent else None,
        name=name,
        kind=UNIT_KINDS[min(depth, len(UNIT_KINDS) - 1)],
        lineage="",
        path=f"{parent.path}/{name}" if parent else name,
        created_at=now,
    )
    db.add(unit)
    db.flush()
    unit.lineage = f"{parent.lineage if parent else '/'}{unit.id}/"
    audit.record(
        db, "unit.created", actor, target_type="unit", target_id=unit.id, details={"path": unit.path}
    )
    return unit


def ensure_unit_path(db: DbSession, actor: audit.Actor, path: str, now: datetime) -> Unit:
    """The unit at `path`, creating it and any missing ancestors."""
    parts = split_unit_path(path)
    if not parts:
        raise DomainError(400, "empty_unit_path", "The unit path is empty.")
    parent: Unit | None = None
    for name in parts:
        found = db.scalar(
            select(Unit).where(Unit.parent_id == (parent.id if parent else None), Unit.name == name)
        )
        parent = found if found is not None else create_unit(db, actor, parent, name, now)
    assert parent is not None
    return parent


def chosen_unit(db: DbSession, unit_id: int | None) -> Unit | None:
    """The unit an account form chose by id (None: it chose none); refused if no unit has the id
    (0 stands for a value that cannot be an id)."""
    if unit_id is None:
        return None
    unit = unit_of(db, unit_id) if unit_id else None
    if unit is None:
        raise DomainError(400, "no_such_unit", "Choose a unit from the list.")
    return unit


def create_unit_under(
    db: DbSession, actor: audit.Actor, parent_id: int | None, name: str, now: datetime
) -> Unit:
    """`create_unit` for a form naming the parent by id (None: a top-level unit; 0 stands for a
    value that cannot be an id, and is refused like an unknown id)."""
    parent = unit_of(db, parent_id) if parent_id else None
    if parent_id is not None and parent is None:
        raise DomainError(400, "no_such_unit", "The parent unit does not exist.")
    return create_unit(db, actor, parent, name, now)


def all_units(db: DbSession) -> list[Unit]:
    """Every unit, in path order (a form's list to choose from)."""
    return list(db.scalars(select(Unit).order_by(Unit.path)))


def units_with_member_counts(db: DbSession) -> list[tuple[Unit, int]]:
    """Every unit in path order, with how many accounts belong to it directly."""
    rows = db.execute(
        select(Unit, func.count(User.id))
        .outerjoin(User, User.unit_id == Unit.id)
        .group_by(Unit.id)
        .order_by(Unit.path)
    ).all()
    return [(unit, members) for unit, members in rows]


# -- accounts -------------------------------------------------------------------------------


def check_account_fields(username: str, full_name: str, email: str | None, roles: list[str]) -> list[str]:
    problems = []
    if not USERNAME.match(username):
        problems.append(N_("A username is 2 to 64 lowercase letters, digits, '.', '_' or '-'."))
    if not full_name.strip() or len(full_name) > 200:
        problems.append(N_("The full name is required (at most 200 characters)."))
    elif CONTROL.search(full_name):
        problems.append(N_("A name is one line of text: no line breaks, tabs or other control characters."))
    if email and not EMAIL.match(email):
        problems.append(N_("The email address is not valid."))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        problems.append(N_("Unknown role. The roles are: inspector, trainer, manager, admin."))
    if not roles:
        problems.append(N_("Choose at least one role."))
    return problems


def create_user(
    db: DbSession,
    actor: audit.Actor,
    *,
    username: str,
    full_name: str,
    unit: Unit | None,
    roles: list[str],
    email: str | None,
    now: datetime,
    password: str | None = None,
    must_change_password: bool = True,
) -> tuple[User, str]:
    """Create an account; returns it and its initial password (generated unless given)."""
    username = normalise_username(username)
    problems = check_account_fields(username, full_name, email, roles)
    if unit is None and ("inspector" in roles or "manager" in roles):
        problems.append(N_("Inspectors and managers belong to a unit."))
    if db.scalar(select(User.id).where(User.username == username)) is not None:
        problems.append(N_("This username is taken."))
    if problems:
        raise rejected("invalid_account", problems)
    initial = password or passwords.generate_password()
    user = User(
        username=username,
        full_name=full_name.strip(),
        email=email or None,
        unit_id=unit.id if unit else None,
        password_hash=passwords.hash_password(initial),
        must_change_password=must_change_password,
        is_active=True,
        created_at=now,
        password_changed_at=now,
    )
    db.add(user)
    db.flush()
    db.add_all(UserRole(user_id=user.id, role=role) for role in sorted(set(roles)))
    mark_changed(db, user.unit_id)
    audit.record(
        db,
        "user.created",
        actor,
        target_type="user",
        target_id=user.id,
        details={"username": username, "roles": sorted(set(roles)), "unit": unit.path if unit else None},
    )
    return user, initial


def unit_of(db: DbSession, unit_id: int) -> Unit | None:
    return db.get(Unit, unit_id)


def user_of(db: DbSession, user_id: int) -> User | None:
    return db.get(User, user_id)


def signed_in_user(db: DbSession, user_id: int) -> User:
    """The account of the person making the request (it exists: their viewer was just loaded)."""
    return db.get_one(User, user_id)


def person_and_unit(db: DbSession, user_id: int) -> tuple[User, Unit | None] | None:
    """An account and its unit (None if no account has the id), for deciding who may see it."""
    row = db.execute(
        select(User, Unit).outerjoin(Unit, Unit.id == User.unit_id).where(User.id == user_id)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def account_counts(db: DbSession) -> dict[str, int]:
    """How many accounts, active accounts and units there are (the admin overview)."""
    return {
        "users": db.scalar(select(func.count()).select_from(User)) or 0,
        "active": db.scalar(select(func.count()).select_from(User).where(User.is_active.is_(True))) or 0,
        "units": db.scalar(select(func.count()).select_from(Unit)) or 0,
    }


@dataclass(frozen=True)
class UserSearch:
    """One page of accounts found, with their units, their roles and how many were found in all."""

    rows: list[tuple[User, Unit | None]]
    roles: dict[int, list[str]]  # by user id, in the order stored
    total: int


def find_users(db: DbSession, *, text: str, role: str, limit: int, offset: int) -> UserSearch:
    """Accounts whose username, full name or unit path contains `text` (any, if empty), holding
    `role` (any, if it is not a role), by username."""
    statement = select(User, Unit).outerjoin(Unit, Unit.id == User.unit_id)
    if text:
        like = f"%{text.casefold()}%"
        statement = statement.where(
            or_(User.username.like(like), func.lower(User.full_name).like(like), Unit.path.like(f"%{text}%"))
        )
    if role in ROLES:
        statement = statement.where(User.id.in_(select(UserRole.user_id).where(UserRole.role == role)))
    total = db.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows: list[tuple[User, Unit | None]] = [
        (user, unit)
        for user, unit in db.execute(statement.order_by(User.username).limit(limit).offset(offset))
    ]
    roles: dict[int, list[str]] = {}
    ids = [user.id for user, _ in rows]
    for user_id, user_role in db.execute(
        select(UserRole.user_id, UserRole.role).where(UserRole.user_id.in_(ids))
    ):
        roles.setdefault(user_id, []).append(user_role)
    return UserSearch(rows, roles, total)


def roles_of(db: DbSession, user_id: int) -> list[str]:
    return sorted(db.scalars(select(UserRole.role).where(UserRole.user_id == user_id)))


def update_user(
    db: DbSession,
    actor: audit.Actor,
    user: User,
    *,
    full_name: str,
    email: str | None,
    unit: Unit | None,
    roles: list[str],
    now: datetime,
) -> None:
    problems = check_account_fields(user.username, full_name, email, roles)
    if unit is None and ("inspector" in roles or "manager" in roles):
        problems.append(N_("Inspectors and managers belong to a unit."))
    if problems:
        raise rejected("invalid_account", problems)
    forget_user_on_commit(db, user.id)  # the viewer of their requests carries roles, unit and name
    before_roles = roles_of(db, user.id)
    after_roles = sorted(set(roles))
    if before_roles != after_roles:
        mark_changed(db, user.unit_id)
        db.execute(delete(UserRole).where(UserRole.user_id == user.id))
        db.add_all(UserRole(user_id=user.id, role=role) for role in after_roles)
        audit.record(
            db,
            "user.roles_changed",
            actor,
            target_type="user",
            target_id=user.id,
            details={"from": before_roles, "to": after_roles},
        )
    new_unit_id = unit.id if unit else None
    if user.unit_id != new_unit_id:
        audit.record(
            db,
            "user.unit_changed",
            actor,
            target_type="user",
            target_id=user.id,
            details={"from": user.unit_id, "to": new_unit_id, "path": unit.path if unit else None},
        )
        mark_changed(db, user.unit_id, new_unit_id)
        user.unit_id = new_unit_id
    if user.full_name != full_name.strip() or user.email != (email or None):
        user.full_name = full_name.strip()
        user.email = email or None
        audit.record(db, "user.updated", actor, target_type="user", target_id=user.id)


def set_active(
    db: DbSession, actor: audit.Actor, user: User, active: bool, now: datetime, *, reason: str = ""
) -> None:
    if user.is_active == active:
        return
    if not active and actor.id == user.id:
        raise DomainError(400, "own_account", "You cannot deactivate your own account.")
    user.is_active = active
    forget_user_on_commit(db, user.id)
    mark_changed(db, user.unit_id)
    if not active:
        end_all_sessions(db, user.id, now)
    audit.record(
        db,
        "user.activated" if active else "user.deactivated",
        actor,
        target_type="user",
        target_id=user.id,
        details={"reason": reason} if reason else None,
    )


def reset_password(db: DbSession, actor: audit.Actor, user: User, now: datetime, *, reason: str = "") -> str:
    """A new random password the person must change at next sign-in; ends their sessions."""
    new = passwords.generate_password()
    user.password_hash = passwords.hash_password(new)
    user.must_change_password = True
    user.password_changed_at = now
    end_all_sessions(db, user.id, now)
    audit.record(
        db,
        "user.password_reset",
        actor,
        target_type="user",
        target_id=user.id,
        details={"reason": reason} if reason else None,
    )
    return new


def change_password(
    db: DbSession,
    actor: audit.Actor,
    user: User,
    *,
    current: str,
    new: str,
    now: datetime,
    keep_session_id: int | None = None,
    keep_token_id: int | None = None,
) -> None:
    """The person's own change: the current password first, then the rules for the new one."""
    if not passwords.verify_password(user.password_hash, current):
        raise DomainError(400, "wrong_password", "The current password is not right.")
    problems = passwords.password_problems(new, username=user.username, full_name=user.full_name)
    if passwords.verify_password(user.password_hash, new):
        problems.append(N_("Choose a password different from the current one."))
    if problems:
        raise rejected("weak_password", problems)
    user.password_hash = passwords.hash_password(new)
    user.must_change_password = False
    user.password_changed_at = now
    end_all_sessions(db, user.id, now, keep_session_id=keep_session_id, keep_token_id=keep_token_id)
    audit.record(db, "user.password_changed", actor, target_type="user", target_id=user.id)


def remember_language(database: Database, user_id: int, lang: str) -> None:
    """The interface language someone chose while signed in: their notifications are written in
    it. A short write of its own (the language form is answered without a unit of work)."""
    with database.write() as db:
        db.execute(
            update(User).where(User.id == user_id, User.language.is_distinct_from(lang)).values(language=lang)
        )
