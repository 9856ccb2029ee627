"""Law with editions: each regulation's status and successor are validated, `trainer check` names
every module and question citing a text not in force, the trainer's content page lists them, and
a review shows the edition the paper cited (kept in the paper, not looked up again)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import ZH, ContentDirs, make_person, pass_exam, ready_for_exam, sign_in
from tests.test_cli import trainer
from trainer.app import create_app
from trainer.config import Settings
from trainer.content.loader import load_library
from trainer.db import Database
from trainer.quizzes.snapshot import cited_at_draw, cited_for_reader

REGULATIONS = "question_bank/regulations.yaml"
FIRST = "courses/demo-course/01-first.md"
SECOND = "courses/demo-course/02-second.md"
BANK = "question_bank/demo/ventilation.yaml"
COURSE = "courses/demo-course/course.yaml"


def problems(content: ContentDirs, *, loads: bool = True) -> list[str]:
    library, found = load_library(content.courses, content.bank)
    assert (library is not None) == loads, [str(p) for p in found]
    # The fixture's questions serve both exam and practice (tests/test_pools.py checks that).
    return [str(p) for p in found if "can be drawn by the exam" not in p.message]


def repeal_demo_law(content: ContentDirs, extra: str = "") -> None:
    content.edit(
        REGULATIONS, "  status: in-force\n", f"  status: repealed\n  superseded_by: other-rule\n{extra}"
    )


# -- validation of regulations.yaml -------------------------------------------------------------


def test_the_fixture_regulations_are_clean(content: ContentDirs) -> None:
    assert problems(content) == []


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        (
            "  status: in-force\n",
            "  status: amended\n  superseded_by: newer-law\n",
            7,
            "superseded_by: unknown regulation 'newer-law': add it to this file or fix the code",
        ),
        (
            "  status: in-force\n",
            "  status: amended\n  superseded_by: demo-law\n",
            7,
            "superseded_by: 'demo-law' cannot supersede itself",
        ),
        (
            "  status: in-force\n",
            "  status: in-force\n  superseded_by: other-rule\n",
            7,
            "superseded_by: a text in force is not superseded; set status: amended or repealed, "
            "or remove superseded_by",
        ),
        (
            "  status: in-force\n",
            "  status: repealed\n",
            6,
            "status: repealed needs superseded_by (the code of what replaced it) or a note (why nothing did)",
        ),
        (
            "  status: in-force\n",
            "  status: revoked\n",
            6,
            "status: must be 'in-force', 'amended' or 'repealed'",
        ),
    ],
)
def test_bad_status_or_successor_is_an_error_at_its_line(
    content: ContentDirs, old: str, new: str, line: int, message: str
) -> None:
    content.edit(REGULATIONS, old, new)
    assert f"{REGULATIONS}:{line}: {message}" in problems(content, loads=False)


def test_repealed_with_a_note_and_no_successor_is_fine(content: ContentDirs) -> None:
    content.edit(
        REGULATIONS, "  status: in-force\n", "  status: repealed\n  note: Repealed without replacement.\n"
    )
    found = problems(content)
    assert not any("needs superseded_by" in p for p in found), found


def test_a_circle_of_successors_is_an_error(content: ContentDirs) -> None:
    repeal_demo_law(content)
    content.edit(
        REGULATIONS,
        "  issuer: Demo Ministry\n  status: in-force\n",
        "  issuer: Demo Ministry\n  status: amended\n  superseded_by: demo-law\n",
    )
    found = problems(content, loads=False)
    assert (
        f"{REGULATIONS}:7: superseded_by goes round in a circle: demo-law -> other-rule -> demo-law" in found
    )


def test_no_status_and_no_translated_title_are_warnings(content: ContentDirs) -> None:
    content.edit(REGULATIONS, "  issuer: Demo Ministry\n  status: in-force\n", "  issuer: Demo Ministry\n")
    content.edit(REGULATIONS, "  translations:\n    zh-CN: {title: 其他规则}\n", "")
    found = problems(content)
    assert (
        f"{REGULATIONS}:9: warning: 'other-rule' has no status: say whether this edition is in force "
        "(status: in-force, amended or repealed)"
    ) in found
    assert any(
        p.startswith(f"{REGULATIONS}:9: warning: 'other-rule' has no title in zh-CN") for p in found
    ), found


# -- trainer check names every citing module and question ----------------------------------------


def test_check_warns_at_every_module_and_question_citing_a_repealed_text(content: ContentDirs) -> None:
    repeal_demo_law(content)
    found = problems(content)
    named = "'demo-law' (Demo Safety Law, 2021), which is repealed: superseded by 'other-rule'"
    teaches = "check what it teaches against the text in force"
    assert found == [
        f"{FIRST}:9: warning: module demo-first cites {named}; {teaches}",
        f"{SECOND}:7: warning: module demo-second cites {named}; {teaches}",
        f"{BANK}:4: warning: question DEMO-0001 cites {named}; check it against the text in force",
        f"{BANK}:14: warning: question DEMO-0002 cites {named}; check it against the text in force",
    ]


def test_an_amended_text_warns_too_and_an_in_force_one_does_not(content: ContentDirs) -> None:
    content.edit(
        REGULATIONS,
        "  issuer: Demo Ministry\n  status: in-force\n",
        "  issuer: Demo Ministry\n  status: amended\n  superseded_by: demo-law\n",
    )
    found = problems(content)
    assert [p.split(": warning: ")[0] for p in found] == [f"{SECOND}:7"]
    assert "module demo-second cites 'other-rule' (Other Rule), which is amended" in found[0]


def test_trainer_check_prints_the_warnings_and_passes(content: ContentDirs) -> None:
    repeal_demo_law(content)
    result = trainer("check", content=content)
    assert result.returncode == 0, result.stderr
    assert f"{FIRST}:9: warning: module demo-first cites 'demo-law'" in result.stdout
    assert f"{BANK}:14: warning: question DEMO-0002 cites 'demo-law'" in result.stdout


def test_the_shipped_library_cites_only_the_known_texts_not_in_force() -> None:
    result = trainer("check")
    assert result.returncode == 0, result.stderr
    cited = [
        line
        for line in result.stdout.splitlines()
        if "which is amended" in line or "which is repealed" in line
    ]
    assert len(cited) == 4, result.stdout
    assert all("'work-safety-penalty-measures'" in line for line in cited)


# -- pages -------------------------------------------------------------------------------------------


@pytest.fixture
def trainer_client(
    make_settings: Callable[..., Settings], content: ContentDirs, migrated_database: Database
) -> Iterator[TestClient]:
    repeal_demo_law(content, "  note: Replaced by the Other Rule.\n")
    app = create_app(make_settings(content))
    with TestClient(app) as client:
        sign_in(client, make_person(migrated_database, "trainer", unit=None))
        yield client
    app.state.database.dispose()


def test_the_content_page_lists_citations_of_texts_not_in_force(trainer_client: TestClient) -> None:
    page = trainer_client.get("/trainer/content").text
    start = page.index('id="not-in-force-demo-law"')
    section = page[start : page.index("</li>", start)]
    assert "<cite>Demo Safety Law</cite> (2021) <code>demo-law</code>" in section
    assert "Repealed: see Other Rule" in section
    assert "Replaced by the Other Rule." in section
    assert 'href="/courses/demo-course/demo-first"' in section
    assert 'href="/courses/demo-course/demo-second"' in section
    assert 'href="/trainer/items/DEMO-0001"' in section
    assert 'href="/trainer/items/DEMO-0002"' in section
    zh = trainer_client.get("/trainer/content", headers=ZH).text
    assert "<cite>示例安全法</cite> (2021年版)" in zh
    assert "已废止" in zh


def test_the_module_page_says_the_text_is_repealed(trainer_client: TestClient) -> None:
    page = trainer_client.get("/courses/demo-course/demo-first").text
    legal = page[page.index('id="regs-title"') : page.index("</section>", page.index('id="regs-title"'))]
    assert "<strong>Repealed: see Other Rule</strong>" in legal
    zh = trainer_client.get("/courses/demo-course/demo-first", headers=ZH).text
    assert "<strong>已废止：见《其他规则》</strong>" in zh


def test_nothing_is_listed_when_every_text_is_in_force(
    client: TestClient, migrated_database: Database
) -> None:
    sign_in(client, make_person(migrated_database, "trainer", unit=None))
    page = client.get("/trainer/content").text
    assert "Every regulation the library cites is in force, as far as regulations.yaml says." in page
    assert 'id="not-in-force"' not in page


# -- a review shows the edition the paper cited ------------------------------------------------------


@pytest.fixture
def exam_app(make_settings: Callable[..., Settings], content: ContentDirs) -> Iterator[FastAPI]:
    # Every ventilation question on the paper, so both that cite demo-law are reviewed; content
    # reload on, so that an edit of regulations.yaml after the exam reaches the running app.
    content.edit(COURSE, "difficulty: [1, 3], count: 3}", "difficulty: [1, 3], count: 9}")
    app = create_app(make_settings(content, content_reload=True))
    yield app
    app.state.database.dispose()


def test_the_review_shows_the_edition_the_paper_cited(
    exam_app: FastAPI, content: ContentDirs, migrated_database: Database
) -> None:
    with TestClient(exam_app) as client:
        headers, person = ready_for_exam(client, migrated_database)
        result = pass_exam(client, migrated_database, headers)
        sign_in(client, person)
        review = client.get(f"/attempts/{result['id']}").text
        assert (
            '<cite>Demo Safety Law</cite> <span class="edition">(edition cited: 2021)</span>, ventilation'
            in review
        )
        # A paper's page is in the paper's language (trainer.quizzes.views), citations included:
        # this English paper read with Chinese preferred stays English; a Chinese paper's
        # citations are in tests/test_translations.py.
        zh = client.get(f"/attempts/{result['id']}", headers=ZH).text
        assert '<cite>Demo Safety Law</cite> <span class="edition">(edition cited: 2021)</span>' in zh
        # A new edition in regulations.yaml: the module shows it, the old paper keeps its own.
        content.edit(REGULATIONS, 'edition: "2021"', 'edition: "2026 revision"')
        content.edit(REGULATIONS, "edition: 2021年版", "edition: 2026年修订")
        assert "2026 revision" in client.get("/courses/demo-course/demo-first").text
        review = client.get(f"/attempts/{result['id']}").text
        assert "(edition cited: 2021)" in review
        assert "2026 revision" not in review
        # Repealed since: the review says so beside the citation.
        content.edit(REGULATIONS, "  status: in-force\n", "  status: repealed\n  superseded_by: other-rule\n")
        review = client.get(f"/attempts/{result['id']}").text
        assert (
            '(edition cited: 2021)</span>, ventilation <strong class="law-status">Repealed</strong>' in review
        )


def test_a_kept_citation_in_the_readers_language(content: ContentDirs) -> None:
    library, _ = load_library(content.courses, content.bank)
    assert library is not None
    kept = cited_at_draw(library, "demo-law", "Art. 1")
    assert kept == {
        "reg": "demo-law",
        "title": "Demo Safety Law",
        "edition": "2021",
        "clause": "Art. 1",
        "translations": {"zh-CN": {"title": "示例安全法", "edition": "2021年版"}},
    }
    assert cited_for_reader(kept, "zh-CN", library)["title"] == "示例安全法"
    assert cited_for_reader(kept, "en", library) == {
        "reg": "demo-law",
        "title": "Demo Safety Law",
        "edition": "2021",
        "clause": "Art. 1",
        "status": None,
    }
    # A paper drawn before citations kept their languages: the title in the reader's language
    # from the library, no edition (it was not recorded).
    old = {"reg": "demo-law", "title": "Demo Safety Law", "clause": None}
    assert cited_for_reader(old, "zh-CN", library) == {
        "reg": "demo-law",
        "title": "示例安全法",
        "edition": None,
        "clause": None,
        "status": None,
    }
    # A code the library no longer has: as kept.
    gone = cited_at_draw(library, "gone-law", None)
    assert cited_for_reader(gone, "zh-CN", library)["title"] == "gone-law"
