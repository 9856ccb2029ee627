"""`trainer users import`: all rows or none, idempotent, units created as needed."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import select

from tests.conftest import TEST_SECRET
from trainer.db import Database
from trainer.people.importing import parse
from trainer.people.models import Unit, User


def run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TRAINER_DATABASE_URL": database_url,
        # The run's key: what this command appends to the shared test database's audit chain
        # must verify with the key every other test signs with.
        "TRAINER_SECRET_KEY": TEST_SECRET,
    }
    return subprocess.run(
        [sys.executable, "-m", "trainer.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["username", "full_name", "unit", "roles", "email"])
    writer.writerows(rows)
    return out.getvalue()


def test_import_creates_accounts_and_units_then_is_idempotent(
    tmp_path: Path, database_url: str, migrated_database: Database
) -> None:
    tag = uuid.uuid4().hex[:6]
    province = f"Heilongjiang-{tag}"
    rows = [
        [
            f"li.{tag}",
            "李明",
            f"{province}/Harbin/Daoli District/Work Safety Bureau",
            "inspector",
            "li@example.org",
        ],
        [f"chen.{tag}", "陈静", f"{province}/Harbin", "manager;inspector", ""],
        [f"zhang.{tag}", "张伟", "", "trainer", ""],
    ]
    source = tmp_path / "people.csv"
    source.write_text("\ufeff" + csv_text(rows), encoding="utf-8")  # Excel's BOM is fine
    out = tmp_path / "passwords.csv"
    first = run(database_url, "users", "import", str(source), "--passwords-out", str(out))
    assert first.returncode == 0, first.stderr
    assert "created 3, updated 0, unchanged 0" in first.stdout
    passwords = dict(line.split(",") for line in out.read_text().splitlines()[1:])
    assert set(passwords) == {f"li.{tag}", f"chen.{tag}", f"zhang.{tag}"}
    assert all(password not in first.stdout + first.stderr for password in passwords.values())
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    with migrated_database.session() as db:
        unit = db.scalar(
            select(Unit).where(Unit.path == f"{province}/Harbin/Daoli District/Work Safety Bureau")
        )
        assert unit is not None
        assert unit.kind == "unit"
        li = db.scalar(select(User).where(User.username == f"li.{tag}"))
        assert li is not None
        assert li.unit_id == unit.id
        assert li.must_change_password
    again = run(database_url, "users", "import", str(source))
    assert again.returncode == 0
    assert "created 0, updated 0, unchanged 3" in again.stdout
    rows[1][3] = "manager"
    source.write_text(csv_text(rows), encoding="utf-8")
    changed = run(database_url, "users", "import", str(source))
    assert "created 0, updated 1, unchanged 2" in changed.stdout
    with migrated_database.session() as db:
        assert db.scalar(select(User).where(User.username == f"li.{tag}")) is not None
        count = len(db.scalars(select(User.id).where(User.username.like(f"%.{tag}"))).all())
    assert count == 3  # never duplicated


def test_one_bad_row_imports_nothing_and_is_named(
    tmp_path: Path, database_url: str, migrated_database: Database
) -> None:
    tag = uuid.uuid4().hex[:6]
    rows = [
        [f"good1.{tag}", "Good One", f"P-{tag}/City/County/Unit", "inspector", ""],
        [f"good2.{tag}", "Good Two", f"P-{tag}/City/County/Unit", "inspector", ""],
        [f"bad.{tag}", "Bad Row", f"P-{tag}/City/County/Unit", "inspector;wizard", "not-an-email"],
        [f"good3.{tag}", "", f"P-{tag}/City/County/Unit", "trainer", ""],
    ]
    source = tmp_path / "people.csv"
    source.write_text(csv_text(rows), encoding="utf-8")
    result = run(database_url, "users", "import", str(source))
    assert result.returncode == 1
    assert f"{source}: row 4: The email address is not valid." in result.stderr
    assert (
        f"{source}: row 4: Unknown role. The roles are: inspector, trainer, manager, admin." in result.stderr
    )
    assert f"{source}: row 5: The full name is required (at most 200 characters)." in result.stderr
    assert "nothing was imported" in result.stderr
    with migrated_database.session() as db:
        assert db.scalars(select(User).where(User.username.like(f"%.{tag}"))).all() == []
        assert db.scalar(select(Unit).where(Unit.path.like(f"P-{tag}%"))) is None


def test_parse_problems() -> None:
    _, problems = parse("user,name\nx,y\n")
    assert str(problems[0]).startswith("row 1: The header must be exactly")
    _rows, found = parse(
        csv_text(
            [["same", "A", "P/C", "inspector", ""], ["SAME", "B", "P/C", "inspector", ""], ["short", "C"]]
        )
    )
    problems = [str(problem) for problem in found]
    assert "row 3: Username same is also on row 2." in problems
    assert "row 4: Expected 5 columns." in problems
    _, found = parse(csv_text([["nounit", "A", "", "inspector", ""]]))
    assert [str(problem) for problem in found] == ["row 2: Inspectors and managers belong to a unit."]


def test_users_add_prints_the_initial_password(database_url: str, migrated_database: Database) -> None:
    name = f"added-{uuid.uuid4().hex[:6]}"
    result = run(
        database_url,
        "users",
        "add",
        name,
        "--name",
        "Added Person",
        "--roles",
        "inspector",
        "--unit",
        "Added/City/County/Unit",
    )
    assert result.returncode == 0, result.stderr
    username, password = result.stdout.strip().split(",")
    assert username == name
    assert len(password) == 16
    duplicate = run(
        database_url, "users", "add", name, "--name", "Again", "--roles", "inspector", "--unit", "X/Y"
    )
    assert duplicate.returncode == 1
    assert "This username is taken." in duplicate.stderr
