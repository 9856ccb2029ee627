"""What a province's monitoring reads: /metrics (scraped through the app and parsed with
prometheus_client's own parser), JSON log lines (parsed line by line and scanned for secrets),
the request id, and `trainer doctor` on a good and a bad configuration (as a subprocess)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request
from starlette.responses import Response

from tests.conftest import (
    TEST_BADGE_KEY,
    TEST_SECRET,
    ZH,
    ContentDirs,
    csrf_token,
    make_person,
    ready_for_exam,
    right_answer,
    sign_in,
)
from trainer.access import Access
from trainer.app import create_app
from trainer.config import Settings
from trainer.logs import JsonFormatter
from trainer.web.pages import page

LOCAL = ("127.0.0.1", 50000)
OUTSIDE = ("203.0.113.7", 50000)


@pytest.fixture
def metrics_app(make_settings: Callable[..., Settings], content: ContentDirs) -> Iterator[FastAPI]:
    application = create_app(make_settings(content, metrics="on"))
    yield application
    application.state.database.dispose()


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics as {(name, sorted labels): value}, parsed by prometheus_client."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_scraped_and_move_with_an_exam(metrics_app: FastAPI) -> None:
    database = metrics_app.state.database
    with TestClient(metrics_app, client=LOCAL) as client:
        headers, _person = ready_for_exam(client, database)
        before = scrape(client)
        attempt = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers).json()
        slots = [q["slot"] for q in attempt["questions"]]
        for slot in slots:
            answer = right_answer(database, attempt["id"], slot)
            response = client.put(
                f"/api/v1/attempts/{attempt['id']}/answers/{slot}", headers=headers, json=answer
            )
            assert response.status_code == 200
        assert client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers).json()["passed"]
        late = right_answer(database, attempt["id"], slots[0])
        refused = client.put(
            f"/api/v1/attempts/{attempt['id']}/answers/{slots[0]}", headers=headers, json=late
        )
        assert refused.status_code == 409
        stranger = {"Authorization": "Bearer not-a-token"}
        unsigned = client.put(
            f"/api/v1/attempts/{attempt['id']}/answers/{slots[0]}", headers=stranger, json=late
        )
        assert unsigned.status_code == 401  # not a save: counted nowhere below
        database.clear_caches()  # the certificate counts are remembered for 5 s
        after = scrape(client)

    families = {name for name, _ in after}
    for family in (
        "trainer_http_requests_total",
        "trainer_http_request_duration_seconds_bucket",
        "trainer_attempt_actions_total",
        "trainer_grading_seconds_count",
        "trainer_answer_batch_size_bucket",
        "trainer_db_pool_checked_out",
        "trainer_db_pool_capacity",
        "trainer_certificates",
    ):
        assert family in families, family

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("trainer_attempt_actions_total", kind="exam", action="start", outcome="ok") == 1
    assert moved("trainer_attempt_actions_total", kind="exam", action="save", outcome="ok") == len(slots)
    assert moved("trainer_attempt_actions_total", kind="exam", action="save", outcome="attempt_closed") == 1
    assert moved("trainer_attempt_actions_total", kind="exam", action="submit", outcome="ok") == 1
    assert moved("trainer_attempt_actions_total", kind="unknown", action="save", outcome="error") == 0
    assert moved("trainer_grading_seconds_count", kind="exam") == 1
    # Each API save went through the group commit, the refused late one too (one at a time here).
    assert moved("trainer_answer_batch_size_sum") == len(slots) + 1
    assert moved("trainer_answer_batch_size_count") == len(slots) + 1
    save_route = "/api/v1/attempts/{attempt_id}/answers/{slot}"
    assert moved("trainer_http_requests_total", route=save_route, method="PUT", status="200") == len(slots)
    assert (
        moved("trainer_http_request_duration_seconds_count", route=save_route, method="PUT") == len(slots) + 2
    )
    assert (
        value(after, "trainer_certificates", state="valid")
        - value(before, "trainer_certificates", state="valid")
        == 1
    )
    assert value(after, "trainer_db_pool_capacity") == 30  # 20 + 10, the defaults
    # Route templates, never raw paths: no attempt id in any label.
    routes = {dict(labels).get("route") for _, labels in after} - {None}
    assert not [route for route in routes if str(attempt["id"]) in str(route)], routes


def test_metrics_are_refused_when_off_and_to_untrusted_addresses(
    make_settings: Callable[..., Settings], content: ContentDirs, metrics_app: FastAPI
) -> None:
    off = create_app(make_settings(content))
    try:
        with TestClient(off, client=LOCAL) as client:
            assert client.get("/metrics").status_code == 404
    finally:
        off.state.database.dispose()
    with TestClient(metrics_app, client=OUTSIDE) as client:
        response = client.get("/metrics")
        assert response.status_code == 403
        assert "trainer_http_requests" not in response.text


def test_behind_a_trusted_proxy_the_real_client_decides(
    make_settings: Callable[..., Settings], content: ContentDirs
) -> None:
    """Through a local proxy every request comes from loopback: the forwarded address counts."""
    app = create_app(make_settings(content, metrics="on", trusted_proxies="127.0.0.1"))
    try:
        with TestClient(app, client=LOCAL) as client:
            assert client.get("/metrics", headers={"X-Forwarded-For": OUTSIDE[0]}).status_code == 403
            assert client.get("/metrics").status_code == 200
    finally:
        app.state.database.dispose()


@pytest.fixture
def json_log(
    make_settings: Callable[..., Settings], content: ContentDirs
) -> Iterator[tuple[FastAPI, io.StringIO]]:
    """An app logging JSON, and everything the `trainer` loggers wrote while the test ran."""
    application = create_app(make_settings(content, log_format="json"))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("trainer")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield application, stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        application.state.database.dispose()


def test_json_logs_carry_the_request_and_no_secret(json_log: tuple[FastAPI, io.StringIO]) -> None:
    app, stream = json_log
    database = app.state.database

    def boom(_request: Request) -> Response:
        raise RuntimeError("a bug")

    app.router.routes.insert(0, page("/boom", boom, access=Access.PUBLIC))
    with TestClient(app, raise_server_exceptions=False) as client:
        person = make_person(database, "inspector")
        sign_in(client, person)  # a password in a form
        session_cookie = client.cookies.get("trainer_session") or ""
        csrf_cookie = client.cookies.get("trainer_csrf") or ""
        assert session_cookie
        issued = client.post(
            "/api/v1/auth/token", json={"username": person.username, "password": person.password}
        )
        api_token = issued.json()["access_token"]
        headers = {"Authorization": f"Bearer {api_token}"}
        result = pass_exam_with_answers(client, database, headers)
        assert client.get("/no-such-page").status_code == 404
        failed = client.get("/boom", headers={"X-Request-ID": "help-desk-42"})
        assert failed.status_code == 500
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]  # every line is one object
    assert len(lines) > 10
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys()
    access = [line for line in lines if line["logger"] == "trainer.access"]
    saves = [line for line in access if line["route"] == "/api/v1/attempts/{attempt_id}/answers/{slot}"]
    assert len(saves) >= len(result["answers"])  # the practice quiz's saves too
    for line in saves:
        assert line["method"] == "PUT"
        assert line["status"] == 200
        assert line["person_id"] == person.id
        assert isinstance(line["duration_ms"], float)
        assert re.fullmatch(r"[0-9a-f]{16}", line["request_id"])
    assert any(line["route"] == "unmatched" and line["status"] == 404 for line in access)
    error = next(line for line in lines if line["level"] == "ERROR")
    assert error["request_id"] == "help-desk-42"
    assert "RuntimeError: a bug" in error["error"]
    assert any(line["route"] == "/boom" and line["status"] == 500 for line in access), [
        a for a in lines if a.get("request_id") == "help-desk-42"
    ]
    text = stream.getvalue()
    secrets = {
        "password": person.password,
        "api token": api_token,
        "session cookie": session_cookie,
        "CSRF cookie": csrf_cookie,
        "secret key": TEST_SECRET,
        **{f"answer {i}": json.dumps(a) for i, a in enumerate(result["answers"])},
    }
    found = [name for name, secret in secrets.items() if secret and secret in text]
    assert not found, found
    # the answers as stored (the served option keys) do not appear either
    # A choice's or order's served keys and a match's pairs (served keys on both sides): the demo
    # exam's three questions always include one (only two questions have neither, a number and a
    # text), so the scan never looks for nothing.
    found_in: list[object] = []
    for value in (v for a in result["answers"] for v in a.values()):
        if isinstance(value, dict):
            found_in += [*value.keys(), *value.values()]
        else:
            found_in += value if isinstance(value, list) else [value]
    keys = [k for k in found_in if isinstance(k, str) and len(k) >= 6]
    assert keys  # the scan has something to look for
    assert not [key for key in keys if key in text]


def pass_exam_with_answers(client: TestClient, database: object, headers: dict[str, str]) -> dict[str, list]:
    from tests.conftest import complete_modules

    complete_modules(client, headers, database)  # type: ignore[arg-type]
    attempt = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers).json()
    answers = []
    for question in attempt["questions"]:
        answer = right_answer(database, attempt["id"], question["slot"])  # type: ignore[arg-type]
        answers.append(answer)
        saved = client.put(
            f"/api/v1/attempts/{attempt['id']}/answers/{question['slot']}", headers=headers, json=answer
        )
        assert saved.status_code == 200
    assert client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers).json()["passed"]
    return {"answers": answers}


def test_the_request_id_is_in_a_header_and_on_error_pages(app: FastAPI) -> None:
    def boom(_request: Request) -> Response:
        raise RuntimeError("a bug")

    app.router.routes.insert(0, page("/boom", boom, access=Access.PUBLIC))
    with TestClient(app, raise_server_exceptions=False) as client:
        made = client.get("/courses").headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{16}", made)
        assert client.get("/courses").headers["X-Request-ID"] != made  # one per request
        assert (
            client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.1"}).headers["X-Request-ID"]
            == "lb-7f3a.1"
        )
        for unsafe in ("<script>", "a" * 65, "two words", "-starts-with-dash"):
            kept = client.get("/healthz", headers={"X-Request-ID": unsafe}).headers["X-Request-ID"]
            assert re.fullmatch(r"[0-9a-f]{16}", kept), unsafe
        missing = client.get("/no-such-page")
        rid = missing.headers["X-Request-ID"]
        assert missing.status_code == 404
        assert f"Request reference: {rid}" in missing.text
        chinese = client.get("/no-such-page", headers=ZH)
        assert f"请求编号：{chinese.headers['X-Request-ID']}" in chinese.text
        failed = client.get("/boom", headers={"X-Request-ID": "incident-9"})
        assert failed.status_code == 500
        assert failed.headers["X-Request-ID"] == "incident-9"
        assert "incident-9" in failed.text
        api = client.get("/api/v1/attempts/1", headers={"X-Request-ID": "api-1"})
        assert api.headers["X-Request-ID"] == "api-1"
        assert csrf_token(client)  # pages still carry their form token beside the new header


# -- trainer doctor ---------------------------------------------------------------------------


def doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("TRAINER_")}
    root = Path(__file__).resolve().parent.parent
    return subprocess.run(
        [sys.executable, "-m", "trainer.cli", "doctor", *args],
        env={**clean, "PYTHONPATH": str(root), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=root,
    )


def lines_of(output: str) -> dict[str, str]:
    """{check name: status} from doctor's lines."""
    found = {}
    for line in output.splitlines():
        match = re.match(r"^(ok|warning|problem)\s+([^:]+):", line)
        if match:
            found[match.group(2)] = match.group(1)
    return found


