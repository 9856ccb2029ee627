"""A one-minute exam course for the exam-taking tests: six questions (two numeric, order, a
match with long texts, single choice, text), all drawn by every paper in a random order, so a
test finds each type by reading the paper and the time-up can be reached by moving the
deadline in the database."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import ContentDirs
from trainer.db import Database

BANK = """\
defaults: {domain: coal, lang: en}
questions:
  - id: UX-0001
    type: numeric
    tags: [ux, gases]
    difficulty: 2
    stem: What is the most carbon dioxide allowed in intake air at a working face, in percent?
    answer: {value: 0.5, tolerance: 0, unit: "%"}
    explanation: At most 0.5 % carbon dioxide in intake air.
    refs: [{reg: demo-law, clause: "air quality"}]
  - id: UX-0002
    type: numeric
    tags: [ux, ventilation]
    difficulty: 2
    stem: Airflow is 18 m3/s. What is it per minute?
    answer: {value: 1080, tolerance: "2%", unit: "m3/min", units: {"m3/s": 60}}
    explanation: 18 × 60 = 1080.
  - id: UX-0003
    type: order
    tags: [ux, procedure]
    difficulty: 2
    stem: Put the steps of an inspection visit in order.
    items:
      - {key: show, text: "Show the enforcement certificate"}
      - {key: inspect, text: "Inspect the site with the unit's safety manager"}
      - {key: record, text: "Record what was found"}
      - {key: order, text: "Issue the order to remedy the hidden dangers"}
    scoring: partial
    explanation: Credentials first, then the site, the record, and the order.
  - id: UX-0004
    type: match
    tags: [ux, gases]
    difficulty: 3
    stem: Match each gas to where an inspector expects to find it collecting underground.
    pairs:
      - left: "Methane, which is lighter than air"
        right: "Near the roof of roadways and at the top of rises and cavities above the supports"
      - left: "Carbon dioxide, which is heavier than air"
        right: "Near the floor of roadways, in sumps and in old workings below the level of the face"
    distractors: ["Evenly mixed through the whole cross-section of the return airway whatever the airflow"]
    explanation: Methane rises; carbon dioxide sinks.
  - id: UX-0005
    type: single
    tags: [ux, ventilation]
    difficulty: 1
    stem: Which air does an inspector check first at a working face?
    options:
      - {key: a, text: "Intake air", correct: true}
      - {key: b, text: "Return air", feedback: "Return air is checked too, but intake air comes first."}
      - {key: c, text: "Compressed air", feedback: "Not the ventilation air."}
    explanation: Intake air reaches the people working at the face.
    refs: [{reg: demo-law, clause: "ventilation"}]
  - id: UX-0006
    type: text
    tags: [ux, documents]
    difficulty: 2
    stem: What is the document called that describes a chemical's hazards (abbreviation)?
    accept: ["SDS", "safety data sheet"]
    explanation: The safety data sheet.
"""

COURSE = """\
id: ux-course
title: Exam taking course
domain: coal
lang: en
summary: A one-minute exam for the exam-taking tests.
sample: true
modules: [ux-module]
translations:
  zh-CN: {title: 考试操作课程, summary: 考试操作测试用的课程。, certification_title: 考试操作资格}
certification:
  title: Exam taking qualification
  requires: none
  exam:
    time_limit_minutes: 1
    pass_mark: 0.5
    max_attempts: 9
    retake_after_hours: 0
    review: after_submit
    blueprint:
      - {tags: [ux], count: 6}
  validity_months: 12
  renewal_window_days: 30
  grace_days: 30
"""

MODULE = """\
---
id: ux-module
title: Taking an exam
lang: en
summary: How the exam page works.
estimated_minutes: 5
regulations: [demo-law]
tags: [ux]
practice:
  pass_mark: 0.5
  draw: [{tags: [ux], count: 6}]
sample: true
---
Answers are saved as you go.
"""


def add_exam_course(content: ContentDirs) -> None:
    content.write("question_bank/ux/exam.yaml", BANK)
    content.write("courses/ux-course/course.yaml", COURSE)
    content.write("courses/ux-course/01-taking.md", MODULE)


def paper(database: Database, attempt_id: int) -> list[dict[str, Any]]:
    from trainer.quizzes.service import paper_of

    with database.session() as db:
        return list(json.loads(paper_of(db, attempt_id)))


def slot_of(database: Database, attempt_id: int, question_id: str) -> int:
    return next(int(e["slot"]) for e in paper(database, attempt_id) if e["id"] == question_id)
