"""Exam and practice pools kept apart, give-aways found, `excludes` checked (trainer/content/pools.py)."""

from __future__ import annotations

import pytest

from tests.conftest import ContentDirs
from tests.sample_law import unexpected
from tests.test_cli import trainer
from trainer.config import PROJECT_ROOT
from trainer.content.bank import fill
from trainer.content.loader import load_library
from trainer.content.pools import enemies, give_aways, pools

BANK = "question_bank/demo/ventilation.yaml"
EXTRA = "question_bank/demo/extra.yaml"
SHARED = "can be drawn by the exam of course demo-course and shown in practice by module demo-first"


def problems(content: ContentDirs, *, expect_library: bool = True) -> list[str]:
    library, found = load_library(content.courses, content.bank)
    assert (library is not None) == expect_library, [str(p) for p in found]
    return [str(p) for p in found]


def split(content: ContentDirs) -> None:
    """The fixture bank for exams only, and a practice-only file of its own for the module."""
    content.edit(
        BANK,
        "defaults: {domain: coal, tags: [ventilation], lang: en}",
        "defaults: {domain: coal, tags: [ventilation], lang: en, use: exam}",
    )
    content.write(
        "question_bank/demo/practice.yaml",
        """defaults: {domain: coal, tags: [ventilation], lang: en, use: practice}
questions:
  - id: P-1
    type: truefalse
    stem: Intake air is checked at a working face.
    answer: true
    explanation: It reaches the people at the face.
  - id: P-2
    type: truefalse
    stem: Return air never needs a check.
    answer: false
    explanation: It is checked too.
""",
    )


def extra(content: ContentDirs, questions: str, *, use: str = "exam") -> None:
    content.write(
        EXTRA,
        f"defaults: {{domain: coal, tags: [ventilation], lang: en, use: {use}}}\nquestions:\n{questions}",
    )


NUMERIC = """  - id: N-1
    type: numeric
    difficulty: 2
    stem: Below what methane concentration may power be restored? Give a percentage.
    answer: {value: 1.0, unit: "%"}
    explanation: Below 1.0%.
"""


def giving(text: str, qid: str = "G-1") -> str:
    return f"""  - id: {qid}
    type: single
    difficulty: 2
    stem: What happens at the face?
    options:
      - {{key: a, text: "{text}", correct: true}}
      - {{key: b, text: "Nothing"}}
    explanation: Because.
"""


# -- one question in both pools ---------------------------------------------------------------


def test_a_question_both_the_exam_and_practice_draw_is_named_with_file_and_line(content: ContentDirs) -> None:
    found = problems(content)
    assert f"{BANK}:4: warning: question DEMO-0001 {SHARED}: set `use: exam` or `use: practice`" in found, (
        found
    )
    # A scenario is drawn whole: one warning for the group, not one per sub-question.
    assert sum("scenario DEMO-S01" in p for p in found) == 1
    assert not any("DEMO-S01-2" in p for p in found)
    assert sum(SHARED in p for p in found) == 8


def test_split_pools_are_not_warned_about(content: ContentDirs) -> None:
    split(content)
    found = problems(content)
    assert found == []
    library, _ = load_library(content.courses, content.bank)
    assert library is not None
    exam, practice = pools(library.bank, library.courses.values())
    assert practice.questions == {"P-1", "P-2"}
    assert "P-1" not in exam.questions
    assert "DEMO-0001" in exam.questions


def test_trainer_check_prints_pool_warnings_as_file_line_warning(content: ContentDirs) -> None:
    result = trainer("check", content=content)
    assert result.returncode == 0, result.stderr
    assert f"{BANK}:4: warning: question DEMO-0001 {SHARED}" in result.stdout.splitlines()[0]