def test_doctor_passes_a_good_production_configuration(
    tmp_path: Path, database_url: str, migrated_database: object, content: ContentDirs
) -> None:
    (tmp_path / "data").mkdir()
    env = {
        "TRAINER_ENV": "production",
        "TRAINER_SECRET_KEY": TEST_SECRET,
        "TRAINER_BADGE_KEY": TEST_BADGE_KEY,
        "TRAINER_PUBLIC_URL": "https://training.example.gov.cn",
        "TRAINER_TRUSTED_PROXIES": "127.0.0.1",
        "TRAINER_DATABASE_URL": database_url,
        "TRAINER_DATA_DIR": str(tmp_path / "data"),
        "TRAINER_COURSES_DIR": str(content.courses),
        "TRAINER_QUESTION_BANK_DIR": str(content.bank),
        "TRAINER_METRICS": "on",
        "TRAINER_METRICS_ALLOW": "10.0.0.0/8",
        "TRAINER_LOG_FORMAT": "json",
    }
    result = doctor(env)
    assert result.returncode == 0, result.stdout + result.stderr
    statuses = lines_of(result.stdout)
    for name in ("mode", "secret key", "badge key", "public URL", "trusted proxies", "metrics", "time zone",
                 "data folder", "database", "migrations", "clock", "content", "email"):  # fmt: skip
        assert name in statuses, (name, result.stdout)
        assert statuses[name] != "problem", result.stdout
    assert statuses["secret key"] == statuses["public URL"] == statuses["migrations"] == "ok"
    assert "0 problem(s)" in result.stdout
    assert TEST_SECRET not in result.stdout + result.stderr  # never prints a key


