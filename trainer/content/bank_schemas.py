"""The shapes of question-bank files (question_bank/**/*.yaml), strict like the course files.

Eight question types, discriminated by `type`. A file's `defaults` (domain, tags, lang,
difficulty) apply to every question in it; a scenario's own tags apply to its sub-questions.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from trainer.config import Language
from trainer.content.schemas import Domain, Slug, Strict, Text

QuestionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
# What a question is for: practice quizzes, final exams, or both. Separate pools keep the exam
# from being harvested through unlimited practice (practice shows the key after each answer).
Use = Literal["practice", "exam", "both"]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000)]
RELATIVE_TOLERANCE = re.compile(r"^\d+(\.\d+)?%$")


class Ref(Strict):
    reg: Slug
    clause: Text | None = None


class _Question(Strict):
    id: QuestionId
    difficulty: int = Field(default=3, ge=1, le=5)
    stem: LongText
    explanation: LongText | None = None
    refs: list[Ref] = Field(default_factory=list)
    tags: list[Slug] = Field(default_factory=list)
    domain: Domain | None = None
    lang: Language | None = None
    shuffle: bool = True
    use: Use | None = None  # None: the file's `defaults: {use: …}`, else both
    # Enemy items: never on one paper with these (one gives the other away, or they overlap).
    excludes: list[QuestionId] = Field(default_factory=list)


class Option(Strict):
    key: Key
    text: Text
    correct: bool = False
    feedback: Text | None = None


def _unique_keys(keys: list[str], what: str) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"{what} key '{key}' is used twice")
        seen.add(key)


class Single(_Question):
    type: Literal["single"]
    options: list[Option] = Field(min_length=2, max_length=10)

    @model_validator(mode="after")
    def _one_correct(self) -> Single:
        _unique_keys([o.key for o in self.options], "option")
        if sum(o.correct for o in self.options) != 1:
            raise ValueError("a single-choice question needs exactly one option with correct: true")
        return self


class Multi(_Question):
    type: Literal["multi"]
    options: list[Option] = Field(min_length=2, max_length=12)
    scoring: Literal["all_or_nothing", "partial"] = "all_or_nothing"

    @model_validator(mode="after")
    def _some_correct(self) -> Multi:
        _unique_keys([o.key for o in self.options], "option")
        if not any(o.correct for o in self.options):
            raise ValueError("a multiple-choice question needs at least one option with correct: true")
        return self


class TrueFalse(_Question):
    type: Literal["truefalse"]
    answer: bool


class NumericAnswer(Strict):
    value: float
    tolerance: float | str = 0
    unit: Text | None = None
    units: dict[str, float] = Field(default_factory=dict)

    @field_validator("tolerance")
    @classmethod
    def _tolerance(cls, value: float | str) -> float | str:
        if isinstance(value, str) and not RELATIVE_TOLERANCE.match(value):
            raise ValueError('tolerance is a number (absolute) or a percentage like "2%" (relative)')
        if isinstance(value, float | int) and value < 0:
            raise ValueError("tolerance cannot be negative")
        return value

    @model_validator(mode="after")
    def _units_need_a_unit(self) -> NumericAnswer:
        if self.units and not self.unit:
            raise ValueError("alternative `units` need a canonical `unit`")
        if any(factor <= 0 for factor in self.units.values()):
            raise ValueError("unit factors must be positive")
        return self


class Numeric(_Question):
    type: Literal["numeric"]
    answer: NumericAnswer


class TextAnswer(_Question):
    type: Literal["text"]
    accept: list[Text] = Field(min_length=1)


class Item(Strict):
    key: Key
    text: Text


class Order(_Question):
    type: Literal["order"]
    items: list[Item] = Field(min_length=2, max_length=12)
    scoring: Literal["all_or_nothing", "partial"] = "all_or_nothing"

    @model_validator(mode="after")
    def _keys(self) -> Order:
        _unique_keys([i.key for i in self.items], "item")
        return self


class Pair(Strict):
    left: Text
    right: Text


class Match(_Question):
    type: Literal["match"]
    pairs: list[Pair] = Field(min_length=2, max_length=12)
    distractors: list[Text] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct(self) -> Match:
        lefts = [p.left for p in self.pairs]
        rights = [p.right for p in self.pairs] + list(self.distractors)
        if len(set(lefts)) != len(lefts) or len(set(rights)) != len(rights):
            raise ValueError("each left and each right text appears once")
        return self


SubQuestion = Annotated[
    Single | Multi | TrueFalse | Numeric | TextAnswer | Order | Match, Field(discriminator="type")
]


class Scenario(_Question):
    type: Literal["scenario"]
    questions: list[SubQuestion] = Field(min_length=1, max_length=20)


Question = Annotated[
    Single | Multi | TrueFalse | Numeric | TextAnswer | Order | Match | Scenario, Field(discriminator="type")
]
QUESTION_TYPES = ("single", "multi", "truefalse", "numeric", "text", "order", "match", "scenario")


class Defaults(Strict):
    domain: Domain | None = None
    tags: list[Slug] = Field(default_factory=list)
    lang: Language | None = None
    difficulty: int | None = Field(default=None, ge=1, le=5)
    use: Use | None = None


class BankHeader(Strict):
    """A bank file with its questions unread: they are validated one by one, for exact lines."""

    sample: bool = False
    defaults: Defaults = Field(default_factory=Defaults)
    questions: list[object] = Field(min_length=1)


class BankFile(Strict):
    """The whole file, for the JSON Schema published to editors."""

    sample: bool = False
    defaults: Defaults = Field(default_factory=Defaults)
    questions: list[Question] = Field(min_length=1)
