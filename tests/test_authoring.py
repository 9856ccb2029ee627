"""Authoring in the browser, slice 1 (issue 18): module drafts, review, publish, history,
restore, the files as the exchange format; on the real database (SQLite or PostgreSQL) and over
real HTTP through the app. Two app instances on one database stand for two app processes: they
share nothing but the database, as processes do."""

from __future__ import annotations

import filecmp
import hashlib
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, update

from tests.conftest import ZH, ContentDirs, Person, csrf_token, make_person, sign_in
from trainer.app import create_app
from trainer.audit.models import AuditEvent
from trainer.config import PROJECT_ROOT, Settings
from trainer.content import authoring, publishing
from trainer.content.loader import load_library
from trainer.content.models import ContentAsset, ContentDraft, ContentGeneration, ContentVersion, DraftEvent
from trainer.db import Database
from trainer.quizzes.models import ModuleRead, ModuleVersionRead

FIRST = "demo-course/01-first.md"
# Published versions lie over the library of every app on the run's shared database, and each test
# here removes them when it ends: run on one worker (make test uses --dist loadgroup), one at a
# time, so no test's cleanup pulls a version from under another's wait.
pytestmark = pytest.mark.xdist_group("content_versions")
NEW_LINE = "Airflow is measured at the working face every shift."


@pytest.fixture(autouse=True)
def clean_content_tables(migrated_database: Database) -> Iterator[None]:
    """The test database is shared by the run: published versions would lie over every later
    test's library, so each test here leaves none behind (nor any uploaded image)."""
    yield
    clear_content(migrated_database)


def clear_content(database: Database) -> None:
    """Every draft, published version and uploaded image gone: the files alone are served."""
    with database.write() as db:
        db.execute(delete(ContentAsset))  # uploaded images, published or not
        db.execute(delete(DraftEvent))
        db.execute(delete(ContentDraft))
        db.execute(delete(ContentVersion))
        db.execute(update(ContentGeneration).values(generation=ContentGeneration.generation + 1))


@pytest.fixture
def fast_app(make_settings: Callable[..., Settings], content: ContentDirs) -> Iterator[FastAPI]:
    application = create_app(make_settings(content, content_poll_seconds=0.2))
    yield application
    application.state.content.close()
    application.state.database.dispose()


def signed_in(app: FastAPI, person: Person) -> TestClient:
    client = TestClient(app)
    sign_in(client, person)
    return client


def post(client: TestClient, url: str, data: dict[str, str], *, headers: dict[str, str] | None = None) -> Any:
    form = {"csrf_token": csrf_token(client, "/trainer/authoring"), **data}
    return client.post(url, data=form, follow_redirects=False, headers=headers)


def start(client: TestClient, module_id: str = "demo-first", lang: str = "en") -> int:
    response = post(client, "/trainer/authoring/drafts", {"module_id": module_id, "lang": lang})
    assert response.status_code == 303, response.text[:300]
    return int(response.headers["location"].rsplit("/", 1)[1])


def form_fields(client: TestClient, draft_id: int) -> dict[str, str]:
    """The edit form's fields as the page shows them (what a browser would send back)."""
    page = client.get(f"/trainer/authoring/drafts/{draft_id}").text
    fields = {}
    for name in ("title", "estimated_minutes", "regulations", "tags"):
        match = re.search(rf'<input id="{name}" name="{name}"[^>]* value="([^"]*)"', page)
        assert match, name
        fields[name] = match.group(1)
    for name in ("summary", "objectives", "practice", "body"):
        match = re.search(rf'<textarea id="{name}" name="{name}"[^>]*>(.*?)</textarea>', page, re.S)
        assert match, name
        fields[name] = match.group(1).removeprefix("\n")  # as a browser does: the newline after the tag
    fields = {
        k: v.replace("&#34;", '"')
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        for k, v in fields.items()
    }
    if 'name="sample" checked' in page:
        fields["sample"] = "on"
    return fields


def wait_for(check: Callable[[], bool], seconds: float = 20) -> float:
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        if check():
            return time.monotonic() - began
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


# -- the form, pure ---------------------------------------------------------------------------------


