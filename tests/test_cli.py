"""The `trainer` command, run as a user runs it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import ContentDirs
from tests.sample_law import CITED, KNOWN_CITATIONS_NOT_IN_FORCE


def trainer(
    *args: str, content: ContentDirs | None = None, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **(env or {})}
    if content is not None:
        environment["TRAINER_COURSES_DIR"] = str(content.courses)
        environment["TRAINER_QUESTION_BANK_DIR"] = str(content.bank)
    return subprocess.run(
        [sys.executable, "-m", "trainer.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def test_check_passes_on_good_content(content: ContentDirs) -> None:
    result = trainer("check", content=content)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: 1 courses, 2 modules" in result.stderr


def test_check_prints_one_line_per_problem_and_fails(content: ContentDirs) -> None:
    content.edit(
        "courses/demo-course/02-second.md", "regulations: [demo-law, other-rule]", "regulations: [x-law]"
    )
    content.edit("courses/demo-course/course.yaml", "grace_days: 60", "grace_days: sixty")
    result = trainer("check", content=content)
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert lines == [
        "courses/demo-course/02-second.md:7: unknown regulation 'x-law': add it to "
        "question_bank/regulations.yaml or fix the code",
        "courses/demo-course/course.yaml:23: certification.grace_days: must be a whole number",
    ]
    assert "2 error(s)" in result.stderr


def test_check_passes_on_the_shipped_library() -> None:
    result = trainer("check")
    assert result.returncode == 0, result.stdout + result.stderr
    # Not even a warning, but the known citations of the 2015 penalty Measures (tests/sample_law.py)
    lines = result.stdout.splitlines()
    assert len(lines) == len(KNOWN_CITATIONS_NOT_IN_FORCE), result.stdout
    assert all(CITED in line and "warning: " in line for line in lines), result.stdout


def test_schemas_are_written_and_describe_the_formats(tmp_path: Path) -> None:
    result = trainer("schemas", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    course = json.loads((tmp_path / "course.schema.json").read_text())
    module = json.loads((tmp_path / "module-front-matter.schema.json").read_text())
    regulations = json.loads((tmp_path / "regulations.schema.json").read_text())
    assert course["additionalProperties"] is False
    assert set(course["required"]) >= {"id", "title", "domain", "lang", "summary", "modules"}
    assert module["properties"]["estimated_minutes"]["type"] == "integer"
    assert "title" in regulations["additionalProperties"]["properties"]


def test_published_schemas_are_up_to_date(tmp_path: Path) -> None:
    trainer("schemas", "--out", str(tmp_path))
    published = Path(__file__).parent.parent / "docs" / "schemas"
    for generated in tmp_path.iterdir():
        assert (published / generated.name).read_text() == generated.read_text(), (
            f"docs/schemas/{generated.name} is stale: run `trainer schemas`"
        )


def test_db_upgrade_and_check(tmp_path: Path) -> None:
    env = {"TRAINER_DATA_DIR": str(tmp_path), "TRAINER_DATABASE_URL": ""}
    before = trainer("db", "check", env=env)
    assert before.returncode == 1
    assert "run `trainer db upgrade`" in before.stderr
    upgraded = trainer("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (tmp_path / "trainer.db").exists()
    after = trainer("db", "check", env=env)
    assert after.returncode == 0, after.stderr
    assert "models and migrations agree" in after.stdout


def test_serve_refuses_several_processes_on_sqlite(tmp_path: Path) -> None:
    result = trainer(
        "serve", "--workers", "2", env={"TRAINER_DATA_DIR": str(tmp_path), "TRAINER_DATABASE_URL": ""}
    )
    assert result.returncode == 2
    assert "several app processes need PostgreSQL" in result.stderr


def test_production_without_a_secret_refuses_to_start(tmp_path: Path) -> None:
    result = trainer(
        "serve",
        env={"TRAINER_ENV": "production", "TRAINER_SECRET_KEY": "", "TRAINER_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "TRAINER_SECRET_KEY is required in production" in result.stderr


def test_regrade_by_question_needs_its_key_flag_and_a_known_question(
    content: ContentDirs, tmp_path: Path, database_url: str, migrated_database: object
) -> None:
    env = {"TRAINER_DATABASE_URL": database_url, "TRAINER_DATA_DIR": str(tmp_path)}
    alone = trainer("regrade", "--question", "DEMO-0001", content=content, env=env)
    assert alone.returncode == 2
    assert "--current-key" in alone.stderr
    mixed = trainer(
        "regrade",
        "--question",
        "DEMO-0001",
        "--current-key",
        "--course",
        "demo-course",
        content=content,
        env=env,
    )
    assert mixed.returncode == 2
    unknown = trainer(
        "regrade", "--question", "NO-SUCH", "--current-key", "--dry-run", content=content, env=env
    )
    assert unknown.returncode == 1
    assert "no question NO-SUCH in the bank" in unknown.stderr
    dry = trainer(
        "regrade", "--question", "DEMO-0001", "--current-key", "--dry-run", content=content, env=env
    )
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip().endswith("attempt(s) would change")


def test_reminders_send_needs_an_smtp_host_and_mails_through_it(
    tmp_path: Path, database_url: str, migrated_database: object
) -> None:
    from aiosmtpd.controller import Controller

    env = {"TRAINER_DATABASE_URL": database_url, "TRAINER_DATA_DIR": str(tmp_path), "TRAINER_SMTP_HOST": ""}
    unset = trainer("reminders", "--send", env=env)
    assert unset.returncode == 2
    assert "TRAINER_SMTP_HOST" in unset.stderr

    class Inbox:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sent = trainer(
            "reminders",
            "--send",
            env={
                **env,
                "TRAINER_SMTP_HOST": "127.0.0.1",
                "TRAINER_SMTP_PORT": str(port),
                "TRAINER_SMTP_STARTTLS": "false",
            },
        )
    finally:
        controller.stop()
    assert sent.returncode == 0, sent.stderr
    assert "emailed" in sent.stdout  # --send runs `trainer notify`
