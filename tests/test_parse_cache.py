"""The parse cache (trainer.content.parsecache): a restart or a reload parses only changed files,
a corrupt entry is ignored, and a broken file is still reported with its file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.bank_gen import write_content
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
