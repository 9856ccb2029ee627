"""Every kind of content mistake is reported with its file and line, and blocks the library."""

from __future__ import annotations

import pytest

from tests.conftest import ContentDirs
from trainer.content.loader import load_library

FIRST = "courses/demo-course/01-first.md"
SECOND = "courses/demo-course/02-second.md"
COURSE = "courses/demo-course/course.yaml"


def problems(content: ContentDirs, *, expect_library: bool = False) -> list[str]:
    library, found = load_library(content.courses, content.bank)
    assert (library is not None) == expect_library, [str(p) for p in found]
    return [str(p) for p in found]


def test_fixture_library_is_clean(content: ContentDirs) -> None:
    # Its questions are for both exam and practice (too few to split): tests/test_pools.py checks
    # those warnings.
    found = problems(content, expect_library=True)
    assert [p for p in found if "can be drawn by the exam" not in p] == []


def test_duplicate_module_id(content: ContentDirs) -> None:
    content.edit(SECOND, "id: demo-second", "id: demo-first")
    found = problems(content)
    assert f"{SECOND}:2: id 'demo-first' (en) is already used by {FIRST}" in found


def test_unknown_key_in_front_matter(content: ContentDirs) -> None:
    content.edit(FIRST, "estimated_minutes: 20", "estimated_minutes: 20\nestimated_time: 20")
    assert f"{FIRST}:7: estimated_time: unknown key (check the spelling against the format)" in problems(
        content
    )


def test_unknown_key_in_course_yaml(content: ContentDirs) -> None:
    content.edit(COURSE, "    pass_mark: 0.8", "    pass-mark: 0.8")
    found = problems(content)
    assert (
        f"{COURSE}:15: certification.exam.pass-mark: unknown key (check the spelling against the format)"
        in found
    )
    assert f"{COURSE}:13: certification.exam.pass_mark: required key is missing" in found


def test_bad_yaml_syntax(content: ContentDirs) -> None:
    content.edit(FIRST, "tags: [ventilation]", "tags: [ventilation")
    found = problems(content)
    assert len(found) == 1
    assert found[0].startswith(f"{FIRST}:11: invalid YAML")


def test_bad_yaml_in_course_file(content: ContentDirs) -> None:
    content.edit(COURSE, "domain: coal", "domain: coal: mines")
    (found,) = problems(content)
    assert found.startswith(f"{COURSE}:3: invalid YAML")


def test_yaml_repeated_key(content: ContentDirs) -> None:
    content.edit(FIRST, "lang: en", "lang: en\nlang: en")
    assert f"{FIRST}:5: invalid YAML: key 'lang' appears twice in the same mapping" not in problems(content)
    assert any(p.startswith(f"{FIRST}:5:") and "appears twice" in p for p in problems(content))


def test_yes_is_not_a_boolean(content: ContentDirs) -> None:
    content.edit(FIRST, "sample: true", "sample: yes")
    assert f"{FIRST}:14: sample: must be true or false (yes/no/on/off are not accepted)" in problems(content)


def test_number_where_text_is_expected(content: ContentDirs) -> None:
    content.edit("question_bank/regulations.yaml", 'edition: "2021"', "edition: 2021")
    found = problems(content)
    assert "question_bank/regulations.yaml:4: edition: must be text (put the value in quotes)" in found


def test_unknown_regulation(content: ContentDirs) -> None:
    content.edit(SECOND, "regulations: [demo-law, other-rule]", "regulations: [demo-law, no-such-law]")
    found = problems(content)
    assert (
        f"{SECOND}:7: unknown regulation 'no-such-law': "
        "add it to question_bank/regulations.yaml or fix the code" in found
    )


def test_missing_image(content: ContentDirs) -> None:
    (content.course / "assets" / "airflow.svg").unlink()
    assert f"{FIRST}:22: 'assets/airflow.svg' does not exist" in problems(content)


def test_image_without_alt_text(content: ContentDirs) -> None:
    content.edit(FIRST, "![A diagram of airflow through a mine]", "![]")
    assert any(p.startswith(f"{FIRST}:22: an image needs alt text") for p in problems(content))


def test_image_outside_the_assets_folder(content: ContentDirs) -> None:
    content.edit(FIRST, "(assets/airflow.svg)", "(../../../question_bank/regulations.yaml)")
    found = problems(content)
    assert any(
        p.startswith(f"{FIRST}:22: '../../../question_bank/regulations.yaml' is outside") for p in found
    )


