"""Demo organisation and accounts for the embedded default (never in production).

Passwords are derived from the installation's secret key, so they can be printed at every start
without being stored anywhere, and differ from one installation to the next.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import func, select

from trainer.audit import service as audit
from trainer.db import Database, utcnow
from trainer.people import service
from trainer.people.models import User

HARBIN = "Heilongjiang/Harbin"
QIQIHAR = "Heilongjiang/Qiqihar"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    full_name: str
    unit: str
    roles: tuple[str, ...]


ACCOUNTS = (
    DemoAccount("admin", "系统管理员 Admin", "Heilongjiang", ("admin",)),
    DemoAccount("trainer", "张伟 Zhang Wei", "Heilongjiang", ("trainer",)),
    DemoAccount("manager.harbin", "陈静 Chen Jing", HARBIN, ("manager",)),
    DemoAccount("manager.qiqihar", "刘洋 Liu Yang", QIQIHAR, ("manager",)),
    DemoAccount(
        "inspector.li", "李明 Li Ming", f"{HARBIN}/Daoli District/Work Safety Bureau", ("inspector",)
    ),
    DemoAccount(
        "inspector.wang", "王芳 Wang Fang", f"{HARBIN}/Nangang District/Work Safety Bureau", ("inspector",)
    ),
    DemoAccount(
        "inspector.zhao",
        "赵强 Zhao Qiang",
        f"{QIQIHAR}/Longsha District/Emergency Management Bureau",
        ("inspector",),
    ),
)


def demo_password(secret_key: str, username: str) -> str:
    digest = hmac.new(secret_key.encode(), f"demo-password:{username}".encode(), hashlib.sha256).digest()
    return "demo-" + base64.b32encode(digest).decode().lower()[:14]


def seed_if_empty(database: Database, secret_key: str) -> bool:
    """Create the demo organisation and accounts if there are no accounts at all."""
    with database.session() as db:
        if db.scalar(select(func.count()).select_from(User)):
            return False
    now = utcnow()
    with database.write() as db:
        for account in ACCOUNTS:
            unit = service.ensure_unit_path(db, audit.SYSTEM, account.unit, now)
            service.create_user(
                db,
                audit.SYSTEM,
                username=account.username,
                full_name=account.full_name,
                unit=unit,
                roles=list(account.roles),
                email=None,
                now=now,
                password=demo_password(secret_key, account.username),
                must_change_password=False,
            )
    return True


def existing_demo_accounts(database: Database) -> list[DemoAccount]:
    with database.session() as db:
        names = set(
            db.scalars(select(User.username).where(User.username.in_([a.username for a in ACCOUNTS])))
        )
    return [account for account in ACCOUNTS if account.username in names]
