"""A question as served in one attempt, stored whole, and the parts of it a client may see.

The stored snapshot is the attempt's own copy of the paper: rendered text, option order, answer
key, explanation, feedback and legal references. `public_question` is what may cross the wire
while the attempt is open: never the key, feedback, explanation or anything else that reveals
the answer (formats.md).
"""

from __future__ import annotations

import hashlib
import threading
from functools import lru_cache
from typing import Any

from trainer.content.bank import BankQuestion
from trainer.content.bank_schemas import Match, Multi, Numeric, Order, Single, TextAnswer, TrueFalse
from trainer.content.library import Library
from trainer.content.render import MarkdownRenderer
from trainer.quizzes.assembly import ServedQuestion
from trainer.quizzes.scoring import (
    AnswerKey,
    ChoiceKey,
    MatchKey,
    NumericKey,
    OrderKey,
    ResponseError,
    TextKey,
    key_for,
)

_local = threading.local()


@lru_cache(maxsize=32_768)
def render(text: str) -> str:
    """Markdown to sanitised HTML (one renderer per thread: Python-Markdown keeps state).

    Cached by text: every inspector starting an exam gets the same fragments, and rendering is
    nine tenths of a start's cost without it. The output depends on the text alone, so an edited
    question is a new key and a reloaded library needs no invalidation."""
    renderer = getattr(_local, "renderer", None)
    if renderer is None:
        renderer = _local.renderer = MarkdownRenderer()
    html: str = renderer.render(text).html
    return html


def content_hash(question: BankQuestion) -> str:
    return hashlib.sha256(question.model.model_dump_json().encode()).hexdigest()


def snapshot_question(served: ServedQuestion, library: Library) -> dict[str, Any]:
    """The snapshot entry of one served question: its own parts (the same in every paper, worked
    out once per loaded bank) with this paper's slot and option order."""
    bank = library.bank
    question = bank.questions[served.question_id]
    derived = bank.derived.get(question.id)
    if derived is None:
        derived = _derive(question, library)
        bank.derived.put(question.id, derived)
    entry: dict[str, Any] = {"slot": served.slot, **derived["entry"]}
    model = question.model
    if isinstance(model, Single | Multi | TrueFalse):
        entry["options"] = [
            {"key": k, "text_html": derived["texts"][bank_key]} for k, bank_key in served.options
        ]
        entry["keymap"] = dict(served.options)
    elif isinstance(model, Order):
        entry["items"] = [
            {"key": k, "text_html": derived["texts"][bank_key]} for k, bank_key in served.options
        ]
        entry["keymap"] = dict(served.options)
    elif isinstance(model, Match):
        entry["left"] = [{"key": k, "text_html": render(t)} for k, t in served.lefts]
        entry["right"] = [{"key": k, "text_html": render(t)} for k, t in served.rights]
    entry["key"] = derived["key"] if derived["key"] is not None else _key_json(model, served)
    entry["review"] = derived["review"]
    return entry


def _derive(question: BankQuestion, library: Library) -> dict[str, Any]:
    """The parts of a snapshot entry that depend on the question alone. Shared by every paper
    that draws it, so never mutated: entries are serialised as soon as they are made."""
    model = question.model
    entry: dict[str, Any] = {
        "id": question.id,
        "type": question.type,
        "tags": sorted(question.tags),
        "difficulty": question.difficulty,
        "content_hash": content_hash(question),
        "stem_html": render(model.stem),
        "scenario": None,
    }
    if question.group is not None:
        group = library.bank.scenarios[question.group]
        entry["scenario"] = {"id": group.id, "stem_html": render(group.stem)}
    review: dict[str, Any] = {
        "explanation_html": render(model.explanation) if model.explanation else None,
        "refs": [cited_at_draw(library, r.reg, r.clause) for r in model.refs],
        "feedback": {},
    }
    texts: dict[str, str] = {}
    if isinstance(model, TrueFalse):
        texts = {"true": "True", "false": "False"}
    elif isinstance(model, Single | Multi):
        texts = {o.key: render(o.text) for o in model.options}
        review["feedback"] = {o.key: render(o.feedback) for o in model.options if o.feedback}
    elif isinstance(model, Order):
        texts = {i.key: render(i.text) for i in model.items}
    elif isinstance(model, Numeric):
        entry["unit"] = model.answer.unit
        entry["units"] = sorted({u for u in [model.answer.unit, *model.answer.units] if u})
    # A match key names this paper's served keys; every other key is the question's own.
    key = None if isinstance(model, Match) else _key_json(model, None)
    return {"entry": entry, "texts": texts, "key": key, "review": review}


