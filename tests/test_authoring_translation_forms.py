"""Authoring in the browser (issue 18), the last forms: a course's translation (title, summary,
certification title) with the course's words beside each field, a numeric question's unit labels
in the question translation form, and a new scenario group with its first question. Real
database, real HTTP, as tests/test_authoring_files.py (whose helpers and clean-up this file
shares)."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests import test_authoring
from tests.conftest import ZH, ContentDirs, Person, make_person, token
from tests.test_authoring import post, signed_in, wait_for
from tests.test_authoring_files import (
    BANK,
    COURSE,
    _Form,
    approve,
    draft_text,
    question_form,
    save,
    start_file,
    textarea,
)
from trainer.app import create_app
from trainer.config import PROJECT_ROOT, Settings
from trainer.content import course_forms
from trainer.content.loader import load_library
from trainer.db import Database

pytestmark = pytest.mark.xdist_group("content_versions")  # see tests/test_authoring.py
clean_content_tables = test_authoring.clean_content_tables
fast_app = test_authoring.fast_app
TRANSLATION = "question_bank/demo/ventilation.zh-CN.yaml"


def form_fields(client: TestClient, url: str, action: str) -> dict[str, str]:
    page = client.get(url)
    assert page.status_code == 200, page.text[:500]
    parser = _Form(action)
    parser.feed(page.text)
    assert parser.fields
    return parser.fields


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """The lines that differ between two texts (the common head and tail cut off)."""
    old, new = before.split("\n"), after.split("\n")
    head = 0
    while head < min(len(old), len(new)) and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < min(len(old), len(new)) - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    return old[head : len(old) - tail], new[head : len(new) - tail]


def cast(app: FastAPI, database: Database) -> tuple[TestClient, TestClient, Person]:
    """An author and a reviewer (trainers, signed in) and an inspector."""
    a, b = (signed_in(app, make_person(database, "trainer")) for _ in range(2))
    return a, b, make_person(database, "inspector")


def refused(client: TestClient, url: str, data: dict[str, str], said: str, **kw: Any) -> str:
    """The form refused (422) with `said` on the page, which comes back as typed."""
    response = post(client, url, data, **kw)
    assert response.status_code == 422, (data, response.status_code)
    page = html.unescape(response.text)
    assert said in page, page[:3000]
    return page


def served_practice(
    client: TestClient, headers: dict[str, str], question_id: str, lang: str
) -> dict[str, Any]:
    """The question as an inspector's practice paper in `lang` serves it (practice draws at random)."""
    for _ in range(80):
        response = client.post(f"/api/v1/modules/demo-first/practice/attempts?lang={lang}", headers=headers)
        assert response.status_code in (200, 201), response.text
        attempt = response.json()
        client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers)
        served = {q["id"]: q for q in attempt["questions"]}
        if question_id in served:
            assert attempt["lang"] == lang
            return served[question_id]
    raise AssertionError(f"{question_id} was never drawn")


# -- a course's translation -------------------------------------------------------------------------


