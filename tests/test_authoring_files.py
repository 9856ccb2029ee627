"""Authoring in the browser, slice 2 (issue 18): drafts of a course's course.yaml and of question
bank files, as YAML text; checked with the draft in the library (file and line, as `trainer
check`), reviewed, published to every app process, kept in history, restored, exported and
imported. Real database, real HTTP, as tests/test_authoring.py (whose helpers and clean-up this
file shares)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from tests import test_authoring
from tests.conftest import ZH, ContentDirs, csrf_token, make_person, sign_in, token
from tests.test_authoring import cli, post, same_tree, signed_in, wait_for
from trainer.app import create_app
from trainer.audit import service as audit
from trainer.config import PROJECT_ROOT, Settings
from trainer.content import course_forms, publishing, question_forms, translation_forms
from trainer.content.loader import load_library
from trainer.content.models import ContentDraft, ContentVersion
from trainer.content.translations import translation_name
from trainer.content.yamlio import load_yaml
from trainer.db import Database

pytestmark = pytest.mark.xdist_group("content_versions")  # see tests/test_authoring.py
# Its fixtures: each test leaves no published version behind; an app polling every 0.2 s.
clean_content_tables = test_authoring.clean_content_tables
fast_app = test_authoring.fast_app
BANK = "question_bank/demo/ventilation.yaml"
COURSE = "demo-course/course.yaml"


def start_file(client: TestClient, path: str) -> int:
    response = post(client, "/trainer/authoring/drafts", {"path": path})
    assert response.status_code == 303, response.text[:300]
    return int(response.headers["location"].rsplit("/", 1)[1])


def textarea(client: TestClient, draft_id: int) -> str:
    """The YAML textarea as a browser would send it back (CRLF line ends, as browsers do)."""
    page = client.get(f"/trainer/authoring/drafts/{draft_id}").text
    match = re.search(r'<textarea id="text" name="text"[^>]*>\n(.*?)</textarea>', page, re.S)
    assert match, page[:2000]
    # An HTML parser reads CR LF as one line end; a browser sends every line end as CR LF.
    return html.unescape(match.group(1)).replace("\r\n", "\n").replace("\n", "\r\n")


def save(client: TestClient, draft_id: int, text: str, action: str = "save") -> int:
    return int(
        post(client, f"/trainer/authoring/drafts/{draft_id}", {"text": text, "action": action}).status_code
    )


def approve(reviewer: TestClient, draft_id: int) -> None:
    response = post(reviewer, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"})
    assert response.status_code == 303, response.text[:2000]
    assert response.headers["location"].endswith("done=published")


def draft_text(database: Database, draft_id: int) -> str:
    with database.session() as db:
        draft = db.get(ContentDraft, draft_id)
        assert draft is not None
        return draft.text


def test_a_question_file_edited_in_the_browser_is_served_by_a_second_app_process(
    make_settings: Callable[..., Settings], content: ContentDirs, migrated_database: Database
) -> None:
    settings = make_settings(content, content_poll_seconds=0.3)
    first, second = create_app(settings), create_app(settings)
    try:
        author, reviewer = (
            make_person(migrated_database, "trainer"),
            make_person(migrated_database, "trainer"),
        )
        inspector = make_person(migrated_database, "inspector")
        a, b = signed_in(first, author), signed_in(first, reviewer)
        on_disk = (content.bank / "demo" / "ventilation.yaml").read_text()
        assert f"<code>{BANK}</code>" in a.get("/trainer/authoring").text
        draft_id = start_file(a, BANK)
        assert start_file(a, BANK) == draft_id  # one open draft per author and file
        # Sent back untouched (with a browser's CRLF), the file stays byte for byte what it was.
        assert save(a, draft_id, textarea(a, draft_id)) == 303
        assert draft_text(migrated_database, draft_id) == on_disk
        # Every stem marked: whatever practice draws shows the edit.
        edited = textarea(a, draft_id).replace("stem: ", "stem: Edited in the browser. ")
        assert save(a, draft_id, edited) == 303
        page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
        assert 'id="draft-ok"' in page
        assert 'id="question-DEMO-0001"' in page  # the preview lists the file's questions, rendered
        assert "<p>Edited in the browser. Which air does an inspector check first" in page
        assert 'class="diff-add"' in page
        # The author cannot approve their own draft; the reviewer can once it is submitted.
        assert save(a, draft_id, edited, "submit") == 303
        assert (
            post(a, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"}).status_code == 403
        )
        response = post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"})
        assert response.headers["location"].endswith("done=published")
        with migrated_database.session() as db:
            version = db.scalars(select(ContentVersion).where(ContentVersion.path == BANK)).one()
            assert (version.kind, version.item_id, version.lang) == ("bank", "demo/ventilation", "en")
            assert version.text == edited.replace("\r\n", "\n")
            assert version.published_by == reviewer.id
        # The second process picks the publish up by itself; its inspectors are served the edit.
        wait_for(
            lambda: second.state.content.library.bank.questions["DEMO-0001"].model.stem.startswith("Edited")
        )
        reader = TestClient(second)
        practice = reader.post(
            "/api/v1/modules/demo-first/practice/attempts", headers=token(reader, inspector)
        )
        assert practice.status_code in (200, 201), practice.text
        stems = [q["stem_html"] for q in practice.json()["questions"]]
        assert stems
        assert all("Edited in the browser." in stem for stem in stems), stems
        # The file's history lists the version.
        history = b.get(f"/trainer/authoring/files?path={BANK}").text
        assert f"/trainer/authoring/versions/{version.id}" in history
    finally:
        for application in (first, second):
            application.state.content.close()
            application.state.database.dispose()


def test_the_approving_process_serves_a_publish_at_once_the_others_at_their_poll(
    make_settings: Callable[..., Settings], content: ContentDirs, migrated_database: Database
) -> None:
    """Found in the browser journey: after approving, the approver's own process went on serving
    the old library until its next poll (the authoring index did not list the module just
    published; a course draft would count questions just approved as missing). Approval now
    starts that process's poll at once; the other processes still pick the publish up at their
    own poll (here five minutes: never within this test)."""
    settings = make_settings(content, content_poll_seconds=300)
    first, second = create_app(settings), create_app(settings)
    try:
        a = signed_in(first, make_person(migrated_database, "trainer"))
        b = signed_in(first, make_person(migrated_database, "trainer"))
        path = "question_bank/demo/methane.yaml"
        draft_id = start_file(a, path)
        text = textarea(a, draft_id).replace("id: NEW-0001", "id: MT-0001")
        assert save(a, draft_id, text, "submit") == 303
        approve(b, draft_id)
        took = wait_for(lambda: "MT-0001" in first.state.content.library.bank.questions, seconds=10)
        assert took < 10
        assert "MT-0001" not in second.state.content.library.bank.questions
    finally:
        for application in (first, second):
            application.state.content.close()
            application.state.database.dispose()


def test_a_question_file_that_breaks_the_library_is_refused_with_its_line(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "trainer")
    a, b = signed_in(fast_app, author), signed_in(fast_app, reviewer)
    draft_id = start_file(a, BANK)
    text = textarea(a, draft_id)
    broken = text.replace("id: DEMO-0002", "id: DEMO-0001").replace(
        "reg: demo-law, clause", "reg: no-such-law, clause"
    )
    response = post(a, f"/trainer/authoring/drafts/{draft_id}", {"text": broken, "action": "submit"})
    assert response.status_code == 422
    page = html.unescape(response.text)
    assert f"{BANK}:13: unknown regulation 'no-such-law'" in page
    assert f"{BANK}:14: question id 'DEMO-0001' is already used" in page
    assert "cannot be submitted" in page
    assert draft_text(migrated_database, draft_id) == broken.replace("\r\n", "\n")  # kept, not submitted
    assert post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"}).status_code == 409
    # Every question kept out of exams: the course's blueprint could no longer be filled.
    practice_only = text.replace("lang: en}", "lang: en, use: practice}", 1)
    assert save(a, draft_id, practice_only, "submit") == 422
    page = html.unescape(a.get(f"/trainer/authoring/drafts/{draft_id}").text)
    assert (
        "courses/demo-course/course.yaml:20: blueprint row 1 (tags ventilation; difficulty 1-3) needs 3"
        in page
    )
    # Not YAML at all: the parser's line, nothing published.
    assert save(a, draft_id, "questions:\n  - id: [unclosed\n", "submit") == 422
    assert "question_bank/demo/ventilation.yaml:" in a.get(f"/trainer/authoring/drafts/{draft_id}").text
    with migrated_database.session() as db:
        assert db.scalar(select(func.count()).select_from(ContentVersion)) == 0
    # Fixed, it goes.
    assert save(a, draft_id, text, "submit") == 303


def test_an_unfillable_blueprint_cannot_be_submitted_and_the_page_names_the_row(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    author = make_person(migrated_database, "trainer")
    a = signed_in(fast_app, author)
    draft_id = start_file(a, COURSE)
    page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
    # The blueprint's row with the exam questions the bank has for it, as the draw check counts.
    assert re.search(r'<tr id="blueprint-row-1">.*?<td class="count">9 / 3</td>', page, re.S), page
    text = textarea(a, draft_id).replace("difficulty: [1, 3], count: 3}", "difficulty: [1, 3], count: 30}")
    response = post(a, f"/trainer/authoring/drafts/{draft_id}", {"text": text, "action": "submit"})
    assert response.status_code == 422
    page = html.unescape(response.text)
    assert (
        "courses/demo-course/course.yaml:20: blueprint row 1 (tags ventilation; difficulty 1-3) needs 30"
        in page
    )
    assert re.search(r'<tr id="blueprint-row-1" class="short">.*?<td class="count">9 / 30</td>', page, re.S)
    with migrated_database.session() as db:
        draft = db.get(ContentDraft, draft_id)
        assert draft is not None
        assert (draft.status, draft.kind, draft.item_id) == ("editing", "course", "demo-course")


def test_a_course_file_is_published_with_its_new_policy(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "admin")
    a, b = signed_in(fast_app, author), signed_in(fast_app, reviewer)
    draft_id = start_file(a, COURSE)
    text = textarea(a, draft_id).replace("time_limit_minutes: 30", "time_limit_minutes: 45")
    assert save(a, draft_id, text, "submit") == 303
    approve(b, draft_id)
    wait_for(
        lambda: (
            (certification := fast_app.state.content.library.courses["demo-course"].certification) is not None
            and certification.exam.time_limit_minutes == 45
        )
    )


def test_paths_that_are_not_drafted_content_are_refused_and_inspectors_see_nothing(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    trainer, inspector = (
        make_person(migrated_database, "trainer"),
        make_person(migrated_database, "inspector"),
    )
    a, i = signed_in(fast_app, trainer), signed_in(fast_app, inspector)
    for path in (
        "question_bank/regulations.yaml",
        "question_bank/tags.yaml",
        "question_bank/../courses/demo-course/course.yaml",
        "question_bank/demo/Ventilation.yaml",
        "question_bank/demo/ventilation.fr.yaml",
        "demo-course/01-first.md",
        "no-such-course/course.yaml",
        "/etc/passwd",
        f"question_bank/{'a' * 300}.yaml",
    ):
        assert post(a, "/trainer/authoring/drafts", {"path": path}).status_code == 404, path
    assert a.get("/trainer/authoring/files?path=question_bank/regulations.yaml").status_code == 404
    with migrated_database.session() as db:
        assert db.scalar(select(func.count()).select_from(ContentDraft)) == 0
    draft_id = start_file(a, BANK)
    form = {"csrf_token": csrf_token(i, "/courses"), "path": BANK}
    assert i.post("/trainer/authoring/drafts", data=form, follow_redirects=False).status_code == 403
    for url in (f"/trainer/authoring/files?path={BANK}", f"/trainer/authoring/drafts/{draft_id}"):
        assert i.get(url, follow_redirects=False).status_code == 403
    # A new question file starts from one question to replace, and loads.
    new_id = start_file(a, "question_bank/demo/roof-support.yaml")
    page = a.get(f"/trainer/authoring/drafts/{new_id}").text
    assert "NEW-0001" in page
    assert 'id="draft-ok"' in page


def test_history_restore_export_and_import_of_course_and_question_files(
    fast_app: FastAPI, content: ContentDirs, migrated_database: Database, database_url: str, tmp_path: Path
) -> None:
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "trainer")
    a, b = signed_in(fast_app, author), signed_in(fast_app, reviewer)
    bank_text = (content.bank / "demo" / "ventilation.yaml").read_text()
    # CRLF, no final newline, Chinese: kept exactly.
    v1_text = bank_text.replace("Intake air", "进风 (intake air)").replace("\n", "\r\n").rstrip()
    course_text = (
        (content.courses / COURSE).read_text().replace("time_limit_minutes: 30", "time_limit_minutes: 40")
    )
    with migrated_database.write() as db:
        v1 = publishing._publish(
            db, audit.SYSTEM, kind="bank", path=BANK, item_id="demo/ventilation", lang="en", text=v1_text,
            by=reviewer.id, draft_id=None,
        )  # fmt: skip
        v2 = publishing._publish(
            db, audit.SYSTEM, kind="bank", path=BANK, item_id="demo/ventilation", lang="en",
            text=bank_text.replace("Intake air", "Fresh intake air"), by=reviewer.id, draft_id=None,
        )  # fmt: skip
        publishing._publish(
            db, audit.SYSTEM, kind="course", path=COURSE, item_id="demo-course", lang="en", text=course_text,
            by=None, draft_id=None,
        )  # fmt: skip
        v1_id, v2_id = v1.id, v2.id
    history = a.get(f"/trainer/authoring/files?path={BANK}").text
    assert f"/trainer/authoring/versions/{v1_id}" in history
    assert f"/trainer/authoring/versions/{v2_id}" in history
    version_page = a.get(f"/trainer/authoring/versions/{v2_id}").text
    assert "Fresh intake air" in version_page
    assert f"<code>{BANK}</code>" in version_page
    # Restore version 1 through review.
    response = post(a, f"/trainer/authoring/versions/{v1_id}/restore", {})
    draft_id = int(response.headers["location"].rsplit("/", 1)[1])
    assert draft_text(migrated_database, draft_id) == v1_text
    page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert 'id="draft-ok"' in page
    post(a, f"/trainer/authoring/drafts/{draft_id}", {"text": textarea(a, draft_id), "action": "submit"})
    approve(b, draft_id)
    with migrated_database.session() as db:
        latest = db.scalars(
            select(ContentVersion).where(ContentVersion.path == BANK).order_by(ContentVersion.number.desc())
        ).first()
        assert latest is not None
        assert (latest.number, latest.text) == (3, v1_text)  # CRLF kept through the textarea
    wait_for(
        lambda: (
            fast_app.state.content.library.bank.questions["DEMO-0001"]
            .model.options[0]
            .text.startswith("进风")
        )
    )

    # Export writes the published texts byte for byte; import into a fresh database publishes them.
    exported = cli("content", "export", str(tmp_path / "one"), content=content, database_url=database_url)
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "one" / BANK).read_bytes() == v1_text.encode()
    assert (tmp_path / "one" / "courses" / COURSE).read_bytes() == course_text.encode()
    with migrated_database.write() as db:
        db.execute(delete(ContentVersion))
    imported = cli("content", "import", str(tmp_path / "one"), content=content, database_url=database_url)
    assert imported.returncode == 0, imported.stderr
    assert f"published {BANK}" in imported.stdout
    assert f"published courses/{COURSE}" in imported.stdout
    assert "2 file(s) published" in imported.stdout
    with migrated_database.session() as db:
        rows = db.execute(select(ContentVersion.path, ContentVersion.kind))
        kinds = {path: kind for path, kind in rows}  # noqa: C416 (Row objects, not pairs)
    assert kinds == {BANK: "bank", COURSE: "course"}
    again = cli("content", "import", str(tmp_path / "one"), content=content, database_url=database_url)
    assert "0 file(s) published" in again.stdout
    cli("content", "export", str(tmp_path / "two"), content=content, database_url=database_url)
    assert same_tree(tmp_path / "one", tmp_path / "two")
    # A broken question file: every problem printed with its line, nothing published.
    broken = tmp_path / "one" / BANK
    broken.write_bytes(broken.read_bytes().replace(b"type: single", b"type: singel", 1))
    refused = cli("content", "import", str(tmp_path / "one"), content=content, database_url=database_url)
    assert refused.returncode == 1
    assert f"{BANK}:" in refused.stderr
    assert "nothing imported" in refused.stderr
    with migrated_database.session() as db:
        assert (
            db.scalar(select(func.count()).select_from(ContentVersion).where(ContentVersion.path == BANK))
            == 1
        )


# -- one question in a form ------------------------------------------------------------------------


class _Form(HTMLParser):
    """The fields a browser would send for the form posting to `action` (no JavaScript)."""

    def __init__(self, action: str, form_id: str | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.action, self.form_id, self.inside, self.fields = action, form_id, False, {}  # type: ignore[var-annotated]
        self.textarea: str | None = None
        self.select: str | None = None
        self.first_option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action", "").startswith(self.action) and self.form_id in (None, a.get("id"))
        if not self.inside:
            return
        if tag == "input" and "name" in a:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields[a["name"]] = a.get("value", "on")
            else:
                self.fields[a["name"]] = a.get("value", "")
        elif tag == "textarea":
            self.textarea, self.fields[a["name"]] = a["name"], ""
        elif tag == "select":
            self.select, self.first_option = a["name"], None
        elif tag == "option" and self.select is not None:
            if self.first_option is None:
                self.first_option = a.get("value", "")
                self.fields.setdefault(self.select, self.first_option)
            if "selected" in a:
                self.fields[self.select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea" and self.textarea is not None:
            self.fields[self.textarea] = self.fields[self.textarea].removeprefix("\n").replace("\n", "\r\n")
            self.textarea = None
        elif tag == "select":
            self.select = None

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.fields[self.textarea] += data


def question_form(client: TestClient, draft_id: int, query: str) -> tuple[str, dict[str, str]]:
    url = f"/trainer/authoring/drafts/{draft_id}/question?{query}"
    page = client.get(url)
    assert page.status_code == 200, page.text[:500]
    parser = _Form(f"/trainer/authoring/drafts/{draft_id}/question")
    parser.feed(page.text)
    return url, parser.fields


def test_a_question_edited_in_its_form_changes_only_its_lines_and_is_served_after_approval(
    fast_app: FastAPI, content: ContentDirs, migrated_database: Database
) -> None:
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "trainer")
    inspector = make_person(migrated_database, "inspector")
    a, b = signed_in(fast_app, author), signed_in(fast_app, reviewer)
    on_disk = (content.bank / "demo" / "ventilation.yaml").read_text()
    draft_id = start_file(a, BANK)
    page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert f"/trainer/authoring/drafts/{draft_id}/question?id=DEMO-0003" in page
    assert (
        f"/trainer/authoring/drafts/{draft_id}/question?id=DEMO-S01" in page
    )  # its group, from its questions
    # Sent back unchanged, every type's form leaves the file byte for byte as it was.
    for question_id in (
        "DEMO-0001",
        "DEMO-0002",
        "DEMO-0003",
        "DEMO-0004",
        "DEMO-0005",
        "DEMO-0006",
        "DEMO-0007",
    ):
        url, fields = question_form(a, draft_id, f"id={question_id}")
        assert post(a, url, fields).status_code == 303, question_id
        assert draft_text(migrated_database, draft_id) == on_disk, question_id
    # A number that is not one: said, and nothing saved.
    url, fields = question_form(a, draft_id, "id=DEMO-0004")
    response = post(a, url, {**fields, "value": "about 1080"})
    assert response.status_code == 422
    assert "value: “about 1080” is not a number." in html.unescape(response.text)
    assert draft_text(migrated_database, draft_id) == on_disk
    # A true/false question edited: its stem, answer, use and a cited regulation chosen from the list.
    url, fields = question_form(a, draft_id, "id=DEMO-0003")
    assert fields["answer"] == "false"
    fields.update(
        stem="A stopped fan may be restarted once the gas has been checked.",
        answer="true",
        use="practice",
        ref_reg_0="demo-law",
        ref_clause_0="fans",
    )
    assert post(a, url, fields).status_code == 303
    edited = draft_text(migrated_database, draft_id)
    before, after = on_disk.split("\n"), edited.split("\n")
    question = next(i for i, line in enumerate(before) if "id: DEMO-0003" in line)
    following = next(i for i, line in enumerate(before) if "id: DEMO-0004" in line)
    assert after[:question] == before[:question]  # every line before the question, as it was
    assert after[-(len(before) - following) :] == before[following:]  # and every line after it
    assert after[question : -(len(before) - following)] == [
        "  - id: DEMO-0003",
        "    type: truefalse",
        "    difficulty: 1",
        "    use: practice",
        "    stem: A stopped fan may be restarted once the gas has been checked.",
        "    answer: true",
        "    explanation: Gas is checked before a fan is restarted.",
        '    refs: [{reg: demo-law, clause: "fans"}]',
    ]
    page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert 'id="draft-ok"' in page
    # A new question added with its form goes after the last one.
    url, fields = question_form(a, draft_id, "type=single")
    fields.update(
        id="DEMO-0008",
        difficulty="2",
        stem="Who measures airflow at the face?",
        row_key_0="a",
        row_text_0="The ventilation officer",
        row_correct_0="on",
        row_key_1="b",
        row_text_1="The canteen",
        row_feedback_1="Not their job.",
        explanation="The ventilation officer measures it every shift.",
    )
    assert post(a, url, fields).status_code == 303
    page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert 'id="question-DEMO-0008"' in page
    assert 'id="draft-ok"' in page
    assert draft_text(migrated_database, draft_id).startswith(edited.rstrip("\n"))
    # Reviewed and published: the practice quiz serves the edited question.
    assert (
        post(
            a, f"/trainer/authoring/drafts/{draft_id}", {"text": textarea(a, draft_id), "action": "submit"}
        ).status_code
        == 303
    )
    approve(b, draft_id)
    wait_for(lambda: "DEMO-0008" in fast_app.state.content.library.bank.questions)
    reader = TestClient(fast_app)
    headers = token(reader, inspector)
    for _ in range(60):  # practice draws two of the module's questions at random
        attempt = reader.post("/api/v1/modules/demo-first/practice/attempts", headers=headers).json()
        served = {q["id"]: q for q in attempt["questions"]}
        reader.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers)
        if "DEMO-0003" in served:
            assert "once the gas has been checked" in served["DEMO-0003"]["stem_html"]
            break
    else:
        raise AssertionError("DEMO-0003 was never drawn")


def test_a_new_question_form_offers_rows_for_four_options_and_an_edited_one_two_more(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    """Without JavaScript a form cannot grow: a new choice question (found in the browser
    journey) offered only two option rows, so a third option took a second save."""
    a = signed_in(fast_app, make_person(migrated_database, "trainer"))
    draft_id = start_file(a, BANK)
    for kind in ("single", "multi", "order", "match"):
        url, fields = question_form(a, draft_id, f"type={kind}")
        assert fields["rows"] == "4", kind
        assert {f"row_key_{i}" for i in range(4)} <= fields.keys()
        assert "row_key_4" not in fields
    url, fields = question_form(a, draft_id, "type=single")
    fields.update(
        id="DEMO-0009",
        stem="Who signs the fan record?",
        explanation="The ventilation officer, every shift.",
        **{f"row_key_{i}": key for i, key in enumerate("abc")},
        **{f"row_text_{i}": text for i, text in enumerate(("The officer", "A visitor", "Nobody"))},
        row_correct_0="on",
    )
    assert post(a, url, fields).status_code == 303
    text = draft_text(migrated_database, draft_id)
    assert '      - {key: c, text: "Nobody"}\n' in text, text[-400:]
    # A question with options: its own three rows and two spare ones.
    _, fields = question_form(a, draft_id, "id=DEMO-0009")
    assert fields["rows"] == "5"
    assert fields["row_text_2"] == "Nobody"
    _, fields = question_form(a, draft_id, "id=DEMO-0006")  # four items to put in order
    assert fields["rows"] == "6"


def test_the_question_form_is_for_the_drafts_author_only(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    author, other = make_person(migrated_database, "trainer"), make_person(migrated_database, "trainer")
    inspector = make_person(migrated_database, "inspector")
    a, b, i = signed_in(fast_app, author), signed_in(fast_app, other), signed_in(fast_app, inspector)
    draft_id = start_file(a, BANK)
    url, fields = question_form(a, draft_id, "id=DEMO-0001")
    before = draft_text(migrated_database, draft_id)
    assert b.get(url).status_code == 403
    assert post(b, url, {**fields, "stem": "Changed by someone else"}).status_code == 403
    assert i.get(url, follow_redirects=False).status_code == 403
    form = {"csrf_token": csrf_token(i, "/courses"), **fields}
    assert i.post(url, data=form, follow_redirects=False).status_code == 403
    assert (
        a.get(f"/trainer/authoring/drafts/{draft_id}/question?type=single&scenario=DEMO-0001").status_code
        == 404
    )
    assert a.get(f"/trainer/authoring/drafts/{draft_id}/question?id=NO-SUCH").status_code == 404
    assert a.get(f"/trainer/authoring/drafts/{draft_id}/question?type=scenario").status_code == 404
    course_draft = start_file(a, COURSE)
    assert a.get(f"/trainer/authoring/drafts/{course_draft}/question?type=single").status_code == 404
    # Submitted: the form is closed until changes are requested.
    assert save(a, draft_id, textarea(a, draft_id), "submit") == 303
    assert a.get(url).status_code == 409
    assert post(a, url, {**fields, "stem": "Too late"}).status_code == 409
    assert draft_text(migrated_database, draft_id) == before


def test_every_sample_question_a_form_covers_comes_back_from_its_form_unchanged() -> None:
    """The form of each question of the sample bank, sent back as it is, keeps the file byte for
    byte; composed anew, it reads back as the same question; and every one of them rewritten
    through its form (an explanation changed) still loads."""

    def stripped(value: object) -> object:  # a `|` block ends with a newline the reader strips
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, list):
            return [stripped(v) for v in value]
        if isinstance(value, dict):
            return {k: stripped(v) for k, v in value.items()}
        return value

    bank = PROJECT_ROOT / "question_bank"
    overlay, covered = {}, 0
    for path in sorted(bank.rglob("*.yaml")):
        if path.name in ("regulations.yaml", "tags.yaml") or translation_name(path.name) is not None:
            continue
        text = changed = path.read_text(encoding="utf-8")
        for question in question_forms.locate(text):
            if not question_forms.form_covers(question.data):
                continue
            covered += 1
            form = question_forms.form_of_question(question.data)
            assert question_forms.put_question(text, form, question.data["id"]) == text
            again = load_yaml("\n".join(question_forms.compose_question(form))).data[0]
            own = {k: v for k, v in question.data.items() if k != "questions"}  # a group's, without its own
            assert stripped(again) == stripped(own), question.data["id"]
            form.explanation = f"{form.explanation} (checked)".strip()
            changed = question_forms.put_question(changed, form, question.data["id"])
        overlay[f"question_bank/{path.relative_to(bank).as_posix()}"] = changed
    assert covered > 500  # every question, scenario groups and their questions too
    library, problems = load_library(PROJECT_ROOT / "courses", bank, overlay=overlay)
    assert library is not None, [str(p) for p in problems if p.severity == "error"][:5]


# -- the course form ---------------------------------------------------------------------------------


def course_form(client: TestClient, draft_id: int) -> dict[str, str]:
    parser = _Form(f"/trainer/authoring/drafts/{draft_id}", "course-form")
    parser.feed(client.get(f"/trainer/authoring/drafts/{draft_id}").text)
    assert parser.fields
    return parser.fields


def test_the_course_form_writes_module_order_policy_and_blueprint_and_counts_each_row(
    fast_app: FastAPI, content: ContentDirs, migrated_database: Database
) -> None:
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "trainer")
    inspector = make_person(migrated_database, "inspector")
    a, b, i = signed_in(fast_app, author), signed_in(fast_app, reviewer), signed_in(fast_app, inspector)
    on_disk = (content.courses / COURSE).read_text()
    draft_id = start_file(a, COURSE)
    fields, url = course_form(a, draft_id), f"/trainer/authoring/drafts/{draft_id}"
    assert fields["modules"] == "demo-first\r\ndemo-second"
    assert (fields["time_limit_minutes"], fields["pass_mark"], fields["review"]) == (
        "30",
        "0.8",
        "after_submit",
    )
    assert (fields["bp_tags_0"], fields["bp_low_0"], fields["bp_high_0"], fields["bp_count_0"]) == (
        "ventilation", "1", "3", "3",
    )  # fmt: skip
    page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert re.search(r'id="blueprint-form-row-1">.*?<td class="count">9 / 3</td>', page, re.S)
    # Sent back unchanged: the file byte for byte.
    assert post(a, url, {**fields, "action": "save"}).status_code == 303
    assert draft_text(migrated_database, draft_id) == on_disk
    # Not a number: said, nothing saved.
    response = post(
        a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "pass_mark": "most", "action": "save"}
    )
    assert response.status_code == 422
    assert "pass_mark: “most” is not a number." in html.unescape(response.text)
    assert draft_text(migrated_database, draft_id) == on_disk
    # An unfillable row: saved, shown short with its count, and the draft cannot be submitted.
    response = post(
        a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "bp_count_0": "30", "action": "submit"}
    )
    assert response.status_code == 422
    page = html.unescape(response.text)
    assert "courses/demo-course/course.yaml:20: blueprint row 1" in page
    assert re.search(r'id="blueprint-form-row-1" class="short">.*?<td class="count">9 / 30', page, re.S)
    # Module order, policy and a second row: only the two blocks change, the rest as written.
    fields.update(
        modules="demo-second\r\ndemo-first",
        title="Demo course: ventilation: yes",
        time_limit_minutes="45",
        bp_tags_1="case",
        bp_count_1="2",
        bp_count_0="3",
    )
    assert post(a, url, {**fields, "action": "save"}).status_code == 303
    text = draft_text(migrated_database, draft_id)
    assert "modules: [demo-second, demo-first]\n" in text
    assert (
        "      - {tags: [ventilation], difficulty: [1, 3], count: 3}\n      - {tags: [case], count: 2}\n"
        in text
    )
    assert 'title: "Demo course: ventilation: yes"\n' in text  # quoted where YAML needs it
    assert text.split("modules:")[0] == on_disk.split("modules:")[0].replace(
        "title: Demo course\n", 'title: "Demo course: ventilation: yes"\n'
    )
    assert "  zh-CN: {title: 示例课程, summary: 测试用的小课程。, certification_title: 示例资格}\n" in text
    page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert 'id="draft-ok"' in page
    assert re.search(r'id="blueprint-form-row-2">.*?<td class="count">2 / 2</td>', page, re.S)
    assert "可用 / 所需" in a.get(url, headers=ZH).text  # the form in Chinese too
    # Reviewed and published: inspectors see the new order and get the new time limit.
    assert post(a, url, {**fields, "action": "submit"}).status_code == 303
    approve(b, draft_id)

    def second_first() -> bool:
        course_page = i.get("/courses/demo-course").text
        return course_page.index("Methane monitoring") < course_page.index("Ventilation first steps")

    try:
        wait_for(second_first)
    except AssertionError:
        # Seen twice under heavy machine load on PostgreSQL and not reproduced since: say where
        # the publish got to (the process's generation and the database's, the library served).
        store = fast_app.state.content
        with migrated_database.session() as db:
            in_db = publishing.generation(db)
        served = [m.id for m in store.library.courses["demo-course"].modules]
        raise AssertionError(
            f"generation {store.published_generation} served, {in_db} published; modules {served}; "
            f"problems {[str(p) for p in store.problems]}; polling {store._polling}"
        ) from None
    certification = fast_app.state.content.library.courses["demo-course"].certification
    assert certification.exam.time_limit_minutes == 45
    assert [row.count for row in certification.exam.blueprint] == [3, 2]


def test_a_scenario_group_and_its_questions_in_their_forms(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    author = make_person(migrated_database, "trainer")
    a = signed_in(fast_app, author)
    draft_id = start_file(a, BANK)
    before = draft_text(migrated_database, draft_id)
    # Sent back unchanged: the file byte for byte.
    url, fields = question_form(a, draft_id, "id=DEMO-S01")
    assert post(a, url, fields).status_code == 303
    assert draft_text(migrated_database, draft_id) == before
    # The group's own text changed: its questions' lines stay as written.
    fields["stem"] = "A fan stopped during a shift change.\r\nNobody noticed for twenty minutes."
    assert post(a, url, fields).status_code == 303
    text = draft_text(migrated_database, draft_id)
    assert (
        "    stem: |-\n      A fan stopped during a shift change.\n      Nobody noticed for twenty minutes.\n"
        in text
    )
    assert text[text.index("      - id: DEMO-S01-1") :] == before[before.index("      - id: DEMO-S01-1") :]
    # A question added to the group goes after its last question, at its indentation.
    page = a.get(url).text
    assert 'id="sub-questions"' in page
    assert "DEMO-S01-2" in page
    new_url, new = question_form(a, draft_id, "type=truefalse&scenario=DEMO-S01")
    new.update(
        id="DEMO-S01-3",
        difficulty="2",
        stem="The fan may be restarted before gas is checked.",
        answer="false",
    )
    assert post(a, new_url, new).status_code == 303
    text = draft_text(migrated_database, draft_id)
    assert text.endswith(
        "        explanation: Stoppages are recorded.\n      - id: DEMO-S01-3\n        type: truefalse\n"
        "        difficulty: 2\n        stem: The fan may be restarted before gas is checked.\n"
        "        answer: false\n"
    )
    page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert 'id="draft-ok"' in page
    assert 'id="question-DEMO-S01-3"' in page
    # One of its questions edited in its own form.
    sub_url, sub = question_form(a, draft_id, "id=DEMO-S01-1")
    sub["row_text_1"] = "Nothing at all"
    assert post(a, sub_url, sub).status_code == 303
    assert '{key: b, text: "Nothing at all", feedback: "Gas may have built up."}' in draft_text(
        migrated_database, draft_id
    )


def test_a_question_translated_in_its_form_is_served_after_approval(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "trainer")
    a, b = signed_in(fast_app, author), signed_in(fast_app, reviewer)
    draft_id = start_file(a, "question_bank/demo/ventilation.zh-CN.yaml")  # no such file yet
    page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert 'id="draft-ok"' in page
    assert f"/trainer/authoring/drafts/{draft_id}/translation?id=DEMO-0001" in page
    url = f"/trainer/authoring/drafts/{draft_id}/translation?id=DEMO-0001"
    page = a.get(url).text
    assert "Which air does an inspector check first at a working face?" in page  # the source beside
    fields = {
        "stem": "检查人员在采掘工作面首先检查哪种风流？",
        "opt_text_a": "进风",
        "opt_text_b": "回风",
        "opt_feedback_b": "回风也要检查，但先查进风。",
        "opt_text_c": "压缩空气",
        "explanation": "进风流到达在工作面工作的人员。",
        "checked": "on",
    }
    assert post(a, url, fields).status_code == 303
    text = draft_text(migrated_database, draft_id)
    hash_line = re.search(r"    source: (\w+)\n", text)
    assert hash_line, text
    assert text.startswith("lang: zh-CN\nquestions:\n  DEMO-0001:\n")
    assert '      b: {text: "回风", feedback: "回风也要检查，但先查进风。"}\n' in text
    # The form shows what was saved; sent back unchanged, the file is byte for byte the same.
    parser = _Form(f"/trainer/authoring/drafts/{draft_id}/translation")
    parser.feed(a.get(url).text)
    assert parser.fields["stem"] == "检查人员在采掘工作面首先检查哪种风流？"
    assert parser.fields["checked"] == "on"
    assert post(a, url, parser.fields).status_code == 303
    assert draft_text(migrated_database, draft_id) == text
    # A second entry goes after the first; an id not in the source file is refused.
    url2 = f"/trainer/authoring/drafts/{draft_id}/translation?id=DEMO-0003"
    assert (
        post(a, url2, {"stem": "风机停止后，可以不先检查瓦斯就重新启动。", "checked": "on"}).status_code
        == 303
    )
    assert "\n  DEMO-0003:\n" in draft_text(migrated_database, draft_id)
    assert a.get(f"/trainer/authoring/drafts/{draft_id}/translation?id=NO-SUCH").status_code == 404
    assert b.get(url).status_code == 403
    bank_draft = start_file(a, BANK)
    assert a.get(f"/trainer/authoring/drafts/{bank_draft}/translation?id=DEMO-0001").status_code == 404
    page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert 'id="draft-ok"' in page
    assert save(a, draft_id, textarea(a, draft_id), "submit") == 303
    approve(b, draft_id)

    def served() -> bool:
        found = fast_app.state.content.library.bank.translation("zh-CN", "DEMO-0001")
        return found is not None and found.model.stem == "检查人员在采掘工作面首先检查哪种风流？"

    wait_for(served)  # stamped with the source's hash: served, not stale


def test_every_sample_translation_entry_a_form_covers_comes_back_from_its_form_unchanged() -> None:
    courses, bank_dir = PROJECT_ROOT / "courses", PROJECT_ROOT / "question_bank"
    library, _ = load_library(courses, bank_dir)
    assert library is not None
    bank, overlay, covered, labelled = library.bank, {}, 0, 0
    for path in sorted(bank_dir.rglob("*.yaml")):
        if translation_name(path.name) is None:
            continue
        text = changed = path.read_text(encoding="utf-8")
        found = translation_forms.entries(text)
        assert found is not None, path
        for entry in found:
            if not translation_forms.covers(entry.data):
                continue
            covered += 1
            qid = entry.question_id
            model = bank.questions[qid].model if qid in bank.questions else bank.scenarios[qid]
            form = translation_forms.form_of_entry(entry.data)
            assert translation_forms.put_entry(text, qid, form, model) == text, qid
            form.explanation = f"{form.explanation}（已核对）".strip()
            labelled += bool(form.unit_labels)  # a numeric question's unit labels, by source unit
            form.unit_labels = {unit: f"{label}（核）" for unit, label in form.unit_labels.items()}
            changed = translation_forms.put_entry(changed, qid, form, model)
        overlay[f"question_bank/{path.relative_to(bank_dir).as_posix()}"] = changed
    assert covered > 450
    assert labelled >= 20
    library, problems = load_library(courses, bank_dir, overlay=overlay)
    assert library is not None, [str(p) for p in problems if p.severity == "error"][:5]
    labels = [
        label
        for entries in library.bank.translations.values()
        for entry in entries.values()
        for label in (getattr(entry.model, "unit_labels", None) or {}).values()
    ]
    assert len(labels) >= labelled
    assert all(label.endswith("（核）") for label in labels)


def test_odd_input_to_every_new_form_is_refused_or_saved_never_a_server_error(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    author = make_person(migrated_database, "trainer")
    a = TestClient(fast_app, raise_server_exceptions=False)  # a 5xx shows as its status here
    sign_in(a, author)
    bank, course = start_file(a, BANK), start_file(a, COURSE)
    translation = start_file(a, "question_bank/demo/ventilation.zh-CN.yaml")
    odd = [
        "",
        " ",
        "x" * 30_000,
        "1e999",
        "nan",
        "-1",
        "99999999999999999999",
        "{[",
        "a: b",
        "引号\"'\\",
        "\u202e",
    ]
    urls = [
        f"/trainer/authoring/drafts/{bank}/question?id=DEMO-0004",
        f"/trainer/authoring/drafts/{bank}/question?id=DEMO-0001",
        f"/trainer/authoring/drafts/{bank}/question?id=DEMO-S01",
        f"/trainer/authoring/drafts/{bank}/question?type=match",
        f"/trainer/authoring/drafts/{bank}/question?type=order&scenario=DEMO-S01",
        f"/trainer/authoring/drafts/{translation}/translation?id=DEMO-0007",
        f"/trainer/authoring/drafts/{translation}/translation?id=DEMO-0004",
        f"/trainer/authoring/drafts/{bank}/question?type=scenario&first=numeric",
        f"/trainer/authoring/drafts/{bank}/question?type=scenario&first=match",
        f"/trainer/authoring/drafts/{course}/course-translation?lang=zh-CN",
        f"/trainer/authoring/drafts/{course}",
    ]
    names = [
        "id",
        "difficulty",
        "stem",
        "value",
        "tolerance",
        "units",
        "rows",
        "row_key_0",
        "row_text_0",
        "ref_rows",
        "ref_reg_0",
        "ref_clause_0",
        "use",
        "scoring",
        "answer",
        "accept",
        "pair_left_0",
        "distractor_0",
        "modules",
        "pass_mark",
        "bp_rows",
        "bp_low_0",
        "bp_count_0",
        "review",
        "unit_label_0",
        "unit_label_1",
        "first_id",
        "first_stem",
        "first_value",
        "first_units",
        "first_rows",
        "first_row_key_0",
        "first_difficulty",
        "title",
        "summary",
        "certification_title",
    ]
    for url in urls:
        for value in odd:
            data = dict.fromkeys(names, value)
            if url.endswith(f"/drafts/{course}"):
                data.update(editor="course", action="save")
            status = post(a, url, data).status_code
            assert status < 500, (url, value[:20], status)
    # Whatever was saved, the drafts' pages still show (with the problems, if any).
    for draft_id in (bank, course, translation):
        assert a.get(f"/trainer/authoring/drafts/{draft_id}").status_code == 200


def test_every_sample_course_comes_back_from_its_form_unchanged_and_a_changed_one_loads() -> None:
    courses = PROJECT_ROOT / "courses"
    overlay = {}
    for path in sorted(courses.glob("*/course.yaml")):
        text = path.read_text(encoding="utf-8")
        form = course_forms.form_of_course(text)
        assert form is not None
        assert form.has_certification, path
        assert course_forms.compose_course(form, text) == text, path
        form.title, form.fields["time_limit_minutes"] = f"{form.title}: revised", "59"
        form.rows.append(course_forms.BlueprintRow())  # an empty row is left out
        composed = course_forms.compose_course(form, text)
        overlay[path.relative_to(courses).as_posix()] = composed
        # The certification block was rewritten; its comments are still on their fields' lines.
        for line in text.split("\n"):
            if " # " in line:
                field, comment = line.split(":", 1)[0], line[line.index(" # ") :].strip()
                assert any(k.startswith(field) and k.rstrip().endswith(comment) for k in composed.split("\n"))
    library, problems = load_library(courses, PROJECT_ROOT / "question_bank", overlay=overlay)
    assert library is not None, [str(p) for p in problems if p.severity == "error"][:5]
    for course in library.courses.values():
        assert course.text_for(course.lang).title.endswith(": revised")
        assert course.certification is not None
        assert course.certification.exam.time_limit_minutes == 59


COMMENTED = """id: demo-course
title: Demo course
domain: coal
lang: en
summary: A small course used by the tests.
modules: [demo-first, demo-second]
certification:
  # Agreed with the provincial centre, 2026.
  title: Demo qualification   # as printed on the certificate
  requires: all-modules
  exam:
    time_limit_minutes: 30         # 10 questions, 3 minutes each
    pass_mark: 0.8
    # two tries, then a day's wait
    max_attempts: 2
    retake_after_hours: 24
    review: after_submit
    blueprint:
      # ventilation first: the biggest share of accidents
      - {tags: [ventilation], difficulty: [1, 3], count: 3}   # all from the sample bank
      - {tags: ["#hash"], count: 1}
  validity_months: 36
  renewal_window_days: 90
  grace_days: 60  # "grace", not "valid"
