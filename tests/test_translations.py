"""Question translations (`<name>.<lang>.yaml` beside a bank file): checked with file and line,
stale when the source changes, stamped in place, imported from GIFT, counted on the trainer's
content page, and served: a paper in the reader's language, kept on resume and in the review,
graded by the same keys with either language's answers.

Every test works on a copy of the small fixture library (tests/fixtures/library), with its bank
translated here; the sample bank is not used."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from tests.conftest import (
    ContentDirs,
    complete_modules,
    csrf_token,
    make_person,
    right_answer,
    serve,
    sign_in,
    token,
)
from tests.test_browser import _answer_everything, browser, open_page, shot  # noqa: F401 (a fixture)
from tests.test_cli import trainer
from trainer.app import create_app
from trainer.config import Settings
from trainer.content import translations
from trainer.content.loader import load_library
from trainer.db import Database, utcnow
from trainer.quizzes import service
from trainer.quizzes.models import AttemptPaper, Paper

BANK = "question_bank/demo/ventilation.yaml"
ZH_FILE = "question_bank/demo/ventilation.zh-CN.yaml"
COURSE = "courses/demo-course/course.yaml"

# The whole fixture bank in Chinese, unstamped (as a translator hands it in).
ZH = """\
lang: zh-CN
# The demo bank in Chinese (tests/test_translations.py)
questions:
  DEMO-0001:
    stem: 检查员在采掘工作面首先检查哪一股风流？
    options:
      a: {text: "进风流"}
      b: {text: "回风流", feedback: "回风流也要检查，但先查进风流。"}
      c: {text: "压缩空气", feedback: "压缩空气不是通风风流。"}
    explanation: 进风流直接供给工作面作业人员。
  DEMO-0002:
    stem: 井下风流有什么作用？
    options:
      a: {text: "稀释瓦斯"}
      b: {text: "带走粉尘"}
      c: {text: "给蓄电池充电", feedback: "风流不能充电。"}
    explanation: 风流稀释瓦斯并带走粉尘。
  DEMO-0003:
    stem: 停止运转的局部通风机可以不检查瓦斯就重新启动。
    explanation: 局部通风机重新启动前必须检查瓦斯。
  DEMO-0004:
    stem: 风量为 18 m3/s，折合多少 m3/min？
    explanation: 18 × 60 = 1080。
    unit_labels: {"m3/min": "立方米/分钟", "m3/s": "立方米/秒"}
  DEMO-0005:
    stem: 描述化学品危险特性的文件叫什么（缩写）？
    accept: ["安全技术说明书", "化学品安全技术说明书"]
    explanation: 即安全技术说明书（SDS）。
  DEMO-0006:
    stem: 按顺序排列灭火器的使用步骤。
    items: {pull: "拔出保险销", aim: "对准火焰根部", squeeze: "压下压把", sweep: "左右扫射"}
    explanation: 拔销、对准、压把、扫射。
  DEMO-0007:
    stem: 将每种气体与其积聚的位置配对。
    pairs:
      - {left: "甲烷", right: "巷道顶板附近"}
      - {left: "二氧化碳", right: "巷道底板附近"}
    distractors: ["风机机壳内"]
    explanation: 甲烷比空气轻，二氧化碳比空气重。
  DEMO-S01:
    stem: 交接班时一台局部通风机停止运转，二十分钟无人发现。
  DEMO-S01-1:
    stem: 恢复作业前应当做什么？
    options:
      a: {text: "检查瓦斯"}
      b: {text: "什么都不做", feedback: "停风期间可能积聚瓦斯。"}
    explanation: 停风期间可能积聚瓦斯。
  DEMO-S01-2:
    stem: 这次停风应当记录在案。
    explanation: 停风情况必须记录。
