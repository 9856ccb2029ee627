"""Drawing a paper from the bank. Pure: the same seed and inputs always give the same paper.

A paper gives every row of a blueprint (or practice draw) exactly its count of distinct
questions from the pool the paper is for (`use`), counts a scenario group as its sub-questions,
keeps enemies (`excludes`) apart, prefers questions the inspector has not seen, and shuffles
options, order items and match sides unless the question says not to. Every option, item and
match side is served under a key made for this paper alone. Filling uses
`trainer.content.bank.fill_exactly`, the same routine the content check proves blueprints with.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from trainer.content.bank import (
    Bank,
    BankQuestion,
    fill_exactly,
    matches,
    rows_of_questions,
    units_for,
)
from trainer.content.bank_schemas import Match, Multi, Order, Single, TrueFalse
from trainer.content.schemas import DrawRow

T = TypeVar("T")


class CannotDrawError(Exception):
    """The bank cannot fill the rows (the content check reports this before it happens)."""


@dataclass(frozen=True)
class ServedQuestion:
    """A question as placed in one paper: everything needed to show and grade it again."""

    slot: int  # 1-based position in the paper
    question_id: str
    group: str | None
    # choice options or order items in the order shown: (key served on this paper, bank key).
    # Served keys are random per paper: neither a key nor its form says which option is right.
    options: tuple[tuple[str, str], ...] = ()
    lefts: tuple[tuple[str, str], ...] = ()  # match: (served key, left text) in the order shown
    rights: tuple[tuple[str, str], ...] = ()  # match: (served key, right text), distractors included
    answer_pairs: tuple[tuple[str, str], ...] = ()  # match: (left key, right key) - the answer


# Above this many candidates (all rows together) a paper is drawn from a random sample of each
# row's candidates, so its cost does not grow with the bank; below it (every sample course, most
# tests) from all of them.
SAMPLE_ABOVE = 400


def sample_size(count: int) -> int:
    """Unseen candidates sampled for a row of `count`: room for enemies, groups and rows that
    share questions, so that the sample practically always fills the paper."""
    return 2 * count + 4


def choose(
    bank: Bank,
    domain: str,
    rows: Sequence[DrawRow],
    rng: random.Random,
    seen: Collection[str] = (),
    *,
    purpose: str | None = None,
) -> list[str]:
    """Question ids that fill every row exactly (a scenario group counts as its sub-questions,
    each in a row it matches), no two enemies together, with unseen questions first, in a random
    order. `purpose` ("exam" or "practice") keeps to the questions whose `use` allows it."""
    found = [bank.matching(domain, row, purpose) for row in rows]
    if sum(len(c) for c in found) > SAMPLE_ABOVE:
        chosen = _choose_from_sample(bank, domain, rows, found, rng=rng, seen=seen, purpose=purpose)
        if chosen is not None:
            return chosen
    candidates = [[q.id for q in c] for c in found]
    rows_of = rows_of_questions(candidates)
    units = units_for(bank, rows_of)
    rng.shuffle(units)
    filling = fill_exactly(
        [row.count for row in rows],
        rows_of,
        units,
        prefer=(lambda unit: not any(q in seen for q in unit.questions)) if seen else None,
        shuffle=rng.shuffle,
    )
    if not filling.full:
        raise CannotDrawError(
            f"the bank cannot fill exactly {sum(r.count for r in rows)} questions for these rows"
        )
    rng.shuffle(filling.placed_units)
    return [qid for unit in filling.placed_units for qid in unit.questions]


def _choose_from_sample(
    bank: Bank,
    domain: str,
    rows: Sequence[DrawRow],
    found: list[tuple[BankQuestion, ...]],
    *,
    rng: random.Random,
    seen: Collection[str],
    purpose: str | None,
) -> list[str] | None:
    """A paper of unseen questions only, from `sample_size` random unseen candidates per row
    (their scenario groups whole), filled like a whole bank: no shuffle of a whole candidate
    list. None when the sample cannot fill the rows: then the caller draws from every candidate
    (which also finds the paper with the most unseen questions when all-unseen is impossible)."""
    questions = bank.questions
    seen = seen if isinstance(seen, set | frozenset) else set(seen)
    sampled: dict[str, None] = {}  # a dict, not a set: its order, and so the paper, is the seed's
    for row, population in zip(rows, found, strict=True):
        wanted = sample_size(row.count)
        for question in _random_order(population, rng):
            if wanted == 0:
                break
            if question.id in sampled or question.id in seen:
                continue
            members = (
                [question.id]
                if question.group is None
                else [sub.id for sub in bank.scenarios[question.group].questions if sub.id in questions]
            )
            if any(m in seen for m in members):
                continue
            sampled.update(dict.fromkeys(members))
            wanted -= 1
    rows_of: dict[str, list[int]] = {}
    for qid in sampled:
        where = [i for i, row in enumerate(rows) if matches(questions[qid], domain, row, purpose)]
        if where:
            rows_of[qid] = where
    units = units_for(bank, rows_of)
    rng.shuffle(units)
    filling = fill_exactly([row.count for row in rows], rows_of, units, shuffle=rng.shuffle, search=False)
    if not filling.full:
        return None
    rng.shuffle(filling.placed_units)
    return [qid for unit in filling.placed_units for qid in unit.questions]


def _random_order(population: Sequence[T], rng: random.Random) -> Iterator[T]:
    """The population in a random order, made one item at a time: a Fisher-Yates shuffle that
    records only the swaps it made, so taking k items costs k steps, not len(population)."""
    moved: dict[int, int] = {}
    size = len(population)
    for i in range(size):
        j = rng.randrange(i, size)
        pick = moved.get(j, j)
        moved[j] = moved.get(i, i)
        yield population[pick]


def assemble(
    bank: Bank,
    domain: str,
    rows: Sequence[DrawRow],
    seed: int,
    seen: Collection[str] = (),
    *,
    purpose: str | None = None,
) -> list[ServedQuestion]:
    """The paper for `seed`: exactly the rows' questions, scenario groups together and in order,
    every option, item and match side under keys made for this paper alone."""
    rng = random.Random(seed)  # noqa: S311 (reproducible on purpose; the seed itself comes from secrets)
    chosen = choose(bank, domain, rows, rng, seen, purpose=purpose)
    return [_serve(slot, bank.questions[qid], rng) for slot, qid in enumerate(chosen, start=1)]


def _serve(slot: int, question: BankQuestion, rng: random.Random) -> ServedQuestion:
    model = question.model
    shuffle = model.shuffle
    if isinstance(model, Single | Multi | TrueFalse):
        keys = [o.key for o in model.options] if not isinstance(model, TrueFalse) else ["true", "false"]
        if shuffle and not isinstance(model, TrueFalse):  # true before false, always
            rng.shuffle(keys)
        served = _opaque_keys(rng, len(keys), "o")
        return ServedQuestion(
            slot, question.id, question.group, options=tuple(zip(served, keys, strict=True))
        )
    if isinstance(model, Order):
        keys = [i.key for i in model.items]
        # An order question is always shuffled: shown in order, it would give itself away.
        while len(keys) > 1 and keys == [i.key for i in model.items]:
            rng.shuffle(keys)
        served = _opaque_keys(rng, len(keys), "i")
        return ServedQuestion(
            slot, question.id, question.group, options=tuple(zip(served, keys, strict=True))
        )
    if isinstance(model, Match):
        # Served keys are random per paper, so they reveal nothing about which sides belong together.
        left_keys = _opaque_keys(rng, len(model.pairs), "l")
        right_texts = [p.right for p in model.pairs] + list(model.distractors)
        right_keys = _opaque_keys(rng, len(right_texts), "r")
        lefts = list(zip(left_keys, (p.left for p in model.pairs), strict=True))
        rights = list(zip(right_keys, right_texts, strict=True))
        answer = tuple((left_keys[i], right_keys[i]) for i in range(len(model.pairs)))
        if shuffle:
            rng.shuffle(lefts)
        rng.shuffle(rights)
        return ServedQuestion(
            slot, question.id, question.group, lefts=tuple(lefts), rights=tuple(rights), answer_pairs=answer
        )
    return ServedQuestion(slot, question.id, question.group)


def _opaque_keys(rng: random.Random, count: int, prefix: str) -> list[str]:
    """`count` distinct random keys, e.g. "o3fa91c": the same form for every option."""
    keys: list[str] = []
    while len(keys) < count:
        key = f"{prefix}{rng.getrandbits(24):06x}"
        if key not in keys:
            keys.append(key)
    return keys