# -- give-aways -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Power back below 1.0%",
        "Power back below 1%",
        "below 1 %",
        "below 1.00 per cent",
        "below １．０％",
        "between 1.0–1.5%",
        "below **1.0%**",
    ],
)
def test_a_numeric_answer_shown_in_another_exam_question_is_a_give_away(
    content: ContentDirs, text: str
) -> None:
    split(content)
    extra(content, NUMERIC + giving(text))
    found = [p for p in problems(content) if "give-away" in p]
    assert len(found) == 1, found
    assert found[0].startswith(f"{EXTRA}:9: warning: give-away: '")
    assert "' in the options of question G-1 is an accepted answer of question N-1" in found[0]
    assert (
        "an accepted answer of question N-1, and both can be on exam papers of course demo-course" in found[0]
    )
    assert found[0].endswith("reword it or move one of them to practice")


@pytest.mark.parametrize(
    "text",
    [
        "below 10%",
        "below 0.1%",
        "below 11%",
        "below 1.05%",
        "below 1.0 m",
        "within 1 metre",
        "Art. 1 says so",
        "CO2 at 1.5%",
        "clause 5.1.0%",
    ],
)
def test_other_numbers_and_units_are_not_give_aways(content: ContentDirs, text: str) -> None:
    split(content)
    extra(content, NUMERIC + giving(text))
    assert not [p for p in problems(content) if "give-away" in p]


UNITLESS = """  - id: N-4
    type: numeric
    stem: How many full inspections a year does the law ask for at least?
    answer: {value: 1}
    explanation: One.
"""


@pytest.mark.parametrize(
    ("text", "given_away"),
    [
        ("At least 1, with records", True),
        ("Only when the agency orders one", False),
        ("Art. 1 of the law", False),
        ("1 inspector", False),
    ],
)
def test_a_number_without_a_unit_is_matched_only_as_digits_standing_alone(
    content: ContentDirs, text: str, given_away: bool
) -> None:
    split(content)
    extra(content, UNITLESS + giving(text))
    assert bool([p for p in problems(content) if "give-away" in p]) == given_away


def test_units_are_read_as_written_in_running_text(content: ContentDirs) -> None:
    split(content)
    extra(
        content,
        """  - id: N-2
    type: numeric
    stem: How often, in hours, is the venue patrolled?
    answer: {value: 2, unit: "h"}
    explanation: Every 2 hours.
  - id: N-3
    type: numeric
    stem: What is the fine, in yuan?
    answer: {value: 50000, unit: "CNY"}
    explanation: 50,000 yuan.
"""
        + giving("A patrol every two hours and a fine of ¥50,000"),
    )
    found = [p for p in problems(content) if "give-away" in p]
    assert any(
        "'two hours' in the options of question G-1 is an accepted answer of question N-2" in p for p in found
    ), found
    assert any(
        "'50,000' in the options of question G-1 is an accepted answer of question N-3" in p for p in found
    ), found


def test_a_text_answer_is_found_as_whole_words_after_nfkc_and_case_folding(content: ContentDirs) -> None:
    split(content)
    extra(content, giving("Read the ＳＤＳ first", "G-1") + giving("The SDSs and TSDS are filed", "G-2"))
    found = [p for p in problems(content) if "give-away" in p]
    # DEMO-0005 (accept SDS) is in the exam pool too.
    assert len(found) == 1, found
    assert "'sds' in the options of question G-1 is an accepted answer of question DEMO-0005" in found[0]


def test_an_answer_the_question_itself_shows_is_not_counted(content: ContentDirs) -> None:
    split(content)
    extra(
        content,
        """  - id: T-1
    type: text
    stem: The hot work permit covers which kind of work? (hot work, confined space…)
    accept: ["hot work"]
    explanation: Hot work.
"""
        + giving("Hot work needs a permit"),
    )
    assert not [p for p in problems(content) if "give-away" in p]


