"""`trainer seed-synthetic`: the synthetic province is consistent with the rules and the reports'
own summaries, on SQLite and (with TRAINER_TEST_DATABASE_URL) PostgreSQL."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from tests.conftest import TEST_BADGE_KEY, ContentDirs
from tests.test_cli import trainer
from trainer import localtime, migrate
from trainer.certification import policy
from trainer.certification.models import Certificate
from trainer.certification.service import CODE_ALPHABET, CODE_LENGTH, normalise_code
from trainer.cli import synthetic
from trainer.config import Settings
from trainer.content.library import Library
from trainer.content.loader import load_library_or_raise
from trainer.db import Database, utcnow
from trainer.people.models import Unit, User, UserRole
from trainer.people.passwords import verify_password
from trainer.quizzes.models import Attempt, AttemptPaper, Paper
from trainer.reports.models import STATES, ComplianceTally, ExamTally, ItemMark, UnitHeadcount

INSPECTORS = 400
ATTEMPTS = 3000
PASSWORD = "synthetic-password-1234"


@pytest.fixture(scope="module")
def fresh_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database of its own on the test run's backend: the seeder refuses a database
    that already has units, as the shared test database does."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('synthetic') / 'synthetic.db'}"
        return
    name = f"{url.database}_syn_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def library() -> Library:
    """The shipped library: six courses, real question ids."""
    settings = Settings()
    return load_library_or_raise(settings.courses_dir, settings.question_bank_dir)


@pytest.fixture(scope="module")
def seeded(fresh_url: str, library: Library) -> Iterator[tuple[Database, datetime, synthetic.Report]]:
    database = Database(fresh_url)
    migrate.upgrade(database)
    now = utcnow()
    report = synthetic.generate(
        database, library, inspectors=INSPECTORS, attempts=ATTEMPTS, password=PASSWORD, now=now
    )
    yield database, now, report
    database.dispose()


def facts(c: Certificate) -> policy.Facts:
    return policy.Facts(
        c.valid_from,
        c.expires_at,
        c.renewal_window_days,
        c.grace_days,
        c.suspended_at,
        c.revoked_at,
        c.superseded_at,
    )


def test_the_tree_has_a_fixed_shape_built_like_create_unit(seeded: tuple[Database, datetime, object]) -> None:
    database, _, _ = seeded
    with database.session() as db:
        units = {u.id: u for u in db.scalars(select(Unit))}
    kinds = Counter(u.kind for u in units.values())
    assert kinds == {"province": 1, "city": 13, "county": 130, "unit": 520}
    children = Counter(u.parent_id for u in units.values())
    for unit in units.values():
        if unit.parent_id is None:
            assert unit.kind == "province"
            assert unit.lineage == f"/{unit.id}/"
            assert unit.path == unit.name
            continue
        parent = units[unit.parent_id]
        assert unit.lineage == f"{parent.lineage}{unit.id}/"
        assert unit.path == f"{parent.path}/{unit.name}"
        assert "/" not in unit.name
        depth = unit.lineage.count("/") - 2
        assert unit.kind == ("province", "city", "county", "unit")[depth]
        if unit.kind == "county":
            assert children[unit.id] == 4
    # The same tree whatever the size asked for.
    assert [(u.name, u.lineage) for u in synthetic.organisation()] == [
        (u.name, u.lineage) for u in sorted(units.values(), key=lambda u: u.id)
    ]


def test_counts_are_exactly_as_asked(seeded: tuple[Database, datetime, synthetic.Report]) -> None:
    database, _, report = seeded
    with database.session() as db:
        roles = Counter(db.scalars(select(UserRole.role)))
        attempts = db.scalar(select(func.count()).select_from(Attempt))
        users = db.execute(select(User, Unit.kind).join(Unit, Unit.id == User.unit_id)).all()
    assert roles == {"inspector": INSPECTORS, "manager": 14, "trainer": 1}
    assert attempts == ATTEMPTS
    assert report.rows["attempts"] == ATTEMPTS
    assert report.rows["users"] == INSPECTORS + 15
    by_name = {user.username: (user, kind) for user, kind in users}
    assert by_name["province-manager"][1] == "province"
    assert sum(1 for user, kind in users if user.username.startswith("manager-") and kind == "city") == 13
    assert verify_password(by_name["province-manager"][0].password_hash, PASSWORD)
    inspectors = [(user, kind) for user, kind in users if "." in user.username]
    assert len(inspectors) == INSPECTORS
    assert len({user.username for user, _ in inspectors}) == INSPECTORS
    placed = Counter(kind for _, kind in inspectors)
    assert placed["unit"] > 0.9 * INSPECTORS
    assert placed["county"] + placed["city"] > 0
    inactive = sum(1 for user, _ in inspectors if not user.is_active)
    assert 0 < inactive < 0.06 * INSPECTORS
    assert not any(user.must_change_password for user, _ in users)


def test_attempts_are_consistent(seeded: tuple[Database, datetime, object]) -> None:
    database, now, _ = seeded
    with database.session() as db:
        attempts = db.scalars(select(Attempt)).all()
        papers = dict(
            db.execute(
                select(AttemptPaper.attempt_id, Paper.snapshot).join(Paper, Paper.id == AttemptPaper.paper_id)
            ).all()
        )
        unit_of = dict(db.execute(select(User.id, User.unit_id)).all())
    kinds = Counter(a.kind for a in attempts)
    assert kinds["exam"] > 0
    assert kinds["practice"] > kinds["exam"]
    for a in attempts:
        assert a.unit_id == unit_of[a.user_id]
        assert papers[a.id] == "[]"
        assert a.content_hash == "synthetic"
        assert a.started_at < now
        assert (a.module_id is None) == (a.kind == "exam")
        if a.status == "in_progress":
            assert a.kind == "practice"
            assert a.score is None
            assert a.passed is None
            assert a.submitted_at is None
            continue
        assert a.status == "graded"
        assert a.submitted_at is not None
        assert a.started_at < a.submitted_at <= now
        assert a.score is not None
        assert 0 <= a.score <= a.max_score
        assert a.passed == (a.score >= a.pass_mark * a.max_score - 1e-9)
        if a.kind == "exam":
            assert a.deadline is not None
            assert a.submitted_at <= a.deadline
    assert min(a.started_at for a in attempts) < now - timedelta(days=3 * 365)


def test_item_marks_cover_exactly_the_graded_exams(
    seeded: tuple[Database, datetime, object], library: Library
) -> None:
    database, _, _ = seeded
    with database.session() as db:
        exams = {
            a.id: a
            for a in db.scalars(select(Attempt).where(Attempt.kind == "exam", Attempt.status == "graded"))
        }
        marks = db.scalars(select(ItemMark)).all()
    by_attempt: dict[int, list[ItemMark]] = defaultdict(list)
    for mark in marks:
        by_attempt[mark.attempt_id].append(mark)
    assert set(by_attempt) == set(exams)
    partial = 0
    for attempt_id, rows in by_attempt.items():
        exam = exams[attempt_id]
        assert sorted(r.slot for r in rows) == list(range(1, int(exam.max_score) + 1))
        assert sum(r.mark for r in rows) == exam.score
        assert len({r.question_id for r in rows}) == len(rows)  # no question twice in a paper
        domain = library.courses[exam.course_id].domain
        for r in rows:
            assert r.course_id == exam.course_id
            assert library.bank.questions[r.question_id].domain == domain
            assert r.mark in (0.0, 0.25, 0.5, 0.75, 1.0)
            partial += r.mark not in (0.0, 1.0)
    assert partial > 0
    # Item statistics have something to show: easy and hard questions.
    facility: dict[str, list[float]] = defaultdict(list)
    for mark in marks:
        facility[mark.question_id].append(mark.mark)
    means = [sum(v) / len(v) for v in facility.values() if len(v) >= 20]
    assert max(means) > 0.95
    assert min(means) < 0.6


def test_certificates_in_every_state_and_consistent(seeded: tuple[Database, datetime, object]) -> None:
    database, now, _ = seeded
    with database.session() as db:
        certificates = db.scalars(select(Certificate)).all()
        attempts = {a.id: a for a in db.scalars(select(Attempt).where(Attempt.kind == "exam"))}
        holders = {u.id: u for u in db.scalars(select(User))}
        paths = dict(db.execute(select(Unit.id, Unit.path)).all())
    states = Counter(policy.state_at(facts(c), now) for c in certificates)
    assert set(states) == set(policy.State), states
    current = Counter((c.user_id, c.course_id) for c in certificates if c.is_current)
    assert max(current.values()) == 1
    by_id = {c.id: c for c in certificates}
    for c in certificates:
        attempt = attempts[c.attempt_id]
        assert attempt.user_id == c.user_id
        assert attempt.course_id == c.course_id
        assert attempt.passed is True
        assert c.issued_at == attempt.submitted_at
        assert c.score == attempt.score
        assert c.renewal_from == c.expires_at - timedelta(days=c.renewal_window_days)
        assert c.grace_until == c.expires_at + timedelta(days=c.grace_days)
        assert c.holder_name == holders[c.user_id].full_name
        assert c.unit_path == paths[holders[c.user_id].unit_id]
        assert c.number.startswith("HLJ-")
        assert c.number.endswith(f"-{c.id:06d}")
        assert len(c.verification_code) == 10
        if c.superseded_at is not None:
            assert not c.is_current
        if c.suspended_at is not None:
            assert c.suspended_reason
        if c.revoked_at is not None:
            assert c.revoked_reason
        if c.previous_id is not None:
            previous = by_id[c.previous_id]
            assert not previous.is_current
            assert previous.issued_at < c.issued_at
            if previous.superseded_at is not None:  # a renewal runs on from the previous expiry
                assert c.valid_from == previous.expires_at
    assert len({c.verification_code for c in certificates}) == len(certificates)


def test_exam_tallies_equal_a_direct_count(seeded: tuple[Database, datetime, object]) -> None:
    database, _, _ = seeded
    with database.session() as db:
        exams = db.execute(
            select(Attempt.unit_id, Attempt.course_id, Attempt.submitted_at, Attempt.passed).where(
                Attempt.kind == "exam", Attempt.status == "graded"
            )
        ).all()
        tallies = db.scalars(select(ExamTally)).all()
    expected: Counter[tuple[int | None, str, str]] = Counter()
    passed: Counter[tuple[int | None, str, str]] = Counter()
    for unit_id, course_id, submitted_at, was_passed in exams:
        key = (unit_id, course_id, localtime.month_of(submitted_at, database.time_zone))
        expected[key] += 1
        passed[key] += bool(was_passed)
    assert {(t.unit_id, t.course_id, t.month): (t.taken, t.passed) for t in tallies} == {
        key: (n, passed[key]) for key, n in expected.items()
    }


def test_compliance_tallies_equal_a_direct_count(seeded: tuple[Database, datetime, object]) -> None:
    database, now, _ = seeded
    with database.session() as db:
        rows = db.execute(
            select(User.unit_id, Certificate)
            .join(User, User.id == Certificate.user_id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(Certificate.is_current.is_(True), User.is_active.is_(True), UserRole.role == "inspector")
        ).all()
        tallies = db.scalars(select(ComplianceTally)).all()
        heads = dict(db.execute(select(UnitHeadcount.unit_id, UnitHeadcount.inspectors)).all())
        active = Counter(
            db.scalars(
                select(User.unit_id)
                .join(UserRole, UserRole.user_id == User.id)
                .where(User.is_active.is_(True), UserRole.role == "inspector")
            )
        )
    expected: dict[tuple[int | None, str], Counter[str]] = defaultdict(Counter)
    for unit_id, certificate in rows:
        expected[(unit_id, certificate.course_id)][policy.state_at(facts(certificate), now).value] += 1
    assert {(t.unit_id, t.course_id): {s: getattr(t, s) for s in STATES} for t in tallies} == {
        key: {s: counts[s] for s in STATES} for key, counts in expected.items()
    }
    assert heads == dict(active)


def test_a_second_run_is_refused(seeded: tuple[Database, datetime, object], library: Library) -> None:
    database, _, _ = seeded
    with pytest.raises(synthetic.AlreadySeededError):
        synthetic.generate(database, library, inspectors=10, attempts=10, password=PASSWORD)
    with database.session() as db:
        assert db.scalar(select(func.count()).select_from(Attempt)) == ATTEMPTS


def test_verification_codes_are_unique_and_well_formed() -> None:
    codes = {synthetic.verification_code(n) for n in range(1, 50_001)}
    assert len(codes) == 50_000
    # In certification's own alphabet and length (imported, not copied), so verification finds them.
    assert all(len(c) == CODE_LENGTH and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert all(normalise_code(c) == c for c in codes)


def test_the_command_seeds_an_empty_database_once(tmp_path: Path, content: ContentDirs) -> None:
    env = {
        "TRAINER_DATA_DIR": str(tmp_path),
        "TRAINER_DATABASE_URL": f"sqlite:///{tmp_path / 'synthetic.db'}",
    }
    args = ("seed-synthetic", "--inspectors", "30", "--attempts", "200", "--seed", "7")
    first = trainer(*args, "--manager-password", PASSWORD, content=content, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "seeded in" in first.stdout
    assert PASSWORD not in first.stdout  # given, so not printed
    database = Database(env["TRAINER_DATABASE_URL"])
    try:
        with database.session() as db:
            assert db.scalar(select(func.count()).select_from(Attempt)) == 200
            assert (
                db.scalar(select(func.count()).select_from(UserRole).where(UserRole.role == "inspector"))
                == 30
            )
            assert db.scalar(select(func.count()).select_from(Unit)) == 664
            assert set(db.scalars(select(Attempt.course_id))) == {"demo-course"}
            manager = db.scalar(select(User).where(User.username == "province-manager"))
            assert manager is not None
            assert verify_password(manager.password_hash, PASSWORD)
    finally:
        database.dispose()
    second = trainer(*args, content=content, env=env)
    assert second.returncode == 2
    assert "already has units" in second.stderr


def test_the_command_prints_a_generated_password(tmp_path: Path, content: ContentDirs) -> None:
    env = {"TRAINER_DATA_DIR": str(tmp_path), "TRAINER_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    result = trainer("seed-synthetic", "--inspectors", "5", "--attempts", "20", content=content, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    password = result.stdout.strip().splitlines()[-1].removeprefix("password: ")
    database = Database(env["TRAINER_DATABASE_URL"])
    try:
        with database.session() as db:
            hashes = set(db.scalars(select(User.password_hash)))
        assert len(hashes) == 1  # one hash, computed once
        assert verify_password(hashes.pop(), password)
    finally:
        database.dispose()


def test_the_command_refuses_production(tmp_path: Path) -> None:
    env = {
        "TRAINER_ENV": "production",
        "TRAINER_SECRET_KEY": "k3y-" + "abcdefghijklmnopqrstuvwxyz0123456789",
        "TRAINER_PUBLIC_URL": "https://training.example",
        "TRAINER_BADGE_KEY": TEST_BADGE_KEY,
        "TRAINER_DATA_DIR": str(tmp_path),
        "TRAINER_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
    }
    result = trainer("seed-synthetic", "--inspectors", "5", "--attempts", "5", env=env)
    assert result.returncode == 2
    assert "not production" in result.stderr
    assert not (tmp_path / "p.db").exists()
