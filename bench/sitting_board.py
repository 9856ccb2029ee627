"""What one refresh of a supervisor's board costs with 2,000 people on the roster.

The board (GET /sittings/{id}, which its script fetches every 5 seconds, and its JSON twin GET
/api/v1/sittings/{id}) shows every rostered person with their state, answers saved, paper length
and time left. This measures a refresh in the middle of a sitting: a fresh database gets a
province of --people inspectors (4 cities x 5 counties, the people spread evenly), one sitting
rostering the province's top unit, and for each person an exam in the state a sitting has
half-way: 85% in progress with 0 to 50 answers saved, 12.5% handed in, the rest not started
(about 50,000 answers). The app runs as `trainer serve` (one process on SQLite, two on
PostgreSQL); an admin signs in and requests each of the three below sequentially, 5 warm-ups
then --requests timed ones; every response is checked (200, and every person on it).

- board page: the HTML the supervisor's browser refreshes;
- board API: the same rows as JSON;
- service only: `trainer.sittings.service.board` in this process, no HTTP or rendering (the
  database's share of a refresh).

    .venv/bin/python bench/sitting_board.py [--people 2000] [--requests 30]
        [--databases sqlite,postgresql] [--postgres postgresql+psycopg://postgres@127.0.0.1:5432]

Prints a table and writes bench/results/sitting_board.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx2 as httpx
import psycopg
from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench` importable
    sys.path.insert(0, str(ROOT))

from bench.common import serving, tail  # noqa: E402
from trainer import migrate  # noqa: E402
from trainer.config import Settings, derive_audit_key  # noqa: E402
from trainer.content.loader import load_library_or_raise  # noqa: E402
from trainer.db import Database, utcnow  # noqa: E402
from trainer.people import passwords  # noqa: E402
from trainer.people.models import Unit, User, UserRole  # noqa: E402
from trainer.quizzes.models import Attempt, AttemptAnswer  # noqa: E402
from trainer.sittings import service as sittings  # noqa: E402
from trainer.sittings.models import Sitting, SittingUnit  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "sitting_board.md"
SECRET = "bench-sitting-board-secret-key-0123456789-abcdefghij"
ADMIN, PASSWORD = "board-admin", "bench-board-password-2026"
WARM_UP = 5
PAPER = 50


@contextmanager
def database(kind: str, work: Path, postgres: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{work / 'trainer.db'}"
        return
    name = "bench_sitting_board"
    server = make_url(postgres)
    admin = psycopg.connect(
        host=server.host or "127.0.0.1",
        port=server.port or 5432,
        user=server.username or "postgres",
        password=server.password,
        dbname="postgres",
        autocommit=True,
    )
    try:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        yield server.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def seed(database: Database, people: int, course_id: str) -> tuple[int, int]:
    """The province, its inspectors, an admin, the sitting and its exams; (sitting id, answers)."""
    now = utcnow()
    rng = random.Random(16)
    with database.write() as db:
        province = Unit(
            parent_id=None, name="Province", kind="province", lineage="", path="Province", created_at=now
        )
        db.add(province)
        db.flush()
        province.lineage = f"/{province.id}/"
        counties: list[Unit] = []
        for c in range(4):
            city = Unit(
                parent_id=province.id, name=f"City {c}", kind="city", lineage="", path=f"Province/City {c}",
                created_at=now,
            )  # fmt: skip
            db.add(city)
            db.flush()
            city.lineage = f"{province.lineage}{city.id}/"
            for k in range(5):
                county = Unit(
                    parent_id=city.id, name=f"County {k}", kind="county", lineage="",
                    path=f"{city.path}/County {k}", created_at=now,
                )  # fmt: skip
                db.add(county)
                db.flush()
                county.lineage = f"{city.lineage}{county.id}/"
                counties.append(county)
        hashed = passwords.hash_password(PASSWORD)
        admin = User(
            username=ADMIN, full_name="Board Admin", email=None, unit_id=None, password_hash=hashed,
            must_change_password=False, is_active=True, created_at=now, password_changed_at=now,
        )  # fmt: skip
        db.add(admin)
        db.flush()
        db.add(UserRole(user_id=admin.id, role="admin"))
        db.execute(
            insert(User),
            [
                {
                    "username": f"inspector-{n:05d}",
                    "full_name": f"Inspector {n:05d}",
                    "email": None,
                    "unit_id": counties[n % len(counties)].id,
                    "password_hash": "-",
                    "must_change_password": False,
                    "is_active": True,
                    "created_at": now,
                    "password_changed_at": now,
                }
                for n in range(people)
            ],
        )
        ids = list(
            db.scalars(select(User.id).where(User.username.startswith("inspector-")).order_by(User.id))
        )
        db.execute(insert(UserRole), [{"user_id": i, "role": "inspector"} for i in ids])
        sitting = Sitting(
            course_id=course_id, opens_at=now - timedelta(minutes=20), closes_at=now + timedelta(hours=2),
            late_entry_minutes=30, place="Hall 1", access_code="BENCH2", scope_lineage=province.lineage,
            created_by=admin.id, created_at=now,
        )  # fmt: skip
        db.add(sitting)
        db.flush()
        db.add(SittingUnit(sitting_id=sitting.id, unit_id=province.id))
        db.flush()
        attempts = []
        for n, user_id in enumerate(ids):
            share = n / len(ids)
            if share >= 0.975:
                continue  # not started
            graded = share >= 0.85
            started = now - timedelta(minutes=rng.randint(1, 19))
            attempts.append(
                {
                    "user_id": user_id,
                    "unit_id": counties[n % len(counties)].id,
                    "kind": "exam",
                    "course_id": course_id,
                    "module_id": None,
                    "content_hash": "bench",
                    "seed": n,
                    "status": "graded" if graded else "in_progress",
                    "started_at": started,
                    "deadline": started + timedelta(minutes=60),
                    "submitted_at": now if graded else None,
                    "score": 40.0 if graded else None,
                    "max_score": float(PAPER),
                    "pass_mark": 0.8,
                    "passed": True if graded else None,
                    "review": "by_tag",
                    "sitting_id": sitting.id,
                }
            )
        db.execute(insert(Attempt), attempts)
        paper = db.execute(text("INSERT INTO papers (snapshot) VALUES ('[]') RETURNING id")).scalar_one()
        db.execute(
            text(
                "INSERT INTO attempt_papers (attempt_id, paper_id) "
                "SELECT id, :paper FROM attempts WHERE sitting_id = :sitting_id"
            ),
            {"sitting_id": sitting.id, "paper": paper},
        )
        answers = []
        for attempt_id, status in db.execute(
            select(Attempt.id, Attempt.status).where(Attempt.sitting_id == sitting.id)
        ).all():
            count = PAPER if status == "graded" else rng.randint(0, PAPER)
            answers += [
                {"attempt_id": attempt_id, "slot": slot, "response": '{"selected": ["a"]}', "saved_at": now}
                for slot in range(1, count + 1)
            ]
        for start in range(0, len(answers), 5000):
            db.execute(insert(AttemptAnswer), answers[start : start + 5000])
        return sitting.id, len(answers)


def sign_in(client: httpx.Client) -> dict[str, str]:
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if match is None:
        raise RuntimeError(f"no login form (status {page.status_code})")
    client.post("/login", data={"username": ADMIN, "password": PASSWORD, "csrf_token": match.group(1)})
    token = client.post("/api/v1/auth/token", json={"username": ADMIN, "password": PASSWORD})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def timed(label: str, requests: int, call: object, check: object) -> list[float]:
    timings = []
    for n in range(WARM_UP + requests):
        began = time.perf_counter()
        result = call()  # type: ignore[operator]
        elapsed = (time.perf_counter() - began) * 1000
        problem = check(result)  # type: ignore[operator]
        if problem:
            raise RuntimeError(f"{label}: {problem}")
        if n >= WARM_UP:
            timings.append(elapsed)
    return timings


def run_one(kind: str, people: int, requests: int, postgres: str) -> dict[str, list[float]]:
    work = Path(tempfile.mkdtemp(prefix=f"bench-board-{kind}-"))
    log = work / "log.txt"
    try:
        with database(kind, work, postgres) as url:
            env = {
                **os.environ,
                "TRAINER_DATABASE_URL": url,
                "TRAINER_ENV": "development",
                "TRAINER_DATA_DIR": str(work / "data"),
                "TRAINER_SECRET_KEY": SECRET,
            }
            settings = Settings(database_url=url, data_dir=work / "data", secret_key=SECRET)
            library = load_library_or_raise(settings.courses_dir, settings.question_bank_dir)
            course = next(c for c in library.courses.values() if c.certification is not None)
            store = Database(url, audit_key=derive_audit_key(SECRET), time_zone=settings.zone)
            migrate.upgrade(store)
            began = time.perf_counter()
            sitting_id, answers = seed(store, people, course.id)
            print(f"{kind}: seeded {people} people, {answers} answers in {time.perf_counter() - began:.1f} s")

            def service_board() -> object:
                with store.session() as db:
                    sitting = db.get_one(Sitting, sitting_id)
                    return sittings.board(db, sitting, library, utcnow())

            found: dict[str, list[float]] = {
                "service only": timed(
                    "service",
                    requests,
                    service_board,
                    lambda board: None if len(board.rows) == people else f"{len(board.rows)} rows",  # type: ignore[attr-defined]
                )
            }
            command = [sys.executable, "-m", "trainer.cli", "serve"]
            if kind == "postgresql":
                command += ["--workers", "2"]
            with serving(command, env, log) as base, httpx.Client(base_url=base, timeout=120) as client:
                headers = sign_in(client)
                found["board page (HTML)"] = timed(
                    "page", requests, lambda: client.get(f"/sittings/{sitting_id}"),
                    lambda r: None if r.status_code == 200 and r.text.count('<tr class="board-') == people
                    else f"status {r.status_code}",
                )  # fmt: skip
                found["board API (JSON)"] = timed(
                    "api", requests, lambda: client.get(f"/api/v1/sittings/{sitting_id}", headers=headers),
                    lambda r: None if r.status_code == 200 and len(r.json()["people"]) == people
                    else f"status {r.status_code}",
                )  # fmt: skip
            store.dispose()
            return found
    except Exception:
        print(tail(log), file=sys.stderr)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(fraction * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    lines = [
        f"Board refresh, {args.people:,} people on the roster, {args.requests} timed requests each "
        f"({time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}):",
        "",
        "| database | refresh | p50 ms | p95 ms | max ms |",
        "|---|---|---:|---:|---:|",
    ]
    for kind in args.databases.split(","):
        found = run_one(kind, args.people, args.requests, args.postgres)
        for label, timings in found.items():
            lines.append(
                f"| {'SQLite, 1 process' if kind == 'sqlite' else 'PostgreSQL, 2 processes'} | {label} | "
                f"{statistics.median(timings):.1f} | {percentile(timings, 0.95):.1f} | {max(timings):.1f} |"
            )
    report = "\n".join(lines) + "\n"
    print(report)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
