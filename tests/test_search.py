"""Search tokenisation and ranking, for English and Chinese."""

from __future__ import annotations

from trainer.content.search import SearchDocument, SearchIndex, snippet, tokens


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