def test_the_form_gives_back_every_module_file_unchanged_and_a_changed_field_loads() -> None:
    files = sorted((PROJECT_ROOT / "courses").glob("*/*.md"))
    assert len(files) > 20
    overlay = {}
    for path in files:
        text = path.read_bytes().decode()
        form = authoring.form_of_text(text)
        assert authoring.compose(form, text) == text, path
        # A changed field writes the front matter anew; the library must still load with it.
        changed = replace(form, title=form.title + ": yes", summary="no", tags=form.tags)
        overlay[path.relative_to(PROJECT_ROOT / "courses").as_posix()] = authoring.compose(changed, text)
    library, problems = load_library(
        PROJECT_ROOT / "courses", PROJECT_ROOT / "question_bank", overlay=overlay
    )
    assert library is not None, [str(p) for p in problems if p.severity == "error"]
    methane = library.modules["cm-methane-control"]
    assert methane.original.title.endswith(": yes")
    assert methane.original.summary == "no"


def test_a_draft_the_library_cannot_load_still_previews_its_images_from_the_course() -> None:
    """Found by the Chromium journey: the fallback preview left `assets/x.png` relative, so the
    browser asked for /trainer/authoring/drafts/assets/x.png (404) and showed a broken image."""
    courses = Path(__file__).parent / "fixtures" / "library" / "courses"
    text = (courses / FIRST).read_text().replace("[demo-law]", "[demo-law, no-such-law]")
    text += "\n![The fan](assets/airflow.svg) and [the next module](02-second.md).\n"
    check = authoring.check_module_draft(
        courses, courses.parent / "question_bank", {}, path=FIRST, text=text, item_id="demo-first", lang="en"
    )
    assert not check.ok
    assert 'src="/courses/demo-course/assets/airflow.svg"' in check.html
    assert 'src="assets/' not in check.html
    assert 'href="#"' in check.html  # no library to map a module link to: never a path under the draft


# -- drafts, review, publish -----------------------------------------------------------------------


def test_review_publish_and_the_rules_of_who_may_do_what(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "trainer")
    inspector = make_person(migrated_database, "inspector")
    a, b, i = signed_in(fast_app, author), signed_in(fast_app, reviewer), signed_in(fast_app, inspector)
    draft_id = start(a)
    assert start(a) == draft_id  # one open draft per author and file
    fields = form_fields(a, draft_id)
    fields["body"] = fields["body"].replace(
        "Fresh air keeps miners alive.", f"Fresh air keeps miners alive. {NEW_LINE}"
    )
    assert post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "save"}).status_code == 303
    page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert NEW_LINE in page
    assert 'id="draft-ok"' in page
    assert 'class="diff-add"' in page
    # Inspectors see nothing of authoring; nobody else may change the author's draft.
    for url in (
        "/trainer/authoring",
        f"/trainer/authoring/drafts/{draft_id}",
        "/trainer/authoring/modules/demo-first",
    ):
        assert i.get(url, follow_redirects=False).status_code == 403
    assert post(i, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"}).status_code == 403
    assert post(b, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "save"}).status_code == 403
    # Not submitted yet: nothing to review.
    assert post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"}).status_code == 409
    assert post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "submit"}).status_code == 303
    assert 'id="waiting"' in b.get("/trainer/authoring").text
    # The author cannot approve their own draft.
    assert post(a, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"}).status_code == 403
    assert (
        post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "request_changes"}).status_code
        == 422
    )
    response = post(
        b,
        f"/trainer/authoring/drafts/{draft_id}/review",
        {"action": "request_changes", "comment": "Say who measures it."},
    )
    assert response.status_code == 303
    page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert "Say who measures it." in page
    assert "Changes requested" in page
    fields["body"] = fields["body"].replace(NEW_LINE, f"{NEW_LINE} The ventilation officer measures it.")
    post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "submit"})
    assert i.get("/courses/demo-course/demo-first").text.count(NEW_LINE) == 0  # not published yet
    response = post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve", "comment": ""})
    assert response.headers["location"].endswith("done=published")
    wait_for(lambda: "The ventilation officer measures it." in i.get("/courses/demo-course/demo-first").text)
    with migrated_database.session() as db:
        version = db.scalars(select(ContentVersion).where(ContentVersion.path == FIRST)).one()
        assert version.number == 1
        assert version.published_by == reviewer.id
        assert version.draft_id == draft_id
        actions = set(db.scalars(select(AuditEvent.action).where(AuditEvent.action.like("content.%"))))
    assert {"content.draft.created", "content.draft.submitted", "content.draft.changes_requested",
            "content.draft.approved", "content.published"} <= actions  # fmt: skip
    # Published drafts are closed: neither side can act on them again.
    assert post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"}).status_code == 409
    assert post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "save"}).status_code == 409


