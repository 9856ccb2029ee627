"""Search tokenisation and ranking, for English and Chinese."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ZH
from trainer.config import PROJECT_ROOT
from trainer.content.library import Library
from trainer.content.loader import load_library
from trainer.content.search import SearchDocument, SearchIndex, snippet, stem, tokens


def doc(key: str, title: str, text: str, lang: str = "en", module: str | None = None) -> SearchDocument:
    return SearchDocument(key, "module", "course", module or key, lang, title, "", text)


INDEX = SearchIndex(
    [
        doc("methane", "Methane control", "Stop work when methane reaches the limit; cut power."),
        doc("fire", "Fire patrols", "Patrol venues and check for leftover fire sources at closing."),
        doc("methane-zh", "瓦斯防治", "瓦斯浓度达到规定值时停止作业、切断电源。", "zh-CN", module="methane"),
        doc("chem", "危险化学品储存", "剧毒化学品实行双人收发、双人保管。", "zh-CN"),
    ]
)


def test_tokens_split_latin_words_and_chinese_bigrams() -> None:
    assert tokens("Methane LIMIT") == ["methane", "limit"]
    assert tokens("双人保管") == ["双人", "人保", "保管"]
    assert tokens("CH４ 浓度") == ["ch4", "浓度"]  # full-width digit folded by NFKC
    assert tokens("瓦") == ["瓦"]


def test_english_query_matches_all_words() -> None:
    assert [h.document.key for h in INDEX.search("methane power", prefer_lang="en")] == ["methane"]
    assert INDEX.search("methane venues", prefer_lang="en") == []


def test_chinese_query_matches_without_spaces() -> None:
    hits = INDEX.search("双人保管", prefer_lang="zh-CN")
    assert [h.document.key for h in hits] == ["chem"]
    assert [h.document.key for h in INDEX.search("电源", prefer_lang="zh-CN")] == ["methane-zh"]
    assert [h.document.key for h in INDEX.search("毒", prefer_lang="zh-CN")] == ["chem"]


def test_one_hit_per_module_in_the_readers_language() -> None:
    both = SearchIndex(
        [
            doc("m-en", "Gas", "power cut", module="m"),
            doc("m-zh", "瓦斯", "power cut 切断电源", "zh-CN", module="m"),
        ]
    )
    assert [h.document.key for h in both.search("power", prefer_lang="zh-CN")] == ["m-zh"]
    assert [h.document.key for h in both.search("power", prefer_lang="en")] == ["m-en"]


def test_title_matches_rank_first() -> None:
    index = SearchIndex([doc("a", "Other", "fire fire"), doc("b", "Fire", "nothing")])
    assert next(h.document.key for h in index.search("fire", prefer_lang="en")) == "b"


def test_snippet_marks_matches_and_escapes() -> None:
    assert str(snippet("Cut <power> now", "power")) == "Cut &lt;<mark>power</mark>&gt; now"
    assert "<mark>mark</mark>" in str(snippet("a mark here", "mar mark"))
    assert str(snippet("x" * 300 + " methane " + "y" * 300, "methane")).startswith("… ")


def test_empty_and_punctuation_queries_find_nothing() -> None:
    assert INDEX.search("", prefer_lang="en") == []
    assert INDEX.search("?!，。", prefer_lang="en") == []


# -- stemming, both languages, courses (issue 15) ------------------------------------------------


def course_doc(course: str, title: str, summary: str, lang: str = "en") -> SearchDocument:
    return SearchDocument(f"{course}:{lang}", "course", course, None, lang, title, summary, "")


def test_english_words_are_stemmed() -> None:
    index = SearchIndex(
        [
            doc("a", "Patrols", "The inspection of every exit is recorded."),
            doc("b", "Drills", "Staff evacuated the building in four minutes."),
            doc("c", "Other", "Nothing about either."),
        ]
    )
    assert stem("inspections") == stem("inspection") == "inspect"
    assert [h.document.key for h in index.search("inspections", prefer_lang="en")] == ["a"]
    assert [h.document.key for h in index.search("Evacuate", prefer_lang="en")] == ["b"]
    assert [h.document.key for h in index.search("EVACUATION", prefer_lang="en")] == ["b"]
    # The snippet marks the word as the text writes it.
    (hit,) = index.search("inspections", prefer_lang="en")
    assert "<mark>inspection</mark>" in str(hit.snippet)


def test_a_query_in_one_language_finds_what_only_the_other_has() -> None:
    index = SearchIndex(
        [
            doc("m-en", "Local fans", "Restart the local fan by hand.", module="m"),
            doc("m-zh", "局部通风机", "局部通风机停止运转时……", "zh-CN", module="m"),
            doc("n-en", "Gas alarms", "Alarm levels at 25% LEL.", module="n"),  # no Chinese version
        ]
    )
    # An English reader searching Chinese, a Chinese reader searching English: found, and the
    # version shown is the one that matched.
    (hit,) = index.search("局部通风机", prefer_lang="en")
    assert hit.document.key == "m-zh"
    (hit,) = index.search("alarm", prefer_lang="zh-CN")
    assert hit.document.key == "n-en"
    # Each version holds one of the words: still one result, shown in the reader's language.
    assert [h.document.key for h in index.search("fan 局部", prefer_lang="zh-CN")] == ["m-zh"]
    # A query mixing the languages matches a module whose versions hold one word each.
    (hit,) = index.search("通风机 restart", prefer_lang="en")
    assert hit.document.module_id == "m"


def test_a_chinese_query_must_appear_as_written() -> None:
    index = SearchIndex(
        [
            doc("apart", "储存", "危险的物品与化学品分开存放。", "zh-CN"),
            doc("whole", "储存", "危险化学品专库储存。", "zh-CN"),
        ]
    )
    # 危险化学品 shares every character pair with neither: only the text that has it whole.
    assert [h.document.key for h in index.search("危险化学品", prefer_lang="zh-CN")] == ["whole"]
    assert {h.document.key for h in index.search("化学品", prefer_lang="zh-CN")} == {"apart", "whole"}


def test_course_titles_and_summaries_are_searched() -> None:
    index = SearchIndex(
        [
            course_doc("cold", "Cold-weather emergency response", "Cold waves and snowstorms."),
            course_doc("cold", "寒潮与暴雪应急处置", "监察人员如何检查企业应对寒潮。", "zh-CN"),
            doc("w", "Warning signals", "Blue, yellow, orange and red signals."),
        ]
    )
    hits = index.search("寒潮", prefer_lang="en")
    assert [(h.document.kind, h.document.course_id, h.document.lang) for h in hits] == [
        ("course", "cold", "zh-CN")
    ]
    hits = index.search("snowstorms", prefer_lang="zh-CN")  # stemmed; English only in the summary
    assert [(h.document.kind, h.document.lang) for h in hits] == [("course", "en")]
    assert "<mark>snowstorms</mark>" in str(hits[0].snippet)


def test_the_limit_counts_modules_and_every_course_is_kept() -> None:
    index = SearchIndex(
        [course_doc("c", "Fire safety", "Fire patrols.")]
        + [doc(f"m{i}", "Fire", "fire patrols", module=f"m{i}") for i in range(5)]
    )
    hits = index.search("fire", prefer_lang="en", limit=2)
    assert sorted(h.document.kind for h in hits) == ["course", "module", "module"]


# -- the sample library ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> Library:
    library, _ = load_library(PROJECT_ROOT / "courses", PROJECT_ROOT / "question_bank")
    assert library is not None
    return library


def _modules_saying(library: Library, pattern: str) -> set[str]:
    found = re.compile(pattern, re.IGNORECASE)
    return {
        m.id
        for m in library.modules.values()
        for v in m.versions.values()
        if found.search(v.text) or found.search(v.title) or found.search(v.summary)
    }


@pytest.mark.parametrize(("query", "pattern"), [("inspections", r"\binspection"), ("evacuate", r"\bevacuat")])
def test_a_word_form_finds_every_module_with_another_form(sample: Library, query: str, pattern: str) -> None:
    # Before stemming: "inspections" found 4 of the 14 modules that say "inspection", "evacuate" 2 of 5.
    expected = _modules_saying(sample, pattern)
    found = {
        h.document.module_id
        for h in sample.search.search(query, prefer_lang="en")
        if h.document.kind == "module"
    }
    assert len(expected) >= 5
    assert found == expected


@pytest.mark.parametrize(
    ("query", "course", "modules"),
    [
        (
            "寒潮",
            "cold-weather-emergency",
            {"er-warning-signals", "er-preparedness-inspection", "er-response-and-recovery"},
        ),
        (
            "危险化学品",
            "hazchem-inspection",
            {"hc-storage-and-custody", "hc-safety-assessment", "hc-sales-and-security"},
        ),
        ("瓦斯", "coal-mine-inspection", {"cm-methane-control", "gs-mine-gas-explosion"}),
    ],
)
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_chinese_queries_find_the_courses_and_modules(
    sample: Library, query: str, course: str, modules: set[str], lang: str
) -> None:
    hits = sample.search.search(query, prefer_lang=lang)
    assert course in {h.document.course_id for h in hits if h.document.kind == "course"}
    assert modules <= {h.document.module_id for h in hits if h.document.kind == "module"}


def test_a_query_is_fast_on_the_sample_library(sample: Library) -> None:
    queries = [
        "inspections",
        "evacuate",
        "危险化学品",
        "寒潮",
        "gas alarm",
        "瓦斯",
        "two officers",
        "methane limit",
    ]
    started = time.perf_counter()
    for _ in range(10):
        for query in queries:
            sample.search.search(query, prefer_lang="zh-CN")
    mean = (time.perf_counter() - started) / (10 * len(queries))
    # Measured at about 0.5 ms on two shared cores; the bound leaves room for a busy machine.
    assert mean < 0.02, f"{mean * 1000:.1f} ms a query"


# -- the search page ------------------------------------------------------------------------------


def test_the_page_lists_courses_and_modules_titled_in_the_readers_language(client: TestClient) -> None:
    page = client.get("/search", params={"q": "示例课程"}, headers=ZH).text
    courses = page[page.index('id="course-results"') :]
    assert '<a href="/courses/demo-course" lang="zh-CN">示例课程</a>' in courses
    assert "找到 1 门课程、0 个模块与“示例课程”相关。" in page
    # English reader, a word only the Chinese version has: the English title, the Chinese
    # excerpt, a link to the Chinese version, and a note saying where it was found.
    page = client.get("/search", params={"q": "风流"}).text
    modules = page[page.index('id="module-results"') :]
    link = '<a href="/courses/demo-course/demo-first?version=zh-CN" lang="en">Ventilation first steps</a>'
    assert link in modules
    assert "found in the Chinese version" in modules
    assert '<p lang="zh-CN">' in modules
    # Chinese reader, an English word only the English text has: the Chinese title, linked to the
    # English version.
    page = client.get("/search", params={"q": "dilutes"}, headers=ZH).text
    modules = page[page.index('id="module-results"') :]
    assert 'href="/courses/demo-course/demo-first?version=en" lang="zh-CN">' in modules
    assert "在英文版中找到" in modules
    assert "<mark>dilutes</mark>" in modules
