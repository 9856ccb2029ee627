"""A library with errors never goes live: not at start-up, not after an author's edit."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ContentDirs, make_person, sign_in
from trainer.app import create_app
from trainer.config import Settings
from trainer.content.problems import LibraryError


def test_app_refuses_to_start_on_a_broken_library(
    make_settings: Callable[..., Settings], content: ContentDirs
) -> None:
    content.edit(
        "courses/demo-course/02-second.md", "regulations: [demo-law, other-rule]", "regulations: [nope]"
    )
    content.edit("courses/demo-course/01-first.md", "sample: true", "sample: maybe")
    with pytest.raises(LibraryError) as raised:
        create_app(make_settings(content))
    messages = [str(p) for p in raised.value.problems]
    assert any(
        m.startswith("courses/demo-course/02-second.md:7: unknown regulation 'nope'") for m in messages
    )
    assert any(m.startswith("courses/demo-course/01-first.md:14: sample:") for m in messages)


def test_serve_command_exits_with_the_problem_list(content: ContentDirs, database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    content.edit(
        "courses/demo-course/course.yaml",
        "modules: [demo-first, demo-second]",
        "modules: [demo-first, demo-second, demo-missing]",
    )
    env = {
        **os.environ,
        "TRAINER_COURSES_DIR": str(content.courses),
        "TRAINER_QUESTION_BANK_DIR": str(content.bank),
        "TRAINER_DATABASE_URL": database_url,
        "TRAINER_DATA_DIR": str(tmp_path / "data"),
        "TRAINER_SECRET_KEY": "x" * 10 + "0123456789abcdefghijklmnopqrstuv",
    }
    result = subprocess.run(
        [sys.executable, "-m", "trainer.cli", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "courses/demo-course/course.yaml:7: module 'demo-missing' is listed but no file" in result.stderr
    assert "nothing was served" in result.stderr
    assert "Open http" not in result.stdout


@pytest.fixture
def author(make_settings: Callable[..., Settings], content: ContentDirs):  # type: ignore[no-untyped-def]
    app = create_app(make_settings(content, content_reload=True))
    with TestClient(app) as client:
        yield client
    app.state.database.dispose()


def test_an_edit_shows_on_the_next_page_load(author: TestClient, content: ContentDirs) -> None:
    assert "Withdraw people when the alarm sounds." in author.get("/courses/demo-course/demo-second").text
    content.edit("courses/demo-course/02-second.md", "Withdraw people", "Evacuate everyone")
    page = author.get("/courses/demo-course/demo-second").text
    assert "Evacuate everyone when the alarm sounds." in page
    assert "Withdraw people" not in page


def test_a_broken_edit_keeps_the_last_good_library_and_tells_the_author(
    author: TestClient, content: ContentDirs
) -> None:
    sign_in(author, make_person(author.app.state.database, "trainer"))  # the banner is for authors
    content.edit("courses/demo-course/02-second.md", "Withdraw people", "Evacuate everyone")
    author.get("/courses/demo-course/demo-second")
    # Now break it: a new paragraph and an unknown regulation in the same save.
    content.edit("courses/demo-course/02-second.md", "Evacuate everyone", "Half-finished edit")
    content.edit(
        "courses/demo-course/02-second.md", "regulations: [demo-law, other-rule]", "regulations: [typo-law]"
    )
    page = author.get("/courses/demo-course/demo-second").text
    assert "Evacuate everyone when the alarm sounds." in page  # the last good version
    assert "Half-finished edit" not in page
    assert 'role="alert"' in page
    assert "courses/demo-course/02-second.md:7: unknown regulation &#39;typo-law&#39;" in page
    # Other pages carry the warning too, and the whole library stays whole.
    assert "typo-law" in author.get("/courses").text
    assert author.get("/courses/demo-course/demo-first").status_code == 200
    # Fixing the file clears the banner and publishes the fix.
    content.edit("courses/demo-course/02-second.md", "regulations: [typo-law]", "regulations: [demo-law]")
    page = author.get("/courses/demo-course/demo-second").text
    assert "Half-finished edit when the alarm sounds." in page
    assert 'role="alert"' not in page


def test_without_reload_edits_are_not_picked_up(client: TestClient, content: ContentDirs) -> None:
    content.edit("courses/demo-course/02-second.md", "Withdraw people", "Evacuate everyone")
    assert "Withdraw people" in client.get("/courses/demo-course/demo-second").text


def test_app_refuses_an_unmigrated_database(make_settings: Callable[..., Settings], tmp_path) -> None:  # type: ignore[no-untyped-def]
    from trainer.app import DatabaseNotReadyError

    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(DatabaseNotReadyError, match="run `trainer db upgrade`"):
        create_app(make_settings(None, database_url=empty))
