"""Synthetic question banks for the bank benchmarks (bench/bank.py): as many questions as asked,
in files of 100, written as a content root (courses/ and question_bank/) the loader reads like
the real one, or as parsed files for `build_bank` directly (drawing needs no YAML).

Every question is valid and passes `trainer check` (no errors): tags t0 ... t9 and a difficulty
spread evenly, a scenario of two questions and a pair of enemies in every file, a zh-CN
translation file beside every tenth bank file, and one course whose blueprint is 10 rows of 5.

    .venv/bin/python bench/bank_gen.py ROOT QUESTIONS
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `trainer` importable
    sys.path.insert(0, str(ROOT))

from trainer.content.yamlio import YamlDocument  # noqa: E402

DOMAIN = "gas"
TAGS = tuple(f"t{i}" for i in range(10))
PER_FILE = 100
ROWS = [{"tags": [tag], "count": 5} for tag in TAGS]  # the blueprint: 10 rows of 5


def _single(number: int) -> dict[str, Any]:
    return {
        "id": f"SY-{number:06d}",
        "type": "single",
        "difficulty": 1 + number % 5,
        "tags": [TAGS[number % len(TAGS)]],
        "stem": f"Synthetic question {number}: which of these is the right answer for case {number}?",
        "options": [
            {"key": "a", "text": f"The first answer to case {number}", "correct": True},
            {"key": "b", "text": f"The second answer to case {number}", "feedback": "Not this one."},
            {"key": "c", "text": f"The third answer to case {number}", "feedback": "Not this one."},
            {"key": "d", "text": f"The fourth answer to case {number}", "feedback": "Not this one."},
        ],
        "explanation": f"Case {number} is answered by the first option, as the synthetic rule says.",
        "refs": [{"reg": "work-safety-law", "clause": f"Art. {1 + number % 100}"}],
    }


def bank_file(first: int, count: int) -> dict[str, Any]:
    """One bank file's data: questions `first` ... `first + count - 1` (a scenario of two and two
    enemies among them when the file has room)."""
    questions: list[dict[str, Any]] = []
    number = first
    end = first + count
    while number < end:
        if number % PER_FILE == 10 and end - number >= 3:  # a scenario: its id and two questions
            subs = [_single(number + 1), _single(number + 2)]
            for sub in subs:
                sub["tags"] = []
            questions.append(
                {
                    "id": f"SY-{number:06d}",
                    "type": "scenario",
                    "tags": [TAGS[number % len(TAGS)]],
                    "stem": f"Synthetic scenario {number}: a site visit with two questions.",
                    "questions": subs,
                }
            )
            number += 3
            continue
        question = _single(number)
        if number % PER_FILE == 20:
            question["excludes"] = [f"SY-{number + 1:06d}"]
        questions.append(question)
        number += 1
    return {"defaults": {"domain": DOMAIN, "lang": "en"}, "questions": questions}


def parsed_files(questions: int) -> list[tuple[str, YamlDocument]]:
    """The bank as `build_bank` takes it, without writing or parsing YAML."""
    return [
        (f"question_bank/synthetic/s{first // PER_FILE:05d}.yaml", YamlDocument(bank_file(first, count)))
        for first, count in _chunks(questions)
    ]


def _chunks(questions: int) -> list[tuple[int, int]]:
    return [(first, min(PER_FILE, questions - first)) for first in range(0, questions, PER_FILE)]


def _translation(data: dict[str, Any]) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for question in data["questions"]:
        if question["type"] == "scenario":
            entries[question["id"]] = {"stem": f"合成情景 {question['id']}"}
            continue
        entries[question["id"]] = {
            "stem": f"合成题 {question['id']}",
            "options": {
                o["key"]: {
                    "text": f"答案 {o['key']}",
                    **({"feedback": "不是这个。"} if "feedback" in o else {}),
                }
                for o in question["options"]
            },
            "explanation": "按合成规则，第一个选项正确。",
        }
    return {"lang": "zh-CN", "questions": entries}


def write_content(root: Path, questions: int) -> Path:
    """A content root under `root`: the real regulations, names for the tags, one course with a
    module, and `questions` synthetic questions. Returns the root."""
    import yaml

    bank = root / "question_bank"
    (bank / "synthetic").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "question_bank" / "regulations.yaml", bank / "regulations.yaml")
    tags = {tag: {"en": f"Topic {tag}", "zh-CN": f"主题 {tag}"} for tag in TAGS}
    (bank / "tags.yaml").write_text(yaml.safe_dump(tags, allow_unicode=True), encoding="utf-8")
    for first, count in _chunks(questions):
        data = bank_file(first, count)
        name = f"s{first // PER_FILE:05d}"
        text = yaml.dump(data, Dumper=yaml.CSafeDumper, allow_unicode=True, sort_keys=False, width=100)
        (bank / "synthetic" / f"{name}.yaml").write_text(text, encoding="utf-8")
        if (first // PER_FILE) % 10 == 0:
            entries = yaml.dump(
                _translation(data), Dumper=yaml.CSafeDumper, allow_unicode=True, sort_keys=False, width=100
            )
            (bank / "synthetic" / f"{name}.zh-CN.yaml").write_text(entries, encoding="utf-8")
    course = root / "courses" / "synthetic-bank"
    course.mkdir(parents=True, exist_ok=True)
    course_data = {
        "id": "synthetic-bank",
        "title": "Synthetic bank",
        "domain": DOMAIN,
        "lang": "en",
        "summary": "A course over a synthetic bank, for benchmarks.",
        "modules": ["sy-only"],
        "translations": {
            "zh-CN": {"title": "合成题库", "summary": "基准测试用。", "certification_title": "合成"}
        },
        "certification": {
            "title": "Synthetic qualification",
            "exam": {"time_limit_minutes": 60, "pass_mark": 0.8, "max_attempts": 3, "blueprint": ROWS},
            "validity_months": 36,
        },
    }
    (course / "course.yaml").write_text(
        yaml.safe_dump(course_data, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    front = {
        "id": "sy-only",
        "title": "The only module",
        "lang": "en",
        "summary": "A module so the course has one.",
        "estimated_minutes": 5,
        "objectives": ["Have a module."],
        "regulations": ["work-safety-law"],
        "tags": list(TAGS),
    }
    body = "Text of the only module.\n"
    (course / "01-only.md").write_text(
        f"---\n{yaml.safe_dump(front, allow_unicode=True, sort_keys=False)}---\n{body}", encoding="utf-8"
    )
    return root


if __name__ == "__main__":
    write_content(Path(sys.argv[1]), int(sys.argv[2]))
