"""The parse cache (trainer.content.parsecache): a restart or a reload parses only changed files,
a corrupt entry is ignored, and a broken file is still reported with its file and line."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import pytest

from bench.bank_gen import write_content
from trainer.content import parsecache
from trainer.content.loader import load_library
from trainer.content.parsecache import ParseCache
from trainer.content.store import ContentStore


def test_a_restart_parses_nothing_and_an_edit_parses_one_file(tmp_path: Path) -> None:
    root = write_content(tmp_path / "content", 300)
    folder = tmp_path / "cache"
    cold = ParseCache(folder)
    library, _ = load_library(root / "courses", root / "question_bank", cold)
    assert library is not None
    assert cold.misses > 3
    assert cold.hits == 0
    warm = ParseCache(folder)  # a new process: only the disk
    again, _ = load_library(root / "courses", root / "question_bank", warm)
    assert again is not None
    assert warm.misses == 0
    assert again.bank.questions == library.bank.questions
    bank_file = root / "question_bank" / "synthetic" / "s00001.yaml"
    bank_file.write_text(
        bank_file.read_text(encoding="utf-8").replace("Synthetic question 100:", "Edited 100:"),
        encoding="utf-8",
    )
    edited = ParseCache(folder)
    changed, _ = load_library(root / "courses", root / "question_bank", edited)
    assert changed is not None
    assert edited.misses == 1
    assert changed.bank.questions["SY-000100"].model.stem.startswith("Edited 100:")


def test_a_corrupt_cache_entry_is_ignored(tmp_path: Path) -> None:
    root = write_content(tmp_path / "content", 100)
    folder = tmp_path / "cache"
    load_library(root / "courses", root / "question_bank", ParseCache(folder))
    entries = sorted(folder.glob("*.pickle"))
    assert entries
    for entry in entries:
        entry.write_bytes(b"not a pickle")
    cache = ParseCache(folder)
    library, _ = load_library(root / "courses", root / "question_bank", cache)
    assert library is not None
    assert cache.misses == len(entries)


def test_a_broken_edit_under_reload_names_file_and_line_and_keeps_the_library(tmp_path: Path) -> None:
    root = write_content(tmp_path / "content", 200)
    store = ContentStore(root / "courses", root / "question_bank", reload=True, cache_dir=tmp_path / "cache")
    first = store.library
    bank_file = root / "question_bank" / "synthetic" / "s00001.yaml"
    lines = bank_file.read_text(encoding="utf-8").splitlines()
    lines[5] = "  broken: [unclosed"
    bank_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert store.library is first  # the last good library keeps serving
    assert any(p.file.endswith("s00001.yaml") and p.line is not None for p in store.problems)
    shutil.rmtree(tmp_path / "cache")


def _problems(root: Path, cache: ParseCache) -> list[str]:
    _library, problems = load_library(root / "courses", root / "question_bank", cache)
    return [str(p) for p in problems]


def test_an_edited_bank_file_is_checked_again_and_its_new_problem_named_at_its_line(tmp_path: Path) -> None:
    root = write_content(tmp_path / "content", 300)
    store = ContentStore(root / "courses", root / "question_bank", reload=True, cache_dir=tmp_path / "cache")
    first = store.library
    bank_file = root / "question_bank" / "synthetic" / "s00001.yaml"
    text = bank_file.read_text(encoding="utf-8")
    assert text.splitlines()[6] == "  difficulty: 1"  # SY-000100's, on line 7
    bank_file.write_text(text.replace("  difficulty: 1\n", "  difficulty: 9\n", 1), encoding="utf-8")
    misses = store.cache.misses
    assert store.library is first  # the last good library keeps serving
    assert store.cache.misses == misses + 1  # that file, and only it, read again
    assert [str(p) for p in store.problems] == [
        "question_bank/synthetic/s00001.yaml:7: difficulty: must be less than or equal to 5"
    ]
    # A file with an error is never kept: a new process reports it again, at the same line.
    restarted = ParseCache(tmp_path / "cache")
    assert "question_bank/synthetic/s00001.yaml:7: difficulty: must be less than or equal to 5" in (
        _problems(root, restarted)
    )
    assert restarted.misses == 1
    bank_file.write_text(text, encoding="utf-8")  # put right: served again
    assert store.library is not first
    assert store.problems == ()
    assert store.library.bank.questions["SY-000100"].difficulty == 1


def test_an_unchanged_restart_checks_no_bank_file_again_and_reports_the_same(tmp_path: Path) -> None:
    root = write_content(tmp_path / "content", 300)
    bank_file = root / "question_bank" / "synthetic" / "s00001.yaml"
    text = bank_file.read_text(encoding="utf-8")
    # SY-000101 without an explanation: a warning the file's cached entry must keep.
    bank_file.write_text(
        text.replace(
            "  explanation: Case 101 is answered by the first option, as the synthetic rule says.\n", ""
        ),
        encoding="utf-8",
    )
    folder = tmp_path / "cache"
    cold = ParseCache(folder)
    reported = _problems(root, cold)
    assert (
        "question_bank/synthetic/s00001.yaml:28: warning: question 'SY-000101' has no explanation" in reported
    )
    warm = ParseCache(folder)
    assert _problems(root, warm) == reported
    assert warm.misses == 0
    assert warm.hits == cold.misses  # every file from the cache, bank files checked ones included
    entries = {type(warm.memory[key]).__name__ for key in warm.memory}
    assert entries == {"CheckedFile", "YamlDocument"}


def test_problems_across_files_are_found_for_cached_bank_files_with_their_lines(tmp_path: Path) -> None:
    root = write_content(tmp_path / "content", 300)
    folder = tmp_path / "cache"
    assert not any(" error" in p or ": unknown" in p for p in _problems(root, ParseCache(folder)))
    # A file read after them takes an id of s00000.yaml, and the regulation every question cites goes:
    # s00000.yaml and s00001.yaml are unchanged (their checked entries are used as they are).
    extra = root / "question_bank" / "synthetic" / "s00001.yaml"
    copy = root / "question_bank" / "zz-extra.yaml"
    copy_text = (
        extra.read_text(encoding="utf-8")
        .replace("SY-0001", "EX-0001")
        .replace("id: EX-000105", "id: SY-000003")
    )
    copy.write_text(copy_text, encoding="utf-8")
    taken_at = copy_text.splitlines().index("- id: SY-000003") + 1
    regulations = root / "question_bank" / "regulations.yaml"
    regulations.write_text(
        regulations.read_text(encoding="utf-8").replace("\nwork-safety-law:", "\nwork-safety-law-2:", 1),
        encoding="utf-8",
    )
    cache = ParseCache(folder)
    problems = _problems(root, cache)
    assert cache.misses == 2  # the new file and regulations.yaml
    unknown = "unknown regulation 'work-safety-law': add it to question_bank/regulations.yaml or fix the code"
    assert f"question_bank/synthetic/s00001.yaml:26: {unknown}" in problems  # SY-000100's refs
    assert (
        f"question_bank/zz-extra.yaml:{taken_at}: question id 'SY-000003' is already used in "
        "question_bank/synthetic/s00000.yaml"
    ) in problems


def test_a_changed_parser_or_checker_reads_every_file_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_content(tmp_path / "content", 300)
    folder = tmp_path / "cache"
    cold = ParseCache(folder)
    reported = _problems(root, cold)
    bank_files = 3  # s00000 ... s00002; the rest (translation, regulations, tags, course) parsed only
    monkeypatch.setattr(parsecache, "_CHECKER", "another version of the checks")
    checker_changed = ParseCache(folder)
    assert _problems(root, checker_changed) == reported
    assert checker_changed.misses == bank_files
    monkeypatch.setattr(parsecache, "_PARSER", "another version of the parser")
    parser_changed = ParseCache(folder)
    assert _problems(root, parser_changed) == reported
    assert parser_changed.misses == cold.misses
    monkeypatch.setattr(parsecache, "FORMAT", "another format")
    format_changed = ParseCache(folder)
    assert _problems(root, format_changed) == reported
    assert format_changed.misses == cold.misses


def test_the_garbage_collector_is_back_on_after_a_load_good_or_bad(tmp_path: Path) -> None:
    root = write_content(tmp_path / "content", 100)
    assert gc.isenabled()
    library, _ = load_library(root / "courses", root / "question_bank", ParseCache())
    assert library is not None
    assert gc.isenabled()
    (root / "question_bank" / "synthetic" / "s00000.yaml").write_text(
        "questions: [unclosed\n", encoding="utf-8"
    )
    library, problems = load_library(root / "courses", root / "question_bank", ParseCache())
    assert library is None
    assert problems
    assert gc.isenabled()
    gc.disable()  # switched off by someone else: a load leaves it off
    try:
        load_library(root / "courses", root / "question_bank", ParseCache())
        assert not gc.isenabled()
    finally:
        gc.enable()
