"""A question as served in one attempt, stored whole, and the parts of it a client may see.

The stored snapshot is the attempt's own copy of the paper: rendered text, option order, answer
key, explanation, feedback and legal references. `public_question` is what may cross the wire
while the attempt is open: never the key, feedback, explanation or anything else that reveals
the answer (formats.md).

A paper has a language (`lang` in every entry; a paper stored before there was one is English):
its words come from the question's translation in that language where there is one that is not
stale (trainer.content.translations), else from the bank file; true/false labels are in the
paper's language. Keys are never translated, so grading is the same in every language; a text
answer counts in either language's accepted forms, and a numeric answer's unit in either
language's label.
"""

from __future__ import annotations

import hashlib
import threading
from functools import lru_cache
from typing import Any

from trainer.content.bank import BankQuestion, Translation
from trainer.content.bank_schemas import Match, Multi, Numeric, Order, Single, TextAnswer, TrueFalse
from trainer.content.library import Library
from trainer.content.render import MarkdownRenderer
from trainer.i18n import TRUTH_LABELS, catalogue
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
    normalise_text,
)

DEFAULT_LANG = "en"  # the language of a paper stored before papers had one

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


def paper_lang(entries: list[dict[str, Any]]) -> str | None:
    """The language a paper is served in (the first entry says; every entry says the same), or
    None for a paper stored before papers had one (its words are English: DEFAULT_LANG)."""
    return str(entries[0]["lang"]) if entries and "lang" in entries[0] else None


def snapshot_question(served: ServedQuestion, library: Library, lang: str = DEFAULT_LANG) -> dict[str, Any]:
    """The snapshot entry of one served question in a paper in `lang`: its own parts (the same in
    every paper of that language, worked out once per loaded bank) with this paper's slot and
    option order."""
    bank = library.bank
    question = bank.questions[served.question_id]
    cache_key = question.id if lang == DEFAULT_LANG else f"{question.id} {lang}"  # a space: never in an id
    derived = bank.derived.get(cache_key)
    if derived is None:
        derived = _derive(question, library, lang)
        bank.derived.put(cache_key, derived)
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
        words = derived["texts"]  # a side's source text -> its text in this paper's language
        entry["left"] = [{"key": k, "text_html": render(words.get(t, t))} for k, t in served.lefts]
        entry["right"] = [{"key": k, "text_html": render(words.get(t, t))} for k, t in served.rights]
        if words:
            # A key correction finds the sides again by their source text (current_key_json).
            entry["sides"] = {k: render(t) for k, t in (*served.lefts, *served.rights)}
    entry["key"] = derived["key"] if derived["key"] is not None else _key_json(model, served)
    entry["review"] = derived["review"]
    return entry