def test_a_scenario_stem_gives_away_its_own_question(content: ContentDirs) -> None:
    split(content)
    extra(
        content,
        """  - id: S-1
    type: scenario
    stem: Methane reached 1.0% and power was restored at once.
    questions:
      - id: S-1-1
        type: numeric
        stem: Below what methane concentration may power be restored? Give a percentage.
        answer: {value: 1.0, unit: "%"}
        explanation: Below 1.0%.
""",
    )
    found = [p for p in problems(content) if "give-away" in p]
    assert len(found) == 1, found
    assert "'1.0%' in the stem of scenario S-1 is an accepted answer of question S-1-1" in found[0]


def test_excludes_settle_a_give_away_in_practice_but_not_in_the_exam(content: ContentDirs) -> None:
    split(content)
    extra(
        content, NUMERIC.replace("  - id: N-1\n", "  - id: N-1\n    excludes: [G-1]\n") + giving("below 1.0%")
    )
    found = [p for p in problems(content) if "give-away" in p]
    assert len(found) == 1, found
    assert "both can be on exam papers" in found[0]

    extra(content, NUMERIC + giving("below 1.0%"), use="practice")
    found = [p for p in problems(content) if "give-away" in p]
    assert len(found) == 1, found
    assert (
        "both can be on the practice of module demo-first: "
        "reword it, move one of them, or add `excludes: [N-1]`" in found[0]
    )

    # Symmetric: written on the giving question instead, it settles the same pair.
    extra(
        content,
        NUMERIC + giving("below 1.0%").replace("    type: single", "    excludes: [N-1]\n    type: single"),
        use="practice",
    )
    assert not [p for p in problems(content) if "give-away" in p]


def test_questions_in_different_pools_do_not_give_each_other_away(content: ContentDirs) -> None:
    split(content)
    extra(content, NUMERIC)  # exam
    content.write(
        "question_bank/demo/practice2.yaml",
        "defaults: {domain: coal, tags: [ventilation], lang: en, use: practice}\nquestions:\n"
        + giving("below 1.0%"),
    )
    assert not [p for p in problems(content) if "give-away" in p]


# -- excludes and scenario uses -----------------------------------------------------------------


def test_excludes_naming_an_unknown_id_is_an_error(content: ContentDirs) -> None:
    content.edit(BANK, "  - id: DEMO-0002\n", "  - id: DEMO-0002\n    excludes: [DEMO-0001, DEMO-9999]\n")
    found = problems(content, expect_library=False)
    assert f"{BANK}:14: excludes 'DEMO-9999': no question has this id (check the spelling)" in found, found
    assert not any("'DEMO-0001'" in p for p in found)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("DEMO-0002", "question 'DEMO-0002' excludes itself"),
        ("DEMO-S01", "excludes 'DEMO-S01' names a scenario: name its questions (DEMO-S01-1, DEMO-S01-2)"),
    ],
)
def test_excludes_naming_itself_or_a_scenario_is_an_error(
    content: ContentDirs, target: str, message: str
) -> None:
    content.edit(BANK, "  - id: DEMO-0002\n", f"  - id: DEMO-0002\n    excludes: [{target}]\n")
    assert f"{BANK}:14: {message}" in problems(content, expect_library=False)


def test_excludes_between_questions_of_one_scenario_is_an_error(content: ContentDirs) -> None:
    content.edit(BANK, "      - id: DEMO-S01-2\n", "      - id: DEMO-S01-2\n        excludes: [DEMO-S01-1]\n")
    found = problems(content, expect_library=False)
    assert any(
        "excludes 'DEMO-S01-1': both are questions of scenario 'DEMO-S01', which is always drawn whole" in p
        for p in found
    ), found


def test_excludes_are_symmetric(content: ContentDirs) -> None:
    content.edit(BANK, "  - id: DEMO-0002\n", "  - id: DEMO-0002\n    excludes: [DEMO-0001]\n")
    library, _ = load_library(content.courses, content.bank)
    assert library is not None
    assert enemies(library.bank) == {"DEMO-0002": {"DEMO-0001"}, "DEMO-0001": {"DEMO-0002"}}


