"""The embedded default seeds a demo organisation and prints its accounts; production never does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import AUDIT_KEY, TEST_BADGE_KEY, Person, _free_port, sign_in
from trainer import migrate
from trainer.db import Database
from trainer.people import demo
from trainer.people.models import User


def test_seed_creates_the_demo_organisation_once(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'demo.db'}", audit_key=AUDIT_KEY)
    migrate.upgrade(database)
    assert demo.seed_if_empty(database, "secret-one")
    assert not demo.seed_if_empty(database, "secret-one")
    with database.session() as db:
        names = set(db.scalars(select(User.username)))
    assert names == {account.username for account in demo.ACCOUNTS}
    assert {r for a in demo.ACCOUNTS for r in a.roles} == {"inspector", "trainer", "manager", "admin"}
    assert demo.demo_password("secret-one", "admin") != demo.demo_password("secret-two", "admin")
    database.dispose()


def test_serve_on_the_embedded_default_prints_working_demo_accounts(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "TRAINER_DATA_DIR": str(tmp_path),
        "TRAINER_DATABASE_URL": "",
        "TRAINER_SECRET_KEY": "",
        "TRAINER_ENV": "development",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "trainer.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "Open http" in line:
                break
        output = "".join(lines)
        assert f"Open http://127.0.0.1:{port}/courses" in output
        printed = {
            line.split()[0]: line.split()[1] for line in lines if line.startswith("  ") and "demo-" in line
        }
        assert set(printed) == {a.username for a in demo.ACCOUNTS}
        for _ in range(50):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.1)
        # The printed password signs in (checked in-process against the same database).
        from trainer.app import create_app
        from trainer.config import Settings

        app = create_app(Settings(data_dir=tmp_path, database_url=""))
        with TestClient(app) as client:
            sign_in(client, Person(0, "inspector.li", printed["inspector.li"], None))
            assert "李明" in client.get("/courses").text
        app.state.database.dispose()
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def test_production_never_seeds(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'prod.db'}"
    database = Database(database_url)
    migrate.upgrade(database)
    env = {
        **os.environ,
        "TRAINER_ENV": "production",
        "TRAINER_DATABASE_URL": database_url,
        "TRAINER_SECRET_KEY": "Vq3n8Zr1-kPq0xW7yT5uJb2Lm9Hc4Gd6Fs_Ae",
        "TRAINER_PUBLIC_URL": "https://training.example",
        "TRAINER_BADGE_KEY": TEST_BADGE_KEY,
        "TRAINER_DATA_DIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "trainer.cli", "serve", "--port", str(_free_port())],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        output = ""
        deadline = time.monotonic() + 60
        while "Open http" not in output and time.monotonic() < deadline:
            output += process.stdout.readline()
        assert "Open http" in output
        assert "Demo accounts" not in output
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
    with database.session() as db:
        assert db.scalars(select(User)).all() == []
    database.dispose()
