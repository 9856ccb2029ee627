"""Drawing a paper from the bank. Pure: the same seed and inputs always give the same paper.

A paper satisfies every row of a blueprint (or practice draw) with distinct questions, prefers
questions the inspector has not seen, keeps a scenario's sub-questions together, and shuffles
options, order items and match sides unless the question says not to. Row filling uses
augmenting paths (like `trainer.content.bank.fill`), so a draw never fails where the content
check said the bank suffices (both use `trainer.content.bank.assign`).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from trainer.content.bank import Bank, BankQuestion, assign
from trainer.content.bank_schemas import Match, Multi, Order, Single
from trainer.content.schemas import DrawRow


class CannotDrawError(Exception):
    """The bank cannot fill the rows (the content check reports this before it happens)."""


@dataclass(frozen=True)
class ServedQuestion:
    """A question as placed in one paper: everything needed to show and grade it again."""

    slot: int  # 1-based position in the paper
    question_id: str
    group: str | None
    options: tuple[str, ...] = ()  # choice keys (or order item keys) in the order shown
    lefts: tuple[tuple[str, str], ...] = ()  # match: (served key, left text) in the order shown
    rights: tuple[tuple[str, str], ...] = ()  # match: (served key, right text), distractors included
    answer_pairs: tuple[tuple[str, str], ...] = ()  # match: (left key, right key) - the answer


def choose(
    bank: Bank, domain: str, rows: Sequence[DrawRow], rng: random.Random, seen: Collection[str] = ()
) -> list[str]:
    """Question ids that fill every row, with as many unseen ones as the rows allow, in a
    random order."""
    slots: list[list[str]] = []
    for row in rows:
        candidates = [q.id for q in bank.candidates(domain, row)]
        rng.shuffle(candidates)
        candidates.sort(key=lambda qid: qid in seen)  # stable: unseen first, random within each
        slots.extend([candidates] * row.count)
    owner = assign(slots, prefer=(lambda qid: qid not in seen) if seen else None)
    if len(owner) < len(slots):
        raise CannotDrawError(f"the bank cannot fill {len(slots)} questions for these rows")
    chosen = sorted(owner, key=lambda qid: owner[qid])
    rng.shuffle(chosen)
    return chosen


def assemble(
    bank: Bank, domain: str, rows: Sequence[DrawRow], seed: int, seen: Collection[str] = ()
) -> list[ServedQuestion]:
    """The paper for `seed`: chosen questions, scenario groups kept together and in order."""
    rng = random.Random(seed)  # noqa: S311 (reproducible on purpose; the seed itself comes from secrets)
    chosen = choose(bank, domain, rows, rng, seen)
    ordered: list[BankQuestion] = []
    placed: set[str] = set()
    for qid in chosen:
        question = bank.questions[qid]
        if question.id in placed:
            continue
        if question.group is None:
            ordered.append(question)
            placed.add(question.id)
            continue
        for sub in bank.scenarios[question.group].questions:  # the whole group, in its own order
            if sub.id not in placed:
                ordered.append(bank.questions[sub.id])
                placed.add(sub.id)
    return [_serve(slot, question, rng) for slot, question in enumerate(ordered, start=1)]


def _serve(slot: int, question: BankQuestion, rng: random.Random) -> ServedQuestion:
    model = question.model
    shuffle = model.shuffle
    if isinstance(model, Single | Multi):
        keys = [o.key for o in model.options]
        if shuffle:
            rng.shuffle(keys)
        return ServedQuestion(slot, question.id, question.group, options=tuple(keys))
    if isinstance(model, Order):
        keys = [i.key for i in model.items]
        # An order question is always shuffled: shown in order, it would give itself away.
        while len(keys) > 1 and keys == [i.key for i in model.items]:
            rng.shuffle(keys)
        return ServedQuestion(slot, question.id, question.group, options=tuple(keys))
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
    keys: set[str] = set()
    while len(keys) < count:
        keys.add(f"{prefix}{rng.getrandbits(24):06x}")
    return sorted(keys, key=lambda _: rng.random())
