"""Full-text search over the library, for Chinese and English alike.

What is searched: each course's title and summary, and each module's title, summary, objectives
and text, in every language the library has them in. A course or module is one result however
many languages it is written in: it matches when every word of the query is found in one of its
versions, so a query in one language never hides what exists only in the other, and a query that
mixes the two (瓦斯 alarm) finds a module whose Chinese text has the one and English the other.
The reader's own language is the version shown whenever it matches.

Chinese has no spaces between words, so text is indexed as overlapping character pairs (bigrams,
the approach of Lucene's CJK analyzer) plus single characters for one-character queries; a query
of several characters must then also appear as written (a substring check on the candidates), so
危险化学品 does not match a text that merely has 危险 in one place and 化学品 in another. That
needs no dictionary: a word segmenter such as jieba (tens of MB of dictionary, seconds to load)
would add little for short queries of known terms. Latin words are NFKC-normalised, case-folded
and stemmed with the Snowball English stemmer, so "inspections" finds "inspection" and
"evacuate" finds "evacuation".

The index lives in memory, is built with the library and replaced with it, so every app process
answers the same without a shared search service.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import snowballstemmer
from markupsafe import Markup

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+", re.UNICODE)
_IS_CJK = re.compile(rf"[{_CJK}]")
# How much a word counts where it is found: a title says what the item is about more than a
# passing mention in its text does.
_TITLE_WEIGHT = 3.0
_SUMMARY_WEIGHT = 2.0
_STEMMER = snowballstemmer.stemmer("english")


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def tokens(text: str) -> list[str]:
    """Latin words as written (normalised), Chinese runs as bigrams (a single character alone)."""
    result: list[str] = []
    for run in _TOKEN.findall(normalise(text)):
        if _IS_CJK.match(run):
            if len(run) == 1:
                result.append(run)
            else:
                result.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            result.append(run)
    return result


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The English stem of a normalised Latin word ("inspections" -> "inspect"); Chinese
    bigrams and characters are returned unchanged. Cached: a library has a few thousand words."""
    if _IS_CJK.match(word):
        return word
    stemmed: str = _STEMMER.stemWord(word)
    return stemmed


@lru_cache(maxsize=65536)
def _word_stem(word: str) -> str:
    """The stem of a word as it appears in a text (any case, any width)."""
    return stem(normalise(word))


def terms(text: str) -> list[str]:
    """What a query word or a text is indexed under: `tokens`, with Latin words stemmed."""
    return [stem(token) for token in tokens(text)]


def _index_terms(text: str) -> list[str]:
    """Like `terms`, plus every single CJK character so one-character queries match."""
    found = terms(text)
    found.extend(_IS_CJK.findall(normalise(text)))
    return found


@dataclass(frozen=True)
class SearchDocument:
    """One language version of a course (title and summary) or a module."""

    key: str  # unique: course or module id + language
    kind: Literal["course", "module"]
    course_id: str
    module_id: str | None  # None for a course
    lang: str
    title: str
    summary: str
    text: str

    @property
    def item(self) -> tuple[str, str]:
        """The course or module this is a version of: what a result stands for."""
        return (self.kind, self.module_id or self.course_id)


@dataclass(frozen=True)
class Hit:
    document: SearchDocument  # the version shown: the reader's language whenever it matches
    score: float
    snippet: Markup


@dataclass(frozen=True)
class _Unit:
    """One thing a query asks for: a stemmed word, a Chinese character, or a Chinese run that
    must appear as written."""

    terms: tuple[str, ...]  # index terms that must all be present
    phrase: str | None  # a CJK run of 2+ characters: checked as a substring


