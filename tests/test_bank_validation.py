"""Question-bank files: every mistake named with file and line; every draw proven fillable."""

from __future__ import annotations

from tests.conftest import ContentDirs
from trainer.content.bank import fill
from trainer.content.loader import load_library

BANK = "question_bank/demo/ventilation.yaml"
COURSE = "courses/demo-course/course.yaml"


def problems(content: ContentDirs, *, expect_library: bool = False) -> list[str]:
    library, found = load_library(content.courses, content.bank)
    assert (library is not None) == expect_library, [str(p) for p in found]
    return [str(p) for p in found]


def test_the_fixture_bank_loads_with_every_type(content: ContentDirs) -> None:
    library, found = load_library(content.courses, content.bank)
    # The fixture is too small to split into exam and practice pools; tests/test_pools.py checks
    # the warnings about its shared questions.
    assert [str(p) for p in found if "can be drawn by the exam" not in p.message] == []
    assert library is not None
    bank = library.bank
    assert {q.type for q in bank.questions.values()} == {
        "single",
        "multi",
        "truefalse",
        "numeric",
        "text",
        "order",
        "match",
    }
    assert set(bank.scenarios) == {"DEMO-S01"}
    sub = bank.questions["DEMO-S01-1"]
    assert sub.group == "DEMO-S01"
    assert sub.tags == {"ventilation", "case"}  # file defaults and the scenario's own tags
    assert sub.domain == "coal"
    assert bank.questions["DEMO-0001"].line == 4
    assert bank.questions["DEMO-0001"].sample


def test_two_correct_options_in_a_single_choice(content: ContentDirs) -> None:
    content.edit(
        BANK, '{key: b, text: "Return air", feedback', '{key: b, text: "Return air", correct: true, feedback'
    )
    found = problems(content)
    assert any(p.startswith(f"{BANK}:4:") and "exactly one option with correct: true" in p for p in found), (
        found
    )


def test_unknown_question_type(content: ContentDirs) -> None:
    content.edit(BANK, "type: truefalse\n    difficulty: 1", "type: yesno\n    difficulty: 1")
    found = problems(content)
    assert any(p.startswith(f"{BANK}:25:") and "yesno" in p for p in found), found


def test_yes_is_not_an_answer(content: ContentDirs) -> None:
    content.edit(BANK, "answer: false", "answer: no")
    assert f"{BANK}:29: answer: must be true or false (yes/no/on/off are not accepted)" in problems(content)


def test_duplicate_question_id(content: ContentDirs) -> None:
    content.edit(BANK, "id: DEMO-0002", "id: DEMO-0001")
    assert f"{BANK}:14: question id 'DEMO-0001' is already used in {BANK}" in problems(content)


def test_duplicate_id_across_files(content: ContentDirs) -> None:
    content.write(
        "question_bank/demo/more.yaml",
        "defaults: {domain: coal}\nquestions:\n"
        "  - {id: DEMO-0003, type: truefalse, stem: x, answer: true, explanation: y}\n",
    )
    found = problems(content)
    # Files are read in name order: the later one is told.
    assert f"{BANK}:25: question id 'DEMO-0003' is already used in question_bank/demo/more.yaml" in found


def test_unknown_regulation_in_refs(content: ContentDirs) -> None:
    content.edit(BANK, "refs: [{reg: demo-law}]", "refs: [{reg: no-such-law}]")
    found = problems(content)
    assert any(p.startswith(f"{BANK}:24: unknown regulation 'no-such-law'") for p in found), found


def test_bad_tolerance(content: ContentDirs) -> None:
    content.edit(BANK, 'tolerance: "2%"', 'tolerance: "two percent"')
    assert any(p.startswith(f"{BANK}:") and "percentage like" in p for p in problems(content))


def test_unknown_key_in_a_question(content: ContentDirs) -> None:
    content.edit(
        BANK,
        "    scoring: partial\n    stem: What does airflow",
        "    scoring: partial\n    hint: x\n    stem: What does airflow",
    )
    assert any(
        p.startswith(f"{BANK}:17: questions.1.hint: unknown key") or "hint: unknown key" in p
        for p in problems(content)
    )


