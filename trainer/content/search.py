"""Full-text search over the library, for Chinese and English alike.

Chinese has no spaces between words, so text is indexed as overlapping character pairs
(bigrams, the approach of Lucene's CJK analyzer) plus single characters for one-character
queries; Latin text as NFKC-normalised, case-folded words. The index lives in memory, is built
with the library and replaced with it, so every app process answers the same without a shared
search service.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

from markupsafe import Markup

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+", re.UNICODE)
_IS_CJK = re.compile(rf"[{_CJK}]")
_TITLE_WEIGHT = 3.0


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def tokens(text: str) -> list[str]:
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


def _index_terms(text: str) -> list[str]:
    """Like `tokens`, plus every single CJK character so one-character queries match."""
    terms = tokens(text)
    terms.extend(_IS_CJK.findall(normalise(text)))
    return terms


@dataclass(frozen=True)
class SearchDocument:
    key: str  # unique: module id + language
    module_id: str
    course_id: str
    lang: str
    title: str
    text: str


@dataclass(frozen=True)
class Hit:
    document: SearchDocument
    score: float
    snippet: Markup


class SearchIndex:
    def __init__(self, documents: list[SearchDocument]) -> None:
        self.documents = documents
        self._postings: dict[str, dict[int, float]] = defaultdict(dict)
        self._lengths: list[int] = []
        for number, doc in enumerate(documents):
            counts: dict[str, float] = defaultdict(float)
            for term in _index_terms(doc.title):
                counts[term] += _TITLE_WEIGHT
            body_terms = _index_terms(doc.text)
            for term in body_terms:
                counts[term] += 1.0
            self._lengths.append(len(body_terms) + 1)
            for term, weight in counts.items():
                self._postings[term][number] = weight
        self._average_length = sum(self._lengths) / len(self._lengths) if self._lengths else 1.0

    def search(self, query: str, *, prefer_lang: str, limit: int = 30) -> list[Hit]:
        """Documents containing every query term, best first (BM25), one per module."""
        terms = list(dict.fromkeys(tokens(query)))
        if not terms:
            return []
        candidates: set[int] | None = None
        for term in terms:
            found = set(self._postings.get(term, {}))
            candidates = found if candidates is None else candidates & found
            if not candidates:
                return []
        assert candidates is not None
        total = len(self.documents)
        scored = []
        for number in candidates:
            score = 0.0
            for term in terms:
                postings = self._postings[term]
                idf = math.log(1 + (total - len(postings) + 0.5) / (len(postings) + 0.5))
                tf = postings[number]
                norm = 1.2 * (0.25 + 0.75 * self._lengths[number] / self._average_length)
                score += idf * tf * 2.2 / (tf + norm)
            doc = self.documents[number]
            # The reader's language first, when a module exists in several.
            scored.append((doc.lang == prefer_lang, score, number))
        scored.sort(reverse=True)
        hits: list[Hit] = []
        seen_modules: set[str] = set()
        for _, score, number in scored:
            doc = self.documents[number]
            if doc.module_id in seen_modules:
                continue
            seen_modules.add(doc.module_id)
            hits.append(Hit(doc, score, snippet(doc.text, query)))
            if len(hits) == limit:
                break
        return hits


def snippet(text: str, query: str, width: int = 90) -> Markup:
    """A short excerpt around the first match, with the matched words marked."""
    words = {w.lower() for w in _TOKEN.findall(unicodedata.normalize("NFKC", query))}
    lowered = text.lower()  # lower() keeps offsets aligned with `text`; casefold() may not
    found = [lowered.find(w) for w in words if w in lowered]
    start = max(0, min(found) - width // 2) if found else 0
    end = start + 2 * width
    excerpt, low = text[start:end], lowered[start:end]
    spans = sorted((m.start(), m.end()) for w in words for m in re.finditer(re.escape(w), low))
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