def cited_at_draw(library: Library, code: str, clause: str | None) -> dict[str, Any]:
    """A citation as the paper keeps it: the regulation's title and the edition in force when the
    paper was drawn, in every language the library has them in, so that a review shows the
    edition the question cited even after regulations.yaml moves on to a newer one."""
    regulation = library.regulations.get(code)
    if regulation is None:
        return {"reg": code, "title": code, "clause": clause}
    return {
        "reg": code,
        "title": regulation.title,
        "edition": regulation.edition,
        "clause": clause,
        "translations": {
            lang: {"title": regulation.title_in(lang), "edition": regulation.edition_in(lang)}
            for lang in regulation.translations
        },
    }


def cited_for_reader(ref: dict[str, Any], lang: str, library: Library) -> dict[str, Any]:
    """A kept citation as a review shows it: title in the reader's language, the edition cited
    when the paper was drawn, and whether the regulation is no longer in force today."""
    kept = ref.get("translations")
    regulation = library.regulations.get(ref["reg"])
    translated = (kept or {}).get(lang) or {}
    if translated:
        title = translated["title"]
    elif kept is None and regulation is not None:  # drawn before citations kept their languages
        title = regulation.title_in(lang)
    else:
        title = ref["title"]
    return {
        "reg": ref["reg"],
        "title": title,
        "edition": translated.get("edition") or ref.get("edition"),
        "clause": ref.get("clause"),
        "status": regulation.status if regulation is not None and not regulation.in_force else None,
    }


def _key_json(model: Any, served: ServedQuestion | None) -> dict[str, Any]:
    if isinstance(model, Match):
        if served is None:
            raise ValueError("a match key names the served keys of one paper")
        return {
            "kind": "match",
            "pairs": [list(p) for p in served.answer_pairs],
            "rights": [k for k, _ in served.rights],
        }
    key = key_for(model)
    if isinstance(key, ChoiceKey):
        return {
            "kind": "choice",
            "correct": sorted(key.correct),
            "keys": sorted(key.keys),
            "multiple": key.multiple,
            "partial": key.partial,
        }
    if isinstance(key, NumericKey):
        return {
            "kind": "numeric",
            "value": key.value,
            "absolute": key.absolute,
            "relative": key.relative,
            "unit": key.unit,
            "units": [list(u) for u in key.units],
        }
    if isinstance(key, TextKey):
        shown = model.accept[0] if isinstance(model, TextAnswer) else key.accept[0]
        return {"kind": "text", "accept": list(key.accept), "display": shown}
    if isinstance(key, OrderKey):
        return {"kind": "order", "order": list(key.order), "partial": key.partial}
    raise TypeError(type(model).__name__)


def current_key_json(question: BankQuestion, entry: dict[str, Any]) -> dict[str, Any]:
    """The bank's current key for a question as it was served in a past paper. Choice and order
    keys are the bank's own (stored responses name them); a match key names the paper's served
    sides, found again by their text."""
    model = question.model
    if not isinstance(model, Match):
        return _key_json(model, None)
    lefts = {item["text_html"]: item["key"] for item in entry.get("left", [])}
    rights = {item["text_html"]: item["key"] for item in entry.get("right", [])}
    pairs = [
        [lefts[render(p.left)], rights[render(p.right)]]
        for p in model.pairs
        if render(p.left) in lefts and render(p.right) in rights
    ]
    return {"kind": "match", "pairs": pairs, "rights": sorted(rights.values())}


