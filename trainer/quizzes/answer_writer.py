"""Group commit for exam answer saves: one writer thread per process stores the saves that
arrived while its last transaction committed, all in the next one.

On exam day every inspector saves an answer every few seconds. Each save on its own is a
transaction: on SQLite it takes the process's write lock and commits (a WAL write), on
PostgreSQL it waits for its commit's WAL flush. Taken together, a few dozen saves share one
lock, one commit and one flush, and a request waits on the event loop for its save's commit
instead of holding one of the few exam-day threads (trainer.web.exam_threads).

A save is acknowledged only after the transaction that stored it committed. Each one is its own
statement (the upsert into an open attempt, trainer.quizzes.service), so a save refused because
its attempt closed stores nothing and does not touch the others in its batch. If a transaction
fails, every save in it gets the error: none of them was stored.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from trainer import metrics
from trainer.db import Database

log = logging.getLogger(__name__)

# At most this many saves in one transaction: a batch this size commits in a few milliseconds,
# and a writer that falls behind still answers the oldest saves first.
MAX_BATCH = 256
# The thread ends after this long without a save (a test's app, a quiet night) and a save
# starts it again.
IDLE_SECONDS = 5.0


@dataclass(frozen=True)
class _Save:
    row: dict[str, Any]
    done: Future[bool]  # True: stored; False: its attempt was not open (nothing stored)


class AnswerWriter:
    """`write(row)` queues one answer row; its future says, after the commit, whether it went
    in. `store(conn, row) -> bool` is the statement (given by the service that owns it)."""

    def __init__(self, database: Database, store: Callable[[Any, dict[str, Any]], bool]) -> None:
        self._database = database
        self._store = store
        self._queue: queue.SimpleQueue[_Save | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None  # started by a save, ends when idle
        self._lock = threading.Lock()

    def write(self, row: dict[str, Any]) -> Future[bool]:
        done: Future[bool] = Future()
        with self._lock:
            self._queue.put(_Save(row, done))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="answer-writer", daemon=True)
                self._thread.start()
        return done

    def close(self) -> None:
        """Store what is queued and let the thread end (the app's shutdown). A later save
        starts it again: a test client runs an app's shutdown while its server goes on."""
        with self._lock:
            thread = self._thread
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        stopping = False  # close() asked: end once the queue is empty
        while True:
            try:
                first = self._queue.get_nowait() if stopping else self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:  # a save queued from now on starts a new thread
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            batch: list[_Save] = []
            for save in [first, *self._waiting(MAX_BATCH - 1)]:
                if save is None:
                    stopping = True
                else:
                    batch.append(save)
            if batch:
                self._commit(batch)

    def _waiting(self, most: int) -> list[_Save | None]:
        """What is queued now, up to `most`, without waiting for more."""
        found: list[_Save | None] = []
        while len(found) < most:
            try:
                found.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return found

    def _commit(self, batch: list[_Save]) -> None:
        # In attempt order: each save locks its attempt's row (PostgreSQL), and two processes'
        # batches locking the same two attempts in opposite orders would deadlock. The sort is
        # stable, so two saves of one answer keep their order (the later one stays).
        ordered = sorted(batch, key=lambda save: int(save.row["attempt_id"]))
        try:
            with self._database.write_connection(unlimited=False) as conn:
                stored = [self._store(conn, save.row) for save in ordered]
        except BaseException as error:  # every save of the batch learns it was not stored
            log.warning("a batch of %d answer saves failed: %s", len(batch), error)
            for save in ordered:
                save.done.set_exception(error)
            return
        metrics.ANSWER_BATCH_SIZE.observe(len(batch))
        for save, went_in in zip(ordered, stored, strict=True):
            save.done.set_result(went_in)
