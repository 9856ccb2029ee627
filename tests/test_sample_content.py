"""The shipped sample library is complete, well-formed teaching material."""

from __future__ import annotations

import re

import pytest

from tests.sample_law import unexpected
from trainer.config import PROJECT_ROOT
from trainer.content import translations
from trainer.content.library import Library
from trainer.content.loader import load_library
from trainer.content.schemas import DOMAINS


@pytest.fixture(scope="module")
def library() -> Library:
    loaded, problems = load_library(PROJECT_ROOT / "courses", PROJECT_ROOT / "question_bank")
    assert unexpected(problems) == []
    assert loaded is not None
    return loaded


def test_every_domain_has_a_course(library: Library) -> None:
    """Each domain has a sample course; a domain may have more than one (enforcement law has the
    procedure course and the accidents-and-liability course, both general law every inspector
    needs, whatever their field)."""
    assert {c.domain for c in library.courses.values()} == set(DOMAINS)


def test_every_course_has_three_or_more_modules_and_a_qualification(library: Library) -> None:
    for course in library.courses.values():
        assert len(course.modules) >= 3, course.id
        assert course.certification is not None, course.id
        assert course.sample, course.id
        assert "zh-CN" in course.texts, f"{course.id} has no Chinese title"


def test_every_module_is_real_teaching_material(library: Library) -> None:
    for module in library.modules.values():
        original = module.original
        assert module.sample, module.id
        assert 800 <= original.words <= 2000, (module.id, original.words)
        assert module.regulations, f"{module.id} cites no regulation"
        assert 'class="admonition regulation"' in original.html, module.id
        assert 'class="admonition case-study"' in original.html, module.id
        assert len(original.toc) >= 3, module.id
        assert module.practice is not None, module.id


def test_the_whole_library_exists_in_chinese(library: Library) -> None:
    """Chinese first: every course, module, question and scenario of the sample library reads in
    zh-CN, every question translation stamped with the current English text (none stale or
    unstamped). The count of what is not is 0."""
    untranslated = [c.id for c in library.courses.values() if "zh-CN" not in c.texts]
    untranslated += [m.id for m in library.modules.values() if "zh-CN" not in m.versions]
    bank = library.bank
    statuses = {qid: translations.status_of(bank, "zh-CN", qid) for qid in [*bank.questions, *bank.scenarios]}
    untranslated += [qid for qid, status in statuses.items() if status not in (None, "translated")]
    assert untranslated == []
    assert sum(status == "translated" for status in statuses.values()) >= 500
    for module in library.modules.values():
        chinese = module.versions["zh-CN"]
        assert len(re.findall(r"[\u4e00-\u9fff]", chinese.text)) >= 1000, module.id
        # Section anchors in Chinese are usable ids.
        assert all(entry.id for entry in chinese.toc)
    for course in library.courses.values():
        assert re.search(r"[\u4e00-\u9fff]", course.text_for("zh-CN").title), course.id


def test_every_image_has_alt_text_and_exists(library: Library) -> None:
    images = 0
    for module in library.modules.values():
        for version in module.versions.values():
            for alt, src in re.findall(r'<img alt="([^"]*)"[^>]*src="([^"]+)"', version.html):
                images += 1
                assert alt.strip(), (module.id, src)
                course_id, name = re.match(r"/courses/([^/]+)/assets/(.+)", src).groups()  # type: ignore[union-attr]
                assert (PROJECT_ROOT / "courses" / course_id / "assets" / name).is_file()
    assert images >= 3