def answer_key(entry: dict[str, Any]) -> AnswerKey:
    """The scoring key stored in a snapshot entry (so grading never reads the live bank)."""
    key = entry["key"]
    kind = key["kind"]
    if kind == "choice":
        return ChoiceKey(frozenset(key["correct"]), frozenset(key["keys"]), key["multiple"], key["partial"])
    if kind == "numeric":
        return NumericKey(
            key["value"],
            key["absolute"],
            key["relative"],
            key["unit"],
            tuple((u, f) for u, f in key["units"]),
        )
    if kind == "text":
        return TextKey(tuple(key["accept"]))
    if kind == "order":
        return OrderKey(tuple(key["order"]), key["partial"])
    return MatchKey(tuple((a, b) for a, b in key["pairs"]), frozenset(key["rights"]))


def to_bank(entry: dict[str, Any], response: Any) -> Any:
    """A response in this paper's served keys, in the bank's keys (as stored and graded).

    Choice and order responses name served keys; anything else passes through. A key this paper
    did not serve is the client's mistake (422), like any other malformed response."""
    keymap = entry.get("keymap")
    if keymap is None or not isinstance(response, dict):
        return response  # match keys are the paper's own; papers before opaque keys had none
    field = "order" if entry["type"] == "order" else "selected"
    given = response.get(field)
    if not isinstance(given, list) or not all(isinstance(k, str) for k in given):
        return response  # the scorer explains the expected shape
    if any(k not in keymap for k in given):
        raise ResponseError("unknown or repeated option keys" if field == "selected" else "unknown item keys")
    return {**response, field: [keymap[k] for k in given]}


def to_served(entry: dict[str, Any], response: Any) -> Any:
    """A stored response (bank keys) as this paper shows it (served keys)."""
    keymap = entry.get("keymap")
    if keymap is None or not isinstance(response, dict):
        return response
    back = {bank_key: served for served, bank_key in keymap.items()}
    field = "order" if entry["type"] == "order" else "selected"
    given = response.get(field)
    if not isinstance(given, list):
        return response
    return {**response, field: [back.get(k, k) for k in given]}


PUBLIC_FIELDS = (
    "slot",
    "id",
    "type",
    "stem_html",
    "scenario",
    "options",
    "items",
    "left",
    "right",
    "unit",
    "units",
)


def public_question(entry: dict[str, Any]) -> dict[str, Any]:
    return {name: entry[name] for name in PUBLIC_FIELDS if name in entry}


def review_question(entry: dict[str, Any], response: Any, score: float | None) -> dict[str, Any]:
    """After submission (as the review policy allows): the key, the feedback and the law, in
    this paper's served keys. `response` is as stored (bank keys)."""
    key = entry["key"]
    correct: Any
    if key["kind"] == "choice":
        correct = to_served(entry, {"selected": key["correct"]})
    elif key["kind"] == "numeric":
        correct = {"value": key["value"], "unit": key["unit"]}
    elif key["kind"] == "text":
        correct = {"text": key.get("display", key["accept"][0])}
    elif key["kind"] == "order":
        correct = to_served(entry, {"order": key["order"]})
    else:
        correct = {"pairs": dict(key["pairs"])}
    back = {bank_key: served for served, bank_key in entry.get("keymap", {}).items()}
    return {
        **public_question(entry),
        "response": to_served(entry, response),
        "score": score,
        "correct": correct,
        "explanation_html": entry["review"]["explanation_html"],
        "feedback": {back.get(k, k): html for k, html in entry["review"]["feedback"].items()},
        "refs": entry["review"]["refs"],
    }
