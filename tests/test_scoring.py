"""Scoring, by type, with examples and properties (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trainer.content.bank_schemas import Multi, Numeric, Order, Single, TextAnswer, TrueFalse
from trainer.quizzes.scoring import (
    ChoiceKey,
    MatchKey,
    NumericKey,
    OrderKey,
    ResponseError,
    TextKey,
    key_for,
    normalise_text,
    score,
)

SINGLE = key_for(
    Single.model_validate(
        {
            "id": "q",
            "type": "single",
            "stem": "s",
            "options": [
                {"key": "a", "text": "A", "correct": True},
                {"key": "b", "text": "B"},
                {"key": "c", "text": "C"},
            ],
        }
    )
)
MULTI = key_for(
    Multi.model_validate(
        {
            "id": "q",
            "type": "multi",
            "stem": "s",
            "scoring": "partial",
            "options": [
                {"key": "a", "text": "A", "correct": True},
                {"key": "b", "text": "B", "correct": True},
                {"key": "c", "text": "C"},
                {"key": "d", "text": "D"},
            ],
        }
    )
)


def test_single_choice() -> None:
    assert score(SINGLE, {"selected": ["a"]}) == 1
    assert score(SINGLE, {"selected": ["b"]}) == 0
    assert score(SINGLE, {"selected": []}) == 0
    with pytest.raises(ResponseError):
        score(SINGLE, {"selected": ["a", "b"]})
    with pytest.raises(ResponseError):
        score(SINGLE, {"selected": ["z"]})


def test_multi_partial_is_right_minus_wrong_floored_at_zero() -> None:
    assert score(MULTI, {"selected": ["a", "b"]}) == 1
    assert score(MULTI, {"selected": ["a"]}) == 0.5
    assert score(MULTI, {"selected": ["a", "c"]}) == 0
    assert score(MULTI, {"selected": ["c", "d"]}) == 0
    assert score(MULTI, {"selected": ["a", "b", "c"]}) == 0.5
    all_or_nothing = ChoiceKey(frozenset({"a", "b"}), frozenset("abcd"), multiple=True)
    assert score(all_or_nothing, {"selected": ["a"]}) == 0
    assert score(all_or_nothing, {"selected": ["b", "a"]}) == 1


def test_true_false_uses_keys_true_and_false() -> None:
    key = key_for(TrueFalse.model_validate({"id": "q", "type": "truefalse", "stem": "s", "answer": False}))
    assert score(key, {"selected": ["false"]}) == 1
    assert score(key, {"selected": ["true"]}) == 0
    with pytest.raises(ResponseError):
        score(key, {"selected": [False]})


def test_numeric_tolerance_and_units() -> None:
    key = key_for(
        Numeric.model_validate(
            {
                "id": "q",
                "type": "numeric",
                "stem": "s",
                "answer": {"value": 1080, "tolerance": "2%", "unit": "m3/min", "units": {"m3/s": 60}},
            }
        )
    )
    assert score(key, {"value": 1080}) == 1
    assert score(key, {"value": 1101, "unit": "m3/min"}) == 1  # within 2% (21.6)
    assert score(key, {"value": 1102}) == 0
    assert score(key, {"value": 18, "unit": "m3/s"}) == 1
    assert score(key, {"value": 18.5, "unit": "m3/s"}) == 0  # 1110 is beyond 2%
    with pytest.raises(ResponseError):
        score(key, {"value": 18, "unit": "furlongs"})
    with pytest.raises(ResponseError):
        score(key, {"value": "18"})
    with pytest.raises(ResponseError):
        score(key, {"value": True})
    absolute = NumericKey(1.5, absolute=0.1)
    assert score(absolute, {"value": 1.6}) == 1
    assert score(absolute, {"value": 1.61}) == 0
    assert score(NumericKey(0.75), {"value": 0.75}) == 1


def test_text_is_normalised() -> None:
    key = key_for(
        TextAnswer.model_validate(
            {"id": "q", "type": "text", "stem": "s", "accept": ["SDS", "safety data sheet"]}
        )
    )
    for answer in ("SDS", " sds ", "ＳＤＳ", "Safety  Data\tSheet"):
        assert score(key, {"text": answer}) == 1, answer
    assert score(key, {"text": "MSDS"}) == 0
    assert normalise_text("Ｈ２Ｓ") == "h2s"


def test_order_all_or_nothing_and_partial() -> None:
    model = Order.model_validate(
        {
            "id": "q",
            "type": "order",
            "stem": "s",
            "scoring": "partial",
            "items": [
                {"key": "pull", "text": "1"},
                {"key": "aim", "text": "2"},
                {"key": "squeeze", "text": "3"},
                {"key": "sweep", "text": "4"},
            ],
        }
    )
    key = key_for(model)
    assert score(key, {"order": ["pull", "aim", "squeeze", "sweep"]}) == 1
    assert score(key, {"order": ["aim", "pull", "squeeze", "sweep"]}) == 0.5
    strict = OrderKey(("a", "b", "c"))
    assert score(strict, {"order": ["a", "c", "b"]}) == 0
    with pytest.raises(ResponseError):
        score(strict, {"order": ["a", "b"]})


def test_match_counts_each_pair() -> None:
    key = MatchKey((("l1", "r7"), ("l2", "r3")), frozenset({"r7", "r3", "r9"}))
    assert score(key, {"pairs": {"l1": "r7", "l2": "r3"}}) == 1
    assert score(key, {"pairs": {"l1": "r7", "l2": "r9"}}) == 0.5
    assert score(key, {"pairs": {}}) == 0
    with pytest.raises(ResponseError):
        score(key, {"pairs": {"l1": "r1"}})


# -- properties ---------------------------------------------------------------------------------

keys = st.lists(st.text("abcdefgh", min_size=1, max_size=3), min_size=2, max_size=8, unique=True)


@given(keys, st.data())
def test_choice_scores_are_fractions_and_the_key_scores_full(
    all_keys: list[str], data: st.DataObject
) -> None:
    correct = data.draw(st.lists(st.sampled_from(all_keys), min_size=1, unique=True))
    partial = data.draw(st.booleans())
    key = ChoiceKey(frozenset(correct), frozenset(all_keys), multiple=True, partial=partial)
    chosen = data.draw(st.lists(st.sampled_from(all_keys), unique=True))
    value = score(key, {"selected": chosen})
    assert 0 <= value <= 1
    assert score(key, {"selected": correct}) == 1
    # Adding a wrong pick never raises the score.
    wrong = [k for k in all_keys if k not in correct and k not in chosen]
    if wrong:
        assert score(key, {"selected": [*chosen, wrong[0]]}) <= value


@given(st.floats(-1e6, 1e6, allow_nan=False), st.floats(0, 100), st.floats(-1e6, 1e6, allow_nan=False))
def test_numeric_accepts_exactly_the_tolerance_band(
    expected: float, tolerance: float, given_value: float
) -> None:
    key = NumericKey(expected, absolute=tolerance)
    assert score(key, {"value": expected}) == 1
    inside = abs(given_value - expected) <= tolerance
    if abs(abs(given_value - expected) - tolerance) > 1e-3 * max(1.0, abs(expected)):  # not on the edge
        assert score(key, {"value": given_value}) == (1.0 if inside else 0.0)


@given(st.permutations(["a", "b", "c", "d", "e"]))
def test_order_partial_is_the_share_in_place(order: list[str]) -> None:
    key = OrderKey(("a", "b", "c", "d", "e"), partial=True)
    expected = sum(x == y for x, y in zip(order, key.order, strict=True)) / 5
    assert score(key, {"order": list(order)}) == expected


@given(st.text(max_size=30))
def test_text_normalisation_is_idempotent(text: str) -> None:
    once = normalise_text(text)
    assert normalise_text(once) == once
    assert score(TextKey((once,)), {"text": text}) == 1


@given(
    st.one_of(
        st.none(),
        st.integers(),
        st.text(),
        st.lists(st.integers()),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    )
)
def test_malformed_responses_raise_never_crash(response: object) -> None:
    for key in (
        SINGLE,
        MULTI,
        NumericKey(1.0),
        TextKey(("x",)),
        OrderKey(("a", "b")),
        MatchKey((("l", "r"),), frozenset({"r"})),
    ):
        try:
            value = score(key, response)
        except ResponseError:
            continue
        assert 0 <= value <= 1