def test_a_draft_that_breaks_the_library_cannot_be_submitted(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "admin")
    a, b = signed_in(fast_app, author), signed_in(fast_app, reviewer)
    draft_id = start(a)
    fields = form_fields(a, draft_id)
    fields["regulations"] = "demo-law, no-such-law"
    response = post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "submit"})
    assert response.status_code == 422
    page = response.text
    assert "courses/demo-course/01-first.md:9: unknown regulation &#39;no-such-law&#39;" in page
    assert "cannot be submitted" in page
    with migrated_database.session() as db:
        draft = db.get(ContentDraft, draft_id)
        assert draft is not None
        assert draft.status == "editing"
        assert "no-such-law" in draft.text
    assert post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"}).status_code == 409
    # In Chinese too, with the same file and line.
    zh = a.get(f"/trainer/authoring/drafts/{draft_id}", headers=ZH).text
    assert "01-first.md:9" in zh
    assert "草稿" in zh
    # Fixed, it goes.
    fields["regulations"] = "demo-law"
    assert post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "submit"}).status_code == 303


def test_a_translation_is_its_own_draft(fast_app: FastAPI, migrated_database: Database) -> None:
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "trainer")
    a, b = signed_in(fast_app, author), signed_in(fast_app, reviewer)
    draft_id = start(a, "demo-second", "zh-CN")
    with migrated_database.session() as db:
        draft = db.get(ContentDraft, draft_id)
        assert draft is not None
        assert draft.path == "demo-course/02-second.zh-CN.md"
        assert draft.lang == "zh-CN"
    fields = form_fields(a, draft_id)
    fields["title"], fields["body"] = "第二个模块", "## 下一步\n\n检查通风记录。\n"
    post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "submit"})
    post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"})
    wait_for(lambda: "检查通风记录" in b.get("/courses/demo-course/demo-second", headers=ZH).text)


def publish(database: Database, courses_dir: Path, text: str, by: Person | None = None) -> ContentVersion:
    """A version of the first module, published through the service as an approval does."""
    from trainer.audit import service as audit

    with database.write() as db:
        latest = db.scalar(
            select(ContentVersion)
            .where(ContentVersion.path == FIRST)
            .order_by(ContentVersion.number.desc())
            .limit(1)
        )
        version = publishing._publish(
            db, audit.SYSTEM, path=FIRST, item_id="demo-first", lang="en", text=text,
            by=by.id if by else None, draft_id=None,
        )  # fmt: skip
        assert version.number == (latest.number + 1 if latest else 1)
        return version


def test_a_publish_reaches_a_second_app_process_without_a_restart(
    make_settings: Callable[..., Settings], content: ContentDirs, migrated_database: Database
) -> None:
    settings = make_settings(content, content_poll_seconds=0.5)
    first, second = create_app(settings), create_app(settings)
    try:
        author, reviewer = (
            make_person(migrated_database, "trainer"),
            make_person(migrated_database, "trainer"),
        )
        a, b = signed_in(first, author), signed_in(first, reviewer)
        reader = TestClient(second)
        assert NEW_LINE not in reader.get("/courses/demo-course/demo-first").text
        draft_id = start(a)
        fields = form_fields(a, draft_id)
        fields["body"] += f"\n{NEW_LINE}\n"
        post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "submit"})
        post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"})
        seconds = wait_for(lambda: NEW_LINE in reader.get("/courses/demo-course/demo-first").text)
        print(f"approval to visible on the second app: {seconds:.2f} s")
        assert seconds < 10
    finally:
        for application in (first, second):
            application.state.content.close()
            application.state.database.dispose()