def test_a_scenario_question_with_its_own_use_is_an_error(content: ContentDirs) -> None:
    content.edit(BANK, "      - id: DEMO-S01-2\n", "      - id: DEMO-S01-2\n        use: exam\n")
    found = problems(content, expect_library=False)
    assert any(
        p.startswith(f"{BANK}:")
        and "question 'DEMO-S01-2' has `use: exam` but its scenario 'DEMO-S01' is for both" in p
        for p in found
    ), found
    # Set on the scenario, it is its questions' use.
    content.edit(BANK, "        use: exam\n", "")
    content.edit(BANK, "  - id: DEMO-S01\n", "  - id: DEMO-S01\n    use: exam\n")
    library, found_after = load_library(content.courses, content.bank)
    assert library is not None, found_after
    assert library.bank.questions["DEMO-S01-2"].use == "exam"


# -- the shipped sample bank --------------------------------------------------------------------


def test_the_sample_bank_keeps_exam_and_practice_apart_and_fills_two_exam_papers() -> None:
    library, found = load_library(PROJECT_ROOT / "courses", PROJECT_ROOT / "question_bank")
    assert unexpected(found) == [], [str(p) for p in found]
    assert library is not None
    bank = library.bank
    all_pools = pools(bank, library.courses.values())
    exam = set().union(*(p.questions for p in all_pools if p.kind == "exam"))
    practice = set().union(*(p.questions for p in all_pools if p.kind == "practice"))
    assert exam
    assert practice
    assert not exam & practice
    assert give_aways(bank, all_pools) == []
    for course in library.courses.values():
        assert course.certification is not None
        rows = course.certification.exam.blueprint
        candidates = [[q.id for q in bank.candidates(course.domain, row, "exam")] for row in rows]
        assert fill([(2 * row.count, c) for row, c in zip(rows, candidates, strict=True)]) == 2 * sum(
            row.count for row in rows
        ), course.id
        for module in course.modules:
            assert module.practice is not None
            for row in module.practice.draw:
                assert len(bank.candidates(course.domain, row, "practice")) >= row.count + 1, module.id


# -- practice twins of exam questions -----------------------------------------------------------


def test_a_practice_question_asking_an_exam_stem_word_for_word_is_warned_about(content: ContentDirs) -> None:
    """Practice shows its key: a practice question with an exam question's stem (case, spacing
    and punctuation aside) teaches the exam's answer by heart."""
    split(content)
    content.write(
        "question_bank/demo/practice.yaml",
        """defaults: {domain: coal, tags: [ventilation], lang: en, use: practice}
questions:
  - id: P-1
    type: truefalse
    stem: "intake  AIR is checked at a working face"
    answer: true
    explanation: It reaches the people at the face.
  - id: P-2
    type: truefalse
    stem: At a working face, intake air is checked first.
    answer: true
    explanation: Said in other words, the same point is fair practice.
""",
    )
    extra(
        content,
        "  - id: X-1\n    type: truefalse\n    stem: Intake air is checked at a working face.\n"
        "    answer: true\n    explanation: It reaches the people.\n",
    )
    found = [p for p in problems(content) if "word for word" in p]
    assert found == [
        "question_bank/demo/practice.yaml:3: warning: practice question P-1 asks what exam question X-1 "
        "asks, word for word: practice shows its key, so reword it or practise the point another way"
    ], found


# -- right options that give themselves away by length ------------------------------------------


def choice(right: str, *wrong: str, qid: str = "L-1", kind: str = "single") -> str:
    options = f'      - {{key: r, text: "{right}", correct: true}}\n' + "".join(
        f'      - {{key: w{n}, text: "{text}"}}\n' for n, text in enumerate(wrong)
    )
    return f"""  - id: {qid}
    type: {kind}
    stem: What does the inspector do?
    options:
{options}    explanation: Because.
"""