def _derive(question: BankQuestion, library: Library, lang: str) -> dict[str, Any]:
    """The parts of a snapshot entry that depend on the question (and the paper's language)
    alone. Shared by every paper that draws it, so never mutated: entries are serialised as soon
    as they are made."""
    model = question.model
    bank = library.bank
    found = bank.translation(lang, question.id) if lang != question.lang else None
    words = found.model if found is not None else None
    entry: dict[str, Any] = {
        "id": question.id,
        "type": question.type,
        "lang": lang,
        "tags": sorted(question.tags),
        "difficulty": question.difficulty,
        "content_hash": content_hash(question),
        "stem_html": render(words.stem if words else model.stem),
        "scenario": None,
    }
    if question.group is not None:
        group = bank.scenarios[question.group]
        group_words = bank.translation(lang, group.id) if lang != (group.lang or DEFAULT_LANG) else None
        entry["scenario"] = {
            "id": group.id,
            "stem_html": render(group_words.model.stem if group_words else group.stem),
        }
    explanation = (words.explanation if words else None) or model.explanation
    review: dict[str, Any] = {
        "explanation_html": render(explanation) if model.explanation else None,
        "refs": [cited_at_draw(library, r.reg, r.clause) for r in model.refs],
        "feedback": {},
    }
    texts: dict[str, str] = {}
    if isinstance(model, TrueFalse):
        gettext = catalogue(lang).gettext
        texts = {key: gettext(label) for key, label in TRUTH_LABELS.items()}
    elif isinstance(model, Single | Multi):
        options = words.options if words and words.options else {}
        texts = {o.key: render(options[o.key].text if o.key in options else o.text) for o in model.options}
        review["feedback"] = {
            o.key: render((options[o.key].feedback if o.key in options else None) or o.feedback)
            for o in model.options
            if o.feedback
        }
    elif isinstance(model, Order):
        items = words.items if words and words.items else {}
        texts = {i.key: render(items.get(i.key, i.text)) for i in model.items}
    elif isinstance(model, Match) and words is not None:
        # By position: the i-th translated pair renders the i-th source pair (rendered per paper,
        # since the served sides name source texts).
        for pair, said in zip(model.pairs, words.pairs or [], strict=False):
            texts[pair.left], texts[pair.right] = said.left, said.right
        texts.update(zip(model.distractors, words.distractors or [], strict=False))
    elif isinstance(model, Numeric):
        labels = dict(words.unit_labels or {}) if words else {}
        unit = model.answer.unit
        entry["unit"] = labels.get(unit, unit) if unit else unit
        entry["units"] = sorted({labels.get(u, u) for u in [unit, *model.answer.units] if u})
        if labels:  # typed source units still count: the form maps them (trainer.quizzes.views)
            entry["unit_labels"] = {u: label for u, label in labels.items() if label != u}
    # A match key names this paper's served keys; every other key is the question's own.
    key = None if isinstance(model, Match) else _key_json(model, None, words)
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


def refs_for_reader(questions: list[dict[str, Any]], lang: str, library: Library) -> None:
    """Every question's kept citations as `cited_for_reader` shows them in `lang` (in place)."""
    for question in questions:
        if question.get("refs"):
            question["refs"] = [cited_for_reader(ref, lang, library) for ref in question["refs"]]


def _key_json(model: Any, served: ServedQuestion | None, words: Any = None) -> dict[str, Any]:
    """The key as stored. `words` (a translation) adds its accepted text answers and unit labels:
    either language's form counts."""
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
        units = dict(key.units)
        factors = {key.unit: 1.0, **units} if key.unit else units
        for unit, label in ((words.unit_labels or {}) if words else {}).items():
            if label not in factors and unit in factors:
                units[label] = factors[unit]
        return {
            "kind": "numeric",
            "value": key.value,
            "absolute": key.absolute,
            "relative": key.relative,
            "unit": key.unit,
            "units": [list(u) for u in sorted(units.items())],
        }
    if isinstance(key, TextKey):
        accept = list(key.accept)
        shown = model.accept[0] if isinstance(model, TextAnswer) else key.accept[0]
        if words is not None and words.accept:
            accept += [a for a in map(normalise_text, words.accept) if a not in accept]
            shown = words.accept[0]
        return {"kind": "text", "accept": accept, "display": shown}
    if isinstance(key, OrderKey):
        return {"kind": "order", "order": list(key.order), "partial": key.partial}
    raise TypeError(type(model).__name__)


def current_key_json(
    question: BankQuestion, entry: dict[str, Any], translation: Translation | None = None
) -> dict[str, Any]:
    """The bank's current key for a question as it was served in a past paper. Choice and order
    keys are the bank's own (stored responses name them); a match key names the paper's served
    sides, found again by their source text. `translation`, the question's in the paper's
    language: its accepted answers and unit labels count as they did when served."""
    model = question.model
    if not isinstance(model, Match):
        return _key_json(model, None, translation.model if translation is not None else None)
    sides = entry.get("sides") or {}  # a translated paper: served key -> the side's source text
    lefts = {sides.get(item["key"], item["text_html"]): item["key"] for item in entry.get("left", [])}
    rights = {sides.get(item["key"], item["text_html"]): item["key"] for item in entry.get("right", [])}
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
    "unit_labels",
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
        correct = {"value": key["value"], "unit": entry.get("unit", key["unit"])}  # as the paper names it
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
