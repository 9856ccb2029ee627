"""Exam day's starts, paper pages, answer saves and submits run on a few threads of their own
(trainer.web.exam_threads): at most `exam_threads` at once per process, from the API and the
pages alike."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.conftest import (
    ContentDirs,
    make_person,
    ready_for_exam,
    right_answer,
    run_together,
    serve,
    sign_in,
    token,
)
from trainer.app import create_app
from trainer.config import Settings
from trainer.db import Database
from trainer.quizzes import service
from trainer.web.exam_threads import run_exam_work


class Overlap:
    """Wraps a service function: counts the calls running at once. The first call waits (up to
    a few seconds) for a second to join it, so that two calls sent together overlap whenever the
    limit lets them, however slow the machine; then each call runs the real function."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.changed = threading.Condition()
        self.inside = 0
        self.most = 0
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.changed:
            self.inside += 1
            self.calls += 1
            self.most = max(self.most, self.inside)
            self.changed.notify_all()
            if self.calls == 1:
                self.changed.wait_for(lambda: self.inside > 1, timeout=3.0)
        try:
            return self.real(*args, **kwargs)
        finally:
            with self.changed:
                self.inside -= 1


@pytest.mark.parametrize("threads", [1, 2])
def test_submits_from_the_api_and_the_pages_share_the_exam_threads(
    threads: int,
    make_settings: Callable[..., Settings],
    content: ContentDirs,
    migrated_database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app: FastAPI = create_app(make_settings(content, exam_threads=threads))
    overlap = Overlap(service.submit)
    monkeypatch.setattr(service, "submit", overlap)
    try:
        with serve(app) as server:
            api = httpx.Client(base_url=server.url, timeout=60)
            web = httpx.Client(base_url=server.url, timeout=60, follow_redirects=False)
            one = make_person(migrated_database, "inspector")
            other = make_person(migrated_database, "inspector")
            headers = token(api, one)
            by_api = api.post("/api/v1/modules/demo-first/practice/attempts", headers=headers).json()["id"]
            sign_in(web, other)
            csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', web.get("/courses").text)
            assert csrf is not None
            started = web.post("/modules/demo-first/practice", data={"csrf_token": csrf.group(1)})
            assert started.status_code == 303, started.text[:300]
            by_page = int(started.headers["location"].rsplit("/", 1)[-1].split("#")[0])

            def through_api() -> int:
                return api.post(f"/api/v1/attempts/{by_api}/submit", headers=headers).status_code

            def through_page() -> int:
                response = web.post(f"/attempts/{by_page}/submit", data={"csrf_token": csrf.group(1)})
                return response.status_code

            assert run_together([through_api, through_page, through_api]) == [200, 303, 200]
            api.close()
            web.close()
    finally:
        app.state.content.close()
        app.state.database.dispose()
    assert overlap.calls == 3
    # One thread: one at a time, whichever door they came in by. Two: two at once (so the one
    # at a time above is the limit's doing, not something else keeping the calls apart).
    assert overlap.most == threads


def test_the_setting_refuses_no_threads(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ValueError, match="exam_threads"):
        make_settings(exam_threads=0)


def test_two_apps_in_one_event_loop_each_keep_their_own_limit(make_settings: Callable[..., Settings]) -> None:
    """The limit is the app's setting, not that of the first app to run exam work in the loop."""

    def request_of(threads: int) -> Any:
        app = SimpleNamespace(state=SimpleNamespace(settings=make_settings(exam_threads=threads)))
        return SimpleNamespace(app=app)

    async def most_at_once(request: Any) -> int:
        inside, most, lock = [0], [0], threading.Lock()

        def work() -> None:
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            threading.Event().wait(0.2)
            with lock:
                inside[0] -= 1

        await asyncio.gather(*(run_exam_work(request, work) for _ in range(4)))
        return most[0]

    async def both() -> tuple[int, int]:
        return await most_at_once(request_of(1)), await most_at_once(request_of(3))

    assert asyncio.run(both()) == (1, 3)


def test_unset_the_count_follows_the_database(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite works inside the process: one thread (a second only takes turns at the interpreter
    lock). PostgreSQL answers over the network: four, whose waits the others' work fills. A count
    that is set is kept on either."""
    for name in ("TRAINER_DATABASE_URL", "TRAINER_EXAM_THREADS"):  # the settings read the environment
        monkeypatch.delenv(name, raising=False)
    postgres = "postgresql+psycopg://trainer@127.0.0.1:5432/trainer"
    assert Settings(data_dir=tmp_path).exam_thread_count == 1  # the embedded default
    assert Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/t.db").exam_thread_count == 1
    assert Settings(data_dir=tmp_path, database_url=postgres).exam_thread_count == 4
    assert Settings(data_dir=tmp_path, database_url=postgres, exam_threads=2).exam_thread_count == 2
    assert Settings(data_dir=tmp_path, exam_threads=3).exam_thread_count == 3


@dataclass
class ExamSaves:
    """An exam just started through the API, its first two slots, a right answer saved to a
    slot (`save`, checked acknowledged), and the paths of the save requests that took a trip
    to an exam thread (`trips`)."""

    exam: dict[str, Any]
    first: int
    second: int
    trips: list[str]
    save: Callable[[int], None]


def astuple_of(saves: ExamSaves) -> tuple[dict[str, Any], int, int, list[str], Callable[[int], None]]:
    """The fixture's fields, to unpack in a test (dataclasses.astuple would copy the exam)."""
    return saves.exam, saves.first, saves.second, saves.trips, saves.save


@pytest.fixture
def exam_saves(client: TestClient, migrated_database: Database, monkeypatch: pytest.MonkeyPatch) -> ExamSaves:
    database = migrated_database
    headers, _person = ready_for_exam(client, database)
    exam = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers).json()
    trips: list[str] = []
    real = run_exam_work

    async def counted(request: Any, work: Callable[[], Any]) -> Any:
        trips.append(request.url.path)
        return await real(request, work)

    monkeypatch.setattr("trainer.quizzes.api.run_exam_work", counted)

    def save(slot: int) -> None:
        answer = right_answer(database, exam["id"], slot)
        saved = client.put(f"/api/v1/attempts/{exam['id']}/answers/{slot}", headers=headers, json=answer)
        assert saved.json() == {"slot": slot, "saved": True}

    slots = [question["slot"] for question in exam["questions"]]
    return ExamSaves(exam, slots[0], slots[1], trips, save)


def test_a_save_whose_token_and_paper_are_in_memory_is_checked_without_a_thread(
    client: TestClient, app: FastAPI, migrated_database: Database, exam_saves: ExamSaves
) -> None:
    """An exam's saves after its first few are checked on the event loop (token and paper in
    this process's memory); a save that needs either from the database is checked on an exam
    thread. Both are stored."""
    database = migrated_database
    exam, first, second, trips, save = astuple_of(exam_saves)

    save(first)  # the start left token and paper in memory
    assert trips == []
    app.state.database.clear_caches()  # as another process, or after the cache let them go
    save(second)
    assert trips == [f"/api/v1/attempts/{exam['id']}/answers/{second}"]
    save(first)  # the thread's read put both back
    assert len(trips) == 1
    with database.session() as db:
        query = text("SELECT slot FROM attempt_answers WHERE attempt_id = :a")
        assert set(db.scalars(query, {"a": exam["id"]})) == {first, second}
    other = token(client, make_person(database, "inspector"))
    assert client.get("/api/v1/me", headers=other).status_code == 200  # their token now in memory
    refused = client.put(
        f"/api/v1/attempts/{exam['id']}/answers/{first}", headers=other, json={"choice": "A"}
    )
    assert refused.status_code == 404  # another's attempt, refused on the event loop too
    assert len(trips) == 1


def test_past_its_bound_of_saves_on_hand_the_event_loop_sends_a_save_to_an_exam_thread(
    app: FastAPI, migrated_database: Database, exam_saves: ExamSaves
) -> None:
    """A save the loop could check from memory goes to an exam thread while the loop has
    LOOP_SAVES_AT_ONCE saves waiting for their commit (quizzes.api.LoopSaves); it is stored all
    the same, and the count comes back to where it was either way."""
    from trainer.quizzes.api import LOOP_SAVES_AT_ONCE

    database = migrated_database
    exam, first, second, trips, save = astuple_of(exam_saves)
    on_loop = app.state.loop_saves

    on_loop.count = LOOP_SAVES_AT_ONCE  # as if that many were waiting for their commit
    save(first)
    assert trips == [f"/api/v1/attempts/{exam['id']}/answers/{first}"]
    assert on_loop.count == LOOP_SAVES_AT_ONCE
    on_loop.count = LOOP_SAVES_AT_ONCE - 1
    save(second)
    assert len(trips) == 1  # on the loop
    assert on_loop.count == LOOP_SAVES_AT_ONCE - 1
    with database.session() as db:
        query = text("SELECT slot FROM attempt_answers WHERE attempt_id = :a")
        assert set(db.scalars(query, {"a": exam["id"]})) == {first, second}
