"""A new module written in the browser (issue 18): started from a minimal module at a new path
of its course, checked with its course listing it, reviewed with that course change as a second
diff, published with it in one transaction, then read by inspectors, kept in history and
exported. Real database, real HTTP, as tests/test_authoring.py (whose helpers and clean-up this
file shares)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests import test_authoring
from tests.conftest import ContentDirs, make_person, sign_in
from tests.test_authoring import cli, form_fields, post, signed_in, wait_for
from trainer.content.models import ContentDraft, ContentGeneration, ContentVersion
from trainer.db import Database

pytestmark = pytest.mark.xdist_group("content_versions")  # see tests/test_authoring.py
clean_content_tables = test_authoring.clean_content_tables
fast_app = test_authoring.fast_app
NEW_PATH = "demo-course/03-roof-support.md"
COURSE = "demo-course/course.yaml"


def new_module(client: TestClient, **changes: str) -> object:
    data = {
        "course_id": "demo-course",
        "module_id": "demo-roof-support",
        "stem": "03-roof-support",
        "title": "Roof support",
        "lang": "en",
        **changes,
    }
    return post(client, "/trainer/authoring/new-module", data)


def generation(database: Database) -> int:
    with database.session() as db:
        return db.scalar(select(ContentGeneration.generation)) or 0


def test_a_new_module_is_written_checked_reviewed_and_published_with_its_course(
    fast_app: FastAPI, content: ContentDirs, migrated_database: Database, database_url: str, tmp_path: Path
) -> None:
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "trainer")
    inspector = make_person(migrated_database, "inspector")
    a, b = signed_in(fast_app, author), signed_in(fast_app, reviewer)
    reader = TestClient(fast_app)
    sign_in(reader, inspector)
    index = a.get("/trainer/authoring").text
    assert 'id="new-module-demo-course"' in index
    response = new_module(a)
    assert response.status_code == 303, response.text[:2000]  # type: ignore[attr-defined]
    draft_id = int(response.headers["location"].rsplit("/", 1)[1])  # type: ignore[attr-defined]
    with migrated_database.session() as db:
        draft = db.get(ContentDraft, draft_id)
        assert draft is not None
        assert (draft.path, draft.item_id, draft.lang, draft.base_text) == (
            NEW_PATH, "demo-roof-support", "en", "",
        )  # fmt: skip
    page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert 'id="draft-ok"' in page  # the minimal module loads, listed by its course
    assert 'href="/trainer/authoring/modules/demo-roof-support"' not in page  # no history yet
    # The course change is shown: the module appended to `modules:`.
    assert 'id="course-diff"' in page
    assert "modules: [demo-first, demo-second, demo-roof-support]" in page
    # Inspectors see nothing of it.
    assert reader.get("/courses/demo-course/demo-roof-support").status_code == 404
    # An unknown regulation: the check names it with its line, and the draft cannot be submitted.
    fields = form_fields(a, draft_id)
    fields.update(regulations="no-such-code", body="## Roof support\n\nBolts are checked every shift.\n")
    assert post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "save"}).status_code == 303
    page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert f"courses/{NEW_PATH}:7: unknown regulation &#39;no-such-code&#39;" in page
    refused = post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "submit"})
    assert refused.status_code == 422
    fields["regulations"] = ""
    submitted = post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "submit"})
    assert submitted.status_code == 303, submitted.text[:2000]
    # The reviewer sees both diffs, and approval publishes both files with one generation bump.
    review_page = b.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert 'id="diff"' in review_page
    assert 'id="course-diff"' in review_page
    before = generation(migrated_database)
    approved = post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"})
    assert approved.headers["location"].endswith("done=published")
    assert generation(migrated_database) == before + 1
    with migrated_database.session() as db:
        rows = db.execute(select(ContentVersion.path, ContentVersion.kind, ContentVersion.draft_id))
        published = {path: (kind, by_draft) for path, kind, by_draft in rows}
    assert published == {COURSE: ("course", draft_id), NEW_PATH: ("module", draft_id)}
    # The inspector's course lists it and it opens.
    wait_for(lambda: "demo-roof-support" in fast_app.state.content.library.modules)
    course_page = reader.get("/courses/demo-course").text
    assert "/courses/demo-course/demo-roof-support" in course_page
    module_page = reader.get("/courses/demo-course/demo-roof-support")
    assert module_page.status_code == 200
    assert "Bolts are checked every shift." in module_page.text
    # History of the new module, and the course file's.
    history = a.get("/trainer/authoring/modules/demo-roof-support")
    assert history.status_code == 200
    assert "/trainer/authoring/versions/" in history.text
    assert "/trainer/authoring/versions/" in a.get(f"/trainer/authoring/files?path={COURSE}").text
    # Once published the draft page shows no course change any more.
    assert 'id="course-diff"' not in a.get(f"/trainer/authoring/drafts/{draft_id}").text
    # Export writes the module and the course listing it.
    exported = cli("content", "export", str(tmp_path / "out"), content=content, database_url=database_url)
    assert exported.returncode == 0, exported.stderr
    module_file = (tmp_path / "out" / "courses" / NEW_PATH).read_text()
    assert "id: demo-roof-support" in module_file
    assert "Bolts are checked every shift." in module_file
    assert (
        "modules: [demo-first, demo-second, demo-roof-support]"
        in (tmp_path / "out" / "courses" / COURSE).read_text()
    )
    # The same module again: its id and file now exist.
    again = new_module(a)
    assert again.status_code == 422  # type: ignore[attr-defined]
    assert "demo-roof-support is already used" in again.text  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"module_id": "demo-first"}, "The module id demo-first is already used"),
        ({"module_id": "Bad Id"}, "The module id is lowercase letters"),
        ({"stem": "01-first"}, "The file courses/demo-course/01-first.md already exists"),
        ({"stem": "roof"}, "The file name is two digits"),
        ({"stem": "03-../x"}, "The file name is two digits"),
        ({"lang": "zh-CN"}, "written in the course's language first"),
        ({"lang": "fr"}, "Choose English or Chinese"),
        ({"title": " "}, "Give the module a title"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_is_created(
    fast_app: FastAPI, migrated_database: Database, changes: dict[str, str], message: str
) -> None:
    a = signed_in(fast_app, make_person(migrated_database, "trainer"))
    refused(migrated_database, lambda: new_module(a, **changes), "new-module-errors", message)


def refused(database: Database, send: Callable[[], Any], errors_id: str, message: str) -> None:
    """The form's post is refused, saying `message` in the block `errors_id`, and nothing is created."""
    before = generation(database)
    response = send()
    assert response.status_code == 422
    text = response.text
    assert f'id="{errors_id}"' in text
    assert message in text, text[text.find(errors_id) - 200 :][:1500]
    with database.session() as db:
        assert db.scalar(select(func.count()).select_from(ContentDraft)) == 0
    assert generation(database) == before