def test_doctor_names_every_problem_of_a_bad_configuration(tmp_path: Path, content: ContentDirs) -> None:
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("a file where the data folder should be")
    env = {
        "TRAINER_ENV": "production",
        "TRAINER_SECRET_KEY": "changeme",
        "TRAINER_BADGE_KEY": "not a key",
        "TRAINER_PUBLIC_URL": "http://training.example.gov.cn",
        "TRAINER_TRUSTED_PROXIES": "0.0.0.0/0",
        "TRAINER_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        "TRAINER_DB_CONNECT_TIMEOUT": "2",
        "TRAINER_DATA_DIR": str(not_a_folder),
        "TRAINER_COURSES_DIR": str(content.courses),
        "TRAINER_QUESTION_BANK_DIR": str(content.bank),
        "TRAINER_METRICS": "on",
        "TRAINER_METRICS_ALLOW": "0.0.0.0/0, ::/0",
        "TRAINER_TIME_ZONE": "Mars/Olympus",
        "TRAINER_SMTP_HOST": "127.0.0.1",
        "TRAINER_SMTP_PORT": "1",
        "TRAINER_SMTP_USER": "mailer",
    }
    content.write("courses/demo-course/course.yaml", "id: [broken\n")
    result = doctor(env)
    assert result.returncode == 1, result.stdout + result.stderr
    statuses = lines_of(result.stdout)
    for name in ("secret key", "badge key", "public URL", "trusted proxies", "metrics", "time zone",
                 "data folder", "database", "content", "email"):  # fmt: skip
        assert statuses.get(name) == "problem", (name, result.stdout)
    assert "Traceback" not in result.stdout + result.stderr
    assert "changeme" not in result.stdout


def test_doctor_reports_unreadable_settings(tmp_path: Path) -> None:
    result = doctor({"TRAINER_METRICS": "maybe", "TRAINER_DATA_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "problem  settings: TRAINER_METRICS" in result.stdout
