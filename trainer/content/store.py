"""Holds the library being served, and swaps in a new one when authors edit files or publish.

In reload mode (`trainer serve --reload`) each request checks a cheap fingerprint of the content
files; when it changed, the library is reloaded. A broken edit never goes live: the last good
library keeps serving, and the problems are shown to the author on every page until fixed.

Published versions (trainer.content.publishing) lie over the files. Every `poll_seconds` a
request starts one background check of the publish counter (a primary-key read); when it
moved, the thread rebuilds the library from the files plus the published versions and swaps it
in, while requests go on being served the previous one. So a publish made by any process is
served by every process within about `poll_seconds` plus one library load, without a restart,
and no request ever waits for a load; the process that published starts its poll as soon as the
publish is committed (`poll_now`), so its own next pages show it after one library load.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from trainer import metrics
from trainer.caching import LRU
from trainer.content.authoring import DraftCheck
from trainer.content.library import Library
from trainer.content.loader import content_signature, load_library
from trainer.content.parsecache import ParseCache
from trainer.content.problems import LibraryError, Problem

if TYPE_CHECKING:
    from starlette.requests import Request

log = logging.getLogger(__name__)


class Published(Protocol):
    """The published versions as a store reads them (trainer.content.publishing.PublishedContent)."""

    def generation(self) -> int: ...

    def load(self) -> tuple[int, dict[str, str]]: ...


class ContentStore:
    def __init__(
        self,
        courses_dir: Path,
        question_bank_dir: Path,
        *,
        reload: bool = False,
        on_load: Callable[[Library], object] | None = None,
        cache_dir: Path | None = None,
        published: Published | None = None,
        poll_seconds: float = 2.0,
    ) -> None:
        self.courses_dir = courses_dir
        self.question_bank_dir = question_bank_dir
        self.reload = reload
        self.on_load = on_load
        self.published = published
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        # Drafts checked against this library (trainer.content.authoring_views): one library load each.
        self.draft_checks: LRU[tuple[str, str, int], DraftCheck] = LRU(32)
        # Their own parse cache, used under their own lock: a check never waits for a reload,
        # and checks run one at a time (each is a whole library load).
        self.draft_cache = ParseCache()
        self.draft_lock = threading.Lock()
        self._polling = False
        self._poller: threading.Thread | None = None
        self._closed = False
        self._next_poll = time.monotonic() + poll_seconds
        self._signature = content_signature(courses_dir, question_bank_dir)
        # Parsed files by content hash, kept across reloads (and restarts, with `cache_dir`):
        # a reload parses only the files that changed.
        self.cache = ParseCache(cache_dir)
        self.published_generation, self.overlay = published.load() if published is not None else (0, {})
        library, problems = load_library(courses_dir, question_bank_dir, self.cache, self.overlay)
        if library is None:
            raise LibraryError(problems)
        self._library: Library = library
        self.problems: tuple[Problem, ...] = ()  # errors of the latest failed reload
        # Bumped on every successful reload; part of the key of every cached page fragment.
        self.generation = 0

    @property
    def library(self) -> Library:
        self._refresh()
        return self._library

    def current(self) -> tuple[int, Library]:
        """The library to serve and the generation that keys its cached pages. The generation is
        read after the reload this call may make (reload mode) and before the library: a poll
        swapping in the background between the two reads gives the old generation with the new
        library (a swap sets the library before it bumps the generation), whose page cached under
        the old key is harmless; the new generation with the old library would cache the old page
        for everyone until the next publish."""
        self._refresh()
        generation = self.generation
        return generation, self._library

    def _refresh(self) -> None:
        """Reload mode: notice an edit now. Published content: start a poll when one is due."""
        if self.reload:
            self._reload_if_changed()
        if self.published is not None and time.monotonic() >= self._next_poll:
            self._start_poll()

    def poll_now(self) -> None:
        """Start the background poll now rather than when due: this process has just published
        (its approver's next page shows the publish after one library load, not up to
        `poll_seconds` later). No request waits for it."""
        if self.published is None:
            return
        if self._polling:  # one under way may have read the counter before the publish
            self._next_poll = 0.0  # so the next request starts another
        else:
            self._start_poll()

    def _start_poll(self) -> None:
        self._next_poll = time.monotonic() + self.poll_seconds
        if not self._polling and not self._closed:
            self._polling = True
            self._poller = threading.Thread(target=self._poll, name="content-poll", daemon=True)
            self._poller.start()

    def close(self, timeout: float = 30) -> None:
        """No more polling; wait for a poll under way, so it never touches a database being
        disposed (the app's shutdown and the tests call this before disposing it)."""
        self._closed = True
        poller = self._poller
        if poller is not None and poller is not threading.current_thread():
            poller.join(timeout)

    def _poll(self) -> None:
        try:
            self.refresh_published()
        except Exception:  # the database away for a moment: the library served stays, next poll retries
            log.exception("checking for published content failed; still serving the current library")
        finally:
            self._polling = False

    def refresh_published(self) -> bool:
        """Rebuild the library if something was published since it was built; True if swapped."""
        assert self.published is not None
        if self.published.generation() == self.published_generation:
            return False
        with self._lock:
            found, overlay = self.published.load()
            if found == self.published_generation:
                return False
            library, problems = load_library(self.courses_dir, self.question_bank_dir, self.cache, overlay)
            self.published_generation = found
            if library is None:
                # Publishing checks the whole library first, so this is a file on disk broken
                # since; keep serving the last good library, as a reload does.
                self.problems = tuple(p for p in problems if p.severity == "error")
                metrics.CONTENT_RELOADS.labels("failed").inc()
                metrics.CONTENT_PROBLEMS.set(len(self.problems))
                log.warning("published content does not load (%d problem(s))", len(self.problems))
                return False
            self.overlay = overlay
            self._swap(library)
            return True

    def _swap(self, library: Library) -> None:
        self.problems = ()
        self._library = library
        metrics.CONTENT_RELOADS.labels("ok").inc()
        metrics.CONTENT_PROBLEMS.set(0)
        self.generation += 1
        if self.on_load is not None:
            self.on_load(library)
        log.info("content reloaded: %d courses, %d modules", len(library.courses), library.module_count)

    def _reload_if_changed(self) -> None:
        signature = content_signature(self.courses_dir, self.question_bank_dir)
        if signature == self._signature:
            return
        with self._lock:
            if signature == self._signature:
                return
            library, problems = load_library(
                self.courses_dir, self.question_bank_dir, self.cache, self.overlay
            )
            self._signature = signature
            if library is None:
                self.problems = tuple(p for p in problems if p.severity == "error")
                metrics.CONTENT_RELOADS.labels("failed").inc()
                metrics.CONTENT_PROBLEMS.set(len(self.problems))
                log.warning(
                    "content edit has %d problem(s); still serving the last good library", len(self.problems)
                )
                return
            self._swap(library)


def content_of(request: Request) -> ContentStore:
    """The store the app factory put on `app.state` (typed here: the web plumbing knows no domain)."""
    return cast("ContentStore", request.app.state.content)