"""


def test_the_course_form_keeps_the_comments_of_the_certification_block_it_rewrites() -> None:
    form = course_forms.form_of_course(COMMENTED)
    assert form is not None
    assert form.has_certification
    form.fields["pass_mark"], form.fields["retake_after_hours"] = "0.75", ""  # one changed, one removed
    form.rows[0].count = "4"
    composed = course_forms.compose_course(form, COMMENTED)
    block = composed[composed.index("certification:") :]
    assert block == (
        "certification:\n"
        "  # Agreed with the provincial centre, 2026.\n"
        "  title: Demo qualification   # as printed on the certificate\n"
        "  requires: all-modules\n"
        "  exam:\n"
        "    time_limit_minutes: 30         # 10 questions, 3 minutes each\n"
        "    pass_mark: 0.75\n"
        "    # two tries, then a day's wait\n"
        "    max_attempts: 2\n"
        "    review: after_submit\n"
        "    blueprint:\n"
        "      # ventilation first: the biggest share of accidents\n"
        "      - {tags: [ventilation], difficulty: [1, 3], count: 4}   # all from the sample bank\n"
        '      - {tags: ["#hash"], count: 1}\n'
        "  validity_months: 36\n"
        "  renewal_window_days: 90\n"
        '  grace_days: 60  # "grace", not "valid"\n'
    )
    assert course_forms.form_of_course(composed) is not None
