"""Papers drawn ahead read into memory after their starts, while the exam-day threads are idle.

A start that takes a paper drawn ahead of a sitting does not read the paper: it answers with the
questions as served, stored when the paper was drawn (trainer.quizzes.service.Prepared), which
keeps a sitting's start storm short. Left at that, every exam's first answer save reads its
paper, one paper and one round trip at a time, on an exam-day thread (on SQLite there is one):
a sitting's first saves all come within the same minute or so and queue there behind each other
(bench/exam_day.py at 2,000, saves at an exam's real pace: p99 30-32 ms against the reference's
11-12 on SQLite, 65 against 15-16 on PostgreSQL; reading the papers here first, 13-16 against
14-40 and 24-30 against 22-33).

So each start whose paper is not in memory leaves its attempt here, and the papers are read in
batches (one statement each) on an exam-day thread, but only while one is free and nothing waits
for one: during the storm the starts keep every thread, after it the papers are read in the
seconds before anyone has answered a question. A save that comes first reads its own paper as
before; the batch skips what is cached by then.

With several processes an inspector's saves go to any of them, not only to the one that started
the exam. So once a process has read the papers of its own starts, it also reads those of every
other open exam in the same sittings (started through the other processes), and again after
its next start in one of them: each process has the sitting's papers when the first saves come.

Per process, and on the event loop only.
"""

from __future__ import annotations

import asyncio
import functools
import logging

from starlette.applications import Starlette

from trainer.db import Database
from trainer.quizzes import service
from trainer.web import exam_threads

log = logging.getLogger(__name__)

# Papers read in one statement: at 60-90 kB each, a batch is a few MB and some milliseconds of
# an exam-day thread, which a save that comes meanwhile waits for at most.
BATCH = 50
# How often a warmer whose threads are all busy looks again.
BUSY_PAUSE_SECONDS = 0.02
# Attempts waiting at most: past this (a storm bigger than the paper cache) a start's paper is
# left to its first save.
MAX_WAITING = service.PAPER_CACHE_SIZE


class PaperWarmer:
    """One app's: the attempts and sittings whose papers are still to be read, and the task on
    the event loop that reads them (started by `add`, ends when nothing is left)."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._waiting: list[int] = []  # attempts whose papers are to be read
        self._sittings: set[int] = set()  # whose open exams' papers are to be read next
        self._task: asyncio.Task[None] | None = None

    def add(self, app: Starlette, attempt_id: int, sitting_id: int | None = None) -> None:
        """Read this started attempt's paper into memory when an exam-day thread is idle, then
        those of its sitting's other open exams (called on the event loop, after the start
        committed)."""
        if len(self._waiting) < MAX_WAITING:
            self._waiting.append(attempt_id)
        if sitting_id is not None:
            self._sittings.add(sitting_id)
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._read(app))

    @property
    def waiting(self) -> int:
        return len(self._waiting) + len(self._sittings)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._waiting.clear()
        self._sittings.clear()

    async def _read(self, app: Starlette) -> None:
        while self._waiting or self._sittings:
            if not exam_threads.has_idle_thread(app):
                await asyncio.sleep(BUSY_PAUSE_SECONDS)
                continue
            try:
                if self._waiting:
                    batch, self._waiting = self._waiting[:BATCH], self._waiting[BATCH:]
                    read = functools.partial(service.cache_papers, self._database, batch)
                    await exam_threads.run_exam_work_of(app, read)
                else:
                    sittings, self._sittings = sorted(self._sittings), set()
                    find = functools.partial(service.papers_not_cached_in_sittings, self._database, sittings)
                    found = await exam_threads.run_exam_work_of(app, find)
                    self._waiting.extend(found[: MAX_WAITING - len(self._waiting)])
            except Exception:  # a database hiccup: the first saves read their own papers
                log.warning("reading started exams' papers into memory failed", exc_info=True)