def _units(query: str) -> list[_Unit]:
    units: dict[tuple[tuple[str, ...], str | None], _Unit] = {}
    for run in _TOKEN.findall(normalise(query)):
        if _IS_CJK.match(run) and len(run) > 1:
            bigrams = tuple(dict.fromkeys(run[i : i + 2] for i in range(len(run) - 1)))
            unit = _Unit(bigrams, run if len(run) > 2 else None)
        else:
            unit = _Unit((stem(run),), None)
        units.setdefault((unit.terms, unit.phrase), unit)
    return list(units.values())


class SearchIndex:
    def __init__(self, documents: list[SearchDocument]) -> None:
        self.documents = documents
        self._postings: dict[str, dict[int, float]] = defaultdict(dict)
        self._lengths: list[int] = []
        # Normalised full text per document, for the phrase check of Chinese queries, and the
        # snippet's text in lower case, to find the first match in.
        self._plain: list[str] = []
        self._lowered: list[str] = []
        for number, doc in enumerate(documents):
            counts: dict[str, float] = defaultdict(float)
            for term in _index_terms(doc.title):
                counts[term] += _TITLE_WEIGHT
            for term in _index_terms(doc.summary):
                counts[term] += _SUMMARY_WEIGHT
            body_terms = _index_terms(doc.text)
            for term in body_terms:
                counts[term] += 1.0
            self._lengths.append(len(body_terms) + 1)
            self._plain.append(normalise(f"{doc.title}\n{doc.summary}\n{doc.text}"))
            self._lowered.append((doc.text or doc.summary).lower())
            for term, weight in counts.items():
                self._postings[term][number] = weight
        self._average_length = sum(self._lengths) / len(self._lengths) if self._lengths else 1.0

    def _unit_scores(self, unit: _Unit) -> dict[int, float]:
        """BM25 score of each document that contains the unit."""
        total = len(self.documents)
        found: set[int] | None = None
        for term in unit.terms:
            docs = set(self._postings.get(term, ()))
            found = docs if found is None else found & docs
            if not found:
                return {}
        assert found is not None
        if unit.phrase is not None:
            found = {number for number in found if unit.phrase in self._plain[number]}
        scores: dict[int, float] = {}
        for number in found:
            score = 0.0
            for term in unit.terms:
                postings = self._postings[term]
                idf = math.log(1 + (total - len(postings) + 0.5) / (len(postings) + 0.5))
                tf = postings[number]
                norm = 1.2 * (0.25 + 0.75 * self._lengths[number] / self._average_length)
                score += idf * tf * 2.2 / (tf + norm)
            scores[number] = score
        return scores

    def search(self, query: str, *, prefer_lang: str, limit: int = 30) -> list[Hit]:
        """Courses and modules that contain every query word in one of their versions, best first
        (BM25, each word scored where it is found best): at most `limit` modules, and every
        course that matches."""
        units = _units(query)
        if not units:
            return []
        per_unit = [self._unit_scores(unit) for unit in units]
        # An item matches when each unit is in at least one of its versions.
        items: set[tuple[str, str]] | None = None
        for scores in per_unit:
            found = {self.documents[number].item for number in scores}
            items = found if items is None else items & found
            if not items:
                return []
        assert items is not None
        versions: dict[tuple[str, str], list[int]] = defaultdict(list)
        for scores in per_unit:
            for number in scores:
                if self.documents[number].item in items:
                    versions[self.documents[number].item].append(number)
        ranked = []
        for item, numbers in versions.items():
            candidates = sorted(set(numbers))
            score = sum(max((scores.get(n, 0.0) for n in candidates), default=0.0) for scores in per_unit)
            # The version shown: one with every unit, the reader's language first, then the one
            # with the most units found.
            shown = max(
                candidates,
                key=lambda n: (
                    sum(n in scores for scores in per_unit),
                    self.documents[n].lang == prefer_lang,
                    sum(scores.get(n, 0.0) for scores in per_unit),
                ),
            )
            ranked.append((score, item, shown))
        ranked.sort(key=lambda entry: (-entry[0], entry[1]))
        hits: list[Hit] = []
        modules = 0
        for score, item, shown in ranked:
            if item[0] == "module":
                if modules == limit:
                    continue
                modules += 1
            doc = self.documents[shown]
            excerpt = snippet(doc.text or doc.summary, query, lowered=self._lowered[shown])
            hits.append(Hit(doc, score, excerpt))
        return hits


