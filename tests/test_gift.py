"""The Moodle GIFT importer: each construct of the sample file converted exactly, each unsupported
question reported with its line and reason, and the YAML a bank file that loads as written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from trainer.content.bank import build_bank
from trainer.content.bank_schemas import BankFile, Question
from trainer.content.problems import Problem
from trainer.content.yamlio import load_yaml
from trainer.quizzes.gift import GiftResult, Skipped, category_tags, convert, sanitise_id, to_yaml

SAMPLE = Path(__file__).parent / "fixtures" / "gift" / "sample.gift"
COAL = ["coal-mines", "methane-ventilation"]
FIRE = ["fire", "extinguishers"]
QUESTION: TypeAdapter[Any] = TypeAdapter(Question)


@pytest.fixture(scope="module")
def sample() -> GiftResult:
    return convert(SAMPLE.read_text(encoding="utf-8"))


def question(result: GiftResult, qid: str) -> dict[str, Any]:
    found = [q for q in result.questions if q["id"] == qid]
    assert len(found) == 1, [q["id"] for q in result.questions]
    return found[0]


def one(text: str) -> dict[str, Any]:
    """The single question converted from `text` (and nothing skipped)."""
    result = convert(text)
    assert result.skipped == []
    assert len(result.questions) == 1
    return result.questions[0]


def reason(text: str) -> str:
    """Why the single question in `text` was skipped."""
    result = convert(text)
    assert result.questions == []
    assert len(result.skipped) == 1
    return result.skipped[0].reason


# --- the sample file -------------------------------------------------------------------------


def test_sample_ids_in_file_order(sample: GiftResult) -> None:
    assert [q["id"] for q in sample.questions] == [
        "CM-Methane-01",
        "GIFT-0001",
        "Ventilation-duties",
        "All-or-nothing",
        "Lighter-than-air",
        "CO-is-visible",
        "Duplicate",
        "Short-answer",
        "Pi",
        "Range",
        "Pentagon",
        "Match-extinguishers",
        "Escapes-all-of-them",
        "Html-sign",
        "Moodle-format",
        "Duplicate-2",
        "Q-7-Gas-Detection",
        "GIFT-0002",
        "Last",
    ]


def test_sample_skipped_questions_with_lines_and_reasons(sample: GiftResult) -> None:
    assert sample.skipped == [
        Skipped(74, "Essay", "essay questions (an empty answer block) are not supported"),
        Skipped(76, "Intro", "a description (text with no answer block) is not a question"),
        Skipped(
            78,
            "Everest",
            "missing-word questions are not supported; rewrite the stem to end with the answer",
        ),
        Skipped(80, "Broken", "the answer block { is not closed with }"),
        Skipped(84, "No right answer", "no answer is right: mark one with = or give it a positive %weight%"),
        Skipped(86, "One pair", "a matching question needs at least 2 pairs"),
        Skipped(88, None, "cannot tell the question type: answers start with = (right) or ~ (wrong)"),
    ]


def test_sample_every_question_validates(sample: GiftResult) -> None:
    for q in sample.questions:
        model = QUESTION.validate_python(q)
        assert model.id == q["id"]
        assert model.difficulty == 3
        assert model.refs == []


def test_single_choice_with_feedback_markdown_and_categories(sample: GiftResult) -> None:
    assert question(sample, "CM-Methane-01") == {
        "id": "CM-Methane-01",
        "type": "single",
        "difficulty": 3,
        "tags": COAL,
        "stem": "Which gas is the main explosion hazard in **coal mines**?",
        "options": [
            {
                "key": "a",
                "text": "Methane",
                "correct": True,
                "feedback": "Right: methane (firedamp) is released from the coal seam.",
            },
            {"key": "b", "text": "Carbon dioxide", "feedback": "It is present, but it does not explode."},
            {"key": "c", "text": "Nitrogen"},
        ],
        "explanation": "Methane forms explosive mixtures with air between 5% and 15%.",
    }


def test_unnamed_questions_are_numbered_in_order(sample: GiftResult) -> None:
    assert question(sample, "GIFT-0001") == {
        "id": "GIFT-0001",
        "type": "single",
        "difficulty": 3,
        "tags": COAL,
        "stem": "What is the lower explosive limit of methane in air, in percent?",
        "options": [
            {"key": "a", "text": "5", "correct": True},
            {"key": "b", "text": "15"},
            {"key": "c", "text": "1"},
        ],
    }
    assert question(sample, "GIFT-0002") == {
        "id": "GIFT-0002",
        "type": "single",
        "difficulty": 3,
        "tags": FIRE,
        "stem": "Which class of fire involves burning metals?",
        "options": [
            {"key": "a", "text": "Class A"},
            {"key": "b", "text": "Class B"},
            {"key": "c", "text": "Class D", "correct": True},
        ],
    }


def test_weights_make_a_partial_multi(sample: GiftResult) -> None:
    assert question(sample, "Ventilation-duties") == {
        "id": "Ventilation-duties",
        "type": "multi",
        "difficulty": 3,
        "tags": COAL,
        "scoring": "partial",
        "stem": "Which of these are duties of the ventilation officer?",
        "options": [
            {"key": "a", "text": "Measure the air flow", "correct": True, "feedback": "Yes, every shift."},
            {"key": "b", "text": "Test for gas", "correct": True},
            {"key": "c", "text": "Sign the payroll", "feedback": "No: that is the accountant."},
        ],
    }


def test_several_right_answers_make_an_all_or_nothing_multi(sample: GiftResult) -> None:
    assert question(sample, "All-or-nothing") == {
        "id": "All-or-nothing",
        "type": "multi",
        "difficulty": 3,
        "tags": COAL,
        "stem": "Select both flammable gases.",
        "options": [
            {"key": "a", "text": "Methane", "correct": True},
            {"key": "b", "text": "Hydrogen", "correct": True},
            {"key": "c", "text": "Nitrogen"},
        ],
    }


def test_true_false(sample: GiftResult) -> None:
    assert question(sample, "Lighter-than-air") == {
        "id": "Lighter-than-air",
        "type": "truefalse",
        "difficulty": 3,
        "tags": COAL,
        "stem": "Methane is lighter than air.",
        "answer": True,
    }
    assert question(sample, "Duplicate")["answer"] is False  # {F}
    assert question(sample, "Duplicate-2")["answer"] is True  # {TRUE}
    assert question(sample, "Last")["answer"] is True


def test_true_false_feedback_and_plain_format(sample: GiftResult) -> None:
    # {FALSE#shown if wrong#shown if right####general}: general, then the wrong-answer feedback.
    assert question(sample, "CO-is-visible") == {
        "id": "CO-is-visible",
        "type": "truefalse",
        "difficulty": 3,
        "tags": COAL,
        "stem": "Carbon monoxide can be seen\nas a grey haze.",
        "answer": False,
        "explanation": "CO is colourless and odourless.\n\nIt is colourless: use a detector.",
    }


def test_short_answer_keeps_the_full_credit_answers(sample: GiftResult) -> None:
    assert question(sample, "Short-answer") == {
        "id": "Short-answer",
        "type": "text",
        "difficulty": 3,
        "tags": FIRE,
        "stem": "What does SDS stand for?",
        "accept": ["safety data sheet", "SDS"],
    }
    assert question(sample, "Q-7-Gas-Detection")["accept"] == ["Methanometer", "methane detector"]


def test_numeric_tolerance_range_and_several_answers(sample: GiftResult) -> None:
    assert question(sample, "Pi") == {
        "id": "Pi",
        "type": "numeric",
        "difficulty": 3,
        "tags": FIRE,
        "stem": "Enter pi to two decimal places.",
        "answer": {"value": 3.14, "tolerance": 0.005},
    }
    assert question(sample, "Range") == {
        "id": "Range",
        "type": "numeric",
        "difficulty": 3,
        "tags": FIRE,
        "stem": "Give a whole number from 1 to 5.",
        "answer": {"value": 3, "tolerance": 2},
    }
    assert question(sample, "Pentagon") == {
        "id": "Pentagon",
        "type": "numeric",
        "difficulty": 3,
        "tags": FIRE,
        "stem": "How many sides does a pentagon have?",
        "answer": {"value": 5, "tolerance": 0},
        "explanation": "A pentagon has five sides.",
    }


def test_matching_pairs_and_distractor(sample: GiftResult) -> None:
    assert question(sample, "Match-extinguishers") == {
        "id": "Match-extinguishers",
        "type": "match",
        "difficulty": 3,
        "tags": FIRE,
        "stem": "Match each extinguisher to the fire it is for.",
        "pairs": [
            {"left": "Water", "right": "Class A (solids)"},
            {"left": "Foam", "right": "Class B (liquids)"},
            {"left": "CO2", "right": "Electrical equipment"},
        ],
        "distractors": ["Class D (metals)"],
    }


def test_escapes_are_decoded(sample: GiftResult) -> None:
    assert question(sample, "Escapes-all-of-them") == {
        "id": "Escapes-all-of-them",
        "type": "single",
        "difficulty": 3,
        "tags": FIRE,
        "stem": "Escaped text: a ~ b = c # d {e} and C:\\temp.",
        "options": [
            {"key": "a", "text": "a ~ b", "correct": True, "feedback": "Feedback with a # hash"},
            {"key": "b", "text": "Line one\nline two"},
        ],
    }


def test_html_is_reduced_to_text(sample: GiftResult) -> None:
    assert question(sample, "Html-sign") == {
        "id": "Html-sign",
        "type": "single",
        "difficulty": 3,
        "tags": FIRE,
        "stem": "Which sign means no smoking?",
        "options": [
            {
                "key": "a",
                "text": "Red circle with a bar",
                "correct": True,
                "feedback": "Prohibition signs are red circles.",
            },
            {"key": "b", "text": "Blue circle"},
        ],
        "explanation": "Prohibition & mandatory signs differ.",
    }


def test_moodle_format_prefix_is_removed(sample: GiftResult) -> None:
    assert question(sample, "Moodle-format")["stem"] == "Water may be used on electrical fires."


def test_a_category_of_only_the_root_clears_the_tags(sample: GiftResult) -> None:
    assert "tags" not in question(sample, "Last")


# --- choice questions ------------------------------------------------------------------------


def test_a_penalty_on_a_wrong_answer_keeps_single_choice() -> None:
    q = one("Pick one.{=right ~%-50%wrong}")
    assert q["type"] == "single"
    assert q["options"] == [{"key": "a", "text": "right", "correct": True}, {"key": "b", "text": "wrong"}]


def test_one_partial_right_answer_is_a_partial_multi() -> None:
    q = one("Pick.{~%50%half ~%100%full ~none}")
    assert q["type"] == "multi"
    assert q["scoring"] == "partial"
    assert [o.get("correct", False) for o in q["options"]] == [True, True, False]


def test_a_weight_on_an_equals_answer() -> None:
    q = one("Pick.{=%100%yes ~no}")
    assert q["type"] == "single"
    assert q["options"][0] == {"key": "a", "text": "yes", "correct": True}


def test_option_keys_run_a_to_l() -> None:
    answers = " ".join(f"=r{i}" for i in range(11)) + " ~w"
    q = one(f"Pick all.{{{answers}}}")
    assert [o["key"] for o in q["options"]] == list("abcdefghijkl")


def test_too_many_options_for_single() -> None:
    answers = "=right " + " ".join(f"~w{i}" for i in range(10))
    assert reason(f"Pick.{{{answers}}}") == "11 answers; a single question takes at most 10"


def test_weight_out_of_range() -> None:
    assert reason("Pick.{~%150%a ~b}") == "answer weight %150% is outside -100%..100%"


def test_text_before_the_first_answer() -> None:
    assert reason("Pick.{oops ~a =b}") == "text before the first answer: 'oops' (answers start with = or ~)"


def test_a_single_answer_is_not_a_choice() -> None:
    assert reason("Pick.{~only ~%0%none}") == (
        "no answer is right: mark one with = or give it a positive %weight%"
    )
    # One `~` marks this as choice, and a choice needs two answers.
    assert reason("Pick.{~%100%only}") == "a choice question needs at least 2 answers"


def test_per_answer_format_prefix() -> None:
    q = one("Pick.{=[html]<b>bold</b> &lt;tag&gt; ~[markdown]**kept**}")
    assert [o["text"] for o in q["options"]] == ["bold <tag>", "**kept**"]


def test_an_empty_feedback_is_left_out() -> None:
    q = one("Pick.{=a# ~b#}")
    assert q["options"] == [{"key": "a", "text": "a", "correct": True}, {"key": "b", "text": "b"}]


# --- true/false, short answer, matching ------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "answer"),
    [("{T}", True), ("{TRUE}", True), ("{F}", False), ("{FALSE}", False), ("{true}", True)],
)
def test_true_false_forms(block: str, answer: bool) -> None:
    assert one(f"Is it?{block}")["answer"] is answer


def test_true_false_right_answer_feedback_is_not_carried() -> None:
    q = one("Is it?{T##Well done.}")
    assert "explanation" not in q


def test_short_answer_with_weights_and_feedback() -> None:
    q = one("Name it.{=%100%SDS#Yes =%0%MSDS#Old name =SDS =%100%safety data sheet}")
    assert q["accept"] == ["SDS", "safety data sheet"]


def test_short_answer_without_full_credit() -> None:
    assert reason("Name it.{=%50%close}") == "no short answer has full credit (=answer or =%100%answer)"


def test_matching_rejects_a_missing_arrow_and_repeats() -> None:
    assert reason("Match.{=a -> 1 =b 2 =c -> 3}") == "a matching answer has no '->': 'b 2'"
    assert reason("Match.{=a -> 1 =b ->}") == "a matching answer has nothing after '->': 'b ->'"
    assert reason("Match.{=a -> 1 =b -> 1}") == (
        "does not fit the bank format: each left and each right text appears once"
    )


# --- numeric ---------------------------------------------------------------------------------


def test_numeric_decimal_range_is_exact() -> None:
    assert one("How much?{#0.1..0.3}")["answer"] == {"value": 0.2, "tolerance": 0.1}
    assert one("How much?{#-5..-1}")["answer"] == {"value": -3, "tolerance": 2}


def test_numeric_plain_value_feedback_and_exponent() -> None:
    assert one("How much?{#42}")["answer"] == {"value": 42, "tolerance": 0}
    assert one("How much?{#1.5e3:10#Close enough}")["answer"] == {"value": 1500, "tolerance": 10}


def test_numeric_moodle_export_with_wrong_answer_feedback() -> None:
    q = one("How much?{#\n=%100%5:0#\n=%50%6:1#\n~#Try again.\n####Five.}")
    assert q["answer"] == {"value": 5, "tolerance": 0}
    assert q["explanation"] == "Five."


@pytest.mark.parametrize(
    ("block", "why"),
    [
        ("{#abc}", "'abc' is not a number"),
        ("{#5:-1}", "numeric tolerance '-1' is negative"),
        ("{#5..1}", "numeric range '5..1' runs backwards"),
        ("{#=%50%5:0}", "no numeric answer has full credit"),
        ("{#=5:0 =500:0}", "2 numeric answers have full credit; a numeric question takes one value"),
        ("{#1e999}", "'1e999' is out of range"),
    ],
)
def test_numeric_problems(block: str, why: str) -> None:
    assert reason(f"How much?{block}") == why


# --- names, ids, categories ------------------------------------------------------------------


def test_sanitise_id() -> None:
    assert sanitise_id("Q 7: Gas/Detection?") == "Q-7-Gas-Detection"
    assert sanitise_id("--Überprüfung 1.2_a") == "Uberprufung-1.2_a"
    assert sanitise_id("甲烷") == ""
    assert sanitise_id("x" * 70) == "x" * 64


def test_ids_fall_back_and_deduplicate() -> None:
    text = "::GIFT-0001::One?{T}\n\nTwo?{T}\n\n::甲烷::Three?{T}\n\n::" + "y" * 70 + "::Four?{T}\n\n"
    text += "::" + "y" * 70 + "::Five?{T}"
    ids = [q["id"] for q in convert(text).questions]
    assert ids == ["GIFT-0001", "GIFT-0001-2", "GIFT-0002", "y" * 64, "y" * 62 + "-2"]


def test_skipped_questions_take_no_number() -> None:
    result = convert("Broken?{T\n\nFirst?{T}\n\nSecond?{F}")
    assert [q["id"] for q in result.questions] == ["GIFT-0001", "GIFT-0002"]
    assert result.skipped == [Skipped(1, None, "the answer block { is not closed with }")]


def test_category_tags() -> None:
    assert category_tags(" $course$/top/Default for MINE101/Gas & Air//Dust ") == [
        "default-for-mine101",
        "gas-air-dust",
    ]
    assert category_tags("$system$/top") == []
    assert category_tags("Top/Brandschutz: Übungen/甲烷/Gas") == ["brandschutz-ubungen", "gas"]
    assert category_tags("a/A/a") == ["a"]


def test_category_line_directly_above_a_question() -> None:
    result = convert("$CATEGORY: Fire\n::Q::Burns?{T}")
    assert result.questions[0]["tags"] == ["fire"]


def test_unclosed_name() -> None:
    result = convert("\n::Oops: Burns?{T}")
    assert result.skipped == [Skipped(2, None, "the question name is not closed with ::")]


# --- what is skipped -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Describe it.{####Model answer.}", "essay questions (an empty answer block) are not supported"),
        (
            "{=Everest ~K2} is the highest.",
            "missing-word questions are not supported; rewrite the stem to end with the answer",
        ),
        ("::Name::{T}", "the question has no text"),
        ("[html]<p> </p>{T}", "the question has no text"),
        ("Stray } brace{T}", "a } comes before any { (write \\} for a literal brace)"),
        ("Nested {a {b}}", "a { inside the answer block (write \\{ for a literal brace)"),
        (
            "Long?{=" + "x" * 2001 + " ~y}",
            "does not fit the bank format: options.0.text: String should have at most 2000 characters",
        ),
    ],
)
def test_skipped_kinds(text: str, why: str) -> None:
    assert reason(text) == why


def test_lines_count_comments_blank_lines_crlf_and_bom() -> None:
    text = "\ufeff// comment\r\n\r\n::A::Fine?{T}\r\n\r\n// about B\r\n::B::Essay{}\r\n"
    result = convert(text)
    assert [q["id"] for q in result.questions] == ["A"]
    assert result.skipped == [Skipped(6, "B", "essay questions (an empty answer block) are not supported")]


def test_empty_and_comment_only_input() -> None:
    assert convert("") == GiftResult(questions=[], skipped=[])
    assert convert("// nothing\n\n   \n// here") == GiftResult(questions=[], skipped=[])


def test_html_paragraphs_lists_and_scripts() -> None:
    q = one("[html]<p>First&nbsp;line</p><ul><li>one</li><li>two</li></ul><script>x()</script>{T}")
    assert q["stem"] == "First line\n\n- one\n- two"


# --- domain and YAML -------------------------------------------------------------------------


def test_domain_is_set_on_every_question_and_checked() -> None:
    result = convert("A?{T}\n\nB?{F}", domain="gas")
    assert [q["domain"] for q in result.questions] == ["gas", "gas"]
    with pytest.raises(ValueError, match="unknown domain 'mining'"):
        convert("A?{T}", domain="mining")


def test_to_yaml_round_trips(sample: GiftResult) -> None:
    text = to_yaml(sample, domain="coal")
    data = yaml.safe_load(text)
    assert data == {
        "sample": False,
        "defaults": {"domain": "coal", "lang": "en"},
        "questions": sample.questions,
    }
    bank = BankFile.model_validate(data)
    assert [q.id for q in bank.questions] == [q["id"] for q in sample.questions]
    assert text.startswith(
        "sample: false\ndefaults:\n  domain: coal\n  lang: en\nquestions:\n- id: CM-Methane-01\n"
    )
    # Multi-line text is written in block style, as trainers write it.
    assert "  stem: |-\n    Carbon monoxide can be seen\n    as a grey haze.\n" in text


def test_to_yaml_loads_into_the_bank(sample: GiftResult) -> None:
    found: list[Problem] = []
    doc = load_yaml(to_yaml(sample, domain="fire", lang="zh-CN"))
    bank = build_bank([("question_bank/imported.yaml", doc)], set(), found.append)
    assert [p for p in found if p.severity == "error"] == []
    assert len(bank.questions) == len(sample.questions)
    pi = bank.questions["Pi"]
    assert (pi.domain, pi.lang, pi.tags, pi.difficulty) == ("fire", "zh-CN", frozenset(FIRE), 3)


def test_to_yaml_leaves_out_a_domain_equal_to_the_default() -> None:
    result = convert("A?{T}", domain="gas")
    assert "domain" not in yaml.safe_load(to_yaml(result, domain="gas"))["questions"][0]
    assert yaml.safe_load(to_yaml(result, domain=None)) == {
        "sample": False,
        "defaults": {"lang": "en"},
        "questions": [
            {
                "id": "GIFT-0001",
                "type": "truefalse",
                "difficulty": 3,
                "domain": "gas",
                "stem": "A?",
                "answer": True,
            }
        ],
    }


def test_to_yaml_refuses_what_cannot_be_a_bank_file() -> None:
    with pytest.raises(ValueError, match="no converted questions"):
        to_yaml(convert("Essay{}"), domain="coal")
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        to_yaml(convert("A?{T}"), domain="coal", lang="fr")
    with pytest.raises(ValueError, match="unknown domain 'mining'"):
        to_yaml(convert("A?{T}"), domain="mining")


GIFT_PIECES = st.sampled_from(
    [
        *"{}~=#:%->.\\n\n \tTF0159aZ$/[]<>&;é中",
        "::",
        "$CATEGORY:",
        "[html]",
        "####",
        "->",
        "1..5",
        "%50%",
        "//",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(GIFT_PIECES, max_size=50).map("".join))
def test_any_text_converts_without_error_to_valid_questions(text: str) -> None:
    result = convert(text, domain="coal")
    for q in result.questions:
        QUESTION.validate_python(q)
    if result.questions:
        BankFile.model_validate(yaml.safe_load(to_yaml(result, domain="coal")))
    for skipped in result.skipped:
        assert skipped.reason
        assert 1 <= skipped.line <= text.count("\n") + text.count("\r") + 1


def test_the_import_gift_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "bank" / "imported.yaml"
    command = [
        sys.executable,
        "-m",
        "trainer.cli",
        "import-gift",
        str(SAMPLE),
        "--out",
        str(out),
        "--domain",
        "coal",
    ]
    first = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert first.returncode == 0, first.stderr
    assert "skipped" in first.stdout
    assert f"{SAMPLE}:74: skipped (Essay): essay questions" in first.stderr
    loaded = BankFile.model_validate(yaml.safe_load(out.read_text(encoding="utf-8")))
    assert len(loaded.questions) == int(first.stdout.split("wrote ")[1].split()[0])
    again = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 1
    assert "exists" in again.stderr