def test_a_course_translated_in_its_form_changes_one_line_and_is_served_in_chinese(
    fast_app: FastAPI, content: ContentDirs, migrated_database: Database
) -> None:
    a, b, inspector = cast(fast_app, migrated_database)
    i = signed_in(fast_app, inspector)
    on_disk = (content.courses / COURSE).read_text()
    draft_id = start_file(a, COURSE)
    url = f"/trainer/authoring/drafts/{draft_id}/course-translation?lang=zh-CN"
    action = f"/trainer/authoring/drafts/{draft_id}/course-translation"
    page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert f'href="{url}"' in page.replace("&amp;", "&")
    assert "course-translation?lang=en" not in page  # the course's own language is not translated
    # The course's own words beside each field; the fields hold the translation as written.
    page = a.get(url).text
    assert '<blockquote lang="en" class="source">Demo course</blockquote>' in page
    assert '<blockquote lang="en" class="source">Demo qualification</blockquote>' in page
    fields = form_fields(a, url, action)
    assert (fields["title"], fields["summary"], fields["certification_title"]) == (
        "示例课程",
        "测试用的小课程。",
        "示例资格",
    )
    assert "课程自身的文字显示在每个字段上方" in a.get(url, headers=ZH).text  # the page in Chinese
    # Sent back unchanged: the file byte for byte.
    assert post(a, url, fields).status_code == 303
    assert draft_text(migrated_database, draft_id) == on_disk
    # A summary without a title: said (in the reader's language), nothing saved.
    refused(a, url, {**fields, "title": " "}, "title: a translation needs its title")
    refused(a, url, {**fields, "title": ""}, "title：译文必须有标题", headers=ZH)
    assert draft_text(migrated_database, draft_id) == on_disk
    # Changed: only the language's line, one line (a summary's line breaks become spaces).
    fields.update(title="示例课程：修订版", summary="测试用的\r\n小课程。")
    assert post(a, url, fields).status_code == 303
    text = draft_text(migrated_database, draft_id)
    assert changed_lines(on_disk, text) == (
        ["  zh-CN: {title: 示例课程, summary: 测试用的小课程。, certification_title: 示例资格}"],
        ["  zh-CN: {title: 示例课程：修订版, summary: 测试用的 小课程。, certification_title: 示例资格}"],
    )
    assert form_fields(a, url, action)["title"] == "示例课程：修订版"  # the form shows what was saved
    # Not the course's language, no such language, someone else's draft, not a course draft.
    assert a.get(url.replace("zh-CN", "en")).status_code == 404
    assert a.get(url.replace("zh-CN", "fr")).status_code == 404
    assert b.get(url).status_code == 403
    assert post(b, url, {**fields, "title": "别人改的"}).status_code == 403
    assert i.get(url, follow_redirects=False).status_code == 403
    bank_draft = start_file(a, BANK)
    assert a.get(f"/trainer/authoring/drafts/{bank_draft}/course-translation?lang=zh-CN").status_code == 404
    assert draft_text(migrated_database, draft_id) == text
    # Checked clean, reviewed, published: inspectors read the new title in Chinese, the old in English.
    assert 'id="draft-ok"' in a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert save(a, draft_id, textarea(a, draft_id), "submit") == 303
    approve(b, draft_id)
    wait_for(lambda: "示例课程：修订版" in i.get("/courses/demo-course", headers=ZH).text)
    english = i.get("/courses/demo-course").text
    assert "Demo course" in english
    assert "示例课程：修订版" not in english
    # Submitted and published: the form is closed.
    assert a.get(url).status_code == 409


def test_a_course_translation_is_added_and_removed_by_its_form(
    make_settings: Callable[..., Settings], content: ContentDirs, migrated_database: Database
) -> None:
    # A course without translations: the form adds the block before `certification:`.
    original = (content.courses / COURSE).read_text()
    line = "  zh-CN: {title: 示例课程, summary: 测试用的小课程。, certification_title: 示例资格}\n"
    untranslated = original.replace("translations:\n" + line, "")
    assert untranslated != original
    content.write(f"courses/{COURSE}", untranslated)
    application = create_app(make_settings(content))
    try:
        _add_and_remove(application, migrated_database, original, untranslated)
    finally:
        application.state.content.close()
        application.state.database.dispose()


def _add_and_remove(fast_app: FastAPI, migrated_database: Database, original: str, untranslated: str) -> None:
    author = make_person(migrated_database, "trainer")
    a = signed_in(fast_app, author)
    draft_id = start_file(a, COURSE)
    url = f"/trainer/authoring/drafts/{draft_id}/course-translation?lang=zh-CN"
    fields = form_fields(a, url, f"/trainer/authoring/drafts/{draft_id}/course-translation")
    assert (fields["title"], fields["summary"], fields["certification_title"]) == ("", "", "")
    assert post(a, url, fields).status_code == 303  # nothing given, nothing written
    assert draft_text(migrated_database, draft_id) == untranslated
    assert (
        post(
            a, url, {"title": "示例课程", "summary": "测试用的小课程。", "certification_title": "示例资格"}
        ).status_code
        == 303
    )
    assert draft_text(migrated_database, draft_id) == original
    # Every field emptied: the entry goes, and with it the block.
    assert post(a, url, {"title": "", "summary": "", "certification_title": ""}).status_code == 303
    assert draft_text(migrated_database, draft_id) == untranslated


def test_every_sample_course_translation_comes_back_from_its_form_unchanged_and_a_changed_one_loads() -> None:
    courses = PROJECT_ROOT / "courses"
    overlay, covered = {}, 0
    for path in sorted(courses.glob("*/course.yaml")):
        text = changed = path.read_text(encoding="utf-8")
        source = course_forms.source_words(text)
        assert source is not None
        for lang in ("en", "zh-CN"):
            if lang == source[0]:
                continue
            fields = course_forms.translation_of(text, lang)
            assert fields is not None, path
            assert fields["title"], path
            covered += 1
            assert course_forms.put_translation(text, lang, fields) == text, path
            fields["title"] += "（修订）"
            changed = course_forms.put_translation(changed, lang, fields)
            assert len(changed_lines(text, changed)[1]) == 1, path
        overlay[path.relative_to(courses).as_posix()] = changed
    assert covered == len(overlay) >= 7
    library, problems = load_library(courses, PROJECT_ROOT / "question_bank", overlay=overlay)
    assert library is not None, [str(p) for p in problems if p.severity == "error"][:5]
    for course in library.courses.values():
        assert course.text_for("zh-CN").title.endswith("（修订）")
        assert not course.text_for("en").title.endswith("（修订）")