LONG_RIGHT = "Order the work stopped, the people withdrawn and the power cut, and record it"  # 77 characters


def test_a_right_option_much_longer_than_every_wrong_one_is_a_telltale_key(content: ContentDirs) -> None:
    split(content)
    extra(content, choice(LONG_RIGHT, "Let the work go on", "Fine the entity at once", "Call the police"))
    found = [p for p in problems(content) if "telltale" in p]
    assert found == [
        f"{EXTRA}:3: warning: telltale key: the right option 'r' of question L-1 is 77 characters long and "
        "its longest wrong option 23: a reader can pick it by length alone; make the wrong options as "
        "long and specific as the right one (plausible errors), or the right one shorter"
    ], found


@pytest.mark.parametrize(
    ("right", "wrong", "told"),
    [
        # 1.5x the longest wrong one and more than 20 characters longer: both are needed.
        ("x" * 46, ["y" * 25, "y" * 10], True),
        ("x" * 45, ["y" * 24], True),
        ("x" * 45, ["y" * 25], False),  # 20 longer: not more than the margin
        ("x" * 30, ["y" * 10, "y" * 12], False),  # 2.5x, but short options: a word against a word
        ("x" * 150, ["y" * 101], False),  # 49 longer, but under 1.5x: nobody notices
        ("x" * 151, ["y" * 100], True),
        ("x" * 20, ["y" * 80], False),  # the wrong option is the long one
        # Markdown emphasis and runs of spaces are not what a reader sees.
        ("**" + "x" * 44 + "**", ["y" * 24], False),
        ("x" * 21 + "     " + "x" * 21, ["y" * 23], False),
        # A wide (Chinese) character takes two columns: 23 of them against 10 is a tell.
        ("责" * 23, ["y" * 25], True),
        ("责" * 16, ["y" * 25], False),
    ],
)
def test_the_telltale_rule_needs_both_the_ratio_and_the_margin(
    content: ContentDirs, right: str, wrong: list[str], told: bool
) -> None:
    split(content)
    extra(content, choice(right, *wrong))
    assert bool([p for p in problems(content) if "telltale" in p]) == told


def test_a_multiple_choice_question_is_told_by_any_right_option(content: ContentDirs) -> None:
    split(content)
    extra(
        content,
        choice(LONG_RIGHT, "Let the work go on", qid="M-1", kind="multi").replace(
            "      - {key: w0", '      - {key: r2, text: "Stop", correct: true}\n      - {key: w0'
        )
        + choice("Stop the work", "Let the work go on", qid="M-2", kind="multi"),
    )
    found = [p for p in problems(content) if "telltale" in p]
    assert len(found) == 1, found
    assert "option 'r' of question M-1 is 77 characters long and its longest wrong option 18" in found[0]


def test_practice_and_scenario_questions_are_checked_too(content: ContentDirs) -> None:
    split(content)
    scenario = """  - id: S-9
    type: scenario
    stem: A fan stopped.
    questions:
""" + "\n".join(
        "    " + line if line else line
        for line in choice(LONG_RIGHT, "Let the work go on", qid="S-9-1").splitlines()
    )
    extra(content, choice(LONG_RIGHT, "Let the work go on", qid="P-9") + scenario + "\n", use="practice")
    found = [p for p in problems(content) if "telltale" in p]
    assert [p.split(": warning")[0] for p in found] == [f"{EXTRA}:3", f"{EXTRA}:14"], found
    assert "question P-9 " in found[0]
    assert "question S-9-1 " in found[1]


def test_the_sample_bank_has_no_telltale_keys() -> None:
    # Read from the problems even when the library has errors: the check runs on what loaded.
    _, found = load_library(PROJECT_ROOT / "courses", PROJECT_ROOT / "question_bank")
    assert not [str(p) for p in found if "telltale" in p.message]