def test_link_to_missing_module_file(content: ContentDirs) -> None:
    content.edit(FIRST, "(02-second.md#next-steps)", "(03-third.md)")
    assert f"{FIRST}:29: link to '03-third.md': no module file there" in problems(content)


def test_module_listed_but_absent(content: ContentDirs) -> None:
    content.edit(
        COURSE, "modules: [demo-first, demo-second]", "modules: [demo-first, demo-second, demo-third]"
    )
    found = problems(content)
    assert f"{COURSE}:7: module 'demo-third' is listed but no file in this folder has that id" in found


def test_module_listed_twice(content: ContentDirs) -> None:
    content.edit(COURSE, "modules: [demo-first, demo-second]", "modules: [demo-first, demo-first]")
    assert f"{COURSE}:7: modules: module 'demo-first' is listed twice" in problems(content)


def test_course_id_must_match_folder(content: ContentDirs) -> None:
    content.edit(COURSE, "id: demo-course", "id: other-course")
    assert f"{COURSE}:1: id 'other-course' must equal the folder name 'demo-course'" in problems(content)


def test_unknown_domain(content: ContentDirs) -> None:
    content.edit(COURSE, "domain: coal", "domain: mining")
    found = problems(content)
    assert any(p.startswith(f"{COURSE}:3: domain: must be 'coal', 'gas'") for p in found), found


def test_level_one_heading(content: ContentDirs) -> None:
    content.edit(FIRST, "## Why airflow matters", "# Why airflow matters")
    assert any(p.startswith(f"{FIRST}:18: no level-1 heading") for p in problems(content))


def test_unknown_call_out(content: ContentDirs) -> None:
    content.edit(FIRST, '!!! regulation "The rule"', '!!! tip "The rule"')
    assert any(p.startswith(f"{FIRST}:24: unknown call-out 'tip'") for p in problems(content))


def test_missing_front_matter(content: ContentDirs) -> None:
    content.write(SECOND, "Just text, no front matter.\n")
    found = problems(content)
    assert f"{SECOND}:1: a module starts with front matter between two '---' lines" in found


def test_translation_language_must_match_file_name(content: ContentDirs) -> None:
    content.edit("courses/demo-course/01-first.zh-CN.md", "lang: zh-CN", "lang: en")
    found = problems(content)
    assert any(
        p.startswith("courses/demo-course/01-first.zh-CN.md:4: lang 'en' does not match") for p in found
    )


def test_missing_regulations_file(content: ContentDirs) -> None:
    (content.bank / "regulations.yaml").unlink()
    found = problems(content)
    assert "question_bank/regulations.yaml: missing: the list of regulation codes that content cites" in found


def test_file_that_is_not_utf8(content: ContentDirs) -> None:
    (content.course / "02-second.md").write_bytes("---\nid: x\n---\n".encode("utf-16"))
    assert f"{SECOND}: not UTF-8 text; save the file as UTF-8" in problems(content)


def test_effective_date_must_be_a_date(content: ContentDirs) -> None:
    content.edit("question_bank/regulations.yaml", 'effective: "2021-09-01"', 'effective: "2021-13-01"')
    found = problems(content)
    assert any(p.startswith("question_bank/regulations.yaml:1:") and "not a date" in p for p in found), found


def test_several_problems_are_all_reported(content: ContentDirs) -> None:
    content.edit(FIRST, "sample: true", "sample: no")
    content.edit(SECOND, "regulations: [demo-law, other-rule]", "regulations: [nope]")
    content.edit(COURSE, "summary: A small", "summery: A small")
    found = problems(content)
    assert len(found) >= 3
    assert {p.split(":")[0] for p in found} >= {FIRST, SECOND, COURSE}


@pytest.mark.parametrize(
    ("body", "warning"),
    [
        ("Text with <b>raw</b> HTML.", "raw HTML is not rendered: it is shown as text"),
        ("[click](javascript:alert(1))", "'javascript:' links are removed from the page"),
    ],
)
def test_unsafe_markup_is_a_warning_not_an_error(content: ContentDirs, body: str, warning: str) -> None:
    content.edit(SECOND, "Sensors watch methane at the face.", body)
    found = problems(content, expect_library=True)
    assert any(warning in p and p.startswith(f"{SECOND}:") and "warning:" in p for p in found), found


def test_unlisted_module_is_a_warning(content: ContentDirs) -> None:
    content.write(
        "courses/demo-course/03-draft.md",
        (content.course / "02-second.md").read_text().replace("id: demo-second", "id: demo-draft"),
    )
    found = problems(content, expect_library=True)
    assert any("module 'demo-draft' is not listed in course.yaml" in p for p in found)