def test_the_messages_are_translated_and_an_unknown_course_is_a_404(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    a = signed_in(fast_app, make_person(migrated_database, "trainer"))
    post(a, "/language", {"lang": "zh-CN", "next": "/trainer/authoring"})
    response = new_module(a, stem="roof")
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "文件名" in response.text  # type: ignore[attr-defined]
    assert new_module(a, course_id="no-such-course").status_code == 404  # type: ignore[attr-defined]


def test_an_inspector_cannot_start_a_new_module(fast_app: FastAPI, migrated_database: Database) -> None:
    reader = signed_in(fast_app, make_person(migrated_database, "inspector"))
    assert new_module(reader).status_code == 403  # type: ignore[attr-defined]
    with migrated_database.session() as db:
        assert db.scalar(select(func.count()).select_from(ContentDraft)) == 0


def test_the_two_diffs_of_a_new_modules_draft_are_regions_with_different_names(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    """The module's diff and its course file's are each a scrolling region: a screen reader's
    list of landmarks names them apart (axe's landmark-unique, found in the browser journey),
    in both languages."""
    a = signed_in(fast_app, make_person(migrated_database, "trainer"))
    response = new_module(a)
    draft_url = response.headers["location"]  # type: ignore[attr-defined]
    for expected in (
        ["Changes (scrolls sideways)", "Changes to the course file (scrolls sideways)"],
        ["改动（可横向滚动）", "课程文件的改动（可横向滚动）"],
    ):
        page = a.get(draft_url).text
        labels = re.findall(r'role="region" aria-label="([^"]*)"', page)
        assert set(expected) <= set(labels), labels
        assert len(labels) == len(set(labels)), labels
        post(a, "/language", {"lang": "zh-CN", "next": "/trainer/authoring"})


def test_a_block_style_module_list_gets_the_new_module_appended() -> None:
    """A course file written by hand with `modules:` as a block list: the new module is appended
    (the list is written back in the flow style the course form writes) and the rest is kept."""
    import yaml

    from trainer.content.new_modules import listed

    text = (Path(__file__).parent.parent / "courses" / "coal-mine-inspection" / "course.yaml").read_text(
        encoding="utf-8"
    )
    flow = "modules: [cm-ventilation-basics, cm-methane-control, cm-inspection-procedure]"
    assert flow in text
    block = text.replace(
        flow, "modules:\n  - cm-ventilation-basics\n  - cm-methane-control\n  - cm-inspection-procedure"
    )
    out = listed(block, "cm-new-module")
    assert out is not None
    assert yaml.safe_load(out)["modules"] == [
        "cm-ventilation-basics",
        "cm-methane-control",
        "cm-inspection-procedure",
        "cm-new-module",
    ]
    assert {k: v for k, v in yaml.safe_load(out).items() if k != "modules"} == {
        k: v for k, v in yaml.safe_load(block).items() if k != "modules"
    }
    assert listed(out, "cm-new-module") is None  # listed already
