"""Content files kept by content hash, so a restart or a reload reads and checks only the files
that changed: parsing, then validating, is most of the cost of loading a large bank (50,000
questions).

Two kinds of entry, each keyed by the SHA-256 of the file's text and of the source of the code
that made it, so an edited file or a changed parser, schema or check never meets an old entry:

- `load`: a parsed YAML file, its `YamlDocument` (values and line numbers);
- `checked`: a bank file parsed and validated on its own (`trainer.content.bank.CheckedFile`:
  its questions, the lines a cross-file problem may need, and its own problems). A hit skips
  both parsing and validation, and keeps no line map of the whole file. The file's name is in
  the key too (its problems name it).

Entries live in memory (the content store keeps one cache across reloads) and, given a folder,
on disk as one pickle per file. The folder is the server's own data folder (like its database
and keys, nobody else writes there), so reading pickles from it trusts nothing new. A corrupt or
unreadable entry is ignored and the file read again; a failed write only costs the next start a
parse. Files with a problem in their YAML, and bank files with an error, are never cached: each
load reports it afresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pydantic
import yaml

from trainer import config
from trainer.content import bank, bank_schemas, problems, schemas, yamlio
from trainer.content.bank import CheckedFile
from trainer.content.yamlio import YamlDocument, load_yaml


def _source_hash(*modules: object) -> str:
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(getattr(module, "__file__", "")).read_bytes())
    return digest.hexdigest()[:16]


# The parser's source is part of every key: a changed dialect never serves old parses.
_PARSER = _source_hash(yamlio) + yaml.__version__
# What decides a checked bank file: its schemas, the checks and the wording of their problems
# (pydantic's own messages among them).
_CHECKER = _source_hash(bank, bank_schemas, schemas, problems, config) + pydantic.VERSION
FORMAT = "2"  # bump when the entry format changes

T = TypeVar("T")


class ParseCache:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self.memory: dict[str, object] = {}
        self.used: set[str] = set()  # keys asked for since the last `prune`
        self.hits = 0
        self.misses = 0  # files parsed (a cached entry of neither kind)

    @staticmethod
    def key(text: str, kind: str = "yaml") -> str:
        digest = hashlib.sha256(f"{FORMAT}\0{_PARSER}\0{kind}\0".encode())
        digest.update(text.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()

    def load(self, text: str) -> YamlDocument:
        """The document of `text`, from memory, disk or the parser (raises `YamlError`)."""
        return self._get(self.key(text), YamlDocument, lambda: load_yaml(text), lambda doc: True)

    def checked(self, text: str, display: str, check: Callable[[], CheckedFile]) -> CheckedFile:
        """The bank file `display` with this text, checked on its own: from memory, disk or
        `check` (which parses and validates it, and may raise `YamlError`)."""
        key = self.key(text, f"checked\0{_CHECKER}\0{display}")
        return self._get(key, CheckedFile, check, lambda entry: not entry.has_errors)

    def _get(self, key: str, kind: type[T], make: Callable[[], T], keep: Callable[[T], bool]) -> T:
        self.used.add(key)
        entry = self.memory.get(key)
        if not isinstance(entry, kind) and self.folder is not None:
            entry = self._read(key)
        if isinstance(entry, kind):
            self.hits += 1
        else:
            self.misses += 1
            entry = make()
            if not keep(entry):
                return entry
            self._write(key, entry)
        self.memory[key] = entry
        return entry

    def prune(self) -> None:
        """Forget what the last load did not ask for (old versions of edited files)."""
        self.memory = {k: v for k, v in self.memory.items() if k in self.used}
        if self.folder is not None and self.folder.is_dir():
            for entry in self.folder.glob("*.pickle"):
                if entry.stem not in self.used:
                    with contextlib.suppress(OSError):
                        entry.unlink()
        self.used = set()

    def _read(self, key: str) -> object:
        assert self.folder is not None
        try:
            with (self.folder / f"{key}.pickle").open("rb") as file:
                return pickle.load(file)  # noqa: S301 (our own data folder: see the module's docstring)
        except Exception:  # missing, corrupt, or of classes that changed: read the file again
            return None

    def _write(self, key: str, entry: object) -> None:
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed: a reader (another worker, a crash) never sees half a file.
            fd, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as file:
                pickle.dump(entry, file, protocol=pickle.HIGHEST_PROTOCOL)
            Path(temporary).replace(self.folder / f"{key}.pickle")
        except OSError:
            return
