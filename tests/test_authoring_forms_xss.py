"""The XSS corpus (tests/test_xss.py) typed into the forms of course and question-file drafts,
over real HTTP (issue 18): a single-choice question's stem, options, feedback and explanation, a
text question's accepted answers, a match question's pairs and distractor, a scenario group's
shared case (an existing group's and a new one's), a translation entry's words and unit label, and
a course's title and summary and their Chinese translation. The draft's preview,
the reviewer's page and, once a second trainer approves, the inspector's practice papers (in
English and Chinese) and course pages must hold nothing a browser could run. A draft the check
refuses shows the refusal page instead, which is scanned too and never a 5xx.

To stay fast the corpus is cut into ROUNDS chunks; each round types one chunk into each field,
rotated so that over the rounds every payload reaches every kind of field once."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests import test_authoring
from tests.conftest import ZH, ContentDirs, make_person, token
from tests.test_authoring import post, signed_in, wait_for
from tests.test_authoring_files import BANK, COURSE, _Form, course_form, question_form, start_file, textarea
from tests.test_xss import PAYLOADS, _Scanner
from trainer.app import create_app
from trainer.config import Settings
from trainer.db import Database

pytestmark = pytest.mark.xdist_group("content_versions")  # publishes, as tests/test_authoring.py does
clean_content_tables = test_authoring.clean_content_tables
fast_app = test_authoring.fast_app

TRANSLATION = "question_bank/demo/ventilation.zh-CN.yaml"
ROUNDS = 8
# Each kind of field: (form, field name, a textarea?).
FIELDS = [
    ("single", "stem", True),
    ("single", "row_text_0", False),
    ("single", "row_text_1", False),
    ("single", "row_feedback_1", False),
    ("single", "explanation", True),
    ("text", "accept", True),
    ("match", "row_key_0", False),  # a pair's left text
    ("match", "row_text_1", False),  # a pair's right text
    ("match", "distractors", True),
    ("scenario", "stem", True),
    ("translation", "stem", True),
    ("translation", "opt_text_a", False),
    ("translation", "opt_feedback_b", False),
    ("translation", "explanation", True),
    ("course", "title", False),
    ("course", "summary", True),
    ("new_scenario", "stem", True),  # a new scenario group's shared case (marker F16)
    ("units", "unit_label_0", False),  # a numeric question's translated unit label (F17)
    ("course_translation", "title", False),  # the course's Chinese title (F18)
    ("course_translation", "summary", True),  # and summary (F19)
]
FORM_OF = {"single": "DEMO-0001", "text": "DEMO-0005", "match": "DEMO-0007", "scenario": "DEMO-S01"}
# Practice draws two of the questions a module's practice may use: the others are kept for exams
# (still enough for the course's blueprint), so the three edited questions are soon all seen.
EXAM_ONLY = ("\n    type: multi\n", "\n    type: truefalse\n", "\n    type: numeric\n", "\n    type: order\n")

# The pages' own forms and fields: allowed (when they carry no script), and counted where the
# page's shape does not depend on what practice drew.
_OWN_FORM = re.compile(
    r"/trainer/authoring/drafts/\d+(/review|/images|/question|/translation|/course-translation)?"
    r"|/logout|/attempts/\d+/answers"
)
_OWN_FIELD = re.compile(r"[a-z][a-z0-9_]*(-[a-z0-9_]+)*")
_FIELD_TAGS = {"input", "textarea", "select"}
_DIGITS = re.compile(r"\d+")
_OWN_SCRIPT = re.compile(r"/static/quiz\.js(\?v=[\w.-]+)?")
_OWN_SUBMIT = re.compile(r"/attempts/\d+/submit")


class _FormsScanner(_Scanner):
    def __init__(self) -> None:
        super().__init__()
        self.own: Counter[str] = Counter()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        scripted = any(
            name.startswith("on") or name in ("style", "formaction", "autofocus", "srcdoc") for name in values
        )
        if tag == "script" and set(values) == {"src", "defer"} and _OWN_SCRIPT.fullmatch(values["src"] or ""):
            self.own["script quiz.js"] += 1  # the paper's own autosave, from /static
            return
        own_submit = _OWN_SUBMIT.fullmatch(values.get("formaction") or "")
        if tag == "button" and set(values) == {"type", "class", "formaction"} and own_submit:
            self.own["button submit"] += 1
            return
        if not scripted:
            action = (values.get("action") or "").split("?")[0]
            if tag == "form" and values.get("method") in ("get", "post") and _OWN_FORM.fullmatch(action):
                self.own[f"form {values.get('method')} " + _DIGITS.sub("N", action)] += 1
                return
            if tag in _FIELD_TAGS and _OWN_FIELD.fullmatch(values.get("name") or ""):
                self.own[f"{tag} " + _DIGITS.sub("N", values.get("name") or "")] += 1
                return
        super().handle_starttag(tag, attrs)


def scan(page: str) -> tuple[list[str], Counter[str]]:
    scanner = _FormsScanner()
    scanner.feed(page)
    return scanner.dangers, scanner.own


def chunks() -> list[list[str]]:
    return [PAYLOADS[i::ROUNDS] for i in range(ROUNDS)]


def value(payloads: list[str], marker: str, multiline: bool, listed: bool = False) -> str:
    """What a person types: a marker and the chunk's payloads (one per line in a text area; an
    input has no line ends, a browser drops them). In a list typed one per line (accepted answers,
    distractors) a line already there is left out: a repeated entry is refused, rightly."""
    if multiline:
        lines = [line for p in payloads for line in p.split("\n")] if listed else payloads
        if listed:
            lines = list(dict.fromkeys(lines))
        return marker + "\r\n" + "\r\n".join(p.replace("\n", "\r\n") for p in lines)
    return marker + " " + " ".join(p.replace("\n", " ") for p in payloads)


def test_the_corpus_typed_into_the_question_translation_and_course_forms_leaves_nothing_executable(
    fast_app: FastAPI, migrated_database: Database
) -> None:
    began = time.monotonic()
    author, reviewer = make_person(migrated_database, "trainer"), make_person(migrated_database, "trainer")
    inspector = make_person(migrated_database, "inspector")
    a, b = signed_in(fast_app, author), signed_in(fast_app, reviewer)
    reader = signed_in(fast_app, inspector)
    api = TestClient(fast_app)

    def new_reader() -> tuple[TestClient, dict[str, str]]:
        """An inspector who has seen no question yet: practice draws unseen questions first, so
        every practice question of the module is on one of their first few papers (the demo bank
        has under ten; a paper takes 2). The same inspector in every round would draw at random once
        all were seen, and a question could miss 12 papers in a row."""
        person = make_person(migrated_database, "inspector")
        return signed_in(fast_app, person), token(api, person)

    checked: Counter[str] = Counter()  # (page kind) -> pages scanned
    reached: dict[tuple[str, str], set[int]] = {(form, name): set() for form, name, _ in FIELDS}
    refused_pages = 0

    def inert(client: TestClient, url: str, what: str, own: Counter[str] | None = None, **kw: object) -> str:
        response = client.get(url, **kw)  # type: ignore[arg-type]
        assert response.status_code == 200, (what, response.status_code)
        dangers, found = scan(response.text)
        assert dangers == [], (what, dangers)
        if own is not None:
            found.pop("input lang", None)  # the paper's language choice, once a translation is served
            assert found == own, (what, found - own, own - found)
        checked[what.split(" (", maxsplit=1)[0]] += 1
        return response.text

    def refusal(response: object, what: str) -> None:
        nonlocal refused_pages
        status = response.status_code  # type: ignore[attr-defined]
        assert status in (303, 422), (what, status)
        if status == 422:
            dangers, _ = scan(response.text)  # type: ignore[attr-defined]
            assert dangers == [], (what, dangers)
            refused_pages += 1

    # The clean pages' own forms and fields, to compare each scanned page with.
    draft_id = start_file(a, BANK)
    bank_own = scan(a.get(f"/trainer/authoring/drafts/{draft_id}").text)[1]
    post(a, f"/trainer/authoring/drafts/{draft_id}", {"text": textarea(a, draft_id), "action": "withdraw"})
    course_own = scan(reader.get("/courses/demo-course").text)[1]
    assert scan(reader.get("/courses/demo-course").text)[0] == []

    published = Counter[str]()
    for number, chunk_ids in enumerate(range(ROUNDS)):
        marker = f"Round{number}"
        typed: dict[tuple[str, str], str] = {}
        for index, (form, name, multiline) in enumerate(FIELDS):
            which = (chunk_ids + index) % ROUNDS
            reached[(form, name)].add(which)
            listed = name in ("accept", "distractors")
            typed[(form, name)] = value(chunks()[which], f"{marker}F{index}", multiline, listed)

        # -- the bank file: three questions' forms and the scenario group's -----------------------
        draft_id = start_file(a, BANK)
        draft_url = f"/trainer/authoring/drafts/{draft_id}"
        text = textarea(a, draft_id).replace("\r\n", "\n")
        if "use: exam" not in text:
            for line in EXAM_ONLY:
                text = text.replace(line, line + "    use: exam\n")
            assert post(a, draft_url, {"text": text, "action": "save"}).status_code == 303
        for form, question_id in FORM_OF.items():
            url, fields = question_form(a, draft_id, f"id={question_id}")
            assert {name for f, name, _ in FIELDS if f == form} <= set(fields), (form, sorted(fields))
            fields.update({name: typed[(f, name)] for f, name, _ in FIELDS if f == form})
            response = post(a, url, fields)
            refusal(response, f"{marker} {form} form")
            if response.status_code == 422:
                inert(a, url, f"question form (refused, {marker} {form})")
        # A new scenario group (for exams only: practice keeps drawing the three edited questions).
        url, fields = question_form(a, draft_id, "type=scenario&first=truefalse")
        group = f"XSS-S{number}"
        fields.update(
            id=group,
            use="exam",
            stem=typed[("new_scenario", "stem")],
            first_id=f"{group}-1",
            first_stem=marker,
        )
        refusal(post(a, url, fields), f"{marker} new scenario group form")
        group_form = inert(a, f"{draft_url}/question?id={group}", f"question form ({marker} {group})")
        assert re.search(rf"{marker}F16(?!\d)", group_form)
        # Refused on purpose (a number that is not one): the form comes back with what was typed.
        url, fields = question_form(a, draft_id, "id=DEMO-0001")
        fields.update({name: typed[(f, name)] for f, name, _ in FIELDS if f == "single"})
        response = post(a, url, {**fields, "difficulty": typed[("single", "row_text_0")]})
        assert response.status_code == 422
        assert f"{marker}F0" in response.text  # what was typed, shown back
        refusal(response, f"{marker} single form, difficulty not a number")
        preview = inert(a, draft_url, f"bank draft (preview, {marker})", bank_own)
        for question_id in FORM_OF.values():
            inert(a, f"{draft_url}/question?id={question_id}", f"question form ({marker} {question_id})")
        response = post(a, draft_url, {"text": textarea(a, draft_id), "action": "submit"})
        refusal(response, f"{marker} bank submit")
        if response.status_code == 422:
            inert(a, draft_url, f"bank draft (refused, {marker})")
            post(a, draft_url, {"text": textarea(a, draft_id), "action": "withdraw"})
        else:
            review_own = scan(b.get(draft_url).text)[1]
            assert review_own["textarea comment"] == 1
            inert(b, draft_url, f"bank review ({marker})")
            assert post(b, f"{draft_url}/review", {"action": "approve"}).status_code == 303
            wait_for(
                lambda: (
                    marker  # noqa: B023 (called at once)
                    in fast_app.state.content.library.bank.questions["DEMO-0001"].model.stem
                )
            )
            published["bank"] += 1
            # The inspector's practice papers, until each edited question was on one; then their
            # review (practice shows keys, feedback and explanations).
            seen: set[str] = set()
            shown = ""
            learner, headers = new_reader()
            for _ in range(12):
                attempt = api.post("/api/v1/modules/demo-first/practice/attempts", headers=headers).json()
                seen |= {q["id"] for q in attempt["questions"]}
                inert(learner, f"/attempts/{attempt['id']}", f"practice paper ({marker})")
                api.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers)
                shown += inert(learner, f"/attempts/{attempt['id']}", f"practice review ({marker})")
                if {"DEMO-0001", "DEMO-0005", "DEMO-0007"} <= seen:
                    break
            assert {"DEMO-0001", "DEMO-0005", "DEMO-0007"} <= seen, seen
            # What was typed is on the inspector's pages, as text: the stem, options, feedback and
            # explanation, the accepted answers and the match's pairs.
            # (Feedback shows when its option is chosen, the group's case on exams: on the preview.)
            for i, (form, name, _) in enumerate(FIELDS):
                if form in ("single", "text", "match") and name != "row_feedback_1":
                    assert re.search(rf"{marker}F{i}(?!\d)", shown), (marker, form, name)
                if form in FORM_OF:
                    assert re.search(rf"{marker}F{i}(?!\d)", preview), (marker, form, name)

        # -- the translation of DEMO-0001, stamped as checked against the source ---------------------
        draft_id = start_file(a, TRANSLATION)
        draft_url = f"/trainer/authoring/drafts/{draft_id}"
        url = f"{draft_url}/translation?id=DEMO-0001"
        parser = _Form(f"{draft_url}/translation")
        parser.feed(a.get(url).text)
        fields = {**parser.fields, "opt_text_b": "回风", "opt_text_c": "压缩空气", "checked": "on"}
        assert {name for f, name, _ in FIELDS if f == "translation"} <= set(fields)
        fields.update({name: typed[(f, name)] for f, name, _ in FIELDS if f == "translation"})
        response = post(a, url, fields)
        refusal(response, f"{marker} translation form")
        inert(a, url, f"translation form ({marker})")
        units_url = f"{draft_url}/translation?id=DEMO-0004"
        units = {"stem": "风量换算", "unit_label_0": typed[("units", "unit_label_0")], "checked": "on"}
        refusal(post(a, units_url, units), f"{marker} unit labels")
        assert re.search(rf"{marker}F17(?!\d)", inert(a, units_url, f"translation form ({marker} units)"))
        inert(a, draft_url, f"translation draft (preview, {marker})")
        response = post(a, draft_url, {"text": textarea(a, draft_id), "action": "submit"})
        refusal(response, f"{marker} translation submit")
        if response.status_code == 422:
            inert(a, draft_url, f"translation draft (refused, {marker})")
            post(a, draft_url, {"text": textarea(a, draft_id), "action": "withdraw"})
        else:
            inert(b, draft_url, f"translation review ({marker})")
            assert post(b, f"{draft_url}/review", {"action": "approve"}).status_code == 303

            def translated() -> bool:
                found = fast_app.state.content.library.bank.translation("zh-CN", "DEMO-0001")
                return found is not None and marker in found.model.stem  # noqa: B023

            wait_for(translated)
            published["translation"] += 1
            learner, headers = new_reader()
            for _ in range(12):
                attempt = api.post(
                    "/api/v1/modules/demo-first/practice/attempts", headers={**headers, **ZH}
                ).json()
                ids = {q["id"] for q in attempt["questions"]}
                inert(learner, f"/attempts/{attempt['id']}", f"practice paper zh ({marker})", headers=ZH)
                api.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers)
                page = inert(
                    learner, f"/attempts/{attempt['id']}", f"practice review zh ({marker})", headers=ZH
                )
                if "DEMO-0001" in ids:
                    assert f"{marker}F10" in page  # the Chinese paper shows the translated stem
                    break
            else:
                raise AssertionError("DEMO-0001 was never drawn")

        # -- the course's title and summary ---------------------------------------------------------
        draft_id = start_file(a, COURSE)
        draft_url = f"/trainer/authoring/drafts/{draft_id}"
        fields = course_form(a, draft_id)
        assert {"title", "summary"} <= set(fields)
        fields.update({name: typed[(f, name)] for f, name, _ in FIELDS if f == "course"})
        response = post(a, draft_url, {**fields, "pass_mark": typed[("course", "title")], "action": "save"})
        assert response.status_code == 422
        assert f"{marker}F15" in response.text
        refusal(response, f"{marker} course form, pass mark not a number")
        response = post(a, draft_url, {**fields, "action": "save"})
        refusal(response, f"{marker} course save")
        inert(a, draft_url, f"course draft (preview, {marker})")
        translation_url = f"{draft_url}/course-translation?lang=zh-CN"
        response = post(
            a, translation_url, {name: typed[(f, name)] for f, name, _ in FIELDS if f == "course_translation"}
        )
        refusal(response, f"{marker} course translation form")
        inert(a, translation_url, f"course translation form ({marker})")
        response = post(a, draft_url, {**course_form(a, draft_id), "action": "submit"})
        refusal(response, f"{marker} course submit")
        if response.status_code == 422:
            inert(a, draft_url, f"course draft (refused, {marker})")
            post(a, draft_url, {**course_form(a, draft_id), "action": "withdraw"})
            continue
        inert(b, draft_url, f"course review ({marker})")
        assert post(b, f"{draft_url}/review", {"action": "approve"}).status_code == 303
        wait_for(lambda: f"{marker}F14" in reader.get("/courses/demo-course").text)  # noqa: B023
        inert(reader, "/courses/demo-course", f"course page ({marker})", course_own)
        wait_for(lambda: f"{marker}F18" in reader.get("/courses/demo-course", headers=ZH).text)  # noqa: B023
        zh_page = inert(reader, "/courses/demo-course", f"course page zh ({marker})", headers=ZH)
        assert re.search(rf"{marker}F19(?!\d)", zh_page)
        inert(reader, "/courses", f"catalogue ({marker})")
        inert(reader, "/courses/demo-course/demo-first", f"module page ({marker})")
        published["course"] += 1

    assert all(len(chunk) == ROUNDS for chunk in reached.values()), reached  # every payload, every field
    took = time.monotonic() - began
    print(f"published {dict(published)} of {ROUNDS} rounds; {refused_pages} refusal pages; {dict(checked)}")
    assert refused_pages == 2 * ROUNDS  # the two refused on purpose; the corpus itself is not refused
    print(f"took {took:.1f} s")
    assert published == {"bank": ROUNDS, "translation": ROUNDS, "course": ROUNDS}, published


def test_a_publish_landing_while_a_course_page_renders_does_not_leave_the_old_page_cached(
    make_settings: Callable[..., Settings],
    content: ContentDirs,
    migrated_database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by the corpus test above (a course page still showing the previous title 20 s after
    the approval): the course page read the library, then awaited the reader's progress, then
    keyed its cached page by the store's generation read *then*. A poll swapping the library in
    between cached the old library's page under the new generation, for every reader, until the
    next publish. The generation is now read with the library, before it."""
    from trainer.content import views

    application = create_app(make_settings(content, content_poll_seconds=300))  # no poll of its own here
    store = application.state.content
    # Nor the one an approval starts at once: this test lands the poll itself, mid-render.
    monkeypatch.setattr(store, "poll_now", lambda: None)
    try:
        author, reviewer = (
            make_person(migrated_database, "trainer"),
            make_person(migrated_database, "trainer"),
        )
        a, b = signed_in(application, author), signed_in(application, reviewer)
        reader = signed_in(application, make_person(migrated_database, "inspector"))
        assert "Demo course" in reader.get("/courses/demo-course").text
        draft_id = start_file(a, COURSE)
        fields = {**course_form(a, draft_id), "title": "Renamed while a page was rendering"}
        assert (
            post(a, f"/trainer/authoring/drafts/{draft_id}", {**fields, "action": "submit"}).status_code
            == 303
        )
        assert (
            post(b, f"/trainer/authoring/drafts/{draft_id}/review", {"action": "approve"}).status_code == 303
        )
        assert "Renamed" not in reader.get("/courses/demo-course").text  # not polled yet
        progress = views._progress

        def progress_while_the_poll_lands(*args: Any) -> Any:
            assert store.refresh_published()  # the poller's thread, finishing meanwhile
            monkeypatch.setattr(views, "_progress", progress)
            return progress(*args)

        monkeypatch.setattr(views, "_progress", progress_while_the_poll_lands)
        reader.get("/courses/demo-course")  # rendered from the library it began with: either is fine
        assert "Renamed while a page was rendering" in reader.get("/courses/demo-course").text
        assert "Renamed while a page was rendering" in reader.get("/courses").text
    finally:
        store.close()
        application.state.database.dispose()