# -- history and restore ---------------------------------------------------------------------------


def test_history_keeps_every_version_and_a_restore_goes_through_review(
    fast_app: FastAPI, content: ContentDirs, migrated_database: Database
) -> None:
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "trainer")
    a, b = signed_in(fast_app, author), signed_in(fast_app, reviewer)
    original = (content.courses / FIRST).read_text()
    v1 = publish(migrated_database, content.courses, original.replace("Fresh air", "Clean air"), reviewer)
    v2 = publish(migrated_database, content.courses, original.replace("Fresh air", "Good air"), reviewer)
    page = a.get("/trainer/authoring/modules/demo-first").text
    assert f"/trainer/authoring/versions/{v1.id}" in page
    assert f"/trainer/authoring/versions/{v2.id}" in page
    assert reviewer.username in page or "Test trainer" in page
    version_page = a.get(f"/trainer/authoring/versions/{v2.id}").text
    assert "Good air" in version_page
    assert "Clean air" in version_page
    response = post(a, f"/trainer/authoring/versions/{v1.id}/restore", {})
    draft_id = int(response.headers["location"].rsplit("/", 1)[1])
    fields = form_fields(a, draft_id)
    post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "submit"})
    post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"})
    with migrated_database.session() as db:
        latest = db.scalars(
            select(ContentVersion).where(ContentVersion.path == FIRST).order_by(ContentVersion.number.desc())
        ).first()
        assert latest is not None
        assert latest.number == 3
        assert latest.text == v1.text
    wait_for(lambda: "Clean air" in a.get("/courses/demo-course/demo-first").text)


def test_a_stale_draft_cannot_be_approved(
    fast_app: FastAPI, content: ContentDirs, migrated_database: Database
) -> None:
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "trainer")
    a, b = signed_in(fast_app, author), signed_in(fast_app, reviewer)
    draft_id = start(a)
    post(a, f"/trainer/authoring/drafts/{draft_id}", {**form_fields(a, draft_id), "action": "submit"})
    publish(migrated_database, content.courses, (content.courses / FIRST).read_text() + "\nMeanwhile.\n")
    response = post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"})
    assert response.status_code == 409


# -- files as the exchange format ------------------------------------------------------------------


