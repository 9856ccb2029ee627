"""The XSS corpus (tests/test_xss.py) pasted into a module draft through the authoring form:
into the body and the front-matter fields, over real HTTP. The author's preview, the reviewer's
page and, once a second trainer approves, the published module page must hold nothing a browser
could run (issue 18)."""

from __future__ import annotations

from collections import Counter

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests import test_authoring
from tests.conftest import make_person
from tests.test_authoring import form_fields, post, signed_in, start, wait_for
from tests.test_xss import PAYLOADS, _Scanner
from trainer.content.models import ContentDraft
from trainer.db import Database

pytestmark = pytest.mark.xdist_group("content_versions")  # publishes, as tests/test_authoring.py does
# Its fixtures, as tests/test_authoring.py's: no published version or image left behind.
clean_content_tables = test_authoring.clean_content_tables
fast_app = test_authoring.fast_app
MODULE = "/courses/demo-course/demo-first"

# The authoring page's own forms and fields: allowed, but counted, so a payload that smuggles in
# another one is still found.
_DRAFT_FORM = r"/trainer/authoring/drafts/\d+(?:/review|/images)?|/logout"
_OWN_FIELDS = {
    ("input", "csrf_token"), ("input", "title"), ("input", "estimated_minutes"), ("input", "regulations"),
    ("input", "tags"), ("input", "sample"), ("input", "image"), ("input", "alt_text"),
    ("textarea", "summary"), ("textarea", "objectives"), ("textarea", "practice"), ("textarea", "body"),
    ("textarea", "comment"),
}  # fmt: skip


class _AuthoringScanner(_Scanner):
    def __init__(self) -> None:
        super().__init__()
        self.own: Counter[str] = Counter()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if not any(name.startswith("on") or name in ("style", "formaction") for name in values):
            action = values.get("action") or ""
            if tag == "form" and values.get("method") == "post" and _fullmatch(_DRAFT_FORM, action):
                self.own[f"form {_shape(action)}"] += 1
                return
            if (tag, values.get("name")) in _OWN_FIELDS:
                self.own[f"{tag} {values.get('name')}"] += 1
                return
        super().handle_starttag(tag, attrs)


def _fullmatch(pattern: str, text: str) -> bool:
    import re

    return re.fullmatch(pattern, text) is not None


def _shape(action: str) -> str:
    return action.rsplit("/", 1)[1] if action.endswith(("/review", "/images", "/logout")) else "edit"


def scan(page: str) -> tuple[list[str], Counter[str]]:
    scanner = _AuthoringScanner()
    scanner.feed(page)
    return scanner.dangers, scanner.own


def test_the_corpus_pasted_into_the_editor_leaves_nothing_executable(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    assert len(PAYLOADS) >= 60
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "trainer")
    a, b = signed_in(fast_app, author), signed_in(fast_app, reviewer)
    reader = signed_in(fast_app, make_person(migrated_database, "inspector"))
    # What the pages hold when clean: their own forms, no danger.
    draft_id = start(a)
    clean = form_fields(a, draft_id)  # each payload goes into the module as it was
    dangers, author_form = scan(a.get(f"/trainer/authoring/drafts/{draft_id}").text)
    assert dangers == []
    post(a, f"/trainer/authoring/drafts/{draft_id}", {**form_fields(a, draft_id), "action": "submit"})
    dangers, review_form = scan(b.get(f"/trainer/authoring/drafts/{draft_id}").text)
    assert dangers == []
    assert review_form["textarea comment"] == 1
    post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"})
    dangers, module_form = scan(reader.get(MODULE).text)
    assert dangers == []
    assert module_form["form logout"] == 1
    course_form = scan(reader.get("/courses/demo-course").text)[1]

    def inert(client: TestClient, url: str, own: Counter[str], what: str) -> str:
        page = client.get(url).text
        dangers, found = scan(page)
        assert dangers == [], (what, dangers)
        assert found == own, (what, found - own)
        return page

    published = refused = 0
    for number, payload in enumerate(PAYLOADS):
        where = f"payload {number}: {payload!r}"
        draft_id = start(a)
        draft_url = f"/trainer/authoring/drafts/{draft_id}"
        marker = f"Payload number {number} is here."
        # Every field at once, even those the check refuses (a regulation code, the practice
        # block): the page shows each back, in the form and in the problems list.
        everything = {
            **clean,
            **dict.fromkeys(
                ("title", "summary", "objectives", "regulations", "tags", "estimated_minutes", "practice"),
                payload,
            ),
            "body": f"{marker}\n\n{payload}\n\n{clean['body']}",
        }
        assert post(a, draft_url, {**everything, "action": "save"}).status_code == 303, where
        inert(a, draft_url, author_form, where + " (every field, preview)")
        # Then what can be published: the text fields and the body; the body alone if the
        # check refuses those (a level-1 heading, a link to a missing file).
        for fields in (
            {
                **clean,
                "title": payload,
                "summary": payload,
                "objectives": payload,
                "body": everything["body"],
            },
            {**clean, "body": everything["body"]},
        ):
            response = post(a, draft_url, {**fields, "action": "submit"})
            if response.status_code == 303:
                break
            assert response.status_code == 422, where
            assert scan(response.text) == ([], author_form), where
        else:
            refused += 1
            inert(a, draft_url, author_form, where + " (refused, preview)")
            assert post(a, draft_url, {**clean, "action": "withdraw"}).status_code == 303
            continue
        page = inert(b, draft_url, review_form, where + " (review)")
        assert marker in page, where
        assert post(b, f"{draft_url}/review", {"action": "approve"}).status_code == 303, where
        wait_for(lambda: marker in reader.get(MODULE).text)  # noqa: B023 (called at once)
        inert(reader, MODULE, module_form, where + " (published module)")
        inert(reader, "/courses/demo-course", course_form, where + " (course page)")
        published += 1
    print(f"{published} payloads published, {refused} refused by the check")
    assert published >= len(PAYLOADS) - 5  # the check refuses only a few; the rest went live


def test_a_field_that_breaks_the_front_matter_does_not_lose_the_drafts_id(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    """Found by the corpus: a practice block that is not YAML made the saved text unreadable, and
    the next save took the id and language from that text, so they were lost for good."""
    a = signed_in(fast_app, make_person(migrated_database, "trainer"))
    draft_id = start(a, "demo-second", "zh-CN")
    fields = form_fields(a, draft_id)
    post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "practice": "[click](x)", "action": "save"})
    response = post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "submit"})
    assert response.status_code == 303
    with migrated_database.session() as db:
        draft = db.get(ContentDraft, draft_id)
        assert draft is not None
        assert draft.status == "submitted"
        assert "id: demo-second" in draft.text
        assert "lang: zh-CN" in draft.text
