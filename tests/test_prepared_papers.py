"""Papers drawn ahead of a sitting (trainer.sittings.papers): a start in the sitting stores the
paper prepared for the person, and only while a fresh draw would draw from the same: the same
library, language and seen questions. Otherwise it draws afresh. Preparing is idempotent, leaves
open sittings to the timer's `prepare` alone, and housekeeping deletes the papers of sittings
that are over. Real HTTP through the app, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from tests.conftest import ContentDirs, make_person, right_answer
from tests.test_cli import trainer
from tests.test_sittings import (
    EXAM,
    make_app,
    ready,
    schedule,
    sit,
    sit_app,
    staff,
    start,
    unit_id,
    unit_path,
    viewer_of,
)
from trainer.app import create_app
from trainer.audit import service as audit
from trainer.audit.models import AuditEvent
from trainer.config import Settings
from trainer.content.loader import load_library
from trainer.db import Database, utcnow
from trainer.people.housekeeping import purge
from trainer.quizzes import api as quizzes_api
from trainer.quizzes import service as quizzes
from trainer.quizzes.models import Attempt, AttemptPaper, Paper, PreparedPaper
from trainer.quizzes.paper_warmer import PaperWarmer
from trainer.sittings import papers
from trainer.sittings import service as sittings
from trainer.web.exam_threads import limiter_of, run_exam_work_of

__all__ = ["make_app", "sit", "sit_app"]  # the sittings tests' fixtures, used here by name


def prepared_of(database: Database, sitting_id: int) -> dict[int, PreparedPaper]:
    with database.session() as db:
        rows = db.scalars(select(PreparedPaper).where(PreparedPaper.sitting_id == sitting_id))
        return {row.user_id: row for row in rows}


def attempt(database: Database, attempt_id: int) -> Attempt:
    with database.session() as db:
        return db.get_one(Attempt, attempt_id)


def stored_paper(database: Database, attempt_id: int) -> str:
    with database.session() as db:
        return quizzes.paper_of(db, attempt_id)


def held_paper(database: Database, attempt_id: int) -> int:
    """The row of `papers` the attempt holds."""
    with database.session() as db:
        return db.get_one(AttemptPaper, attempt_id).paper_id


def paper_text(database: Database, paper_id: int) -> str | None:
    """A row of `papers` (None: deleted)."""
    with database.session() as db:
        return db.scalar(select(Paper.snapshot).where(Paper.id == paper_id))


def papers_stored(database: Database) -> int:
    with database.session() as db:
        return db.scalar(select(func.count()).select_from(Paper)) or 0


def started_details(database: Database, attempt_id: int) -> dict[str, object]:
    with database.session() as db:
        event = db.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "exam.started", AuditEvent.target_id == str(attempt_id)
            )
        ).one()
        return dict(json.loads(event.details))


def open_sitting(client: TestClient, database: Database, unit: str) -> int:
    now = utcnow()
    trainer_headers = staff(client, database, "trainer")
    sitting = schedule(
        client, trainer_headers, opens_at=now - timedelta(minutes=5), closes_at=now + timedelta(hours=2),
        unit_ids=[unit_id(database, unit)], place="Hall",
    )  # fmt: skip
    return int(sitting["id"])


def one_paper_drawn_ahead(sit: TestClient, sit_app: FastAPI) -> tuple[dict[str, str], Any, int]:
    """An inspector ready for the exam, on the roster of a sitting open now, whose paper for it
    is drawn ahead: their headers, the person and the sitting's id."""
    database: Database = sit_app.state.database
    here = unit_path()
    headers, person = ready(sit, database, here)
    sitting_id = open_sitting(sit, database, here)
    papers.prepare(database, sit_app.state.content.library, sitting_id, utcnow(), default_lang="en")
    return headers, person, sitting_id


