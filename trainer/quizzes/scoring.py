"""Scoring one response against one question's answer key. Pure: no web, no database, no clock.

Every question is worth one point; a score is a fraction in [0, 1]. Responses have the JSON
shapes of formats.md. A response of the wrong shape is a `ResponseError` (the client's mistake,
answered 422), never a zero: a zero is for a wrong answer, not for a malformed request.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from trainer.content.bank_schemas import Multi, Numeric, Order, Single, TextAnswer, TrueFalse


class ResponseError(ValueError):
    """The response does not have the shape this question type takes."""


@dataclass(frozen=True)
class ChoiceKey:
    """single, multi and truefalse (whose keys are "true" and "false")."""

    correct: frozenset[str]
    keys: frozenset[str]
    multiple: bool = False
    partial: bool = False


@dataclass(frozen=True)
class NumericKey:
    value: float
    absolute: float = 0.0  # tolerance in the canonical unit
    relative: float = 0.0  # tolerance as a fraction of the value
    unit: str | None = None
    units: tuple[tuple[str, float], ...] = ()  # other unit -> factor to the canonical unit


@dataclass(frozen=True)
class TextKey:
    accept: tuple[str, ...]


@dataclass(frozen=True)
class OrderKey:
    order: tuple[str, ...]
    partial: bool = False


@dataclass(frozen=True)
class MatchKey:
    pairs: tuple[tuple[str, str], ...]  # (left key, right key) as served
    rights: frozenset[str]  # every right key served, distractors included


AnswerKey = ChoiceKey | NumericKey | TextKey | OrderKey | MatchKey


def key_for(question: Any) -> AnswerKey:
    """The answer key of a bank question (match keys are made when a question is served)."""
    if isinstance(question, Single | Multi):
        return ChoiceKey(
            correct=frozenset(o.key for o in question.options if o.correct),
            keys=frozenset(o.key for o in question.options),
            multiple=isinstance(question, Multi),
            partial=isinstance(question, Multi) and question.scoring == "partial",
        )
    if isinstance(question, TrueFalse):
        return ChoiceKey(
            correct=frozenset({"true" if question.answer else "false"}), keys=frozenset({"true", "false"})
        )
    if isinstance(question, Numeric):
        answer = question.answer
        tolerance = answer.tolerance
        if isinstance(tolerance, str):
            return NumericKey(answer.value, relative=float(tolerance.rstrip("%")) / 100, unit=answer.unit,
                              units=tuple(sorted(answer.units.items())))  # fmt: skip
        return NumericKey(answer.value, absolute=float(tolerance), unit=answer.unit,
                          units=tuple(sorted(answer.units.items())))  # fmt: skip
    if isinstance(question, TextAnswer):
        return TextKey(tuple(normalise_text(a) for a in question.accept))
    if isinstance(question, Order):
        return OrderKey(tuple(i.key for i in question.items), partial=question.scoring == "partial")
    raise TypeError(f"no answer key for {type(question).__name__}")


def score(key: AnswerKey, response: Any) -> float:
    if not isinstance(response, dict):
        raise ResponseError("a response is a JSON object")
    if isinstance(key, ChoiceKey):
        return _score_choice(key, response)
    if isinstance(key, NumericKey):
        return _score_numeric(key, response)
    if isinstance(key, TextKey):
        text = response.get("text")
        if set(response) != {"text"} or not isinstance(text, str) or len(text) > 1000:
            raise ResponseError('expected {"text": "…"}')
        return 1.0 if normalise_text(text) in key.accept else 0.0
    if isinstance(key, OrderKey):
        order = response.get("order")
        if set(response) != {"order"} or not isinstance(order, list) or sorted(order) != sorted(key.order):
            raise ResponseError('expected {"order": [every item key, once each]}')
        right: int = sum(given == expected for given, expected in zip(order, key.order, strict=True))
        if key.partial:
            return right / len(key.order)
        return 1.0 if right == len(key.order) else 0.0
    return _score_match(key, response)


def _score_choice(key: ChoiceKey, response: dict[str, Any]) -> float:
    selected = response.get("selected")
    if (
        set(response) != {"selected"}
        or not isinstance(selected, list)
        or not all(isinstance(s, str) for s in selected)
    ):
        raise ResponseError('expected {"selected": ["key", …]}')
    chosen = set(selected)
    if len(chosen) != len(selected) or not chosen <= key.keys:
        raise ResponseError("unknown or repeated option keys")
    if not key.multiple and len(chosen) > 1:
        raise ResponseError("this question takes one answer")
    if not key.partial:
        return 1.0 if chosen == key.correct else 0.0
    right = len(chosen & key.correct)
    wrong = len(chosen - key.correct)
    return max(0.0, (right - wrong) / len(key.correct))


def _score_numeric(key: NumericKey, response: dict[str, Any]) -> float:
    value = response.get("value")
    unit = response.get("unit")
    if (
        not set(response) <= {"value", "unit"}
        or isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or (unit is not None and not isinstance(unit, str))
    ):
        raise ResponseError('expected {"value": number, "unit": "…" (optional)}')
    factors = dict(key.units)
    if unit is not None and unit != key.unit and unit not in factors:
        raise ResponseError(f"unit must be one of: {', '.join(filter(None, [key.unit, *factors]))}")
    canonical = value * factors[unit] if unit is not None and unit in factors else value
    allowed = max(key.absolute, abs(key.value) * key.relative)
    # A relative error of 1e-9 absorbs binary floating point, never a real difference.
    return 1.0 if abs(canonical - key.value) <= allowed + 1e-9 * max(1.0, abs(key.value)) else 0.0


def _score_match(key: MatchKey, response: dict[str, Any]) -> float:
    pairs = response.get("pairs")
    lefts = {left for left, _ in key.pairs}
    if set(response) != {"pairs"} or not isinstance(pairs, dict):
        raise ResponseError('expected {"pairs": {"left-key": "right-key", …}}')
    if not set(pairs) <= lefts or not all(isinstance(v, str) and v in key.rights for v in pairs.values()):
        raise ResponseError("unknown left or right keys")
    right: int = sum(pairs.get(left) == answer for left, answer in key.pairs)
    return right / len(key.pairs)


_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """NFKC (full-width and half-width forms compare equal), trimmed, case-folded, single spaces."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).strip().casefold())
