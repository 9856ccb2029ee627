"""Exam day: N inspectors start the same exam at once, answer at a steady pace, and all submit at
the deadline, while others read module pages and a manager watches the roll-up. Each scenario is
reported as a ratio to a bare endpoint on the same stack doing only the unavoidable work
(bench/reference_exam_app.py), loaded in the same run with the same load shape.

    .venv/bin/python bench/exam_day.py [--inspectors 1000,2000] [--databases sqlite,postgresql]

For each database and each N: a fresh database (SQLite: a file in a temporary folder; PostgreSQL:
a database bench_exam_<N> created on --postgres, with bench_exam_<N>_ref for the reference, both
dropped at the end) is migrated and filled directly (no argon2 per account: one shared password
hash), with N inspectors in one unit, each holding an API bearer token, having read every module
of the course and passed its practice quizzes (rows inserted as the app would leave them), a
manager of the province with a session, and --readers inspectors with sessions. The course is the
sample coal-mine course from courses/ with its exam blueprint widened to 50 questions (the bank
holds 84; a scenario's sub-questions are served together, so a paper has 50 to 54): the library
is copied to a temporary folder and served from there with TRAINER_COURSES_DIR (and the bank,
its coal questions for exam and practice alike, with TRAINER_QUESTION_BANK_DIR). The app runs
as `trainer serve` (SQLite: one process; PostgreSQL: --workers 2); the reference the same way,
beside it, on loopback.

Scenarios, each run on the app, then on the reference (alternating, so machine noise hits both):
- exam start storm: every inspector sends POST .../exam/attempts once, the N requests spread
  evenly over --storm-seconds (shuffled order). Counts if 200 with an attempt id, status
  in_progress, kind exam, the paper's questions and no answer key.
- answering at the real pace: for --paced-seconds every inspector saves an answer (PUT
  .../answers/{slot}, a valid response to the next question of their own paper), waits about
  --real-pace seconds (10: quality.md's "every ~10 s") after each reply, and never has two saves
  in flight. The offered load is N / 10 per second, below what either server takes, so this
  phase's p99 is the latency goal (<= 3x the reference's p99). Counts if 200 with
  {"slot": N, "saved": true}.
- saturating answering: the same for --steady-seconds with --pace 1 s, so that N open exams offer
  more load than the server takes: throughput is then the server's (the >= 0.8x goal), and
  latency is mostly queueing (N / throughput).
- module page and manager roll-up under load: during saturating answering, --readers signed-in
  inspectors (session cookies) read a module page, and the manager reads /manage, each waiting
  --read-pace seconds between reads. Counts if 200 with a whole page (and a table for /manage).
- deadline burst: every inspector submits (POST .../submit) once, spread evenly over
  --burst-seconds. Counts if 200 with the attempt's id, status graded and a score.
req/s is the checked responses over the phase's wall time (first send to last reply); p50/p95/p99
are of checked responses; errors are every other outcome (status, body, or transport error).

Afterwards the app's database is checked: exactly one exam attempt per inspector for the course
(the id the storm acknowledged), every acknowledged answer stored as last acknowledged (an answer
whose save failed may or may not be stored), every exam graded once (status graded, one
exam.graded audit event, the submit's score stored), stored scores equal a fresh regrade
(`trainer.quizzes.service.regrade(dry_run=True)`: no change), `trainer audit verify` passes, and
the server log holds no "database is locked". The reference's answers are checked the same way.

Why an asyncio driver (httpx2 on uvloop, as bench/answer_saves.py) and not locust: the scenarios
are phases of one exam that share state (the attempt ids from the storm are the ones answered and
submitted, every acknowledged answer goes into a ledger checked against the database, and the
same shape must be replayed against the reference in the same run). In locust that means a custom
LoadTestShape, user state across phases and a side channel for the ledger; and "N users send one
request each within S seconds" is not what its spawn rate does (users start at a rate and then
loop). Here each inspector is one coroutine with its own connection, as a browser would be, and
the phases are plain code. The client's CPU share is printed per phase: it runs on the same two
cores as the servers, which a ratio measured side by side accounts for, not an absolute figure.

Prints a table and writes bench/results/exam_day.md (and exam_day.json, from which the table is
rebuilt: a run replaces the earlier run of the same database and N); exits 1 on any error or
failed check.

With --guard-storm RATIO (the regression guard `make bench` runs: a few hundred inspectors, short
phases) nothing is written: the run fails if its start storm falls below RATIO of the reference's
throughput, as well as on any error or failed check.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import platform
import random
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench` and `trainer` importable
    sys.path.insert(0, str(ROOT))

import httpx2 as httpx  # noqa: E402
import uvloop  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.answer_saves import SlotRecord, as_served, canonical, check_answers, response_for  # noqa: E402
from bench.common import cpu_seconds, serving_process, tail  # noqa: E402
from trainer.config import derive_audit_key  # noqa: E402

COURSE = "coal-mine-inspection"
MODULES = ("cm-ventilation-basics", "cm-methane-control", "cm-inspection-procedure")
MODULE_PATH = f"/courses/{COURSE}/cm-methane-control"
# 50 questions from the coal bank (ventilation 35, methane 33, procedure 16 questions).
BLUEPRINT_OLD = (
    "      - {tags: [ventilation], difficulty: [1, 3], count: 8}\n"
    "      - {tags: [methane], count: 8}\n"
    "      - {tags: [procedure], count: 4}\n"
)
BLUEPRINT_NEW = (
    "      - {tags: [ventilation], count: 20}\n"
    "      - {tags: [methane], count: 20}\n"
    "      - {tags: [procedure], count: 10}\n"
)
EXAM_POLICY_OLD = "  exam:\n    time_limit_minutes: 60\n"
EXAM_POLICY_NEW = "  exam:\n    mode: sittings\n    time_limit_minutes: 60\n"
UNIT = "Bench Province/Bench City/Bench County/Bench Bureau"
CSRF_COOKIE = "trainer_csrf=" + "x" * 43  # a returning browser's CSRF cookie (as bench/module_page.py)
STORM, PACED, STEADY, MODULE, MANAGE, BURST = (
    "exam start storm",
    "answer saves (every ~10 s)",
    "answer saves (saturating)",
    "module page (during saves)",
    "manager roll-up (during saves)",
    "deadline burst (submit)",
)
SCENARIOS = (STORM, PACED, STEADY, MODULE, MANAGE, BURST)
RESULTS = ROOT / "bench" / "results" / "exam_day.md"
RESULTS_JSON = RESULTS.with_suffix(".json")
# Inspectors per HTTP client: a pool's bookkeeping is linear in its connections, so one pool of
# 2,000 connections would spend the client's CPU on itself.
SHARD = 50
LEAKS = {"key", "correct", "explanation_html", "feedback", "refs"}  # never in a paper being taken


# -- measuring --------------------------------------------------------------------------------


@dataclass
class Phase:
    """The checked outcomes of one scenario on one server."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    first: float = float("inf")
    last: float = 0.0
    cpu: float = 0.0  # the client's CPU time over the phase's wall time (1.0 = one core)
    # CPU seconds used over the phase by the server's processes, and by PostgreSQL's (all of its
    # processes: only one server is under load at a time)
    server_cpu: float = 0.0
    database_cpu: float = 0.0

    def record(self, started: float, ended: float, problem: str | None) -> None:
        self.first = min(self.first, started)
        self.last = max(self.last, ended)
        if problem is None:
            self.latencies_ms.append((ended - started) * 1000)
        else:
            self.errors[problem[:160]] += 1

    @property
    def good(self) -> int:
        return len(self.latencies_ms)

    @property
    def requests(self) -> int:
        return self.good + sum(self.errors.values())

    @property
    def rps(self) -> float:
        wall = self.last - self.first
        return self.good / wall if wall > 0 else float("nan")

    def percentile(self, pct: int) -> float:
        if len(self.latencies_ms) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[pct - 1]


