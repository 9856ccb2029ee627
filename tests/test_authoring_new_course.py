"""A new course started in the browser (issue 18): a draft of its course.yaml carrying a minimal
first module, checked with it, reviewed by another trainer with both diffs, published with it in
one transaction, then served to inspectors and managers (on a second app process too) and exported
in the documented layout. Real database, real HTTP, as tests/test_authoring.py (whose helpers and
clean-up this file shares)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests import test_authoring
from tests.conftest import ContentDirs, make_person, token
from tests.test_authoring import cli, post, signed_in, wait_for
from tests.test_authoring_files import textarea
from tests.test_authoring_new_module import generation, refused
from trainer.app import create_app
from trainer.config import Settings
from trainer.content.loader import load_library
from trainer.content.models import ContentDraft, ContentVersion
from trainer.db import Database

pytestmark = pytest.mark.xdist_group("content_versions")  # see tests/test_authoring.py
clean_content_tables = test_authoring.clean_content_tables
fast_app = test_authoring.fast_app
COURSE = "tunnel-inspection/course.yaml"
FIRST = "tunnel-inspection/01-introduction.md"
SUMMARY = "What an inspector checks in a road tunnel under construction."


def new_course(client: TestClient, **changes: str) -> object:
    data = {
        "course_id": "tunnel-inspection",
        "title": "Tunnel inspection",
        "lang": "en",
        "domain": "enforcement",
        "summary": SUMMARY,
        **changes,
    }
    return post(client, "/trainer/authoring/new-course", data)


def seen_by(client: TestClient, headers: dict[str, str]) -> list[bool]:
    """Whether the course shows anywhere a reader looks: catalogue, pages, API, search."""
    return [
        "/courses/tunnel-inspection" in client.get("/courses").text,
        client.get("/courses/tunnel-inspection").status_code == 200,
        client.get("/courses/tunnel-inspection/tunnel-inspection-introduction").status_code == 200,
        client.get(
            "/api/v1/courses/tunnel-inspection/modules/tunnel-inspection-introduction", headers=headers
        ).status_code
        == 200,
        "/courses/tunnel-inspection" in client.get("/search", params={"q": "tunnel"}).text,
    ]


def test_a_new_course_is_written_checked_reviewed_and_published_with_its_first_module(
    fast_app: FastAPI,
    make_settings: Callable[..., Settings],
    content: ContentDirs,
    migrated_database: Database,
    database_url: str,
    tmp_path: Path,
) -> None:
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "trainer")
    a, b = signed_in(fast_app, author), signed_in(fast_app, reviewer)
    second = create_app(make_settings(content, content_poll_seconds=0.2))  # another app process
    try:
        readers = []
        for role in ("inspector", "manager"):
            person = make_person(migrated_database, role)
            for app in (fast_app, second):
                client = signed_in(app, person)
                readers.append((client, token(client, person)))
        assert 'id="new-course"' in a.get("/trainer/authoring").text
        response = new_course(a)
        assert response.status_code == 303, response.text[:2000]  # type: ignore[attr-defined]
        draft_id = int(response.headers["location"].rsplit("/", 1)[1])  # type: ignore[attr-defined]
        with migrated_database.session() as db:
            draft = db.get(ContentDraft, draft_id)
            assert draft is not None
            assert (draft.kind, draft.path, draft.item_id, draft.lang, draft.base_text) == (
                "course", COURSE, "tunnel-inspection", "en", "",
            )  # fmt: skip
        page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
        assert 'id="draft-ok"' in page, page  # the minimal course loads, with its first module
        assert 'id="module-diff"' in page
        assert f"courses/{FIRST}" in page
        assert "id: tunnel-inspection-introduction" in page
        # Nothing reaches a reader before approval, on either process.
        for client, headers in readers:
            assert seen_by(client, headers) == [False] * 5
        # A course file that does not load cannot be submitted; fixed, it can.
        text = textarea(a, draft_id)
        refused = post(
            a,
            f"/trainer/authoring/drafts/{draft_id}",
            {"text": text.replace("domain: enforcement", "domain: tunnels"), "action": "submit"},
        )
        assert refused.status_code == 422
        assert f"courses/{COURSE}:3" in refused.text
        submitted = post(a, f"/trainer/authoring/drafts/{draft_id}", {"text": text, "action": "submit"})
        assert submitted.status_code == 303, submitted.text[:2000]
        # The author cannot approve their own course.
        own = post(a, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"})
        assert own.status_code == 403
        # The reviewer sees both files; approval publishes both with one generation bump.
        review_page = b.get(f"/trainer/authoring/drafts/{draft_id}").text
        assert 'id="diff"' in review_page
        assert 'id="module-diff"' in review_page
        before = generation(migrated_database)
        approved = post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"})
        assert approved.headers["location"].endswith("done=published")
        assert generation(migrated_database) == before + 1
        with migrated_database.session() as db:
            rows = db.execute(select(ContentVersion.path, ContentVersion.kind, ContentVersion.item_id))
            published = {path: (kind, item) for path, kind, item in rows}
        assert published == {
            COURSE: ("course", "tunnel-inspection"),
            FIRST: ("module", "tunnel-inspection-introduction"),
        }
        # Every reader sees it on both processes: catalogue, course, module, API, search.
        for client, headers in readers:
            wait_for(lambda c=client, h=headers: seen_by(c, h) == [True] * 5)  # type: ignore[misc]
        assert SUMMARY in readers[0][0].get("/courses/tunnel-inspection/tunnel-inspection-introduction").text
        # Its course file is then edited like any other, and the draft page shows no module change.
        assert post(a, "/trainer/authoring/drafts", {"path": COURSE}).status_code == 303
        assert 'id="module-diff"' not in a.get(f"/trainer/authoring/drafts/{draft_id}").text
        # Export writes it in the documented layout: courses/<id>/course.yaml and its module.
        out = tmp_path / "out"
        exported = cli("content", "export", str(out), content=content, database_url=database_url)
        assert exported.returncode == 0, exported.stderr
        course_file = (out / "courses" / COURSE).read_text()
        assert course_file.startswith("id: tunnel-inspection\ntitle: Tunnel inspection\n")
        assert "modules: [tunnel-inspection-introduction]" in course_file
        assert "id: tunnel-inspection-introduction" in (out / "courses" / FIRST).read_text()
        # ... which loads from the files alone, as `trainer check` loads them.
        library, problems = load_library(out / "courses", out / "question_bank")
        assert library is not None, problems
        assert "tunnel-inspection" in library.courses
        # The same course again: its id is taken now.
        again = new_course(a)
        assert again.status_code == 422  # type: ignore[attr-defined]
        assert "tunnel-inspection is already used" in again.text  # type: ignore[attr-defined]
    finally:
        second.state.content.close()
        second.state.database.dispose()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"course_id": "demo-course"}, "The course id demo-course is already used"),
        ({"course_id": "Tunnel Inspection"}, "The course id is lowercase letters"),
        ({"course_id": "../tunnel"}, "The course id is lowercase letters"),
        ({"course_id": "tunnel_inspection"}, "The course id is lowercase letters"),
        ({"course_id": "x" * 61}, "The course id is lowercase letters"),
        ({"course_id": "leftover"}, "The folder courses/leftover/ already exists"),
        ({"title": " "}, "Give the course a title"),
        ({"summary": ""}, "Say in a sentence what the course teaches"),
        ({"lang": "fr"}, "Choose English or Chinese"),
        ({"domain": "tunnels"}, "Choose the course's domain"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_is_created(
    fast_app: FastAPI,
    content: ContentDirs,
    migrated_database: Database,
    changes: dict[str, str],
    message: str,
) -> None:
    (content.courses / "leftover").mkdir()  # a folder on disk that is no course
    a = signed_in(fast_app, make_person(migrated_database, "trainer"))
    refused(migrated_database, lambda: new_course(a, **changes), "new-course-errors", message)


def test_a_chinese_course_is_named_in_chinese_and_the_messages_are_translated(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    a = signed_in(fast_app, make_person(migrated_database, "trainer"))
    post(a, "/language", {"lang": "zh-CN", "next": "/trainer/authoring"})
    response = new_course(a, course_id="Bad Id", title="")
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "课程编号" in response.text
    assert "标题" in response.text
    response = new_course(a, course_id="tunnel-zh", title="隧道检查", lang="zh-CN", summary="隧道施工检查。")
    assert response.status_code == 303  # type: ignore[attr-defined]
    draft_id = int(response.headers["location"].rsplit("/", 1)[1])  # type: ignore[attr-defined]
    page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert 'id="draft-ok"' in page
    assert "title: 概述" in page
    assert "lang: zh-CN" in page


def test_an_inspector_or_manager_cannot_start_a_new_course(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    for role in ("inspector", "manager"):
        reader = signed_in(fast_app, make_person(migrated_database, role))
        assert new_course(reader).status_code == 403  # type: ignore[attr-defined]
    with migrated_database.session() as db:
        assert db.scalar(select(func.count()).select_from(ContentDraft)) == 0
