"""Shared fixtures: a real, migrated database per test run (SQLite file, or PostgreSQL when
TRAINER_TEST_DATABASE_URL is set), a copy of a small content library per test, and apps built
by the same factory production uses."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import hypothesis
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from trainer import migrate
from trainer.app import create_app
from trainer.config import PROJECT_ROOT, Settings, derive_audit_key
from trainer.db import Database
from trainer.web.pages import PageRoute, PageRoutes

# Tests never assert on time: Hypothesis's per-example deadline (200 ms) failed a pure scoring
# property on a loaded machine (378 ms), so no test here has one.
hypothesis.settings.register_profile("trainer", deadline=None)
hypothesis.settings.load_profile("trainer")

FIXTURE_LIBRARY = Path(__file__).parent / "fixtures" / "library"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
T = TypeVar("T")
TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
# A fixed Ed25519 badge key (32 raw bytes, base64) for the tests that start in production mode.
TEST_BADGE_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
AUDIT_KEY = derive_audit_key(TEST_SECRET)  # what apps built on TEST_SECRET sign the audit log with


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("TRAINER_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'trainer.db'}"
        return
    # A database of its own for this run (and xdist worker), dropped afterwards.
    name = f"trainer_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> Iterator[Database]:
    database = Database(database_url, audit_key=AUDIT_KEY)
    migrate.upgrade(database)
    yield database
    database.dispose()


@dataclass
class ContentDirs:
    courses: Path
    bank: Path

    @property
    def course(self) -> Path:
        return self.courses / "demo-course"

    def write(self, relative: str, content: str) -> Path:
        path = self.courses.parent / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        return path

    def edit(self, relative: str, old: str, new: str) -> Path:
        path = self.courses.parent / relative
        source = path.read_text(encoding="utf-8")
        assert old in source, f"{old!r} not in {relative}"
        path.write_text(source.replace(old, new, 1), encoding="utf-8")
        return path


@pytest.fixture
def content(tmp_path: Path) -> ContentDirs:
    root = tmp_path / "content"
    shutil.copytree(FIXTURE_LIBRARY, root)
    return ContentDirs(root / "courses", root / "question_bank")


@pytest.fixture
def make_settings(tmp_path: Path, database_url: str, migrated_database: Database) -> Callable[..., Settings]:
    def build(content: ContentDirs | None = None, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "secret_key": TEST_SECRET,
            "courses_dir": content.courses if content else FIXTURE_LIBRARY / "courses",
            "question_bank_dir": content.bank if content else FIXTURE_LIBRARY / "question_bank",
            # Many tests verify certificates from one address; the limit has its own test.
            "verify_per_minute": 100_000,
            # Notifications are queued and sent by the tests that are about them, not by a timer.
            "notify_interval_seconds": 0,
            "prepare_interval_seconds": 0,
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return build


@pytest.fixture
def app(make_settings: Callable[..., Settings], content: ContentDirs) -> Iterator[FastAPI]:
    application = create_app(make_settings(content))
    yield application
    application.state.content.close()  # a content poll under way finishes before the dispose
    application.state.database.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


@dataclass
class LiveServer:
    url: str
    app: FastAPI


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(app: FastAPI) -> Iterator[LiveServer]:
    """Run `app` behind a real uvicorn on loopback until the block ends."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    """The app (on the small fixture library) behind a real uvicorn, for raw HTTP."""
    with serve(app) as server:
        yield server


# -- people -------------------------------------------------------------------------------------

PASSWORD = "correct-horse-battery-staple"


@dataclass
class Person:
    id: int
    username: str
    password: str
    unit_path: str | None


def make_person(
    database: Database,
    *roles: str,
    unit: str | None = "Province/City A/County A/Unit A",
    password: str = PASSWORD,
    must_change_password: bool = False,
    active: bool = True,
) -> Person:
    """An account with a unique username (the test database is shared by a whole run)."""
    from trainer.audit import service as audit
    from trainer.db import utcnow
    from trainer.people import service

    name = f"{(roles[0] if roles else 'user')}-{uuid.uuid4().hex[:8]}"
    with database.write() as db:
        unit_row = service.ensure_unit_path(db, audit.SYSTEM, unit, utcnow()) if unit else None
        user, _ = service.create_user(
            db,
            audit.SYSTEM,
            username=name,
            full_name=f"Test {name}",
            unit=unit_row,
            roles=list(roles),
            email=None,
            now=utcnow(),
            password=password,
            must_change_password=must_change_password,
        )
        if not active:
            user.is_active = False
        return Person(user.id, name, password, unit_row.path if unit_row else None)


def page_routes(app: FastAPI) -> list[PageRoute]:
    """Every page of the app: grouped in one entry of its route table (trainer.web.pages.PageRoutes),
    plus any a test put in front of the group."""
    found: list[PageRoute] = []
    for route in app.routes:
        if isinstance(route, PageRoutes):
            found += route.routes
        elif isinstance(route, PageRoute):
            found.append(route)
    return found


def csrf_token(client: TestClient, path: str = "/courses") -> str:
    import re

    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', client.get(path).text)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client: TestClient, person: Person, password: str | None = None) -> None:
    response = client.post(
        "/login",
        data={
            "username": person.username,
            "password": password or person.password,
            "csrf_token": csrf_token(client, "/login"),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:500]


def right_answer(database: Database, attempt_id: int, slot: int) -> dict[str, object]:
    """The correct response in the paper's served keys, read from the stored snapshot (as a
    grader would)."""
    import json

    from trainer.quizzes.service import paper_of
    from trainer.quizzes.snapshot import to_served

    with database.session() as db:
        paper = json.loads(paper_of(db, attempt_id))
    entry = next(e for e in paper if e["slot"] == slot)
    key = entry["key"]
    answer = {
        "choice": lambda: {"selected": key["correct"]},
        "numeric": lambda: {"value": key["value"]},
        "text": lambda: {"text": key["display"]},
        "order": lambda: {"order": key["order"]},
        "match": lambda: {"pairs": dict(key["pairs"])},
    }[key["kind"]]()
    return dict(to_served(entry, answer))


def run_together(calls: list[Callable[[], T]]) -> list[T]:
    """Run every call on its own thread, all released at the same instant; their results in
    order. If any raised, the first error is raised here, after every thread has finished."""
    barrier = threading.Barrier(len(calls))
    results: list[T | None] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = calls[index]()
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]


# -- quizzes and certificates -----------------------------------------------------------------


def token(client: TestClient, person: Person) -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/token", json={"username": person.username, "password": person.password}
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def complete_modules(client: TestClient, headers: dict[str, str], database: Database) -> None:
    for module in ("demo-first", "demo-second"):
        assert client.get(f"/api/v1/courses/demo-course/modules/{module}", headers=headers).status_code == 200
    practice = client.post("/api/v1/modules/demo-first/practice/attempts", headers=headers).json()
    for question in practice["questions"]:
        client.put(
            f"/api/v1/attempts/{practice['id']}/answers/{question['slot']}",
            headers=headers,
            json=right_answer(database, practice["id"], question["slot"]),
        )
    assert client.post(f"/api/v1/attempts/{practice['id']}/submit", headers=headers).json()["passed"] is True


def ready_for_exam(client: TestClient, database: Database) -> tuple[dict[str, str], Person]:
    person = make_person(database, "inspector", unit="Heilongjiang/Harbin/Daoli District/Bureau")
    headers = token(client, person)
    complete_modules(client, headers, database)
    return headers, person


def pass_exam(client: TestClient, database: Database, headers: dict[str, str]) -> dict[str, object]:
    attempt = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers).json()
    for question in attempt["questions"]:
        client.put(
            f"/api/v1/attempts/{attempt['id']}/answers/{question['slot']}",
            headers=headers,
            json=right_answer(database, attempt["id"], question["slot"]),
        )
    result = client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers).json()
    assert result["passed"] is True
    return result