_WORD = re.compile(r"[^\W_]+")


def _query_parts(query: str) -> tuple[set[str], list[str]]:
    """The stems of a query's Latin words, and its Chinese runs."""
    stems: set[str] = set()
    runs: list[str] = []
    for run in _TOKEN.findall(normalise(query)):
        if _IS_CJK.match(run):
            runs.append(run)
        else:
            stems.add(stem(run))
    return stems, runs


def _prefixes(stems: set[str]) -> set[str]:
    """What a word with one of these stems starts with: the stem, less a final "i" (Snowball
    writes "safeti" for "safety"). Candidates found so are then stemmed to be sure, so a snippet
    stems a few words, not a module's thousands."""
    return {s[:-1] if s.endswith("i") and len(s) > 2 else s for s in stems if s}


def _pieces(runs: list[str], text: str) -> list[str]:
    """A Chinese run as written, or its character pairs where the text lacks it whole."""
    found: list[str] = []
    for run in runs:
        found.extend([run] if len(run) < 3 or run in text else [run[i : i + 2] for i in range(len(run) - 1)])
    return found


def _first_match(text: str, lowered: str, stems: set[str], runs: list[str]) -> int | None:
    best: int | None = None
    for prefix in _prefixes(stems):
        position = lowered.find(prefix)
        while position != -1 and (best is None or position < best):
            at_word_start = position == 0 or not lowered[position - 1].isalnum()
            word = _WORD.match(lowered, position)
            if at_word_start and word is not None and _word_stem(word.group()) in stems:
                best = position
                break
            position = lowered.find(prefix, position + 1)
    for piece in _pieces(runs, text):
        position = text.find(piece)
        if position != -1 and (best is None or position < best):
            best = position
    return best


def _marks(excerpt: str, stems: set[str], runs: list[str], text: str) -> list[tuple[int, int]]:
    """Spans of the excerpt that match: words with a query word's stem, Chinese runs."""
    spans = [match.span() for match in _WORD.finditer(excerpt) if _word_stem(match.group()) in stems]
    for piece in _pieces(runs, text):
        spans.extend(m.span() for m in re.finditer(re.escape(piece), excerpt))
    return sorted(spans)


def snippet(text: str, query: str, width: int = 90, lowered: str | None = None) -> Markup:
    """A short excerpt around the first match, with the matched words marked. `lowered` is
    `text.lower()` when the caller has it (lower() keeps offsets aligned with `text`; casefold()
    and NFKC may not)."""
    stems, runs = _query_parts(query)
    first = _first_match(text, text.lower() if lowered is None else lowered, stems, runs)
    start = max(0, first - width // 2) if first is not None else 0
    end = start + 2 * width
    excerpt = text[start:end]
    spans = _marks(excerpt, stems, runs, text)
    pieces: list[str] = []
    cursor = 0
    for span_start, span_end in spans:
        if span_end <= cursor:  # inside the previous mark
            continue
        if span_start < cursor:  # overlaps the previous mark: extend it instead
            pieces[-1] = pieces[-1][: -len("</mark>")] + html.escape(excerpt[cursor:span_end]) + "</mark>"
        else:
            pieces.append(html.escape(excerpt[cursor:span_start]))
            pieces.append("<mark>" + html.escape(excerpt[span_start:span_end]) + "</mark>")
        cursor = span_end
    pieces.append(html.escape(excerpt[cursor:]))
    prefix = "… " if start > 0 else ""
    suffix = " …" if end < len(text) else ""
    # Safe: every piece of text above went through html.escape; only <mark> is ours.
    return Markup(prefix + "".join(pieces) + suffix)  # noqa: S704
