"""`trainer content import DIR --review --author USERNAME` (issue 18): files come in as drafts
submitted for review, by a trainer, instead of being published. The real CLI in a subprocess on
the run's real database (SQLite or PostgreSQL), and the review over real HTTP through the app,
as tests/test_authoring.py (whose helpers and clean-up this file shares)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tests import test_authoring
from tests.conftest import ZH, ContentDirs, make_person
from tests.test_authoring import FIRST, NEW_LINE, cli, post, signed_in, wait_for
from trainer.audit.models import AuditEvent
from trainer.content.models import ContentDraft, ContentVersion, DraftEvent
from trainer.db import Database

pytestmark = pytest.mark.xdist_group("content_versions")  # see tests/test_authoring.py
clean_content_tables = test_authoring.clean_content_tables
fast_app = test_authoring.fast_app
BANK = "question_bank/demo/ventilation.yaml"
NEW_OPTION = "Fresh intake air"


def changed_copy(content: ContentDirs, target: Path) -> Path:
    """The library as files, with the first module and the ventilation bank file changed (the
    rest, the Chinese module and course.yaml among them, as served)."""
    shutil.copytree(content.courses.parent, target)
    module = target / "courses" / FIRST
    module.write_text(
        module.read_text().replace(
            "Fresh air keeps miners alive.", f"Fresh air keeps miners alive. {NEW_LINE}"
        )
    )
    bank = target / BANK
    bank.write_text(bank.read_text().replace('"Intake air"', f'"{NEW_OPTION}"'))
    return target


def import_review(
    source: Path, author: str, content: ContentDirs, database_url: str
) -> subprocess.CompletedProcess[str]:
    return cli(
        "content", "import", str(source), "--review", "--author", author, content=content,
        database_url=database_url,
    )  # fmt: skip


def drafts(database: Database) -> list[ContentDraft]:
    with database.session() as db:
        return list(db.scalars(select(ContentDraft).order_by(ContentDraft.id)))


def versions(database: Database) -> int:
    with database.session() as db:
        return int(db.scalar(select(func.count()).select_from(ContentVersion)) or 0)


def test_an_import_for_review_opens_submitted_drafts_that_another_trainer_approves(
    fast_app: FastAPI, content: ContentDirs, migrated_database: Database, database_url: str, tmp_path: Path
) -> None:
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "admin")
    inspector = make_person(migrated_database, "inspector")
    a, b, i = signed_in(fast_app, author), signed_in(fast_app, reviewer), signed_in(fast_app, inspector)
    source = changed_copy(content, tmp_path / "files")
    with migrated_database.session() as db:  # draft ids come again after other tests clean up
        before = db.scalar(select(func.max(AuditEvent.id))) or 0
    done = import_review(source, author.username, content, database_url)
    assert done.returncode == 0, done.stderr
    opened = dict(
        re.findall(r"^opened (\S+) for review: /trainer/authoring/drafts/(\d+)$", done.stdout, re.M)
    )
    assert set(opened) == {f"courses/{FIRST}", BANK}  # exactly the changed files
    assert "2 draft(s) submitted for review" in done.stdout
    found = drafts(migrated_database)
    assert {(d.path, d.kind, d.status, d.author_id, d.base_version) for d in found} == {
        (FIRST, "module", "submitted", author.id, None),
        (BANK, "bank", "submitted", author.id, None),
    }
    module = next(d for d in found if d.path == FIRST)
    assert (module.item_id, module.lang) == ("demo-first", "en")
    assert NEW_LINE in module.text
    assert NEW_LINE not in module.base_text
    assert versions(migrated_database) == 0  # nothing published
    # The audit log: as the browser's "Submit for review", plus where the draft came from.
    with migrated_database.session() as db:
        for draft in found:
            entries = db.execute(
                select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.details)
                .where(
                    AuditEvent.id > before,
                    AuditEvent.target_type == "draft",
                    AuditEvent.target_id == str(draft.id),
                )
                .order_by(AuditEvent.id)
            ).all()
            assert [e.action for e in entries] == [
                "content.draft.created", "content.draft.imported", "content.draft.submitted"
            ]  # fmt: skip
            assert {e.actor_id for e in entries} == {author.id}
            assert str(source) in entries[1].details
            steps = db.scalars(select(DraftEvent.action).where(DraftEvent.draft_id == draft.id)).all()
            assert list(steps) == ["imported", "submitted"]
    # Inspectors still read the old text; the other trainer finds both drafts waiting.
    assert NEW_LINE not in i.get("/courses/demo-course/demo-first").text
    waiting = b.get("/trainer/authoring").text
    assert 'id="waiting"' in waiting
    for draft_id in opened.values():
        assert f"/trainer/authoring/drafts/{draft_id}" in waiting
    module_url = f"/trainer/authoring/drafts/{opened[f'courses/{FIRST}']}"
    page = b.get(module_url).text
    assert "Opened from files by trainer content import --review" in page
    assert NEW_LINE in page
    assert "由 trainer content import --review 从文件导入创建" in b.get(module_url, headers=ZH).text
    # The author cannot approve their own; the other trainer can, and it is served.
    assert post(a, f"{module_url}/review", {"action": "approve"}).status_code == 403
    response = post(b, f"{module_url}/review", {"action": "approve"})
    assert response.headers["location"].endswith("done=published"), response.text[:2000]
    wait_for(lambda: NEW_LINE in i.get("/courses/demo-course/demo-first").text)
    with migrated_database.session() as db:
        version = db.scalars(select(ContentVersion)).one()
        assert (version.path, version.published_by, version.draft_id) == (
            FIRST, reviewer.id, int(opened[f"courses/{FIRST}"])
        )  # fmt: skip
    # The bank draft is still open: importing the same files again is refused, nothing changed.
    again = import_review(source, author.username, content, database_url)
    assert again.returncode == 1
    assert f"already has an open draft of {BANK}" in again.stderr
    assert f"/trainer/authoring/drafts/{opened[BANK]}" in again.stderr
    assert len(drafts(migrated_database)) == 2
    # Another trainer's open draft of a file is not in the way (as in the browser).
    other = make_person(migrated_database, "trainer")
    second = import_review(source, other.username, content, database_url)
    assert second.returncode == 0, second.stderr
    assert f"opened {BANK} for review" in second.stdout
    assert "1 draft(s)" in second.stdout  # the module is published now


def test_a_broken_file_opens_no_draft_and_is_printed_with_its_line(
    content: ContentDirs, migrated_database: Database, database_url: str, tmp_path: Path
) -> None:
    author = make_person(migrated_database, "trainer")
    source = changed_copy(content, tmp_path / "files")
    broken = source / BANK
    broken.write_bytes(broken.read_bytes().replace(b"type: single", b"type: singel", 1))
    refused = import_review(source, author.username, content, database_url)
    assert refused.returncode == 1
    assert re.search(rf"^{re.escape(BANK)}:\d+: ", refused.stderr, re.M), refused.stderr
    assert "nothing imported" in refused.stderr
    assert drafts(migrated_database) == []  # not even the good module's
    assert versions(migrated_database) == 0


def test_only_an_active_trainer_or_admin_authors_an_import(
    content: ContentDirs, migrated_database: Database, database_url: str, tmp_path: Path
) -> None:
    source = changed_copy(content, tmp_path / "files")
    inactive = make_person(migrated_database, "trainer", active=False)
    inspector = make_person(migrated_database, "inspector", "manager")
    for author, said in (
        ("nobody-such", "there is no account 'nobody-such'"),
        (inactive.username, f"the account {inactive.username} is deactivated"),
        (inspector.username, f"{inspector.username} is not a trainer or admin"),
    ):
        refused = import_review(source, author, content, database_url)
        assert refused.returncode == 1, refused.stdout
        assert said in refused.stderr
        assert "nothing imported" in refused.stderr
    assert drafts(migrated_database) == []
    # The files as served (as an export writes them) open no draft.
    trainer = make_person(migrated_database, "trainer")
    same = import_review(content.courses.parent, trainer.username, content, database_url)
    assert same.returncode == 0, same.stderr
    assert "0 draft(s) submitted for review" in same.stdout
    assert drafts(migrated_database) == []
    # Half the option is a mistake, not a direct import.
    half = cli("content", "import", str(source), "--review", content=content, database_url=database_url)
    assert half.returncode == 2
    assert "--review and --author USERNAME go together" in half.stderr
    assert drafts(migrated_database) == []
    assert versions(migrated_database) == 0
