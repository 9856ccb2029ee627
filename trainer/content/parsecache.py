"""Parsed YAML files kept by content hash, so a restart or a reload reads YAML only where a file
changed: parsing is most of the cost of loading a large bank (50,000 questions).

Each entry is one file's `YamlDocument` (values and line numbers), keyed by the SHA-256 of the
file's text and of the parser's own source, so an edited file or a changed parser never meets an
old entry. Entries live in memory (the content store keeps one cache across reloads) and, given a
folder, on disk as one pickle per file. The folder is the server's own data folder (like its
database and keys, nobody else writes there), so reading pickles from it trusts nothing new. A
corrupt or unreadable entry is ignored and the file parsed again; a failed write only costs the
next start a parse. Files with a problem in their YAML are never cached: each load reports it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
from pathlib import Path

from trainer.content import yamlio
from trainer.content.yamlio import YamlDocument, load_yaml

# The parser's source is part of every key: a changed dialect never serves old parses.
_PARSER = hashlib.sha256(Path(yamlio.__file__).read_bytes()).hexdigest()[:16]
FORMAT = "1"  # bump when the entry format changes


class ParseCache:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self.memory: dict[str, YamlDocument] = {}
        self.used: set[str] = set()  # keys asked for since the last `prune`
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(text: str) -> str:
        digest = hashlib.sha256(f"{FORMAT}\0{_PARSER}\0".encode())
        digest.update(text.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()

    def load(self, text: str) -> YamlDocument:
        """The document of `text`, from memory, disk or the parser (raises `YamlError`)."""
        key = self.key(text)
        self.used.add(key)
        doc = self.memory.get(key)
        if doc is None and self.folder is not None:
            doc = self._read(key)
        if doc is None:
            self.misses += 1
            doc = load_yaml(text)
            self._write(key, doc)
        else:
            self.hits += 1
        self.memory[key] = doc
        return doc

    def prune(self) -> None:
        """Forget what the last load did not ask for (old versions of edited files)."""
        self.memory = {k: v for k, v in self.memory.items() if k in self.used}
        if self.folder is not None and self.folder.is_dir():
            for entry in self.folder.glob("*.pickle"):
                if entry.stem not in self.used:
                    with contextlib.suppress(OSError):
                        entry.unlink()
        self.used = set()

    def _read(self, key: str) -> YamlDocument | None:
        assert self.folder is not None
        try:
            with (self.folder / f"{key}.pickle").open("rb") as file:
                doc = pickle.load(file)  # noqa: S301 (our own data folder: see the module's docstring)
        except FileNotFoundError:
            return None
        except Exception:
            return None
        return doc if isinstance(doc, YamlDocument) else None

    def _write(self, key: str, doc: YamlDocument) -> None:
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed: a reader (another worker, a crash) never sees half a file.
            fd, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as file:
                pickle.dump(doc, file, protocol=pickle.HIGHEST_PROTOCOL)
            Path(temporary).replace(self.folder / f"{key}.pickle")
        except OSError:
            return