def test_a_start_stores_the_paper_drawn_ahead(
    sit: TestClient, sit_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    database: Database = sit_app.state.database
    library = sit_app.state.content.library
    here = unit_path()
    first, first_person = ready(sit, database, here)
    second, second_person = ready(sit, database, here)
    sitting_id = open_sitting(sit, database, here)

    done = papers.prepare(database, library, sitting_id, utcnow(), default_lang="en")
    assert (done.drawn, done.kept, done.skipped, done.cannot_draw) == (2, 0, 0, [])
    prepared = prepared_of(database, sitting_id)
    assert set(prepared) == {first_person.id, second_person.id}
    # Each person's own draw: two papers, two seeds.
    assert prepared[first_person.id].seed != prepared[second_person.id].seed

    before = papers_stored(database)
    left_to_read: list[int] = []  # held here, not read in the background (that has its own test)
    monkeypatch.setattr(
        sit_app.state.paper_warmer, "add", lambda _app, attempt_id, _sitting: left_to_read.append(attempt_id)
    )
    response = start(sit, first)
    assert response.status_code == 200, response.text
    served = response.json()
    # The start does not read the paper (on either database): it is left to be read after it,
    # the paper a process reads back.
    assert database.caches[quizzes._PAPERS].get(served["id"]) is None
    assert left_to_read == [served["id"]]
    elsewhere = Database(database.url)  # another process: nothing cached
    try:
        read_back = quizzes._paper(elsewhere, served["id"])
    finally:
        elsewhere.dispose()
    assert read_back is not None
    assert read_back == quizzes._paper(database, served["id"])
    assert sorted(read_back.ids.values()) == sorted(q["id"] for q in served["questions"])
    stored = attempt(database, served["id"])
    paper = prepared[first_person.id]
    # The attempt holds the very row drawn ahead: nothing copied, no paper added.
    assert held_paper(database, stored.id) == paper.paper_id
    assert papers_stored(database) == before
    drawn_ahead = paper_text(database, paper.paper_id)
    assert drawn_ahead is not None
    assert stored_paper(database, stored.id) == drawn_ahead
    assert stored.seed == paper.seed
    assert stored.sitting_id == sitting_id
    # The start answers the paper as it is stored: the same as reading the attempt back.
    assert (
        served["questions"] == sit.get(f"/api/v1/attempts/{served['id']}", headers=first).json()["questions"]
    )
    assert sorted(q["id"] for q in served["questions"]) == sorted(e["id"] for e in json.loads(drawn_ahead))
    # As served, never with its key (the paper holds one).
    assert all("key" not in q and "keymap" not in q for q in served["questions"])
    assert started_details(database, served["id"])["prepared"] is True
    # The same again changes nothing: the open exam is resumed.
    assert start(sit, first).json()["id"] == served["id"]

    # Asked for in another language than it was drawn in: drawn afresh, in that language.
    response = sit.post(EXAM + "?lang=zh-CN", headers=second)
    assert response.status_code == 200, response.text
    stored = attempt(database, response.json()["id"])
    assert stored.seed != prepared[second_person.id].seed
    assert "prepared" not in started_details(database, stored.id)
    assert {entry["lang"] for entry in json.loads(stored_paper(database, stored.id))} == {"zh-CN"}


def test_a_paper_is_drawn_afresh_after_the_library_or_what_was_seen_changed(
    sit: TestClient, sit_app: FastAPI
) -> None:
    database: Database = sit_app.state.database
    library = sit_app.state.content.library
    here = unit_path()
    edited, edited_person = ready(sit, database, here)
    practised, practised_person = ready(sit, database, here)
    sitting_id = open_sitting(sit, database, here)
    assert papers.prepare(database, library, sitting_id, utcnow(), default_lang="en").drawn == 2
    prepared = prepared_of(database, sitting_id)

    # Drawn from another library (its stamp: a bank or course edit published since).
    with database.write() as db:
        db.execute(
            update(PreparedPaper)
            .where(PreparedPaper.user_id == edited_person.id)
            .values(stamp=quizzes.paper_stamp(library, library.courses["demo-course"])[::-1])
        )
    response = start(sit, edited)
    assert response.status_code == 200, response.text
    assert attempt(database, response.json()["id"]).seed != prepared[edited_person.id].seed

    # An attempt in the course since it was drawn (its unseen-first choice may be stale).
    practice = sit.post("/api/v1/modules/demo-first/practice/attempts", headers=practised)
    assert practice.status_code == 200, practice.text
    # A run now redraws that one paper only, against what the person has seen now.
    done = papers.prepare(database, library, sitting_id, utcnow(), default_lang="en")
    assert (done.drawn, done.kept, done.skipped) == (1, 0, 1)  # the edited one started already
    redrawn = prepared_of(database, sitting_id)[practised_person.id]
    assert redrawn.seed != prepared[practised_person.id].seed
    assert redrawn.seen_through == practice.json()["id"]
    # The paper it replaces is gone (nobody took it); the edited one's, passed over, is still
    # there until its sitting is over.
    assert paper_text(database, prepared[practised_person.id].paper_id) is None
    assert paper_text(database, redrawn.paper_id) is not None
    assert paper_text(database, prepared[edited_person.id].paper_id) is not None
    response = start(sit, practised)
    assert response.status_code == 200, response.text
    assert attempt(database, response.json()["id"]).seed == redrawn.seed


def test_a_stale_paper_left_in_place_is_not_taken(sit: TestClient, sit_app: FastAPI) -> None:
    database: Database = sit_app.state.database
    headers, person, sitting_id = one_paper_drawn_ahead(sit, sit_app)
    paper = prepared_of(database, sitting_id)[person.id]
    practice = sit.post("/api/v1/modules/demo-first/practice/attempts", headers=headers)
    assert practice.status_code == 200, practice.text
    response = start(sit, headers)  # no run in between: the paper is stale, and left
    assert response.status_code == 200, response.text
    stored = attempt(database, response.json()["id"])
    assert stored.seed != paper.seed
    assert "prepared" not in started_details(database, stored.id)


def test_the_stamp_follows_the_bank_and_the_course(content: ContentDirs) -> None:
    def stamp() -> str:
        library, problems = load_library(content.courses, content.bank)
        assert library is not None, problems
        return quizzes.paper_stamp(library, library.courses["demo-course"])

    before = stamp()
    assert stamp() == before  # the same files: the same stamp (every process agrees)
    content.edit("question_bank/tags.yaml", "Methane", "Methane gas")
    after_tags = stamp()
    assert after_tags != before
    content.edit(
        "question_bank/demo/ventilation.yaml",
        "A stopped fan may be restarted",
        "A stopped main fan may be restarted",
    )
    after_question = stamp()
    assert after_question != after_tags
    content.edit("courses/demo-course/course.yaml", "grace_days: 60", "grace_days: 61")
    assert stamp() != after_question
    # A published version of a bank file counts as the file it replaces.
    source = (content.bank / "demo" / "ventilation.yaml").read_text(encoding="utf-8")
    published, _ = load_library(
        content.courses,
        content.bank,
        overlay={"question_bank/demo/ventilation.yaml": source.replace("main fan", "fan")},
    )
    on_disk, _ = load_library(content.courses, content.bank)
    assert published is not None
    assert on_disk is not None
    assert published.bank_hash != on_disk.bank_hash


def test_preparing_is_idempotent_skips_who_came_and_purge_ends_it(sit: TestClient, sit_app: FastAPI) -> None:
    database: Database = sit_app.state.database
    library = sit_app.state.content.library
    here = unit_path()
    came, _came_person = ready(sit, database, here)
    _waiting, waiting_person = ready(sit, database, here)
    taker, taker_person = ready(sit, database, here)
    sitting_id = open_sitting(sit, database, here)
    now = utcnow()
    assert start(sit, came).status_code == 200  # drawn at the start: nothing was prepared
    done = papers.prepare(database, library, sitting_id, now, default_lang="zh-CN")
    assert (done.drawn, done.kept, done.skipped) == (2, 0, 1)
    assert set(prepared_of(database, sitting_id)) == {waiting_person.id, taker_person.id}
    assert prepared_of(database, sitting_id)[waiting_person.id].lang == "zh-CN"  # never chose one
    taken = sit.post(EXAM + "?lang=zh-CN", headers=taker)  # takes the paper drawn ahead for them
    assert taken.status_code == 200, taken.text
    assert (
        held_paper(database, taken.json()["id"])
        == prepared_of(database, sitting_id)[taker_person.id].paper_id
    )
    again = papers.prepare(database, library, sitting_id, now, default_lang="zh-CN")
    assert (again.drawn, again.kept, again.skipped) == (0, 1, 2)

    # The timer's run leaves an open sitting alone, and prepares one opening within the day.
    later_unit = unit_path()
    make_person(database, "inspector", unit=later_unit)
    trainer_headers = staff(sit, database, "trainer")
    tomorrow = schedule(
        sit, trainer_headers, opens_at=now + timedelta(hours=20), closes_at=now + timedelta(hours=22),
        unit_ids=[unit_id(database, later_unit)], place="Hall",
    )  # fmt: skip
    next_week = schedule(
        sit, trainer_headers, opens_at=now + timedelta(days=7), closes_at=now + timedelta(days=7, hours=2),
        unit_ids=[unit_id(database, later_unit)], place="Hall",
    )  # fmt: skip
    papers.prepare_upcoming(database, library, now, default_lang="en")
    assert len(prepared_of(database, tomorrow["id"])) == 1
    assert prepared_of(database, next_week["id"]) == {}
    assert set(prepared_of(database, sitting_id)) == {waiting_person.id, taker_person.id}
    let_go = {person: row.paper_id for person, row in prepared_of(database, sitting_id).items()}

    # Closed: its papers go at the next purge, but for the one a start took; the others stay.
    closer = make_person(database, "trainer")
    actor = audit.Actor(closer.id, closer.username)
    sittings.close(database, actor, viewer_of(database, closer), sitting_id, utcnow(), reason="done")
    done_purge = purge(database, utcnow(), session_idle=timedelta(minutes=30))
    assert done_purge.prepared_papers == 2
    assert prepared_of(database, sitting_id) == {}
    assert paper_text(database, let_go[waiting_person.id]) is None
    assert paper_text(database, let_go[taker_person.id]) == stored_paper(database, taken.json()["id"])
    assert len(prepared_of(database, tomorrow["id"])) == 1
    assert papers.prepare(database, library, sitting_id, utcnow(), default_lang="en").refused == (
        f"sitting {sitting_id} is over"
    )


def test_the_command_prepares_a_sitting_and_refuses_an_unknown_one(
    sit: TestClient, sit_app: FastAPI, content: ContentDirs
) -> None:
    database: Database = sit_app.state.database
    settings = sit_app.state.settings
    here = unit_path()
    _headers, person = ready(sit, database, here)
    sitting_id = open_sitting(sit, database, here)
    env = {
        "TRAINER_DATABASE_URL": settings.database_url,
        "TRAINER_DATA_DIR": str(settings.data_dir),
        "TRAINER_SECRET_KEY": settings.secret_key,
    }
    result = trainer("sittings", "prepare", "--sitting", str(sitting_id), content=content, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        result.stdout.strip()
        == "1 paper(s) drawn, 0 already prepared, 0 skipped (started in the sitting already)"
    )
    paper = prepared_of(database, sitting_id)[person.id]
    # Drawn from the library the app serves: the app takes it.
    assert paper.stamp == quizzes.paper_stamp(
        sit_app.state.content.library, sit_app.state.content.library.courses["demo-course"]
    )
    unknown = trainer("sittings", "prepare", "--sitting", str(10**9), content=content, env=env)
    assert unknown.returncode == 2
    assert f"no sitting {10**9}" in unknown.stderr


def test_a_serving_app_prepares_the_sittings_ahead_on_a_timer(
    make_settings: Callable[..., Settings], content: ContentDirs, sit_app: FastAPI
) -> None:
    """`serve`'s timer (TRAINER_PREPARE_INTERVAL_SECONDS) draws the papers of a sitting opening
    within the day, as `trainer sittings prepare` would."""
    database: Database = sit_app.state.database
    here = unit_path()
    with TestClient(sit_app) as client:
        _headers, person = ready(client, database, here)
        now = utcnow()
        sitting = schedule(
            client, staff(client, database, "trainer"), opens_at=now + timedelta(hours=1),
            closes_at=now + timedelta(hours=3), unit_ids=[unit_id(database, here)], place="Hall",
        )  # fmt: skip
    assert prepared_of(database, sitting["id"]) == {}
    timed = create_app(make_settings(content, prepare_interval_seconds=1))
    try:
        with TestClient(timed):
            deadline = time.monotonic() + 20
            while not prepared_of(database, sitting["id"]) and time.monotonic() < deadline:
                time.sleep(0.2)
    finally:
        timed.state.database.dispose()
    assert set(prepared_of(database, sitting["id"])) == {person.id}


def test_a_stored_paper_is_cut_up_as_drawn_in_any_language(sit_app: FastAPI) -> None:
    library = sit_app.state.content.library
    course = library.courses["demo-course"]
    for lang in ("zh-CN", "en"):
        drawn = quizzes.draw_exam_paper(library, course, set(), lang)
        again = quizzes.cut_paper(drawn.snapshot, drawn.layout)
        assert again == (drawn.slots, drawn.ids, drawn.entries)
        assert [json.loads(entry)["slot"] for entry in drawn.entries] == drawn.slots
    # A snapshot and a layout that do not fit together are not cut up at all.
    assert quizzes.cut_paper(drawn.snapshot + " ", drawn.layout) is None
    shorter = drawn.layout.replace('"lengths": [', '"lengths": [1', 1)
    assert quizzes.cut_paper(drawn.snapshot, shorter) is None


def test_a_paper_drawn_again_while_a_start_took_it_is_not_stored(
    sit: TestClient, sit_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start reads the person's paper drawn ahead (its seed and questions), then copies its
    snapshot into the attempt in the database. If the paper was drawn again in between (a re-run
    of `prepare`), the copy finds no paper with that seed: the start draws afresh and answers with
    the paper it stored, never with questions of one paper over the snapshot of another."""
    database: Database = sit_app.state.database
    headers, person, sitting_id = one_paper_drawn_ahead(sit, sit_app)
    read_seed = prepared_of(database, sitting_id)[person.id].seed
    taken = quizzes._prepared_paper

    def drawn_again_meanwhile(row: Any, **checks: Any) -> quizzes.Prepared | None:
        prepared = taken(row, **checks)
        with database.write() as db:
            db.execute(
                update(PreparedPaper)
                .where(PreparedPaper.sitting_id == sitting_id, PreparedPaper.user_id == person.id)
                .values(seed=PreparedPaper.seed + 1)
            )
        return prepared

    monkeypatch.setattr(quizzes, "_prepared_paper", drawn_again_meanwhile)
    response = start(sit, headers)
    assert response.status_code == 200, response.text
    served = response.json()
    stored = attempt(database, served["id"])
    assert stored.seed not in (read_seed, read_seed + 1)
    assert "prepared" not in started_details(database, stored.id)
    read_back = sit.get(f"/api/v1/attempts/{stored.id}", headers=headers).json()
    assert served["questions"] == read_back["questions"]
    stored_ids = sorted(entry["id"] for entry in json.loads(stored_paper(database, stored.id)))
    assert sorted(q["id"] for q in served["questions"]) == stored_ids


def test_a_paper_let_go_while_a_start_takes_it_stays_with_the_start(
    sit: TestClient, sit_app: FastAPI
) -> None:
    """Deleting the papers let go (a redraw, a sitting's purge) while a start links its attempt
    to one of them: that one stays, the others go. On PostgreSQL the delete sees the start's link
    only when it commits and fails on its reference (then tries again paper by paper); on SQLite
    it waits for the start's write."""
    database: Database = sit_app.state.database
    headers, _person, _sitting_id = one_paper_drawn_ahead(sit, sit_app)
    practice = sit.post("/api/v1/modules/demo-first/practice/attempts", headers=headers)
    assert practice.status_code == 200, practice.text
    with database.write() as db:
        taken, other = (Paper(snapshot="[]"), Paper(snapshot="[]"))
        db.add_all([taken, other])
        db.flush()
        ids = [taken.id, other.id]
    outcome: list[int] = []

    def let_go() -> None:
        with database.write_connection() as conn:
            outcome.append(quizzes.delete_papers_not_held(conn, ids))

    with database.write_connection() as start_under_way:
        start_under_way.execute(
            update(AttemptPaper)
            .where(AttemptPaper.attempt_id == practice.json()["id"])
            .values(paper_id=ids[0])
        )
        deleting = threading.Thread(target=let_go)
        deleting.start()
        time.sleep(0.5)  # the delete is waiting on the start (its lock, or SQLite's write lock)
        assert deleting.is_alive()
    deleting.join(timeout=30)
    assert outcome == [1]
    assert paper_text(database, ids[0]) == "[]"
    assert paper_text(database, ids[1]) is None
    assert held_paper(database, practice.json()["id"]) == ids[0]


def wait_until(condition: Callable[[], bool], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_paper_drawn_ahead_is_read_into_memory_after_its_start(
    sit: TestClient, sit_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start leaves its paper drawn ahead to be read in the background (trainer.quizzes.
    paper_warmer): the first answer save then finds it in memory, with the start's token, and is
    checked without a trip to an exam thread."""
    database: Database = sit_app.state.database
    headers, _person, _sitting_id = one_paper_drawn_ahead(sit, sit_app)
    trips: list[str] = []
    real = quizzes_api.run_exam_work

    async def counted(request: Any, work: Callable[[], Any]) -> Any:
        trips.append(request.url.path)
        return await real(request, work)

    monkeypatch.setattr(quizzes_api, "run_exam_work", counted)
    served = start(sit, headers).json()
    assert trips == [EXAM]  # the start's own, not reading the paper
    assert wait_until(lambda: quizzes.paper_is_cached(database, served["id"]))
    assert sit_app.state.paper_warmer.waiting == 0
    elsewhere = Database(database.url)  # another process reads the same paper
    try:
        assert quizzes._paper(elsewhere, served["id"]) == quizzes._paper(database, served["id"])
    finally:
        elsewhere.dispose()
    slot = served["questions"][0]["slot"]
    saved = sit.put(
        f"/api/v1/attempts/{served['id']}/answers/{slot}",
        headers=headers,
        json=right_answer(database, served["id"], slot),
    )
    assert saved.json() == {"slot": slot, "saved": True}
    assert trips == [EXAM]  # checked on the event loop


def started_unread(sit: TestClient, sit_app: FastAPI) -> tuple[int, list[int]]:
    """Three inspectors' exams started in a sitting open now, on papers drawn ahead that nobody
    has read into memory (as if started through another process): the sitting and the attempts."""
    database: Database = sit_app.state.database
    here = unit_path()
    people = [ready(sit, database, here)[0] for _ in range(3)]
    sitting_id = open_sitting(sit, database, here)
    papers.prepare(database, sit_app.state.content.library, sitting_id, utcnow(), default_lang="en")
    real_warmer = sit_app.state.paper_warmer
    sit_app.state.paper_warmer = SimpleNamespace(add=lambda *_started: None)
    try:
        ids = [start(sit, headers).json()["id"] for headers in people]
    finally:
        sit_app.state.paper_warmer = real_warmer
    return sitting_id, ids


def test_papers_are_read_only_while_an_exam_thread_is_idle(sit: TestClient, sit_app: FastAPI) -> None:
    """While the exam thread is taken (a start storm) the papers wait, and exam work that comes
    meanwhile goes first; then they are read in a batch, skipping those already in memory or of
    no attempt."""
    database: Database = sit_app.state.database
    _sitting_id, ids = started_unread(sit, sit_app)
    assert not any(quizzes.paper_is_cached(database, attempt_id) for attempt_id in ids)
    quizzes._paper(database, ids[0])  # its first save came first
    warmer = PaperWarmer(database)
    one_thread: Any = SimpleNamespace(state=SimpleNamespace(settings=SimpleNamespace(exam_thread_count=1)))

    async def storm() -> tuple[bool, bool, int]:
        taken = threading.Event()
        release = threading.Event()

        def hold() -> None:
            taken.set()
            release.wait(30)

        holding = asyncio.ensure_future(run_exam_work_of(one_thread, hold))
        while not taken.is_set():
            await asyncio.sleep(0.01)
        for attempt_id in [*ids, 10**9]:
            warmer.add(one_thread, attempt_id)
        await asyncio.sleep(0.3)
        read_while_busy = any(quizzes.paper_is_cached(database, attempt_id) for attempt_id in ids[1:])
        # A start that comes while the papers wait: it runs before they are read.
        later_start = asyncio.ensure_future(
            run_exam_work_of(one_thread, lambda: quizzes.paper_is_cached(database, ids[1]))
        )
        while not limiter_of(one_thread).statistics().tasks_waiting:
            await asyncio.sleep(0.01)
        release.set()
        await holding
        read_before_the_start = await later_start
        task = warmer._task
        assert task is not None
        await task
        return read_while_busy, read_before_the_start, warmer.waiting

    assert asyncio.run(storm()) == (False, False, 0)
    assert all(quizzes.paper_is_cached(database, attempt_id) for attempt_id in ids)
    assert quizzes.cache_papers(database, ids) == 0  # all in memory: nothing read
    database.clear_caches()
    assert quizzes.cache_papers(database, [*ids, 10**9]) == 3


def test_the_papers_of_a_sittings_exams_started_elsewhere_are_read_too(
    sit: TestClient, sit_app: FastAPI
) -> None:
    """With several processes, a save may come to one that did not start the exam: after the
    papers of its own starts, a process reads those of every other open exam in their sittings."""
    database: Database = sit_app.state.database
    sitting_id, ids = started_unread(sit, sit_app)
    database.clear_caches()
    warmer = PaperWarmer(database)

    async def one_start_here() -> int:
        warmer.add(sit_app, ids[0], sitting_id)
        task = warmer._task
        assert task is not None
        await task
        return warmer.waiting

    assert asyncio.run(one_start_here()) == 0
    assert all(quizzes.paper_is_cached(database, attempt_id) for attempt_id in ids)
    assert quizzes.papers_not_cached_in_sittings(database, [sitting_id]) == []
    database.clear_caches()
    assert sorted(quizzes.papers_not_cached_in_sittings(database, [sitting_id])) == sorted(ids)