@contextmanager
def measuring(phase: Phase, server_pid: int) -> Iterator[None]:
    """A phase measured: the client's share of a core over it, and the CPU time the server and
    the database used in it (what a request costs each side, the app's against the reference's).

    The client's garbage collector is off meanwhile, after a full collection. At 2,000 inspectors
    the client holds hundreds of thousands of objects (the ledger, the connections, the
    coroutines): its full collections took 260-390 ms each (timed with gc.callbacks), and every
    request in flight meanwhile counted the pause as the server's latency, app or reference
    alike: the real-pace saves' p99 "tails" of 100-160 ms were these pauses. A phase allocates a
    few tens of megabytes without collecting."""
    gc.collect()
    gc.disable()
    try:
        server, database = cpu_seconds(server_pid), cpu_seconds(name="postgres")
        cpu, wall = time.process_time(), time.perf_counter()
        yield
        phase.cpu = (time.process_time() - cpu) / max(1e-9, time.perf_counter() - wall)
        phase.server_cpu = cpu_seconds(server_pid) - server
        phase.database_cpu = cpu_seconds(name="postgres") - database
    finally:
        gc.enable()


# -- people -----------------------------------------------------------------------------------


@dataclass
class Inspector:
    index: int
    user_id: int
    token: str
    attempt: int = 0  # on this target
    questions: list[dict[str, Any]] = field(default_factory=list)
    turn: int = 0
    submitted: dict[str, Any] | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def next_answer(self) -> tuple[int, dict[str, Any]]:
        """The next save: the paper's slots in turn, a different valid answer each time round."""
        turn = self.turn
        self.turn += 1
        question = self.questions[turn % len(self.questions)]
        return int(question["slot"]), response_for(question, turn // len(self.questions) + self.index)


@dataclass
class Target:
    """One server under test (the app or the reference) and what the client knows about it."""

    name: str
    base: str
    pid: int  # the server's process (with --workers, their parent)
    clients: list[httpx.AsyncClient]  # inspector i uses clients[i // SHARD]; the readers the last
    inspectors: list[Inspector]
    readers: list[str]  # session cookies
    manager: str  # session cookie
    ledger: dict[tuple[int, int], SlotRecord] = field(default_factory=dict)
    sample_paper: bytes = b""  # one exam start's response body, as sent
    questions: Counter[int] = field(default_factory=Counter)  # paper sizes served

    def client(self, inspector: Inspector) -> httpx.AsyncClient:
        return self.clients[inspector.index // SHARD]

    phases: dict[str, Phase] = field(default_factory=lambda: {name: Phase() for name in SCENARIOS})


# -- set-up -----------------------------------------------------------------------------------


def trainer(env: dict[str, str], log: Path, *args: str) -> None:
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ trainer {' '.join(args)}\n")
        out.flush()
        done = subprocess.run(
            [sys.executable, "-m", "trainer.cli", *args],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=600,
        )
    if done.returncode != 0:
        raise RuntimeError(f"trainer {' '.join(args)} failed:\n{tail(log)}")


def bench_library(work: Path) -> tuple[Path, Path]:
    """The sample library (courses, question bank), with the coal course's exam widened to 50
    questions and taken in sittings (`mode: sittings`: every start is checked against the open
    sitting the seed schedules, as on a real exam day). The sample bank keeps exam and practice
    questions apart (`use:`), about half each; 50 questions need the whole coal bank, so the
    copy's coal questions are for both (trainer check warns about that; the bench does not
    mind)."""
    courses = work / "courses"
    shutil.copytree(ROOT / "courses", courses)
    course_file = courses / COURSE / "course.yaml"
    source = course_file.read_text(encoding="utf-8")
    if BLUEPRINT_OLD not in source:
        raise RuntimeError(f"{course_file.relative_to(work)}: the exam blueprint is not the one expected")
    source = source.replace(BLUEPRINT_OLD, BLUEPRINT_NEW)
    if EXAM_POLICY_OLD not in source:
        raise RuntimeError(f"{course_file.relative_to(work)}: the exam policy is not the one expected")
    course_file.write_text(source.replace(EXAM_POLICY_OLD, EXAM_POLICY_NEW), encoding="utf-8")
    bank = work / "question_bank"
    shutil.copytree(ROOT / "question_bank", bank)
    for path in (bank / "coal").glob("*.yaml"):
        text = re.sub(
            r"^ +use: (?:exam|practice)\n", "", path.read_text(encoding="utf-8"), flags=re.MULTILINE
        )
        text = re.sub(r", use: (?:exam|practice)\}", "}", text)
        path.write_text(text, encoding="utf-8")
    return courses, bank


@dataclass
class Seeded:
    inspectors: list[Inspector]
    reader_cookies: list[str]
    manager_cookie: str
    sitting_id: int


def seed(url: str, count: int, readers: int, audit_key: bytes) -> Seeded:
    """Inspectors ready for the exam, with tokens; sessions for readers and a manager; a sitting
    of the exam open now with the inspectors' unit on its roster. Direct inserts: one argon2 hash
    shared by all (nobody signs in with a password here). `audit_key`: the served app's (the
    unit's creation is audited in its chain)."""
    from trainer.audit import service as audit
    from trainer.db import Database, utcnow
    from trainer.people.auth import token_hash
    from trainer.people.models import ApiToken, Session, Unit, User, UserRole
    from trainer.people.passwords import hash_password
    from trainer.people.service import ensure_unit_path
    from trainer.quizzes.models import GRADED, Attempt, ModuleRead
    from trainer.sittings.models import Sitting, SittingUnit

    database = Database(url, audit_key=audit_key)
    now = utcnow()
    shared_hash = hash_password(secrets.token_urlsafe(24))
    try:
        with database.write() as db:
            unit = ensure_unit_path(db, audit.SYSTEM, UNIT, now)
            province = db.get_one(Unit, int(unit.lineage.strip("/").split("/")[0]))
            unit_id, province_id, unit_lineage = unit.id, province.id, unit.lineage
        users = [
            {
                "username": f"bench.exam.{i:05d}",
                "full_name": f"Bench Inspector {i:05d}",
                "email": None,
                "unit_id": unit_id,
                "password_hash": shared_hash,
                "must_change_password": False,
                "is_active": True,
                "created_at": now,
                "password_changed_at": now,
            }
            for i in range(count)
        ]
        users.append({**users[0], "username": "bench.exam.manager", "full_name": "Bench Manager"})
        users[-1]["unit_id"] = province_id
        tokens = [secrets.token_urlsafe(32) for _ in range(count)]
        cookies = [secrets.token_urlsafe(32) for _ in range(readers + 1)]
        with database.write() as db:
            db.execute(insert(User), users)
            ids: dict[str, int] = dict(
                db.execute(text("SELECT username, id FROM users WHERE username LIKE 'bench.exam.%'")).all()
            )
            inspector_ids = [int(ids[f"bench.exam.{i:05d}"]) for i in range(count)]
            manager_id = int(ids["bench.exam.manager"])
            db.execute(
                insert(UserRole),
                [{"user_id": u, "role": "inspector"} for u in inspector_ids]
                + [{"user_id": manager_id, "role": "manager"}],
            )
            db.execute(
                insert(ApiToken),
                [
                    {
                        "token_hash": token_hash(t),
                        "user_id": u,
                        "created_at": now,
                        "expires_at": now + timedelta(hours=12),
                        "revoked_at": None,
                    }
                    for t, u in zip(tokens, inspector_ids, strict=True)
                ],
            )
            session_users = [*inspector_ids[:readers], manager_id]
            db.execute(
                insert(Session),
                [
                    {
                        "token_hash": token_hash(c),
                        "user_id": u,
                        "created_at": now,
                        "last_seen_at": now,
                        "expires_at": now + timedelta(hours=12),
                        "revoked_at": None,
                        "ip": "127.0.0.1",
                    }
                    for c, u in zip(cookies, session_users, strict=True)
                ],
            )
            db.execute(
                insert(ModuleRead),
                [
                    {"user_id": u, "course_id": COURSE, "module_id": m, "read_at": now - timedelta(days=1)}
                    for u in inspector_ids
                    for m in MODULES
                ],
            )
            # Passed practice quizzes with an empty paper (score 0 of 0 passes, and a regrade of
            # no answers gives the same): what completion checks, nothing a regrade would change.
            db.execute(
                insert(Attempt),
                [
                    {
                        "user_id": u,
                        "unit_id": unit_id,
                        "kind": "practice",
                        "course_id": COURSE,
                        "module_id": m,
                        "content_hash": "bench",
                        "seed": 0,
                        "status": GRADED,
                        "started_at": now - timedelta(days=1, minutes=10),
                        "deadline": None,
                        "submitted_at": now - timedelta(days=1),
                        "score": 0.0,
                        "max_score": 0.0,
                        "pass_mark": 0.8,
                        "passed": True,
                        "review": "immediate",
                    }
                    for u in inspector_ids
                    for m in MODULES
                ],
            )
            # One empty paper that every practice attempt holds (the reports never read it).
            paper = db.execute(text("INSERT INTO papers (snapshot) VALUES ('[]') RETURNING id")).scalar_one()
            links = "INSERT INTO attempt_papers (attempt_id, paper_id) SELECT id, :paper FROM attempts"
            db.execute(text(links), {"paper": paper})
        with database.write() as db:
            sitting = Sitting(
                course_id=COURSE,
                opens_at=now - timedelta(minutes=1),
                closes_at=now + timedelta(hours=3),
                late_entry_minutes=None,
                place="Bench hall",
                access_code=None,
                scope_lineage=unit_lineage,
                created_by=None,
                created_at=now,
            )
            db.add(sitting)
            db.flush()
            db.add(SittingUnit(sitting_id=sitting.id, unit_id=unit_id))
            sitting_id = sitting.id
    finally:
        database.dispose()
    return Seeded(
        [Inspector(i, u, t) for i, (u, t) in enumerate(zip(inspector_ids, tokens, strict=True))],
        cookies[:readers],
        cookies[-1],
        sitting_id,
    )


@contextmanager
def databases(kind: str, count: int, work: Path, postgres: str) -> Iterator[tuple[str, str]]:
    """Fresh databases for the app and the reference; removed afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{work / 'data' / 'trainer.db'}", f"sqlite:///{work / 'reference.db'}"
        return
    import psycopg

    server = make_url(postgres)
    names = (f"bench_exam_{count}", f"bench_exam_{count}_ref")
    admin = psycopg.connect(
        host=server.host or "127.0.0.1",
        port=server.port or 5432,
        user=server.username or "postgres",
        password=server.password,
        dbname="postgres",
        autocommit=True,
    )
    try:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
        app_url, ref_url = (
            server.set(drivername="postgresql+psycopg", database=n).render_as_string(hide_password=False)
            for n in names
        )
        # The app and the reference (two processes each) hold their pools open side by side: size
        # both alike so that together they fit the server's max_connections.
        limit = int(admin.execute("SHOW max_connections").fetchone()[0])  # type: ignore[index]
        per_process = max(4, (limit - 10) // 4)
        os.environ["TRAINER_DB_POOL_SIZE"] = str(per_process * 3 // 4)
        os.environ["TRAINER_DB_MAX_OVERFLOW"] = str(per_process - per_process * 3 // 4)
        yield app_url, ref_url
    finally:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def new_clients(inspectors: int, readers: int, timeout: float) -> list[httpx.AsyncClient]:
    shards = [new_client(SHARD, timeout) for _ in range(0, inspectors, SHARD)]
    return [*shards, new_client(readers + 2, timeout)]


def new_client(connections: int, timeout: float) -> httpx.AsyncClient:
    # Keep-alive expiry under uvicorn's 5 s, so the client never reuses a connection the server
    # is closing; trust_env=False: no proxy from the environment, the traffic stays on loopback.
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=4.0
    )
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout), limits=limits, trust_env=False)


# -- scenarios --------------------------------------------------------------------------------


async def spread(items: list[Any], seconds: float, job: Callable[[Any], Awaitable[None]]) -> None:
    """Start job(item) for every item, evenly over `seconds`, in a shuffled order."""
    order = list(items)
    random.Random(7).shuffle(order)
    loop = asyncio.get_running_loop()
    begin = loop.time() + 0.2

    async def at(offset: float, item: Any) -> None:
        await asyncio.sleep(max(0.0, begin + offset - loop.time()))
        await job(item)

    step = seconds / max(1, len(order))
    await asyncio.gather(*(at(i * step, item) for i, item in enumerate(order)))


def problem_of(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


async def storm(target: Target, seconds: float, expect_questions: int | None) -> None:
    phase = target.phases[STORM]

    async def start(inspector: Inspector) -> None:
        started = time.perf_counter()
        problem = None
        try:
            response = await target.client(inspector).post(
                f"{target.base}/api/v1/courses/{COURSE}/exam/attempts", headers=inspector.headers
            )
            if response.status_code != 200:
                problem = f"status {response.status_code}: {response.text[:100]}"
            else:
                body = response.json()
                questions = body.get("questions")
                if not isinstance(body.get("id"), int) or body.get("status") != "in_progress":
                    problem = f"not an open attempt: {response.text[:100]}"
                elif body.get("kind") != "exam" or not isinstance(questions, list) or not questions:
                    problem = "not an exam paper"
                elif expect_questions is not None and len(questions) != expect_questions:
                    problem = f"{len(questions)} questions, expected {expect_questions}"
                elif any(LEAKS & q.keys() for q in questions):
                    problem = "the paper reveals its answer key"
                else:
                    inspector.attempt, inspector.questions = int(body["id"]), questions
                    target.questions[len(questions)] += 1
                    if not target.sample_paper:
                        target.sample_paper = response.content
        except (httpx.HTTPError, ValueError) as error:
            problem = problem_of(error)
        phase.record(started, time.perf_counter(), problem)

    with measuring(phase, target.pid):
        await spread(target.inspectors, seconds, start)


async def steady(
    target: Target, seconds: float, pace: float, read_pace: float, name: str = STEADY, readers: bool = True
) -> None:
    """Answer saves from every open exam, with page reads and the roll-up alongside (unless
    `readers` is off)."""
    saves, pages, rollups = target.phases[name], target.phases[MODULE], target.phases[MANAGE]
    end = time.perf_counter() + seconds

    async def answering(inspector: Inspector) -> None:
        rng = random.Random(inspector.index)
        await asyncio.sleep(rng.uniform(0, pace))
        while inspector.attempt and time.perf_counter() < end:
            slot, body = inspector.next_answer()
            record = target.ledger.setdefault((inspector.attempt, slot), SlotRecord())
            started = time.perf_counter()
            problem = None
            try:
                response = await target.client(inspector).put(
                    f"{target.base}/api/v1/attempts/{inspector.attempt}/answers/{slot}",
                    json=body,
                    headers=inspector.headers,
                )
                if response.status_code != 200:
                    problem = f"status {response.status_code}: {response.text[:100]}"
                elif response.json() != {"slot": slot, "saved": True}:
                    problem = f"unexpected body: {response.text[:100]}"
            except (httpx.HTTPError, ValueError) as error:
                problem = problem_of(error)
            saves.record(started, time.perf_counter(), problem)
            if problem is None:
                record.acknowledged = canonical(body)
            else:
                record.unsure.add(canonical(body))
            await asyncio.sleep(rng.uniform(0.5, 1.5) * pace)

    async def reading(cookie: str, path: str, marker: str, phase: Phase, seed: int) -> None:
        rng = random.Random(seed)
        await asyncio.sleep(rng.uniform(0, read_pace))
        headers = {"Cookie": f"{CSRF_COOKIE}; trainer_session={cookie}", "Accept-Language": "en"}
        while time.perf_counter() < end:
            started = time.perf_counter()
            problem = None
            try:
                response = await target.clients[-1].get(f"{target.base}{path}", headers=headers)
                if response.status_code != 200:
                    problem = f"status {response.status_code}"
                elif marker not in response.text or "</html>" not in response.text:
                    problem = "not the whole page"
            except httpx.HTTPError as error:
                problem = problem_of(error)
            phase.record(started, time.perf_counter(), problem)
            await asyncio.sleep(rng.uniform(0.5, 1.5) * read_pace)

    jobs = [answering(i) for i in target.inspectors]
    if readers:
        jobs += [reading(c, MODULE_PATH, "<h1", pages, n) for n, c in enumerate(target.readers)]
        jobs.append(reading(target.manager, "/manage", "<table", rollups, 10_000))
    with measuring(saves, target.pid):
        await asyncio.gather(*jobs)
    if readers:  # one measure for the phase: the pages' server CPU is counted in the saves'
        pages.cpu = rollups.cpu = saves.cpu


async def burst(target: Target, seconds: float) -> None:
    phase = target.phases[BURST]

    async def submit(inspector: Inspector) -> None:
        if not inspector.attempt:
            return
        started = time.perf_counter()
        problem = None
        try:
            response = await target.client(inspector).post(
                f"{target.base}/api/v1/attempts/{inspector.attempt}/submit", headers=inspector.headers
            )
            if response.status_code != 200:
                problem = f"status {response.status_code}: {response.text[:100]}"
            else:
                body = response.json()
                if (
                    body.get("id") != inspector.attempt
                    or body.get("status") != "graded"
                    or not isinstance(body.get("score"), int | float)
                    or not isinstance(body.get("passed"), bool)
                ):
                    problem = f"not a graded result: {response.text[:100]}"
                else:
                    inspector.submitted = body
        except (httpx.HTTPError, ValueError) as error:
            problem = problem_of(error)
        phase.record(started, time.perf_counter(), problem)

    with measuring(phase, target.pid):
        await spread(target.inspectors, seconds, submit)


# -- checks -----------------------------------------------------------------------------------


def check_app(url: str, target: Target, env: dict[str, str], log: Path) -> tuple[list[str], list[str]]:
    """(problems, facts) about the app's database after the run (the server stopped)."""
    from trainer.db import Database
    from trainer.quizzes.service import regrade

    problems: list[str] = []
    facts: list[str] = []
    by_user = {i.user_id: i for i in target.inspectors}
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            exams = conn.execute(
                text(
                    "SELECT id, user_id, status, score, sitting_id FROM attempts "
                    "WHERE kind = 'exam' AND course_id = :course"
                ),
                {"course": COURSE},
            ).all()
            audited = Counter(
                int(target_id)
                for (target_id,) in conn.execute(
                    text(
                        "SELECT target_id FROM audit_events "
                        "WHERE action = 'exam.graded' AND target_type = 'attempt'"
                    )
                )
            )
            stored = {
                (int(a), int(s)): r
                for a, s, r in conn.execute(
                    text(
                        "SELECT a.attempt_id, a.slot, a.response FROM attempt_answers a "
                        "JOIN attempts t ON t.id = a.attempt_id WHERE t.kind = 'exam'"
                    )
                )
            }
            papers = {
                int(a): paper
                for a, paper in conn.execute(
                    text(
                        "SELECT t.id, p.snapshot FROM attempts t "
                        "JOIN attempt_papers l ON l.attempt_id = t.id "
                        "JOIN papers p ON p.id = l.paper_id WHERE t.kind = 'exam'"
                    )
                )
            }
            took_prepared = conn.execute(
                text(
                    "SELECT count(*) FROM attempts a JOIN attempt_papers t ON t.attempt_id = a.id "
                    "JOIN prepared_papers p ON p.sitting_id = a.sitting_id "
                    "AND p.user_id = a.user_id AND p.seed = a.seed AND p.paper_id = t.paper_id "
                    "WHERE a.kind = 'exam'"
                )
            ).scalar_one()
            stored = as_served(stored, papers)
    finally:
        engine.dispose()
    per_user = Counter(int(row[1]) for row in exams)
    wrong_count = [u for u in by_user if per_user[u] != 1]
    strangers = [u for u in per_user if u not in by_user]
    if wrong_count:
        problems.append(
            f"{len(wrong_count)} inspectors without exactly one exam attempt "
            f"(e.g. user {wrong_count[0]}: {per_user[wrong_count[0]]})"
        )
    if strangers:
        problems.append(f"exam attempts of {len(strangers)} users who are not bench inspectors")
    outside = [row[0] for row in exams if row[4] is None]
    if outside:
        problems.append(f"{len(outside)} exam attempts outside the sitting (e.g. attempt {outside[0]})")
    facts.append(f"{len(exams) - len(outside):,} exam attempts started in the bench's sitting")
    facts.append(f"{took_prepared:,} of them took the paper drawn ahead for the person")
    graded_once = 0
    for attempt_id, user_id, status, score, _sitting in exams:
        inspector = by_user.get(int(user_id))
        if inspector is None:
            continue
        if inspector.attempt != attempt_id:
            problems.append(
                f"user {user_id}: stored attempt {attempt_id}, storm acknowledged {inspector.attempt}"
            )
        if status != "graded":
            problems.append(f"attempt {attempt_id}: status {status}")
        elif audited[int(attempt_id)] != 1:
            problems.append(f"attempt {attempt_id}: {audited[int(attempt_id)]} exam.graded audit events")
        elif (
            inspector.submitted is not None and abs(float(inspector.submitted["score"]) - float(score)) > 1e-9
        ):
            problems.append(
                f"attempt {attempt_id}: submit answered {inspector.submitted['score']}, stored {score}"
            )
        else:
            graded_once += 1
    facts.append(
        f"{len(exams):,} exam attempts for {len(by_user):,} inspectors "
        f"({len(by_user) - len(wrong_count):,} with exactly one); {graded_once:,} graded with one "
        "exam.graded audit event and the score the submit answered"
    )
    found, acknowledged = check_answers(stored, target.ledger, target.name)
    problems += found
    facts.append(
        f"{acknowledged:,} acknowledged (attempt, slot) answers: "
        f"{acknowledged - sum(1 for p in found if 'acknowledged' in p):,} stored as last acknowledged"
    )
    database = Database(url)
    try:
        changes = regrade(database, course_id=COURSE, dry_run=True)
    finally:
        database.dispose()
    changed = [c for c in changes if c.changed]
    facts.append(
        f"regrade (dry run) of {len(changes):,} graded attempts of the course: {len(changed)} changed"
    )
    problems += [
        f"attempt {c.attempt_id}: stored {c.old_score}/{c.old_passed}, regrade {c.new_score}/{c.new_passed}"
        for c in changed[:10]
    ]
    try:
        trainer(env, log, "audit", "verify")
        facts.append("audit chain verified")
    except RuntimeError as error:
        problems.append(f"audit verify failed: {str(error)[-300:]}")
    return problems, facts


def check_reference(url: str, target: Target) -> tuple[list[str], int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            stored = {
                (int(a), int(s)): r
                for a, s, r in conn.execute(text("SELECT attempt_id, slot, response FROM ref_answers"))
            }
    finally:
        engine.dispose()
    return check_answers(stored, target.ledger, target.name)


def locked_errors(log: Path) -> int:
    if not log.exists():
        return 0
    return len(re.findall("database is locked", log.read_text(encoding="utf-8", errors="replace"), re.I))


# -- one run ----------------------------------------------------------------------------------


@dataclass
class Run:
    kind: str
    count: int
    app: Target | None = None
    reference: Target | None = None
    questions: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    locked: int = 0
    seconds: float = 0.0


async def scenarios(
    args: argparse.Namespace,
    run: Run,
    seeded: Seeded,
    app_server: tuple[str, int],
    start_reference: Callable[[], Awaitable[tuple[str, int]]],
) -> None:
    app = Target(
        "app",
        *app_server,
        new_clients(run.count, args.readers, args.timeout),
        seeded.inspectors,
        seeded.reader_cookies,
        seeded.manager_cookie,
    )
    run.app = app
    try:
        await storm(app, args.storm_seconds, None)
        papers = [i for i in app.inspectors if i.attempt]
        if not papers:
            raise RuntimeError(f"no exam started: {app.phases[STORM].errors.most_common(3)}")
        run.questions = app.questions
        reference_server = await start_reference()
        reference = Target(
            "reference",
            *reference_server,
            new_clients(run.count, args.readers, args.timeout),
            [Inspector(i.index, i.user_id, i.token) for i in app.inspectors],
            seeded.reader_cookies,
            seeded.manager_cookie,
        )
        run.reference = reference
        try:
            say(run, app, STORM)
            await storm(reference, args.storm_seconds, len(json.loads(app.sample_paper)["questions"]))
            say(run, reference, STORM)
            for target in (app, reference):
                await steady(target, args.paced_seconds, args.real_pace, 0, PACED, readers=False)
                say(run, target, PACED)
            for target in (app, reference):
                await steady(target, args.steady_seconds, args.pace, args.read_pace)
                say(run, target, STEADY, MODULE, MANAGE)
            for target in (app, reference):
                await burst(target, args.burst_seconds)
                say(run, target, BURST)
        finally:
            for client in reference.clients:
                await client.aclose()
    finally:
        for client in app.clients:
            await client.aclose()


def say(run: Run, target: Target, *names: str) -> None:
    for name in names:
        phase = target.phases[name]
        print(
            f"  {run.kind} {run.count:,} {target.name:<9} {name:<32} {phase.rps:8.1f}/s "
            f"p50 {phase.percentile(50):8.1f} p99 {phase.percentile(99):8.1f} ms "
            f"errors {sum(phase.errors.values())} client CPU {phase.cpu:.0%}",
            flush=True,
        )
        for problem, n in phase.errors.most_common(3):
            print(f"    {n} x {problem}", flush=True)


def run_one(args: argparse.Namespace, kind: str, count: int) -> Run:
    run = Run(kind, count)
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"bench-exam-{kind}-{count}-"))
    app_log, ref_log, setup_log = work / "app.log", work / "reference.log", work / "setup.log"
    try:
        with databases(kind, count, work, args.postgres) as (app_url, ref_url):
            env = {
                **os.environ,  # on PostgreSQL with TRAINER_DB_POOL_SIZE/MAX_OVERFLOW (databases())
                "TRAINER_DATABASE_URL": app_url,
                "TRAINER_ENV": "development",
                "TRAINER_DATA_DIR": str(work / "data"),
            }
            courses, bank = bench_library(work)
            env |= {"TRAINER_COURSES_DIR": str(courses), "TRAINER_QUESTION_BANK_DIR": str(bank)}
            trainer(env, setup_log, "db", "upgrade")
            if kind == "postgresql":
                run.facts.append(
                    f"connection pools per process (app and reference alike): "
                    f"{env['TRAINER_DB_POOL_SIZE']} + {env['TRAINER_DB_MAX_OVERFLOW']} overflow"
                )
            secret = (work / "data" / "secret_key").read_text(encoding="ascii").strip()
            seeded = seed(app_url, count, args.readers, derive_audit_key(secret))
            if args.prepare:
                # As a sitting is prepared for exam day (trainer.sittings.papers): every paper drawn
                # before the starts, so a start only stores its own.
                prepare_began = time.monotonic()
                trainer(env, setup_log, "sittings", "prepare", "--sitting", str(seeded.sitting_id))
                run.facts.append(
                    f"papers drawn ahead (`trainer sittings prepare`, before the app serves): {count:,} "
                    f"in {time.monotonic() - prepare_began:.1f} s"
                )
            workers = [] if kind == "sqlite" else ["--workers", "2"]
            python = sys.executable
            app_command = [python, "-m", "trainer.cli", "serve", *workers]
            with serving_process(app_command, env, app_log) as app_server:
                app_base = app_server[0]
                # The reference serves the HTML the app served to the same browser.
                pages = {}
                for path, cookie in (
                    (MODULE_PATH, seeded.reader_cookies[0]),
                    ("/manage", seeded.manager_cookie),
                ):
                    response = httpx.get(
                        f"{app_base}{path}",
                        headers={
                            "Cookie": f"{CSRF_COOKIE}; trainer_session={cookie}",
                            "Accept-Language": "en",
                        },
                        timeout=60,
                        trust_env=False,
                    )
                    if response.status_code != 200 or "</html>" not in response.text:
                        raise RuntimeError(f"GET {path}: {response.status_code}")
                    pages[path] = response.text
                (work / "module.html").write_text(pages[MODULE_PATH], encoding="utf-8")
                (work / "manage.html").write_text(pages["/manage"], encoding="utf-8")
                from bench.reference_exam_app import prepare

                prepare(
                    ref_url,
                    [(hashlib.sha256(i.token.encode()).hexdigest(), i.user_id) for i in seeded.inspectors],
                )
                ref_env = {
                    **env,
                    "REFERENCE_DATABASE_URL": ref_url,
                    "REFERENCE_PAPER_FILE": str(work / "paper.json"),
                    "REFERENCE_MODULE_FILE": str(work / "module.html"),
                    "REFERENCE_MANAGE_FILE": str(work / "manage.html"),
                }
                with ExitStack() as stack:

                    async def start_reference() -> tuple[str, int]:
                        # The reference answers a start with the bytes the app sent for one.
                        assert run.app is not None
                        (work / "paper.json").write_bytes(run.app.sample_paper)
                        command = [python, "-m", "bench.reference_exam_app", *workers]
                        return stack.enter_context(serving_process(command, ref_env, ref_log))

                    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                        runner.run(scenarios(args, run, seeded, app_server, start_reference))
            run.locked = locked_errors(app_log) + locked_errors(ref_log)
            assert run.app is not None
            assert run.reference is not None
            problems, facts = check_app(app_url, run.app, env, setup_log)
            run.problems += problems
            run.facts += facts
            found, acknowledged = check_reference(ref_url, run.reference)
            run.problems += found
            run.facts.append(
                f"reference: {acknowledged:,} acknowledged answers checked, {len(found)} problems"
            )
            if run.locked:
                run.problems.append(f'{run.locked} "database is locked" in the server logs')
            for target in (run.app, run.reference):
                for name, phase in target.phases.items():
                    run.problems += [
                        f"{target.name} {name}: {n} x {kind_}" for kind_, n in phase.errors.most_common(5)
                    ]
    except Exception as error:  # this run failed; the others go on
        run.problems.append(f"run failed: {type(error).__name__}: {error}")
        print(f"  app log (tail):\n{tail(app_log)}\n  reference log (tail):\n{tail(ref_log)}", flush=True)
    finally:
        run.seconds = time.monotonic() - began
        if args.keep:
            print(f"  kept {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return run


# -- report -----------------------------------------------------------------------------------


def ratio(app: float, reference: float) -> str:
    return f"{app / reference:.2f}" if reference > 0 and app == app else "n/a"


def per_request(seconds: float, phase: Phase) -> float:
    return seconds * 1000 / phase.good if phase.good else float("nan")


def summary(args: argparse.Namespace, run: Run, load_before: str) -> dict[str, Any]:
    """What the report shows of one run, kept in RESULTS_JSON so separate invocations add up."""
    rows = []
    if run.app is not None and run.reference is not None:
        for name in SCENARIOS:
            phase, ref = run.app.phases[name], run.reference.phases[name]
            rows.append(
                {
                    "scenario": name,
                    "requests": phase.requests,
                    "errors": sum(phase.errors.values()),
                    "rps": phase.rps,
                    "p50": phase.percentile(50),
                    "p95": phase.percentile(95),
                    "p99": phase.percentile(99),
                    "reference_rps": ref.rps,
                    "reference_p99": ref.percentile(99),
                    "client_cpu": [phase.cpu, ref.cpu],
                    # CPU ms per checked response (the saturating saves': with the pages read)
                    "server_cpu_ms": [per_request(phase.server_cpu, phase), per_request(ref.server_cpu, ref)],
                    "database_cpu_ms": [
                        per_request(phase.database_cpu, phase),
                        per_request(ref.database_cpu, ref),
                    ],
                }
            )
    return {
        "database": run.kind,
        "n": run.count,
        "rows": rows,
        "questions": {str(q): n for q, n in sorted(run.questions.items())},
        "facts": run.facts,
        "problems": run.problems,
        "locked": run.locked,
        "seconds": run.seconds,
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_before": load_before,
        "load_after": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "options": (
            f"--storm-seconds {args.storm_seconds:g} --paced-seconds {args.paced_seconds:g} "
            f"--real-pace {args.real_pace:g} --steady-seconds {args.steady_seconds:g} "
            f"--pace {args.pace:g} --burst-seconds {args.burst_seconds:g} --readers {args.readers} "
            f"--read-pace {args.read_pace:g} --timeout {args.timeout:g}"
        ),
    }


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if value == value else "n/a"


def report(summaries: list[dict[str, Any]]) -> str:
    lines = [
        "# Exam day",
        "",
        "`.venv/bin/python bench/exam_day.py [--inspectors 1000,2000] [--databases sqlite,postgresql]` "
        "(each database and N is one run; a run replaces the earlier one of the same database and "
        "N in this file and in exam_day.json).",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}. SQLite: one app process; "
        "PostgreSQL: `--workers 2` (the reference is served the same way). Client: one asyncio "
        f"process (httpx2 on uvloop) on the same machine, one connection per inspector ({SHARD} "
        "inspectors per connection pool).",
        "",
        "The app against bench/reference_exam_app.py (same stack, only the unavoidable work: token "
        "lookup + one-row upsert + the paper's bytes from memory for a start; token lookup + "
        "one-row upsert for a save; token lookup + one-row update for a submit; the same HTML from "
        "memory for the pages), same load shape, alternating app/reference per scenario. req/s = "
        "checked responses / phase wall time (first send to last reply); latencies of checked "
        "responses only; ratio = app req/s / reference req/s, p99 ratio = app p99 / reference "
        "p99. Storm and burst: N requests spread evenly over the stated seconds, so req/s is N over "
        "the time until the last reply. Saves: every inspector saves, waits ~pace s, saves again "
        "(closed loop, N open exams): every ~10 s is an exam's real pace (its p99 ratio is the "
        "latency goal, <= 3); saturating (pace 1 s) offers more than a server takes (its req/s "
        "ratio is the throughput goal, >= 0.8). Pages: paced readers and one manager during the "
        "saturating saves. Server CPU per request (in each run's notes): the CPU time the server's "
        "processes used over the phase (on PostgreSQL also the database's, all its processes) over "
        "its checked responses; the saturating saves' includes the pages read alongside.",
        "",
        "| database | N | scenario | requests | errors | req/s | p50 ms | p95 ms | p99 ms "
        "| reference req/s | ratio | reference p99 ms | p99 ratio |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in summaries:
        if not run["rows"]:
            lines.append(f"| {run['database']} | {run['n']:,} | (run failed) | | | | | | | | | | |")
        for row in run["rows"]:
            lines.append(
                f"| {run['database']} | {run['n']:,} | {row['scenario']} | {row['requests']:,} "
                f"| {row['errors']:,} | {fmt(row['rps'])} | {fmt(row['p50'])} | {fmt(row['p95'])} "
                f"| {fmt(row['p99'])} | {fmt(row['reference_rps'])} "
                f"| {ratio(row['rps'], row['reference_rps'])} | {fmt(row['reference_p99'])} "
                f"| {ratio(row['p99'], row['reference_p99'])} |"
            )
    lines.append("")
    for run in summaries:
        lines += [
            f"## {run['database']}, {run['n']:,} inspectors",
            "",
            f"- finished {run['finished']} after {run['seconds']:.0f} s; options `{run['options']}`; "
            f"load average before {run['load_before']}, after {run['load_after']}",
        ]
        if run["questions"]:
            sizes = ", ".join(f"{n:,} x {q}" for q, n in run["questions"].items())
            lines.append(f"- exam papers served (papers x questions; scenario groups add questions): {sizes}")
        for row in run["rows"]:
            app_cpu, ref_cpu = row["client_cpu"]
            line = f"- {row['scenario']}: client CPU {app_cpu:.0%} (app run), {ref_cpu:.0%} (reference run)"
            if "server_cpu_ms" in row and row["scenario"] not in (MODULE, MANAGE):  # counted in the saves'
                (app_ms, ref_ms), (app_db, ref_db) = row["server_cpu_ms"], row["database_cpu_ms"]
                line += f"; server CPU per request {fmt(app_ms, 2)} ms (app), {fmt(ref_ms, 2)} ms (reference)"
                if run["database"] == "postgresql":
                    line += f", PostgreSQL's {fmt(app_db, 2)} ms (app), {fmt(ref_db, 2)} ms (reference)"
            lines.append(line)
        lines += [f"- {fact}" for fact in run["facts"]]
        lines.append(f'- "database is locked" in the server logs: {run["locked"]}')
        if run["problems"]:
            lines.append(f"- **{len(run['problems'])} problem(s)**:")
            lines += [f"  - {problem}" for problem in run["problems"][:25]]
        else:
            lines.append("- every check passed")
        lines.append("")
    return "\n".join(lines)


def save(summaries: dict[tuple[str, int], dict[str, Any]]) -> str:
    ordered = [summaries[key] for key in sorted(summaries, key=lambda k: (k[0] != "sqlite", k[0], k[1]))]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(ordered, indent=1) + "\n", encoding="utf-8")
    text_ = report(ordered)
    RESULTS.write_text(text_ + "\n", encoding="utf-8")
    return text_


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--inspectors", default="1000,2000", help="comma-separated N (default 1000,2000)")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--storm-seconds", type=float, default=3.0, help="the exam starts spread over")
    parser.add_argument(
        "--paced-seconds", type=float, default=30.0, help="answering time per server at the real pace"
    )
    parser.add_argument(
        "--real-pace", type=float, default=10.0, help="seconds between saves at an exam's real pace"
    )
    parser.add_argument("--steady-seconds", type=float, default=30.0, help="saturating answering time")
    parser.add_argument(
        "--pace", type=float, default=1.0, help="seconds between one inspector's saves when saturating"
    )
    parser.add_argument("--burst-seconds", type=float, default=5.0, help="the submits spread over")
    parser.add_argument("--readers", type=int, default=10, help="signed-in module page readers")
    parser.add_argument("--read-pace", type=float, default=1.0, help="seconds between one reader's reads")
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds a request may take before it counts as an error",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    parser.add_argument(
        "--no-prepare",
        dest="prepare",
        action="store_false",
        help="do not draw the sitting's papers ahead: every start draws its own",
    )
    parser.add_argument(
        "--guard-storm",
        type=float,
        default=None,
        metavar="RATIO",
        help="a regression guard (make bench): exit 1 if a run's start storm is below RATIO of the "
        "reference; prints its table and writes no results",
    )
    args = parser.parse_args()
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    if unknown := set(kinds) - {"sqlite", "postgresql"}:
        parser.error(f"unknown database(s): {', '.join(sorted(unknown))}")
    counts = [int(n) for n in args.inspectors.split(",") if n.strip()]
    if not counts or min(counts) < 1 or max(counts) > 10_000 or args.readers < 1:
        parser.error("1 <= --inspectors <= 10000, --readers >= 1")
    summaries: dict[tuple[str, int], dict[str, Any]] = {}
    if args.guard_storm is not None:
        return guard(args, kinds, counts)
    if RESULTS_JSON.exists():
        for earlier in json.loads(RESULTS_JSON.read_text(encoding="utf-8")):
            summaries[(earlier["database"], earlier["n"])] = earlier
    failed = False
    text_ = ""
    for kind in kinds:
        for count in counts:
            print(f"{kind}, {count:,} inspectors:", flush=True)
            load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
            run = run_one(args, kind, count)
            failed = failed or bool(run.problems)
            # Saved after every run, so an interrupted invocation keeps what it finished.
            summaries[(kind, count)] = summary(args, run, load)
            text_ = save(summaries)
    print("\n" + text_)
    return 1 if failed else 0


def guard(args: argparse.Namespace, kinds: list[str], counts: list[int]) -> int:
    """`--guard-storm`: each run's start storm against the floor; nothing saved."""
    failed = False
    runs = []
    for kind in kinds:
        for count in counts:
            print(f"{kind}, {count:,} inspectors (guard):", flush=True)
            load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
            run = run_one(args, kind, count)
            runs.append(summary(args, run, load))
            storm = next((row for row in runs[-1]["rows"] if row["scenario"] == STORM), None)
            ratio_ = storm["rps"] / storm["reference_rps"] if storm and storm["reference_rps"] else 0.0
            if run.problems or ratio_ < args.guard_storm:
                failed = True
            verdict = "ok" if ratio_ >= args.guard_storm else "BELOW THE FLOOR"
            print(f"  start storm ratio {ratio_:.2f} (floor {args.guard_storm:g}): {verdict}", flush=True)
            for problem in run.problems:
                print(f"  problem: {problem}", flush=True)
    print("\n" + report(runs))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
