"""Exam day's work (a start, the paper's page, an answer save, a submit) on a few worker threads
of its own.

A start or a submit is a burst of Python (drawing and serialising a paper, grading) around a
short write. Run on the shared thread pool (40 threads), a storm of them has dozens of threads
taking turns at the interpreter lock, and the one holding the database's write lock (on SQLite,
one writer per process) waits for its turn among them, so every write behind it waits too. A few
threads do the same work with less switching. Answer saves are short, but thousands of them on
40 threads crowd out everything else the same way: a save is checked here (unless its token and
paper are in the process's memory: then on the event loop, trainer.quizzes.api.save_answer),
then stored by the app's group commit (trainer.quizzes.answer_writer) while its request waits on
the event loop.
Everything else (pages, reports) keeps the shared pool, so exam day's queue forms behind its own
limit, not in front of a manager's page. Measured with bench/exam_day.py, both ways (README "Exam day").

How few depends on the database (`Settings.exam_thread_count`): on SQLite one, because the
database works inside the process and a second thread hides no waiting, it only takes turns at
the interpreter lock (measured: a start cost 3.1 ms of CPU with one thread, 4.1 with two or four);
on PostgreSQL four, each statement being a round trip that the other threads' work fills.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request

T = TypeVar("T")


def limiter_of(app: Starlette) -> anyio.CapacityLimiter:
    """This app's limiter in the running event loop: its size is the app's setting, and an anyio
    limiter belongs to the loop it was made in (tests run many apps, a test client's requests
    possibly each in a loop of its own)."""
    per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] | None = getattr(
        app.state, "exam_limiters", None
    )
    if per_loop is None:
        per_loop = app.state.exam_limiters = weakref.WeakKeyDictionary()
    loop = asyncio.get_running_loop()
    limiter = per_loop.get(loop)
    if limiter is None:
        limiter = per_loop[loop] = anyio.CapacityLimiter(app.state.settings.exam_thread_count)
    return limiter


def has_idle_thread(app: Starlette) -> bool:
    """Whether one of the app's exam-day threads is free and no exam work waits for one."""
    limiter = limiter_of(app)
    return limiter.borrowed_tokens < limiter.total_tokens and not limiter.statistics().tasks_waiting


async def run_exam_work(request: Request, work: Callable[[], T]) -> T:
    """`work()` on one of the exam-day threads (`Settings.exam_thread_count` per process)."""
    return await run_exam_work_of(request.app, work)


async def run_exam_work_of(app: Starlette, work: Callable[[], T]) -> T:
    """`run_exam_work` for work of the app's own, not a request's."""
    return await anyio.to_thread.run_sync(work, limiter=limiter_of(app))
