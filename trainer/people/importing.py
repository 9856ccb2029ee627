"""Importing people from a CSV file, as Chinese offices keep them: the same rules for
`trainer users import` and the admins' upload page (/admin/users/import).

The file is read in the encoding it was saved in: UTF-8 with or without a byte-order mark, or
GB18030, the superset of GBK that Excel writes in a Chinese locale ("CSV (逗号分隔)"), and the
reader is told which it was. Full-width forms typed in a Chinese input method (`；` between
roles, full-width letters and digits in a username or email) read as their ASCII forms (NFKC).

Every row is checked before anything is written, and every problem names its row; one problem
imports nothing. Problems are msgids with their values, so the page shows them in the reader's
language and the command in English.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from trainer.audit import service as audit
from trainer.errors import DomainError
from trainer.i18n import N_
from trainer.people.auth import normalise_username
from trainer.people.models import User
from trainer.people.service import (
    CONTROL,
    check_account_fields,
    create_user,
    ensure_unit_path,
    roles_of,
    split_unit_path,
    update_user,
)

COLUMNS = ["username", "full_name", "unit", "roles", "email"]
MAX_ROWS = 50_000
MAX_BYTES = 10 * 1024 * 1024  # 50,000 rows of a few dozen characters, with room to spare
UTF8_BOM = N_("UTF-8 (with byte-order mark)")
UTF8 = N_("UTF-8")
GB18030 = N_("GB18030 / GBK (Excel in a Chinese locale)")


def _same(text: str) -> str:
    return text


@dataclass(frozen=True)
class Problem:
    row: int  # the line in the file (the header is row 1)
    message: str  # a msgid, with %(name)s placeholders filled from `values`
    values: Mapping[str, object] = field(default_factory=dict)

    def text(self, gettext: Callable[[str], str] = _same) -> str:
        translated = gettext(self.message)
        return translated % dict(self.values) if self.values else translated

    def __str__(self) -> str:
        return f"row {self.row}: {self.text()}"


@dataclass(frozen=True)
class Row:
    row: int
    username: str
    full_name: str
    unit: str
    roles: list[str]
    email: str | None


@dataclass(frozen=True)
class Reading:
    encoding: str  # a msgid naming the encoding the file was read in
    text: str
    rows: list[Row]
    problems: list[Problem]


@dataclass
class Result:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)  # new accounts only


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read in (a msgid); DomainError if it is none of
    the encodings offices save CSV files in."""
    if len(data) > MAX_BYTES:
        raise DomainError(
            413, "import_too_large", N_("The file is larger than %(mb)d MB."), mb=MAX_BYTES // (1024 * 1024)
        )
    if data.startswith(codecs.BOM_UTF8):
        encoding, text = UTF8_BOM, data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="strict")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DomainError(
            400,
            "import_encoding",
            N_('The file is UTF-16 (Excel\'s "Unicode text"). Save it as "CSV UTF-8" or "CSV" instead.'),
        )
    else:
        try:
            encoding, text = UTF8, data.decode("utf-8")
        except UnicodeDecodeError:
            # Not UTF-8: a Chinese Excel's CSV is GB18030/GBK. GB18030 maps every byte sequence
            # GBK can write, so a file it cannot read is truly damaged, not another Chinese one.
            try:
                encoding, text = GB18030, data.decode("gb18030")
            except UnicodeDecodeError as exc:
                raise DomainError(
                    400,
                    "import_encoding",
                    N_(
                        "The file is neither UTF-8 nor GB18030/GBK "
                        "(unreadable bytes at position %(position)d)."
                    ),
                    position=exc.start,
                ) from None
    return encoding, text


def read(data: bytes) -> Reading:
    """Decode and check every row; nothing is written."""
    encoding, text = decode(data)
    rows, problems = parse(text)
    return Reading(encoding, text, rows, problems)