# -- unit labels in the question translation form ---------------------------------------------------


def test_a_numeric_questions_unit_labels_are_translated_in_its_form_and_served(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    a, b, inspector = cast(fast_app, migrated_database)
    draft_id = start_file(a, TRANSLATION)
    url = f"/trainer/authoring/drafts/{draft_id}/translation?id=DEMO-0004"
    action = f"/trainer/authoring/drafts/{draft_id}/translation"
    page = a.get(url).text
    # The source's units, in its order, beside each label's field.
    assert '<code lang="en">m3/min</code>' in page
    assert page.index('for="unit_label_0"><code lang="en">m3/min') < page.index(
        'for="unit_label_1"><code lang="en">m3/s'
    )
    fields = form_fields(a, url, action)
    fields.update(stem="风量为18 m3/s，换算成m3/min是多少？", unit_label_0="立方米/分钟", checked="on")
    assert post(a, url, fields).status_code == 303
    text = draft_text(migrated_database, draft_id)
    assert '    unit_labels: {"m3/min": "立方米/分钟"}\n' in text
    fields = form_fields(a, url, action)
    assert (fields["unit_label_0"], fields["unit_label_1"]) == ("立方米/分钟", "")
    fields["unit_label_1"] = "立方米/秒"
    assert post(a, url, fields).status_code == 303
    text = draft_text(migrated_database, draft_id)
    assert '    unit_labels: {"m3/min": "立方米/分钟", "m3/s": "立方米/秒"}\n' in text
    # Sent back unchanged: byte for byte.
    assert post(a, url, form_fields(a, url, action)).status_code == 303
    assert draft_text(migrated_database, draft_id) == text
    # A label that is another of the source's units, or one label for two units: said, nothing saved.
    refused(a, url, {**fields, "unit_label_0": "m3/s"}, "Unit label “m3/s” is another unit of the question")
    page = refused(
        a, url, {**fields, "unit_label_1": "立方米/分钟"}, "单位标签“立方米/分钟”同时给了两个单位", headers=ZH
    )
    assert 'value="立方米/分钟"' in page  # the form comes back as typed
    assert draft_text(migrated_database, draft_id) == text
    # Checked clean, reviewed, published: a Chinese paper names the units by their labels.
    assert 'id="draft-ok"' in a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert save(a, draft_id, textarea(a, draft_id), "submit") == 303
    approve(b, draft_id)

    def served() -> bool:
        found = fast_app.state.content.library.bank.translation("zh-CN", "DEMO-0004")
        return found is not None and found.model.unit_labels is not None and not found.stale

    wait_for(served)
    reader = TestClient(fast_app)
    headers = token(reader, inspector)
    question = served_practice(reader, headers, "DEMO-0004", "zh-CN")
    assert (question["unit"], question["units"]) == ("立方米/分钟", ["立方米/分钟", "立方米/秒"])
    assert "风量为18 m3/s" in question["stem_html"]
    english = served_practice(reader, headers, "DEMO-0004", "en")
    assert (english["unit"], english["units"]) == ("m3/min", ["m3/min", "m3/s"])


# -- a new scenario group ---------------------------------------------------------------------------


def test_a_new_scenario_group_with_its_first_question_is_added_by_its_form_and_served(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    a, b, inspector = cast(fast_app, migrated_database)
    draft_id = start_file(a, BANK)
    before = draft_text(migrated_database, draft_id)
    page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert 'id="add-scenario"' in page
    url, fields = question_form(a, draft_id, "type=scenario&first=single")
    assert "first_id" in fields
    assert "first_row_key_0" in fields
    assert "id" in fields
    assert 'id="first-question"' in a.get(url).text
    fields.update(
        id="DEMO-S02",
        tags="case",
        stem="A sensor at the face reads 1.2% methane.\r\nThe shift is about to start.",
        first_id="DEMO-S02-1",
        first_difficulty="2",
        first_stem="What does the inspector order first?",
        first_row_key_0="a",
        first_row_text_0="Power cut and people out",
        first_row_correct_0="on",
        first_row_key_1="b",
        first_row_text_1="Start the shift",
        first_row_feedback_1="Not over the limit.",
        first_explanation="Over 1.0% power is cut and people withdrawn.",
    )
    # Odd input: said, nothing saved.
    for change, message in (
        ({"first_id": ""}, "id: the group and its first question each need an id of their own."),
        ({"first_id": "DEMO-S02"}, "id: the group and its first question each need an id of their own."),
        ({"first_difficulty": "hard"}, "difficulty: “hard” is not a number."),
    ):
        page = refused(a, url, {**fields, **change}, message)
        assert 'value="Power cut and people out"' in page  # as typed
        assert draft_text(migrated_database, draft_id) == before
    refused(a, url, {**fields, "first_id": ""}, "题组和它的第一道题各需要一个自己的 id", headers=ZH)
    assert (
        a.get(f"/trainer/authoring/drafts/{draft_id}/question?type=scenario&first=scenario").status_code
        == 404
    )
    assert b.get(url).status_code == 403
    assert post(b, url, fields).status_code == 403
    assert draft_text(migrated_database, draft_id) == before
    # Saved: after the last question, every other line as written.
    assert post(a, url, fields).status_code == 303
    text = draft_text(migrated_database, draft_id)
    assert text == before.rstrip("\n") + "\n" + (
        "  - id: DEMO-S02\n"
        "    type: scenario\n"
        "    tags: [case]\n"
        "    stem: |-\n"
        "      A sensor at the face reads 1.2% methane.\n"
        "      The shift is about to start.\n"
        "    questions:\n"
        "      - id: DEMO-S02-1\n"
        "        type: single\n"
        "        difficulty: 2\n"
        "        stem: What does the inspector order first?\n"
        "        options:\n"
        '          - {key: a, text: "Power cut and people out", correct: true}\n'
        '          - {key: b, text: "Start the shift", feedback: "Not over the limit."}\n'
        '        explanation: "Over 1.0% power is cut and people withdrawn."\n'
    )
    page = a.get(f"/trainer/authoring/drafts/{draft_id}").text
    assert 'id="draft-ok"' in page
    assert 'id="question-DEMO-S02-1"' in page
    # The new group opens in its own form, and takes a second question there.
    group_url, group = question_form(a, draft_id, "id=DEMO-S02")
    assert post(a, group_url, group).status_code == 303
    assert draft_text(migrated_database, draft_id) == text
    second_url, second = question_form(a, draft_id, "type=truefalse&scenario=DEMO-S02")
    second.update(
        id="DEMO-S02-2", difficulty="1", stem="Work may go on while the reading is checked.", answer="false"
    )
    assert post(a, second_url, second).status_code == 303
    assert draft_text(migrated_database, draft_id).startswith(text.rstrip("\n"))
    # Reviewed and published: inspectors are served the group with its shared text.
    assert save(a, draft_id, textarea(a, draft_id), "submit") == 303
    approve(b, draft_id)
    wait_for(lambda: "DEMO-S02-2" in fast_app.state.content.library.bank.questions)
    reader = TestClient(fast_app)
    question = served_practice(reader, token(reader, inspector), "DEMO-S02-1", "en")
    assert question["scenario"]["id"] == "DEMO-S02"
    assert "reads 1.2% methane" in question["scenario"]["stem_html"]
    assert "What does the inspector order first?" in question["stem_html"]


def test_the_new_forms_pages_are_translated(fast_app: FastAPI, migrated_database: Database) -> None:
    a = signed_in(fast_app, make_person(migrated_database, "trainer"))
    course, bank, translation = start_file(a, COURSE), start_file(a, BANK), start_file(a, TRANSLATION)
    for url, english, chinese in (
        (
            f"/trainer/authoring/drafts/{course}/course-translation?lang=zh-CN",
            "Certification title",
            "资格名称",
        ),
        (
            f"/trainer/authoring/drafts/{bank}/question?type=scenario&first=numeric",
            "The group's first question",
            "题组的第一道题",
        ),
        (f"/trainer/authoring/drafts/{translation}/translation?id=DEMO-0004", "Unit labels", "单位标签"),
        (f"/trainer/authoring/drafts/{bank}", "Start a scenario group", "新建情景题组"),
    ):
        assert english in html.unescape(a.get(url).text), url
        assert chinese in html.unescape(a.get(url, headers=ZH).text), url