def test_a_blueprint_row_the_bank_cannot_fill_is_named(content: ContentDirs) -> None:
    content.edit(
        COURSE,
        "{tags: [ventilation], difficulty: [1, 3], count: 3}",
        "{tags: [ventilation], difficulty: [1, 3], count: 30}",
    )
    found = problems(content)
    assert (
        f"{COURSE}:20: blueprint row 1 (tags ventilation; difficulty 1-3) "
        "needs 30 coal questions; the bank has 9 for exams (`use:`)" in found
    ), found


def test_questions_of_another_domain_do_not_count(content: ContentDirs) -> None:
    content.edit(BANK, "defaults: {domain: coal,", "defaults: {domain: gas,")
    found = problems(content)
    assert any("needs 3 coal questions; the bank has 0" in p for p in found), found
    assert any(p.startswith("courses/demo-course/01-first.md:13: practice row 1") for p in found), found


def test_rows_sharing_questions_must_be_fillable_together(content: ContentDirs) -> None:
    content.edit(
        COURSE,
        "      - {tags: [ventilation], difficulty: [1, 3], count: 3}",
        "      - {tags: [ventilation], difficulty: [1, 3], count: 6}\n"
        "      - {tags: [case], count: 2}\n      - {tags: [ventilation], difficulty: [3, 3], count: 2}",
    )
    found = problems(content)
    assert any(
        p.startswith(f"{COURSE}:")
        and ": the rows cannot be filled with exactly 10 questions: row " in p
        and "a scenario counts as all its questions" in p
        for p in found
    ), found


def test_a_row_that_only_a_larger_scenario_fits_cannot_be_filled_exactly(content: ContentDirs) -> None:
    """A paper has exactly its blueprint's length: one `case` question asked, and the only case
    questions are a two-question scenario (it used to be served whole: a paper one longer)."""
    content.edit(
        COURSE,
        "      - {tags: [ventilation], difficulty: [1, 3], count: 3}",
        "      - {tags: [case], count: 1}",
    )
    found = problems(content)
    assert (
        f"{COURSE}:20: the rows cannot be filled with exactly 1 questions: row 1 (tags case) gets 0 of 1"
        in (p.split(" (rows share")[0] for p in found)
    ), found


def test_each_pool_counts_only_its_own_questions(content: ContentDirs) -> None:
    """Exam rows draw use exam/both, practice draws use practice/both."""
    content.edit(BANK, "defaults: {domain: coal,", "defaults: {use: practice, domain: coal,")
    found = problems(content)
    assert any("blueprint row 1" in p and "the bank has 0 for exams (`use:`)" in p for p in found), found
    assert not any("practice row" in p for p in found), found
    content.edit(BANK, "defaults: {use: practice, domain: coal,", "defaults: {use: exam, domain: coal,")
    found = problems(content)
    assert any("practice row 1" in p and "for practice (`use:`)" in p for p in found), found
    assert not any("blueprint row" in p for p in found), found


def test_one_paper_but_not_two_is_a_warning(content: ContentDirs) -> None:
    content.edit(
        COURSE,
        "{tags: [ventilation], difficulty: [1, 3], count: 3}",
        "{tags: [ventilation], difficulty: [1, 3], count: 6}",
    )
    found = problems(content, expect_library=True)
    assert any("cannot fill two exam papers" in p and "warning" in p for p in found), found


def test_matching_finds_assignments_greedy_would_miss() -> None:
    # Row 1 may take a or b; row 2 only a. Greedy gives a to row 1 and fails row 2.
    assert fill([(1, ["a", "b"]), (1, ["a"])]) == 2
    assert fill([(2, ["a"]), (1, ["a", "b"])]) == 2
    assert fill([(3, ["a", "b", "c"]), (1, ["d"])]) == 4