def parse(text: str) -> tuple[list[Row], list[Problem]]:
    """Check every row of a CSV text; problems name their row. Nothing is written here."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [unicodedata.normalize("NFKC", name).strip().casefold() for name in (reader.fieldnames or [])]
    if header != COLUMNS:
        return [], [
            Problem(
                1,
                N_("The header must be exactly: %(expected)s (found: %(found)s)."),
                {"expected": ",".join(COLUMNS), "found": ",".join(header)},
            )
        ]
    reader.fieldnames = COLUMNS
    rows: list[Row] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, record in enumerate(reader, start=2):
        if number > MAX_ROWS + 1:
            problems.append(
                Problem(number, N_("Too many rows (at most %(max)d per file)."), {"max": MAX_ROWS})
            )
            break
        if None in record or any(value is None for value in record.values()):
            problems.append(Problem(number, N_("Expected %(count)d columns."), {"count": len(COLUMNS)}))
            continue
        values = {key: (value or "").strip() for key, value in record.items()}
        if not any(values.values()):
            continue  # a blank line
        controlled = [key for key, value in values.items() if CONTROL.search(value)]
        if controlled:
            problems.append(
                Problem(
                    number,
                    N_("A control character (such as NUL) in column %(column)s."),
                    {"column": controlled[0]},
                )
            )
            continue
        # Typed with a Chinese input method: full-width letters, digits, `；` and `＠` are NFKC
        # forms of the ASCII ones. Names and unit paths keep exactly what was written.
        username = normalise_username(unicodedata.normalize("NFKC", values["username"]))
        roles_text = unicodedata.normalize("NFKC", values["roles"]).replace("、", ";")
        roles = [r.strip().casefold() for r in roles_text.split(";") if r.strip()]
        email = unicodedata.normalize("NFKC", values["email"]) or None
        row = Row(number, username, values["full_name"], values["unit"], roles, email)
        messages = check_account_fields(username, row.full_name, row.email, roles)
        if not split_unit_path(row.unit) and ("inspector" in roles or "manager" in roles):
            messages.append(N_("Inspectors and managers belong to a unit."))
        found = [Problem(number, message) for message in messages]
        if username in seen:
            found.append(
                Problem(
                    number,
                    N_("Username %(username)s is also on row %(other)d."),
                    {"username": username, "other": seen[username]},
                )
            )
        seen.setdefault(username, number)
        problems.extend(found)
        rows.append(row)
    return rows, problems


def existing_usernames(db: DbSession, rows: list[Row]) -> set[str]:
    """Which of the rows' usernames already have an account (the preview says "update")."""
    names = [row.username for row in rows]
    found: set[str] = set()
    for start in range(0, len(names), 1000):
        found.update(db.scalars(select(User.username).where(User.username.in_(names[start : start + 1000]))))
    return found


def apply(db: DbSession, actor: audit.Actor, rows: list[Row], now: datetime, *, encoding: str = "") -> Result:
    """Create or update each account (by username). Run only on rows `parse` accepted."""
    result = Result()
    for row in rows:
        unit = ensure_unit_path(db, actor, row.unit, now) if split_unit_path(row.unit) else None
        user = db.scalar(select(User).where(User.username == row.username))
        if user is None:
            _, initial = create_user(
                db,
                actor,
                username=row.username,
                full_name=row.full_name,
                unit=unit,
                roles=row.roles,
                email=row.email,
                now=now,
            )
            result.created.append(row.username)
            result.passwords[row.username] = initial
            continue
        same = (
            user.full_name == row.full_name
            and user.email == row.email
            and user.unit_id == (unit.id if unit else None)
            and roles_of(db, user.id) == sorted(set(row.roles))
        )
        if same:
            result.unchanged.append(row.username)
            continue
        update_user(
            db, actor, user, full_name=row.full_name, email=row.email, unit=unit, roles=row.roles, now=now
        )
        result.updated.append(row.username)
    details: dict[str, object] = {
        "created": len(result.created),
        "updated": len(result.updated),
        "unchanged": len(result.unchanged),
    }
    if encoding:
        details["encoding"] = encoding
    audit.record(db, "users.imported", actor, details=details)
    return result
