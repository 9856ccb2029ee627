"""Tag names in the reader's language: question_bank/tags.yaml names every tag per language,
`trainer check` reports what is missing or left over, and pages show names, never codes."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ZH, ContentDirs, make_person, pass_exam, ready_for_exam, sign_in
from trainer.config import PROJECT_ROOT
from trainer.content.loader import load_library
from trainer.db import Database

TAGS = "question_bank/tags.yaml"
FIRST = "courses/demo-course/01-first.md"
SECOND = "courses/demo-course/02-second.md"
BANK = "question_bank/demo/ventilation.yaml"


def problems(content: ContentDirs, *, loads: bool = True) -> list[str]:
    library, found = load_library(content.courses, content.bank)
    assert (library is not None) == loads, [str(p) for p in found]
    return [str(p) for p in found if "can be drawn by the exam" not in p.message]


def test_the_fixture_names_every_tag(content: ContentDirs) -> None:
    library, _ = load_library(content.courses, content.bank)
    assert library is not None
    assert problems(content) == []
    assert library.tag_name("ventilation", "en") == "Ventilation"
    assert library.tag_name("ventilation", "zh-CN") == "矿井通风"


def test_a_name_missing_in_a_language_falls_back_to_english_then_any(content: ContentDirs) -> None:
    content.write(
        TAGS, "ventilation: {en: Ventilation}\nmethane: {zh-CN: 瓦斯}\ncase: {en: Cases, zh-CN: 案例}\n"
    )
    library, found = load_library(content.courses, content.bank)
    assert library is not None
    assert library.tag_name("ventilation", "zh-CN") == "Ventilation"
    assert library.tag_name("methane", "en") == "瓦斯"
    assert library.tag_name("unnamed", "en") == "unnamed"  # only a tag tags.yaml lacks shows its code
    shown = [str(p) for p in found]
    assert (
        f"{TAGS}:1: warning: tag 'ventilation' has no name in zh-CN; "
        "those readers see its name in another language" in shown
    )
    assert (
        f"{TAGS}:2: warning: tag 'methane' has no name in en; those readers see its name in another language"
        in shown
    )


def test_a_used_tag_without_a_name_is_a_warning_where_it_is_first_used(content: ContentDirs) -> None:
    content.edit(TAGS, "methane: {en: Methane, zh-CN: 瓦斯}\n", "")
    assert problems(content) == [
        f"{SECOND}:8: warning: tag 'methane' (used here) has no name in {TAGS}: readers see its code"
    ]
    content.edit(TAGS, "ventilation: {en: Ventilation, zh-CN: 矿井通风}\n", "")
    found = problems(content)
    # Used by both modules, their practice draw, the blueprint and the bank: one warning, at the
    # first place, counting the others.
    ventilation = [p for p in found if "'ventilation'" in p]
    assert len(ventilation) == 1, found
    assert re.fullmatch(
        r"courses/demo-course/01-first\.md:10: warning: tag 'ventilation' \(used here and \d+ more "
        r"place\(s\)\) has no name in question_bank/tags\.yaml: readers see its code",
        ventilation[0],
    ), ventilation


def test_a_name_for_no_tag_in_use_is_a_warning_at_its_line(content: ContentDirs) -> None:
    content.edit(
        TAGS,
        "case: {en: Case studies, zh-CN: 案例}\n",
        "case: {en: Case studies, zh-CN: 案例}\nventilaton: {en: Typo}\n",
    )
    found = problems(content)
    assert (
        f"{TAGS}:4: warning: 'ventilaton' names no tag in use (no module, question, blueprint or practice "
        "draw has it): a typo, or left over"
    ) in found


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "ventilation: {en: Ventilation, fr: Aération}\n",
            f"{TAGS}:1: 'fr' is not a language: use en or zh-CN",
        ),
        ("ventilation: {en: 12}\n", f"{TAGS}:1: en: must be text (put the name in quotes)"),
        (
            "ventilation: Ventilation\n",
            f"{TAGS}:1: must be a mapping of language to name, like {{en: Methane}}",
        ),
        (
            "Ventilation: {en: Ventilation}\n",
            f"{TAGS}:1: 'Ventilation' is not a tag "
            "(lowercase letters, digits and hyphens, like 'gas-alarms')",
        ),
        (
            "- ventilation\n",
            f"{TAGS}:1: must be a mapping of tag to its names, like `methane: {{en: Methane}}`",
        ),
        ("ventilation: {en: Ventilation\n", None),
    ],
)
def test_a_malformed_tags_file_is_an_error_with_its_line(
    content: ContentDirs, text: str, message: str | None
) -> None:
    content.write(TAGS, text)
    found = problems(content, loads=False)
    if message is None:
        assert any(p.startswith(f"{TAGS}:") and "invalid YAML" in p for p in found), found
    else:
        assert message in found, found


def test_no_tags_file_is_one_warning(content: ContentDirs) -> None:
    (content.bank / "tags.yaml").unlink()
    library, found = load_library(content.courses, content.bank)
    assert library is not None
    assert [str(p) for p in found if "can be drawn by the exam" not in p.message] == [
        f"{TAGS}: warning: missing: tags are shown by their codes; add the file with a name per language "
        "for every tag (like `methane: {en: Methane, zh-CN: 瓦斯}`)"
    ]
    assert library.tag_name("ventilation", "zh-CN") == "ventilation"


def test_tags_yaml_is_not_read_as_a_bank_file(content: ContentDirs) -> None:
    library, _ = load_library(content.courses, content.bank)
    assert library is not None
    assert all(q.source != TAGS for q in library.bank.questions.values())


def test_the_sample_library_names_every_tag_in_both_languages() -> None:
    library, found = load_library(PROJECT_ROOT / "courses", PROJECT_ROOT / "question_bank")
    assert library is not None
    assert not [str(p) for p in found if "tag" in p.message], [str(p) for p in found]
    used = {t for q in library.bank.questions.values() for t in q.tags}
    used |= {t for m in library.modules.values() for t in m.tags}
    assert used <= set(library.tags)
    for tag in used:
        assert set(library.tags[tag]) == {"en", "zh-CN"}, tag
    assert library.tag_name("methane", "zh-CN") == "瓦斯"


# -- pages show names -------------------------------------------------------------------------------


def test_module_and_course_pages_name_the_practice_and_exam_tags(client: TestClient) -> None:
    module = client.get("/courses/demo-course/demo-first").text
    practice = module[module.index('id="practice-title"') :]
    assert '<span class="tag">Ventilation</span>' in practice
    assert '<span class="tag">ventilation</span>' not in module
    zh = client.get("/courses/demo-course/demo-first", headers=ZH).text
    assert '<span class="tag">矿井通风</span>' in zh
    course = client.get("/courses/demo-course", headers=ZH).text
    assert '<span class="tag">矿井通风</span>' in course
    assert ">ventilation<" not in course


def test_results_and_trainer_pages_name_the_tags(client: TestClient, migrated_database: Database) -> None:
    headers, person = ready_for_exam(client, migrated_database)
    pass_exam(client, migrated_database, headers)
    sign_in(client, person)
    results = client.get("/me/results", headers=ZH).text
    mastery = results[results.index('id="mastery-title"') :]
    assert '<span class="tag">矿井通风</span>' in mastery
    assert '<span class="tag">ventilation</span>' not in mastery
    sign_in(client, make_person(migrated_database, "trainer", unit=None))
    for path in ("/trainer/content", "/trainer/items?course=demo-course", "/trainer/items/DEMO-0001"):
        page = client.get(path, headers=ZH).text
        assert '<span class="tag">矿井通风</span>' in page, path
        assert '<span class="tag">ventilation</span>' not in page, path
    by_topic = client.get("/trainer/tags", headers=ZH).text
    assert "矿井通风 <code>ventilation</code>" in by_topic


def test_a_by_topic_review_names_tags_and_regulations_in_the_readers_language(content: ContentDirs) -> None:
    from trainer.quizzes.views import _in_readers_language

    library, _ = load_library(content.courses, content.bank)
    assert library is not None
    view = {
        "questions": [],
        "breakdown": {
            "tags": [{"tag": "ventilation", "score": 1.0, "max": 2.0}],
            "regulations": [
                {"reg": "demo-law", "title": "Demo Safety Law", "score": 1.0, "max": 2.0},
                {"reg": "gone-law", "title": "Gone Law", "score": 0.0, "max": 1.0},
            ],
            "wrong": [],
        },
    }
    _in_readers_language(view, "zh-CN", library)
    assert view["breakdown"]["tags"][0]["name"] == "矿井通风"
    assert [r["title"] for r in view["breakdown"]["regulations"]] == ["示例安全法", "Gone Law"]
