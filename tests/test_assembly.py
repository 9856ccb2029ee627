"""Drawing papers: every row satisfied, no repeats, reproducible, unseen first, groups kept."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import FIXTURE_LIBRARY
from trainer.content.bank import Bank
from trainer.content.loader import load_library_or_raise
from trainer.content.schemas import DrawRow
from trainer.quizzes.assembly import CannotDrawError, assemble, choose
from trainer.quizzes.scoring import MatchKey, score

LIBRARY = load_library_or_raise(FIXTURE_LIBRARY / "courses", FIXTURE_LIBRARY / "question_bank")
BANK: Bank = LIBRARY.bank
ROWS = [DrawRow(tags=["ventilation"], difficulty=(1, 2), count=3), DrawRow(tags=["ventilation"], count=2)]


@given(st.integers(0, 2**63))
@settings(max_examples=200, deadline=None)
def test_every_row_is_satisfied_without_repeats(seed: int) -> None:
    paper = assemble(BANK, "coal", ROWS, seed)
    ids = [q.question_id for q in paper]
    assert len(ids) == len(set(ids))
    assert [q.slot for q in paper] == list(range(1, len(paper) + 1))
    import random

    chosen = choose(BANK, "coal", ROWS, random.Random(seed))
    easy = [qid for qid in chosen if BANK.questions[qid].difficulty <= 2]
    assert len(chosen) == 5
    assert len(easy) >= 3
    assert set(chosen) <= set(ids)


@given(st.integers(0, 2**63))
@settings(max_examples=50, deadline=None)
def test_the_same_seed_gives_the_same_paper(seed: int) -> None:
    assert assemble(BANK, "coal", ROWS, seed) == assemble(BANK, "coal", ROWS, seed)


def test_different_seeds_give_different_papers() -> None:
    papers = {
        tuple((q.question_id, q.options) for q in assemble(BANK, "coal", ROWS, seed)) for seed in range(30)
    }
    assert len(papers) > 10


def test_unseen_questions_come_first() -> None:
    row = [DrawRow(tags=["ventilation"], count=3)]
    all_ids = [q.id for q in BANK.candidates("coal", row[0])]
    seen = set(all_ids[:5])
    for seed in range(40):
        import random

        chosen = choose(BANK, "coal", row, random.Random(seed), seen)
        assert not set(chosen) & seen, (seed, chosen)  # there are enough unseen ones


def test_a_scenario_comes_whole_and_together() -> None:
    for seed in range(60):
        paper = assemble(BANK, "coal", [DrawRow(tags=["case"], count=2)], seed)
        assert [q.question_id for q in paper] == ["DEMO-S01-1", "DEMO-S01-2"]
        assert all(q.group == "DEMO-S01" for q in paper)


def test_a_scenario_counts_as_its_sub_questions() -> None:
    """A row asking one question cannot take a two-question scenario: the paper would be longer
    than its blueprint (it used to be completed after the rows were filled)."""
    with pytest.raises(CannotDrawError):
        assemble(BANK, "coal", [DrawRow(tags=["case"], count=1)], 1)
    rows = [DrawRow(tags=["ventilation"], count=4), DrawRow(tags=["case"], count=1)]
    for seed in range(60):
        paper = assemble(BANK, "coal", rows, seed)
        assert len(paper) == 5, seed
        ids = [q.question_id for q in paper]
        assert ("DEMO-S01-1" in ids) == ("DEMO-S01-2" in ids)


def test_shuffling_and_served_keys() -> None:
    order_rows = [DrawRow(tags=["ventilation"], count=9)]
    for seed in range(20):
        paper = {q.question_id: q for q in assemble(BANK, "coal", order_rows, seed)}
        choice = paper["DEMO-0001"]
        assert sorted(bank_key for _, bank_key in choice.options) == ["a", "b", "c"]
        served = [key for key, _ in choice.options]
        assert len(set(served)) == 3
        assert all(len(key) == 7 and key[0] == "o" for key in served)  # one opaque form for all
        assert not set(served) & {"a", "b", "c"}
        order = [bank_key for _, bank_key in paper["DEMO-0006"].options]
        assert order != ["pull", "aim", "squeeze", "sweep"]  # never shown in order
        assert not {key for key, _ in paper["DEMO-0006"].options} & {"pull", "aim", "squeeze", "sweep"}
        match = paper["DEMO-0007"]
        assert len(match.lefts) == 2
        assert len(match.rights) == 3  # a distractor too
        served_keys = {k for k, _ in match.lefts} | {k for k, _ in match.rights}
        assert not served_keys & {"methane", "carbon-dioxide", "a", "b", "1", "2"}
        key = MatchKey(match.answer_pairs, frozenset(k for k, _ in match.rights))
        assert score(key, {"pairs": dict(match.answer_pairs)}) == 1
        texts = dict(match.lefts)
        rights = dict(match.rights)
        assert {texts[left]: rights[right] for left, right in match.answer_pairs} == {
            "Methane": "Near the roof",
            "Carbon dioxide": "Near the floor",
        }


def test_a_bank_too_small_cannot_draw() -> None:
    with pytest.raises(CannotDrawError):
        assemble(BANK, "coal", [DrawRow(tags=["ventilation"], count=50)], 1)
    with pytest.raises(CannotDrawError):
        assemble(BANK, "gas", [DrawRow(tags=["ventilation"], count=1)], 1)


def test_the_shipped_bank_can_draw_every_exam_twice_over() -> None:
    root = Path(__file__).resolve().parent.parent
    library = load_library_or_raise(root / "courses", root / "question_bank")
    for course in library.courses.values():
        assert course.certification is not None
        rows = course.certification.exam.blueprint
        first = assemble(library.bank, course.domain, rows, 1, purpose="exam")
        seen = {q.question_id for q in first}
        second = assemble(library.bank, course.domain, rows, 2, seen, purpose="exam")
        expected = sum(r.count for r in rows)
        assert len(first) == len(second) == expected
        overlap = {q.question_id for q in first} & {q.question_id for q in second}
        assert not overlap, (course.id, overlap)


def test_a_paper_uses_as_many_unseen_questions_as_possible() -> None:
    """Two rows share the one unseen easy question; the second can do without it. Preferring
    unseen questions slot by slot would sometimes give it to the second row and push the first
    onto the seen one; the draw must keep both rows on unseen questions every time."""
    import random

    easy = DrawRow(tags=["ventilation"], difficulty=(1, 1), count=1)
    any_easy_or_medium = DrawRow(tags=["ventilation"], difficulty=(1, 2), count=1)
    unseen_easy, seen_easy = sorted(q.id for q in BANK.candidates("coal", easy))
    for seed in range(60):
        chosen = choose(BANK, "coal", [easy, any_easy_or_medium], random.Random(seed), {seen_easy})
        assert seen_easy not in chosen, (seed, chosen)
        assert unseen_easy in chosen


def test_a_large_bank_draws_from_a_sample_and_keeps_every_rule() -> None:
    """Above SAMPLE_ABOVE candidates a paper comes from a random sample of each row: still exactly
    its rows, scenario groups whole, no enemies together, unseen questions only while there are
    enough, the same paper for the same seed, and different papers for different seeds."""
    from bench.bank_gen import ROWS, parsed_files
    from trainer.content.bank import build_bank
    from trainer.quizzes.assembly import SAMPLE_ABOVE

    class AnyCode(set[str]):
        def __contains__(self, code: object) -> bool:
            return True

    bank = build_bank(parsed_files(3_000), AnyCode(), lambda problem: None)
    rows = [DrawRow.model_validate(row) for row in ROWS]
    assert sum(len(bank.candidates("gas", row)) for row in rows) > SAMPLE_ABOVE
    seen = {qid for qid in bank.questions if int(qid[3:]) % 3 == 0}  # a third already seen
    papers = set()
    for seed in range(40):
        chosen = choose(bank, "gas", rows, random.Random(seed), seen, purpose="exam")
        assert chosen == choose(bank, "gas", rows, random.Random(seed), seen, purpose="exam")
        assert len(chosen) == len(set(chosen)) == 50
        assert not set(chosen) & seen
        for row in rows:  # rows are disjoint here: each tag exactly its count
            assert sum(next(iter(row.tags)) in bank.questions[q].tags for q in chosen) == row.count
        for a in chosen:
            assert not bank.questions[a].excludes & set(chosen)
        for group in {bank.questions[q].group for q in chosen} - {None}:
            members = [sub.id for sub in bank.scenarios[group].questions]  # type: ignore[index]
            start = chosen.index(members[0])
            assert chosen[start : start + len(members)] == members
        papers.add(frozenset(chosen))
    assert len(papers) == 40
    # Every question seen but the 50 of one paper: the sample cannot fill it, every candidate can.
    keep = set(choose(bank, "gas", rows, random.Random(1)))
    chosen = choose(bank, "gas", rows, random.Random(2), set(bank.questions) - keep)
    assert set(chosen) == keep