"""
ZH_STEMS = set(re.findall(r"^    stem: (.+)$", ZH, re.M))
EN_STEM = "Which air does an inspector check first at a working face?"


def stamped(text: str, content: ContentDirs) -> str:
    source = (content.courses.parent / BANK).read_text(encoding="utf-8")
    bank, problems = translations.read_source(source, BANK)
    assert problems == []
    result, _ = translations.stamp_text(text, translations.hashes_of(bank))
    return result


def messages(content: ContentDirs, *, expect_library: bool = True) -> list[str]:
    """Every problem but the fixture's pool warnings (its questions serve exam and practice alike:
    tests/test_pools.py)."""
    library, found = load_library(content.courses, content.bank)
    assert (library is not None) == expect_library, [str(p) for p in found]
    return [str(p) for p in found if "can be drawn by the exam" not in p.message]


@pytest.fixture
def translated(content: ContentDirs) -> ContentDirs:
    """The fixture library with its bank translated and stamped, and an exam that draws all nine
    questions (so every type is on every paper)."""
    content.write(ZH_FILE, stamped(ZH, content))
    content.edit(COURSE, "count: 3", "count: 9")
    return content


@pytest.fixture
def zh_app(make_settings: Callable[..., Settings], translated: ContentDirs) -> Iterator[FastAPI]:
    application = create_app(make_settings(translated))
    yield application
    application.state.database.dispose()


@pytest.fixture
def zh_client(zh_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(zh_app, base_url="http://testserver") as test_client:
        yield test_client


# -- loading and checking ----------------------------------------------------------------------


def test_a_complete_stamped_translation_loads_without_a_word(translated: ContentDirs) -> None:
    assert messages(translated) == [
        f"{COURSE}:19: warning: the bank cannot fill two exam papers "
        "without repeating questions: a retake would see some again"
    ]
    library, _ = load_library(translated.courses, translated.bank)
    assert library is not None
    zh = library.bank.translations["zh-CN"]
    assert set(zh) == set(library.bank.questions) | set(library.bank.scenarios)
    assert all(t.status == "translated" for t in zh.values())
    assert len(library.bank.questions) == 9  # a translation file is never read as a bank file


def test_the_source_hash_covers_words_not_layout(content: ContentDirs) -> None:
    before = translations.hashes_of(
        translations.read_source((content.courses.parent / BANK).read_text(), BANK)[0]
    )
    content.edit(BANK, 'text: "Intake air", correct: true', 'correct: true, text: "Intake air"')
    content.edit(BANK, "stem: Which air does", "stem: >-\n      Which air does")
    content.edit(
        BANK, '{key: b, text: "Return air", feedback', '{key: b, text: "Return air", correct: false, feedback'
    )
    after = translations.hashes_of(
        translations.read_source((content.courses.parent / BANK).read_text(), BANK)[0]
    )
    assert after == before
    assert re.fullmatch(r"[0-9a-f]{12}", before["DEMO-0001"])
    content.edit(BANK, "Compressed air", "Compressed  air!")
    changed = translations.hashes_of(
        translations.read_source((content.courses.parent / BANK).read_text(), BANK)[0]
    )
    assert changed["DEMO-0001"] != before["DEMO-0001"]
    assert {k: v for k, v in changed.items() if k != "DEMO-0001"} == {
        k: v for k, v in before.items() if k != "DEMO-0001"
    }


def test_an_edited_english_stem_makes_its_translation_stale_with_file_and_line(
    translated: ContentDirs,
) -> None:
    translated.edit(BANK, EN_STEM, "Which air does an inspector measure first at a working face?")
    result = trainer("check", content=translated)
    assert result.returncode == 0, result.stdout + result.stderr
    stale = [line for line in result.stdout.splitlines() if "stale" in line]
    assert len(stale) == 1
    assert stale[0].startswith(
        f"{ZH_FILE}:4: warning: stale zh-CN translation of DEMO-0001: its source in {BANK}"
    )
    new_hash = translations.hashes_of(
        translations.read_source((translated.courses.parent / BANK).read_text(), BANK)[0]
    )["DEMO-0001"]
    assert stale[0].endswith(f"set to `source: {new_hash}`")
    library, _ = load_library(translated.courses, translated.bank)
    assert library is not None
    # A stale translation is not served (it may state an old fact): the paper shows the source.
    assert library.bank.translation("zh-CN", "DEMO-0001") is None
    assert library.bank.translation("zh-CN", "DEMO-0002") is not None


def test_missing_translations_are_one_line_per_file(translated: ContentDirs) -> None:
    zh = (translated.courses.parent / ZH_FILE).read_text(encoding="utf-8")
    start = zh.index("  DEMO-0005:")
    translated.write(ZH_FILE, zh[:start] + zh[zh.index("  DEMO-0006:") :])
    translated.write(
        "question_bank/demo/extra.yaml",
        "defaults: {domain: fire, lang: en}\nquestions:\n"
        "  - {id: X-1, type: truefalse, stem: Water puts out oil fires., answer: false, explanation: No.}\n",
    )
    found = messages(translated)
    assert (
        f"{ZH_FILE}:3: warning: 1 question of {BANK} without a zh-CN translation (DEMO-0005): "
        "shown in the source language" in found
    )
    assert (
        "question_bank/demo/extra.yaml: warning: no zh-CN translation (question_bank/demo/extra.zh-CN.yaml): "
        "its 1 question are shown in the source language"
    ) in found


def test_a_bank_without_any_translation_expects_none(content: ContentDirs) -> None:
    assert messages(content) == []


def test_unstamped_translations_are_named_once_per_file(content: ContentDirs) -> None:
    content.write(ZH_FILE, ZH)
    found = messages(content)
    assert [line for line in found if "without `source:`" in line] == [
        f"{ZH_FILE}:3: warning: 10 translations without `source:` (DEMO-0001, DEMO-0002, DEMO-0003, "
        "DEMO-0004, DEMO-0005, DEMO-0006, DEMO-0007, DEMO-S01, … (2 more)): once checked against the source, "
        f"run `trainer translations --stamp {ZH_FILE}` so that a later change of the source shows as stale"
    ]


BAD_FILES = [
    pytest.param(
        ZH.replace("    stem: 井下风流有什么作用？", "    stem: [井下"),
        ZH_FILE,
        13,
        "invalid YAML",
        id="yaml",
    ),
    pytest.param(
        ZH.replace("lang: zh-CN", "lang: en"),
        ZH_FILE,
        1,
        "lang 'en' does not match the file name (a 'zh-CN' file)",
        id="lang",
    ),
    pytest.param(
        ZH.replace("  DEMO-0003:", "  DEMO-0099:"),
        ZH_FILE,
        18,
        f"DEMO-0099 is not a question of {BANK} (check the id)",
        id="unknown-id",
    ),
    pytest.param(
        ZH.replace("    stem: 井下风流有什么作用？", "    stem: 井下风流有什么作用？\n    tip: x"),
        ZH_FILE,
        13,
        "DEMO-0002: tip: unknown key",
        id="unknown-key",
    ),
    pytest.param(
        ZH.replace('      c: {text: "压缩空气", ', '      d: {text: "压缩空气", '),
        ZH_FILE,
        6,
        "DEMO-0001: options a, b, d differ from the source's a, b, c (keys are never translated",
        id="option-keys",
    ),
    pytest.param(
        ZH.replace('squeeze: "压下压把", ', ""),
        ZH_FILE,
        31,
        "DEMO-0006: items aim, pull, sweep differ from the source's pull, aim, squeeze, sweep",
        id="item-keys",
    ),
    pytest.param(
        ZH.replace('      - {left: "二氧化碳", right: "巷道底板附近"}\n', ""),
        ZH_FILE,
        35,
        "DEMO-0007: 1 pairs where the source has 2",
        id="pairs",
    ),
    pytest.param(
        ZH.replace('distractors: ["风机机壳内"]', 'distractors: ["风机机壳内", "水仓"]'),
        ZH_FILE,
        38,
        "DEMO-0007: 2 distractors where the source has 1",
        id="distractors",
    ),
    pytest.param(
        ZH.replace('"m3/s": "立方米/秒"', '"L/s": "升/秒"'),
        ZH_FILE,
        24,
        "DEMO-0004: unit_labels: 'L/s' is not a unit of the source (its units: m3/min, m3/s)",
        id="unit-labels",
    ),
    pytest.param(
        ZH.replace('"m3/s": "立方米/秒"', '"m3/s": "m3/min"'),
        ZH_FILE,
        24,
        "DEMO-0004: unit_labels: 'm3/min' is another unit of the source",
        id="unit-label-clash",
    ),
    pytest.param(
        ZH.replace(
            "    explanation: 局部通风机重新启动前必须检查瓦斯。", "    explanation: x\n    accept: [是]"
        ),
        ZH_FILE,
        21,
        "DEMO-0003: `accept` does not apply: the source is a truefalse question "
        "(translate stem, explanation)",
        id="field-of-another-type",
    ),
    pytest.param(
        ZH.replace("  DEMO-0003:\n", "  DEMO-0003:\n    source: 12345\n"),
        ZH_FILE,
        19,
        "DEMO-0003: source: must be text (put the value in quotes)",
        id="source-number",
    ),
    pytest.param(
        ZH.replace(
            "  DEMO-0003:\n    stem: 停止运转的局部通风机可以不检查瓦斯就重新启动。\n", "  DEMO-0003:\n"
        ),
        ZH_FILE,
        18,
        "DEMO-0003: stem: required key is missing",
        id="no-stem",
    ),
]


@pytest.mark.parametrize(("text", "file", "line", "message"), BAD_FILES)
def test_a_malformed_translation_is_an_error_at_its_line(
    content: ContentDirs, text: str, file: str, line: int, message: str
) -> None:
    content.write(ZH_FILE, text)
    found = messages(content, expect_library=False)
    errors = [p for p in found if "warning:" not in p]
    assert any(p.startswith(f"{file}:{line}: {message}") for p in errors), found
    if "is not a question" not in message:  # an entry that is there, if wrong, is not "missing"
        assert not [p for p in found if "without a zh-CN translation" in p]


def test_translation_file_names_are_checked(content: ContentDirs) -> None:
    content.write("question_bank/demo/ventilation.fr.yaml", ZH)
    content.write("question_bank/demo/nothing.zh-CN.yaml", ZH)
    found = messages(content, expect_library=False)
    assert (
        "question_bank/demo/ventilation.fr.yaml: 'fr' is not a language the trainer serves (en, zh-CN): "
        "name a translation file like 'storage.zh-CN.yaml'"
    ) in found
    assert any(
        p.startswith(
            "question_bank/demo/nothing.zh-CN.yaml: no bank file question_bank/demo/nothing.yaml beside it"
        )
        for p in found
    ), found


def test_the_published_schema_describes_the_file(content: ContentDirs) -> None:
    schema_path = Path(__file__).parent.parent / "docs" / "schemas" / "question-translation.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    import yaml

    jsonschema.validate(yaml.safe_load(stamped(ZH, content)), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            yaml.safe_load(ZH.replace("    stem: 井下风流有什么作用？", "    stem: x\n    tip: y")), schema
        )


# -- the command line ----------------------------------------------------------------------------


def test_stamp_writes_source_lines_and_keeps_the_file_as_written(content: ContentDirs) -> None:
    flow = ZH.replace(
        "  DEMO-0004:\n    stem: 风量为 18 m3/s，折合多少 m3/min？\n    explanation: 18 × 60 = 1080。\n"
        '    unit_labels: {"m3/min": "立方米/分钟", "m3/s": "立方米/秒"}\n',
        '  DEMO-0004: {stem: "风量为 18 m3/s，折合多少 m3/min？", explanation: "18 × 60 = 1080。"}  # flow\n',
    ).replace("  DEMO-0005:\n", "  DEMO-0005:\n    # checked by Li\n")
    path = content.write(ZH_FILE, flow)
    result = trainer("translations", "--stamp", content=content)
    assert result.returncode == 0, result.stderr
    assert f"{path}: stamped 10 (DEMO-0001, DEMO-0002" in result.stdout
    after = path.read_text(encoding="utf-8")
    hashes = translations.hashes_of(
        translations.read_source((content.courses.parent / BANK).read_text(), BANK)[0]
    )
    # Only lines were added (and a key inside the flow mapping): everything else is as written.
    added = [line for line in after.splitlines() if line not in flow.splitlines()]
    flow_line = (
        '  DEMO-0004: {{source: {}, stem: "风量为 18 m3/s，折合多少 m3/min？", '
        'explanation: "18 × 60 = 1080。"}}  # flow'
    )
    assert added == [
        f"    source: {hashes[q]}" if q != "DEMO-0004" else flow_line.format(hashes[q])
        for q in [
            "DEMO-0001",
            "DEMO-0002",
            "DEMO-0003",
            "DEMO-0004",
            "DEMO-0005",
            "DEMO-0006",
            "DEMO-0007",
            "DEMO-S01",
            "DEMO-S01-1",
            "DEMO-S01-2",
        ]
    ]
    assert "    # checked by Li\n" in after
    assert "# The demo bank in Chinese" in after
    assert not [m for m in messages(content) if "source:" in m]
    again = trainer("translations", "--stamp", str(path), content=content)
    assert again.returncode == 0
    assert again.stdout.strip() == f"{path}: nothing to stamp"
    # A stamp is never overwritten: a stale translation stays stale until a translator acts.
    content.edit(BANK, EN_STEM, "Which air is checked first?")
    assert trainer("translations", "--stamp", content=content).stdout.strip().endswith("nothing to stamp")
    assert any("stale zh-CN translation of DEMO-0001" in m for m in messages(content))


def test_stamp_refuses_what_is_not_a_translation_file(content: ContentDirs) -> None:
    result = trainer("translations", "--stamp", str(content.courses.parent / BANK), content=content)
    assert result.returncode == 2
    assert "is not a translation file" in result.stderr


def test_translations_lists_coverage_per_file_and_language(translated: ContentDirs) -> None:
    zh = (translated.courses.parent / ZH_FILE).read_text(encoding="utf-8")
    translated.write(ZH_FILE, zh[: zh.index("  DEMO-S01:")])  # the scenario untranslated
    translated.edit(BANK, EN_STEM, "Which air is checked first?")  # DEMO-0001 stale
    result = trainer("translations", content=translated)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.split(r"\s+", lines[0].strip()) == [
        "domain",
        "file",
        "lang",
        "translated",
        "stale",
        "unstamped",
        "missing",
    ]
    assert re.split(r"\s+", lines[1].strip()) == ["coal", BANK, "zh-CN", "6", "1", "0", "3"]
    assert re.split(r"\s+", lines[-1].strip()) == ["all", "(all", "files)", "zh-CN", "6", "1", "0", "3"]


GIFT = """\
// A translator's GIFT file: the names are the bank's ids.
::DEMO-0001:: 检查员在采掘工作面首先检查哪一股风流？ {
  =进风流
  ~回风流#回风流也要检查，但先查进风流。
  ~压缩空气#压缩空气不是通风风流。
  ####进风流直接供给工作面作业人员。
}