def cli(*args: str, content: ContentDirs, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TRAINER_COURSES_DIR": str(content.courses),
        "TRAINER_QUESTION_BANK_DIR": str(content.bank),
        "TRAINER_DATABASE_URL": database_url,
        "TRAINER_SECRET_KEY": "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    }
    return subprocess.run(
        [sys.executable, "-m", "trainer.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def same_tree(left: Path, right: Path) -> bool:
    files = sorted(p.relative_to(left) for p in left.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(right) for p in right.rglob("*") if p.is_file())
    _match, mismatch, errors = filecmp.cmpfiles(left, right, [str(f) for f in files], shallow=False)
    return not mismatch and not errors


def test_export_then_import_round_trips_byte_for_byte(
    content: ContentDirs, migrated_database: Database, database_url: str, tmp_path: Path
) -> None:
    # CRLF line ends, no final newline, Chinese: all kept exactly.
    text = (
        (content.courses / FIRST)
        .read_text()
        .replace("Fresh air", "新鲜空气 (fresh air)")
        .replace("\n", "\r\n")
        .rstrip()
    )
    publish(migrated_database, content.courses, text)
    exported = cli("content", "export", str(tmp_path / "one"), content=content, database_url=database_url)
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "one" / "courses" / FIRST).read_bytes() == text.encode()
    assert (tmp_path / "one" / "question_bank" / "regulations.yaml").read_bytes() == (
        content.bank / "regulations.yaml"
    ).read_bytes()
    # A fresh database with the same files: importing the export publishes exactly that file.
    with migrated_database.write() as db:
        db.execute(delete(ContentVersion))
    imported = cli("content", "import", str(tmp_path / "one"), content=content, database_url=database_url)
    assert imported.returncode == 0, imported.stderr
    assert f"published courses/{FIRST}" in imported.stdout
    assert "1 file(s) published" in imported.stdout
    again = cli("content", "import", str(tmp_path / "one"), content=content, database_url=database_url)
    assert "0 file(s) published" in again.stdout  # nothing differs any more
    cli("content", "export", str(tmp_path / "two"), content=content, database_url=database_url)
    assert same_tree(tmp_path / "one", tmp_path / "two")
    with migrated_database.session() as db:
        assert db.scalars(select(ContentVersion.text).where(ContentVersion.path == FIRST)).one() == text
    # A broken module file: every problem printed, nothing published.
    broken = tmp_path / "one" / "courses" / "demo-course" / "02-second.md"
    broken.write_text(broken.read_text().replace("## ", "# ", 1))
    refused = cli("content", "import", str(tmp_path / "one"), content=content, database_url=database_url)
    assert refused.returncode == 1
    assert "02-second.md" in refused.stderr
    assert "nothing imported" in refused.stderr
    with migrated_database.session() as db:
        assert (
            db.scalar(select(ContentVersion.id).where(ContentVersion.path == "demo-course/02-second.md"))
            is None
        )


def test_the_whole_sample_library_round_trips(migrated_database: Database, tmp_path: Path) -> None:
    courses, bank = PROJECT_ROOT / "courses", PROJECT_ROOT / "question_bank"
    with migrated_database.session() as db:
        publishing.export_tree(db, courses, bank, tmp_path / "out")
    assert same_tree(courses, tmp_path / "out" / "courses")
    assert same_tree(bank, tmp_path / "out" / "question_bank")
    from trainer.audit import service as audit

    with migrated_database.write() as db:
        result = publishing.import_tree(db, audit.SYSTEM, courses, bank, tmp_path / "out")
    assert result.published == []
    assert result.skipped == []
    assert result.problems == []


# -- the version read ------------------------------------------------------------------------------


def test_each_version_read_is_recorded_once_and_counted_in_the_history(
    fast_app: FastAPI, content: ContentDirs, migrated_database: Database
) -> None:
    inspector = make_person(migrated_database, "inspector")
    trainer = make_person(migrated_database, "trainer")
    reader, author = signed_in(fast_app, inspector), signed_in(fast_app, trainer)

    def reads() -> list[tuple[str, str]]:
        with migrated_database.session() as db:
            return [
                (row.lang, row.sha256)
                for row in db.scalars(
                    select(ModuleVersionRead)
                    .where(ModuleVersionRead.user_id == inspector.id)
                    .order_by(ModuleVersionRead.read_at, ModuleVersionRead.lang)
                )
            ]

    original = (content.courses / FIRST).read_text()
    first_hash = hashlib.sha256(original.encode()).hexdigest()
    assert reader.get("/courses/demo-course/demo-first").status_code == 200
    assert reader.get("/courses/demo-course/demo-first").status_code == 200  # again: nothing new
    assert reads() == [("en", first_hash)]
    with migrated_database.session() as db:
        assert (
            db.scalar(select(func.count()).select_from(ModuleRead).where(ModuleRead.user_id == inspector.id))
            == 1
        )
    assert reader.get("/courses/demo-course/demo-first?version=zh-CN").status_code == 200
    assert [lang for lang, _ in reads()] == ["en", "zh-CN"]

    # A text of its own (other tests publish "Clean air" too, and the database is the run's).
    new_line = f"Clean air {uuid.uuid4().hex[:8]}"
    changed = publish(migrated_database, content.courses, original.replace("Fresh air", new_line), None)
    wait_for(lambda: new_line in reader.get("/courses/demo-course/demo-first").text)
    assert reads()[-1] == ("en", changed.sha256)  # the change was read, as its own version
    with migrated_database.session() as db:  # the first read (completion) stays the first
        assert (
            db.scalar(select(func.count()).select_from(ModuleRead).where(ModuleRead.user_id == inspector.id))
            == 1
        )
    history = author.get("/trainer/authoring/modules/demo-first").text
    assert "read by 1 person" in history
