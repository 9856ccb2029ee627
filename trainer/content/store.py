"""Holds the library being served, and swaps in a new one when authors edit files.

In reload mode (`trainer serve --reload`) each request checks a cheap fingerprint of the content
files; when it changed, the library is reloaded. A broken edit never goes live: the last good
library keeps serving, and the problems are shown to the author on every page until fixed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from trainer import metrics
from trainer.content.library import Library
from trainer.content.loader import content_signature, load_library
from trainer.content.parsecache import ParseCache
from trainer.content.problems import LibraryError, Problem

if TYPE_CHECKING:
    from starlette.requests import Request

log = logging.getLogger(__name__)


class ContentStore:
    def __init__(
        self,
        courses_dir: Path,
        question_bank_dir: Path,
        *,
        reload: bool = False,
        on_load: Callable[[Library], object] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.courses_dir = courses_dir
        self.question_bank_dir = question_bank_dir
        self.reload = reload
        self.on_load = on_load
        self._lock = threading.Lock()
        self._signature = content_signature(courses_dir, question_bank_dir)
        # Parsed files by content hash, kept across reloads (and restarts, with `cache_dir`):
        # a reload parses only the files that changed.
        self.cache = ParseCache(cache_dir)
        library, problems = load_library(courses_dir, question_bank_dir, self.cache)
        if library is None:
            raise LibraryError(problems)
        self._library: Library = library
        self.problems: tuple[Problem, ...] = ()  # errors of the latest failed reload
        # Bumped on every successful reload; part of the key of every cached page fragment.
        self.generation = 0

    @property
    def library(self) -> Library:
        if self.reload:
            self._reload_if_changed()
        return self._library

    def _reload_if_changed(self) -> None:
        signature = content_signature(self.courses_dir, self.question_bank_dir)
        if signature == self._signature:
            return
        with self._lock:
            if signature == self._signature:
                return
            library, problems = load_library(self.courses_dir, self.question_bank_dir, self.cache)
            self._signature = signature
            if library is None:
                self.problems = tuple(p for p in problems if p.severity == "error")
                metrics.CONTENT_RELOADS.labels("failed").inc()
                metrics.CONTENT_PROBLEMS.set(len(self.problems))
                log.warning(
                    "content edit has %d problem(s); still serving the last good library", len(self.problems)
                )
                return
            self.problems = ()
            self._library = library
            metrics.CONTENT_RELOADS.labels("ok").inc()
            metrics.CONTENT_PROBLEMS.set(0)
            self.generation += 1
            if self.on_load is not None:
                self.on_load(library)
            log.info("content reloaded: %d courses, %d modules", len(library.courses), library.module_count)


def content_of(request: Request) -> ContentStore:
    """The store the app factory put on `app.state` (typed here: the web plumbing knows no domain)."""
    return cast("ContentStore", request.app.state.content)