::DEMO-0003:: 停止运转的局部通风机可以不检查瓦斯就重新启动。 {F ####局部通风机重新启动前必须检查瓦斯。}

::DEMO-0005:: 描述化学品危险特性的文件叫什么（缩写）？ {=安全技术说明书 =化学品安全技术说明书}

::DEMO-0007:: 将每种气体与其积聚的位置配对。 {
  =甲烷 -> 巷道顶板附近
  =二氧化碳 -> 巷道底板附近
  = -> 风机机壳内
}

::DEMO-0002:: 井下风流有什么作用？ {
  ~%50%稀释瓦斯
  ~%-100%带走粉尘
  ~%50%给蓄电池充电
}

::NOPE-1:: 这一题不在题库里。 {T}
"""


def test_import_gift_writes_a_translation_file(content: ContentDirs, tmp_path: Path) -> None:
    gift_file = tmp_path / "zh.gift"
    gift_file.write_text(GIFT, encoding="utf-8")
    result = trainer(
        "import-gift", str(gift_file), "--translation-of", str(content.courses.parent / BANK), content=content
    )
    assert result.returncode == 0, result.stderr
    assert "wrote 4 zh-CN translation(s)" in result.stdout
    # A question whose right answers are not the source's is left out, and so is an unknown id.
    assert (
        f"{gift_file}:19: skipped (DEMO-0002): the answers marked right differ from the source's (a, b)"
        in result.stderr
    )
    assert f"{gift_file}:25: skipped (NOPE-1): no question NOPE-1 in" in result.stderr
    written = content.courses.parent / ZH_FILE
    library, found = load_library(content.courses, content.bank)
    assert library is not None, [str(p) for p in found]
    zh = library.bank.translations["zh-CN"]
    assert sorted(zh) == ["DEMO-0001", "DEMO-0003", "DEMO-0005", "DEMO-0007"]
    assert zh["DEMO-0001"].model.options["b"].feedback == "回风流也要检查，但先查进风流。"
    assert zh["DEMO-0001"].model.explanation == "进风流直接供给工作面作业人员。"
    assert zh["DEMO-0005"].model.accept == ["安全技术说明书", "化学品安全技术说明书"]
    assert [p.left for p in zh["DEMO-0007"].model.pairs] == ["甲烷", "二氧化碳"]
    assert zh["DEMO-0007"].model.distractors == ["风机机壳内"]
    assert all(t.status == "unstamped" for t in zh.values())  # a draft: reviewed, then stamped
    again = trainer(
        "import-gift", str(gift_file), "--translation-of", str(content.courses.parent / BANK), content=content
    )
    assert again.returncode == 1
    assert "exists" in again.stderr
    assert written.read_text(encoding="utf-8").startswith("lang: zh-CN\nquestions:\n  DEMO-0001:\n")


# -- serving -------------------------------------------------------------------------------------


def _paper(database: Database, attempt_id: int) -> list[dict[str, Any]]:
    with database.session() as db:
        return list(json.loads(service.paper_of(db, attempt_id)))


def _slot(paper: list[dict[str, Any]], question_id: str) -> int:
    return next(int(e["slot"]) for e in paper if e["id"] == question_id)


def test_a_paper_is_served_resumed_graded_and_reviewed_in_chinese(
    zh_client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    person = make_person(database, "inspector")
    headers = token(zh_client, person)
    complete_modules(zh_client, headers, database)
    started = zh_client.post("/api/v1/courses/demo-course/exam/attempts?lang=zh-CN", headers=headers)
    assert started.status_code == 200, started.text
    attempt = started.json()
    assert attempt["lang"] == "zh-CN"
    stems = {q["id"]: q["stem_html"] for q in attempt["questions"]}
    assert len(stems) == 9
    assert all(any(s in html for s in ZH_STEMS) for html in stems.values()), stems
    by_id = {q["id"]: q for q in attempt["questions"]}
    assert {o["text_html"] for o in by_id["DEMO-0003"]["options"]} == {"正确", "错误"}
    assert "进风流" in {
        o["text_html"].removeprefix("<p>").removesuffix("</p>") for o in by_id["DEMO-0001"]["options"]
    }
    assert {i["text_html"] for i in by_id["DEMO-0006"]["items"]} >= {"<p>拔出保险销</p>"}
    assert {r["text_html"] for r in by_id["DEMO-0007"]["right"]} == {
        "<p>巷道顶板附近</p>",
        "<p>巷道底板附近</p>",
        "<p>风机机壳内</p>",
    }
    assert (
        by_id["DEMO-S01-1"]["scenario"]["stem_html"]
        == "<p>交接班时一台局部通风机停止运转，二十分钟无人发现。</p>"
    )
    assert by_id["DEMO-0004"]["unit"] == "立方米/分钟"
    assert by_id["DEMO-0004"]["units"] == ["立方米/分钟", "立方米/秒"]
    assert all("correct" not in json.dumps(q) and "accept" not in q for q in attempt["questions"])

    # Resumed in English or by a browser asking for English: the same paper, still in Chinese.
    resumed = zh_client.post("/api/v1/courses/demo-course/exam/attempts?lang=en", headers=headers).json()
    assert resumed["id"] == attempt["id"]
    assert resumed["lang"] == "zh-CN"
    assert {q["id"]: q["stem_html"] for q in resumed["questions"]} == stems

    paper = _paper(database, attempt["id"])
    assert {e["lang"] for e in paper} == {"zh-CN"}
    url = f"/api/v1/attempts/{attempt['id']}/answers"
    for question in attempt["questions"]:
        slot = question["slot"]
        if question["id"] == "DEMO-0005":
            response: dict[str, Any] = {"text": " 安全技术说明书 "}  # the Chinese answer
        elif question["id"] == "DEMO-0004":
            response = {"value": 18, "unit": "立方米/秒"}  # a translated unit label: 18 m3/s
        else:
            response = right_answer(database, attempt["id"], slot)
        saved = zh_client.put(f"{url}/{slot}", headers=headers, json=response)
        assert saved.status_code == 200, saved.text
    result = zh_client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers).json()
    assert result["score"] == 9.0
    assert result["passed"] is True

    review = zh_client.get(f"/api/v1/attempts/{attempt['id']}", headers=headers).json()
    assert review["lang"] == "zh-CN"
    assert review["review"] == "full"
    reviewed = {q["id"]: q for q in review["questions"]}
    assert reviewed["DEMO-0005"]["correct"] == {"text": "安全技术说明书"}
    assert reviewed["DEMO-0005"]["score"] == 1.0
    assert reviewed["DEMO-0004"]["correct"] == {"value": 1080.0, "unit": "立方米/分钟"}
    assert reviewed["DEMO-0001"]["explanation_html"] == "<p>进风流直接供给工作面作业人员。</p>"
    assert reviewed["DEMO-0001"]["refs"][0]["title"] == "示例安全法"
    assert set(reviewed["DEMO-S01-1"]["feedback"].values()) == {"<p>停风期间可能积聚瓦斯。</p>"}

    # A key correction re-scores against the current key, which still takes the Chinese answer.
    changes = service.correct_key(
        database,
        zh_client.app.state.content.library,
        "DEMO-0005",
        dry_run=True,
        now=utcnow(),  # type: ignore[attr-defined]
    )
    assert [c for c in changes if c.attempt_id == attempt["id"]] == []


def test_a_wrong_chinese_answer_and_an_unknown_unit_are_not_right(
    zh_client: TestClient, migrated_database: Database
) -> None:
    person = make_person(migrated_database, "inspector")
    headers = token(zh_client, person)
    practice = zh_client.post(
        "/api/v1/modules/demo-first/practice/attempts?lang=zh-CN", headers=headers
    ).json()
    assert practice["lang"] == "zh-CN"
    # Practice draws two; whatever they are, the paper's words are Chinese.
    assert all(any(s in q["stem_html"] for s in ZH_STEMS) for q in practice["questions"])
    exam_headers = token(zh_client, make_person(migrated_database, "inspector"))
    complete_modules(zh_client, exam_headers, migrated_database)
    exam = zh_client.post("/api/v1/courses/demo-course/exam/attempts?lang=zh-CN", headers=exam_headers).json()
    slots = {q["id"]: q["slot"] for q in exam["questions"]}
    url = f"/api/v1/attempts/{exam['id']}/answers"
    assert (
        zh_client.put(
            f"{url}/{slots['DEMO-0005']}", headers=exam_headers, json={"text": "化学品说明"}
        ).status_code
        == 200
    )
    unknown = zh_client.put(
        f"{url}/{slots['DEMO-0004']}", headers=exam_headers, json={"value": 18, "unit": "升/秒"}
    )
    assert unknown.status_code == 422
    assert (
        zh_client.put(
            f"{url}/{slots['DEMO-0004']}", headers=exam_headers, json={"value": 18, "unit": "m3/s"}
        ).status_code
        == 200
    )
    refused = zh_client.post("/api/v1/modules/demo-first/practice/attempts?lang=fr", headers=exam_headers)
    assert refused.status_code == 422  # a language the trainer does not serve: nothing started
    zh_client.post(f"/api/v1/attempts/{exam['id']}/submit", headers=exam_headers)
    review = {
        q["id"]: q
        for q in zh_client.get(f"/api/v1/attempts/{exam['id']}", headers=exam_headers).json()["questions"]
    }
    assert review["DEMO-0005"]["score"] == 0.0
    assert review["DEMO-0004"]["score"] == 1.0  # the source's unit counts on a Chinese paper too


def test_an_english_reader_gets_the_english_paper_unchanged(
    zh_client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    headers = token(zh_client, make_person(database, "inspector"))
    complete_modules(zh_client, headers, database)
    attempt = zh_client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers).json()
    assert attempt["lang"] == "en"
    by_id = {q["id"]: q for q in attempt["questions"]}
    assert by_id["DEMO-0001"]["stem_html"] == f"<p>{EN_STEM}</p>"
    assert {o["text_html"] for o in by_id["DEMO-0003"]["options"]} == {"True", "False"}
    assert by_id["DEMO-0004"]["units"] == ["m3/min", "m3/s"]
    assert "unit_labels" not in by_id["DEMO-0004"]
    paper = _paper(database, attempt["id"])
    text_key = next(e["key"] for e in paper if e["id"] == "DEMO-0005")
    assert text_key == {"kind": "text", "accept": ["sds", "safety data sheet"], "display": "SDS"}
    slot = _slot(paper, "DEMO-0005")
    zh_client.put(f"/api/v1/attempts/{attempt['id']}/answers/{slot}", headers=headers, json={"text": "sds"})
    zh_client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers)
    review = {
        q["id"]: q
        for q in zh_client.get(f"/api/v1/attempts/{attempt['id']}", headers=headers).json()["questions"]
    }
    assert review["DEMO-0005"]["score"] == 1.0
    assert (
        review["DEMO-0001"]["explanation_html"] == "<p>Intake air reaches the people working at the face.</p>"
    )
    # A reader whose browser asks for Chinese gets a Chinese paper without choosing.
    zh_headers = {**token(zh_client, make_person(database, "inspector")), "Accept-Language": "zh-CN,zh;q=0.9"}
    practice = zh_client.post("/api/v1/modules/demo-first/practice/attempts", headers=zh_headers).json()
    assert practice["lang"] == "zh-CN"


def test_a_paper_stored_before_papers_had_a_language_reads_as_english(
    zh_client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    person = make_person(database, "inspector")
    headers = token(zh_client, person)
    practice = zh_client.post("/api/v1/modules/demo-first/practice/attempts", headers=headers).json()
    with database.write() as db:
        paper = db.get_one(Paper, db.get_one(AttemptPaper, practice["id"]).paper_id)
        old = [{k: v for k, v in entry.items() if k != "lang"} for entry in json.loads(paper.snapshot)]
        paper.snapshot = json.dumps(old)
    zh_client.app.state.database.clear_caches()  # type: ignore[attr-defined]  # the app's cached paper
    again = zh_client.get(f"/api/v1/attempts/{practice['id']}", headers=headers).json()
    assert again["lang"] == "en"
    assert [q["stem_html"] for q in again["questions"]] == [q["stem_html"] for q in practice["questions"]]
    # Its page keeps the reader's labels, as before papers had a language.
    sign_in(zh_client, person)
    zh_page = zh_client.get(f"/attempts/{practice['id']}", headers={"Accept-Language": "zh-CN"}).text
    assert '<html lang="zh-CN">' in zh_page
    assert '<html lang="en">' in zh_client.get(f"/attempts/{practice['id']}").text


def test_the_pages_offer_the_language_and_show_the_paper_in_it(
    zh_client: TestClient, migrated_database: Database
) -> None:
    database = migrated_database
    person = make_person(database, "inspector")
    complete_modules(zh_client, token(zh_client, person), database)
    sign_in(zh_client, person)
    course = zh_client.get("/courses/demo-course").text
    choice = re.search(r'<fieldset class="paper-language">.*?</fieldset>', course, re.S)
    assert choice is not None, "the exam start form offers the language of the questions"
    assert re.findall(r'name="lang" value="([^"]+)"( checked)?', choice.group()) == [
        ("en", " checked"),
        ("zh-CN", ""),
    ]
    module = zh_client.get("/courses/demo-course/demo-first").text
    assert re.search(
        r'<fieldset class="paper-language">.*?type="radio" name="lang" value="zh-CN"', module, re.S
    )
    bad = zh_client.post(
        "/courses/demo-course/exam",
        data={"csrf_token": csrf_token(zh_client), "lang": "fr"},
        follow_redirects=False,
    )
    assert bad.status_code == 400
    started = zh_client.post(
        "/courses/demo-course/exam",
        data={"csrf_token": csrf_token(zh_client), "lang": "zh-CN"},
        follow_redirects=False,
    )
    assert started.status_code == 303
    location = started.headers["location"]
    attempt_id = int(location.rsplit("/", 1)[1])
    page = zh_client.get(location).text  # the browser asks for nothing: the page is the paper's language
    assert '<html lang="zh-CN">' in page
    assert "检查员在采掘工作面首先检查哪一股风流？" in page
    assert EN_STEM not in page
    # Every fixed label in the paper's language too: true/false, the case, the buttons.
    assert re.search(r'<span class="letter">A\.</span>\s*正确\s*</label>', page)
    assert '<h2 class="scenario-title">案例</h2>' in page
    assert "第 1 题" in page
    assert "交卷评分" in page
    paper = _paper(database, attempt_id)
    slots = {e["id"]: e["slot"] for e in paper}
    form = {
        "csrf_token": csrf_token(zh_client),
        f"q{slots['DEMO-0005']}-text": "化学品安全技术说明书",
        f"q{slots['DEMO-0004']}-value": "1080 m3/min",  # the source's unit typed on a Chinese paper
    }
    saved = zh_client.post(f"/attempts/{attempt_id}/answers", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text[:2000]
    typed = zh_client.post(
        f"/attempts/{attempt_id}/answers",
        data={"csrf_token": csrf_token(zh_client), f"q{slots['DEMO-0004']}-value": "18 立方米/秒"},
        follow_redirects=False,
    )
    assert typed.status_code == 303
    handed_in = zh_client.post(
        f"/attempts/{attempt_id}/submit",
        data={"csrf_token": csrf_token(zh_client), "handin": "1"},
        follow_redirects=False,
    )
    assert handed_in.status_code == 303
    review = zh_client.get(f"/attempts/{attempt_id}").text
    assert '<html lang="zh-CN">' in review
    assert "进风流直接供给工作面作业人员。" in review  # the explanation, translated
    assert "正确答案" in review
    with database.session() as db:
        from trainer.quizzes.models import AttemptAnswer

        marks = {a.slot: a.score for a in db.query(AttemptAnswer).filter_by(attempt_id=attempt_id)}
    assert marks[slots["DEMO-0005"]] == 1.0
    assert marks[slots["DEMO-0004"]] == 1.0


def test_the_content_page_counts_translations_per_course_and_language(
    make_settings: Callable[..., Settings], translated: ContentDirs, migrated_database: Database
) -> None:
    zh = (translated.courses.parent / ZH_FILE).read_text(encoding="utf-8")
    translated.write(ZH_FILE, zh[: zh.index("  DEMO-S01:")])  # three left out
    translated.edit(BANK, EN_STEM, "Which air is checked first?")  # one stale
    application = create_app(make_settings(translated))
    try:
        with TestClient(application, base_url="http://testserver") as client:
            sign_in(client, make_person(migrated_database, "trainer"))
            page = client.get("/trainer/content").text
    finally:
        application.state.database.dispose()
    row = re.search(r'<tr id="coverage-demo-course-zh-CN">(.*?)</tr>', page, re.S)
    assert row is not None, page[:3000]
    cells = [
        re.sub(r"<[^>]+>", "", c).strip()
        for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row.group(1), re.S)
    ]
    assert cells == ["Demo course", "中文", "6", "1", "0", "3", "10"]


def test_a_course_without_translations_offers_no_choice(client: TestClient) -> None:
    assert "paper-language" not in client.get("/courses/demo-course").text
    assert "paper-language" not in client.get("/courses/demo-course/demo-first").text


@pytest.mark.browser
def test_a_reader_picks_chinese_questions_in_chromium(
    browser: Browser,  # noqa: F811 (the module-scoped Chromium of tests/test_browser.py)
    zh_app: FastAPI,
    migrated_database: Database,
) -> None:
    """An English-speaking page, a Chinese paper: picked on the module page, answered and
    reviewed in Chinese (screenshots in test-artifacts/)."""
    person = make_person(migrated_database, "inspector")
    with serve(zh_app) as server:
        page, problems = open_page(browser, viewport={"width": 1000, "height": 900}, locale="en-US")
        page.goto(f"{server.url}/login?next=/courses/demo-course/demo-first")
        page.get_by_label("Username").fill(person.username)
        page.get_by_label("Password").fill(person.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/courses/demo-course/demo-first")
        choice = page.get_by_role("group", name="Language of the questions")
        assert choice.get_by_role("radio", name="English").is_checked()
        choice.get_by_role("radio", name="中文").check()
        shot(page, "practice-language-choice-en")
        page.get_by_role("button", name="Start the practice quiz").click()
        page.wait_for_url("**/attempts/*")
        attempt_id = int(page.url.rsplit("/", 1)[1])
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator("h1").inner_text() == "练习测验"
        stems = page.locator("fieldset.question .stem").all_inner_texts()
        assert stems
        assert all(stem.strip() in ZH_STEMS for stem in stems), stems
        _answer_everything(page, migrated_database, attempt_id)
        shot(page, "practice-in-chinese-answered")
        page.get_by_role("button", name="交卷评分").click()
        page.wait_for_url(f"**/attempts/{attempt_id}")
        assert page.locator(".result .pass").is_visible()
        assert page.locator(".mark.right").count() >= 2
        shot(page, "practice-in-chinese-review")
        page.context.close()
    assert problems == []
